"""US Standard Atmosphere 1976 below 86 km (NOAA/NASA/USAF 1976, tables 4 and 1).

The independent truth of the radio-occultation tests: temperature from the published
lapse rates in geopotential altitude, pressure from the barometric formulas. Above
84.852 km the last layer is continued, as in the shared reference generator.
"""

from __future__ import annotations

import numpy as np

G0 = 9.80665  # m s^-2
R_AIR = 287.05287  # J kg^-1 K^-1 (R* / M0 of US76)
R_EARTH = 6_356_766.0  # m, US76 effective radius for geopotential altitude
BASE_H = np.array([0.0, 11.0, 20.0, 32.0, 47.0, 51.0, 71.0, 84.852]) * 1e3
LAPSE = np.array([-6.5, 0.0, 1.0, 2.8, 0.0, -2.8, -2.0]) * 1e-3  # K/m

_T = [288.15]
_P = [101_325.0]
for _i, _L in enumerate(LAPSE[:-1]):
    _dh = BASE_H[_i + 1] - BASE_H[_i]
    _t1 = _T[-1] + _L * _dh
    _P.append(
        _P[-1] * np.exp(-G0 * _dh / (R_AIR * _T[-1]))
        if _L == 0
        else _P[-1] * (_T[-1] / _t1) ** (G0 / (R_AIR * _L))
    )
    _T.append(_t1)
BASE_T = np.array(_T)
BASE_P = np.array(_P)


def us76(z_m):
    """Temperature (K) and pressure (Pa) at geometric altitude ``z_m`` (m)."""
    z = np.asarray(z_m, dtype=float)
    h = R_EARTH * z / (R_EARTH + z)
    i = np.clip(np.searchsorted(BASE_H, h, side="right") - 1, 0, LAPSE.size - 1)
    lapse = LAPSE[i]
    t = BASE_T[i] + lapse * (h - BASE_H[i])
    iso = lapse == 0
    safe = np.where(iso, 1.0, lapse)
    p = np.where(
        iso,
        BASE_P[i] * np.exp(-G0 * (h - BASE_H[i]) / (R_AIR * BASE_T[i])),
        BASE_P[i] * (BASE_T[i] / np.where(t > 0, t, 1.0)) ** (G0 / (R_AIR * safe)),
    )
    return t, p


def dry_refractivity(z_m):
    """Dry refractivity (N-units) of US76: 77.6 P[hPa] / T."""
    t, p = us76(z_m)
    return 0.776 * p / t
