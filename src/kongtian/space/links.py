"""Link geometry between satellites and ground sites: range, delay, Doppler, path loss.

Vectors are Earth-fixed (ITRF) in metres and m/s with xyz on the last axis; the site is
fixed to the Earth, so the ITRF velocity of the satellite (which already contains the
``-omega x r`` term, see :func:`kongtian.geo.frames.teme_to_itrf`) is the relative
velocity. All functions broadcast over leading axes.

The closed forms for a spherical Earth of radius ``R`` (used for sizing and in tests):

- slant range at elevation ``e``: ``d = sqrt((R+h)^2 - (R cos e)^2) - R sin e``;
- footprint half-angle (Earth-central angle): ``lambda = acos(R cos e / (R+h)) - e``;
- one-way delay ``d / c``; Doppler ``f_d = -f_c * range_rate / c`` (first order in v/c).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SPEED_OF_LIGHT_M_S = 299_792_458.0
EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius R1, for the spherical closed forms


def slant_range_m(r_sat_m: Any, r_site_m: Any) -> FloatArray:
    """Distance (m) between satellite and site positions (same frame)."""
    d = np.asarray(r_sat_m, float) - np.asarray(r_site_m, float)
    return np.asarray(np.sqrt(np.einsum("...i,...i->...", d, d)))


def range_rate_m_s(r_sat_m: Any, v_sat_m_s: Any, r_site_m: Any) -> FloatArray:
    """Rate of change of the slant range (m/s, positive when receding).

    ``r_sat_m``/``v_sat_m_s`` are ITRF position and velocity of the satellite and
    ``r_site_m`` the ITRF position of an Earth-fixed site.
    """
    d = np.asarray(r_sat_m, float) - np.asarray(r_site_m, float)
    v = np.asarray(v_sat_m_s, float)
    rng = np.sqrt(np.einsum("...i,...i->...", d, d))
    return np.asarray(np.einsum("...i,...i->...", d, v) / rng)


def one_way_delay_s(range_m: Any) -> FloatArray:
    """Propagation delay (s) over a vacuum path of ``range_m`` metres."""
    return np.asarray(np.asarray(range_m, float) / SPEED_OF_LIGHT_M_S)


def doppler_hz(carrier_hz: Any, range_rate_m_s: Any) -> FloatArray:
    """Doppler shift (Hz) seen at the receiver: negative while the range grows."""
    return np.asarray(
        -np.asarray(carrier_hz, float) * np.asarray(range_rate_m_s, float) / SPEED_OF_LIGHT_M_S
    )


def free_space_path_loss_db(range_m: Any, carrier_hz: Any) -> FloatArray:
    """Free-space path loss ``20 log10(4 pi d f / c)`` in dB."""
    d = np.asarray(range_m, float)
    f = np.asarray(carrier_hz, float)
    return np.asarray(20.0 * np.log10(4.0 * np.pi * d * f / SPEED_OF_LIGHT_M_S))


def slant_range_at_elevation_m(
    altitude_m: Any, elev_rad: Any, earth_radius_m: float = EARTH_MEAN_RADIUS_M
) -> FloatArray:
    """Spherical-Earth slant range (m) to a satellite at ``altitude_m`` seen at ``elev_rad``."""
    rs = earth_radius_m + np.asarray(altitude_m, float)
    e = np.asarray(elev_rad, float)
    re = earth_radius_m
    return np.asarray(np.sqrt(rs**2 - (re * np.cos(e)) ** 2) - re * np.sin(e))


def footprint_half_angle_rad(
    sat_radius_m: Any, elev_rad: Any, earth_radius_m: float | Any = EARTH_MEAN_RADIUS_M
) -> FloatArray:
    """Earth-central angle (rad) within which a satellite at geocentric radius
    ``sat_radius_m`` is above ``elev_rad`` for a site at radius ``earth_radius_m``.

    Zero or negative when the satellite is too low to be seen at that elevation.
    """
    e = np.asarray(elev_rad, float)
    c = np.clip(
        np.asarray(earth_radius_m, float) * np.cos(e) / np.asarray(sat_radius_m, float), -1.0, 1.0
    )
    return np.asarray(np.arccos(c) - e)


def footprint_radius_m(
    altitude_m: Any, elev_rad: Any, earth_radius_m: float = EARTH_MEAN_RADIUS_M
) -> FloatArray:
    """Ground distance (m, along the sphere) from the sub-satellite point to the footprint edge."""
    lam = footprint_half_angle_rad(
        earth_radius_m + np.asarray(altitude_m, float), elev_rad, earth_radius_m
    )
    return np.asarray(earth_radius_m * lam)
