"""4D intent deconfliction and conformance against brute-force shapely truth.

The truth side works in UTM zone 48N (EPSG:32648, a different projection from the
azimuthal-equidistant planes the module uses), turns circles into 1440-gons built with
geodesic forward steps, and decides intersection by shapely intersection area > 0 or
outline distance <= 1 cm, pair by pair over every volume.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from kongtian.errors import ConfigError, NotFound
from kongtian.model.report import report_table
from kongtian.traffic.intents import (
    Circle,
    IntentIndex,
    OperationalIntent,
    Volume4D,
    volumes_intersect,
)

GEOD = Geod(ellps="WGS84")
UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
LAT0, LON0 = 29.56, 106.55
T0 = np.datetime64("2026-03-01T08:00:00", "ns")


def _t(seconds):
    return T0 + np.timedelta64(int(seconds * 1e9), "ns")


def _offset(east_m, north_m, lat=LAT0, lon=LON0):
    """(lon, lat) at east/north metres from a point, along two geodesic legs."""
    east_m, north_m = np.broadcast_arrays(np.asarray(east_m, float), np.asarray(north_m, float))
    ones = np.ones(east_m.shape)
    lo, la, _ = GEOD.fwd(lon * ones, lat * ones, 90.0 * ones, east_m)
    lo, la, _ = GEOD.fwd(lo, la, 0.0 * ones, north_m)
    return (lo, la) if east_m.ndim else (float(lo), float(la))


def _rect(e0, n0, e1, n1):
    corners = [_offset(e0, n0), _offset(e1, n0), _offset(e1, n1), _offset(e0, n1)]
    return shapely.Polygon(corners)


def _vol(outline, lo=0.0, hi=120.0, t0=0.0, t1=600.0):
    return Volume4D(outline, lo, hi, "wgs84", _t(t0), _t(t1))


def _truth_shape(v):
    o = v.outline
    if isinstance(o, Circle):
        az = np.linspace(0, 360, 1440, endpoint=False)
        lo, la, _ = GEOD.fwd(
            np.full(az.size, o.lon_deg),
            np.full(az.size, o.lat_deg),
            az,
            np.full(az.size, o.radius_m),
        )
        return shapely.Polygon(np.column_stack(UTM.transform(lo, la)))
    return shapely.transform(o, lambda xy: np.column_stack(UTM.transform(xy[:, 0], xy[:, 1])))


def _truth_intersect(a, b):
    if not (a.t_start_utc < b.t_end_utc and b.t_start_utc < a.t_end_utc):
        return False
    if a.alt_lower_m > b.alt_upper_m + 0.01 or b.alt_lower_m > a.alt_upper_m + 0.01:
        return False
    sa, sb = _truth_shape(a), _truth_shape(b)
    return sa.intersection(sb).area > 0 or sa.distance(sb) <= 0.01


def _random_intents(rng, n):
    intents = []
    for k in range(n):
        vols = []
        for _ in range(rng.integers(1, 3)):
            e, nn = rng.uniform(-3000, 3000, 2)
            if rng.random() < 0.5:
                lo, la = _offset(e, nn)
                outline = Circle(la, lo, rng.uniform(100, 900))
            else:
                pts = [_offset(e + dx, nn + dy) for dx, dy in rng.uniform(-900, 900, (7, 2))]
                outline = shapely.MultiPoint(pts).convex_hull
            lo_m = rng.uniform(0, 200)
            t0 = rng.uniform(0, 3600)
            vols.append(
                _vol(outline, lo_m, lo_m + rng.uniform(10, 100), t0, t0 + rng.uniform(60, 1800))
            )
        intents.append(
            OperationalIntent(f"op{k:03d}", vols, priority=int(rng.integers(0, 3)), owner="uss-a")
        )
    return intents


def test_random_intents_match_bruteforce():
    rng = np.random.default_rng(7)
    intents = _random_intents(rng, 60)
    index = IntentIndex()
    for it in intents:
        index.add(it)
    n_conf = 0
    for a in intents:
        truth_all = sorted(
            b.id
            for b in intents
            if b.id != a.id
            and any(_truth_intersect(va, vb) for va, vb in itertools.product(a.volumes, b.volumes))
        )
        assert index.conflicts(a, include_lower=True) == truth_all
        higher_eq = [i for i in truth_all if index.get(i).priority >= a.priority]
        higher = [i for i in truth_all if index.get(i).priority > a.priority]
        assert index.conflicts(a) == higher_eq
        assert index.conflicts(a, equal_priority_blocks=False) == higher
        n_conf += len(truth_all)
    assert n_conf > 40  # the scene has plenty of conflicts (and plenty of non-conflicts)
    assert n_conf < 60 * 59 / 2


@pytest.mark.parametrize(
    ("gap_m", "expect"), [(0.0, True), (0.005, True), (0.05, False), (-3.0, True)]
)
def test_adjacent_squares_precision(gap_m, expect):
    a = _vol(_rect(0, 0, 100, 100))
    b = _vol(_rect(100 + gap_m, 0, 200, 100))
    assert volumes_intersect(a, b) is expect
    truth_area = _truth_shape(a).intersection(_truth_shape(b)).area
    assert (truth_area > 0) == (gap_m < 0)


@pytest.mark.parametrize(("r2", "expect"), [(599.995, True), (599.9, False), (700.0, True)])
def test_circles(r2, expect):
    lo, la = _offset(1000.0, 0.0)
    a = _vol(Circle(LAT0, LON0, 400.0))
    b = _vol(Circle(la, lo, r2))
    assert volumes_intersect(a, b) is expect


def test_circle_and_polygon():
    square = _vol(_rect(500, -200, 900, 200))
    assert not volumes_intersect(_vol(Circle(LAT0, LON0, 499.9)), square)
    assert volumes_intersect(_vol(Circle(LAT0, LON0, 499.995)), square)
    assert volumes_intersect(square, _vol(Circle(LAT0, LON0, 600)))


def test_time_and_altitude_edges():
    shape = _rect(0, 0, 100, 100)
    a = _vol(shape, 0, 60, 0, 600)
    assert not volumes_intersect(a, _vol(shape, 0, 60, 600, 900))  # hand-over in time
    assert not volumes_intersect(a, _vol(shape, 0, 60, -300, 0))
    assert volumes_intersect(a, _vol(shape, 0, 60, 599, 900))
    assert volumes_intersect(a, _vol(shape, 0, 60, -300, 1))
    assert volumes_intersect(a, _vol(shape, 60, 120))  # stacked bands touch within 1 cm
    assert not volumes_intersect(a, _vol(shape, 61, 120))
    with pytest.raises(ConfigError, match="alt_ref"):
        volumes_intersect(a, Volume4D(shape, 0, 60, "agl", _t(0), _t(600)))


def test_priority_state_and_lifecycle():
    index = IntentIndex()
    shape = _rect(0, 0, 500, 500)
    hi = OperationalIntent("hi", [_vol(shape)], priority=10)
    lo = OperationalIntent("lo", [_vol(shape)], priority=0)
    eq = OperationalIntent("eq", [_vol(shape)], priority=0, state="Activated")
    far = OperationalIntent("far", [_vol(_rect(5000, 0, 5500, 500))], priority=99)
    for it in (hi, lo, eq, far):
        index.add(it)
    assert index.conflicts(hi) == []  # lower-priority intents may be overlapped
    assert index.conflicts(hi, include_lower=True) == ["eq", "lo"]
    assert index.conflicts(lo) == ["eq", "hi"]
    assert index.conflicts(lo, equal_priority_blocks=False) == ["hi"]
    index.add(OperationalIntent("eq", [_vol(shape)], state="Ended"))  # replaced, now ended
    assert index.conflicts(lo) == ["hi"]
    index.remove("hi")
    assert index.conflicts(lo) == [] and "hi" not in index and len(index) == 3
    with pytest.raises(NotFound):
        index.remove("hi")
    with pytest.raises(NotFound):
        index.get("nope")
    with pytest.raises(ConfigError, match="alt_ref"):
        index.add(OperationalIntent("x", [Volume4D(shape, 0, 10, "agl", _t(0), _t(1))]))


def test_antimeridian_boxes():
    a = _vol(shapely.Polygon([(179.99, 0), (180.0, 0), (180.0, 0.01), (179.99, 0.01)]))
    b = _vol(Circle(0.005, -179.999, 200.0))
    index = IntentIndex()
    index.add(OperationalIntent("b", [b]))
    assert index.conflicts(OperationalIntent("a", [a])) == ["b"]


@pytest.mark.parametrize(
    ("build", "option"),
    [
        (lambda: _vol(_rect(0, 0, 10, 10), 50, 10), "alt_lower_m"),
        (lambda: _vol(_rect(0, 0, 10, 10), t0=10, t1=5), "t_start_utc"),
        (lambda: Volume4D(_rect(0, 0, 10, 10), 0, 1, "feet", _t(0), _t(1)), "alt_ref"),
        (lambda: _vol(shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])), "outline"),
        (lambda: _vol(Circle(0, 0, -5)), "radius_m"),
        (lambda: OperationalIntent("x", [_vol(_rect(0, 0, 1, 1))], state="Flying"), "state"),
        (lambda: OperationalIntent("x", []), "volumes"),
        (lambda: IntentIndex(tolerance_m=-1), "tolerance_m"),
    ],
)
def test_bad_input_names_option(build, option):
    with pytest.raises(ConfigError) as err:
        build()
    assert err.value.option == option


def test_conformance_trajectory_leaves_volume():
    # Volume 1: square 0..600 m east, -200..200 m north, 0..120 m, first 60 s.
    # Volume 2: circle r=300 m around (900, 0), 0..120 m, from 30 s to 200 s.
    v1 = _vol(_rect(0, -200, 600, 200), 0, 120, 0, 60)
    v2 = _vol(Circle(*_offset(900, 0)[::-1], 300.0), 0, 120, 30, 200)
    index = IntentIndex()
    index.add(OperationalIntent("op", [v1, v2]))
    # Flight: east at 12 m/s from (10, 0), climbing 1 m/s from 60 m, a report each second.
    t_s = np.arange(0, 150.0)
    east = 10 + 12 * t_s
    lon, lat = _offset(east, np.full(t_s.size, 20.0))
    alt = 60 + 1.0 * t_s
    table = report_table(
        {
            "object_id": ["uas:x"] * t_s.size,
            "source": ["remoteid-net"] * t_s.size,
            "time_utc": T0 + (t_s * 1e9).astype("timedelta64[ns]"),
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": alt,
            "alt_ref": ["wgs84"] * t_s.size,
            "speed_m_s": np.full(t_s.size, 12.0),
            "track_deg": np.full(t_s.size, 90.0),
            "vrate_m_s": np.ones(t_s.size),
        }
    )

    def truth(margin):
        x, y = UTM.transform(lon, lat)
        pts = shapely.points(x, y)
        out = np.zeros(t_s.size, dtype=bool)
        for v in (v1, v2):
            t_ok = (t_s >= (v.t_start_utc - T0) / np.timedelta64(1, "s")) & (
                t_s <= (v.t_end_utc - T0) / np.timedelta64(1, "s")
            )
            a_ok = (alt >= v.alt_lower_m - margin) & (alt <= v.alt_upper_m + margin)
            h_ok = shapely.distance(_truth_shape(v), pts) <= margin + 1e-9
            out |= t_ok & a_ok & h_ok
        return out

    ids = ["op"] * t_s.size
    got = index.conformance(table, ids)
    want = truth(0.0)
    # Away from the borders (> 0.2 m, where the 1440-gon truth is exact enough) they agree.
    assert want[:30].all() and not want.all()
    assert np.array_equal(got, want)
    # At 50 s (east 610 m) it has left the square but is in the circle (290.7 m from its
    # centre); it first leaves the intent when climbing through 120 m after 60 s.
    assert got[49] and got[50] and got[60]
    assert int(np.argmin(got)) == 61
    got_margin = index.conformance(table, ids, margin_m=50.0)
    assert np.array_equal(got_margin, truth(50.0))
    assert got_margin.sum() > got.sum()
    # Mapping input, null intent and a missing position.
    cols = {
        "lat_deg": lat.copy(),
        "lon_deg": lon,
        "alt_m": alt,
        "time_utc": T0 + (t_s * 1e9).astype("m8[ns]"),
    }
    cols["lat_deg"][3] = np.nan
    ids2 = list(ids)
    ids2[4] = None
    res = index.conformance(cols, ids2)
    assert not res[3] and not res[4] and res[5]
    with pytest.raises(NotFound, match="ghost"):
        index.conformance(cols, ["ghost"] * t_s.size)
    with pytest.raises(ConfigError, match="alt_m"):
        index.conformance({"lat_deg": lat, "lon_deg": lon, "time_utc": cols["time_utc"]}, ids)


def test_conformance_polygon_margin():
    index = IntentIndex()
    index.add(OperationalIntent("sq", [_vol(_rect(-200, -200, 200, 200))]))
    north = np.array([0.0, 190.0, 210.0, 240.0, 260.0, -245.0])
    lon, lat = _offset(np.zeros(north.size), north)
    reports = {
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_m": np.full(north.size, 50.0),
        "time_utc": [_t(10)] * north.size,
    }
    ids = ["sq"] * north.size
    assert index.conformance(reports, ids).tolist() == [True, True, False, False, False, False]
    assert index.conformance(reports, ids, margin_m=50.0).tolist() == [
        True,
        True,
        True,
        True,
        False,
        True,
    ]
    late = dict(reports, time_utc=[_t(601)] * north.size)
    assert not index.conformance(late, ids).any()
