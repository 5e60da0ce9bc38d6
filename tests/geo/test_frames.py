import numpy as np
import pytest
from pyproj import Transformer

from kongtian.geo.eop import eop_vintage, ut1_minus_utc
from kongtian.geo.frames import (
    ecef_to_aer,
    ecef_to_geodetic,
    geodetic_to_ecef,
    gmst82_rad,
    teme_to_itrf,
)

ARCSEC = np.pi / 180 / 3600


def test_teme_to_itrf_vallado_appendix_c():
    """AIAA 2006-6753 Rev 2, Appendix C worked example (UT1 and polar motion as given)."""
    r = np.array([5094.18016210, 6127.64465950, 6380.34453270]) * 1e3
    v = np.array([-4.746131487, 0.785818041, 5.531931288]) * 1e3
    r_itrf, v_itrf = teme_to_itrf(
        r[None], v[None], "2004-04-06T07:51:28.386Z", ut1_minus_utc_s=-0.439961,
        polar_motion=True, xp_rad=-0.140682 * ARCSEC, yp_rad=0.333309 * ARCSEC,
    )  # fmt: skip
    want_r = np.array([-1033.47938300, 7901.29527540, 6380.35659580]) * 1e3
    want_v = np.array([-3.225636520, -2.872451450, 5.531924446]) * 1e3
    # Skyfield's tolerances for the same example: 0.1 m and 0.1 mm/s. The paper's own
    # digits were produced with a float Julian date (~20 us resolution), hence ~1 cm.
    assert np.abs(r_itrf[0] - want_r).max() < 0.1
    assert np.abs(v_itrf[0] - want_v).max() < 1e-4


def test_gmst82_vallado_example_3_5():
    # Vallado, Fundamentals of Astrodynamics, Example 3-5: 1992-08-20 12:14 UT1 -> 152.578787810 deg.
    # Both we and skyfield's theta_GMST1982 give 152.5787878517; the book's last digits
    # differ by 4e-8 deg (0.15 mas), below anything SGP4 can resolve.
    g = np.degrees(gmst82_rad("1992-08-20T12:14:00Z", ut1_minus_utc_s=0.0))
    assert abs(g - 152.578787810) < 1e-7


def test_gmst82_against_skyfield():
    from sgp4.api import jday
    from skyfield.sgp4lib import theta_GMST1982

    rng = np.random.default_rng(3)
    secs = rng.uniform(0, 40 * 365.25 * 86400, 500)
    t = np.datetime64("1990-01-01T00:00:00", "ns") + (secs * 1e9).astype("timedelta64[ns]")
    ours = gmst82_rad(t, ut1_minus_utc_s=0.0)
    for ti, oi in zip(t[:500], ours, strict=True):
        s = str(ti)
        jd, fr = jday(int(s[:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]),
                      float(s[17:]))  # fmt: skip
        theirs = theta_GMST1982(jd, fr)[0]
        d = (oi - theirs + np.pi) % (2 * np.pi) - np.pi
        assert abs(d) < 1e-11


@pytest.mark.parametrize("ell,epsg", [("WGS84", 4979), ("CGCS2000", 4480)])
def test_geodetic_ecef_against_pyproj(ell, epsg):
    rng = np.random.default_rng(1)
    lat = rng.uniform(-90, 90, 2000)
    lon = rng.uniform(-180, 180, 2000)
    h = rng.uniform(-500, 4e7, 2000)
    xyz = geodetic_to_ecef(np.radians(lat), np.radians(lon), h, ell)
    geocentric = {4979: 4978, 4480: 4479}[epsg]
    tr = Transformer.from_crs(epsg, geocentric, always_xy=True)
    x, y, z = tr.transform(lon, lat, h)
    assert np.abs(xyz - np.stack([x, y, z], -1)).max() < 1e-6
    la, lo, hh = ecef_to_geodetic(xyz, ell)
    assert np.abs(np.degrees(la) - lat).max() < 1e-10
    assert np.abs(hh - h).max() < 1e-6


def test_aer_simple_geometry():
    site = geodetic_to_ecef(0.0, 0.0, 0.0)
    # A point straight up, and one due east on the horizon plane.
    up = site + np.array([1000.0, 0, 0])
    east = site + np.array([0, 1000.0, 0])
    az, el, rng = ecef_to_aer(np.stack([up, east]), 0.0, 0.0, 0.0)
    assert np.allclose(np.degrees(el), [90, 0]) and np.isclose(np.degrees(az[1]), 90)
    assert np.allclose(rng, 1000)


def test_eop_table_values():
    # IERS Bulletin A, finals2000A: UT1-UTC on 2025-01-23 00:00 UTC is +0.0450 s (to 1 ms)
    # and the value jumps by +1 s across the 2016-12-31 leap second.
    assert abs(float(ut1_minus_utc("2025-01-23T00:00:00Z")) - 0.045) < 0.002
    before = float(ut1_minus_utc("2016-12-31T23:59:59Z"))
    after = float(ut1_minus_utc("2017-01-01T00:00:00Z"))
    assert 0.99 < after - before < 1.01
    assert "astropy-iers-data" in eop_vintage()
