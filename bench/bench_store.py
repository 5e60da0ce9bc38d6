"""Report store ingest: ``Store.insert_reports`` rows/s into DuckDB and PostgreSQL.

Claim: the store is not the bottleneck of the >= 50k reports/s batch-ingest goal of
issue 4: both backends insert de-duplicated batches (primary key on object_id, source,
time; extras as JSON) well above it. Anchors, in the same run on the same rows: the
fastest plain bulk load each database offers into a table with no key and no index
(DuckDB ``INSERT ... SELECT`` from the registered Arrow table; PostgreSQL ``COPY`` of
the same CSV) - the floor our de-duplication, JSON extras and partitioning add to.

Rows: ``--rows`` synthetic reports (default 100k; 500 objects over one day, ns times,
two extra columns, some nulls) inserted in ``--batch`` sized calls (default 5000), then
the whole set again (all duplicates); once plain and once with ``return_new_mask=True``
(what the service asks for). PostgreSQL: 127.0.0.1:5432 database ``test``, in a
throw-away schema.

Run: ``.venv/bin/python bench/bench_store.py [--rows N] [--batch B] [--no-pg]``.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from kongtian.model.report import report_table
from kongtian.platform.store import open_store

PG = "postgresql://postgres@127.0.0.1:5432/test"


def reports(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    obj = rng.integers(0, 500, n)
    ids = pa.array(np.char.add("icao24:", np.char.zfill(obj.astype(str), 6)))
    t = 1_772_000_000 * 10**9 + np.sort(rng.integers(0, 86_400 * 10**9, n))
    f = rng.random((6, n))
    callsign = np.where(rng.random(n) < 0.5, None, np.char.add("CES", obj.astype(str)))
    return report_table(
        {
            "object_id": ids,
            "source": pa.array(["adsb"] * n),
            "time_utc": t,
            "lat_deg": 29 + f[0],
            "lon_deg": 106 + f[1],
            "alt_m": f[2] * 1e4,
            "alt_ref": pa.array(["baro"] * n),
            "speed_m_s": f[3] * 250,
            "track_deg": f[4] * 360,
            "vrate_m_s": np.where(f[5] < 0.2, np.nan, f[5]),
        },
        extras={"callsign": callsign, "nac_p": rng.integers(0, 12, n)},
    )


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(name: str, url: str, table: pa.Table, batch: int, anchor, mask: bool) -> None:
    store = open_store(url)
    try:
        n = table.num_rows

        def ours() -> None:
            for i in range(0, n, batch):
                store.insert_reports(table.slice(i, batch), return_new_mask=mask)

        dt = timed(ours)
        dt_dup = timed(lambda: store.insert_reports(table, return_new_mask=mask))
        assert store.count_reports() == n
        dt_anchor = anchor(store)
        print(
            f"{name:9s} new_mask={mask!s:5s} ours {n / dt:9,.0f} rows/s "
            f"(batches of {batch}), re-insert (all duplicates) {n / dt_dup:9,.0f} rows/s; "
            f"anchor plain bulk load {n / dt_anchor:9,.0f} rows/s; "
            f"ours/anchor {dt_anchor / dt:.2f}; goal 50,000 rows/s: "
            f"{'met' if n / dt >= 50_000 else 'NOT met'}"
        )
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    table = reports(args.rows)
    plain = table.select(list(table.column_names[:10]))
    plain = plain.set_column(2, "time_ns", plain.column("time_utc").cast(pa.int64()))

    def duck_anchor(store) -> float:
        con = store._con  # same process, same database: the anchor shares our conditions
        con.execute(
            "CREATE TABLE plain AS SELECT * EXCLUDE (owner, received_ns, extras) FROM reports LIMIT 0"
        )
        con.register("plain_in", plain)
        return timed(lambda: con.execute("INSERT INTO plain SELECT * FROM plain_in"))

    for mask in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"duckdb://{Path(tmp) / 'bench.duckdb'}"
            run("duckdb", url, table, args.batch, duck_anchor, mask)
    if args.no_pg:
        return
    import psycopg

    buf = io.BytesIO()
    pacsv.write_csv(plain, buf, pacsv.WriteOptions(include_header=False))

    def pg_anchor(store) -> float:
        schema = store.schema
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {schema}.plain (object_id text, source text, time_ns bigint, "
                "lat_deg float8, lon_deg float8, alt_m float8, alt_ref text, speed_m_s float8, "
                "track_deg float8, vrate_m_s float8)"
            )

            def copy() -> None:
                with conn.cursor().copy(f"COPY {schema}.plain FROM STDIN (FORMAT csv)") as cp:
                    cp.write(buf.getvalue())

            return timed(copy)

    for mask in (False, True):
        schema = f"kt_bench_{uuid.uuid4().hex[:8]}"
        try:
            run("postgres", f"{PG}?schema={schema}", table, args.batch, pg_anchor, mask)
        finally:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
