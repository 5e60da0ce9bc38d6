"""Dry pressure and temperature from refractivity by hydrostatic integration.

In dry air the Smith-Weintraub relation reduces to ``N = K1 P / T`` (``K1`` = 0.776 K/Pa),
so the density is known from refractivity alone, ``rho = P / (Rd T) = N / (K1 Rd)``, and
the hydrostatic equation ``dP/dz = -g(z) rho`` integrates downward from the top::

    P(z) = P_top + integral_z^top g(z') N(z') / (K1 Rd) dz'
    T(z) = K1 P(z) / N(z)

``g N`` is taken exponential (log-linear) within each layer, which integrates exactly for an
isothermal layer; layers where ``N`` is not positive fall back to the trapezoid rule.
``P_top`` comes from a temperature guess at the top, ``P_top = N_top T_top / K1``; its error
decays downward like the pressure itself (about a factor ``e`` per scale height), which is
why retrievals start well above the heights they report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError

from .constants import G0_M_S2, GRAVITY_RADIUS_M, K1_K_PER_PA, RD_J_KG_K

FloatArray = npt.NDArray[np.float64]


def gravity_us76(altitude_m: Any) -> FloatArray:
    """Gravity (m s^-2) of the US Standard Atmosphere 1976: ``g0 (R / (R + z))^2``."""
    z = np.asarray(altitude_m, dtype=np.float64)
    return np.asarray(G0_M_S2 * (GRAVITY_RADIUS_M / (GRAVITY_RADIUS_M + z)) ** 2)


def scale_height_temperature(altitude_m: Any, refractivity: Any, span_m: float = 10e3) -> float:
    """Temperature (K) of an isothermal layer with the refractivity scale height of the top.

    For an isothermal dry atmosphere ``N ~ exp(-z g / (Rd T))``, so
    ``T = -g / (Rd d ln N / dz)``; the slope is fitted over the top ``span_m``.
    """
    z = np.asarray(altitude_m, dtype=np.float64)
    n = np.asarray(refractivity, dtype=np.float64)
    top = (z >= z[-1] - span_m) & (n > 0)
    if top.sum() < 3:
        raise ConfigError("not enough positive refractivity near the top", option="refractivity")
    slope = np.polyfit(z[top] - z[-1], np.log(n[top]), 1)[0]
    if not slope < 0:
        raise ConfigError("refractivity does not decrease near the top", option="refractivity")
    g = float(gravity_us76(np.mean(z[top])))
    return float(-g / (RD_J_KG_K * slope))


def dry_pressure_temperature(
    altitude_m: Any,
    refractivity: Any,
    t_top_k: float | None = None,
    gravity: Callable[[FloatArray], FloatArray] = gravity_us76,
) -> tuple[FloatArray, FloatArray]:
    """Dry pressure (Pa) and temperature (K) at each level.

    Parameters
    ----------
    altitude_m : array (n,)
        Geometric altitude (m), strictly increasing.
    refractivity : array (n,)
        Refractivity (N-units).
    t_top_k : float, optional
        Temperature (K) at the top level used to start the integration; when omitted it is
        taken from the refractivity scale height of the top 10 km
        (:func:`scale_height_temperature`).
    gravity : callable
        ``g(z)`` in m s^-2; default :func:`gravity_us76`.
    """
    z = np.asarray(altitude_m, dtype=np.float64)
    n = np.asarray(refractivity, dtype=np.float64)
    if z.ndim != 1 or z.shape != n.shape or z.size < 2:
        raise ConfigError("altitude and refractivity must be 1-D of equal length >= 2")
    if not np.all(np.diff(z) > 0):
        raise ConfigError("must be strictly increasing", option="altitude_m")
    if t_top_k is None:
        t_top_k = scale_height_temperature(z, n)
    q = gravity(z) * n / (K1_K_PER_PA * RD_J_KG_K)  # g * rho (Pa/m)
    dz = np.diff(z)
    q0, q1 = q[:-1], q[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = q0 / q1
        lr = np.log(r)
        layer = np.where(
            (q0 > 0) & (q1 > 0) & (np.abs(lr) > 1e-10), dz * (q0 - q1) / lr, 0.5 * dz * (q0 + q1)
        )
    p_top = n[-1] * t_top_k / K1_K_PER_PA
    p = p_top + np.concatenate([np.cumsum(layer[::-1])[::-1], [0.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(n > 0, K1_K_PER_PA * p / n, np.nan)
    return p, t
