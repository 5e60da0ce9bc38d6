"""ITRF positions and topocentric elevations against skyfield (independent implementation).

Both sides: SGP4 from the same TLEs, TEME -> ITRF with GMST82, no polar motion, and
UT1 - UTC from the same IERS finals2000A.all (astropy-iers-data; see conftest).
"""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.geo.frames import ecef_to_aer
from kongtian.space.catalog import Catalog, load_catalog
from kongtian.space.propagate import propagate_zipped

from ..conftest import DATA, skyfield_timescale

FILES = [
    "starlink_tle_2025-01-23_celestrak_via_pioet.txt",
    "oneweb_tle_2025-01-05_celestrak_via_pioet.txt",
    "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle",
]


@pytest.fixture(scope="module")
def triples():
    cats = [load_catalog(DATA / f) for f in FILES]
    cat = Catalog.concat(cats)
    rng = np.random.default_rng(20261122)
    n = 1200
    idx = rng.integers(0, len(cat), n)
    # Times within +-2 days of each satellite's epoch, to the nanosecond.
    off = rng.uniform(-2, 2, n) * 86400e9
    t = cat.epoch_utc[idx] + off.astype("timedelta64[ns]")
    lat = rng.uniform(-60, 70, n)
    lon = rng.uniform(-180, 180, n)
    alt = rng.uniform(0, 3000, n)
    return cat, idx, t, lat, lon, alt


def _sf_time(ts, t64):
    # Calendar fields, not seconds since 1970: skyfield counts leap seconds in those.
    day = t64.astype("datetime64[D]")
    y, m, d = (int(x) for x in str(day).split("-"))
    sod = (t64 - day).astype(np.int64) / 1e9
    return ts.utc(y, m, d, 0, 0, sod)


def test_itrf_and_elevation_match_skyfield(triples):
    from skyfield.api import EarthSatellite, wgs84
    from skyfield.framelib import itrs

    cat, idx, t, lat, lon, alt = triples
    r, _, err = propagate_zipped(cat, idx, t, frame="itrf")
    ok = err == 0
    ts = skyfield_timescale()
    d_r, d_el, compared = [], [], 0
    for k in np.flatnonzero(ok):
        s = cat.satrecs[idx[k]]
        sat = EarthSatellite.from_satrec(s, ts)
        tt = _sf_time(ts, t[k])
        pos = sat.at(tt).frame_xyz(itrs).m
        d_r.append(np.linalg.norm(pos - r[k]))
        site = wgs84.latlon(lat[k], lon[k], elevation_m=alt[k])
        el_sf = (sat - site).at(tt).altaz()[0].degrees
        _, el, _ = ecef_to_aer(r[k], np.radians(lat[k]), np.radians(lon[k]), alt[k])
        d_el.append(abs(np.degrees(el) - el_sf))
        compared += 1
    d_r, d_el = np.array(d_r), np.array(d_el)
    print(f"\n{compared} triples: ITRF max {d_r.max():.3e} m, p50 {np.median(d_r):.3e} m; "
          f"elevation max {d_el.max():.3e} deg")  # fmt: skip
    assert compared >= 1000
    assert d_r.max() < 1.0
    assert d_el.max() < 1e-4


def test_ut1_equal_utc_is_tens_of_metres_off(triples):
    """The UT1 table matters: with UT1 = UTC the same comparison is off by metres to tens of m."""
    from kongtian.geo.frames import teme_to_itrf

    cat, idx, t, *_ = triples
    r_teme, _, err = propagate_zipped(cat, idx[:200], t[:200], frame="teme")
    good = err == 0
    a, _ = teme_to_itrf(r_teme, None, t[:200], time_axis=0)
    b, _ = teme_to_itrf(r_teme, None, t[:200], time_axis=0, ut1_minus_utc_s=0.0)
    diff = np.linalg.norm(a - b, axis=-1)[good]
    # |UT1-UTC| ~ 0.03-0.05 s in 2025-26 -> 7.5 km/s * 0.04 s * (r/R) ~ tens of metres.
    assert diff.max() > 5.0
