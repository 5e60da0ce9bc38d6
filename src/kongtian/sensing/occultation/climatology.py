"""A simple dry climatology used as the background of statistical optimisation.

The background must be independent of any truth the retrieval is tested against. This
module holds a hand-made, generic mid-latitude annual-mean temperature profile: round
numbers at a few nodes joined by a shape-preserving cubic (PCHIP), so it has no kinks and
its tropopause, stratopause and mesopause differ from those of the US Standard Atmosphere
1976 (e.g. 218 K at 12 km, 266 K at 48-52 km, 190 K at 86 km; US76 has 216.65 K from 11 km,
270.65 K at 47-51 km and 186.9 K at 84.9 km). Pressure follows from hydrostatic balance
from 1013.25 hPa at the surface, refractivity from ``N = K1 P / T`` and the bending angle
from the forward Abel transform. Differences from US76: about 4 K rms in temperature and up
to 4 % in refractivity between 25 and 80 km (see ``docs/decisions/0016-radio-occultation.md``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.interpolate import PchipInterpolator

from .abel import forward_abel
from .constants import K1_K_PER_PA, RD_J_KG_K
from .hydrostatic import gravity_us76

FloatArray = npt.NDArray[np.float64]

#: Node altitudes (m) and temperatures (K) of the generic mid-latitude profile.
MIDLAT_NODES_M = np.array([0, 12, 20, 30, 48, 52, 70, 86, 100, 130], dtype=np.float64) * 1e3
MIDLAT_NODES_K = np.array([287, 218, 216, 225, 266, 266, 225, 190, 195, 250], dtype=np.float64)
_SURFACE_PA = 101_325.0
_STEP_M = 100.0


def climatology_profile(
    altitude_m: Any, temperature_offset_k: float = 0.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Temperature (K), pressure (Pa) and dry refractivity (N-units) of the climatology.

    ``altitude_m`` is geometric altitude (m), valid from -5 to 130 km (the ends are held
    constant beyond). ``temperature_offset_k`` shifts the whole temperature profile, to
    test sensitivity to the background.
    """
    grid, t_grid, ln_p = _profile_table(float(temperature_offset_k))
    z = np.clip(np.asarray(altitude_m, dtype=np.float64), grid[0], grid[-1])
    t = np.interp(z, grid, t_grid)
    p = np.exp(np.interp(z, grid, ln_p))
    return t, p, K1_K_PER_PA * p / t


@lru_cache(maxsize=16)
def _profile_table(temperature_offset_k: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Altitude grid (m), temperature (K) and ln pressure (Pa) every 100 m (cached)."""
    grid = np.arange(-5_000.0, 130_000.0 + _STEP_M, _STEP_M)
    t_grid = PchipInterpolator(MIDLAT_NODES_M, MIDLAT_NODES_K, extrapolate=True)(
        np.clip(grid, 0.0, MIDLAT_NODES_M[-1])
    ) + float(temperature_offset_k)
    # d ln P / dz = -g / (Rd T), trapezoid on a 100 m grid, anchored at z = 0.
    rate = gravity_us76(grid) / (RD_J_KG_K * t_grid)
    ln_p = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(grid))])
    ln_p = np.log(_SURFACE_PA) - (ln_p - np.interp(0.0, grid, ln_p))
    return grid, t_grid, ln_p


def climatology_bending(
    impact_m: Any, rc_m: float, temperature_offset_k: float = 0.0
) -> FloatArray:
    """Bending angle (rad) of the climatology at impact parameters ``impact_m`` (m).

    ``rc_m`` is the local radius of curvature (m) the altitudes are counted from.
    """
    heights, log_alpha = _bending_table(float(rc_m), float(temperature_offset_k))
    h = np.asarray(impact_m, dtype=np.float64) - rc_m
    out = np.exp(np.interp(h, heights, log_alpha))
    return np.asarray(np.where(h < heights[0], np.nan, out))


@lru_cache(maxsize=16)
def _bending_table(rc_m: float, temperature_offset_k: float) -> tuple[FloatArray, FloatArray]:
    """Log bending on impact heights every 100 m (cached per radius and offset)."""
    z = np.arange(-5_000.0, 130_000.0 + _STEP_M, _STEP_M)
    _, _, n = climatology_profile(z, temperature_offset_k)
    x = (1.0 + n * 1e-6) * (rc_m + z)
    heights = np.arange(x[0] - rc_m + 1.0, 129_000.0, _STEP_M)
    alpha = forward_abel(x, n, rc_m + heights)
    return heights, np.log(alpha)
