"""Earth orientation: UT1 - UTC and polar motion from a table shipped with the package.

The table (``geo/data/eop.npz``) holds the IERS Bulletin A daily values from
``finals2000A.all`` as shipped by the PyPI package ``astropy-iers-data``; its
vintage is in :data:`EOP_VINTAGE`. Rows past the last observed day are IERS
predictions. Regenerate with ``python tools/make_eop_table.py``.

Interpolation is linear in (UT1 - TAI), which is continuous across leap seconds,
then converted back to UT1 - UTC. Outside the table the nearest end value is held
and :func:`ut1_minus_utc` can be asked to raise instead.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.time import as_utc, tai_minus_utc


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    with files("kongtian.geo").joinpath("data/eop.npz").open("rb") as fh:
        z = np.load(fh)
        tab = {k: z[k] for k in z.files}
    mjd = tab["mjd_utc"]
    ns = ((mjd - 40587.0) * 86_400e9).astype(np.int64).astype("datetime64[ns]")
    tab["ut1_minus_tai_s"] = tab["ut1_minus_utc_s"] - tai_minus_utc(ns)
    return tab


def eop_vintage() -> str:
    """Where the shipped EOP table comes from and its last observed day."""
    return str(_table()["vintage"])


def _mjd(t_utc: Any) -> npt.NDArray[np.float64]:
    return as_utc(t_utc).astype(np.int64) / 86_400e9 + 40587.0


def ut1_minus_utc(t_utc: Any, *, strict: bool = False) -> npt.NDArray[np.float64]:
    """UT1 - UTC in seconds at UTC instants (linear interpolation of daily values)."""
    tab = _table()
    mjd = _mjd(t_utc)
    if strict and (np.any(mjd < tab["mjd_utc"][0]) or np.any(mjd > tab["mjd_utc"][-1])):
        raise ConfigError(
            f"time outside the EOP table ({eop_vintage()}); pass ut1_minus_utc_s explicitly",
            option="time",
        )
    ut1_tai = np.interp(mjd, tab["mjd_utc"], tab["ut1_minus_tai_s"])
    return ut1_tai + tai_minus_utc(t_utc)


def polar_motion_rad(t_utc: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Polar motion (xp, yp) in radians at UTC instants."""
    tab = _table()
    mjd = _mjd(t_utc)
    arcsec = np.pi / (180.0 * 3600.0)
    xp = np.interp(mjd, tab["mjd_utc"], tab["xp_arcsec"]) * arcsec
    yp = np.interp(mjd, tab["mjd_utc"], tab["yp_arcsec"]) * arcsec
    return xp, yp
