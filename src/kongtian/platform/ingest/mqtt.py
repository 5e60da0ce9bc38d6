"""MQTT ingest: an MQTT 5 subscriber with QoS 1, a persistent session and manual acks.

Topics are ``<prefix>/<format>[/<anything>]`` (default prefix ``kongtian/ingest``),
``<format>`` one of :data:`~kongtian.platform.ingest.base.FORMATS`; one MQTT message is
one payload for ``Service.ingest_raw`` (one NMEA sentence group, one JT/T 808 frame, one
JSON report, ...). A message on a topic naming no known format is quarantined.

Delivery guarantee (at least once, no loss):

- QoS 1 subscription, fixed client id, ``clean_start=False`` and a session expiry
  interval: while the worker is down the broker keeps queuing its messages;
- ``manual_ack=True``: the PUBACK for a message is sent only after
  ``Service.ingest_raw`` has returned for the batch holding it (the store committed);
  messages unacked when the worker dies are sent again (DUP flag) when it reconnects;
- backpressure: the CONNECT carries ``Receive Maximum`` = the size of the bounded queue
  between paho's network thread and the committing thread, so the broker never has
  more unacked messages out to us than that queue holds. Should it still fill, the
  network thread blocks on it (stops reading the socket) instead of dropping or growing.

Broker settings matter: Mosquitto drops QoS 1 messages for a client beyond
``max_queued_messages`` (default 1000) queued *above* those in flight, while that
client is offline or slow. Deployments that must survive worker outages raise it (or
set 0, no limit, and bound memory otherwise); see docs/decisions/0012.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from kongtian.errors import ConfigError
from kongtian.platform.ingest.base import (
    Committer,
    IngestService,
    IngestStats,
    RawMessage,
    format_of,
    now_utc,
)

log = logging.getLogger("kongtian.ingest.mqtt")

DEFAULT_PREFIX = "kongtian/ingest"
_RECEIVE_MAXIMUM_CAP = 65535  # MQTT 5: a two-byte integer


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """``mqtt://host[:port]`` -> (host, port); ConfigError naming ``--url`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError(f"expected mqtt://host[:port], got {url!r}", option="--url")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError(f"bad port in {url!r}", option="--url") from None
    return parts.hostname, port


class MqttIngest:
    """Subscribe to ingest topics and commit what arrives through ``service``.

    ``batch_max`` messages or ``batch_wait_s`` seconds after the first one (whichever
    comes first) make one commit. ``queue_max`` bounds the hand-over queue (default
    ``2 * batch_max``, at most 65535) and is announced to the broker as Receive Maximum.
    ``session_expiry_s``: how long the broker keeps the session (and queues messages)
    after the worker disconnects. ``on_batch`` is called after each commit with that
    batch's counters. :meth:`start` returns once the subscription is acknowledged;
    :meth:`stop` commits and acks what is already queued, then disconnects.
    """

    def __init__(
        self,
        service: IngestService,
        url: str = "mqtt://127.0.0.1:1883",
        topics: Sequence[str] = (DEFAULT_PREFIX + "/#",),
        client_id: str = "kongtian-ingest",
        batch_max: int = 2000,
        batch_wait_s: float = 0.05,
        *,
        prefix: str = DEFAULT_PREFIX,
        queue_max: int | None = None,
        session_expiry_s: int = 7 * 86400,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        ref: tuple[float, float] | None = None,
        owner: str | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if batch_max < 1:
            raise ConfigError(f"must be >= 1, got {batch_max}", option="--batch-max")
        if batch_wait_s < 0:
            raise ConfigError(f"must be >= 0, got {batch_wait_s}", option="--batch-wait-ms")
        self.host, self.port = parse_mqtt_url(url)
        self.url = url
        self.topics = tuple(topics)
        self.prefix = prefix.rstrip("/")
        self.client_id = client_id
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.queue_max = min(queue_max or 2 * batch_max, _RECEIVE_MAXIMUM_CAP)
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.stats = IngestStats()
        self._committer = Committer(
            service, stats=self.stats, on_batch=on_batch, ref=ref, owner=owner
        )
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.queue_max)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._connect_error: str | None = None
        self.connected = False
        # Packet ids are per connection: a message from an earlier connection must not be
        # acked on a later one, where its id may name another, uncommitted message. The
        # broker resends those (same session), so they are simply not acked.
        self._generation = 0
        self._ack_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect, subscribe (waiting for the SUBACK) and start the committing thread."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.queue_max
        self._client = client
        # The committing thread runs before we connect: a resumed session delivers its
        # backlog before the SUBACK, and a full queue would otherwise block paho's
        # network thread before it ever reads that SUBACK.
        self._thread = threading.Thread(target=self._run, name="mqtt-ingest-commit", daemon=True)
        self._thread.start()
        try:
            client.connect(
                self.host,
                self.port,
                keepalive=self.keepalive_s,
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            self._abort()
            raise ConfigError(
                f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}", option="--url"
            ) from None
        client.loop_start()
        if not self._subscribed.wait(self.connect_timeout_s):
            self._abort()
            client.loop_stop()
            why = self._connect_error or "no SUBACK"
            raise ConfigError(
                f"MQTT broker {self.host}:{self.port} did not accept the subscription ({why})",
                option="--url",
            )

    def _abort(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Commit and ack what is queued, then disconnect (the session stays on the broker)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def __enter__(self) -> MqttIngest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- paho callbacks
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._connect_error = str(reason)
            log.warning("MQTT connect refused: %s", reason)
            return
        with self._ack_lock:
            self._generation += 1
        self.connected = True
        # subscribe on every (re)connect: harmless when the session kept the subscription
        client.subscribe([(t, 1) for t in self.topics])

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected = False
        if not self._stop.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects", reason)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if all(not getattr(r, "is_failure", False) for r in reasons):
            self._subscribed.set()
        else:
            self._connect_error = "subscription refused: " + ", ".join(str(r) for r in reasons)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        topic = msg.topic
        fmt = format_of(topic, self.prefix, "/")
        raw = RawMessage(
            fmt=fmt,
            payload=bytes(msg.payload),
            origin=f"mqtt:{topic}",
            received_utc=now_utc(),
            token=(self._generation, msg.mid, msg.qos),
            redelivered=bool(msg.dup),
            reason="" if fmt else f"topic {topic!r} names no known format",
        )
        # Blocking here stops paho reading the socket: backpressure, never a drop. The
        # broker's Receive Maximum keeps this from happening in normal operation.
        while not self._stop.is_set():
            try:
                self._queue.put(raw, timeout=0.5)
                return
            except queue.Full:
                continue

    # ----------------------------------------------------------- committing thread
    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stop.is_set():
                    return
                continue
            if not self._committer.commit(batch, self._stop):
                return  # stopping before the commit: unacked, the broker resends them
            with self._ack_lock:
                for m in batch:
                    generation, mid, qos = m.token
                    if qos > 0 and generation == self._generation:
                        self._client.ack(mid, qos)

    def _next_batch(self) -> list[RawMessage]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch
