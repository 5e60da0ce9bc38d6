"""Zones: vectorised point-in-zone and enter/exit monitoring against brute-force truth.

Truth is a plain Python loop per point and per zone: ``shapely.Point.within`` for
polygons, ``pyproj.Geod`` geodesic distance for circles, ``zoneinfo``/``datetime`` for
schedules, and a per-report sequential replay for events.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import pytest
import shapely

from kongtian.errors import FormatError
from kongtian.model.report import report_table
from kongtian.traffic.zones import (
    ALT_REF_MISMATCH,
    ALT_UNKNOWN,
    Circle,
    Schedule,
    WeeklyWindow,
    Zone,
    ZoneMonitor,
    ZoneSet,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "traffic" / "zones"
GEOD = pyproj.Geod(ellps="WGS84")
FT = 0.3048
EV_ORDER = {"exit": 0, "enter": 1, "inside": 2, "overspeed": 3}


# ------------------------------------------------------------------ brute force truth


def _utc(t_ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=t_ns // 1000)


def brute_active(zone: Zone, t_ns: int) -> bool:
    s = zone.schedule
    if s is None:
        return True
    for a, b in s.intervals_utc:
        if (
            int(a.astype("datetime64[ns]").astype(np.int64))
            <= t_ns
            < int(b.astype("datetime64[ns]").astype(np.int64))
        ):
            return True
    local = _utc(t_ns).astimezone(ZoneInfo(s.tz))
    minute = local.hour * 60 + local.minute + local.second / 60
    for w in s.weekly:
        if w.end_min > w.start_min:
            if local.weekday() in w.days and w.start_min <= minute < w.end_min:
                return True
        else:
            if local.weekday() in w.days and minute >= w.start_min:
                return True
            if (local.weekday() - 1) % 7 in w.days and minute < w.end_min:
                return True
    return False


def brute_inside(zone: Zone, lat: float, lon: float, alt: float, t_ns: int | None = None) -> bool:
    g = zone.geometry
    if isinstance(g, Circle):
        _, _, d = GEOD.inv(g.lon_deg, g.lat_deg, lon, lat)
        horiz = d <= g.radius_m
    else:
        horiz = shapely.Point(lon, lat).within(g)
    vert = math.isnan(alt) or zone.floor_m <= alt <= zone.ceiling_m
    return bool(horiz and vert and (t_ns is None or brute_active(zone, t_ns)))


def brute_pairs(zones: list[Zone], lat, lon, alt, t_ns=None) -> set[tuple[int, int]]:
    out = set()
    for i in range(len(lat)):
        for j, z in enumerate(zones):
            if brute_inside(z, lat[i], lon[i], alt[i], None if t_ns is None else int(t_ns[i])):
                out.add((i, j))
    return out


def replay(zones: list[Zone], df: pd.DataFrame) -> dict[str, list[tuple]]:
    """Sequential per-report replay: events per object as (time_ns, event, zone_id)."""
    out: dict[str, list[tuple]] = {}
    state: dict[str, set[str]] = {}
    for r in df.sort_values(["object_id", "time_ns"], kind="stable").itertuples():
        now = {z.id for z in zones if brute_inside(z, r.lat_deg, r.lon_deg, r.alt_m, r.time_ns)}
        before = state.get(r.object_id, set())
        ev = out.setdefault(r.object_id, [])
        ev += [(r.time_ns, "exit", zid) for zid in before - now]
        ev += [(r.time_ns, "enter", zid) for zid in now - before]
        ev += [(r.time_ns, "inside", zid) for zid in now & before]
        for z in zones:
            if z.id in now and z.speed_limit_m_s is not None and r.speed_m_s > z.speed_limit_m_s:
                ev.append((r.time_ns, "overspeed", z.id))
        state[r.object_id] = now
    return {k: sorted(v, key=lambda e: (e[0], EV_ORDER[e[1]], e[2])) for k, v in out.items() if v}


def events_by_object(tables: list[pa.Table]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for tab in tables:
        d = tab.to_pydict()
        t = tab.column("time_utc").cast(pa.int64()).to_pylist()
        for o, ti, e, zid in zip(d["object_id"], t, d["event"], d["zone_id"], strict=True):
            out.setdefault(o, []).append((ti, e, zid))
    for v in out.values():  # the monitor promises per-object time order
        assert [x[0] for x in v] == sorted(x[0] for x in v)
    return {k: sorted(v, key=lambda e: (e[0], EV_ORDER[e[1]], e[2])) for k, v in out.items()}


def to_reports(df: pd.DataFrame) -> pa.Table:
    n = len(df)
    return report_table(
        {
            "object_id": df.object_id.to_numpy(dtype=object),
            "source": np.full(n, "adsb", dtype=object),
            "time_utc": df.time_ns.to_numpy(np.int64),
            "lat_deg": df.lat_deg.to_numpy(),
            "lon_deg": df.lon_deg.to_numpy(),
            "alt_m": df.alt_m.to_numpy(),
            "alt_ref": np.full(n, "baro", dtype=object),
            "speed_m_s": df.speed_m_s.to_numpy(),
            "track_deg": np.zeros(n),
            "vrate_m_s": np.zeros(n),
        }
    )


def load_traj(name: str) -> pd.DataFrame:
    raw = pd.read_json(DATA / f"traffic_{name}.json.gz")
    return pd.DataFrame(
        {
            "object_id": "icao24:" + raw.icao24.astype(str),
            "time_ns": raw.timestamp.to_numpy().astype("datetime64[ns]").astype(np.int64),
            "lat_deg": raw.latitude.to_numpy(float),
            "lon_deg": raw.longitude.to_numpy(float),
            "alt_m": raw.altitude.to_numpy(float) * FT,  # pressure altitude, ft -> m
            "speed_m_s": raw.groundspeed.to_numpy(float) * 1852 / 3600,
        }
    )


@pytest.fixture(scope="module")
def toulouse() -> ZoneSet:
    return ZoneSet.from_geojson(DATA / "toulouse_zones.geojson")


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    return pd.concat(
        [load_traj("surveys_pixair_toulouse"), load_traj("ambulances_samu31")], ignore_index=True
    )


# ------------------------------------------------------------------ hits


def random_zones(rng: np.random.Generator, n: int) -> list[Zone]:
    zones = []
    for i in range(n):
        lon, lat = rng.uniform(105.0, 108.0), rng.uniform(28.5, 31.0)
        floor, ceiling = sorted(rng.uniform(-50, 800, 2))
        if i % 3 == 0:
            geom: shapely.Geometry | Circle = Circle(
                lon, lat, float(rng.choice([300.0, 5e3, 50e3, 150e3]))
            )
        elif i % 3 == 1:
            k = int(rng.integers(5, 40))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = rng.uniform(0.05, 0.4) * rng.uniform(0.4, 1.0, k)
            geom = shapely.Polygon(
                np.column_stack([lon + rad * np.cos(ang), lat + rad * np.sin(ang)])
            )
        else:
            outer = shapely.Point(lon, lat).buffer(0.3)
            geom = shapely.MultiPolygon(
                [
                    outer.difference(shapely.Point(lon, lat).buffer(0.1)),
                    shapely.Point(lon + 0.7, lat).buffer(0.05),
                ]
            )
        zones.append(
            Zone(
                f"z{i}",
                f"z{i}",
                "restricted",
                geom,
                floor_m=floor,
                ceiling_m=ceiling if i % 4 else math.inf,
            )
        )
    return zones


def test_hits_random_match_shapely_pyproj_bruteforce() -> None:
    rng = np.random.default_rng(20261122)
    zones = random_zones(rng, 45)
    zs = ZoneSet(zones)
    n = 3000
    lat = rng.uniform(28.0, 31.5, n)
    lon = rng.uniform(104.5, 108.5, n)
    alt = rng.uniform(-100, 900, n)
    alt[::17] = np.nan  # unknown altitude: inside the band (conservative)
    p, z = zs.hits(lat, lon, alt)
    got = set(zip(p.tolist(), z.tolist(), strict=True))
    truth = brute_pairs(zones, lat, lon, alt)
    assert len(truth) > 300  # the workload really has hits
    assert got == truth
    assert np.all(np.diff(p) >= 0)  # sorted by point


def test_circle_rim_matches_geodesic() -> None:
    """Points 1e-6 of the radius (>= 1 mm) inside / outside the rim, radii 100 m .. 900 km."""
    rng = np.random.default_rng(5)
    zones, lat, lon, expect = [], [], [], []
    for i, r in enumerate([100.0, 1e3, 1e4, 5e4, 2e5, 9e5]):
        c_lat, c_lon = rng.uniform(-70, 70), rng.uniform(-150, 150)
        zones.append(Zone(f"c{i}", "c", "alert-only", Circle(c_lon, c_lat, r)))
        az = rng.uniform(0, 360, 200)
        eps = max(1e-6 * r, 1e-3)
        for sign in (-1, 1):
            lo, la, _ = GEOD.fwd(
                np.full(200, c_lon), np.full(200, c_lat), az, np.full(200, r + sign * eps)
            )
            lon += list(lo)
            lat += list(la)
            expect += [(i, sign < 0)] * 200
    p, z = ZoneSet(zones).hits(np.array(lat), np.array(lon))
    got = set(zip(p.tolist(), z.tolist(), strict=True))
    want = {(k, zi) for k, (zi, inside) in enumerate(expect) if inside}
    assert got == want


def test_hits_empty_and_nan() -> None:
    zs = ZoneSet([Zone("a", "a", "no-fly", shapely.box(0, 0, 1, 1))])
    p, z = zs.hits([np.nan, 0.5, 5.0], [0.5, np.nan, 0.5])
    assert len(p) == 0 and len(z) == 0
    p, z = ZoneSet([]).hits([0.5], [0.5])
    assert len(p) == 0


def test_altitude_reference_policy() -> None:
    box = shapely.box(0, 0, 1, 1)
    zones = [
        Zone("msl", "m", "restricted", box, floor_m=0, ceiling_m=100, alt_ref="msl"),
        Zone("any", "a", "restricted", box),  # no vertical limits: never flagged
    ]
    lat = np.full(4, 0.5)
    lon = np.full(4, 0.5)
    alt = np.array([50.0, np.nan, 50.0, 120.0])
    refs = np.array(["msl", "msl", "wgs84", "wgs84"], dtype=object)
    p, z, f = ZoneSet(zones).hits(lat, lon, alt, alt_ref=refs, with_flags=True)
    got = {(int(a), int(b)): int(c) for a, b, c in zip(p, z, f, strict=True)}
    assert got == {
        (0, 0): 0,
        (0, 1): 0,
        (1, 0): ALT_UNKNOWN,
        (1, 1): 0,
        (2, 0): ALT_REF_MISMATCH,
        (2, 1): 0,
        (3, 1): 0,
    }
    # with a configured offset (e.g. geoid undulation N = 30 m: msl = h - N) report 3 is inside
    zs = ZoneSet(zones, ref_offsets_m={("wgs84", "msl"): -30.0})
    p, z, f = zs.hits(lat, lon, alt, alt_ref=refs, with_flags=True)
    got = {(int(a), int(b)): int(c) for a, b, c in zip(p, z, f, strict=True)}
    assert got[(2, 0)] == 0 and got[(3, 0)] == 0


def test_real_airspace_lfbotma_with_real_trajectory(tracks: pd.DataFrame) -> None:
    """SIV Toulouse (traffic library format, FL bands) against two recorded flights."""
    zs = ZoneSet.from_traffic_airspace(DATA / "traffic_airspace_LFBOTMA.json")
    raw = json.loads((DATA / "traffic_airspace_LFBOTMA.json").read_text())
    assert [z.id for z in zs.zones] == ["SIV TOULOUSE#0", "SIV TOULOUSE#1", "SIV TOULOUSE#2"]
    assert zs[1].floor_m == pytest.approx(6500 * FT) and zs[1].ceiling_m == pytest.approx(
        11500 * FT
    )
    # a second derived zone set: the same polygons with the lowest band cut at 2500 ft,
    # so the flights cross the ceiling vertically, plus lateral crossings of the polygons
    # shifted 0.93 deg north (the real flights stay inside the real SIV laterally)
    derived = []
    for i, s in enumerate(raw["shapes"]):
        poly = shapely.geometry.shape(s["polygon"])
        ceiling = 2500 * FT if i == 0 else s["upper"] * 100 * FT
        derived.append(
            Zone(
                f"cut{i}", "c", "restricted", poly, floor_m=s["lower"] * 100 * FT, ceiling_m=ceiling
            )
        )
    shifted = shapely.affinity.translate(
        shapely.geometry.shape(raw["shapes"][0]["polygon"]), yoff=0.93
    )
    derived.append(Zone("shifted", "s", "restricted", shifted))
    lat, lon, alt = tracks.lat_deg.to_numpy(), tracks.lon_deg.to_numpy(), tracks.alt_m.to_numpy()
    for zones in (list(zs.zones), derived):
        p, z = ZoneSet(zones).hits(lat, lon, alt, alt_ref="baro")
        got = set(zip(p.tolist(), z.tolist(), strict=True))
        assert got == brute_pairs(zones, lat, lon, alt)
    p, z = ZoneSet(derived).hits(lat, lon, alt)
    m = np.zeros((len(lat), len(derived)), bool)
    m[p, z] = True
    m = m[np.argsort(tracks.time_ns.to_numpy(), kind="stable")]
    assert 0 < m[:, 0].sum() < len(lat) and 0 < m[:, 3].sum() < len(lat)  # both kinds of crossing


# ------------------------------------------------------------------ schedules


def test_schedule_weekly_and_intervals_vs_zoneinfo() -> None:
    s = Schedule(
        intervals_utc=(
            (np.datetime64("2026-03-01T00:00", "ns"), np.datetime64("2026-03-01T06:00", "ns")),
        ),
        weekly=(
            WeeklyWindow(frozenset({0, 4}), 8 * 60, 18 * 60),
            WeeklyWindow(frozenset({5}), 22 * 60, 2 * 60),
        ),
    )
    # Monday 2026-11-23 08:00 Asia/Shanghai = 00:00 UTC
    t = np.array(
        ["2026-11-23T00:00", "2026-11-22T23:59:59", "2026-11-23T09:59:59", "2026-11-23T10:00"],
        "M8[ns]",
    )
    assert s.active(t).tolist() == [True, False, True, False]
    z = Zone("s", "s", "restricted", shapely.box(0, 0, 1, 1), schedule=s)
    rng = np.random.default_rng(3)
    t0 = np.datetime64("2026-02-20T00:00", "ns").astype(np.int64)
    times = t0 + rng.integers(0, 40 * 86400, 4000) * 10**9
    times = np.concatenate(
        [times, t0 + np.arange(0, 14 * 86400, 1800) * 10**9]
    )  # every half hour, 2 weeks
    got = s.active(times.astype("M8[ns]"))
    want = np.array([brute_active(z, int(x)) for x in times])
    assert got.tolist() == want.tolist()
    assert 0.1 < want.mean() < 0.6


def test_schedule_dst_zone(toulouse: ZoneSet) -> None:
    """Europe/Paris switched to CEST on 2019-03-31 01:00 UTC: 14:00 local = 12:00 UTC."""
    z = next(z for z in toulouse.zones if z.id == "weekend-afternoon")
    t = np.array(
        ["2019-03-31T11:59:59", "2019-03-31T12:00", "2019-03-31T12:29:59", "2019-03-31T12:30"],
        "M8[ns]",
    )
    assert z.schedule is not None
    assert z.schedule.active(t).tolist() == [False, True, True, False]
    assert not z.schedule.active(np.array(["2019-04-01T12:10"], "M8[ns]"))[0]  # a Monday


# ------------------------------------------------------------------ monitor


def test_monitor_one_shuffled_batch_equals_sequential_replay(
    toulouse: ZoneSet, tracks: pd.DataFrame
) -> None:
    truth = replay(list(toulouse.zones), tracks)
    kinds = {e[1] for v in truth.values() for e in v}
    assert kinds == {"enter", "exit", "inside", "overspeed"}
    shuffled = tracks.sample(frac=1.0, random_state=1)  # all reports of both objects at once
    mon = ZoneMonitor(toulouse)
    got = events_by_object([mon.update(to_reports(shuffled))])
    assert got == truth
    assert mon.late_reports == 0


@pytest.mark.parametrize("n_batches", [2, 7, 40])
def test_monitor_batches_equal_replay(
    toulouse: ZoneSet, tracks: pd.DataFrame, n_batches: int
) -> None:
    ordered = tracks.sort_values("time_ns", kind="stable")
    mon = ZoneMonitor(toulouse)
    tables = []
    for chunk in np.array_split(np.arange(len(ordered)), n_batches):
        tables.append(
            mon.update(to_reports(ordered.iloc[chunk].sample(frac=1.0, random_state=len(chunk))))
        )
    assert events_by_object(tables) == replay(list(toulouse.zones), tracks)
    assert mon.late_reports == 0


def test_monitor_late_reports_do_not_flip_state(toulouse: ZoneSet, tracks: pd.DataFrame) -> None:
    ordered = tracks.sort_values("time_ns", kind="stable").reset_index(drop=True)
    cut = len(ordered) // 2
    first, second = ordered.iloc[:cut], ordered.iloc[cut:]
    last_t = first.groupby("object_id").time_ns.max()
    # resend 150 old reports of the first half (strictly older than their object's last time)
    old = first[first.time_ns.to_numpy() < last_t.loc[first.object_id].to_numpy()].sample(
        150, random_state=2
    )
    # and move the old positions far away: if applied they would cause exit/enter flips
    old = old.assign(lat_deg=old.lat_deg + 5.0)
    mon = ZoneMonitor(toulouse)
    t1 = mon.update(to_reports(first))
    t2 = mon.update(to_reports(pd.concat([second, old]).sample(frac=1.0, random_state=3)))
    assert mon.late_reports == 150
    assert events_by_object([t1, t2]) == replay(list(toulouse.zones), ordered)
    # a batch of nothing but late reports, and one with no positions at all
    assert mon.update(to_reports(old)).num_rows == 0 and mon.late_reports == 300
    nopos = second.iloc[-5:].assign(time_ns=second.time_ns.max() + 10**9, lat_deg=np.nan)
    assert mon.update(to_reports(nopos)).num_rows == 0 and mon.no_position_reports == 5
    empty = ZoneMonitor(ZoneSet([]))
    assert empty.update(to_reports(second)).num_rows == 0


def test_monitor_random_tracks_and_no_position(tracks: pd.DataFrame) -> None:
    rng = np.random.default_rng(11)
    zones = random_zones(rng, 30)
    zones.append(
        Zone(
            "slow",
            "slow",
            "speed-limit",
            shapely.box(105.0, 28.5, 108.0, 31.0),
            speed_limit_m_s=900.0,
        )
    )
    n_obj, n_rep = 12, 60
    lat0, lon0 = rng.uniform(28.8, 30.8, n_obj), rng.uniform(105.3, 107.7, n_obj)
    hdg = rng.uniform(0, 2 * np.pi, n_obj)
    k = np.arange(n_rep)[:, None]
    df = pd.DataFrame(
        {
            "object_id": np.broadcast_to(
                [f"uas:{i}" for i in range(n_obj)], (n_rep, n_obj)
            ).ravel(),
            "time_ns": (k * 10**10 + np.zeros(n_obj, np.int64)).ravel() + 1_700_000_000 * 10**9,
            "lat_deg": (lat0 + 0.01 * k * np.cos(hdg)).ravel(),
            "lon_deg": (lon0 + 0.01 * k * np.sin(hdg)).ravel(),
            "alt_m": rng.uniform(0, 900, n_obj * n_rep),
            "speed_m_s": rng.uniform(800, 1000, n_obj * n_rep),
        }
    )
    truth = replay(zones, df)
    assert sum(e[1] == "enter" for v in truth.values() for e in v) > 20
    holes = df.sample(40, random_state=4).index
    with_holes = df.copy()
    with_holes.loc[holes, "lat_deg"] = np.nan
    mon = ZoneMonitor(ZoneSet(zones))
    got = events_by_object([mon.update(to_reports(with_holes.sample(frac=1.0, random_state=5)))])
    assert mon.no_position_reports == 40
    assert got == replay(zones, df.drop(index=holes))


def test_monitor_emit_inside_false_and_schema(toulouse: ZoneSet, tracks: pd.DataFrame) -> None:
    mon = ZoneMonitor(toulouse, emit_inside=False)
    out = mon.update(to_reports(tracks))
    assert "inside" not in set(out.column("event").to_pylist())
    assert out.column_names[:8] == [
        "object_id",
        "zone_id",
        "zone_kind",
        "event",
        "time_utc",
        "lat_deg",
        "lon_deg",
        "alt_m",
    ]
    assert set(out.column("zone_kind").to_pylist()) <= {
        "no-fly",
        "restricted",
        "corridor",
        "speed-limit",
        "alert-only",
    }
    assert ZoneMonitor(toulouse).update(to_reports(tracks.iloc[:0])).num_rows == 0


# ------------------------------------------------------------------ GeoJSON input


def test_geojson_loads_properties(toulouse: ZoneSet) -> None:
    z = {z.id: z for z in toulouse.zones}
    assert isinstance(z["lfbo-ctr"].geometry, Circle) and z["lfbo-ctr"].geometry.radius_m == 8000
    assert z["lfbo-ctr"].alt_ref == "baro" and z["lfbo-ctr"].ceiling_m == 1200
    assert z["capitole"].kind == "no-fly" and z["capitole"].floor_m == 0
    assert z["speed-60"].speed_limit_m_s == 60
    assert z["ring-and-north"].properties == {"operator": "test"}
    assert z["ring-and-north"].ceiling_m == math.inf


def _fc(props: dict | None = None, geom: dict | None = None) -> dict:
    good = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [1, 2]},
        "properties": {"kind": "no-fly", "radius_m": 10},
    }
    bad = {
        "type": "Feature",
        "geometry": geom or {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        "properties": {"kind": "no-fly", **(props or {})},
    }
    return {"type": "FeatureCollection", "features": [good, bad]}


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (_fc({"kind": "forbidden"}), "'kind'"),
        (_fc({"floor_m": "high"}), "'floor_m'"),
        (_fc({"floor_m": 100, "ceiling_m": 50}), "'floor_m'"),
        (_fc({"alt_ref": "qnh"}), "'alt_ref'"),
        (_fc({"kind": "speed-limit"}), "'speed_limit_m_s'"),
        (
            _fc({"schedule": {"weekly": [{"days": ["mon"], "start": "25:00", "end": "26:00"}]}}),
            "'schedule'",
        ),
        (
            _fc({"schedule": {"weekly": [{"days": ["xyz"], "start": "01:00", "end": "02:00"}]}}),
            "'schedule'",
        ),
        (_fc({"schedule": {"utc": [["2026-01-02T00:00Z", "2026-01-01T00:00Z"]]}}), "'schedule'"),
        (_fc({"schedule": {"tz": "Mars/Olympus"}}), "'schedule'"),
        (_fc(geom={"type": "Point", "coordinates": [1, 2]}), "'radius_m'"),
        (_fc({"radius_m": -5}, geom={"type": "Point", "coordinates": [1, 2]}), "'radius_m'"),
        (_fc(geom={"type": "LineString", "coordinates": [[0, 0], [1, 1]]}), "geometry"),
        (
            _fc(
                geom={"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
            ),
            "geometry",
        ),
        (
            _fc(geom={"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 0]]]}),
            "geometry",
        ),
        (_fc(geom={"type": "Polygon", "coordinates": "nope"}), "geometry"),
    ],
)
def test_bad_geojson_names_feature_and_property(obj: dict, needle: str) -> None:
    with pytest.raises(FormatError) as ei:
        ZoneSet.from_geojson(obj)
    assert "feature 1" in str(ei.value) and needle in str(ei.value)


def test_bad_geojson_files(tmp_path: Path) -> None:
    f = tmp_path / "z.geojson"
    f.write_text('{"type": "FeatureCollection",\n "features": [,]}')
    with pytest.raises(FormatError, match=r"z.geojson:2: invalid JSON"):
        ZoneSet.from_geojson(f)
    with pytest.raises(FormatError, match="cannot read"):
        ZoneSet.from_geojson(tmp_path / "missing.geojson")
    with pytest.raises(FormatError, match="not Feature or FeatureCollection"):
        ZoneSet.from_geojson({"type": "Polygon", "coordinates": []})
    with pytest.raises(FormatError, match="'kind': missing"):
        ZoneSet.from_geojson(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [0, 0]},
                "properties": {},
            }
        )
    dup = _fc()
    dup["features"][1] = dict(dup["features"][0])
    dup["features"][0]["id"] = dup["features"][1]["id"] = "same"
    with pytest.raises(FormatError, match="feature 1: property 'id': duplicate"):
        ZoneSet.from_geojson(dup)
    ok = ZoneSet.from_geojson(_fc(), default_kind="restricted")
    assert len(ok) == 2
