"""Alert lifecycle, de-duplication, and the small detectors on constructed cases."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Polygon, box

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import report_table
from kongtian.traffic.alerts import (
    KINDS,
    KNOT_M_S,
    AlertManager,
    ais_silence,
    anchored_in_fairway,
    long_dwell,
    no_remote_id,
    off_corridor,
    overspeed,
)
from kongtian.traffic.tracks import TrackStore

T0 = np.datetime64("2026-03-01T08:00:00", "ns")
GEOD = Geod(ellps="WGS84")


def at(s: float) -> np.datetime64:
    return T0 + np.timedelta64(int(s * 1e9), "ns")


# ------------------------------------------------------------------ lifecycle


def test_kinds_cover_the_issue_list() -> None:
    assert set(KINDS) == {
        "zone_violation",
        "predicted_los",
        "loss_of_separation",
        "non_conformance",
        "no_remote_id",
        "ais_silence",
        "anchored_in_fairway",
        "overspeed",
        "off_corridor",
        "long_dwell",
    }


def test_raise_update_clear_sequence() -> None:
    m = AlertManager(clear_after_s=30.0)
    ev = m.observe("zone_violation", "uas:a", "zone:airport", at(0), "warning", {"depth_m": 100.0})
    assert ev is not None and ev.state == "raised" and ev.count == 1
    first_id = ev.alert_id
    # Same condition, immaterial change (< 10 %): no event, but counted.
    assert (
        m.observe("zone_violation", "uas:a", "zone:airport", at(1), "warning", {"depth_m": 105.0})
        is None
    )
    # Material change of a number: updated.
    ev = m.observe("zone_violation", "uas:a", "zone:airport", at(2), "warning", {"depth_m": 200.0})
    assert ev is not None and ev.state == "updated" and ev.count == 3
    assert ev.alert_id == first_id and ev.first_time_utc == at(0) and ev.last_time_utc == at(2)
    # Severity change: updated.
    ev = m.observe("zone_violation", "uas:a", "zone:airport", at(3), "critical", {"depth_m": 200.0})
    assert ev is not None and ev.state == "updated" and ev.severity == "critical"
    # Slow drift is judged against the last emitted event, so it eventually updates.
    assert (
        m.observe("zone_violation", "uas:a", "zone:airport", at(4), "critical", {"depth_m": 215.0})
        is None
    )
    ev = m.observe("zone_violation", "uas:a", "zone:airport", at(5), "critical", {"depth_m": 230.0})
    assert ev is not None and ev.state == "updated"
    # New detail key: material.
    ev = m.observe(
        "zone_violation",
        "uas:a",
        "zone:airport",
        at(6),
        "critical",
        {"depth_m": 230.0, "note": "x"},
    )
    assert ev is not None and ev.state == "updated"
    assert [a.alert_id for a in m.active()] == [first_id]
    ev = m.clear("zone_violation", "uas:a", "zone:airport", at(7))
    assert ev is not None and ev.state == "cleared" and ev.last_time_utc == at(7) and ev.count == 7
    assert m.active() == [] and m.clear("zone_violation", "uas:a", "zone:airport") is None
    # Re-observation after clearing raises a new alert.
    ev = m.observe("zone_violation", "uas:a", "zone:airport", at(8))
    assert ev is not None and ev.state == "raised" and ev.alert_id != first_id and ev.count == 1


def test_dedup_key_is_kind_object_other() -> None:
    m = AlertManager()
    evs = [
        m.observe("loss_of_separation", "icao24:a", "icao24:b", at(0)),
        m.observe("loss_of_separation", "icao24:a", "icao24:b", at(1)),
        m.observe("loss_of_separation", "icao24:a", "icao24:c", at(1)),
        m.observe("predicted_los", "icao24:a", "icao24:b", at(1)),
        m.observe("loss_of_separation", "icao24:b", "icao24:a", at(1)),
    ]
    assert [e.state if e else None for e in evs] == ["raised", None, "raised", "raised", "raised"]
    assert len(m.active()) == 4


def test_minimum_update_interval() -> None:
    m = AlertManager(update_interval_s=10.0)
    states = [m.observe("overspeed", "jt808:1", None, at(t)) for t in (0, 4, 9, 10, 15, 21)]
    assert [s.state if s else None for s in states] == [
        "raised",
        None,
        None,
        "updated",
        None,
        "updated",
    ]


def test_tick_clears_after_silence_and_observe_many() -> None:
    m = AlertManager(clear_after_s=30.0)
    cond = pa.table(
        {
            "kind": ["overspeed", "overspeed", "long_dwell", "overspeed"],
            "object_id": ["jt808:1", "jt808:1", "uas:z", "jt808:1"],
            "other_id": ["road:g15", "road:g15", "area:park", "road:g15"],
            # Out of time order on purpose: processed sorted by time.
            "time_utc": pa.array([at(20), at(0), at(5), at(10)]).cast(pa.timestamp("ns", tz="UTC")),
            "severity": ["critical", "warning", None, "warning"],
            "speed_m_s": [40.0, 30.0, None, 30.5],
        }
    )
    evs = m.observe_many(cond)
    assert [(e.object_id, e.state, e.severity) for e in evs] == [
        ("jt808:1", "raised", "warning"),
        ("uas:z", "raised", "warning"),
        ("jt808:1", "updated", "critical"),
    ]
    assert evs[0].details == {"speed_m_s": 30.0} and evs[1].details == {}
    assert m.tick(at(35)) == []  # uas:z last seen at 5 s: exactly 30 s, not more
    cleared = m.tick(at(36))
    assert [(e.object_id, e.state) for e in cleared] == [("uas:z", "cleared")]
    tab = m.to_table()
    assert tab.num_rows == 1 and tab["count"].to_pylist() == [3]
    assert json.loads(tab["details"][0].as_py()) == {"speed_m_s": 40.0}
    assert [e.object_id for e in m.tick(at(51))] == ["jt808:1"]
    assert m.to_table().num_rows == 0


def test_bad_kind_severity_and_table() -> None:
    m = AlertManager()
    with pytest.raises(ConfigError, match="kind"):
        m.observe("alien_landing", "uas:a", None, at(0))
    with pytest.raises(ConfigError, match="severity"):
        m.observe("overspeed", "uas:a", None, at(0), "apocalyptic")
    with pytest.raises(FormatError, match="object_id"):
        m.observe_many(pa.table({"kind": ["overspeed"], "time_utc": [at(0)]}))
    with pytest.raises(ConfigError, match="clear_after_s"):
        AlertManager(clear_after_s=0)


# ----------------------------------------------------------------- detectors


def _tracks(**cols: list[object]) -> pa.Table:
    n = len(cols["track_id"])
    base: dict[str, object] = {"time_utc": pa.array([at(0)] * n).cast(pa.timestamp("ns", tz="UTC"))}
    base.update(cols)
    return pa.table(base)


def test_no_remote_id_from_track_store() -> None:
    store = TrackStore()
    n = 1
    mk = {
        "lat_deg": [30.0],
        "lon_deg": [114.0],
        "alt_m": [50.0],
        "alt_ref": ["agl"],
        "speed_m_s": [5.0],
        "track_deg": [0.0],
        "vrate_m_s": [0.0],
        "time_utc": np.array([T0]),
    }
    for oid, src in [
        ("radar:7", "radar"),
        ("uas:sn1", "radar"),
        ("uas:sn1", "remoteid-net"),
        ("icao24:abc", "adsb"),
    ]:
        store.update(report_table({"object_id": [oid] * n, "source": [src] * n, **mk}))
    snap = store.snapshot()
    is_uav = np.array([tid in ("radar:7", "uas:sn1") for tid in snap["track_id"].to_pylist()])
    out = no_remote_id(snap, is_uav)
    assert out["object_id"].to_pylist() == ["radar:7"]
    assert out["kind"].to_pylist() == ["no_remote_id"] and out["sources"].to_pylist() == ["radar"]
    ev = AlertManager().observe_many(out)
    assert [e.object_id for e in ev] == ["radar:7"]
    with pytest.raises(ConfigError, match="is_uav"):
        no_remote_id(snap, [True])


def test_ais_silence_in_channel() -> None:
    channel = box(114.0, 30.5, 114.5, 30.7)  # lon/lat
    seen = _tracks(
        track_id=["mmsi:1", "mmsi:2", "mmsi:3"],
        lat_deg=[30.6, 30.6, 31.0],
        lon_deg=[114.2, 114.3, 114.2],
        time_utc=pa.array([at(0), at(500), at(0)]).cast(pa.timestamp("ns", tz="UTC")),
    )
    out = ais_silence(seen, at(600), channel, "channel:wuhan", max_gap_s=300.0)
    assert out["object_id"].to_pylist() == ["mmsi:1"]  # 2 recent, 3 outside the channel
    assert out["gap_s"].to_pylist() == [600.0] and out["other_id"].to_pylist() == ["channel:wuhan"]


def _vessel(
    oid: str, t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray, speed: np.ndarray
) -> pa.Table:
    n = t_s.size
    return report_table(
        {
            "object_id": [oid] * n,
            "source": ["ais"] * n,
            "time_utc": T0 + (t_s * 1e9).astype("timedelta64[ns]"),
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": [None] * n,
            "alt_ref": [None] * n,
            "speed_m_s": speed,
            "track_deg": [None] * n,
            "vrate_m_s": [None] * n,
        }
    )


def test_anchored_in_fairway() -> None:
    fairway = Polygon([(114.0, 30.0), (114.1, 30.0), (114.1, 30.02), (114.0, 30.02)])
    t = np.arange(0, 1800, 60.0)  # 30 min of reports
    slow_after = t >= 600  # transits for 10 min, then drifts at 0.2 kn for 20 min
    speed = np.where(slow_after, 0.2 * KNOT_M_S, 5.0)
    lon = np.where(slow_after, 114.05, 113.95 + t / 6000)
    lat = np.full(t.size, 30.01)
    a = _vessel("mmsi:anchored", t, lat, lon, speed)
    # Slow for only 5 min at the end.
    b = _vessel("mmsi:brief", t, lat, np.full(t.size, 114.05), np.where(t >= 1500, 0.1, 3.0))
    # Slow for 30 min but outside the fairway.
    c = _vessel("mmsi:outside", t, lat + 0.1, np.full(t.size, 114.05), np.full(t.size, 0.1))
    # Was anchored for 20 min, then got under way: latest report breaks the run.
    d = _vessel("mmsi:left", t, lat, np.full(t.size, 114.05), np.where(t >= 1740, 4.0, 0.1))
    reps = pa.concat_tables([a, b, c, d])
    reps = reps.take(np.random.default_rng(3).permutation(reps.num_rows))
    out = anchored_in_fairway(reps, fairway, "fairway:1", min_duration_s=15 * 60)
    assert out["object_id"].to_pylist() == ["mmsi:anchored"]
    # Run starts at the first slow report inside the fairway (600 s), ends at 1740 s.
    assert out["duration_s"].to_pylist() == [1140.0]
    assert out["time_utc"].cast(pa.int64()).to_pylist() == [int(at(1740).astype(np.int64))]
    assert out["since_utc_ns"].to_pylist() == [int(at(600).astype(np.int64))]


def test_long_dwell() -> None:
    area = box(114.0, 30.0, 114.1, 30.1)
    t = np.arange(0, 1000, 100.0)
    inside = _vessel(
        "uas:loiter", t, np.full(t.size, 30.05), np.full(t.size, 114.05), np.zeros(t.size)
    )
    # Went in and out: only the last 300 s count.
    lon = np.where((t >= 300) & (t < 600), 114.5, 114.05)
    inout = _vessel("uas:inout", t, np.full(t.size, 30.05), lon, np.zeros(t.size))
    out = long_dwell(pa.concat_tables([inside, inout]), area, "area:park", min_duration_s=300)
    got = dict(zip(out["object_id"].to_pylist(), out["duration_s"].to_pylist(), strict=True))
    assert got == {"uas:loiter": 900.0, "uas:inout": 300.0}
    assert long_dwell(inout, area, "area:park", min_duration_s=301).num_rows == 0


def test_overspeed() -> None:
    tr = _tracks(
        track_id=["jt808:1", "jt808:2", "jt808:3", "jt808:4"],
        speed_m_s=[30.0, 20.0, None, 40.0],
        lat_deg=[30.0, 30.0, 30.0, 35.0],
        lon_deg=[114.0, 114.0, 114.0, 114.0],
    )
    out = overspeed(tr, 25.0, limit_id="road:g50")
    assert out["object_id"].to_pylist() == ["jt808:1", "jt808:4"]
    assert out["limit_m_s"].to_pylist() == [25.0, 25.0]
    out = overspeed(tr, 25.0, area=box(113.0, 29.0, 115.0, 31.0))
    assert out["object_id"].to_pylist() == ["jt808:1"]
    out = overspeed(tr, [35.0, 10.0, 10.0, 50.0])
    assert out["object_id"].to_pylist() == ["jt808:2"]


def test_off_corridor_distance_against_geodesic_offsets() -> None:
    # North-south corridor along lon 106.5 from lat 29.4 to 29.8 (Chongqing), 100 m half-width.
    corridor = LineString([(106.5, 29.4), (106.5, 29.8)])
    offsets = np.array([30.0, 99.0, 101.0, 150.0, 2000.0])
    lon, lat, _ = GEOD.fwd(np.full(5, 106.5), np.full(5, 29.75), np.full(5, 90.0), offsets)
    tr = _tracks(track_id=[f"jt808:{i}" for i in range(5)], lat_deg=list(lat), lon_deg=list(lon))
    out = off_corridor(tr, corridor, "corridor:a", half_width_m=100.0)
    assert out["object_id"].to_pylist() == ["jt808:2", "jt808:3", "jt808:4"]
    np.testing.assert_allclose(out["distance_m"].to_numpy(), offsets[2:], rtol=1e-4)
    with pytest.raises(ConfigError, match="half_width_m"):
        off_corridor(tr, corridor, "corridor:a", half_width_m=0.0)
