"""Service core on a real store: commit first, only new rows through the pipeline,
quarantine, live state, intents; plus decode_payloads on real recorded feeds.

Expectations are set by hand from the scenario geometry (which reports are inside the
no-fly square) or from decoding the good payloads alone with the traffic decoders,
never from the code under test.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kongtian.errors import ConfigError, NotFound
from kongtian.model.report import report_table
from kongtian.platform.ingest.decode import decode_payloads
from kongtian.platform.service import IngestResult, Service, intent_from_dict
from kongtian.platform.store import Store, VersionConflict, open_store

from ..conftest import DATA

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 10**9
# A 0.1 x 0.1 degree no-fly square over central Chongqing.
NOFLY = {
    "type": "Feature",
    "id": "nofly-yuzhong",
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[106.5, 29.5], [106.6, 29.5], [106.6, 29.6], [106.5, 29.6], [106.5, 29.5]]
        ],
    },
    "properties": {"kind": "no-fly", "name": "Yuzhong no-fly"},
}


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG} is not reachable (CI starts it): {exc}")


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "duckdb":
        s = open_store(f"duckdb://{tmp_path / 'kt.duckdb'}")
        yield s
        s.close()
        return
    schema = f"kt_h2_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    s = open_store(f"{PG}?schema={schema}")
    try:
        yield s
    finally:
        s.close()
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"duckdb://{tmp_path / 'kt.duckdb'}")
    yield s
    s.close()


def flight(
    oid: str,
    t_s: list[float],
    lat: list[float],
    lon: list[float],
    alt: float = 100.0,
    source: str = "remoteid-net",
) -> pa.Table:
    n = len(t_s)
    return report_table(
        {
            "object_id": [oid] * n,
            "source": [source] * n,
            "time_utc": np.asarray([T0_NS + int(t * 1e9) for t in t_s], np.int64),
            "lat_deg": lat,
            "lon_deg": lon,
            "alt_m": [alt] * n,
            "alt_ref": ["wgs84"] * n,
            "speed_m_s": [10.0] * n,
            "track_deg": [0.0] * n,
            "vrate_m_s": [0.0] * n,
        }
    )


def northbound(oid: str, t0: float, n: int, lat0: float = 29.455, step: float = 0.01) -> pa.Table:
    """One report per second going north along lon 106.55 from ``lat0``."""
    ts = [t0 + i for i in range(n)]
    return flight(oid, ts, [lat0 + step * i for i in range(n)], [106.55] * n)


def alert_rows(store: Store) -> list[dict]:
    return sorted(store.list_alerts(limit=1000), key=lambda a: a["alert_id"])


# ------------------------------------------------------------------------ ingest
def test_commit_then_only_new_rows_reach_the_pipeline(store: Store) -> None:
    store.put_zone(NOFLY)
    svc = Service(store)
    # lat 29.455 .. 29.565: inside the square from 29.505 (i = 5) on
    batch = northbound("uas:d1", 0, 12)
    res = svc.ingest_reports(batch, owner="fleet-a")
    assert (res.accepted, res.duplicates, res.rejected) == (12, 0, 0)
    assert store.count_reports() == 12
    (alert,) = alert_rows(store)
    assert (alert["kind"], alert["object_id"], alert["other_id"]) == (
        "zone_violation",
        "uas:d1",
        "nofly-yuzhong",
    )
    assert alert["state"] == "raised" and alert["severity"] == "critical"
    assert alert["first_time_utc"] == T0 + timedelta(seconds=5)
    processed = svc.pipeline.stats.reports

    # A redelivery of the whole batch: all duplicates, nothing processed, no alert event.
    res2 = svc.ingest_reports(batch, owner="fleet-a")
    assert (res2.accepted, res2.duplicates, res2.alerts) == (0, 12, 0)
    assert svc.pipeline.stats.reports == processed
    assert alert_rows(store) == [alert]

    # Mixed: 4 old rows + 3 new ones -> exactly 3 rows processed.
    mixed = pa.concat_tables([batch.slice(8, 4), northbound("uas:d1", 12, 3, lat0=29.57)])
    res3 = svc.ingest_reports(mixed, owner="fleet-a")
    assert (res3.accepted, res3.duplicates) == (3, 4)
    assert svc.pipeline.stats.reports == processed + 3
    assert store.count_reports() == 15


def test_redelivered_old_report_does_not_reraise_a_cleared_alert(store: Store) -> None:
    store.put_zone(NOFLY)
    svc = Service(store)
    inside = northbound("uas:d1", 0, 3, lat0=29.55)  # 29.55 .. 29.57: inside
    assert svc.ingest_reports(inside).alerts == 1
    out = northbound("uas:d1", 3, 2, lat0=29.61)  # north of the square: exit
    assert svc.ingest_reports(out).alerts == 1  # cleared
    states = [a["state"] for a in alert_rows(store)]
    assert states == ["cleared"]
    # The first batch arrives again (MQTT redelivery) with one new outside report.
    again = pa.concat_tables([inside, northbound("uas:d1", 5, 1, lat0=29.63)])
    res = svc.ingest_reports(again)
    assert (res.accepted, res.duplicates, res.alerts) == (1, 3, 0)
    assert [a["state"] for a in alert_rows(store)] == ["cleared"]


def test_stored_before_a_pipeline_failure_and_the_call_still_returns(duck: Store) -> None:
    svc = Service(duck)

    def broken(reports: pa.Table) -> pa.Table:
        raise RuntimeError("injected pipeline fault")

    svc.pipeline.process = broken  # type: ignore[method-assign]
    res = svc.ingest_reports(northbound("uas:d1", 0, 5))
    assert res.accepted == 5 and duck.count_reports() == 5
    assert svc.metrics["pipeline_errors"] == 1


def test_bad_table_raises_before_storing(duck: Store) -> None:
    from kongtian.errors import FormatError

    svc = Service(duck)
    bad = northbound("uas:d1", 0, 3).drop_columns(["alt_ref"])
    with pytest.raises(FormatError, match="alt_ref"):
        svc.ingest_reports(bad)
    assert duck.count_reports() == 0


def test_ingest_raw_quarantines_bad_payloads_keeps_good(store: Store) -> None:
    svc = Service(store)
    lines = (DATA / "traffic/ais/pyais_nmea_data_sample.txt").read_bytes().splitlines()[:60]
    good, _ = decode_payloads("ais", lines[:1])
    assert good.num_rows == 1
    bad = [b"!AIVDM,1,1,,A,13RlIW?04F1beOVEFLB9bRvH0L0L,0*00", b"\x00\xffgarbage"]
    res = svc.ingest_raw("ais", lines + bad, origin="mqtt:kongtian/ingest/ais")
    alone, errs_alone = decode_payloads("ais", lines)
    assert res.accepted == len({(r["object_id"], r["time_utc"]) for r in alone.to_pylist()})
    assert res.rejected == len(errs_alone) + 2
    q = store.list_quarantine(limit=100)
    assert len(q) == res.rejected == store.count_quarantine()
    by_raw = {bytes(r["raw"]): r for r in q}
    assert "checksum" in by_raw[bad[0]]["reason"]
    assert by_raw[bad[1]]["origin"] == "mqtt:kongtian/ingest/ais"
    assert by_raw[bad[1]]["source"] == "ais"


def test_concurrent_ingest_from_threads(duck: Store) -> None:
    duck.put_zone(NOFLY)
    svc = Service(duck)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for j in range(5):
                svc.ingest_reports(northbound(f"uas:t{k}", 10 * j, 10), owner=f"f{k}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert duck.count_reports() == 4 * 5 * 10
    assert svc.pipeline.stats.reports == 200
    assert {t["object_id"] for t in svc.tracks()} == {f"uas:t{k}" for k in range(4)}


def test_pipeline_sees_batches_in_commit_order(duck: Store) -> None:
    # commits and pipeline runs overlap across callers; the pipeline order must still
    # be the commit order (recorded by instrumenting the real store and pipeline)
    svc = Service(duck)
    committed: list[str] = []
    processed: list[str] = []
    insert, process = duck.insert_reports, svc.pipeline.process

    def recording_insert(reports: pa.Table, **kw: Any) -> Any:
        res = insert(reports, **kw)
        committed.append(reports.column("object_id")[0].as_py())
        return res

    def recording_process(reports: pa.Table) -> pa.Table:
        processed.append(reports.column("object_id")[0].as_py())
        time.sleep(0.02)  # let several committed batches queue for the pipeline
        return process(reports)

    duck.insert_reports = recording_insert  # type: ignore[method-assign]
    svc.pipeline.process = recording_process  # type: ignore[method-assign]

    def worker(k: int) -> None:
        for j in range(8):
            svc.ingest_reports(northbound(f"uas:o{k}", 10 * j, 5))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(committed) == 32 and processed == committed


# -------------------------------------------------------------------- live state
def test_tracks_view_filters_and_owner(duck: Store) -> None:
    svc = Service(duck)
    svc.ingest_reports(northbound("uas:a", 0, 3), owner="fleet-a")  # ends at lat 29.475
    svc.ingest_reports(
        flight("icao24:780abc", [0, 1], [29.7, 29.71], [106.6, 106.6], 900.0, "adsb"),
        owner=None,
    )
    svc.ingest_reports(flight("uas:b", [0, 1, 60], [31.0] * 3, [106.5] * 3), owner="fleet-b")
    all_ids = [t["object_id"] for t in svc.tracks()]
    assert all_ids == ["icao24:780abc", "uas:a", "uas:b"]
    a = next(t for t in svc.tracks() if t["object_id"] == "uas:a")
    assert a["lat_deg"] == pytest.approx(29.475) and a["owner"] == "fleet-a"
    assert a["time_utc"] == "2026-03-01T06:00:02.000Z" and a["kind"] == "uas"
    box = (106.0, 29.0, 107.0, 30.0)
    assert [t["object_id"] for t in svc.tracks(bbox=box)] == ["icao24:780abc", "uas:a"]
    assert [t["object_id"] for t in svc.tracks(kinds=["uas"])] == ["uas:a", "uas:b"]
    assert [t["object_id"] for t in svc.tracks(owner="fleet-b")] == ["uas:b"]
    # feed clock is at t = 60 s: a and the aircraft last reported at t = 2 / 1 s
    assert [t["object_id"] for t in svc.tracks(stale_s=30)] == ["uas:b"]
    hist = svc.track_history("uas:a")
    assert hist.num_rows == 3 and hist.column("owner").to_pylist() == ["fleet-a"] * 3


def test_hub_receives_tracks_and_alert_from_ingest_thread(duck: Store) -> None:
    duck.put_zone(NOFLY)
    svc = Service(duck)

    async def main() -> list[dict]:
        sub = svc.hub.subscribe(kinds=["uas"])
        await asyncio.to_thread(svc.ingest_reports, northbound("uas:d1", 0, 8), owner="fleet-a")
        out = []
        while (m := await sub.get(timeout=1.0)) is not None:
            out.append(m)
        return out

    msgs = asyncio.run(main())
    tracks = [m["data"] for m in msgs if m["topic"] == "tracks"]
    alerts = [m["data"] for m in msgs if m["topic"] == "alerts"]
    assert [t["object_id"] for t in tracks] == ["uas:d1"]
    assert tracks[0]["lat_deg"] == pytest.approx(29.525) and tracks[0]["owner"] == "fleet-a"
    assert tracks[0]["sources"] == ["remoteid-net"]
    (al,) = alerts
    assert al["kind"] == "zone_violation" and al["state"] == "raised"
    assert al["first_time_utc"] == "2026-03-01T06:00:05.000Z"
    assert al["owners"] == ["fleet-a"] and al["details"] == {"zone_kind": "no-fly"}


def test_zone_added_later_is_picked_up(duck: Store) -> None:
    svc = Service(duck, pipeline_options={"reload_every_s": 0})
    assert svc.ingest_reports(northbound("uas:d1", 0, 8)).alerts == 0
    duck.put_zone(NOFLY)  # e.g. by another process sharing the store
    res = svc.ingest_reports(northbound("uas:d1", 8, 2, lat0=29.53))
    assert res.alerts == 1
    assert svc.metrics["zones"] == 1


# ------------------------------------------------------------------------ intents
def volume(lon0: float, lat0: float, t0_s: float, t1_s: float, lo: float = 0, hi: float = 120):
    d = 0.01
    ring = [[lon0, lat0], [lon0 + d, lat0], [lon0 + d, lat0 + d], [lon0, lat0 + d], [lon0, lat0]]
    return {
        "outline": {"type": "Polygon", "coordinates": [ring]},
        "alt_lower_m": lo,
        "alt_upper_m": hi,
        "alt_ref": "wgs84",
        "t_start_utc": (T0 + timedelta(seconds=t0_s)).isoformat(),
        "t_end_utc": (T0 + timedelta(seconds=t1_s)).isoformat(),
    }


def test_intents_strategic_deconfliction_and_life_cycle(store: Store) -> None:
    svc = Service(store)
    a, conf = svc.submit_intent({"volumes": [volume(106.50, 29.50, 0, 600)]}, owner="fleet-a")
    assert a["state"] == "Accepted" and conf == [] and a["owner"] == "fleet-a"
    # overlaps a in space and time
    b, conf = svc.submit_intent(
        {"id": "op-b", "volumes": [volume(106.505, 29.505, 300, 900)]}, owner="fleet-b"
    )
    assert b["state"] == "Rejected" and conf == [a["id"]]
    assert store.get_intent("op-b")[0]["state"] == "Rejected"
    # same place, after a ends: no conflict
    c, conf = svc.submit_intent(
        {"id": "op-c", "volumes": [volume(106.50, 29.50, 600, 900)]}, owner="fleet-b"
    )
    assert c["state"] == "Accepted" and conf == []
    # and above it: no conflict either
    d, _ = svc.submit_intent(
        {"id": "op-d", "volumes": [volume(106.50, 29.50, 0, 600, 200, 300)]}, owner="fleet-b"
    )
    assert d["state"] == "Accepted"

    act = svc.set_intent_state(a["id"], "Activated", expected_version=a["version"], by="key_x")
    assert act["state"] == "Activated" and act["version"] == a["version"] + 1
    with pytest.raises(VersionConflict):
        svc.set_intent_state(a["id"], "Ended", expected_version=a["version"], by="key_x")
    with pytest.raises(ConfigError, match="allowed"):
        svc.set_intent_state("op-b", "Activated", expected_version=None, by="key_x")
    with pytest.raises(NotFound):
        svc.set_intent_state("op-zzz", "Ended", expected_version=None, by="key_x")
    with pytest.raises(VersionConflict):  # the id exists
        svc.submit_intent({"id": "op-c", "volumes": [volume(10, 10, 0, 60)]}, owner="x")
    with pytest.raises(ConfigError, match="volumes"):
        svc.submit_intent({"volumes": [{"outline": {"type": "Polygon"}}]}, owner="x")


def test_activated_intent_conformance_alert(duck: Store) -> None:
    svc = Service(duck)
    it, _ = svc.submit_intent(
        {"id": "op-1", "object_id": "uas:d1", "volumes": [volume(106.50, 29.50, 0, 600)]},
        owner="fleet-a",
    )
    svc.set_intent_state("op-1", "Activated", expected_version=it["version"], by="k")
    inside = flight("uas:d1", [0, 1], [29.505, 29.506], [106.505, 106.505], 50.0)
    assert svc.ingest_reports(inside).alerts == 0
    outside = flight("uas:d1", [2], [29.52], [106.505], 50.0)  # north of the 0.01 deg box
    assert svc.ingest_reports(outside).alerts == 1
    (al,) = duck.list_alerts()
    assert (al["kind"], al["object_id"], al["other_id"]) == ("non_conformance", "uas:d1", "op-1")


def test_intent_from_dict_circle_and_errors() -> None:
    oi = intent_from_dict(
        {
            "id": "c1",
            "volumes": [
                {
                    "outline": {"type": "Point", "coordinates": [106.5, 29.5]},
                    "radius_m": 500,
                    "alt_lower_m": 0,
                    "alt_upper_m": 100,
                    "t_start_utc": "2026-03-01T06:00:00Z",
                    "t_end_utc": "2026-03-01T07:00:00Z",
                }
            ],
        }
    )
    assert oi.volumes[0].outline.radius_m == 500  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"volumes\[0\]: missing field 'radius_m'"):
        intent_from_dict(
            {"id": "c2", "volumes": [{"outline": {"type": "Point", "coordinates": [1, 2]}}]}
        )


# ------------------------------------------------------------------------ decoding
def _good_payloads() -> dict[str, list[bytes]]:
    """Real recorded payloads per format that decode alone without any error."""
    ais = (DATA / "traffic/ais/pyais_nmea_data_sample.txt").read_bytes().splitlines()[:80]
    csv = (DATA / "traffic/adsb/pymodes_sample_data_adsb.csv").read_bytes().splitlines()[:200]
    avr = [b"*" + line.split(b",")[1].strip(b'"') + b";" for line in csv]
    frames = json.loads((DATA / "traffic/jt808/jt808_frames_traccar.json").read_text())["frames"]
    jt = [bytes.fromhex(f["hex"]) for f in frames]
    rid = json.loads((DATA / "traffic/remoteid/odid_core_c_vectors.json").read_text())
    basic = next(bytes.fromhex(v["hex"]) for v in rid if v["msg"] == "BasicID")
    loc = next(bytes.fromhex(v["hex"]) for v in rid if v["msg"] == "Location" and "hex" in v)
    pack = bytes([0xF2, 0x19, 2]) + basic + loc
    reports = [
        json.dumps(
            {
                "object_id": f"uas:r{i}",
                "source": "remoteid-net",
                "time_utc": f"2026-03-01T06:00:{i:02d}.5Z",
                "lat_deg": 29.5,
                "lon_deg": 106.5,
                "alt_m": 80.0,
                "alt_ref": "wgs84",
            }
        ).encode()
        for i in range(20)
    ]
    out = {
        "ais": ais,
        "avr": avr,
        "modes-csv": csv,
        "jt808": jt,
        "remoteid": [pack],
        "reports-json": reports,
    }
    clean = {}
    for fmt, payloads in out.items():
        keep = [p for p in payloads if not decode_payloads(fmt, [p], received_utc=T0)[1]]
        assert len(keep) >= 1, fmt
        clean[fmt] = keep
    return clean


GOOD = _good_payloads()


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(
        zip(
            table.column("object_id").to_pylist(),
            table.column("source").to_pylist(),
            table.column("lat_deg").to_pylist(),
            table.column("lon_deg").to_pylist(),
            strict=True,
        ),
        key=repr,
    )


@pytest.mark.parametrize("fmt", sorted(GOOD))
def test_good_and_bad_mixed_each_bad_one_reported(fmt: str) -> None:
    good = GOOD[fmt]
    bad = [b"\x7e\x02\x00\x7e", b"*8D406B909945DE10000405999BE5;", b"{not json", b"\xff" * 25]
    mixed: list[bytes] = []
    for i in range(max(len(good), len(bad))):
        mixed += good[i : i + 1] + bad[i : i + 1]
    alone, errs_alone = decode_payloads(fmt, good, received_utc=T0)
    table, errs = decode_payloads(fmt, mixed, received_utc=T0)
    assert errs_alone == []
    assert _rows(table) == _rows(alone)
    bad_in = [p for p in mixed if p in bad]
    reported = [raw for raw, _ in errs]
    assert all(p in reported for p in bad_in), errs
    assert not any(raw in good for raw in reported)
    assert all(reason for _, reason in errs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(GOOD) + ["beast", "remoteid-net"]),
    junk=st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.text(max_size=60).map(lambda s: s.encode("utf-8")),
            st.binary(min_size=1, max_size=40).map(lambda b: b"*" + b.hex().encode() + b";"),
            st.binary(min_size=1, max_size=40).map(lambda b: b"\x7e" + b + b"\x7e"),
        ),
        max_size=6,
    ),
    seed=st.integers(0, 2**16),
)
def test_fuzz_random_bytes_never_raise_and_good_payloads_still_decode(
    fmt: str, junk: list[bytes], seed: int
) -> None:
    good = GOOD.get(fmt, [])[:30]
    # junk at random places; the good payloads keep their order (a stream's order matters)
    rng = np.random.default_rng(seed)
    mixed = list(good)
    for j in junk:
        mixed.insert(int(rng.integers(0, len(mixed) + 1)), j)
    table, errs = decode_payloads(fmt, mixed, received_utc=T0)
    assert isinstance(table, pa.Table)
    assert all(isinstance(raw, bytes) and reason for raw, reason in errs)
    if good:
        alone, _ = decode_payloads(fmt, good, received_utc=T0)
        got = _rows(table)
        for row in _rows(alone):
            assert row in got
        reported = {raw for raw, _ in errs}
        assert not reported & (set(good) - set(junk))


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="format"):
        decode_payloads("nmea0183", [b"x"])


def test_ingest_result_dict() -> None:
    assert IngestResult(1, 2, 3, 4).to_dict() == {
        "accepted": 1,
        "duplicates": 2,
        "rejected": 3,
        "alerts": 4,
    }


def test_reports_json_fast_path_equals_per_report_path_and_names_bad_fields() -> None:
    from kongtian.platform.ingest.decode import report_row, reports_from_rows

    objs = [
        {
            "object_id": f"uas:r{i}",
            "source": "remoteid-net",
            "time_utc": f"2026-03-01T14:00:{i:02d}.123456789+08:00",
            "lat_deg": 29.5 + i * 1e-3,
            "lon_deg": 106.5,
            "alt_m": 80 + i,  # ints and floats mixed
            "alt_ref": "wgs84",
            "speed_m_s": None,
            "uas_id": f"SN{i}",
            "meta": {"k": i},
        }
        for i in range(10)
    ]
    payloads = [json.dumps(objs[:4]).encode()] + [json.dumps(o).encode() for o in objs[4:]]
    fast, errs = decode_payloads("reports-json", payloads)
    assert errs == []
    slow = reports_from_rows([report_row(o) for o in objs])
    assert fast.to_pylist() == slow.to_pylist()
    assert fast.column("time_utc")[0].value == T0_NS + 123_456_789  # +08:00 -> 06:00Z
    assert fast.column("meta").to_pylist()[1] == '{"k": 1}'
    # all payloads single objects / JSON Lines: Arrow's JSON reader path, same result
    lines = [json.dumps(o).encode() for o in objs[:5]] + [
        b"\n".join(json.dumps(o).encode() for o in objs[5:])
    ]
    by_lines, errs = decode_payloads("reports-json", lines)
    assert errs == [] and by_lines.to_pylist() == slow.to_pylist()

    bad = dict(objs[1], lat_deg=91.0)
    naive = dict(objs[2], time_utc="2026-03-01T06:00:02")  # no zone: taken as UTC
    no_ref = dict(objs[3], alt_ref=None)
    payloads = [json.dumps([objs[0], bad, naive]).encode(), json.dumps(no_ref).encode()]
    table, errs = decode_payloads("reports-json", payloads)
    assert table.column("object_id").to_pylist() == ["uas:r0", "uas:r2"]
    assert table.column("time_utc")[1].value == T0_NS + 2 * 10**9
    assert [(raw, reason) for raw, reason in errs] == [
        (payloads[0], "reports-json: report 1: position (91.0, 106.5) out of range"),
        (payloads[1], "reports-json: 'alt_m' needs 'alt_ref'"),
    ]


def test_live_state_takes_newest_value_per_field_regardless_of_arrival(duck: Store) -> None:
    svc = Service(duck)

    def one(t_s: float, lat: float | None, speed: float | None, src: str) -> pa.Table:
        return report_table(
            {
                "object_id": ["uas:d1"],
                "source": [src],
                "time_utc": np.asarray([T0_NS + int(t_s * 1e9)], np.int64),
                "lat_deg": [lat],
                "lon_deg": [None if lat is None else 106.55],
                "alt_m": [None],
                "alt_ref": [None],
                "speed_m_s": [speed],
                "track_deg": [None],
                "vrate_m_s": [None],
            }
        )

    async def main() -> list[dict]:
        sub = svc.hub.subscribe(topics=["tracks"])
        for t, lat, speed, src in (
            (10, 29.1, 5.0, "remoteid-net"),
            (5, 29.9, 9.0, "remoteid-bcast"),  # late: changes nothing but the sources
            (12, None, 7.0, "remoteid-net"),  # newer speed, no position
        ):
            await asyncio.to_thread(svc.ingest_reports, one(t, lat, speed, src))
        out = []
        while (m := await sub.get(timeout=0.5)) is not None:
            out.append(m["data"])
        return out

    items = asyncio.run(main())
    assert len(items) == 3
    last = items[-1]
    assert last["lat_deg"] == 29.1 and last["speed_m_s"] == 7.0
    assert last["position_time_utc"] == "2026-03-01T06:00:10.000Z"
    assert last["time_utc"] == "2026-03-01T06:00:12.000Z"
    assert last["sources"] == ["remoteid-bcast", "remoteid-net"]
    assert items[1]["lat_deg"] == 29.1 and items[1]["speed_m_s"] == 5.0


def test_report_from_the_future_is_stored_but_not_processed(duck: Store) -> None:
    duck.put_zone(NOFLY)
    svc = Service(duck)
    assert svc.ingest_reports(northbound("uas:d1", 0, 8)).alerts == 1  # inside from t = 5 s
    year_ahead = T0_NS + 365 * 86400 * 10**9
    now_ns = int(datetime.now(UTC).timestamp() * 1e9)
    late = flight("uas:bad", [(max(year_ahead, now_ns) - T0_NS) / 1e9 + 86400], [20.0], [100.0])
    res = svc.ingest_reports(late)
    assert res.accepted == 1 and duck.count_reports() == 9
    assert svc.metrics["reports_future_skipped"] == 1
    # the alert was not cleared by a clock jump, and the pipeline clock did not move
    assert [a["state"] for a in duck.list_alerts()] == ["raised"]
    assert svc.pipeline.now_ns == T0_NS + 7 * 10**9


def test_restart_continues_active_alerts_and_clears_ended_ones(store: Store) -> None:
    store.put_zone(NOFLY)
    svc = Service(store)
    svc.ingest_reports(northbound("uas:d1", 0, 8))  # d1 inside from t = 5 s
    svc.ingest_reports(northbound("uas:d2", 0, 8))  # d2 likewise
    (a1, a2) = alert_rows(store)
    svc.close()

    svc2 = Service(store)  # a restart on the same store
    assert svc2.metrics["alerts_restored"] == 2
    # d1 is still inside: the same alert goes on (no new id, no new event)
    res = svc2.ingest_reports(northbound("uas:d1", 8, 2, lat0=29.535))
    assert res.alerts == 0
    assert [a["alert_id"] for a in alert_rows(store)] == [a1["alert_id"], a2["alert_id"]]
    # d1 leaves: its original alert is cleared; d2 went silent and is cleared by the tick
    # once clear_after_s (60 s) of feed time has passed without it
    svc2.ingest_reports(northbound("uas:d1", 10, 1, lat0=29.61))
    svc2.ingest_reports(northbound("uas:d1", 80, 1, lat0=29.62))
    rows = {a["alert_id"]: a["state"] for a in alert_rows(store)}
    assert rows == {a1["alert_id"]: "cleared", a2["alert_id"]: "cleared"}
