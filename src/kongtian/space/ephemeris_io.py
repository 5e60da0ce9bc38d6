"""Write an :class:`~kongtian.space.propagate.Ephemeris` as CSV, Parquet or netCDF.

Tabular layout (CSV, Parquet): one row per (time, satellite), time-major, columns
``time_utc,norad_id,x_m,y_m,z_m,vx_m_s,vy_m_s,vz_m_s,error``; positions of a
satellite in error are empty (CSV) or null (Parquet). netCDF keeps the (satellite,
time, xyz) cube.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kongtian.errors import ConfigError
from kongtian.geo.time import iso_utc

COLUMNS = ("time_utc", "norad_id", "x_m", "y_m", "z_m", "vx_m_s", "vy_m_s", "vz_m_s", "error")


def ephemeris_table(eph: Any) -> pa.Table:
    """Arrow table in the tabular layout above (time as ISO strings ending in Z)."""
    n, nt = eph.error.shape
    times = np.repeat(iso_utc(eph.time_utc, 6), n)
    cols: dict[str, Any] = {
        "time_utc": pa.array(times),
        "norad_id": pa.array(np.tile(eph.norad_id, nt)),
    }
    r = np.transpose(eph.r_m, (1, 0, 2)).reshape(-1, 3)
    v = np.transpose(eph.v_m_s, (1, 0, 2)).reshape(-1, 3)
    for j, name in enumerate(("x_m", "y_m", "z_m")):
        cols[name] = pa.array(r[:, j], from_pandas=True)
    for j, name in enumerate(("vx_m_s", "vy_m_s", "vz_m_s")):
        cols[name] = pa.array(v[:, j], from_pandas=True)
    cols["error"] = pa.array(eph.error.T.reshape(-1))
    return pa.table(cols)


def write_ephemeris(eph: Any, path: str | Path) -> None:
    """Write by extension: ``.csv``, ``.parquet`` or ``.nc``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".nc":
        ds = eph.to_dataset()
        ds.to_netcdf(p, engine="netcdf4")
        return
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"unknown output type {p.name!r} (.csv, .parquet, .nc)", option="--out")
    table = ephemeris_table(eph)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, p, compression="zstd")
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, p, pacsv.WriteOptions(quoting_style="none"))
