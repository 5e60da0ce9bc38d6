"""Coordinate frames: geodetic <-> ECEF <-> ENU/AER, and TEME -> ITRF for SGP4 output.

All functions broadcast over numpy arrays; the last axis of a position array is xyz.
Units: metres, m/s, radians inside; the ``*_deg`` helpers take and give degrees.

TEME -> ITRF convention (Vallado et al., AIAA 2006-6753, sec. 5 and App. C):
``r_PEF = R3(GMST82(UT1)) r_TEME``; ``v_PEF = R3(GMST82) v_TEME - omega x r_PEF``;
``r_ITRF = W r_PEF`` with the polar-motion matrix ``W = R2(-xp) R1(-yp)`` (the
inverse of Vallado's ``PEF = R1(yp) R2(xp) ITRF``; checked against App. C). The equation
of the equinoxes is *not* applied: TEME's x axis is the mean equinox projected on the
true equator, so GMST alone carries TEME to the pseudo-Earth-fixed frame. Polar motion
is off by default (``polar_motion=False``), as in skyfield; it changes positions by ~10 m.
UT1 - UTC comes from the shipped IERS table (:mod:`kongtian.geo.eop`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.geo.ellipsoid import WGS84, Ellipsoid, ellipsoid
from kongtian.geo.eop import polar_motion_rad, ut1_minus_utc
from kongtian.geo.time import as_utc

FloatArray = npt.NDArray[np.float64]

EARTH_ROTATION_RAD_S = 7.292115146706979e-5  # IAU-82 sidereal rate used with GMST82
_J2000_NS = np.datetime64("2000-01-01T12:00:00", "ns").astype(np.int64)
_DAY_NS = 86_400 * 1_000_000_000


def geodetic_to_ecef(
    lat_rad: Any, lon_rad: Any, alt_m: Any = 0.0, ell: str | Ellipsoid = WGS84
) -> FloatArray:
    """Geodetic latitude, longitude (rad) and ellipsoidal height (m) -> ECEF xyz (m)."""
    e = ellipsoid(ell)
    lat, lon, h = np.broadcast_arrays(
        np.asarray(lat_rad, float), np.asarray(lon_rad, float), np.asarray(alt_m, float)
    )
    sl, cl = np.sin(lat), np.cos(lat)
    n = e.a_m / np.sqrt(1.0 - e.e2 * sl * sl)
    x = (n + h) * cl * np.cos(lon)
    y = (n + h) * cl * np.sin(lon)
    z = (n * (1.0 - e.e2) + h) * sl
    return np.stack([x, y, z], axis=-1)


def ecef_to_geodetic(
    xyz_m: Any, ell: str | Ellipsoid = WGS84
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF xyz (m) -> geodetic (lat_rad, lon_rad, alt_m).

    Bowring's parametric-latitude start followed by two Newton refinements: better
    than 1e-9 m in height from the Earth's centre region out to GEO.
    """
    e = ellipsoid(ell)
    xyz = np.asarray(xyz_m, dtype=float)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    a, b, e2 = e.a_m, e.b_m, e.e2
    ep2 = (a * a - b * b) / (b * b)
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    beta = np.arctan2(a * z, b * p)
    lat = np.arctan2(z + ep2 * b * np.sin(beta) ** 3, p - e2 * a * np.cos(beta) ** 3)
    for _ in range(2):
        beta = np.arctan2((1.0 - e.f) * np.sin(lat), np.cos(lat))
        lat = np.arctan2(z + ep2 * b * np.sin(beta) ** 3, p - e2 * a * np.cos(beta) ** 3)
    sl, cl = np.sin(lat), np.cos(lat)
    n = a / np.sqrt(1.0 - e2 * sl * sl)
    # Height from whichever of p or z is better conditioned at this latitude.
    h = np.where(
        np.abs(cl) > 1e-3,
        p / np.where(cl == 0, 1, cl) - n,
        z / np.where(sl == 0, 1, sl) - n * (1 - e2),
    )
    return lat, lon, h


def enu_matrix(lat_rad: Any, lon_rad: Any) -> FloatArray:
    """Rotation matrices (..., 3, 3) taking ECEF vectors to local East-North-Up."""
    lat = np.asarray(lat_rad, float)
    lon = np.asarray(lon_rad, float)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl)
    rows = [
        np.stack([-so, co, zero], -1),
        np.stack([-sl * co, -sl * so, cl], -1),
        np.stack([cl * co, cl * so, sl], -1),
    ]
    return np.stack(rows, axis=-2)


def ecef_to_enu(xyz_m: Any, site_lat_rad: Any, site_lon_rad: Any, site_alt_m: Any = 0.0,
                ell: str | Ellipsoid = WGS84) -> FloatArray:  # fmt: skip
    """ECEF points -> ENU (m) relative to a geodetic site; broadcasts site against points."""
    origin = geodetic_to_ecef(site_lat_rad, site_lon_rad, site_alt_m, ell)
    d = np.asarray(xyz_m, float) - origin
    m = enu_matrix(site_lat_rad, site_lon_rad)
    return np.einsum("...ij,...j->...i", m, d)


def enu_to_aer(enu_m: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ENU (m) -> azimuth (rad, from north through east, [0, 2pi)), elevation (rad), range (m)."""
    enu = np.asarray(enu_m, float)
    e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
    horiz = np.hypot(e, n)
    az = np.mod(np.arctan2(e, n), 2 * np.pi)
    el = np.arctan2(u, horiz)
    return az, el, np.hypot(horiz, u)


def ecef_to_aer(xyz_m: Any, site_lat_rad: Any, site_lon_rad: Any, site_alt_m: Any = 0.0,
                ell: str | Ellipsoid = WGS84) -> tuple[FloatArray, FloatArray, FloatArray]:  # fmt: skip
    """ECEF points -> (azimuth, elevation, range) seen from a geodetic site."""
    return enu_to_aer(ecef_to_enu(xyz_m, site_lat_rad, site_lon_rad, site_alt_m, ell))


def gmst82_rad(t_utc: Any, ut1_minus_utc_s: Any = None) -> FloatArray:
    """Greenwich mean sidereal time, IAU-82 (radians in [0, 2pi)), at UTC instants.

    ``ut1_minus_utc_s`` defaults to the shipped IERS table; pass 0 for UT1 = UTC.
    """
    t = as_utc(t_utc)
    dut1 = ut1_minus_utc(t) if ut1_minus_utc_s is None else np.asarray(ut1_minus_utc_s, float)
    ns = t.astype(np.int64) - _J2000_NS
    # Whole days and fraction kept apart so the fraction keeps ~1e-15 day resolution.
    whole, rem = np.divmod(ns, _DAY_NS)
    frac = rem / _DAY_NS + dut1 / 86_400.0
    d = whole + frac
    tc = d / 36_525.0
    g = 67310.54841 + (8640184.812866 + (0.093104 - 6.2e-6 * tc) * tc) * tc  # seconds
    # The 876600 h term is one turn per day since J2000 noon: only the fraction counts.
    turns = np.mod(frac + g / 86_400.0, 1.0)
    return np.asarray(turns * 2.0 * np.pi)


def teme_to_itrf(
    r_teme_m: Any,
    v_teme_m_s: Any | None,
    t_utc: Any,
    *,
    ut1_minus_utc_s: Any = None,
    polar_motion: bool = False,
    xp_rad: Any = None,
    yp_rad: Any = None,
    time_axis: int = -2,
) -> tuple[FloatArray, FloatArray | None]:
    """Rotate TEME position (m) and velocity (m/s) to ITRF at UTC instants.

    Arrays have xyz on the last axis and time on ``time_axis`` (default: the one
    before xyz, i.e. ``(..., T, 3)``); ``t_utc`` has length T (or is a scalar).
    Polar motion is applied only when ``polar_motion`` is true (table values unless
    ``xp_rad``/``yp_rad`` are given).
    """
    t = np.atleast_1d(as_utc(t_utc))
    theta = gmst82_rad(t, ut1_minus_utc_s)
    r = np.asarray(r_teme_m, float)
    shape = [1] * r.ndim
    shape[time_axis if time_axis >= 0 else r.ndim + time_axis] = theta.size
    c = np.cos(theta).reshape(shape[:-1])
    s = np.sin(theta).reshape(shape[:-1])
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    xp_ = c * x + s * y
    yp_ = -s * x + c * y
    r_pef = np.stack([xp_, yp_, np.broadcast_to(z, xp_.shape)], axis=-1)
    v_pef = None
    if v_teme_m_s is not None:
        v = np.asarray(v_teme_m_s, float)
        vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
        w = EARTH_ROTATION_RAD_S
        v_pef = np.stack(
            [c * vx + s * vy + w * yp_, -s * vx + c * vy - w * xp_, np.broadcast_to(vz, xp_.shape)],
            axis=-1,
        )
    if not polar_motion:
        return r_pef, v_pef
    if xp_rad is None or yp_rad is None:
        xp_rad, yp_rad = polar_motion_rad(t)
    wmat = _polar_matrix(np.broadcast_to(xp_rad, t.shape), np.broadcast_to(yp_rad, t.shape))
    wmat = wmat.reshape(tuple(shape[:-1]) + (3, 3))
    r_itrf = np.einsum("...ij,...j->...i", wmat, r_pef)
    v_itrf = None if v_pef is None else np.einsum("...ij,...j->...i", wmat, v_pef)
    return r_itrf, v_itrf


def _polar_matrix(xp: FloatArray, yp: FloatArray) -> FloatArray:
    """W = R2(-xp) R1(-yp) (Vallado's frame rotations), shape (T, 3, 3): PEF -> ITRF."""
    cx, sx, cy, sy = np.cos(-xp), np.sin(-xp), np.cos(-yp), np.sin(-yp)
    zero, one = np.zeros_like(cx), np.ones_like(cx)
    r2 = np.stack([np.stack([cx, zero, -sx], -1), np.stack([zero, one, zero], -1),
                   np.stack([sx, zero, cx], -1)], -2)  # fmt: skip
    r1 = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cy, sy], -1),
                   np.stack([zero, -sy, cy], -1)], -2)  # fmt: skip
    return np.einsum("...ij,...jk->...ik", r2, r1)


def deg(x: Any) -> FloatArray:
    return np.degrees(x)


def rad(x: Any) -> FloatArray:
    return np.radians(x)
