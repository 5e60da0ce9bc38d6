"""Coverage against independent truth.

- visible counts equal a brute-force count of skyfield elevations for every
  (satellite, point, step) on real Starlink TLEs, regional and global point sets;
- an equatorial orbit seen from the equator, where coverage intervals, gaps and revisit
  follow from the closed-form footprint half-angle and the orbit's rate (python-sgp4);
- k = 2 with two satellites a known angle apart;
- gap statistics of a hand-made count series computed by hand.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sgp4.api import Satrec

from kongtian.errors import ConfigError
from kongtian.geo.time import time_grid
from kongtian.space import coverage as cov
from kongtian.space.catalog import Catalog, load_catalog

from ..conftest import DATA, skyfield_timescale

START = "2025-01-23T00:00:00Z"
WGS84_A = 6_378_137.0


@pytest.fixture(scope="module")
def starlink() -> Catalog:
    return load_catalog(DATA / "starlink_tle_2025-01-23_celestrak_via_pioet.txt")


def skyfield_elevations(cat: Catalog, lat, lon, alt, duration_s: float, step_s: float):
    """(S, P, T) elevations in degrees from skyfield's altaz, and azimuths."""
    from skyfield.api import EarthSatellite, wgs84

    ts = skyfield_timescale()
    secs = np.arange(0.0, duration_s + 1e-9, step_s)
    tt = ts.utc(2025, 1, 23, 0, 0, secs)
    el = np.empty((len(cat), len(lat), secs.size))
    az = np.empty_like(el)
    sites = [wgs84.latlon(a, b, elevation_m=h) for a, b, h in zip(lat, lon, alt, strict=True)]
    for i, s in enumerate(cat.satrecs):
        sat = EarthSatellite.from_satrec(s, ts)
        for p, site in enumerate(sites):
            e, a, _ = (sat - site).at(tt).altaz()
            el[i, p], az[i, p] = e.degrees, a.degrees
    return el, az


def assert_counts_match(ours, el_sf, mask_deg, extra_ok=None):
    vis = el_sf >= mask_deg
    if extra_ok is not None:
        vis &= extra_ok
    truth = vis.sum(axis=0).T  # (T, P)
    diff = np.argwhere(ours != truth)
    # The two chains agree to ~1e-11 deg in elevation; only a tie with the mask may differ.
    for t, p in diff:
        near = np.abs(el_sf[:, p, t] - mask_deg)
        assert near.min() < 1e-6, f"count mismatch at step {t}, point {p}"
    return truth


def test_counts_equal_skyfield_brute_force_regional(starlink):
    rng = np.random.default_rng(7)
    cat = starlink[np.sort(rng.choice(len(starlink), 150, replace=False))]
    lat = rng.uniform(28.2, 32.2, 10)
    lon = rng.uniform(105.3, 110.2, 10)
    alt = rng.uniform(0.0, 3000.0, 10)
    duration, step = 7200.0, 60.0
    t = time_grid(START, duration, step)
    ours, failed = cov.visible_counts(cat, t, lat, lon, alt, min_elev_deg=25.0)
    el_sf, _ = skyfield_elevations(cat, lat, lon, alt, duration, step)
    truth = assert_counts_match(ours, el_sf, 25.0)
    assert failed.size == 0
    assert truth.sum() > 500 and (truth == 0).any()  # a non-trivial case
    # the unscreened path and tiny time chunks (1-step chunks included) agree too
    dense, _ = cov.visible_counts(cat, t, lat, lon, alt, min_elev_deg=25.0, screen_step_s=None)
    assert np.array_equal(dense, ours)


def test_counts_equal_skyfield_brute_force_global(starlink, monkeypatch):
    rng = np.random.default_rng(11)
    cat = starlink[np.sort(rng.choice(len(starlink), 120, replace=False))]
    lat = np.array([0.0, 52.0, -45.0, 85.0, -70.0, 29.5, 29.6, 10.0])
    lon = np.array([0.0, -100.0, 179.9, 20.0, -60.0, 106.5, 106.6, -179.9])
    alt = np.array([0.0, 500.0, 0.0, 100.0, 2500.0, 300.0, 250.0, 0.0])
    duration, step = 5400.0, 90.0
    t = time_grid(START, duration, step)
    # small blocks: many time chunks, a trailing one-step chunk
    monkeypatch.setattr(cov, "_BLOCK_SAT_STEPS", 120 * 8)
    ours, _ = cov.visible_counts(cat, t, lat, lon, alt, min_elev_deg=10.0)
    el_sf, _ = skyfield_elevations(cat, lat, lon, alt, duration, step)
    truth = assert_counts_match(ours, el_sf, 10.0)
    assert truth.sum() > 100


def test_terrain_horizon_per_point_matches_skyfield(starlink):
    from kongtian.geo.terrain import HorizonMask

    rng = np.random.default_rng(3)
    cat = starlink[np.sort(rng.choice(len(starlink), 150, replace=False))]
    # Terminals in one tile; the masked ones sit between unmasked ones in the point order.
    lat = np.array([29.56, 29.56, 29.60, 29.52, 29.70])
    lon = np.array([106.55, 106.55, 106.50, 106.60, 106.40])
    alt = np.array([300.0, 300.0, 250.0, 400.0, 500.0])
    # A ridge to the east: 50 deg from az 10 to 170, flat 0 elsewhere (linear between knots).
    ridge = HorizonMask(np.array([0.0, 10.0, 170.0, 180.0]), np.array([0.0, 50.0, 50.0, 0.0]))
    west = HorizonMask(
        np.array([0.0, 200.0, 210.0, 330.0, 340.0]), np.array([0.0, 0.0, 40.0, 40.0, 0.0])
    )
    masks = [ridge, None, west, None, None]
    duration, step = 7200.0, 60.0
    t = time_grid(START, duration, step)
    ours, _ = cov.visible_counts(cat, t, lat, lon, alt, min_elev_deg=25.0, horizon=masks)
    el_sf, az_sf = skyfield_elevations(cat, lat, lon, alt, duration, step)
    above = np.ones_like(el_sf, dtype=bool)
    for p, m in enumerate(masks):
        if m is not None:
            above[:, p] = el_sf[:, p] >= m.min_elev_deg_at(az_sf[:, p])
    assert_counts_match(ours, el_sf, 25.0, above)
    assert ours[:, 2].sum() < (el_sf[:, 2] >= 25.0).sum()
    assert ours[:, 0].sum() < ours[:, 1].sum()  # the ridge hides some satellites


def _equatorial(mean_anomalies_deg, alt_m=550e3):
    n_rad_s = math.sqrt(3.986008e14 / (6_378_135.0 + alt_m) ** 3)  # WGS72 GM, as SGP4
    return Catalog.from_elements(
        epoch_utc=START, inclination_deg=0.0, raan_deg=0.0, eccentricity=0.0,
        arg_perigee_deg=0.0, mean_anomaly_deg=np.asarray(mean_anomalies_deg, float),
        mean_motion_rev_day=n_rad_s * 86400 / (2 * math.pi),
    )  # fmt: skip


def _orbit_from_sgp4(cat: Catalog, duration_s: float):
    """Radius range and Earth-relative angular rate of satellite 0, from python-sgp4 directly."""
    s: Satrec = cat.satrecs[0]
    secs = np.arange(0.0, duration_s, 60.0)
    jd = np.full(secs.size, 2460698.5)  # 2025-01-23 00:00 UTC
    e, r, _ = s.sgp4_array(jd, secs / 86400.0)
    assert not e.any()
    rad = np.linalg.norm(r, axis=1) * 1e3
    lon = np.unwrap(np.arctan2(r[:, 1], r[:, 0]))
    inertial_rate = np.polyfit(secs, lon, 1)[0]
    earth_rate = 7.2921158553e-5  # d(GMST)/dt
    return rad.min(), rad.max(), inertial_rate - earth_rate


def _runs(mask):
    """(start, length) of runs of True in a 1-D boolean array, excluding edge-touching runs."""
    m = np.r_[False, mask, False].astype(int)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    keep = (starts > 0) & (ends < mask.size)
    return starts[keep], (ends - starts)[keep]


def test_equatorial_orbit_coverage_follows_closed_form():
    cat = _equatorial([0.0])
    duration, step = 3 * 86400.0, 20.0
    r_lo, r_hi, w_rel = _orbit_from_sgp4(cat, duration)
    eps = math.radians(25.0)
    lam_lo = math.acos(WGS84_A * math.cos(eps) / r_lo) - eps
    lam_hi = math.acos(WGS84_A * math.cos(eps) / r_hi) - eps
    ds = cov.coverage(cat, [0.0], [0.0], start_utc=START, duration_s=duration, step_s=step,
                      min_elev_deg=25.0)  # fmt: skip
    covered = ds["visible_count"].values[:, 0] >= 1
    _, lens = _runs(covered)
    assert lens.size >= 40
    pass_lo, pass_hi = 2 * lam_lo / w_rel, 2 * lam_hi / w_rel
    assert np.all(lens * step >= pass_lo - step - 1e-6)
    assert np.all(lens * step <= pass_hi + step + 1e-6)
    revisit = 2 * math.pi / w_rel
    assert float(ds["revisit_s"][0]) == pytest.approx(revisit, abs=step / 4)
    gap_lo, gap_hi = revisit - pass_hi, revisit - pass_lo
    assert gap_lo - step <= float(ds["max_gap_s"][0]) <= gap_hi + step
    frac = float(ds["coverage_fraction"][0])
    assert (lam_lo / math.pi) * 0.97 <= frac <= (lam_hi / math.pi) * 1.03
    assert ds.attrs["mean_coverage_fraction"] == pytest.approx(frac)


def test_k2_two_satellites_a_known_angle_apart():
    sep = 10.0  # deg of mean anomaly, less than the footprint width 2*lambda (~17 deg)
    cat = _equatorial([0.0, sep])
    duration, step = 2 * 86400.0, 10.0
    r_lo, r_hi, w_rel = _orbit_from_sgp4(cat, duration)
    eps = math.radians(25.0)
    lam = math.acos(WGS84_A * math.cos(eps) / (0.5 * (r_lo + r_hi))) - eps
    # the separation seen from the rotating Earth equals the inertial one (same orbit)
    d = math.radians(sep)
    k1 = cov.coverage(
        cat, [0.0], [0.0], start_utc=START, duration_s=duration, step_s=step, min_elev_deg=25.0, k=1
    )
    k2 = cov.coverage(
        cat, [0.0], [0.0], start_utc=START, duration_s=duration, step_s=step, min_elev_deg=25.0, k=2
    )
    _, both = _runs(k2["visible_count"].values[:, 0] >= 2)
    _, either = _runs(k1["visible_count"].values[:, 0] >= 1)
    assert np.all(np.abs(both * step - (2 * lam - d) / w_rel) <= 2 * step)
    assert np.all(np.abs(either * step - (2 * lam + d) / w_rel) <= 2 * step)
    assert float(k2["coverage_fraction"][0]) < float(k1["coverage_fraction"][0])
    assert float(k2["coverage_fraction"][0]) == pytest.approx(
        (2 * lam - d) / (2 * math.pi), rel=0.05
    )
    assert int(k1["max_visible"][0]) == 2


def test_gap_statistics_by_hand():
    # step 10 s, 9 samples -> window 80 s; weights 5,10,...,10,5
    c = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0])
    st = cov.gap_statistics(c, 1, 10.0)
    assert st["coverage_fraction"][0] == pytest.approx(30 / 80)
    assert st["n_gaps"][0] == 3  # [0,1] edge (15 s), [4,6] (30 s), [8] edge (5 s)
    assert st["max_gap_s"][0] == pytest.approx(30.0)
    assert st["mean_gap_s"][0] == pytest.approx(50 / 3)
    assert st["revisit_s"][0] == pytest.approx(50.0)  # rises at samples 2 and 7
    assert st["mean_visible"][0] == pytest.approx(30 / 80)
    # k = 2, several points at once; always-covered and never-covered points
    c2 = np.array([[2, 0, 3], [2, 0, 1], [2, 0, 2], [2, 0, 2]])
    st2 = cov.gap_statistics(c2, 2, 60.0)
    assert np.allclose(st2["coverage_fraction"], [1.0, 0.0, 120 / 180])
    assert np.allclose(st2["max_gap_s"], [0.0, 180.0, 60.0])
    assert np.allclose(st2["mean_gap_s"], [0.0, 180.0, 60.0])
    assert list(st2["n_gaps"]) == [0, 1, 1]
    assert np.isnan(st2["revisit_s"]).all()  # at most one rise each
    assert list(st2["max_visible"]) == [2, 0, 3]
    assert np.allclose(st2["mean_visible"], [2.0, 0.0, (3 * 30 + 1 * 60 + 2 * 60 + 2 * 30) / 180])


def test_region_grid_dataset_netcdf_and_summary(tmp_path, starlink):
    from kongtian.geo.regions import region

    reg = region("chongqing")
    grid = reg.grid(0.5)
    cat = starlink[::40]
    ds = cov.coverage(cat, grid=grid, region=reg, start_utc=START, duration_s=3600, step_s=60,
                      min_elev_deg=25.0)  # fmt: skip
    p = ds.sizes["point"]
    assert p == grid.lat_deg.size and ds["visible_count"].dtype == np.int16
    m = ds["coverage_fraction_map"].values
    assert np.allclose(m[grid.iy, grid.ix], ds["coverage_fraction"].values)
    assert np.isnan(m[~np.asarray(grid.mask, bool)]).all()
    s = cov.summary(ds)
    json.dumps(s)
    assert s["min_point_coverage_fraction"] == pytest.approx(ds["coverage_fraction"].values.min())
    assert s["mean_visible"] == pytest.approx(ds["mean_visible"].values.mean())
    assert s["max_gap_s"] == pytest.approx(ds["max_gap_s"].values.max())
    assert s["n_satellites"] == len(cat) and s["n_points"] == p
    cf = ds["coverage_fraction"].values
    assert s["area_weighted_coverage_fraction"] == pytest.approx(
        np.average(cf, weights=grid.cell_area_km2)
    )
    assert ds.attrs["region"] == "chongqing" and ds.attrs["region_wkt"].startswith(
        ("POLYGON", "MULTIPOLYGON")
    )
    out = cov.save(ds, tmp_path / "cov.nc")
    back = cov.load(out)
    assert np.array_equal(back["visible_count"].values, ds["visible_count"].values)
    assert cov.summary(back) == s
    # same answer through region_coverage with a spec string
    ds2 = cov.region_coverage(
        cat, "chongqing", 0.5, start_utc=START, duration_s=3600, step_s=60, min_elev_deg=25.0
    )
    assert np.array_equal(ds2["visible_count"].values, ds["visible_count"].values)


def test_plots_write_pngs(tmp_path, starlink):
    from kongtian.geo.regions import region
    from kongtian.space.plots import plot_coverage_map, plot_visible_timeseries

    reg = region("chongqing")
    ds = cov.region_coverage(
        starlink[::60], reg, 0.5, start_utc=START, duration_s=1800, step_s=60, min_elev_deg=25.0
    )
    for path in (plot_coverage_map(ds, tmp_path / "map.png", region=reg),
                 plot_visible_timeseries(ds, tmp_path / "ts.png")):  # fmt: skip
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    pts = cov.coverage(starlink[::60], [29.5, 30.5], [106.5, 108.0], names=["A", "B"], start_utc=START,
                       duration_s=1800, step_s=60, min_elev_deg=25.0)  # fmt: skip
    assert plot_coverage_map(pts, tmp_path / "pts.png").stat().st_size > 10_000
    assert plot_visible_timeseries(pts, tmp_path / "pts_ts.png").stat().st_size > 10_000


def test_bad_inputs_name_the_option(starlink):
    cat = starlink[:5]
    kw = {"start_utc": START, "duration_s": 600, "step_s": 60}
    with pytest.raises(ConfigError, match="k"):
        cov.coverage(cat, [30.0], [106.0], min_elev_deg=25, k=0, **kw)
    with pytest.raises(ConfigError, match="min_elev_deg"):
        cov.coverage(cat, [30.0], [106.0], min_elev_deg=95, **kw)
    with pytest.raises(ConfigError, match="lat_deg"):
        cov.coverage(cat, [30.0, 31.0], [106.0], min_elev_deg=25, **kw)
    with pytest.raises(ConfigError, match="lat_deg"):
        cov.coverage(cat, [91.0], [106.0], min_elev_deg=25, **kw)
    with pytest.raises(ConfigError, match="duration"):
        cov.coverage(
            cat, [30.0], [106.0], min_elev_deg=25, start_utc=START, duration_s=10, step_s=60
        )
    with pytest.raises(ConfigError, match="horizon"):
        cov.coverage(cat, [30.0], [106.0], min_elev_deg=25, horizon=[None, None], **kw)
    with pytest.raises(ConfigError, match="names"):
        cov.coverage(cat, [30.0], [106.0], min_elev_deg=25, names=["a", "b"], **kw)


@pytest.mark.parametrize("start", ["2000-06-28T00:00:00Z", "2006-06-25T00:00:00Z"])
def test_screen_is_conservative_on_the_verification_set(start):
    """Molniya, GEO, resonant and decaying orbits (Vallado's SGP4-VER set): the coarse
    screen (auto, and a one-hour step) drops nothing the per-step test would keep."""
    cat = load_catalog(DATA / "SGP4-VER.TLE", strict=False)
    t = time_grid(start, 2 * 86400.0, 60.0)
    lat, lon = np.linspace(28.0, 32.0, 8), np.linspace(105.0, 110.0, 8)
    dense, _ = cov.visible_counts(cat, t, lat, lon, min_elev_deg=10.0, screen_step_s=None)
    assert dense.sum() > 10_000
    for screen in ("auto", 3600.0):
        got, _ = cov.visible_counts(cat, t, lat, lon, min_elev_deg=10.0, screen_step_s=screen)
        assert np.array_equal(got, dense)


def test_decayed_satellites_are_reported_not_fatal(starlink):
    # Propagated back to 2025-01-05 some element sets raise SGP4 decay errors (notes sec. 3).
    ds = cov.coverage(starlink, [29.5], [106.5], start_utc="2025-01-05T00:00:00Z", duration_s=600,
                      step_s=60, min_elev_deg=25.0)  # fmt: skip
    assert ds.attrs["n_satellites_failed"] > 0
    assert np.all(ds["visible_count"].values >= 0)
