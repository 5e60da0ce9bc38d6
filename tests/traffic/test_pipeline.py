"""Pipeline and `kongtian traffic replay`: alerts checked against hand-built truth.

Truth here never comes from the modules under test: zone membership is recomputed with
plain numpy / shapely on the decoded positions, collision-course positions are laid out
with pyproj.Geod and the conflict times are computed by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import Geod

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import report_table
from kongtian.traffic.conflicts import ConflictConfig
from kongtian.traffic.decode.io import decode_file
from kongtian.traffic.intents import IntentIndex, OperationalIntent, Volume4D
from kongtian.traffic.pipeline import Pipeline, batches, load_intents, replay
from kongtian.traffic.zones import Zone, ZoneSet

from ..conftest import DATA

T = DATA / "traffic"
ADSB = T / "adsb" / "pymodes_sample_data_adsb.csv"
AIS = T / "ais" / "pyais_nmea_data_sample.txt"
GEOD = Geod(ellps="WGS84")
STORES = ["trackstore", "per-object"]


def _pipeline(mode: str, *args, **kw) -> Pipeline:
    if mode == "per-object":
        kw["track_store"] = None
    return Pipeline(*args, **kw)


def _run(pipe: Pipeline, reports: pa.Table, batch_s: float = 1.0) -> list[dict]:
    out: list[dict] = []
    for b in batches(reports, batch_s):
        out += pipe.process(b).to_pylist()
    return out


def _box(lon0, lat0, lon1, lat1) -> shapely.Polygon:
    return shapely.box(lon0, lat0, lon1, lat1)


@pytest.mark.parametrize("mode", STORES)
def test_adsb_track_through_a_no_fly_zone_raises_then_clears(mode):
    reports, _ = decode_file(ADSB, "modes-csv")
    lat = reports.column("lat_deg").to_numpy(zero_copy_only=False)
    lon = reports.column("lon_deg").to_numpy(zero_copy_only=False)
    t = reports.column("time_utc").cast(pa.int64()).to_numpy()
    # The aircraft flies north-west from (51.15 N, 7.24 E) to (51.66 N, 4.92 E): a box over
    # lon 5.8..6.3 is crossed once. Truth with plain numpy on the positions in time order.
    has = np.isfinite(lat)
    o = np.argsort(t[has], kind="stable")
    la, lo, tt = lat[has][o], lon[has][o], t[has][o]
    inside = (lo > 5.8) & (lo < 6.3) & (la > 50.0) & (la < 52.0)
    k_in = int(np.argmax(inside))
    k_out = k_in + int(np.argmax(~inside[k_in:]))
    assert inside[k_in] and not inside[k_out] and inside[k_in:k_out].all()
    assert not inside[k_out:].any()  # one crossing only
    zs = ZoneSet([Zone("nfz", "test box", "no-fly", _box(5.8, 50.0, 6.3, 52.0))])
    pipe = _pipeline(mode, zs, None, None)
    events = _run(pipe, reports)
    got = [(e["kind"], e["state"], e["other_id"], e["object_id"]) for e in events]
    assert got == [
        ("zone_violation", "raised", "nfz", "icao24:406b90"),
        ("zone_violation", "cleared", "nfz", "icao24:406b90"),
    ]
    raised, cleared = events
    assert raised["severity"] == "critical"
    assert raised["first_time_utc"].value == tt[k_in]
    assert cleared["last_time_utc"].value == tt[k_out]
    assert pipe.stats.zone_events["enter"] == 1 and pipe.stats.zone_events["exit"] == 1


def _collision_reports(step_s: float = 1.0, n: int = 61) -> pa.Table:
    """Two UAVs 1000 m apart at 100 m, flying at each other at 10 m/s along a geodesic."""
    a_lat, a_lon = 29.60, 106.50
    b_lon, b_lat, _ = GEOD.fwd(a_lon, a_lat, 90.0, 1000.0)
    az_ab, az_ba, _ = GEOD.inv(a_lon, a_lat, b_lon, b_lat)
    tk = np.arange(n) * step_s
    rows: dict[str, list] = {k: [] for k in ("object_id", "time_utc", "lat_deg", "lon_deg", "trk")}
    for oid, (lon0, lat0, az) in {"uas:a": (a_lon, a_lat, az_ab), "uas:b": (b_lon, b_lat, az_ba)}.items():  # fmt: skip
        lon, lat, back = GEOD.fwd(np.full(n, lon0), np.full(n, lat0), np.full(n, az), 10.0 * tk)
        rows["object_id"] += [oid] * n
        rows["time_utc"] += list(
            np.datetime64("2026-01-01T00:00:00", "ns") + (tk * 1e9).astype("m8[ns]")
        )
        rows["lat_deg"] += list(lat)
        rows["lon_deg"] += list(lon)
        rows["trk"] += list((np.asarray(back) + 180.0) % 360.0)
    m = 2 * n
    return report_table(
        {
            "object_id": rows["object_id"],
            "source": ["remoteid-net"] * m,
            "time_utc": np.array(rows["time_utc"], dtype="datetime64[ns]"),
            "lat_deg": rows["lat_deg"],
            "lon_deg": rows["lon_deg"],
            "alt_m": np.full(m, 100.0),
            "alt_ref": ["wgs84"] * m,
            "speed_m_s": np.full(m, 10.0),
            "track_deg": rows["trk"],
            "vrate_m_s": np.zeros(m),
        }
    )


@pytest.mark.parametrize("mode", STORES)
@pytest.mark.parametrize("clear_s,factor,t_clear", [(0.0, 0.0, 53), (10.0, 1.1, 62)])
def test_collision_course_predicted_then_loss_of_separation(mode, clear_s, factor, t_clear):
    # Closing at 20 m/s from 1000 m with a 50 m / 15 m zone (uav_light) and 60 s look-ahead:
    # t_in = (1000 - 50) / 20 = 47.5 s, so predicted from t = 0; distance 1000 - 20 t is
    # below 50 m first at t = 48 s (40 m) and above it again at t = 53 s (60 m), when the
    # pair is diverging and no longer predicted either. Without hysteresis the loss of
    # separation clears at 53 s; with a 10 s hold it clears 10 s after its last detection
    # (52 s), when the pair is 240 m > 1.1 x 50 m apart. The predicted alert clears at the
    # escalation either way.
    reports = _collision_reports(n=70)
    pipe = _pipeline(
        mode,
        None,
        None,
        ConflictConfig(lookahead_s=60.0),
        conflict_clear_s=clear_s,
        conflict_clear_factor=factor,
    )
    events = _run(pipe, reports)
    got = [(e["kind"], e["state"], e["last_time_utc"].value // 10**9 % 3600) for e in events]
    assert got == [
        ("predicted_los", "raised", 0),
        ("predicted_los", "cleared", 48),
        ("loss_of_separation", "raised", 48),
        ("loss_of_separation", "cleared", t_clear),
    ]
    assert all(e["object_id"] == "uas:a" and e["other_id"] == "uas:b" for e in events)
    assert json.loads(events[0]["details"]) == {"h_min_m": 50.0, "v_min_m": 15.0}


def test_collision_course_missed_when_lookahead_short():
    # With a 30 s look-ahead the conflict is first predicted when t_in = 47.5 - t < 30.
    pipe = Pipeline(None, None, ConflictConfig(lookahead_s=30.0), track_store=None)
    events = _run(pipe, _collision_reports())
    first = events[0]
    assert (first["kind"], first["state"]) == ("predicted_los", "raised")
    assert first["first_time_utc"].value // 10**9 % 3600 == 18


def test_conformance_raises_outside_the_volume_and_clears_back_inside():
    t0 = np.datetime64("2026-01-01T00:00:00", "ns")
    vol = Volume4D(_box(106.49, 29.59, 106.51, 29.61), 0.0, 200.0, "wgs84", t0, t0 + np.timedelta64(1, "h"))  # fmt: skip
    index = IntentIndex()
    index.add(OperationalIntent("op1", [vol], state="Activated"))
    index.add(OperationalIntent("op2", [vol], state="Accepted"))
    # lon 106.50 (inside), 106.52 (outside, ~970 m east of the edge), back to 106.505.
    lons = [106.50, 106.50, 106.52, 106.52, 106.505]
    n = len(lons)
    tt = t0 + (np.arange(n) * 10**9).astype("m8[ns]")
    rep = report_table(
        {
            "object_id": ["uas:x"] * n + ["uas:y"] * n,
            "source": ["remoteid-net"] * 2 * n,
            "time_utc": np.concatenate([tt, tt]),
            "lat_deg": [29.60] * 2 * n,
            "lon_deg": lons * 2,
            "alt_m": [50.0] * 2 * n,
            "alt_ref": ["wgs84"] * 2 * n,
            "speed_m_s": [5.0] * 2 * n,
            "track_deg": [90.0] * 2 * n,
            "vrate_m_s": [0.0] * 2 * n,
        }
    )
    # A velocity-only report (no position) after the return is not judged: it must not
    # keep the alert up.
    extra = rep.slice(4, 1).to_pydict()
    extra.update(lat_deg=[None], lon_deg=[None], alt_m=[None], alt_ref=[None])
    extra["time_utc"] = [tt[4] + np.timedelta64(500, "ms")]
    rep = pa.concat_tables([rep, report_table(extra)])
    pipe = Pipeline(None, index, None, intent_of={"uas:x": "op1", "uas:y": "op2"})
    events = _run(pipe, rep)
    # uas:y's intent is only Accepted, so it is not monitored.
    got = [(e["kind"], e["state"], e["object_id"], e["other_id"], e["last_time_utc"].value // 10**9 % 60) for e in events]  # fmt: skip
    assert got == [
        ("non_conformance", "raised", "uas:x", "op1", 2),
        ("non_conformance", "cleared", "uas:x", "op1", 4),
    ]


def test_overspeed_in_speed_limit_zone_then_cleared():
    zs = ZoneSet([Zone("slow", "slow", "speed-limit", _box(106.4, 29.5, 106.6, 29.7), speed_limit_m_s=10.0)])  # fmt: skip
    t0 = np.datetime64("2026-01-01T00:00:00", "ns")
    speeds = [5.0, 12.0, 15.0, 8.0, 20.0]
    n = len(speeds)
    rep = report_table(
        {
            "object_id": ["uas:z"] * n,
            "source": ["remoteid-net"] * n,
            "time_utc": t0 + (np.arange(n) * 10**9).astype("m8[ns]"),
            "lat_deg": [29.6] * n,
            "lon_deg": [106.5] * n,
            "alt_m": [50.0] * n,
            "alt_ref": ["msl"] * n,
            "speed_m_s": speeds,
            "track_deg": [0.0] * n,
            "vrate_m_s": [0.0] * n,
        }
    )
    events = _run(Pipeline(zs, None, None, track_store=None), rep)
    got = [(e["kind"], e["state"], e["last_time_utc"].value // 10**9 % 60) for e in events]
    assert got == [
        ("overspeed", "raised", 1),
        ("overspeed", "cleared", 3),
        ("overspeed", "raised", 4),
    ]


def test_malformed_batch_and_options_raise_named_errors():
    with pytest.raises(FormatError, match="core columns"):
        Pipeline().process(pa.table({"object_id": ["a"]}))
    with pytest.raises(ConfigError, match="recent_s"):
        Pipeline(recent_s=0)
    with pytest.raises(ConfigError, match="speed"):
        replay([], Pipeline(), speed=-1)


def test_replay_speed_paces_batches():
    waits: list[float] = []
    s = replay([(ADSB, "modes-csv")], Pipeline(track_store=None), speed=10.0, sleep=waits.append)
    assert s.reports == 2000
    # 1 s batches over 730 s of feed at 10x: the waits add up to the feed span / 10 less
    # the (small) time spent processing; never more than one batch period each.
    assert 0.8 * 73.0 < sum(waits) <= 73.0
    assert max(waits) <= 0.1 * 20


def test_load_intents_file(tmp_path):
    p = tmp_path / "intents.json"
    poly = {"type": "Polygon", "coordinates": [[[106.4, 29.5], [106.6, 29.5], [106.6, 29.7], [106.4, 29.5]]]}  # fmt: skip
    vol = {"outline": poly, "alt_lower_m": 0, "alt_upper_m": 120, "t_start_utc": "2026-01-01T00:00:00Z", "t_end_utc": "2026-01-01T01:00:00Z"}  # fmt: skip
    p.write_text(json.dumps([{"id": "op1", "object_id": "uas:x", "volumes": [vol]}]))
    index, intent_of = load_intents(p)
    assert intent_of == {"uas:x": "op1"} and index.get("op1").state == "Activated"
    p.write_text(json.dumps([{"id": "op1", "volumes": [{"outline": poly}]}]))
    with pytest.raises(FormatError, match=r"intents.json: intent 0: missing field 'alt_lower_m'"):
        load_intents(p)


# ----------------------------------------------------------------------------- CLI
def cli(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kongtian.cli", "traffic", "replay", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)  # fmt: skip


def test_cli_replay_ais_sample_counts_errors_and_zone_alerts(tmp_path):
    ref_time = "2025-01-01T00:00:00Z"
    decoded, _ = decode_file(AIS, "ais", ref_time_utc=ref_time)
    lat = decoded.column("lat_deg").to_numpy(zero_copy_only=False)
    lon = decoded.column("lon_deg").to_numpy(zero_copy_only=False)
    oid = np.array(decoded.column("object_id").to_pylist(), dtype=object)
    ok = np.isfinite(lat) & np.isfinite(lon)
    # A no-fly box over the middle of the vessels' positions.
    lo0, lo1 = np.quantile(lon[ok], [0.3, 0.7])
    la0, la1 = np.quantile(lat[ok], [0.3, 0.7])
    box = _box(lo0, la0, lo1, la1)
    zones = tmp_path / "zones.geojson"
    feat = {"type": "Feature", "properties": {"id": "box", "kind": "no-fly"}, "geometry": shapely.geometry.mapping(box)}  # fmt: skip
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
    # Truth: per vessel, in report order (all reports share the reference time), count
    # outside -> inside (raise) and inside -> outside (clear) transitions with shapely.
    inside = shapely.contains_xy(box, lon[ok], lat[ok])
    n_raise = n_clear = 0
    for o in set(oid[ok].tolist()):
        seq = inside[oid[ok] == o]
        prev = np.concatenate([[False], seq[:-1]])
        n_raise += int((seq & ~prev).sum())
        n_clear += int((~seq & prev).sum())
    assert n_raise > 3 and n_clear > 0
    out = tmp_path / "alerts.jsonl"
    p = cli(f"{AIS}:ais", "--zones", str(zones), "--out", str(out), "--ref-time", ref_time)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout.strip().splitlines()[-1])
    assert s["errors_by_kind"] == {"ais: empty payload": 100, "ais: orphan fragment": 20}
    assert s["reports"] == decoded.num_rows
    assert s["tracks"] == len(set(oid.tolist()))
    assert s["alerts_by_kind"] == {"zone_violation": n_raise}
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert sum(r["state"] == "raised" for r in rows) == n_raise
    assert sum(r["state"] == "cleared" for r in rows) == n_clear
    assert all(r["first_time_utc"].endswith("Z") and r["other_id"] == "box" for r in rows)


def test_cli_replay_format_by_option_and_extension(tmp_path):
    out = tmp_path / "a.jsonl"
    p = cli(str(ADSB), "--format", "modes-csv", "--out", str(out))
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout.strip().splitlines()[-1])
    assert s["reports"] == 2000 and s["tracks"] == 1
    assert s["errors_by_kind"] == {"adsb: cpr: position rejected by speed gate": 2}


@pytest.mark.parametrize(
    "args,needle",
    [
        (["missing.ais", "--out", "x.jsonl"], "missing.ais"),
        ([str(ADSB), "--out", "x.jsonl"], "--format"),
        ([f"{AIS}:ais", "--zones", "bad.geojson", "--out", "x.jsonl"], "bad.geojson:"),
        ([f"{AIS}:ais", "--zones", "nokind.geojson", "--out", "x.jsonl"], "property 'kind'"),
        ([f"{AIS}:ais", "--category", "blimp", "--out", "x.jsonl"], "--category"),
    ],
)
def test_cli_replay_bad_input_exit_2_one_line(args, needle, tmp_path):
    (tmp_path / "bad.geojson").write_text("{not json")
    feat = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}  # fmt: skip
    (tmp_path / "nokind.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))  # fmt: skip
    p = cli(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr


# ------------------------------------------------------------------- hysteresis
def _pair_at(dist_m: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Two hovering UAVs at 100 m, B ``dist_m[k]`` east of A at t = k s (pyproj.Geod);
    returns the reports and the A-B distance recomputed from the laid-out positions."""
    n = len(dist_m)
    a_lon, a_lat = 106.50, 29.60
    b_lon, b_lat, _ = GEOD.fwd(np.full(n, a_lon), np.full(n, a_lat), np.full(n, 90.0), dist_m)
    _, _, check = GEOD.inv(np.full(n, a_lon), np.full(n, a_lat), b_lon, b_lat)
    tt = np.datetime64("2026-01-01T00:00:00", "ns") + (np.arange(n) * 10**9).astype("m8[ns]")
    rep = report_table(
        {
            "object_id": ["uas:a"] * n + ["uas:b"] * n,
            "source": ["remoteid-net"] * 2 * n,
            "time_utc": np.concatenate([tt, tt]),
            "lat_deg": np.concatenate([np.full(n, a_lat), b_lat]),
            "lon_deg": np.concatenate([np.full(n, a_lon), b_lon]),
            "alt_m": np.full(2 * n, 100.0),
            "alt_ref": ["wgs84"] * 2 * n,
            "speed_m_s": np.zeros(2 * n),
            "track_deg": np.zeros(2 * n),
            "vrate_m_s": np.zeros(2 * n),
        }
    )
    return rep, np.asarray(check)


@pytest.mark.parametrize("mode", STORES)
@pytest.mark.parametrize(
    "clear_s,factor,t_clear", [(10.0, 1.1, 40), (10.0, 0.0, 38), (0.0, 0.0, None)]
)
def test_conflict_hysteresis_pair_oscillating_around_the_minimum(mode, clear_s, factor, t_clear):
    # uav_light: 50 m / 15 m. B jitters 45 m / 53 m from A every second for 30 s (in and
    # out of loss of separation), stays at 53 m (outside, but within 1.1 x 50 m) for 10 s,
    # then moves to 100 m. Hovering (speed 0) pairs are never *predicted*, only in LOS.
    dist = np.concatenate([np.where(np.arange(30) % 2 == 0, 45.0, 53.0), np.full(10, 53.0), np.full(20, 100.0)])  # fmt: skip
    reports, check = _pair_at(dist)
    inside = check < 50.0
    assert np.allclose(check, dist, atol=1e-6)
    rises = int((inside & ~np.concatenate([[False], inside[:-1]])).sum())
    last_in = int(np.flatnonzero(inside)[-1])
    assert rises == 15 and last_in == 28
    cfg = ConflictConfig(lookahead_s=60.0)
    pipe = _pipeline(mode, None, None, cfg, conflict_clear_s=clear_s, conflict_clear_factor=factor)
    events = _run(pipe, reports)
    got = [(e["kind"], e["state"], e["last_time_utc"].value // 10**9 % 60) for e in events]
    assert all(k == "loss_of_separation" for k, _, _ in got)
    if t_clear is None:
        # No hysteresis: every flip is a raise and a clear (the flip-flop).
        raised = [t for _, s, t in got if s == "raised"]
        cleared = [t for _, s, t in got if s == "cleared"]
        assert raised == np.flatnonzero(inside & ~np.r_[False, inside[:-1]]).tolist()
        assert cleared == np.flatnonzero(~inside & np.r_[False, inside[:-1]]).tolist()
    else:
        # 10 s hold after the last detection (28 s): 38 s; with the 1.1 factor the pair
        # must also be more than 55 m apart, first at 40 s (100 m).
        assert got == [("loss_of_separation", "raised", 0), ("loss_of_separation", "cleared", t_clear)]  # fmt: skip
        assert t_clear >= last_in + clear_s
        assert dist[t_clear] > factor * 50.0


@pytest.mark.parametrize("zone_clear_s,n_raised", [(0.0, None), (5.0, 1)])
@pytest.mark.parametrize("batch_s", [1.0, 30.0])
def test_zone_violation_debounce_at_the_boundary(zone_clear_s, n_raised, batch_s):
    # A UAV on the east edge of a no-fly box (lon 106.5), 20 m in / 20 m out every second
    # for 12 s, 500 m out for 10 s, back in for 3 s, out again. Truth from shapely on the
    # laid-out positions.
    zs = ZoneSet([Zone("nfz", "nfz", "no-fly", _box(106.4, 29.5, 106.5, 29.7))])
    jitter = np.where(np.arange(12) % 2 == 0, -20.0, 20.0)
    off = np.concatenate([jitter, np.full(10, 500.0), np.full(3, -20.0), np.full(6, 500.0)])
    n = len(off)
    lon, lat, _ = GEOD.fwd(np.full(n, 106.5), np.full(n, 29.6), np.full(n, 90.0), off)
    inside = shapely.contains_xy(zs.zones[0].geometry, lon, lat)
    prev = np.r_[False, inside[:-1]]
    t_raise = np.flatnonzero(inside & ~prev).tolist()
    t_exit = np.flatnonzero(~inside & prev).tolist()
    assert t_raise == [0, 2, 4, 6, 8, 10, 22] and t_exit == [1, 3, 5, 7, 9, 11, 25]
    t0 = np.datetime64("2026-01-01T00:00:00", "ns")
    rep = report_table(
        {
            "object_id": ["uas:z"] * n,
            "source": ["remoteid-net"] * n,
            "time_utc": t0 + (np.arange(n) * 10**9).astype("m8[ns]"),
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": [50.0] * n,
            "alt_ref": ["wgs84"] * n,
            "speed_m_s": [20.0] * n,
            "track_deg": [90.0] * n,
            "vrate_m_s": [0.0] * n,
        }
    )
    pipe = Pipeline(zs, None, None, track_store=None, zone_clear_s=zone_clear_s)
    events = _run(pipe, rep, batch_s)  # 30 s: one batch, the debounce within it
    got = [(e["state"], e["last_time_utc"].value // 10**9 % 60) for e in events]
    if n_raised is None:
        assert [t for s, t in got if s == "raised"] == t_raise
        assert [t for s, t in got if s == "cleared"] == t_exit
    else:
        # One alert for the jitter, cleared with the time of its last exit (11 s); the
        # re-entry 11 s later (> 5 s) is a new alert.
        assert got == [("raised", 0), ("cleared", 11), ("raised", 22), ("cleared", 25)]


def test_hysteresis_options_checked():
    with pytest.raises(ConfigError, match="conflict_clear_s"):
        Pipeline(conflict_clear_s=60.0, clear_after_s=60.0)
    with pytest.raises(ConfigError, match="conflict_clear_factor"):
        Pipeline(conflict_clear_factor=-1.0)
    with pytest.raises(ConfigError, match="zone_clear_s"):
        Pipeline(zone_clear_s=float("nan"))
