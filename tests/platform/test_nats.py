"""NATS JetStream adapter against the server on 127.0.0.1:4222 (a stream per test)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from kongtian.platform.ingest.nats import NatsIngest
from tests.platform._ingest_helpers import report_json, require_service, unique, wait_until


@pytest.fixture
def service() -> Iterator[Any]:
    from kongtian.platform.service import Service
    from kongtian.platform.store import open_store

    require_service("NATS", "127.0.0.1", 4222)
    svc = Service(open_store("duckdb://:memory:"))
    yield svc
    svc.close()
    svc.store.close()


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    stream, prefix = unique("KT_TEST_").upper(), f"{unique('kt')}.ingest"
    yield stream, prefix

    async def drop() -> None:
        import nats

        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:  # noqa: BLE001 - never created
            pass
        await nc.close()

    asyncio.run(drop())


async def _publish(items: list[tuple[str, bytes]]) -> None:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    for start in range(0, len(items), 200):
        await asyncio.gather(*(js.publish(s, p) for s, p in items[start : start + 200]))
    await nc.close()


async def _consumer_state(stream: str, durable: str) -> tuple[int, int]:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    info = await nc.jetstream().consumer_info(stream, durable)
    await nc.close()
    return info.num_pending, info.num_ack_pending


def test_commits_acks_and_quarantines(service, names) -> None:  # type: ignore[no-untyped-def]
    stream, prefix = names
    n = 2000
    adapter = NatsIngest(service, stream=stream, durable="d", prefix=prefix, batch_max=300)
    adapter.start()
    try:
        items = [(f"{prefix}.reports-json.s1", report_json(i)) for i in range(n)]
        items += [(f"{prefix}.reports-json", b"[1, 2"), (f"{prefix}.what-is-this", b"x")]
        asyncio.run(_publish(items))
        wait_until(lambda: adapter.stats.messages >= n + 2, 30, "all messages committed")
    finally:
        adapter.stop()
    assert service.store.count_reports() == n
    assert service.store.count_quarantine() == 2
    # every message acked: nothing pending, nothing waiting for an ack
    assert asyncio.run(_consumer_state(stream, "d")) == (0, 0)


def test_unacked_messages_are_redelivered_and_stored_once(service, names) -> None:  # type: ignore[no-untyped-def]
    """A 'worker' fetches 50 messages and dies without acking: after ack_wait JetStream
    redelivers them to the adapter, which stores each report once."""
    stream, prefix = names
    first = NatsIngest(service, stream=stream, durable="d", prefix=prefix, ack_wait_s=1.0)
    first.start()  # creates stream and consumer
    first.stop()
    n = 120
    asyncio.run(_publish([(f"{prefix}.reports-json", report_json(i)) for i in range(n)]))

    async def grab_without_ack() -> int:
        import nats

        nc = await nats.connect("nats://127.0.0.1:4222")
        sub = await nc.jetstream().pull_subscribe_bind(durable="d", stream=stream)
        msgs = await sub.fetch(50, timeout=5)
        await nc.close()  # gone without acking
        return len(msgs)

    held = asyncio.run(grab_without_ack())
    adapter = NatsIngest(service, stream=stream, durable="d", prefix=prefix, ack_wait_s=1.0)
    adapter.start()
    try:
        wait_until(lambda: adapter.stats.messages >= n, 30, "redelivery after ack_wait")
    finally:
        adapter.stop()
    assert held == 50
    # the held ones come back (others too if a commit outlasted ack_wait on a busy machine)
    assert adapter.stats.redelivered >= held
    assert service.store.count_reports() == n
    assert asyncio.run(_consumer_state(stream, "d")) == (0, 0)


def test_bad_options_are_clear_errors(service) -> None:  # type: ignore[no-untyped-def]
    from kongtian.errors import ConfigError

    with pytest.raises(ConfigError, match="--url"):
        NatsIngest(service, url="mqtt://127.0.0.1:4222")
    with pytest.raises(ConfigError, match="--max-ack-pending"):
        NatsIngest(service, batch_max=100, max_ack_pending=10)
    with pytest.raises(ConfigError, match="--url"):
        NatsIngest(service, url="nats://127.0.0.1:1", connect_timeout_s=1).start()
