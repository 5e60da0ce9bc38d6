"""Broadcast ionosphere models for single-frequency code positioning.

Two Klobuchar-type models, both vectorised over (epoch, satellite) arrays:

- :func:`klobuchar_gps`: IS-GPS-200 section 20.3.3.5.2.5. Thin shell at 350 km reached
  with the ICD's approximate Earth-central angle, *geomagnetic* latitude of the
  ionospheric pierce point (IPP), slant factor ``1 + 16 (0.53 - E)^3``, local time from
  GPS seconds of week, period clamped below at 72 000 s, a 4th-order cosine series.
  Result: delay (m) on GPS L1.
- :func:`klobuchar_bds`: BDS-SIS-ICD (B1I/B3I open service, 8-parameter model
  ``BDSA``/``BDSB``): shell at 375 km with the exact spherical geometry, *geographic*
  IPP latitude used with its absolute value, period ``A4`` clamped to
  [72 000, 172 800] s, exact cosine (no series), local time from BDT seconds of week.
  Result: delay (m) on B1I. The ICD PDF text was not available to the author for a
  line-by-line check (see ``docs/decisions/0018-spp.md``).

:func:`scale_to_frequency` converts an L1/B1I delay to another carrier (1/f^2 law).

Angles in radians, heights in metres, times in seconds of week of the stated scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.nav.signals import C_LIGHT_M_S

F64 = npt.NDArray[np.float64]

__all__ = ["klobuchar_bds", "klobuchar_gps", "scale_to_frequency"]

_SEMI = np.pi  # radians per semicircle
_R_EARTH_BDS_M = 6_378_000.0  # mean Earth radius used by the BDS ICD shell geometry
_H_ION_BDS_M = 375_000.0


def _coef(c: Any) -> F64:
    a = np.asarray(c, dtype=np.float64).ravel()
    if a.size != 4:
        raise ValueError(f"Klobuchar coefficients need 4 values, got {a.size}")
    return a


def klobuchar_gps(
    alpha: Any, beta: Any, lat_rad: Any, lon_rad: Any, az_rad: Any, el_rad: Any, tow_s: Any
) -> F64:
    """GPS broadcast (Klobuchar) ionospheric delay on L1 (m).

    ``alpha``/``beta``: the 4+4 broadcast coefficients (``NavData.iono["GPSA"/"GPSB"]``,
    units s, s/semicircle, ... and s, s/semicircle, ...). Receiver geodetic latitude and
    longitude, satellite azimuth and elevation (rad) and GPS time of week (s) broadcast
    together. Elevations <= 0 give NaN.
    """
    a, b = _coef(alpha), _coef(beta)
    lat = np.asarray(lat_rad, dtype=np.float64) / _SEMI
    lon = np.asarray(lon_rad, dtype=np.float64) / _SEMI
    az = np.asarray(az_rad, dtype=np.float64)
    el_sc = np.asarray(el_rad, dtype=np.float64) / _SEMI
    # Earth-central angle between user and IPP (semicircles), ICD approximation.
    psi = 0.0137 / (el_sc + 0.11) - 0.022
    lat_i = np.clip(lat + psi * np.cos(az), -0.416, 0.416)
    lon_i = lon + psi * np.sin(az) / np.cos(lat_i * _SEMI)
    # geomagnetic latitude of the IPP (dipole pole at 78.3 N, 291.0 E)
    lat_m = lat_i + 0.064 * np.cos((lon_i - 1.617) * _SEMI)
    t = np.mod(4.32e4 * lon_i + np.asarray(tow_s, dtype=np.float64), 86_400.0)
    slant = 1.0 + 16.0 * (0.53 - el_sc) ** 3
    amp = np.maximum(np.polyval(a[::-1], lat_m), 0.0)
    per = np.maximum(np.polyval(b[::-1], lat_m), 72_000.0)
    x = 2.0 * np.pi * (t - 50_400.0) / per
    night = 5e-9
    day = night + amp * (1.0 - x**2 / 2.0 + x**4 / 24.0)
    delay = np.where(np.abs(x) < 1.57, day, night) * slant * C_LIGHT_M_S
    return np.where(el_sc > 0, delay, np.nan)


def klobuchar_bds(
    alpha: Any, beta: Any, lat_rad: Any, lon_rad: Any, az_rad: Any, el_rad: Any, bdt_tow_s: Any
) -> F64:
    """BeiDou broadcast Klobuchar ionospheric delay on B1I (m).

    ``alpha``/``beta``: ``NavData.iono["BDSA"/"BDSB"]`` (same units as GPS). Time is BDT
    seconds of week (BDT = GPST - 14 s). Elevations <= 0 give NaN.
    """
    a, b = _coef(alpha), _coef(beta)
    lat = np.asarray(lat_rad, dtype=np.float64)
    lon = np.asarray(lon_rad, dtype=np.float64)
    az = np.asarray(az_rad, dtype=np.float64)
    el = np.asarray(el_rad, dtype=np.float64)
    ratio = _R_EARTH_BDS_M / (_R_EARTH_BDS_M + _H_ION_BDS_M)
    # Earth-central angle to the IPP from the exact triangle geometry (rad)
    psi = np.pi / 2.0 - el - np.arcsin(ratio * np.cos(el))
    sin_lat_i = np.sin(lat) * np.cos(psi) + np.cos(lat) * np.sin(psi) * np.cos(az)
    lat_i = np.arcsin(np.clip(sin_lat_i, -1.0, 1.0))
    lon_i = lon + np.arcsin(np.clip(np.sin(psi) * np.sin(az) / np.cos(lat_i), -1.0, 1.0))
    phi = np.abs(lat_i) / _SEMI  # geographic, semicircles
    amp = np.maximum(np.polyval(a[::-1], phi), 0.0)
    per = np.clip(np.polyval(b[::-1], phi), 72_000.0, 172_800.0)
    t = np.mod(np.asarray(bdt_tow_s, dtype=np.float64) + lon_i * 43_200.0 / np.pi, 86_400.0)
    dt = t - 50_400.0
    vert = np.where(np.abs(dt) < per / 4.0, 5e-9 + amp * np.cos(2.0 * np.pi * dt / per), 5e-9)
    slant = 1.0 / np.sqrt(1.0 - (ratio * np.cos(el)) ** 2)
    delay = vert * slant * C_LIGHT_M_S
    return np.where(el > 0, delay, np.nan)


def scale_to_frequency(delay_m: Any, f_from_hz: float, f_to_hz: Any) -> F64:
    """First-order ionospheric group delay at ``f_to_hz`` from the delay at ``f_from_hz``."""
    return np.asarray(delay_m, dtype=np.float64) * (f_from_hz / np.asarray(f_to_hz)) ** 2
