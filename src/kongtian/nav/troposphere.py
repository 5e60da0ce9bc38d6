"""Tropospheric delay: Saastamoinen zenith delays on a standard atmosphere, and mappings.

:func:`standard_atmosphere` gives pressure (hPa), temperature (K) and water-vapour
partial pressure (hPa) at an ellipsoidal height from the usual sea-level values
(1013.25 hPa, 15 C, lapse rate 6.5 K/km, relative humidity 70 %, the values RTKLIB and
most SPP engines assume). :func:`saastamoinen_zenith` turns them into hydrostatic and
wet zenith delays (Saastamoinen 1972, with the latitude/height gravity correction).
:func:`slant_delay` maps them to an elevation with either

- ``"secant"``: ``1/cos(z)`` with z the zenith angle, Saastamoinen's own form (what
  RTKLIB's ``tropopt=saas`` uses), or
- ``"black-eisner"``: ``1.001/sqrt(0.002001 + sin^2 E)`` (Black & Eisner 1984, RTCA
  DO-229), which stays finite at the horizon.

Heights in metres (clamped to [0, 10 km] for the model: outside it the delay is 0 as
the model does not apply), angles in radians, delays in metres.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Mapping = Literal["secant", "black-eisner"]

__all__ = ["saastamoinen_zenith", "slant_delay", "standard_atmosphere"]


def standard_atmosphere(height_m: Any, rel_humidity: float = 0.7) -> tuple[F64, F64, F64]:
    """(pressure hPa, temperature K, water-vapour pressure hPa) at ``height_m``."""
    h = np.clip(np.asarray(height_m, dtype=np.float64), 0.0, None)
    p = 1013.25 * (1.0 - 2.2557e-5 * h) ** 5.2568
    t_c = 15.0 - 6.5e-3 * h
    t_k = t_c + 273.15
    # saturation vapour pressure (Magnus-type fit in K), times relative humidity
    e = 6.108 * rel_humidity * np.exp((17.15 * t_k - 4684.0) / (t_k - 38.45))
    return p, t_k, e


def saastamoinen_zenith(lat_rad: Any, height_m: Any, rel_humidity: float = 0.7) -> tuple[F64, F64]:
    """Hydrostatic and wet zenith delays (m) on the standard atmosphere."""
    lat = np.asarray(lat_rad, dtype=np.float64)
    h = np.clip(np.asarray(height_m, dtype=np.float64), 0.0, None)
    p, t_k, e = standard_atmosphere(h, rel_humidity)
    zhd = 0.0022768 * p / (1.0 - 0.00266 * np.cos(2.0 * lat) - 0.00028 * h / 1e3)
    zwd = 0.002277 * (1255.0 / t_k + 0.05) * e
    return zhd, zwd


def slant_delay(
    lat_rad: Any,
    height_m: Any,
    el_rad: Any,
    *,
    mapping: Mapping = "secant",
    rel_humidity: float = 0.7,
) -> F64:
    """Slant tropospheric delay (m); 0 for elevations <= 0 or heights outside -100..10 km."""
    el = np.asarray(el_rad, dtype=np.float64)
    h = np.asarray(height_m, dtype=np.float64)
    zhd, zwd = saastamoinen_zenith(lat_rad, h, rel_humidity)
    sin_el = np.sin(np.clip(el, 1e-6, None))
    if mapping == "secant":
        m = 1.0 / sin_el  # 1/cos(zenith angle)
    elif mapping == "black-eisner":
        m = 1.001 / np.sqrt(0.002001 + sin_el**2)
    else:
        raise ValueError(f"unknown mapping {mapping!r} (secant, black-eisner)")
    out = (zhd + zwd) * m
    ok = (el > 0) & (h > -100.0) & (h < 1e4)
    return np.where(ok, out, 0.0)
