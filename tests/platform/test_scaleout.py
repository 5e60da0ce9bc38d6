"""Acceptance: two ingest worker processes share one JetStream consumer into PostgreSQL.

``kongtian ingest nats --store postgresql://...?schema=<unique>`` twice, both bound to
the same durable pull consumer; N reports published to the stream; all N must be in
PostgreSQL exactly once and both workers must have taken a share (the split is
printed with ``-s``).
"""

from __future__ import annotations

import asyncio
import os

import psycopg
import pytest

from tests.platform._ingest_helpers import (
    PG_BASE,
    Worker,
    report_json,
    require_service,
    unique,
    wait_until,
)

N = int(os.environ.get("KT_SCALEOUT_N", "6000"))


async def _publish(subject_prefix: str, n: int) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    try:
        js = nc.jetstream()
        for start in range(0, n, 250):
            await asyncio.gather(
                *(
                    js.publish(f"{subject_prefix}.reports-json.site{i % 3}", report_json(i))
                    for i in range(start, min(start + 250, n))
                )
            )
    finally:
        await nc.close()


async def _delete_stream(stream: str) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # noqa: BLE001 - already gone
        pass
    finally:
        await nc.close()


@pytest.fixture
def pg_schema():
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = unique("h4scale")
    yield schema
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_two_workers_share_one_consumer(pg_schema: str) -> None:
    from kongtian.platform.store import open_store

    require_service("NATS", "127.0.0.1", 4222)
    stream = unique("KT_SCALE_").upper()
    prefix = f"{unique('kt')}.ingest"
    url = f"{PG_BASE}?schema={pg_schema}"
    args = [
        "nats",
        "--store",
        url,
        "--stream",
        stream,
        "--durable",
        "workers",
        "--prefix",
        prefix,
        "--batch-max",
        "200",
        "--stats",
    ]
    workers: list[Worker] = []
    try:
        workers = [Worker(args)]
        workers[0].wait_ready()  # the first creates stream, consumer and tables
        workers.append(Worker(args))
        workers[1].wait_ready()
        asyncio.run(_publish(prefix, N))
        handled = lambda: sum(w.total("messages") for w in workers)  # noqa: E731
        wait_until(lambda: handled() >= N, 180, f"{N} messages committed")
        wait_until(lambda: workers[0].idle_for(1.0) and workers[1].idle_for(0.2), 60, "idle")
        for w in workers:
            assert w.terminate() == 0, w.stderr[-2000:]
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
        asyncio.run(_delete_stream(stream))

    store = open_store(url)
    try:
        rows = store.count_reports()
        keys = store.query_reports(limit=10 * N).select(["object_id", "source", "time_utc"])
        distinct = keys.group_by(["object_id", "source", "time_utc"]).aggregate([]).num_rows
    finally:
        store.close()
    split = [w.total("accepted") for w in workers]
    msgs = [w.total("messages") for w in workers]
    redelivered = sum(w.total("redelivered") for w in workers)
    print(
        f"\nscale-out: N={N} published to JetStream stream {stream}; 2 workers, one durable "
        f"consumer; messages per worker={msgs}, reports accepted per worker={split}; "
        f"redeliveries={redelivered}; PostgreSQL rows={rows}, distinct dedup keys={distinct}"
    )
    assert rows == N
    assert distinct == N
    assert sum(split) == N
    assert all(s > 0 for s in split), f"one worker took nothing: {split}"
