"""One store test suite, run against both backends: a DuckDB file and PostgreSQL.

Expected values never come from the store code: they are computed here from the input
batch with numpy / pandas / pyarrow (filters, latest per object, retention cut-offs,
unique de-duplication keys) or written by hand (versions, acknowledgements).
PostgreSQL runs on 127.0.0.1:5432 (user postgres, database test); each test gets its own
schema, dropped afterwards.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kongtian.errors import ConfigError, FormatError, NotFound
from kongtian.model.report import CORE_FIELDS, DEDUP_KEY, report_table
from kongtian.platform.store import (
    InsertResult,
    Quarantined,
    Store,
    VersionConflict,
    open_store,
)
from kongtian.platform.store.base import STORED_REPORT_SCHEMA
from kongtian.traffic.decode.io import decode_file
from kongtian.traffic.pipeline import ALERT_EVENT_SCHEMA

from ..conftest import DATA

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 10**9


# -- fixtures ------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    url: str
    opened: list[Store]

    def open(self) -> Store:
        s = open_store(self.url)
        self.opened.append(s)
        return s


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG} is not reachable (CI starts it): {exc}")


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "duckdb":
        b = Backend("duckdb", f"duckdb://{tmp_path / 'kt.duckdb'}", [])
        yield b
        for s in b.opened:
            s.close()
        return
    schema = f"kt_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    b = Backend("postgres", f"{PG}?schema={schema}", [])
    try:
        yield b
    finally:
        for s in b.opened:
            s.close()
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


# -- synthetic input -----------------------------------------------------------------------
KINDS = np.array(["icao24", "mmsi", "uas", "jt808"])
SOURCES = {"icao24": "adsb", "mmsi": "ais", "uas": "remoteid-bcast", "jt808": "jt808"}


def synthetic(n: int = 3000, n_obj: int = 60, seed: int = 1, t0_ns: int = T0_NS) -> pa.Table:
    """Reports with nulls in every nullable column and odd nanosecond times over 3 days."""
    rng = np.random.default_rng(seed)
    obj = rng.integers(0, n_obj, n)
    kind = KINDS[obj % len(KINDS)]
    ids = np.array([f"{k}:{o:06x}" for k, o in zip(kind, obj, strict=True)])
    src = np.array([SOURCES[k] for k in kind])
    # Distinct times (no ties per object), ns resolution, spread over three days.
    t = (
        t0_ns
        + np.sort(rng.choice(3 * 86_400 * 10**6, n, replace=False)) * 1000
        + rng.integers(0, 1000, n)
    )
    cols: dict[str, object] = {
        "object_id": ids,
        "source": src,
        "time_utc": t.astype(np.int64),
        "lat_deg": 29.0 + rng.random(n) * 2,
        "lon_deg": 105.5 + rng.random(n) * 2,
        "alt_m": rng.normal(500, 300, n),
        "alt_ref": rng.choice(np.array(["baro", "wgs84", "msl", "agl"], dtype=object), n),
        "speed_m_s": rng.random(n) * 80,
        "track_deg": rng.random(n) * 360,
        "vrate_m_s": rng.normal(0, 3, n),
    }
    for name in ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s"):
        v = np.asarray(cols[name], dtype=np.float64).copy()
        v[rng.random(n) < 0.07] = np.nan
        cols[name] = v
    refs = np.asarray(cols["alt_ref"], dtype=object)
    refs[rng.random(n) < 0.1] = None
    cols["alt_ref"] = refs
    # lat and lon null together in most missing-position rows, as decoders produce.
    lat = np.asarray(cols["lat_deg"])
    lon = np.asarray(cols["lon_deg"])
    lon[np.isnan(lat)] = np.nan
    return report_table(cols)


def keyset(t: pa.Table) -> set[tuple[str, str, int]]:
    ns = t.column("time_utc").cast(pa.int64()).to_numpy()
    return set(
        zip(
            t.column("object_id").to_pylist(),
            t.column("source").to_pylist(),
            ns.tolist(),
            strict=True,
        )
    )


def sort_by_key(t: pa.Table) -> pa.Table:
    return t.sort_by([(k, "ascending") for k in DEDUP_KEY])


def query_all(s: Store, **kw) -> pa.Table:
    return s.query_reports(limit=10**7, **kw)


# -- reports: round trip --------------------------------------------------------------------
def test_round_trip_core_columns(store: Store) -> None:
    batch = synthetic()
    half = batch.num_rows // 2
    rec = datetime(2026, 3, 4, 12, 0, 0, 123456, tzinfo=UTC)
    r1 = store.insert_reports(batch.slice(0, half), owner="fleet-a", received_utc=rec)
    r2 = store.insert_reports(batch.slice(half), owner=None, received_utc=rec)
    assert (r1, r2) == (InsertResult(half, 0), InsertResult(batch.num_rows - half, 0))
    assert store.count_reports() == batch.num_rows

    out = query_all(store)
    assert out.schema == STORED_REPORT_SCHEMA
    assert out.num_rows == batch.num_rows
    got, want = sort_by_key(out), sort_by_key(batch)
    for name in CORE_FIELDS:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    # nanoseconds survive (the times have non-zero sub-microsecond digits).
    ns = got.column("time_utc").cast(pa.int64()).to_numpy()
    assert np.any(ns % 1000 != 0)
    assert np.array_equal(ns, want.column("time_utc").cast(pa.int64()).to_numpy())
    # owner per batch, received time as given, no extras in a core-only batch.
    owners = dict(zip(keyset(batch.slice(0, half)), ["fleet-a"] * half, strict=True))
    got_keys = list(
        zip(
            got.column("object_id").to_pylist(),
            got.column("source").to_pylist(),
            ns.tolist(),
            strict=True,
        )
    )
    assert got.column("owner").to_pylist() == [owners.get(k) for k in got_keys]
    assert set(got.column("received_utc").to_pylist()) == {pd.Timestamp(rec)}
    assert got.column("extras").null_count == got.num_rows


def test_nan_core_values_are_stored_as_null(store: Store) -> None:
    cols = {f: [None] for f in CORE_FIELDS}
    cols.update(object_id=["uas:x"], source=["remoteid-net"], time_utc=[T0_NS])
    t = report_table(cols)
    t = t.set_column(3, "lat_deg", pa.array([float("nan")]))
    t = t.set_column(7, "speed_m_s", pa.array([float("inf")]))
    store.insert_reports(t)
    row = query_all(store).to_pylist()[0]
    assert row["lat_deg"] is None and row["speed_m_s"] is None


def _real_batches() -> list[pa.Table]:
    traffic = DATA / "traffic"
    ais, _ = decode_file(traffic / "ais" / "libais_tagblock.nmea", "ais")
    rid, _ = decode_file(traffic / "remoteid" / "odid_wifi_sample.pcap", "remoteid")
    adsb, _ = decode_file(traffic / "adsb" / "pymodes_sample_data_adsb.csv", "modes-csv")
    assert ais.num_rows > 0 and rid.num_rows > 0 and adsb.num_rows > 1000
    return [ais, rid, adsb]


def _same_json_value(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)
    return a == b


def test_extras_round_trip_with_real_decoded_batches(store: Store) -> None:
    for batch in _real_batches():
        extra_names = [n for n in batch.column_names if n not in CORE_FIELDS]
        assert extra_names
        res = store.insert_reports(batch, owner="feed")
        unique = keyset(batch)
        assert res.inserted == len(unique)
        assert res.duplicates == batch.num_rows - len(unique)
        # Expected extras per key: the non-null source-specific values of the input row;
        # rows whose key repeats in the input are skipped (which copy is kept is unspecified).
        rows = batch.to_pylist()
        by_key: dict[tuple, list[dict]] = {}
        for r in rows:
            k = (r["object_id"], r["source"], pd.Timestamp(r["time_utc"]).value)
            by_key.setdefault(k, []).append(r)
        out = query_all(store, sources=sorted(set(batch.column("source").to_pylist())))
        checked = 0
        for r in out.to_pylist():
            k = (r["object_id"], r["source"], pd.Timestamp(r["time_utc"]).value)
            if len(by_key.get(k, [])) != 1:
                continue
            src = by_key[k][0]
            want = {
                n: src[n]
                for n in extra_names
                if src[n] is not None and not (isinstance(src[n], float) and math.isnan(src[n]))
            }
            got = json.loads(r["extras"]) if r["extras"] is not None else {}
            assert set(got) == set(want), k
            for n, v in want.items():
                assert _same_json_value(got[n], v), (k, n, got[n], v)
            for f in CORE_FIELDS:
                assert r[f] == src[f] or (r[f] is None and src[f] is None), (k, f)
            checked += 1
        singletons = sum(1 for v in by_key.values() if len(v) == 1)
        assert checked == singletons > 0


def test_extras_edge_values(store: Store) -> None:
    cols = {f: [None] * 3 for f in CORE_FIELDS}
    cols.update(object_id=["uas:a", "uas:b", "uas:c"], source=["remoteid-net"] * 3)
    cols["time_utc"] = [T0_NS, T0_NS + 1, T0_NS + 2]
    t = report_table(
        cols,
        extras={
            'odd "name"\'s': pa.array(["a\nb", None, '\u96fe\u90fd \\ "q"']),
            "ratio": pa.array([0.1, float("nan"), 1 / 3]),
            "raw": pa.array([b"\x00\xff", None, b""], pa.binary()),
            "seen_utc": pa.array([T0_NS, None, 5], pa.timestamp("ns", tz="UTC")),
            "flags": pa.array([True, None, False]),
            "empty": pa.nulls(3, pa.string()),
        },
    )
    store.insert_reports(t)
    got = [json.loads(x) if x else None for x in query_all(store).column("extras").to_pylist()]
    assert got == [
        {
            'odd "name"\'s': "a\nb",
            "ratio": 0.1,
            "raw": "00ff",
            "seen_utc": "2026-03-01T06:00:00.000000000Z",
            "flags": True,
        },
        None,
        {
            'odd "name"\'s': '\u96fe\u90fd \\ "q"',
            "ratio": 1 / 3,
            "raw": "",
            "seen_utc": "1970-01-01T00:00:00.000000005Z",
            "flags": False,
        },
    ]


# -- reports: duplicates ---------------------------------------------------------------------
def test_duplicates_in_one_batch_and_across_batches(store: Store) -> None:
    batch = synthetic(1000)
    dup_in_batch = pa.concat_tables([batch, batch.slice(100, 50), batch.slice(100, 10)])
    r = store.insert_reports(dup_in_batch)
    assert r == InsertResult(inserted=1000, duplicates=60)
    # Overlapping second batch: 200 old keys + 300 new ones.
    more = synthetic(1300, seed=2, t0_ns=T0_NS + 10 * 86_400 * 10**9).slice(1000)
    r2 = store.insert_reports(pa.concat_tables([batch.slice(0, 200), more]))
    assert r2 == InsertResult(inserted=300, duplicates=200)
    assert store.count_reports() == len(keyset(batch) | keyset(more)) == 1300


def test_duplicates_across_close_and_reopen(backend: Backend) -> None:
    batch = synthetic(500)
    s1 = backend.open()
    assert s1.insert_reports(batch) == InsertResult(500, 0)
    s1.close()
    s2 = backend.open()
    assert s2.count_reports() == 500
    assert s2.insert_reports(batch.slice(250)) == InsertResult(0, 250)
    assert s2.count_reports() == 500


def test_new_mask_marks_the_rows_stored_by_this_call(store: Store) -> None:
    batch = synthetic(300)
    store.insert_reports(batch.slice(0, 100))
    # rows 0..99 stored before; 100..299 new; then 200..249 repeated, 0..9 repeated.
    again = pa.concat_tables([batch, batch.slice(200, 50), batch.slice(0, 10)])
    r = store.insert_reports(again, return_new_mask=True)
    want = np.zeros(again.num_rows, bool)
    want[100:300] = True
    assert (r.inserted, r.duplicates) == (200, 160)
    assert r.new_mask is not None and np.array_equal(r.new_mask, want)
    r2 = store.insert_reports(batch.slice(0, 5), return_new_mask=True)
    assert r2.new_mask is not None and not r2.new_mask.any() and r2.inserted == 0
    assert store.insert_reports(batch.slice(0, 5)).new_mask is None


def test_same_object_and_time_from_two_sources_are_distinct(store: Store) -> None:
    cols = {f: [None, None] for f in CORE_FIELDS}
    cols.update(object_id=["uas:a", "uas:a"], source=["remoteid-bcast", "remoteid-net"])
    cols["time_utc"] = [T0_NS, T0_NS]
    assert store.insert_reports(report_table(cols)) == InsertResult(2, 0)


def test_concurrent_writers_never_store_a_duplicate(backend: Backend) -> None:
    batch = synthetic(4000, seed=5)
    # Two writers (each with its own store object, as separate workers would have, except
    # for DuckDB which allows one writer process: there they share one store) insert
    # overlapping batches in different orders, several times.
    s1 = backend.open()
    s2 = backend.open() if backend.name == "postgres" else s1
    a = batch.slice(0, 3000)
    b = batch.slice(1000)
    b_rev = b.take(pa.array(np.arange(b.num_rows)[::-1]))
    results: list[InsertResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(s: Store, t: pa.Table) -> None:
        try:
            for i in range(0, t.num_rows, 500):
                r = s.insert_reports(t.slice(i, 500))
                with lock:
                    results.append(r)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(s1, a)),
        threading.Thread(target=work, args=(s2, b_rev)),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert sum(r.inserted for r in results) == 4000
    assert sum(r.duplicates for r in results) == 2000
    assert s1.count_reports() == 4000
    assert keyset(query_all(s1)) == keyset(batch)


def test_bad_batches_raise_format_errors(store: Store) -> None:
    batch = synthetic(10)
    with pytest.raises(FormatError, match="lat_deg"):
        store.insert_reports(batch.drop_columns(["lat_deg"]))
    nulls = batch.set_column(2, "time_utc", pa.nulls(10, pa.timestamp("ns", tz="UTC")))
    with pytest.raises(FormatError, match="time_utc"):
        store.insert_reports(nulls)
    assert store.count_reports() == 0
    assert store.insert_reports(batch.slice(0, 0)) == InsertResult(0, 0)


def test_far_past_and_future_times(store: Store) -> None:
    times = [
        pd.Timestamp("1700-01-01T00:00:00.000000001Z").value,
        pd.Timestamp("1969-12-31T23:59:59.999999999Z").value,
        pd.Timestamp("2261-12-31T12:00:00.5Z").value,
    ]
    cols = {f: [None] * 3 for f in CORE_FIELDS}
    cols.update(object_id=["mmsi:1", "mmsi:1", "mmsi:1"], source=["ais"] * 3, time_utc=times)
    assert store.insert_reports(report_table(cols)) == InsertResult(3, 0)
    got = query_all(store).column("time_utc").cast(pa.int64()).to_pylist()
    assert got == times
    window = store.query_reports(
        start=datetime(1969, 12, 31, tzinfo=UTC), end=datetime(1970, 1, 1, tzinfo=UTC)
    )
    assert window.column("time_utc").cast(pa.int64()).to_pylist() == [times[1]]


# -- reports: filters ----------------------------------------------------------------------
def _frame(batch: pa.Table, owners: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "object_id": batch.column("object_id").to_numpy(zero_copy_only=False),
            "source": batch.column("source").to_numpy(zero_copy_only=False),
            "t": batch.column("time_utc").cast(pa.int64()).to_numpy(),
            "lat": batch.column("lat_deg").to_numpy(zero_copy_only=False),
            "lon": batch.column("lon_deg").to_numpy(zero_copy_only=False),
            "owner": owners,
        }
    )
    df["kind"] = df["object_id"].str.split(":").str[0]
    return df


def _keys(df: pd.DataFrame) -> set[tuple[str, str, int]]:
    return set(zip(df["object_id"], df["source"], df["t"].astype(int).tolist(), strict=True))


@pytest.fixture
def loaded(store: Store) -> tuple[Store, pa.Table, pd.DataFrame]:
    batch = synthetic(3000, seed=3)
    n = batch.num_rows
    store.insert_reports(batch.slice(0, n // 3), owner="fleet-a")
    store.insert_reports(batch.slice(n // 3, n // 3), owner="fleet-b")
    store.insert_reports(batch.slice(2 * (n // 3)))
    owners = np.array(
        ["fleet-a"] * (n // 3) + ["fleet-b"] * (n // 3) + [None] * (n - 2 * (n // 3)),
        dtype=object,
    )
    return store, batch, _frame(batch, owners)


def test_query_filters_match_an_independent_filter(loaded) -> None:
    store, _batch, df = loaded
    bbox = (106.0, 29.5, 107.0, 30.25)
    start = T0 + timedelta(hours=20)
    end = T0 + timedelta(hours=50)
    s_ns, e_ns = int(start.timestamp()) * 10**9, int(end.timestamp()) * 10**9
    in_box = df.lat.between(29.5, 30.25) & df.lon.between(106.0, 107.0)
    in_time = (df.t >= s_ns) & (df.t < e_ns)
    some_ids = sorted(df.object_id.unique())[:5]
    cases = [
        ({"bbox": bbox}, in_box),
        ({"start": start, "end": end}, in_time),
        ({"kinds": ["mmsi", "uas"]}, df.kind.isin(["mmsi", "uas"])),
        ({"sources": ["adsb"]}, df.source == "adsb"),
        ({"owner": "fleet-b"}, df.owner == "fleet-b"),
        ({"object_ids": some_ids}, df.object_id.isin(some_ids)),
        (
            {"bbox": bbox, "start": start, "end": end, "kinds": ["icao24"], "owner": "fleet-a"},
            in_box & in_time & (df.kind == "icao24") & (df.owner == "fleet-a"),
        ),
        ({"object_ids": []}, df.t < 0),
    ]
    for kw, mask in cases:
        got = query_all(store, **kw)
        assert keyset(got) == _keys(df[mask]), kw
        t = got.column("time_utc").cast(pa.int64()).to_numpy()
        assert np.all(np.diff(t) >= 0), kw
    assert 0 < in_box.sum() < len(df)  # the cases are not trivial


def test_query_limit_returns_the_earliest(loaded) -> None:
    store, _batch, df = loaded
    got = store.query_reports(kinds=["uas"], limit=25)
    want = df[df.kind == "uas"].sort_values("t").head(25)
    assert got.column("time_utc").cast(pa.int64()).to_pylist() == want.t.tolist()


def test_bad_query_arguments(store: Store) -> None:
    with pytest.raises(FormatError, match="lat_min"):
        store.query_reports(bbox=(106.0, 30.0, 107.0, 29.0))
    with pytest.raises(FormatError, match="finite"):
        store.latest_reports(bbox=(106.0, 29.0, float("nan"), 30.0))
    with pytest.raises(FormatError, match="limit"):
        store.query_reports(limit=-1)
    with pytest.raises(FormatError, match="limit"):
        store.list_alerts(limit=-5)


def test_antimeridian_bbox(store: Store) -> None:
    cols = {f: [None] * 3 for f in CORE_FIELDS}
    cols.update(
        object_id=["mmsi:1", "mmsi:2", "mmsi:3"],
        source=["ais"] * 3,
        time_utc=[T0_NS] * 3,
        lat_deg=[10.0, 10.0, 10.0],
        lon_deg=[179.5, -179.5, 0.0],
    )
    store.insert_reports(report_table(cols))
    got = store.query_reports(bbox=(179.0, 0.0, -179.0, 20.0))
    assert sorted(got.column("object_id").to_pylist()) == ["mmsi:1", "mmsi:2"]


def test_latest_reports_match_pandas_groupby(loaded) -> None:
    store, _batch, df = loaded
    since = T0 + timedelta(hours=30)
    since_ns = int(since.timestamp()) * 10**9

    def want(frame: pd.DataFrame) -> set:
        last = frame.loc[frame.groupby("object_id")["t"].idxmax()]
        return _keys(last)

    assert keyset(store.latest_reports()) == want(df)
    got = store.latest_reports(kinds=["mmsi", "jt808"], since=since, owner="fleet-b")
    sub = df[df.kind.isin(["mmsi", "jt808"]) & (df.t >= since_ns) & (df.owner == "fleet-b")]
    assert keyset(got) == want(sub) and len(sub) > 0
    # bbox applies to each object's latest position (where it is now).
    bbox = (105.5, 29.0, 106.5, 30.0)
    last = df.loc[df.groupby("object_id")["t"].idxmax()]
    in_box = last.lat.between(29.0, 30.0) & last.lon.between(105.5, 106.5)
    got = store.latest_reports(bbox=bbox)
    assert keyset(got) == _keys(last[in_box])
    assert got.column("object_id").to_pylist() == sorted(last[in_box].object_id)
    assert store.latest_reports(limit=3).num_rows == 3


# -- retention -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("days_after", "rules"),
    [
        # Cut-offs inside the data span: row-by-row deletion.
        (3, {"remoteid-bcast": 86_400, "ais": 2 * 86_400, "*": 2.5 * 86_400}),
        # The first days are past every cut-off: PostgreSQL drops whole day partitions.
        (4.6, {"remoteid-bcast": 86_400, "*": 1.3 * 86_400}),
        # Everything is old.
        (30, {"remoteid-bcast": 86_400, "remoteid-net": 86_400, "*": 90 * 86_400 / 10}),
    ],
)
def test_retention_deletes_exactly_the_old_rows_per_source(loaded, days_after, rules) -> None:
    store, _batch, df = loaded
    now = T0 + timedelta(days=days_after)
    now_ns = int(now.timestamp() * 10**6) * 1000
    cutoff = df.source.map(lambda s: rules.get(s, rules["*"])) * 1e9
    old = df.t < now_ns - cutoff.astype(np.int64)
    want_counts = df[old].groupby("source").size().to_dict()
    assert want_counts and len(df[~old]) + len(df[old]) == len(df)
    assert store.apply_retention(now, rules) == want_counts
    assert keyset(query_all(store)) == _keys(df[~old])
    assert store.apply_retention(now, rules) == {}
    # Inserting into an emptied (possibly dropped) day works again.
    again = store.insert_reports(_batch.slice(0, 50))
    assert again.inserted == int(old.iloc[:50].sum())


def test_retention_without_default_keeps_other_sources(loaded) -> None:
    store, _batch, df = loaded
    now = T0 + timedelta(days=3)
    got = store.apply_retention(now, {"remoteid-bcast": 86_400})
    old = (df.source == "remoteid-bcast") & (df.t < int(now.timestamp() - 86_400) * 10**9)
    assert got == {"remoteid-bcast": int(old.sum())}
    assert store.count_reports() == len(df) - int(old.sum())
    with pytest.raises(FormatError):
        store.apply_retention(now, {"ais": -1})


# -- zones and intents -------------------------------------------------------------------
def _zone(zid: str, name: str) -> dict:
    return {
        "type": "Feature",
        "id": zid,
        "properties": {"name": name, "kind": "no-fly", "lower_m": 0, "upper_m": 120.5},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[106.5, 29.5], [106.6, 29.5], [106.6, 29.6], [106.5, 29.5]]],
        },
    }


def test_zone_versions_and_conflicts(store: Store) -> None:
    assert store.put_zone(_zone("cq-1", "a")) == 1
    assert store.put_zone(_zone("cq-1", "b")) == 2
    assert store.get_zone("cq-1") == (_zone("cq-1", "b"), 2)
    assert store.put_zone(_zone("cq-1", "c"), expected_version=2) == 3
    with pytest.raises(VersionConflict) as err:
        store.put_zone(_zone("cq-1", "d"), expected_version=2)
    assert err.value.current == 3
    with pytest.raises(VersionConflict):
        store.put_zone(_zone("cq-1", "d"), expected_version=0)
    assert store.put_zone(_zone("cq-0", "new"), expected_version=0) == 1
    with pytest.raises(NotFound):
        store.put_zone(_zone("nope", "x"), expected_version=4)
    assert store.get_zone("cq-1")[0]["properties"]["name"] == "c"
    assert [(z["id"], v) for z, v in store.list_zones()] == [("cq-0", 1), ("cq-1", 3)]
    with pytest.raises(VersionConflict):
        store.delete_zone("cq-1", expected_version=1)
    store.delete_zone("cq-1", expected_version=3)
    store.delete_zone("cq-0")
    with pytest.raises(NotFound):
        store.get_zone("cq-1")
    with pytest.raises(NotFound):
        store.delete_zone("cq-1")
    assert store.list_zones() == []
    with pytest.raises(FormatError):
        store.put_zone({"type": "Feature"})


def test_intents(store: Store) -> None:
    i1 = {"id": "op-1", "state": "Accepted", "owner": "fleet-a", "priority": 0, "volumes": []}
    i2 = {"id": "op-2", "state": "Activated", "owner": "fleet-b", "version": 99}
    assert store.put_intent(i1) == 1
    assert store.put_intent(i2) == 1
    body, v = store.get_intent("op-2")
    assert v == 1 and body["version"] == 1 and body["owner"] == "fleet-b"
    assert store.put_intent({**i1, "state": "Activated"}, expected_version=1) == 2
    with pytest.raises(VersionConflict):
        store.put_intent({**i1, "state": "Ended"}, expected_version=1)
    assert [b["id"] for b, _ in store.list_intents(states=["Activated"])] == ["op-1", "op-2"]
    assert [b["id"] for b, _ in store.list_intents(owner="fleet-a")] == ["op-1"]
    assert store.list_intents(states=["Ended"]) == []
    assert store.list_intents(states=["Activated"], owner="fleet-b")[0][0]["id"] == "op-2"
    with pytest.raises(NotFound):
        store.get_intent("op-3")


# -- alerts ----------------------------------------------------------------------------------
def _events(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    names = ALERT_EVENT_SCHEMA.names
    data = {n: list(c) for n, c in zip(names, cols, strict=True)}
    for n in ("first_time_utc", "last_time_utc"):
        data[n] = pa.array([pd.Timestamp(x).value for x in data[n]], pa.int64()).cast(
            pa.timestamp("ns", tz="UTC")
        )
    return pa.table(data, schema=ALERT_EVENT_SCHEMA)


def test_alerts_upsert_ack_and_filters(store: Store) -> None:
    t1, t2, t3 = T0, T0 + timedelta(seconds=30), T0 + timedelta(minutes=5)
    store.upsert_alerts(
        _events(
            [
                ("z:1", "zone-violation", "uas:a", "cq-1", "critical", "raised", t1, t1, 1, "{}"),
                ("c:1", "conflict", "uas:a", "uas:b", "warning", "raised", t1, t1, 1, '{"d":5}'),
                ("z:1", "zone-violation", "uas:a", "cq-1", "critical", "updated", t1, t2, 2, "{}"),
            ]
        )
    )
    z = store.get_alert("z:1")
    assert (z["state"], z["count"], z["last_time_utc"]) == ("updated", 2, t2)
    acked = store.ack_alert("c:1", by="regulator-1", at=t2)
    assert (acked["acked_by"], acked["acked_utc"], acked["details"]) == (
        "regulator-1",
        t2,
        '{"d":5}',
    )
    # A later event for the acknowledged alert keeps the acknowledgement.
    store.upsert_alerts(
        _events([("c:1", "conflict", "uas:a", "uas:b", "warning", "cleared", t1, t3, 3, "{}")])
    )
    c = store.get_alert("c:1")
    assert (c["state"], c["acked_by"], c["last_time_utc"]) == ("cleared", "regulator-1", t3)
    assert [a["alert_id"] for a in store.list_alerts()] == ["c:1", "z:1"]
    assert [a["alert_id"] for a in store.list_alerts(acknowledged=False)] == ["z:1"]
    assert [a["alert_id"] for a in store.list_alerts(acknowledged=True)] == ["c:1"]
    assert [a["alert_id"] for a in store.list_alerts(states=["updated"])] == ["z:1"]
    assert [a["alert_id"] for a in store.list_alerts(kinds=["conflict"])] == ["c:1"]
    assert [a["alert_id"] for a in store.list_alerts(since=t3)] == ["c:1"]
    assert len(store.list_alerts(limit=1)) == 1
    with pytest.raises(NotFound):
        store.get_alert("x")
    with pytest.raises(NotFound):
        store.ack_alert("x", by="r", at=t3)
    store.upsert_alerts(ALERT_EVENT_SCHEMA.empty_table())


# -- quarantine, audit, keys, jobs, catalogs --------------------------------------------
def test_quarantine_round_trip(store: Store) -> None:
    items = [
        Quarantined(T0, "ais", "bad checksum", b"!AIVDM,1,1,,A,xx*00", "mqtt:kt/ais"),
        Quarantined(T0 + timedelta(seconds=1), "jt808", "short frame", b"\x7e\x00\xff", "tcp:1"),
    ]
    store.quarantine(items)
    store.quarantine([])
    assert store.count_quarantine() == 2
    got = store.list_quarantine()
    assert [(g["received_utc"], g["source"], g["reason"], g["raw"], g["origin"]) for g in got] == [
        (q.received_utc, q.source, q.reason, q.raw, q.origin) for q in reversed(items)
    ]
    assert len(store.list_quarantine(limit=1)) == 1


def test_audit_log(store: Store) -> None:
    for i in range(3):
        store.audit(
            at=T0 + timedelta(seconds=i),
            key_id=f"k{i}",
            role="regulator",
            action="put_zone",
            target=f"zone/cq-{i}",
            detail={"version": i} if i else None,
        )
    got = store.list_audit(limit=2)
    assert [(a["key_id"], a["target"], a["detail"], a["at"]) for a in got] == [
        ("k2", "zone/cq-2", {"version": 2}, T0 + timedelta(seconds=2)),
        ("k1", "zone/cq-1", {"version": 1}, T0 + timedelta(seconds=1)),
    ]
    assert store.list_audit()[-1]["detail"] is None


def test_keys_and_revoke(store: Store) -> None:
    store.put_key(key_id="a1", key_hash="h" * 64, role="admin", owner=None, created_utc=T0)
    store.put_key(
        key_id="o1",
        key_hash="0" * 64,
        role="operator",
        owner="fleet-a",
        created_utc=T0 + timedelta(seconds=1),
        label="drone ops",
    )
    k = store.key_by_hash("0" * 64)
    assert k is not None and (k["key_id"], k["role"], k["owner"], k["label"]) == (
        "o1",
        "operator",
        "fleet-a",
        "drone ops",
    )
    assert store.key_by_hash("f" * 64) is None
    store.revoke_key("o1")
    assert store.key_by_hash("0" * 64) is None
    assert store.key_by_hash("h" * 64)["key_id"] == "a1"
    keys = store.list_keys()
    assert [(x["key_id"], x["revoked_utc"] is not None) for x in keys] == [
        ("a1", False),
        ("o1", True),
    ]
    with pytest.raises(NotFound):
        store.revoke_key("nope")


def test_jobs_and_catalogs(store: Store) -> None:
    store.put_job({"id": "j1", "kind": "passes", "state": "running", "progress": 0.25})
    store.put_job({"id": "j2", "kind": "coverage", "state": "queued", "progress": 0.0})
    store.put_job({"id": "j1", "kind": "passes", "state": "done", "progress": 1.0, "at": T0})
    assert store.get_job("j1") == {
        "id": "j1",
        "kind": "passes",
        "state": "done",
        "progress": 1.0,
        "at": "2026-03-01T06:00:00Z",
    }
    assert [j["id"] for j in store.list_jobs()] == ["j1", "j2"]
    with pytest.raises(NotFound):
        store.get_job("j3")
    tle = (DATA / "starlink_tle_2025-01-23_celestrak_via_pioet_first300.txt").read_text()
    store.put_catalog("starlink", tle, fmt="tle")
    store.put_catalog("mario", "x", fmt="omm-json")
    store.put_catalog("mario", "{}", fmt="omm-json")
    assert store.get_catalog("starlink") == (tle, "tle")
    assert [(c["name"], c["fmt"], c["size"]) for c in store.list_catalogs()] == [
        ("mario", "omm-json", 2),
        ("starlink", "tle", len(tle)),
    ]
    with pytest.raises(NotFound):
        store.get_catalog("oneweb")


# -- opening -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///x.db",
        "duckdb://",
        f"{PG}?schema=bad-name;drop",
        f"{PG}?schema=Upper",
        "postgresql://postgres@127.0.0.1:1/test",
    ],
)
def test_bad_store_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


def test_duckdb_memory_url() -> None:
    s = open_store("duckdb://:memory:")
    try:
        assert s.insert_reports(synthetic(20)) == InsertResult(20, 0)
    finally:
        s.close()


# -- PostgreSQL specifics ------------------------------------------------------------------
def test_postgres_partitions_by_day(tmp_path: Path) -> None:
    schema = f"kt_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    s = open_store(f"{PG}?schema={schema}")
    try:
        batch = synthetic(500)  # 2026-03-01 06:00 .. 2026-03-04 06:00
        s.insert_reports(batch)
        parts = admin.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'reports' AND n.nspname = %s ORDER BY 1",
            [schema],
        ).fetchall()
        names = [p[0] for p in parts]
        assert names == [f"reports_2026030{d}" for d in (1, 2, 3, 4)]
        day0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()) * 10**9
        assert parts[0][1] == f"FOR VALUES FROM ('{day0}') TO ('{day0 + 86_400 * 10**9}')"
        # Rows sit in the partition of their UTC day.
        n_first = admin.execute(f'SELECT count(*) FROM "{schema}".reports_20260301').fetchone()
        ns = batch.column("time_utc").cast(pa.int64()).to_numpy()
        assert n_first[0] == int((ns < day0 + 86_400 * 10**9).sum())
        # A retention past whole days drops those partitions.
        s.apply_retention(datetime(2026, 3, 3, 12, tzinfo=UTC), {"*": 86_400})
        left = admin.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'reports_%%'",
            [schema],
        ).fetchone()
        assert left[0] == 3  # 03-01 dropped whole; 03-02 keeps its rows after 12:00
    finally:
        s.close()
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


def test_postgres_position_index_option() -> None:
    schema = f"kt_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    s = open_store(f"{PG}?schema={schema}&position_index=false")
    try:
        idx = admin.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'reports'",
            [schema],
        ).fetchall()
        assert "reports_position" not in {i[0] for i in idx}
        assert "reports_time" in {i[0] for i in idx}
        batch = synthetic(300)
        s.insert_reports(batch)
        df = _frame(batch, np.array([None] * 300, dtype=object))
        got = s.query_reports(bbox=(106.0, 29.5, 107.0, 30.5))
        assert keyset(got) == _keys(df[df.lat.between(29.5, 30.5) & df.lon.between(106.0, 107.0)])
        s.close()
        s = open_store(f"{PG}?schema={schema}")  # the default adds the index
        idx = admin.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'reports'",
            [schema],
        ).fetchall()
        assert "reports_position" in {i[0] for i in idx}
        installed = admin.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
        assert (s.postgis is not None) == (installed.fetchone() is not None)
    finally:
        s.close()
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()
    with pytest.raises(ConfigError, match="position_index"):
        open_store(f"{PG}?schema={schema}&position_index=maybe")


# -- DuckDB specifics ----------------------------------------------------------------------
def test_duckdb_file_held_by_another_process_is_a_config_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(ConfigError, match="held.duckdb"):
            open_store(f"duckdb://{path}")
    finally:
        holder.communicate("", timeout=30)


def test_postgres_two_writer_processes_store_each_key_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    import pyarrow.parquet as pq

    schema = f"kt_test_{uuid.uuid4().hex[:12]}"
    url = f"{PG}?schema={schema}"
    admin = _pg_admin()
    batch = synthetic(6000, seed=9)
    pq.write_table(batch.slice(0, 4000), tmp_path / "a.parquet")
    pq.write_table(
        batch.slice(2000).take(pa.array(np.arange(3999, -1, -1))), tmp_path / "b.parquet"
    )
    script = (
        "import sys, pyarrow.parquet as pq\n"
        "from kongtian.platform.store import open_store\n"
        "s = open_store(sys.argv[1]); t = pq.read_table(sys.argv[2]); ins = dup = 0\n"
        "for i in range(0, t.num_rows, 400):\n"
        "    r = s.insert_reports(t.slice(i, 400)); ins += r.inserted; dup += r.duplicates\n"
        "print(ins, dup); s.close()\n"
    )
    open_store(url).close()  # create the schema once, as a deployment would
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, url, str(tmp_path / f)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for f in ("a.parquet", "b.parquet")
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        counts = [tuple(map(int, o[0].split())) for o in outs]
        assert sum(c[0] for c in counts) == 6000
        assert sum(c[1] for c in counts) == 2000
        n = admin.execute(f'SELECT count(*) FROM "{schema}".reports').fetchone()
        distinct = admin.execute(
            f'SELECT count(*) FROM (SELECT DISTINCT object_id, source, time_ns FROM "{schema}".reports) d'
        ).fetchone()
        assert n[0] == distinct[0] == 6000
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()
