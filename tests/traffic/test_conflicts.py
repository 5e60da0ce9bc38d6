"""State-based conflict detection against an independent dense N x N detector.

The truth side builds scenes in a pyproj azimuthal-equidistant plane (ellipsoidal), turns
plane velocities into local east/north through the projection's own Jacobian (so meridian
convergence is accounted for by pyproj, not by our frames), and finds conflicts densely
by solving the entry/exit quadratics |d + u t| = R and |dz + w t| = H for every pair.
Ours works from lat/lon through ECEF, KD-tree pruning and per-pair tangent planes.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Proj

from kongtian.errors import ConfigError
from kongtian.traffic.conflicts import (
    DEFAULT_MINIMA,
    ConflictConfig,
    category_reach,
    detect_conflicts,
)

GEOD = Geod(ellps="WGS84")


# ---------------------------------------------------------------- independent truth
def _plane_scene(n, side_m, lat0, lon0, seed, n_cat=1, n_manned=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-side_m / 2, side_m / 2, n)
    y = rng.uniform(-side_m / 2, side_m / 2, n)
    z = rng.uniform(30.0, 150.0, n)
    speed = rng.uniform(0.0, 40.0, n)
    heading = rng.uniform(0, 2 * np.pi, n)
    vx, vy = speed * np.sin(heading), speed * np.cos(heading)
    vz = rng.uniform(-4.0, 4.0, n)
    cat = rng.integers(0, n_cat, n)
    if n_manned:  # a few fast manned aircraft (category index n_cat) among the UAVs
        cat[:n_manned] = n_cat
        vx[:n_manned] *= 60.0 / speed[:n_manned]
        vy[:n_manned] *= 60.0 / speed[:n_manned]
    proj = Proj(proj="aeqd", lat_0=lat0, lon_0=lon0, ellps="WGS84")
    lon, lat = proj(x, y, inverse=True)
    # Plane displacement per metre moved east / north at each point (finite geodesic step).
    step = 0.5
    le, ae, _ = GEOD.fwd(lon, lat, np.full(n, 90.0), np.full(n, step))
    ln, an, _ = GEOD.fwd(lon, lat, np.zeros(n), np.full(n, step))
    xe, ye = proj(le, ae)
    xn, yn = proj(ln, an)
    jac = np.empty((n, 2, 2))
    jac[:, 0, 0], jac[:, 1, 0] = (xe - x) / step, (ye - y) / step
    jac[:, 0, 1], jac[:, 1, 1] = (xn - x) / step, (yn - y) / step
    ven = np.linalg.solve(jac, np.stack([vx, vy], axis=1)[..., None])[..., 0]
    ours = (lat, lon, z, ven[:, 0], ven[:, 1], vz, cat)
    return ours, (x, y, z, vx, vy, vz, cat)


def _dense_truth(x, y, z, vx, vy, vz, h_min, v_min, lookahead_s):
    """Set of (i, j) pairs in conflict, by roots of the quadratics (dense N x N)."""
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    dz = z[None, :] - z[:, None]
    ux = vx[None, :] - vx[:, None]
    uy = vy[None, :] - vy[:, None]
    uz = vz[None, :] - vz[:, None]
    a = ux**2 + uy**2
    b = dx * ux + dy * uy
    c = dx**2 + dy**2 - h_min**2
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.maximum(disc, 0))
        h_lo = np.where(a > 0, (-b - sq) / a, np.where(c < 0, -np.inf, np.nan))
        h_hi = np.where(a > 0, (-b + sq) / a, np.where(c < 0, np.inf, np.nan))
        h_ok = np.where(a > 0, disc > 0, c < 0)
        v1 = (-v_min - dz) / uz
        v2 = (v_min - dz) / uz
        v_lo = np.where(uz != 0, np.minimum(v1, v2), np.where(np.abs(dz) < v_min, -np.inf, np.nan))
        v_hi = np.where(uz != 0, np.maximum(v1, v2), np.where(np.abs(dz) < v_min, np.inf, np.nan))
        v_ok = (uz != 0) | (np.abs(dz) < v_min)
        lo = np.maximum(h_lo, v_lo)
        hi = np.minimum(h_hi, v_hi)
        hit = h_ok & v_ok & (lo <= hi) & (hi > 0) & (lo < lookahead_s)
    hit |= (np.hypot(dx, dy) < h_min) & (np.abs(dz) < v_min)
    i, j = np.nonzero(np.triu(hit, 1))
    tcpa = np.where(a > 0, -b / np.where(a > 0, a, 1), 0.0)
    dcpa = np.hypot(dx + ux * tcpa, dy + uy * tcpa)
    return {(int(p), int(q)): (tcpa[p, q], dcpa[p, q]) for p, q in zip(i, j, strict=True)}


@pytest.mark.parametrize(
    ("lat0", "lon0", "n", "side_m", "seed", "n_manned"),
    [
        (29.56, 106.55, 700, 6000.0, 1, 0),  # Chongqing
        (60.0, 179.99, 500, 5000.0, 2, 0),  # high latitude, across the antimeridian
        (-33.9, 18.4, 900, 8000.0, 3, 0),
        (29.56, 106.55, 1500, 8000.0, 4, 6),  # a few manned aircraft: two-group search
    ],
)
def test_random_scene_matches_dense_truth(lat0, lon0, n, side_m, seed, n_manned):
    cats = ("uav_light", "uav_medium", "manned_vfr")
    (lat, lon, alt, ve, vn, vu, cat), (x, y, z, vx, vy, vz, _) = _plane_scene(
        n, side_m, lat0, lon0, seed, n_cat=2, n_manned=n_manned
    )
    cfg = ConflictConfig(categories=cats, lookahead_s=60.0)
    tab = detect_conflicts(lat, lon, alt, ve, vn, vu, cat, config=cfg)
    ours = set(zip(tab["i"].to_pylist(), tab["j"].to_pylist(), strict=True))
    rh = np.array([DEFAULT_MINIMA[c][0] for c in cats])
    rv = np.array([DEFAULT_MINIMA[c][1] for c in cats])
    h_min = np.maximum(rh[cat][:, None], rh[cat][None, :])
    v_min = np.maximum(rv[cat][:, None], rv[cat][None, :])
    eps = 0.05  # m; projection / tangent-plane differences are far below this at <= 8 km
    inner = _dense_truth(x, y, z, vx, vy, vz, h_min - eps, v_min - eps, 60.0 - 0.01)
    outer = _dense_truth(x, y, z, vx, vy, vz, h_min + eps, v_min + eps, 60.0 + 0.01)
    assert len(inner) > 30  # the scene really exercises the detector
    if n_manned:
        assert (cat[tab["i"].to_numpy()] == 2).sum() > 5  # manned pairs are found
    assert set(inner) <= ours <= set(outer)
    # Values on every pair agree with the truth's own CPA.
    truth = _dense_truth(x, y, z, vx, vy, vz, h_min, v_min, 60.0)
    ti = np.array(
        [
            truth[p][0]
            for p in zip(tab["i"].to_pylist(), tab["j"].to_pylist(), strict=True)
            if p in truth
        ]
    )
    td = np.array(
        [
            truth[p][1]
            for p in zip(tab["i"].to_pylist(), tab["j"].to_pylist(), strict=True)
            if p in truth
        ]
    )
    keep = np.array(
        [p in truth for p in zip(tab["i"].to_pylist(), tab["j"].to_pylist(), strict=True)]
    )
    tcpa = tab["tcpa_s"].to_numpy()[keep]
    dcpa = tab["dcpa_m"].to_numpy()[keep]
    fast = np.abs(tcpa) < 1e5
    # rtol: ours measures at flight altitude (ECEF), the truth on the ellipsoid surface;
    # (R + h) / R differs from 1 by up to 2.4e-5 at 150 m.
    np.testing.assert_allclose(dcpa, td, rtol=5e-5, atol=0.02)
    np.testing.assert_allclose(tcpa[fast], ti[fast], rtol=5e-5, atol=0.02)
    # Every slice count gives the same answer (the pruning is a superset each time).
    for k in (1, 3, 8):
        other = detect_conflicts(
            lat, lon, alt, ve, vn, vu, cat, config=ConflictConfig(cats, slices=k)
        )
        assert other["i"].to_pylist() == tab["i"].to_pylist()
        assert other["j"].to_pylist() == tab["j"].to_pylist()


# ---------------------------------------------------------------- analytic cases
LAT0, LON0 = 0.0, 100.0  # equator: east/north at nearby points are parallel


def _place(east_m, north_m):
    """lat, lon of points at (east, north) metres from (LAT0, LON0) along geodesics."""
    east_m, north_m = np.atleast_1d(east_m).astype(float), np.atleast_1d(north_m).astype(float)
    lon, lat, _ = GEOD.fwd(
        np.full(east_m.size, LON0), np.full(east_m.size, LAT0), np.full(east_m.size, 90.0), east_m
    )
    lon, lat, _ = GEOD.fwd(lon, lat, np.zeros(east_m.size), north_m)
    return lat, lon


def _run(east, north, alt, ve, vn, vu, lookahead_s=60.0, **kw):
    lat, lon = _place(east, north)
    cfg = ConflictConfig(lookahead_s=lookahead_s, **kw)
    return detect_conflicts(
        lat, lon, alt, ve, vn, vu, config=cfg, ids=[f"t{k}" for k in range(len(lat))]
    )


def test_head_on():
    tab = _run([0, 2000], [0, 0], [100, 100], [20, -20], [0, 0], [0, 0])
    assert tab.num_rows == 1
    r = tab.to_pylist()[0]
    assert (r["i"], r["j"], r["id_i"], r["id_j"]) == (0, 1, "t0", "t1")
    assert r["tcpa_s"] == pytest.approx(50.0, abs=1e-3)
    assert r["dcpa_m"] == pytest.approx(0.0, abs=0.02)
    assert r["t_in_s"] == pytest.approx((2000 - 50) / 40, abs=1e-3)
    assert r["t_out_s"] == pytest.approx((2000 + 50) / 40, abs=1e-3)
    assert not r["los_now"]
    # Entry at 48.75 s: outside a 45 s look-ahead.
    assert (
        _run([0, 2000], [0, 0], [100, 100], [20, -20], [0, 0], [0, 0], lookahead_s=45).num_rows == 0
    )


def test_crossing_at_right_angle():
    # A flies north from (0, -1000), B east from (-960, 0), both 20 m/s.
    # d = (-960, 1000), u = (20, -20): tcpa = 50 - 40/40 = 49 s, dcpa = 40/sqrt(2) m.
    tab = _run([0, -960], [-1000, 0], [80, 80], [0, 20], [20, 0], [0, 0])
    r = tab.to_pylist()[0]
    dcpa = 40 / np.sqrt(2)
    half = np.sqrt(50**2 - dcpa**2) / np.hypot(20, 20)
    assert r["tcpa_s"] == pytest.approx(49.0, abs=1e-3)
    assert r["dcpa_m"] == pytest.approx(dcpa, abs=0.02)
    assert r["t_in_s"] == pytest.approx(49.0 - half, abs=1e-3)
    assert r["t_out_s"] == pytest.approx(49.0 + half, abs=1e-3)
    assert 0 < r["severity"] < 1
    # 80 m offset: dcpa 56.6 m > 50 m, no conflict.
    assert _run([0, -920], [-1000, 0], [80, 80], [0, 20], [20, 0], [0, 0]).num_rows == 0


def test_vertical_only():
    # Same track 10 m apart; A climbs 2 m/s from 100 m towards B level at 160 m.
    tab = _run([0, 10], [0, 0], [100, 160], [0, 0], [10, 10], [2, 0])
    r = tab.to_pylist()[0]
    assert r["t_in_s"] == pytest.approx((60 - 15) / 2, abs=1e-6)
    assert r["t_out_s"] == pytest.approx((60 + 15) / 2, abs=1e-6)
    assert r["dalt_m"] == pytest.approx(60.0)
    assert not r["los_now"]
    # A look-ahead shorter than the entry time finds nothing.
    assert _run([0, 10], [0, 0], [100, 160], [0, 0], [10, 10], [2, 0], lookahead_s=20).num_rows == 0


def test_parallel_same_speed():
    tab = _run([0, 30, 200], [0, 0, 0], [100, 100, 100], [0, 0, 0], [15, 15, 15], [0, 0, 0])
    assert tab.num_rows == 1  # only the 30 m pair; 170/200 m pairs never close
    r = tab.to_pylist()[0]
    assert (r["i"], r["j"]) == (0, 1)
    assert r["los_now"] and r["severity"] == 1.0
    assert r["t_in_s"] == -np.inf and r["t_out_s"] == np.inf
    assert r["dist_m"] == pytest.approx(30.0, abs=0.01)


def test_already_in_los_and_diverging():
    tab = _run([0, 20], [0, 0], [50, 55], [-10, 10], [0, 0], [0, 0])
    r = tab.to_pylist()[0]
    assert r["los_now"]
    assert r["tcpa_s"] == pytest.approx(-1.0, abs=1e-4)
    assert r["t_out_s"] == pytest.approx(1.5, abs=1e-4)
    # Level apart by more than 15 m: no LoS, no conflict.
    assert _run([0, 20], [0, 0], [50, 70], [-10, 10], [0, 0], [0, 0]).num_rows == 0


def test_category_minima_and_pair_override():
    # A light UAV and a manned VFR aircraft 500 m apart, parallel: inside 1219 m.
    east, north, alt = [0, 500], [0, 0], [100, 100]
    v0 = [0, 0]
    cats = ("uav_light", "manned_vfr")
    lat, lon = _place(east, north)
    cfg = ConflictConfig(categories=cats)
    tab = detect_conflicts(lat, lon, alt, v0, [10, 10], v0, [0, 1], config=cfg)
    assert tab.num_rows == 1
    assert tab["h_min_m"][0].as_py() == pytest.approx(4000 * 0.3048)
    assert tab["los_now"][0].as_py()
    cfg = ConflictConfig(categories=cats, pair_minima={("manned_vfr", "uav_light"): (300.0, 50.0)})
    assert detect_conflicts(lat, lon, alt, v0, [10, 10], v0, [0, 1], config=cfg).num_rows == 0
    # Two UAVs at the same spacing are far apart for their own minima.
    assert detect_conflicts(lat, lon, alt, v0, [10, 10], v0, [0, 0], config=cfg).num_rows == 0
    cfg = ConflictConfig(categories=("mine",), minima={"mine": (600.0, 20.0)})
    assert detect_conflicts(lat, lon, alt, v0, [10, 10], v0, config=cfg).num_rows == 1


def test_category_reach_bounds_every_pair():
    rng = np.random.default_rng(5)
    for _ in range(50):
        k = int(rng.integers(1, 6))
        h = rng.uniform(10, 2000, (k, k))
        v = rng.uniform(5, 300, (k, k))
        h, v = (h + h.T) / 2, (v + v.T) / 2  # overrides make any symmetric matrix possible
        reach = category_reach(h, v, np.arange(k))
        assert np.all(reach[:, None] + reach[None, :] >= np.hypot(h, v) - 1e-9)


def test_empty_and_single():
    for n in (0, 1):
        tab = detect_conflicts(*([np.zeros(n)] * 6))
        assert tab.num_rows == 0 and "tcpa_s" in tab.column_names


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"config": ConflictConfig(categories=("nope",))}, "minima"),
        ({"config": ConflictConfig(lookahead_s=-1)}, "lookahead_s"),
        ({"config": ConflictConfig(slices=0)}, "slices"),
        ({"config": ConflictConfig(minima={"uav_light": (50.0, -1.0)})}, "minima['uav_light']"),
        ({"config": ConflictConfig(pair_minima={("a", "b"): (1.0, 1.0)})}, "pair_minima"),
        ({"category": [0, 3]}, "category"),
        ({"ids": ["a"]}, "ids"),
    ],
)
def test_bad_config_names_option(kwargs, option):
    with pytest.raises(ConfigError) as err:
        detect_conflicts([0, 0], [0, 0.001], [0, 0], [0, 0], [0, 0], [0, 0], **kwargs)
    assert err.value.option == option


def test_bad_arrays_name_field():
    with pytest.raises(ConfigError, match="alt_m"):
        detect_conflicts([0, 0], [0, 0], [0, np.nan], [0, 0], [0, 0], [0, 0])
    with pytest.raises(ConfigError, match="v_up_m_s"):
        detect_conflicts([0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0])
    with pytest.raises(ConfigError, match="lat_deg"):
        detect_conflicts([0, 95], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0])
