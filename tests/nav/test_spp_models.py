"""Atmosphere models of the SPP against RTKLIB 2.4.3 b34 (``pyrtklib``) and the ICDs.

- GPS Klobuchar vs RTKLIB ``ionmodel`` over a grid of sites, azimuths, elevations and
  times of day (same ICD algorithm, independent code): 1e-9 m.
- Saastamoinen vs RTKLIB ``tropmodel`` (standard atmosphere, 70 % humidity): 1 mm or
  5e-5 relative (RTKLIB converts Celsius with 273.16 instead of 273.15: 1.5 mm at 1 deg).
- BeiDou Klobuchar: ICD properties (night-time floor 5 ns times the slant factor, A4
  clamp, geographic latitude with |phi|), since no independent implementation is at hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.nav import iono, troposphere
from kongtian.nav.signals import C_LIGHT_M_S

rtk = pytest.importorskip("pyrtklib")

# GPSA/GPSB of the ESBC 2020-177 navigation file
ALPHA = [4.6566e-09, 1.4901e-08, -5.9605e-08, -1.1921e-07]
BETA = [81920.0, 98304.0, -65536.0, -524290.0]


def _arr(values) -> object:
    a = rtk.Arr1Ddouble(len(values))
    for i, x in enumerate(values):
        a[i] = float(x)
    return a


def _grid():
    rng = np.random.default_rng(6)
    n = 400
    lat = rng.uniform(-80, 80, n)
    lon = rng.uniform(-180, 180, n)
    az = rng.uniform(0, 360, n)
    el = rng.uniform(1, 90, n)
    tow = rng.uniform(0, 604800, n)
    return lat, lon, az, el, tow


def test_klobuchar_gps_vs_rtklib():
    lat, lon, az, el, tow = _grid()
    ours = iono.klobuchar_gps(ALPHA, BETA, np.radians(lat), np.radians(lon), np.radians(az),
                              np.radians(el), tow)  # fmt: skip
    ion = _arr(ALPHA + BETA)
    theirs = np.array([
        rtk.ionmodel(rtk.gpst2time(2111, float(t)), ion, _arr([np.radians(a), np.radians(b), 0]),
                     _arr([np.radians(c), np.radians(d)]))
        for a, b, c, d, t in zip(lat, lon, az, el, tow, strict=True)
    ])  # fmt: skip
    print(
        f"\nKlobuchar GPS vs RTKLIB: {len(ours)} cases, max |diff| "
        f"{np.max(np.abs(ours - theirs)):.2e} m, delays {theirs.min():.2f}..{theirs.max():.2f} m"
    )
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_saastamoinen_vs_rtklib():
    lat, _, _, el, _ = _grid()
    h = np.linspace(0, 4000, len(lat))
    ours = troposphere.slant_delay(np.radians(lat), h, np.radians(el))
    theirs = np.array([
        rtk.tropmodel(rtk.gpst2time(2111, 0.0), _arr([np.radians(a), 0.0, hh]),
                      _arr([0.0, np.radians(e)]), 0.7)
        for a, hh, e in zip(lat, h, el, strict=True)
    ])  # fmt: skip
    print(f"\nSaastamoinen vs RTKLIB: max |diff| {np.max(np.abs(ours - theirs)) * 1e3:.3f} mm")
    np.testing.assert_allclose(ours, theirs, rtol=5e-5, atol=1e-3)


def test_black_eisner_mapping_close_to_secant_at_high_elevation():
    zen = troposphere.slant_delay(0.9, 100.0, np.pi / 2)
    be = troposphere.slant_delay(0.9, 100.0, np.radians([90.0, 30.0, 5.0]), mapping="black-eisner")
    sec = troposphere.slant_delay(0.9, 100.0, np.radians([90.0, 30.0, 5.0]))
    assert abs(be[0] - 1.001 / np.sqrt(1.002001) * zen) < 1e-9
    assert abs(be[1] / sec[1] - 1) < 0.01 and be[2] < sec[2]


def test_klobuchar_bds_icd_properties():
    lat, lon = np.radians(30.0), np.radians(114.0)
    ratio = 6378.0 / (6378.0 + 375.0)
    # night (local time far from 14:00): the 5 ns floor times the exact slant factor
    el = np.radians([90.0, 45.0, 10.0])
    bdt_tow = 3 * 86400.0 + (2.0 * 3600.0 - 114.0 / 15.0 * 3600.0) % 86400.0  # ~02:00 local
    d = iono.klobuchar_bds(ALPHA, BETA, lat, lon, 0.0, el, bdt_tow)
    slant = 1.0 / np.sqrt(1.0 - (ratio * np.cos(el)) ** 2)
    np.testing.assert_allclose(d, 5e-9 * C_LIGHT_M_S * slant, rtol=1e-12)
    # zenith at 14:00 local: 5 ns + A2 with A2 from the geographic |latitude|
    t14 = 3 * 86400.0 + (14.0 * 3600.0 - 114.0 / 15.0 * 3600.0) % 86400.0
    z = iono.klobuchar_bds(ALPHA, BETA, lat, lon, 0.0, np.pi / 2, t14)
    phi = 30.0 / 180.0
    a2 = max(sum(a * phi**i for i, a in enumerate(ALPHA)), 0.0)
    assert z == pytest.approx((5e-9 + a2) * C_LIGHT_M_S, rel=1e-9)
    # southern site: same delay as the mirrored northern one (|phi|)
    zs = iono.klobuchar_bds(ALPHA, BETA, -lat, lon, 0.0, np.pi / 2, t14)
    assert zs == pytest.approx(z, rel=1e-12)
    # A4 clamp to [72000, 172800] s: a huge beta acts as 172800 s
    big = iono.klobuchar_bds(ALPHA, [1e7, 0, 0, 0], lat, lon, 0.0, np.pi / 2, t14 + 36000.0)
    cap = iono.klobuchar_bds(ALPHA, [172800.0, 0, 0, 0], lat, lon, 0.0, np.pi / 2, t14 + 36000.0)
    assert big == pytest.approx(cap, rel=1e-12)
