"""What every ingest adapter shares: the raw message, the commit step and its counters.

An adapter turns transport messages into :class:`RawMessage` values and gives batches of
them to :class:`Committer`, which calls ``service.ingest_raw`` once per (format, origin)
group and returns only when every group is committed. The adapter acknowledges the
batch to its transport after that, never before: a crash between commit and ack means
a redelivery, which the store's de-duplication key absorbs.

A commit that raises is retried with exponential back-off (the store may be restarting);
nothing is acknowledged meanwhile, so the transport holds the data and, through the
bounded queues, stops sending. A message that keeps failing on its own (a poison
message the decoder did not catch) is quarantined with the exception as the reason
and acknowledged, so one bad message cannot stall the feed for ever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger("kongtian.ingest")

#: Payload formats accepted by ``Service.ingest_raw`` (``ingest.decode.decode_payloads``).
FORMATS = ("avr", "beast", "modes-csv", "ais", "remoteid", "remoteid-net", "jt808", "reports-json")


class IngestResultLike(Protocol):
    """The counters of ``service.IngestResult`` an adapter reads."""

    accepted: int
    duplicates: int
    rejected: int


class IngestService(Protocol):
    """The part of :class:`kongtian.platform.service.Service` the adapters use (its
    ``store`` only to quarantine messages that name no known format)."""

    store: Any

    def ingest_raw(
        self,
        fmt: str,
        payloads: Sequence[bytes],
        *,
        received_utc: datetime | None = ...,
        owner: str | None = ...,
        origin: str = ...,
        ref: tuple[float, float] | None = ...,
    ) -> Any: ...


@dataclass
class RawMessage:
    """One transport message: its payload, format, origin and the adapter's ack handle.

    ``origin`` names the transport and channel (``mqtt:<topic>``, ``nats:<subject>``,
    ``tcp:<host>:<port>``); ``redelivered`` is the transport's own redelivery flag
    (MQTT DUP, JetStream delivery count > 1). ``fmt`` is ``None`` when the channel
    named no known format: such messages are quarantined, not decoded.
    """

    fmt: str | None
    payload: bytes
    origin: str
    received_utc: datetime
    token: Any = None
    redelivered: bool = False
    reason: str = ""


@dataclass
class IngestStats:
    """Counters of one adapter since it started (messages = transport messages)."""

    messages: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    redelivered: int = 0
    commit_retries: int = 0
    poison: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_of(channel: str, prefix: str, sep: str) -> str | None:
    """The format named by a topic/subject ``<prefix><sep><format>[<sep>anything]``."""
    if not channel.startswith(prefix + sep):
        return None
    fmt = channel[len(prefix) + len(sep) :].split(sep, 1)[0]
    return fmt if fmt in FORMATS else None


class Committer:
    """Commit batches of raw messages through the service, retrying on failure.

    ``on_batch`` (if given) is called after each committed batch with a dict of that
    batch's counters; the CLI prints it as a JSON line. ``stop`` is an event that ends
    the retry loop early (the batch is then *not* committed and must not be acked).
    """

    def __init__(
        self,
        service: IngestService,
        *,
        stats: IngestStats | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        poison_attempts: int = 3,
        ref: tuple[float, float] | None = None,
        owner: str | None = None,
    ) -> None:
        self.service = service
        self.stats = stats if stats is not None else IngestStats()
        self.on_batch = on_batch
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.poison_attempts = poison_attempts
        self.ref = ref
        self.owner = owner

    def commit(self, batch: Sequence[RawMessage], stop: threading.Event | None = None) -> bool:
        """Commit ``batch``; True once all of it is stored (or quarantined), False if
        ``stop`` was set before that happened."""
        if not batch:
            return True
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        delay = self.retry_initial_s
        failures = 0
        while True:
            try:
                self._commit_groups(batch, totals)
                break
            except Exception as exc:  # noqa: BLE001 - the adapter must outlive any failure
                failures += 1
                with self.stats._lock:
                    self.stats.commit_retries += 1
                log.warning("ingest commit failed (%s: %s); retrying", type(exc).__name__, exc)
                if failures >= self.poison_attempts and self._isolate(batch, totals, stop):
                    break
                if stop is not None and stop.wait(delay):
                    return False
                if stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
        redelivered = sum(1 for m in batch if m.redelivered)
        with self.stats._lock:
            self.stats.messages += len(batch)
            self.stats.batches += 1
            self.stats.accepted += totals["accepted"]
            self.stats.duplicates += totals["duplicates"]
            self.stats.rejected += totals["rejected"]
            self.stats.redelivered += redelivered
        if self.on_batch is not None:
            self.on_batch({"messages": len(batch), "redelivered": redelivered, **totals})
        return True

    def _commit_groups(self, batch: Sequence[RawMessage], totals: dict[str, int]) -> None:
        groups: dict[tuple[str | None, str], list[RawMessage]] = {}
        for m in batch:
            groups.setdefault((m.fmt, m.origin), []).append(m)
        done: dict[str, int] = {"accepted": 0, "duplicates": 0, "rejected": 0}
        for (fmt, origin), msgs in groups.items():
            if fmt is None:
                self._quarantine(msgs, msgs[0].reason or "no known format named by the channel")
                done["rejected"] += len(msgs)
                continue
            res = self.service.ingest_raw(
                fmt,
                [m.payload for m in msgs],
                received_utc=msgs[0].received_utc,
                owner=self.owner,
                origin=origin,
                ref=self.ref,
            )
            done["accepted"] += int(getattr(res, "accepted", 0))
            done["duplicates"] += int(getattr(res, "duplicates", 0))
            done["rejected"] += int(getattr(res, "rejected", 0))
        # counted only once every group is in: a retried batch is not counted twice
        for k, v in done.items():
            totals[k] += v

    def _isolate(
        self, batch: Sequence[RawMessage], totals: dict[str, int], stop: threading.Event | None
    ) -> bool:
        """Commit message by message; quarantine the ones that still fail.

        Returns False when even quarantining fails (the store itself is down): the
        caller keeps retrying the whole batch then.
        """
        try:
            for m in batch:
                try:
                    self._commit_groups([m], totals)
                except Exception as exc:  # noqa: BLE001
                    self._quarantine([m], f"ingest failed: {type(exc).__name__}: {exc}"[:500])
                    totals["rejected"] += 1
                    with self.stats._lock:
                        self.stats.poison += 1
        except Exception as exc:  # noqa: BLE001
            log.warning("quarantine failed too (%s); store unavailable?", exc)
            return False
        return True

    def _quarantine(self, msgs: Sequence[RawMessage], reason: str) -> None:
        from kongtian.platform.store import Quarantined

        self.service.store.quarantine(
            [
                Quarantined(
                    received_utc=m.received_utc,
                    source=m.fmt or "unknown",
                    reason=reason,
                    raw=m.payload,
                    origin=m.origin,
                )
                for m in msgs
            ]
        )
