"""`kongtian demo`: zones, simulated fleet, recorded replay, and the running service.

The fleet is checked against independent geometry (pyproj ``Geod`` on the reports it
emits), the zones against landmarks whose coordinates come from outside the zone file,
and the service end to end: ``kongtian demo`` in a subprocess, queried over HTTP with
the dev key it prints.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyproj import Geod

from kongtian.platform.demo import recorded
from kongtian.platform.demo.fleet import LAYERS_M, Fleet
from kongtian.platform.demo.zones import ZONES_PATH, demo_features
from kongtian.traffic.zones import ZONE_KINDS, ZoneSet

GEOD = Geod(ellps="WGS84")
START = np.datetime64("2026-05-01T08:00:00")
# Landmarks (lat, lon), independent of the zone file: the brief's ZUCK reference point
# and Chaotianmen confluence; Jiefangbei from general-reference maps.
ZUCK = (29.7192, 106.6417)
CHAOTIANMEN = (29.565, 106.588)
JIEFANGBEI = (29.5575, 106.5770)


# ----------------------------------------------------------------------------- zones
def _densify(lonlat: np.ndarray, step_m: float = 10.0) -> np.ndarray:
    out = []
    for (lo0, la0), (lo1, la1) in zip(lonlat[:-1], lonlat[1:], strict=True):
        _, _, d = GEOD.inv(lo0, la0, lo1, la1)
        out += [(lo0, la0), *GEOD.npts(lo0, la0, lo1, la1, int(d // step_m))]
    return np.asarray([*out, tuple(lonlat[-1])])


def _zone_ids_at(zs: ZoneSet, lat: float, lon: float, alt: float | None = None) -> set[str]:
    p, z = zs.hits([lat], [lon], None if alt is None else [alt], None, None)
    return {str(zs.ids[i]) for i in z}


def test_zones_load_and_carry_pipeline_properties():
    zs = ZoneSet.from_geojson(ZONES_PATH)
    feats = demo_features()
    assert len(zs) == len(feats) >= 8
    kinds = {z.kind for z in zs.zones}
    assert {"no-fly", "restricted", "corridor", "speed-limit", "alert-only"} <= kinds
    for f in feats:
        p = f["properties"]
        assert f["id"] == p["id"] and p["kind"] in ZONE_KINDS and p["name"]
        assert p["approximate"] is True  # demonstration data, said so in every feature
        if p["kind"] in ("no-fly", "restricted", "speed-limit", "corridor"):
            assert p["alt_ref"] == "agl" and "floor_m" in p, f["id"]
        if p["kind"] == "speed-limit":
            assert p["speed_limit_m_s"] > 0
        if p.get("purpose") == "fairway":
            assert p["kind"] == "alert-only" and len(p["centreline"]) >= 5
    assert any("schedule" in f["properties"] for f in feats)


def test_zones_sit_on_the_landmarks():
    zs = ZoneSet.from_geojson(ZONES_PATH)
    at_airport = _zone_ids_at(zs, *ZUCK, alt=50.0)
    assert {"zuck-uav-no-fly", "zuck-ctr"} <= at_airport
    assert "yuzhong-no-fly" in _zone_ids_at(zs, *JIEFANGBEI, alt=50.0)
    # 120 m true height: a light UAV at 100 m is in open airspace, at 130 m it is not.
    somewhere = (29.50, 106.45)
    assert "cq-above-120m" not in _zone_ids_at(zs, *somewhere, alt=100.0)
    assert "cq-above-120m" in _zone_ids_at(zs, *somewhere, alt=130.0)
    # Both fairways end at the confluence: each centreline passes within 300 m of it.
    for zid in ("yangtze-fairway-yuzhong", "jialing-fairway-yuzhong"):
        line = next(f for f in demo_features() if f["id"] == zid)["properties"]["centreline"]
        pts = _densify(np.asarray(line))
        _, _, d = GEOD.inv(np.full(len(pts), CHAOTIANMEN[1]), np.full(len(pts), CHAOTIANMEN[0]),
                           pts[:, 0], pts[:, 1])  # fmt: skip
        assert np.min(d) < 300.0, zid
    # Rivers and the city-centre land do not overlap: no point of a fairway centreline is
    # inside the Yuzhong no-fly zone, and Jiefangbei is in no fairway.
    for f in demo_features():
        if f["properties"].get("purpose") == "fairway":
            for lon, lat in f["properties"]["centreline"]:
                assert "yuzhong-no-fly" not in _zone_ids_at(zs, lat, lon)
            assert f["id"] not in _zone_ids_at(zs, *JIEFANGBEI)


# ----------------------------------------------------------------------------- fleet
@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet.chongqing()


@pytest.fixture(scope="module")
def fleet_reports(fleet: Fleet) -> pa.Table:
    return fleet.reports(START, 0.0, 300.0)


def test_fleet_reports_are_labelled_and_at_1hz(fleet, fleet_reports):
    t = fleet_reports
    n = len(fleet)
    assert 50 <= n <= 200
    assert t.num_rows == 300 * n
    ids = set(t.column("object_id").to_pylist())
    assert len(ids) == n and all(i.startswith("uas:sim-") for i in ids)
    assert set(t.column("source").to_pylist()) == {"remoteid-net"}
    assert all(t.column("simulated").to_pylist())
    assert set(t.column("alt_ref").to_pylist()) == {"agl"}
    df = t.select(["object_id", "time_utc"]).to_pandas()
    gaps = df.groupby("object_id")["time_utc"].diff().dropna().dt.total_seconds()
    assert gaps.max() <= 2.0 and gaps.min() > 0  # MH/T 4053: at least every 2 s
    missions = set(t.column("mission").to_pylist())
    assert {"delivery", "inspection", "stray", "conflict-pair"} <= missions


def test_fleet_moves_at_its_stated_speed(fleet_reports):
    df = fleet_reports.to_pandas().sort_values(["object_id", "time_utc"])
    for oid, g in df.groupby("object_id"):
        lon, lat = g["lon_deg"].to_numpy(), g["lat_deg"].to_numpy()
        dt = np.diff(g["time_utc"].astype("int64").to_numpy()) / 1e9
        az12, _, d = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
        v = np.asarray(d) / dt
        speed = g["speed_m_s"].to_numpy()[:-1]
        # A step never covers more ground than speed * dt; a step that rounds a vertex
        # covers a little less (the chord). Most steps are straight: exactly the speed.
        assert np.all(v <= speed * (1 + 1e-7) + 1e-6), oid
        straight = np.abs(v - speed) <= 1e-6 * speed + 1e-6
        assert straight.mean() > 0.9, oid
        # The direction of each step (geodesic azimuth to the next report) lies between
        # the reported tracks at its two ends: equal to them on a straight step, within
        # the turn when the step rounds a vertex.
        trk = g["track_deg"].to_numpy()
        turn = np.abs((trk[1:] - trk[:-1] + 180.0) % 360.0 - 180.0)
        diff = np.abs((np.asarray(az12) - trk[:-1] + 180.0) % 360.0 - 180.0)
        assert np.all(diff <= turn + 1e-4), oid  # (azimuths drift ~3e-5 deg per step)
        assert np.mean((turn < 1e-3) & (diff < 1e-6)) > 0.9, oid


def test_fleet_is_deterministic_by_seed():
    a = Fleet.chongqing(seed=7).reports(START, 0.0, 5.0)
    b = Fleet.chongqing(seed=7).reports(START, 0.0, 5.0)
    c = Fleet.chongqing(seed=8).reports(START, 0.0, 5.0)
    assert a.equals(b)
    assert not a.column("lat_deg").equals(c.column("lat_deg"))


def test_fleet_scenario_geometry(fleet, fleet_reports):
    zs = ZoneSet.from_geojson(ZONES_PATH)
    df = fleet_reports.to_pandas()
    p, z = zs.hits(df["lat_deg"], df["lon_deg"], df["alt_m"], None, "agl")
    hit = df.iloc[p].assign(zone=zs.ids[z], kind=zs.kinds[z])
    bad = hit[hit["kind"].isin(["no-fly", "restricted"])]
    # Only the scripted rule-breakers break rules.
    assert set(bad["mission"]) <= {"stray", "climb"}
    first_in = bad.groupby(["object_id", "zone"])["time_utc"].min()
    t_s = (first_in - pd.Timestamp(str(START), tz="UTC")).dt.total_seconds()
    assert t_s[("uas:sim-stray-001", "yuzhong-no-fly")] <= 10
    assert t_s[("uas:sim-stray-002", "zuck-uav-no-fly")] <= 10
    assert t_s[("uas:sim-climb-001", "cq-above-120m")] == 0
    over = hit[(hit["zone"] == "jiangbeizui-speed-limit") & (hit["speed_m_s"] > 8.0)]
    assert set(over["mission"]) <= {"stray", "speeding"} and len(over) > 0
    # The scripted pair comes within the 50 m / 15 m minima within the first 20 s.
    a = df[df["object_id"] == "uas:sim-pair-a"].sort_values("time_utc")
    b = df[df["object_id"] == "uas:sim-pair-b"].sort_values("time_utc")
    _, _, sep = GEOD.inv(a["lon_deg"].to_numpy(), a["lat_deg"].to_numpy(),
                         b["lon_deg"].to_numpy(), b["lat_deg"].to_numpy())  # fmt: skip
    k = int(np.argmin(sep[:20]))
    assert sep[k] < 50.0 and abs(a["alt_m"].iloc[k] - b["alt_m"].iloc[k]) < 15.0
    # Delivery heights are the documented layers, all in open airspace (<= 120 m).
    dlv = df[df["mission"] == "delivery"]
    assert set(dlv["alt_m"]) <= set(LAYERS_M) and max(LAYERS_M) <= 120.0


# -------------------------------------------------------------------------- recorded
def test_recorded_data_is_small_and_documented():
    data = recorded.DATA_DIR
    total = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    assert total < 5_000_000
    sources = (data / "SOURCES.md").read_text()
    for f in data.rglob("*"):
        if f.is_file() and f.name != "SOURCES.md":
            assert f.name in sources, f.name


def test_replay_keeps_places_and_relative_timing():
    recs = recorded.load_recordings()
    name = "traffic_ambulances_rega_zh.json.gz"
    raw = json.loads(gzip.open(recorded.DATA_DIR / "adsb" / name).read())
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    rp = recorded.Replayer([r for r in recs if r.name == name], start)
    rows = [b.reports for b in rp.due(0.0, 340.0)]  # one lap: 338 s, then a 30 s gap
    got = pa.concat_tables(rows).to_pandas()
    assert len(got) == len(raw)
    t_raw = np.sort(np.array([r["timestamp"] for r in raw], dtype=np.int64))  # ms since 1970
    t_got = np.sort(got["time_utc"].astype("int64").to_numpy() // 1_000_000)
    assert t_got[0] == int(start.timestamp() * 1000)
    np.testing.assert_array_equal(np.diff(t_got), np.diff(t_raw))
    lat = np.array([r["latitude"] for r in raw], dtype=float)
    np.testing.assert_allclose(np.sort(got["lat_deg"].dropna()), np.sort(lat[np.isfinite(lat)]))
    assert got["lon_deg"].between(8.3, 9.4).all()  # Zurich, where it was recorded
    assert set(got["object_id"]) == {"icao24:" + raw[0]["icao24"]}
    assert got["recorded"].all()
    # The next lap starts one period (duration + gap) later, same places.
    period = rp.period_s(rp.recordings[0])
    lap2 = pa.concat_tables([b.reports for b in rp.due(period, period + 340.0)]).to_pandas()
    assert len(lap2) == len(raw)
    assert (lap2["time_utc"].min() - got["time_utc"].min()).total_seconds() == period
    np.testing.assert_array_equal(lap2["lat_deg"].to_numpy(), got["lat_deg"].to_numpy())
    ais = next(r for r in recs if r.fmt == "ais")
    per_line = ais.duration_s / len(ais.raw)
    assert 0.1 < per_line < 1.0  # paced from the sentences' own UTC seconds


# --------------------------------------------------------------------------- service
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, key: str | None = None) -> dict:
    req = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_bad_demo_option_exits_2():
    p = subprocess.run([sys.executable, "-m", "kongtian.cli", "demo", "--speed", "0"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 2 and "--speed" in p.stderr and "Traceback" not in p.stderr


def test_demo_serves_live_traffic(tmp_path: Path):
    port = _free_port()
    cmd = [sys.executable, "-m", "kongtian.cli", "demo", "--duration", "40", "--port",
           str(port), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = ""
        deadline = time.monotonic() + 120
        while "Stop with Ctrl-C" not in banner and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner += line
        assert f"http://127.0.0.1:{port}" in banner, banner + proc.stderr.read()  # type: ignore[union-attr]
        keys = dict(re.findall(r"^\s+(public|operator|regulator|admin)\s+(kt_\S+)", banner, re.M))
        assert set(keys) == {"public", "operator", "regulator", "admin"}
        base = f"http://127.0.0.1:{port}"
        health = None
        seen: dict[str, set[str]] = {}
        alerts: list[dict] = []
        deadline = time.monotonic() + 38
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                health = _get(base + "/health")
                tracks = _get(base + "/v1/traffic/tracks", keys["regulator"])["tracks"]
                alerts = _get(base + "/v1/traffic/alerts", keys["regulator"])["alerts"]
            except (urllib.error.URLError, ConnectionError):
                continue
            seen = {}
            for t in tracks:
                if t["lat_deg"] is not None:
                    seen.setdefault(t["kind"], set()).add(t["object_id"])
            kinds = {a["kind"] for a in alerts}
            if {"icao24", "mmsi", "uas"} <= set(seen) and {
                "zone_violation",
                "loss_of_separation",
            } <= kinds:
                break
        assert health is not None and health["status"] == "ok"
        # Recorded ADS-B at Zurich / Toulouse, recorded AIS, the simulated fleet.
        assert "icao24:4b43ac" in seen.get("icao24", set())  # REGA1, replayed over Zurich
        assert len(seen.get("mmsi", ())) >= 5
        assert {"uas:sim-pair-a", "uas:sim-stray-001"} <= seen.get("uas", set())
        kinds = {a["kind"] for a in alerts}
        assert "zone_violation" in kinds, alerts
        assert kinds & {"predicted_los", "loss_of_separation"}, alerts
        # The scripted pair loses separation about 13 s after the start.
        pair = {(a["kind"], a["other_id"]) for a in alerts if a["object_id"] == "uas:sim-pair-a"}
        assert ("loss_of_separation", "uas:sim-pair-b") in pair, alerts
        zones = {(a["object_id"], a["other_id"]) for a in alerts if a["kind"] == "zone_violation"}
        assert ("uas:sim-stray-001", "yuzhong-no-fly") in zones
        hist = _get(base + "/v1/traffic/tracks/uas:sim-pair-a/history", keys["regulator"])
        rows = hist.get("reports") or hist.get("items") or []
        assert rows and all(r["extras"]["simulated"] is True for r in rows)
        assert all(r["source"] == "remoteid-net" for r in rows)
        # The operator key owns the simulated fleet and sees only it.
        mine = _get(base + "/v1/traffic/tracks", keys["operator"])["tracks"]
        assert mine and all(t["object_id"].startswith("uas:sim-") for t in mine)
        cats = json.dumps(_get(base + "/v1/space/catalogs", keys["regulator"]))
        assert "qianfan" in cats and "starlink" in cats
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err[-3000:]
        assert "kongtian demo stopped" in out
        final = json.loads(out.split("kongtian demo stopped: ", 1)[1].splitlines()[0])
        assert final["feeder_errors"] == 0 and final["fleet"] > 0 and final["recorded"] > 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
