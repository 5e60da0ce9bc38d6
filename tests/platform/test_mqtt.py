"""MQTT adapter against the Mosquitto on 127.0.0.1:1883 (unique topic prefix per test).

Message counts stay below Mosquitto's default ``max_queued_messages`` (1000) so the
shared broker never drops anything for reasons of its own configuration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kongtian.platform.ingest.mqtt import MqttIngest
from tests.platform._ingest_helpers import (
    Mosquitto,
    report_json,
    require_service,
    unique,
    wait_until,
)


@pytest.fixture
def service() -> Iterator[Any]:
    from kongtian.platform.service import Service
    from kongtian.platform.store import open_store

    require_service("Mosquitto", "127.0.0.1", 1883)
    svc = Service(open_store("duckdb://:memory:"))
    yield svc
    svc.close()
    svc.store.close()


@pytest.fixture
def publisher() -> Iterator[Any]:
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("pub"))
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    yield pub
    pub.disconnect()
    pub.loop_stop()


def _publish(pub: Any, topic: str, payloads: list[bytes]) -> None:
    infos = [pub.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)


def _drop_session(client_id: str) -> None:
    """Connect once with clean start and no expiry so the broker forgets the session."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", 1883, clean_start=True)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def test_commits_acks_and_quarantines(service, publisher) -> None:  # type: ignore[no-untyped-def]
    prefix, cid = f"{unique('kt')}/ingest", unique("ingest")
    n = 600
    adapter = MqttIngest(service, topics=(prefix + "/#",), prefix=prefix, client_id=cid)
    adapter.start()
    try:
        _publish(publisher, f"{prefix}/reports-json/site-a", [report_json(i) for i in range(n)])
        _publish(publisher, f"{prefix}/reports-json/site-a", [b"{not json", b'{"lat_deg": 1}'])
        _publish(publisher, f"{prefix}/no-such-format", [b"hello"])
        wait_until(lambda: adapter.stats.messages >= n + 3, 30, "all messages committed")
    finally:
        adapter.stop()
    store = service.store
    assert store.count_reports() == n
    assert store.count_quarantine() == 3
    reasons = [q["reason"] for q in store.list_quarantine(limit=10)]
    assert any("no known format" in r for r in reasons)
    assert all(q["origin"].startswith(f"mqtt:{prefix}/") for q in store.list_quarantine())
    # everything was acked: the same session, resumed, gets nothing again
    again = MqttIngest(service, topics=(prefix + "/#",), prefix=prefix, client_id=cid)
    again.start()
    time.sleep(1.0)
    again.stop()
    _drop_session(cid)
    assert again.stats.messages == 0


def test_persistent_session_keeps_messages_while_down(service, publisher) -> None:  # type: ignore[no-untyped-def]
    prefix, cid = f"{unique('kt')}/ingest", unique("ingest")
    first = MqttIngest(service, topics=(prefix + "/#",), prefix=prefix, client_id=cid)
    first.start()
    first.stop()  # the session (and its subscription) stays on the broker
    n = 400
    _publish(publisher, f"{prefix}/reports-json", [report_json(i) for i in range(n)])
    second = MqttIngest(service, topics=(prefix + "/#",), prefix=prefix, client_id=cid)
    second.start()
    try:
        wait_until(lambda: second.stats.messages >= n, 30, "messages queued while down")
    finally:
        second.stop()
        _drop_session(cid)
    assert service.store.count_reports() == n


def test_backpressure_bounded_queue(service, publisher) -> None:  # type: ignore[no-untyped-def]
    """A slow store: the hand-over queue never exceeds its bound and nothing is lost."""

    class SlowService:
        def __init__(self, inner: Any) -> None:
            self.inner, self.store = inner, inner.store

        def ingest_raw(self, *a: Any, **k: Any) -> Any:
            time.sleep(0.05)  # a store that commits 20 batches/s at most
            return self.inner.ingest_raw(*a, **k)

    prefix, cid = f"{unique('kt')}/ingest", unique("ingest")
    adapter = MqttIngest(
        SlowService(service), topics=(prefix + "/#",), prefix=prefix, client_id=cid, batch_max=10
    )
    adapter.start()
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], adapter._queue.qsize())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    n = 500
    try:
        _publish(publisher, f"{prefix}/reports-json", [report_json(i) for i in range(n)])
        wait_until(lambda: adapter.stats.messages >= n, 60, "slow commits to finish")
    finally:
        stop.set()
        adapter.stop()
        _drop_session(cid)
    print(f"\nmqtt backpressure: queue bound {adapter.queue_max}, peak {peak[0]}")
    assert adapter.queue_max == 20
    assert 0 < peak[0] <= adapter.queue_max
    assert service.store.count_reports() == n


def test_unreachable_broker_is_a_clear_error(service) -> None:  # type: ignore[no-untyped-def]
    from kongtian.errors import ConfigError

    with pytest.raises(ConfigError, match="--url"):
        MqttIngest(service, url="mqtt://127.0.0.1:1").start()
    with pytest.raises(ConfigError, match="--url"):
        MqttIngest(service, url="http://127.0.0.1:1883")


def test_broker_restart_mid_stream_loses_nothing(service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A private Mosquitto restarted while reports flow: paho reconnects, the session
    resumes, unacked messages come again; every report is stored once."""
    import paho.mqtt.client as mqtt

    broker = Mosquitto(tmp_path)
    adapter = MqttIngest(
        service,
        url=f"mqtt://127.0.0.1:{broker.port}",
        client_id=unique("ingest"),
        batch_max=50,
    )
    adapter.start()
    pub = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=unique("pub"), protocol=mqtt.MQTTv5
    )
    pub.max_queued_messages_set(0)
    pub.reconnect_delay_set(0.2, 1)
    try:
        pub.connect("127.0.0.1", broker.port, clean_start=False)
        pub.loop_start()
        n = 1500

        def send(i: int) -> None:
            # while the broker is down paho refuses; the publisher retries (at least once)
            while True:
                info = pub.publish("kongtian/ingest/reports-json/a", report_json(i), qos=1)
                try:
                    info.wait_for_publish(10)
                    return
                except (RuntimeError, ValueError):
                    time.sleep(0.1)

        for i in range(n):
            if i == n // 2:
                threading.Thread(target=broker.restart, daemon=True).start()
            send(i)
        wait_until(lambda: service.store.count_reports() >= n, 60, "all reports after restart")
        time.sleep(0.5)
    finally:
        adapter.stop()
        pub.disconnect()
        pub.loop_stop()
        broker.stop()
    print(f"\nmqtt broker restart: {adapter.stats.to_dict()}")
    assert service.store.count_reports() == n
