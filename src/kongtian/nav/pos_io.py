"""Position-solution files: RTKLIB-compatible ``.pos`` (write and read), CSV, GeoJSON.

``.pos`` follows the layout of RTKLIB's ``rnx2rtkp``/``rtkpost`` solution files with
ECEF output (``out-solformat=xyz``), so the same tools (``rtkplot``, ``pos2kml``, our
:func:`read_pos`) read both: ``%``-prefixed header lines, then one line per epoch::

    2020/06/25 00:00:00.000   3582103.9970    532589.7469   5232754.8294   5   7 \
  3.1953   2.4538   6.1677   1.7793   2.5659   3.6339   0.00    0.0

time (GPST), x/y/z (m), Q (1 fix, 2 float, 4 DGNSS, 5 single, ...), number of
satellites, standard deviations sdx/sdy/sdz (m) and the signed square roots of the
covariances xy/yz/zx (m, ``sign(c) sqrt(|c|)``), age of differential (s) and AR ratio.

:func:`read_pos` also reads RTKLIB's geodetic layout (``latitude(deg) longitude(deg)
height(m)``, degrees as decimals) and ``week tow`` time columns, and converts UTC-time
files to GPST. Positions are returned ECEF (WGS 84).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import FormatError
from kongtian.geo.frames import ecef_to_geodetic, geodetic_to_ecef
from kongtian.nav import gnss_time

if TYPE_CHECKING:
    from kongtian.nav.spp import SppSolution

F64 = npt.NDArray[np.float64]

__all__ = ["PosFile", "read_pos", "write_csv", "write_geojson", "write_pos", "write_solution"]

Q_SINGLE = 5


@dataclass
class PosFile:
    """Content of a ``.pos`` file: GPST epochs, ECEF positions (m), quality, counts.

    ``sd_m`` columns: sdx, sdy, sdz, sdxy, sdyz, sdzx as written (signed roots for the
    covariances; for geodetic files sdn, sde, sdu, sdne, sdeu, sdun).
    """

    time_gpst: npt.NDArray[np.datetime64]
    pos_ecef_m: F64
    q: npt.NDArray[np.int64]
    ns: npt.NDArray[np.int64]
    sd_m: F64
    header: list[str] = field(default_factory=list)
    path: str = ""


def _signed_sqrt(c: F64) -> F64:
    return np.sign(c) * np.sqrt(np.abs(c))


def _time_strings(t: npt.NDArray[np.datetime64]) -> list[str]:
    ms = np.round(t.astype("datetime64[ns]").astype(np.int64) / 1e6).astype(np.int64)
    tt = ms.astype("datetime64[ms]")
    iso = np.datetime_as_string(tt, unit="ms")
    return [s[:10].replace("-", "/") + " " + s[11:] for s in iso.tolist()]


def _header_lines(sol: SppSolution, inputs: Sequence[str], program: str) -> list[str]:
    t = sol.time_gpst
    lines = [f"% program   : {program}"]
    lines += [f"% inp file  : {p}" for p in inputs]
    if t.size:
        for tag, ti in (("obs start", t[0]), ("obs end  ", t[-1])):
            week, sow = gnss_time.week_sow(ti, "GPST")
            stamp = _time_strings(np.array([ti]))[0][:-2]
            lines.append(f"% {tag} : {stamp} GPST (week{int(week)} {float(sow):.1f}s)")
    lines += [f"% {n}" for n in sol.notes]
    lines.append("%")
    return lines


def write_pos(
    path: str | os.PathLike[str],
    sol: SppSolution,
    *,
    inputs: Sequence[str] = (),
    program: str = "kongtian nav spp",
    q: int = Q_SINGLE,
) -> int:
    """Write the valid epochs of ``sol`` as an RTKLIB ``.pos`` (ECEF); returns the count."""
    lines = _header_lines(sol, inputs, program)
    lines.append(
        "% (x/y/z-ecef=WGS84,Q=1:fix,2:float,3:sbas,4:dgps,5:single,6:ppp,ns=# of satellites)"
    )
    lines.append(
        "%  GPST                      x-ecef(m)      y-ecef(m)      z-ecef(m)   Q  ns"
        "   sdx(m)   sdy(m)   sdz(m)  sdxy(m)  sdyz(m)  sdzx(m) age(s)  ratio"
    )
    idx = np.flatnonzero(sol.valid)
    ts = _time_strings(sol.time_gpst[idx])
    cov = sol.cov_ecef_m2[idx]
    sd = np.sqrt(np.abs(np.stack([cov[:, 0, 0], cov[:, 1, 1], cov[:, 2, 2]], axis=1)))
    cr = _signed_sqrt(np.stack([cov[:, 0, 1], cov[:, 1, 2], cov[:, 2, 0]], axis=1))
    p = sol.pos_ecef_m[idx]
    for k in range(len(idx)):
        lines.append(
            f"{ts[k]} {p[k, 0]:14.4f} {p[k, 1]:14.4f} {p[k, 2]:14.4f} {q:3d} "
            f"{int(sol.n_used[idx[k]]):3d} {sd[k, 0]:8.4f} {sd[k, 1]:8.4f} {sd[k, 2]:8.4f} "
            f"{cr[k, 0]:8.4f} {cr[k, 1]:8.4f} {cr[k, 2]:8.4f} {0.0:6.2f} {0.0:6.1f}"
        )
    with open(path, "w", encoding="ascii") as fh:
        fh.write("\n".join(lines) + "\n")
    return len(idx)


def read_pos(path: str | os.PathLike[str]) -> PosFile:
    """Read an RTKLIB ``.pos`` solution file (ECEF or geodetic, calendar or week/tow time)."""
    spath = str(path)
    header: list[str] = []
    times: list[Any] = []
    rows: list[list[float]] = []
    geodetic = False
    scale = "GPST"
    with open(spath, encoding="ascii", errors="replace") as fh:
        for no, line in enumerate(fh, start=1):
            s = line.rstrip("\n")
            if not s.strip():
                continue
            if s.startswith("%"):
                header.append(s)
                if "latitude(" in s:
                    geodetic = True
                if s.startswith("%  UTC") or s.startswith("% UTC"):
                    scale = "UTC"
                continue
            f = s.split()
            try:
                t: Any
                if "/" in f[0]:
                    t = np.datetime64(f[0].replace("/", "-") + "T" + f[1], "ns")
                else:
                    t = gnss_time.from_week_sow(int(f[0]), float(f[1]), "GPST")[()]
                vals = [float(v) for v in f[2:]]
            except (ValueError, IndexError) as exc:
                raise FormatError(f"bad solution line ({exc})", path=spath, line=no) from None
            if len(vals) < 5:
                raise FormatError(
                    "solution line has fewer than 5 fields after the time", path=spath, line=no
                )
            times.append(t)
            rows.append((vals + [np.nan] * 12)[:11])
    arr = np.array(rows, dtype=np.float64).reshape(-1, 11)
    tg = np.array(times, dtype="datetime64[ns]")
    if scale == "UTC":
        tg = gnss_time.to_gpst(tg, "UTC")
    xyz = arr[:, :3]
    if geodetic:
        xyz = geodetic_to_ecef(np.radians(arr[:, 0]), np.radians(arr[:, 1]), arr[:, 2])
    return PosFile(
        time_gpst=tg, pos_ecef_m=xyz, q=arr[:, 3].astype(np.int64), ns=arr[:, 4].astype(np.int64),
        sd_m=arr[:, 5:11], header=header, path=spath,
    )  # fmt: skip


def _records(sol: SppSolution) -> tuple[npt.NDArray[np.int64], F64, F64, F64]:
    idx = np.flatnonzero(sol.valid)
    p = sol.pos_ecef_m[idx]
    lat, lon, h = ecef_to_geodetic(p)
    return idx, np.degrees(lat), np.degrees(lon), h


def write_csv(path: str | os.PathLike[str], sol: SppSolution) -> int:
    """CSV with a ``#`` comment header (the model notes); one row per valid epoch."""
    idx, lat, lon, h = _records(sol)
    systems = list(sol.clock_m)
    cols = ["time_gpst", "x_m", "y_m", "z_m", "lat_deg", "lon_deg", "height_m",
            "vx_m_s", "vy_m_s", "vz_m_s", "n_sat", "sdx_m", "sdy_m", "sdz_m",
            "gdop", "pdop", "hdop", "vdop"] + [f"clock_{g}_m" for g in systems]  # fmt: skip
    ts = np.datetime_as_string(sol.time_gpst[idx], unit="ms")
    out = [f"# {n}" for n in sol.notes] + [",".join(cols)]
    for k, i in enumerate(idx):
        p, v = sol.pos_ecef_m[i], sol.vel_ecef_m_s[i]
        sd = np.sqrt(np.abs(np.diag(sol.cov_ecef_m2[i])))
        vals: list[Any] = [ts[k], *(f"{c:.4f}" for c in p), f"{lat[k]:.9f}", f"{lon[k]:.9f}",
                           f"{h[k]:.4f}", *(f"{c:.4f}" for c in v), int(sol.n_used[i]),
                           *(f"{c:.4f}" for c in sd), *(f"{c:.3f}" for c in sol.dop[i]),
                           *(f"{sol.clock_m[g][i]:.4f}" for g in systems)]  # fmt: skip
        out.append(",".join(str(x) for x in vals))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    return len(idx)


def write_geojson(path: str | os.PathLike[str], sol: SppSolution) -> int:
    """GeoJSON FeatureCollection of Points (lon, lat, ellipsoidal height; WGS 84)."""
    idx, lat, lon, h = _records(sol)
    ts = np.datetime_as_string(sol.time_gpst[idx], unit="ms")
    feats = []
    for k, i in enumerate(idx):
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point",
                         "coordinates": [round(float(lon[k]), 9), round(float(lat[k]), 9),
                                         round(float(h[k]), 4)]},
            "properties": {"time_gpst": str(ts[k]), "n_sat": int(sol.n_used[i]),
                           "hdop": round(float(sol.dop[i, 2]), 3),
                           "vdop": round(float(sol.dop[i, 3]), 3), "q": Q_SINGLE},
        })  # fmt: skip
    doc = {"type": "FeatureCollection", "features": feats,
           "properties": {"notes": sol.notes, "time_scale": "GPST"}}  # fmt: skip
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    return len(idx)


def write_solution(
    path: str | os.PathLike[str], sol: SppSolution, *, inputs: Sequence[str] = ()
) -> int:
    """Write by extension: ``.pos`` (RTKLIB), ``.csv``, ``.geojson``/``.json``."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".csv":
        return write_csv(path, sol)
    if ext in (".geojson", ".json"):
        return write_geojson(path, sol)
    return write_pos(path, sol, inputs=inputs)
