"""Tracks: hand-built sequences with known answers, pyproj for prediction, a real trajectory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyproj import Geod

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import report_table
from kongtian.traffic.tracks import AssociationRules, TrackStore, dead_reckon

DATA = Path(__file__).resolve().parents[1] / "data" / "traffic" / "trajectories"
T0 = np.datetime64("2026-03-01T08:00:00", "ns")
GEOD = Geod(ellps="WGS84")
FT = 0.3048
KN = 1852.0 / 3600.0


def reports(
    oid: str,
    src: str,
    t_s: list[float],
    lat: list[float | None] | None = None,
    lon: list[float | None] | None = None,
    *,
    alt: list[float | None] | None = None,
    speed: list[float | None] | None = None,
    track: list[float | None] | None = None,
    vrate: list[float | None] | None = None,
    extras: dict[str, list[object]] | None = None,
) -> pa.Table:
    n = len(t_s)
    none: list[float | None] = [None] * n
    cols = {
        "object_id": [oid] * n,
        "source": [src] * n,
        "time_utc": T0 + (np.asarray(t_s) * 1e9).astype("timedelta64[ns]"),
        "lat_deg": lat if lat is not None else [30.0 + 1e-4 * t for t in t_s],
        "lon_deg": lon if lon is not None else [114.0] * n,
        "alt_m": alt or [100.0] * n,
        "alt_ref": ["wgs84"] * n,
        "speed_m_s": speed or none,
        "track_deg": track or none,
        "vrate_m_s": vrate or none,
    }
    return report_table(cols, extras)


def row(table: pa.Table, track_id: str) -> dict[str, object]:
    rows = [r for r in table.to_pylist() if r["track_id"] == track_id]
    assert len(rows) == 1, f"{track_id} appears {len(rows)} times"
    return rows[0]


def ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + np.timedelta64(int(seconds * 1e9), "ns"), tz="UTC")


# --------------------------------------------------------------- association


def test_same_object_id_from_broadcast_and_network_rid_is_one_track() -> None:
    store = TrackStore()
    batch = pa.concat_tables(
        [
            reports("uas:1581f4xyz", "remoteid-bcast", [0, 1, 2]),
            reports("uas:1581f4xyz", "remoteid-net", [0.5, 1.5]),
            reports("uas:other", "remoteid-bcast", [1]),
        ]
    )
    out = store.update(batch)
    assert sorted(out.column("track_id").to_pylist()) == ["uas:1581f4xyz", "uas:other"]
    r = row(out, "uas:1581f4xyz")
    assert r["sources"] == ["remoteid-bcast", "remoteid-net"]
    assert r["n_reports"] == 5
    assert r["time_utc"] == ts(2)
    assert r["lat_deg"] == pytest.approx(30.0002)


def test_alias_table_fuses_icao_and_registration_and_follows_chains() -> None:
    rules = AssociationRules(aliases={"icao24:780abc": "reg:b-1234", "sat:imei86": "icao24:780abc"})
    store = TrackStore(association=rules)
    store.update(reports("icao24:780abc", "adsb", [0, 1], speed=[50.0, 51.0], track=[90, 90]))
    out = store.update(reports("sat:imei86", "satiot", [5], lat=[31.0], lon=[115.0]))
    r = row(out, "reg:b-1234")
    assert r["object_ids"] == ["icao24:780abc", "sat:imei86"]
    assert r["sources"] == ["adsb", "satiot"]
    assert (r["lat_deg"], r["lon_deg"]) == (31.0, 115.0)  # newest position wins
    assert r["speed_m_s"] == 51.0  # carried from the newest report that has a speed
    assert len(store) == 1
    assert store.track_of("sat:imei86") == "reg:b-1234"


def test_alias_cycle_is_rejected() -> None:
    with pytest.raises(ConfigError, match="aliases"):
        AssociationRules(aliases={"a:1": "b:1", "b:1": "a:1"})


def test_different_ids_at_the_same_place_are_not_merged_without_a_rule() -> None:
    store = TrackStore()
    store.update(reports("icao24:aaaaaa", "adsb", [0], lat=[30.0], lon=[114.0]))
    store.update(reports("sat:1", "satiot", [0], lat=[30.0], lon=[114.0]))
    assert len(store) == 2


def test_declared_link_is_gated_by_distance_and_time() -> None:
    rules = AssociationRules(link_key="link_id", gate_m=500.0, gate_s=20.0)
    store = TrackStore(association=rules)
    # Aircraft flying due north at 100 m/s.
    store.update(
        reports("icao24:abc123", "adsb", [0, 10], lat=[30.0, None], speed=[100, 100], track=[0, 0])
    )
    # Satellite-IoT report 10 s later, ~1000 m north: 1 km from the last fix but on the
    # dead-reckoned position, so it passes the 500 m gate.
    lat_pred = GEOD.fwd(114.0, 30.0, 0.0, 1000.0)[1]
    out = store.update(
        reports(
            "sat:near", "satiot", [10], lat=[lat_pred + 1e-5], extras={"link_id": ["icao24:abc123"]}
        )
    )
    assert out.column("track_id").to_pylist() == ["icao24:abc123"]
    # Declared link but 5 km off: own track.
    far = GEOD.fwd(114.0, lat_pred, 90.0, 5000.0)
    out = store.update(
        reports(
            "sat:far",
            "satiot",
            [11],
            lat=[far[1]],
            lon=[far[0]],
            extras={"link_id": ["icao24:abc123"]},
        )
    )
    assert out.column("track_id").to_pylist() == ["sat:far"]
    # Declared link, right place, but 60 s after the last fix: outside the time gate.
    out = store.update(
        reports("sat:late", "satiot", [70], lat=[lat_pred], extras={"link_id": ["icao24:abc123"]})
    )
    assert out.column("track_id").to_pylist() == ["sat:late"]
    # Link to an unknown object: own track.
    out = store.update(reports("sat:x", "satiot", [12], extras={"link_id": ["icao24:ffffff"]}))
    assert out.column("track_id").to_pylist() == ["sat:x"]
    assert store.track_of("sat:near") == "icao24:abc123"
    assert sorted(store.snapshot().column("track_id").to_pylist()) == [
        "icao24:abc123",
        "sat:far",
        "sat:late",
        "sat:x",
    ]


# ------------------------------------------------------ ordering and duplicates


def test_out_of_order_report_goes_to_history_but_not_state() -> None:
    store = TrackStore()
    store.update(
        reports("mmsi:413000001", "ais", [0, 10, 20], lat=[30.0, 30.1, 30.2], speed=[1, 2, 3])
    )
    out = store.update(reports("mmsi:413000001", "ais", [5], lat=[35.0], speed=[9.0]))
    r = row(out, "mmsi:413000001")
    assert r["lat_deg"] == 30.2 and r["speed_m_s"] == 3.0 and r["time_utc"] == ts(20)
    assert r["n_reports"] == 4
    assert store.n_out_of_order == 1
    hist = store.history("mmsi:413000001")
    assert hist.column("lat_deg").to_pylist() == [30.0, 35.0, 30.1, 30.2]
    assert hist.column("time_utc").to_pylist() == [ts(0), ts(5), ts(10), ts(20)]


def test_duplicates_dropped_and_counted_within_and_across_batches() -> None:
    store = TrackStore()
    batch = pa.concat_tables(
        [
            reports("jt808:13800000000", "jt808", [0, 1, 1, 2]),
            reports("jt808:13800000000", "jt808", [2]),
        ]
    )
    out = store.update(batch)
    assert row(out, "jt808:13800000000")["n_reports"] == 3
    assert store.n_duplicates == 2
    # Same times again from the same source: all duplicates, track unchanged.
    out = store.update(reports("jt808:13800000000", "jt808", [0, 2]))
    assert out.num_rows == 0 and store.n_duplicates == 4
    # Same time from another source is not a duplicate (the key includes the source).
    out = store.update(reports("jt808:13800000000", "jt809", [2]))
    assert row(out, "jt808:13800000000")["n_reports"] == 4
    assert store.history("jt808:13800000000").num_rows == 4


def test_velocity_carried_from_newest_report_that_has_it() -> None:
    store = TrackStore()
    store.update(
        reports(
            "icao24:abcdef",
            "adsb",
            [0, 1, 2],
            lat=[30.0, 30.01, None],
            speed=[100.0, None, None],
            track=[10.0, 20.0, None],
            vrate=[None, 2.0, None],
        )
    )
    r = row(store.snapshot(), "icao24:abcdef")
    assert (r["lat_deg"], r["speed_m_s"], r["track_deg"], r["vrate_m_s"]) == (
        30.01,
        100.0,
        20.0,
        2.0,
    )
    assert r["time_utc"] == ts(2) and r["position_time_utc"] == ts(1)


def test_history_is_bounded_to_the_newest_reports() -> None:
    store = TrackStore(history=3)
    store.update(reports("uas:a", "remoteid-net", [4, 1, 3, 0, 2]))
    assert store.history("uas:a").column("time_utc").to_pylist() == [ts(2), ts(3), ts(4)]
    assert row(store.snapshot(), "uas:a")["n_reports"] == 5


# ------------------------------------------------------------------ staleness


def test_stale_and_expire() -> None:
    store = TrackStore(stale_after_s=30.0)
    store.update(
        pa.concat_tables(
            [reports("uas:a", "remoteid-bcast", [0]), reports("uas:b", "remoteid-bcast", [50])]
        )
    )
    snap = store.snapshot()
    assert dict(zip(snap["track_id"].to_pylist(), snap["stale"].to_pylist(), strict=True)) == {
        "uas:a": True,
        "uas:b": False,
    }
    assert store.stale(T0 + np.timedelta64(30, "s")).tolist() == []
    assert store.stale(T0 + np.timedelta64(31, "s")).tolist() == ["uas:a"]
    assert store.stale("2026-03-01T08:01:30Z").tolist() == ["uas:a", "uas:b"]
    assert store.expire(T0 + np.timedelta64(60, "s")).tolist() == ["uas:a"]
    assert "uas:a" not in store and "uas:b" in store
    assert store.track_of("uas:a") is None
    out = store.update(reports("uas:a", "remoteid-bcast", [100]))
    assert row(out, "uas:a")["n_reports"] == 1


def test_bad_batches() -> None:
    store = TrackStore()
    with pytest.raises(FormatError, match="speed_m_s"):
        store.update(reports("uas:a", "remoteid-net", [0]).drop_columns(["speed_m_s"]))
    assert store.update(reports("uas:a", "remoteid-net", [0]).slice(0, 0)).num_rows == 0
    with pytest.raises(ConfigError, match="stale_after_s"):
        TrackStore(stale_after_s=0)
    with pytest.raises(ConfigError, match="gate_m"):
        AssociationRules(gate_m=-1)


# ----------------------------------------------------------------- prediction


@pytest.mark.parametrize("dist_m,tol_m", [(1_000.0, 0.001), (10_000.0, 0.05), (100_000.0, 5.0)])
def test_dead_reckon_matches_pyproj_geodesic(dist_m: float, tol_m: float) -> None:
    rng = np.random.default_rng(7)
    n = 2000
    lat = rng.uniform(-85, 85, n)
    lon = rng.uniform(-180, 180, n)
    trk = rng.uniform(0, 360, n)
    speed = rng.uniform(1, 300, n)
    dt = dist_m / speed
    la, lo, alt = dead_reckon(lat, lon, 120.0, speed, trk, -2.5, dt)
    lo2, la2, _ = GEOD.fwd(lon, lat, trk, speed * dt)
    err = GEOD.inv(lo, la, lo2, la2)[2]
    assert np.max(err) < tol_m
    np.testing.assert_allclose(alt, 120.0 - 2.5 * dt)


def test_track_store_predict_absolute_and_relative() -> None:
    store = TrackStore()
    store.update(
        reports(
            "icao24:a1",
            "adsb",
            [0, 4],
            lat=[22.5, 22.5],
            lon=[113.9, 113.9],
            alt=[900.0, 1000.0],
            speed=[70.0, 70.0],
            track=[225.0, 225.0],
            vrate=[-3.0, -3.0],
        )
    )
    store.update(reports("uas:nospeed", "remoteid-net", [4]))
    pred = store.predict(T0 + np.timedelta64(64, "s")).to_pylist()
    p = next(r for r in pred if r["track_id"] == "icao24:a1")
    lon2, lat2, _ = GEOD.fwd(113.9, 22.5, 225.0, 70.0 * 60.0)
    assert GEOD.inv(p["lon_deg"], p["lat_deg"], lon2, lat2)[2] < 0.01
    assert p["alt_m"] == pytest.approx(1000.0 - 180.0)
    assert p["time_utc"] == ts(64)
    q = next(r for r in pred if r["track_id"] == "uas:nospeed")
    assert q["lat_deg"] is None or np.isnan(q["lat_deg"])
    rel = store.predict(60.0).to_pylist()
    r = next(r for r in rel if r["track_id"] == "icao24:a1")
    assert (r["lat_deg"], r["lon_deg"]) == pytest.approx((p["lat_deg"], p["lon_deg"]), abs=1e-12)
    assert store.predict(np.timedelta64(60, "s")).to_pylist() == rel


# ------------------------------------------------------ real trajectory, shuffled


def _rega_reports(rng: np.random.Generator) -> tuple[pa.Table, pd.DataFrame]:
    df = pd.read_json(DATA / "traffic_ambulances_rega_zh.json.gz")
    t = df["timestamp"].to_numpy().astype("datetime64[ns]")
    speed = (df["groundspeed"] * KN).to_numpy(dtype=np.float64, copy=True)
    track = df["track"].to_numpy(dtype=np.float64, copy=True)
    vrate = (df["vertical_rate"] * FT / 60.0).to_numpy(dtype=np.float64, copy=True)
    # Blank the velocity on some reports so "carried from the newest that has it" matters.
    for arr in (speed, track, vrate):
        arr[rng.random(arr.size) < 0.3] = np.nan
    cols = {
        "object_id": ["icao24:" + s for s in df["icao24"]],
        "source": ["adsb"] * len(df),
        "time_utc": t,
        "lat_deg": df["latitude"].to_numpy(),
        "lon_deg": df["longitude"].to_numpy(),
        "alt_m": (df["altitude"] * FT).to_numpy(),
        "alt_ref": ["baro"] * len(df),
        "speed_m_s": speed,
        "track_deg": track,
        "vrate_m_s": vrate,
    }
    truth = pd.DataFrame(cols)
    return report_table(cols), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_trajectory_shuffled_in_batches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table, truth = _rega_reports(rng)
    n = table.num_rows
    dup_idx = rng.choice(n, 40, replace=False)
    feed = pa.concat_tables([table, table.take(dup_idx)])
    feed = feed.take(rng.permutation(feed.num_rows))
    store = TrackStore(history=10_000)
    cuts = np.sort(rng.choice(np.arange(1, feed.num_rows), 12, replace=False))
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, feed.num_rows], strict=True):
        store.update(feed.slice(lo, hi - lo))
    assert store.n_duplicates == 40
    assert len(store) == 1
    # Expected state from pandas, independently: last row by time, per-field last valid.
    srt = truth.sort_values("time_utc", kind="stable")
    last = srt.iloc[-1]
    r = row(store.snapshot(), "icao24:4b43ac")
    assert r["time_utc"] == pd.Timestamp(last["time_utc"], tz="UTC")
    assert (r["lat_deg"], r["lon_deg"], r["alt_m"]) == (
        last["lat_deg"],
        last["lon_deg"],
        last["alt_m"],
    )
    for f in ("speed_m_s", "track_deg", "vrate_m_s"):
        assert r[f] == srt[f].dropna().iloc[-1], f
    assert r["n_reports"] == n
    hist = store.history("icao24:4b43ac").to_pandas()
    assert len(hist) == n
    exp = srt.reset_index(drop=True)
    np.testing.assert_array_equal(
        hist["time_utc"].dt.tz_convert(None).to_numpy(), exp["time_utc"].to_numpy()
    )
    for f in ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s"):
        np.testing.assert_array_equal(hist[f].to_numpy(), exp[f].to_numpy(), err_msg=f)


# ------------------------------------------- vectorised store vs a plain reference


def _reference(batches: list[pa.Table], k_hist: int) -> tuple[dict, dict, int, int]:
    """Per-report dict model of the documented rules (no aliases): state, history, counts."""
    groups = {"pos": ("lat_deg", "lon_deg"), "alt": ("alt_m", "alt_ref"), "speed": ("speed_m_s",)}
    hist: dict[str, dict[tuple, dict]] = {}
    state: dict[str, dict] = {}
    n_dup = n_late = 0
    for b in batches:
        by_track: dict[str, list[dict]] = {}
        for r in b.to_pylist():
            by_track.setdefault(r["object_id"], []).append(r)
        for tid, rows in by_track.items():
            h = hist.setdefault(tid, {})
            st = state.setdefault(tid, {"n": 0, "last": None, **{g: None for g in groups}})
            last_before = st["last"]
            seen: set[tuple] = set()
            for r in sorted(rows, key=lambda r: (r["time_utc"], r["source"], r["object_id"])):
                key = (r["time_utc"], r["source"], r["object_id"])
                if key in h or key in seen:
                    n_dup += 1
                    continue
                seen.add(key)
                h[key] = r
                st["n"] += 1
                n_late += last_before is not None and key[0] < last_before[0]
                st["last"] = max(st["last"] or key, key)
                for g, fs in groups.items():
                    if all(r[f] is not None and r[f] == r[f] for f in fs):
                        if st[g] is None or key > st[g][0]:
                            st[g] = (key, {f: r[f] for f in fs})
            for key in sorted(h)[: max(len(h) - k_hist, 0)]:
                del h[key]
    return state, hist, n_dup, n_late


@pytest.mark.parametrize("k_hist,slack", [(1000, 65_536), (4, 0), (0, 0)])
def test_store_matches_plain_reference_on_shuffled_duplicated_feed(k_hist: int, slack: int) -> None:
    rng = np.random.default_rng(k_hist)
    batches = []
    for i in range(25):
        n = int(rng.integers(1, 40))
        t = np.clip(i * 3 + rng.integers(-6, 4, n), 0, None)  # late and same-time reports
        lat = rng.uniform(30.0, 30.1, n)
        lat[rng.random(n) < 0.2] = np.nan
        speed = rng.uniform(0.0, 30.0, n)
        speed[rng.random(n) < 0.4] = np.nan
        cols = {
            "object_id": rng.choice(["uas:a", "uas:b", "icao24:c"], n).tolist(),
            "source": rng.choice(["remoteid-net", "adsb", "remoteid-bcast"], n).tolist(),
            "time_utc": T0 + (t * 1e9).astype("timedelta64[ns]"),
            "lat_deg": lat,
            "lon_deg": rng.uniform(114.0, 114.1, n),
            "alt_m": rng.uniform(0.0, 200.0, n),
            "alt_ref": [None if x < 0.2 else "wgs84" for x in rng.random(n)],
            "speed_m_s": speed,
            "track_deg": [None] * n,
            "vrate_m_s": [None] * n,
        }
        b = report_table(cols)
        batches.append(pa.concat_tables([b, b.slice(0, int(rng.integers(0, 4)))]))
    store = TrackStore(history=k_hist)
    store._compact_slack = slack  # exercise the history compaction too
    for b in batches:
        store.update(b)
    state, hist, n_dup, n_late = _reference(batches, k_hist)
    assert (store.n_duplicates, store.n_out_of_order) == (n_dup, n_late)
    assert n_dup > 0 and n_late > 0
    snap = store.snapshot()
    assert sorted(snap.column("track_id").to_pylist()) == sorted(state)
    for tid, st in state.items():
        r = row(snap, tid)
        assert r["n_reports"] == st["n"]
        assert r["time_utc"] == st["last"][0]
        assert r["position_time_utc"] == st["pos"][0][0]
        assert (r["lat_deg"], r["lon_deg"]) == (st["pos"][1]["lat_deg"], st["pos"][1]["lon_deg"])
        assert (r["alt_m"], r["alt_ref"]) == (st["alt"][1]["alt_m"], st["alt"][1]["alt_ref"])
        assert r["speed_m_s"] == st["speed"][1]["speed_m_s"]
        got = store.history(tid).to_pylist()
        assert got == [hist[tid][k] for k in sorted(hist[tid])]
