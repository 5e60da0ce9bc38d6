"""NATS JetStream ingest: a durable pull consumer that several workers share.

Subjects are ``<prefix>.<format>[.<anything>]`` (default prefix ``kongtian.ingest``), one
message one payload, as for MQTT. The adapter makes sure a stream (default
``KONGTIAN_INGEST``, subjects ``<prefix>.>``, work-queue retention: a message leaves the
stream once acked) and a durable pull consumer (default ``kongtian-ingest``, explicit
acks) exist; an existing stream or consumer is used as it is.

Scale-out: every worker process that names the same stream and durable pulls from the
same consumer, so JetStream hands each message to one of them (work-queue semantics).
A worker acks a message only after ``Service.ingest_raw`` returned for the batch holding
it; a worker that dies leaves its batch unacked and JetStream redelivers it after
``ack_wait`` seconds, to any worker. Redeliveries are harmless: the store de-duplicates
on (object_id, source, time_utc).

Backpressure: a worker fetches the next batch only after committing the previous one,
and the consumer's ``max_ack_pending`` caps what all workers together hold unacked; the
stream itself (on disk) is where a backlog waits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
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

log = logging.getLogger("kongtian.ingest.nats")

DEFAULT_PREFIX = "kongtian.ingest"
DEFAULT_STREAM = "KONGTIAN_INGEST"
DEFAULT_DURABLE = "kongtian-ingest"


class NatsIngest:
    """Pull ingest messages from a JetStream durable consumer and commit them.

    ``batch_max``: messages per fetch (and per commit); ``batch_wait_s``: how long a fetch
    waits for a batch to fill. ``max_ack_pending``: the consumer's cap on unacked
    messages over all workers (used when this worker creates the consumer).
    ``ack_wait_s``: after this long unacked, JetStream redelivers. :meth:`start` returns
    once the stream and consumer exist and the pull loop runs (in its own thread and
    event loop); :meth:`stop` finishes the batch in hand and closes the connection.
    """

    def __init__(
        self,
        service: IngestService,
        url: str = "nats://127.0.0.1:4222",
        stream: str = DEFAULT_STREAM,
        durable: str = DEFAULT_DURABLE,
        batch_max: int = 2000,
        batch_wait_s: float = 0.05,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_ack_pending: int = 20_000,
        ack_wait_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        ref: tuple[float, float] | None = None,
        owner: str | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not url.startswith(("nats://", "tls://")):
            raise ConfigError(f"expected nats://host[:port], got {url!r}", option="--url")
        if batch_max < 1:
            raise ConfigError(f"must be >= 1, got {batch_max}", option="--batch-max")
        if max_ack_pending < batch_max:
            raise ConfigError(
                f"must be >= --batch-max ({batch_max}), got {max_ack_pending}",
                option="--max-ack-pending",
            )
        self.url = url
        self.stream = stream
        self.durable = durable
        self.prefix = prefix.rstrip(".")
        self.batch_max = batch_max
        self.batch_wait_s = max(batch_wait_s, 0.001)
        self.max_ack_pending = max_ack_pending
        self.ack_wait_s = ack_wait_s
        self.connect_timeout_s = connect_timeout_s
        self.stats = IngestStats()
        self._committer = Committer(
            service, stats=self.stats, on_batch=on_batch, ref=ref, owner=owner
        )
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect, ensure stream and consumer, start pulling; raise ConfigError if the
        server is unreachable or refuses."""
        self._thread = threading.Thread(target=self._thread_main, name="nats-ingest", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.connect_timeout_s + 5):
            self._stop.set()
            raise ConfigError(f"NATS at {self.url} did not become ready", option="--url")
        if self._error is not None:
            raise ConfigError(
                f"cannot use NATS JetStream at {self.url}: {self._error}", option="--url"
            ) from None

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> NatsIngest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the loop
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported through start()
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig
        from nats.js.errors import NotFoundError

        # nats-py retries an unreachable server for ever (reconnect settings apply to the
        # first connect too): probe it once so a wrong --url fails fast and clearly
        parts = urlsplit(self.url)
        try:
            _, w = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                self.connect_timeout_s,
            )
            w.close()
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"cannot connect: {exc}") from None

        async def _on_error(exc: Exception) -> None:
            log.warning("NATS: %s", exc)

        nc = await nats.connect(
            self.url,
            connect_timeout=self.connect_timeout_s,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=_on_error,
        )
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(self.stream)
            except NotFoundError:
                try:
                    await js.add_stream(
                        StreamConfig(
                            name=self.stream,
                            subjects=[self.prefix + ".>"],
                            retention=RetentionPolicy.WORK_QUEUE,
                        )
                    )
                except Exception:  # noqa: BLE001 - another worker created it first
                    await js.stream_info(self.stream)
            config = ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait_s,
                max_ack_pending=self.max_ack_pending,
                max_waiting=512,
            )
            try:
                await js.consumer_info(self.stream, self.durable)
            except NotFoundError:
                try:
                    await js.add_consumer(self.stream, config)
                except Exception:  # noqa: BLE001 - created concurrently by another worker
                    await js.consumer_info(self.stream, self.durable)
            sub = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
            self._ready.set()
            await self._pull_loop(sub)
        finally:
            await nc.close()

    async def _pull_loop(self, sub: Any) -> None:
        import nats.errors

        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                msgs = await sub.fetch(self.batch_max, timeout=max(self.batch_wait_s, 0.5))
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # noqa: BLE001 - connection trouble: nats-py reconnects
                log.warning("JetStream fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            now = now_utc()
            batch = []
            for m in msgs:
                fmt = format_of(m.subject, self.prefix, ".")
                delivered = int(getattr(m.metadata, "num_delivered", 1) or 1)
                batch.append(
                    RawMessage(
                        fmt=fmt,
                        payload=bytes(m.data),
                        origin=f"nats:{m.subject}",
                        received_utc=now,
                        token=m,
                        redelivered=delivered > 1,
                        reason="" if fmt else f"subject {m.subject!r} names no known format",
                    )
                )
            ok = await loop.run_in_executor(None, self._committer.commit, batch, self._stop)
            if not ok:
                return  # stopping: unacked, JetStream redelivers
            for m in msgs:
                await m.ack()
