"""Live fan-out of track and alert updates to stream subscribers (WebSocket, SSE).

A :class:`Hub` is written to from the ingest path (any thread) and read by asyncio
subscribers. :meth:`Hub.publish` filters each item for each subscription in the calling
thread, appends the survivors to the subscription's bounded buffer and, if the
subscriber is not already due to wake up, schedules one wake-up on its event loop with
``loop.call_soon_threadsafe``. It never waits for a subscriber: a full buffer drops its
*oldest* message and counts it in :attr:`Subscription.dropped`, so a slow client loses
old positions (superseded by newer ones anyway) and never slows ingest. Memory is
bounded by ``maxsize`` messages per subscription plus at most one pending wake-up.

Messages are ``{"topic": "tracks" | "alerts", "data": item}``. Items are dicts
published by :class:`kongtian.platform.service.Service`:

- ``tracks``: ``object_id``, ``kind`` (the ``object_id`` prefix, e.g. ``icao24``),
  ``sources``, ``time_utc`` (ISO 8601 Z), ``lat_deg``, ``lon_deg`` (WGS84 degrees),
  ``alt_m``, ``alt_ref``, ``speed_m_s``, ``track_deg``, ``vrate_m_s``, ``owner``;
- ``alerts``: the alert event columns of :data:`kongtian.traffic.pipeline.ALERT_EVENT_SCHEMA`
  plus ``lat_deg``/``lon_deg`` (the object's position when the event was produced, or
  null), ``object_kind`` and ``owners`` (owners of the objects involved).

Filters (all optional, combined with AND):

- ``bbox`` = (lon_min, lat_min, lon_max, lat_max) in degrees: items with a position
  inside (edges included; lon_min > lon_max wraps the antimeridian); items without a
  position are left out when a bbox is given;
- ``kinds``: object kinds (``icao24``, ``mmsi``, ``uas``, ``jt808``, ...): for alerts the
  kind of ``object_id``;
- ``alert_kinds``: alert kinds (``zone_violation``, ...), alerts only;
- ``owner``: only items owned by this owner (tracks: ``owner``; alerts: any of ``owners``);
- ``public``: items pass through :func:`kongtian.platform.service.redact_public`.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kongtian.errors import ConfigError

TOPICS = ("tracks", "alerts")
BBox = tuple[float, float, float, float]


def parse_bbox(text: str | Sequence[float] | None) -> BBox | None:
    """``"lon_min,lat_min,lon_max,lat_max"`` (degrees) -> tuple; ConfigError naming ``bbox``."""
    if text is None or text == "":
        return None
    parts: list[Any] = text.split(",") if isinstance(text, str) else list(text)
    try:
        vals = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise ConfigError(
            f"expected 4 numbers lon_min,lat_min,lon_max,lat_max, got {text!r}", option="bbox"
        ) from None
    if len(vals) != 4:
        raise ConfigError(
            f"expected 4 numbers lon_min,lat_min,lon_max,lat_max, got {len(vals)}", option="bbox"
        )
    lon0, lat0, lon1, lat1 = vals
    if not all(-180 <= v <= 180 for v in (lon0, lon1)) or not all(
        -90 <= v <= 90 for v in (lat0, lat1)
    ):
        raise ConfigError(
            "longitudes must be in [-180, 180], latitudes in [-90, 90]", option="bbox"
        )
    if lat0 > lat1:
        raise ConfigError(f"lat_min {lat0} > lat_max {lat1}", option="bbox")
    return (lon0, lat0, lon1, lat1)


def parse_names(text: str | Iterable[str] | None, option: str) -> frozenset[str] | None:
    """Comma-separated names -> set (``None`` or empty = no filter)."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    out = frozenset(s.strip().lower() for s in items if s and s.strip())
    return out or None


def in_bbox(lat: Any, lon: Any, bbox: BBox) -> bool:
    """Whether (lat, lon) degrees lies in ``bbox`` (edges in; lon_min > lon_max wraps)."""
    if lat is None or lon is None:
        return False
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        return False
    if la != la or lo != lo:  # NaN
        return False
    lon0, lat0, lon1, lat1 = bbox
    if not lat0 <= la <= lat1:
        return False
    if lon0 <= lon1:
        return lon0 <= lo <= lon1
    return lo >= lon0 or lo <= lon1


def object_kind(object_id: str | None) -> str:
    """The kind prefix of a normalised ``object_id`` (``icao24:3c6444`` -> ``icao24``)."""
    if not object_id:
        return ""
    return object_id.split(":", 1)[0]


@dataclass(frozen=True)
class Filters:
    """What a subscription receives (see the module docstring)."""

    topics: frozenset[str] = frozenset(TOPICS)
    bbox: BBox | None = None
    kinds: frozenset[str] | None = None
    alert_kinds: frozenset[str] | None = None
    owner: str | None = None
    public: bool = False

    def accepts(self, topic: str, item: Mapping[str, Any]) -> bool:
        if topic not in self.topics:
            return False
        if topic == "alerts":
            if self.kinds is not None and object_kind(item.get("object_id")) not in self.kinds:
                return False
            if self.alert_kinds is not None and item.get("kind") not in self.alert_kinds:
                return False
            if self.owner is not None and self.owner not in (item.get("owners") or ()):
                return False
        else:
            kind = item.get("kind") or object_kind(item.get("object_id"))
            if self.kinds is not None and kind not in self.kinds:
                return False
            if self.owner is not None and item.get("owner") != self.owner:
                return False
        return self.bbox is None or in_bbox(item.get("lat_deg"), item.get("lon_deg"), self.bbox)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topics": sorted(self.topics),
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "kinds": sorted(self.kinds) if self.kinds is not None else None,
            "alert_kinds": sorted(self.alert_kinds) if self.alert_kinds is not None else None,
            "owner": self.owner,
            "public": self.public,
        }


class Subscription:
    """One subscriber's bounded buffer; an async iterator of ``{"topic", "data"}`` dicts.

    Created by :meth:`Hub.subscribe` (on the subscriber's event loop). ``dropped`` counts
    messages discarded because the buffer was full (oldest first); ``delivered`` counts
    messages handed to the consumer. :meth:`close` (or ``async with``) unsubscribes.
    """

    def __init__(
        self,
        hub: Hub,
        filters: Filters,
        maxsize: int,
        loop: asyncio.AbstractEventLoop,
        redact: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> None:
        if maxsize < 1:
            raise ConfigError(f"must be >= 1, got {maxsize}", option="maxsize")
        self.hub = hub
        self.filters = filters
        self.maxsize = maxsize
        self.loop = loop
        self._redact = redact
        self._buf: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self._event = asyncio.Event()
        self._wake_pending = False
        self.dropped = 0
        self.delivered = 0
        self.closed = False

    # ------------------------------------------------------------ publisher side
    def _offer(self, messages: list[dict[str, Any]]) -> int:
        """Append (dropping the oldest beyond maxsize); returns the number dropped."""
        with self._lock:
            if self.closed:
                return 0
            buf = self._buf
            buf.extend(messages)
            over = len(buf) - self.maxsize
            if over > 0:
                for _ in range(over):
                    buf.popleft()
                self.dropped += over
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the subscriber's loop is closed: it is gone
                self.close()
        return max(over, 0)

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._event.set()

    # ------------------------------------------------------------- consumer side
    def pending(self) -> int:
        """Messages waiting in the buffer."""
        with self._lock:
            return len(self._buf)

    def drain(self) -> list[dict[str, Any]]:
        """Take every waiting message at once (non-blocking)."""
        with self._lock:
            out = list(self._buf)
            self._buf.clear()
            self._event.clear()
        self.delivered += len(out)
        return out

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, waiting up to ``timeout`` s (``None``: forever); ``None`` on
        timeout. Raises :class:`StopAsyncIteration` once closed and empty."""
        while True:
            with self._lock:
                if self._buf:
                    msg = self._buf.popleft()
                    if not self._buf:
                        self._event.clear()
                    self.delivered += 1
                    return msg
                if self.closed:
                    raise StopAsyncIteration
                self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        msg = await self.get()
        assert msg is not None
        return msg

    def close(self) -> None:
        """Unsubscribe; a consumer waiting in :meth:`get` ends after the buffer empties."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.hub._remove(self)
        try:
            self.loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:
            pass

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        return {
            "pending": self.pending(),
            "delivered": self.delivered,
            "dropped": self.dropped,
            "maxsize": self.maxsize,
        }


@dataclass
class HubStats:
    """Counters since the hub was created (items = published dicts, before filtering)."""

    published: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TOPICS})
    queued: int = 0
    dropped: int = 0
    subscriptions_opened: int = 0


class Hub:
    """Fan-out of published items to filtered, bounded subscriptions (module docstring).

    ``redact``: the function applied to items for ``public`` subscriptions (default
    :func:`kongtian.platform.service.redact_public`).
    """

    def __init__(self, redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        if redact is None:
            from kongtian.platform.service import redact_public

            redact = redact_public
        self._redact = redact
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self.stats = HubStats()

    def subscribe(
        self,
        *,
        topics: Iterable[str] = TOPICS,
        bbox: BBox | None = None,
        kinds: Iterable[str] | None = None,
        alert_kinds: Iterable[str] | None = None,
        owner: str | None = None,
        public: bool = False,
        maxsize: int = 1000,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Subscription:
        """A new subscription delivering on ``loop`` (default: the running loop)."""
        tset = frozenset(topics)
        bad = sorted(tset - set(TOPICS))
        if bad or not tset:
            raise ConfigError(f"unknown topics {bad}; expected some of {TOPICS}", option="topics")
        if bbox is not None:
            bbox = parse_bbox(bbox)
        filters = Filters(
            topics=tset,
            bbox=bbox,
            kinds=parse_names(kinds, "kinds"),
            alert_kinds=parse_names(alert_kinds, "alert_kinds"),
            owner=owner,
            public=public,
        )
        sub = Subscription(self, filters, maxsize, loop or asyncio.get_running_loop(), self._redact)
        with self._lock:
            self._subs.append(sub)
            self.stats.subscriptions_opened += 1
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs)

    def wants(self, topic: str) -> bool:
        """Whether any subscription takes ``topic`` (publishers may skip building items)."""
        with self._lock:
            return any(topic in s.filters.topics for s in self._subs)

    def publish(self, topic: str, items: Sequence[dict[str, Any]]) -> None:
        """Offer ``items`` of ``topic`` to every matching subscription (any thread; never
        blocks on a subscriber). Items are shared between subscribers: do not mutate."""
        if topic not in TOPICS:
            raise ConfigError(f"unknown topic {topic!r}; expected one of {TOPICS}", option="topic")
        if not items:
            return
        subs = self.subscriptions
        with self._lock:
            self.stats.published[topic] += len(items)
        for sub in subs:
            f = sub.filters
            if topic not in f.topics:
                continue
            picked = [it for it in items if f.accepts(topic, it)]
            if not picked:
                continue
            if f.public:
                picked = [self._redact(it) for it in picked]
            dropped = sub._offer([{"topic": topic, "data": it} for it in picked])
            with self._lock:
                self.stats.queued += len(picked)
                self.stats.dropped += dropped

    def close(self) -> None:
        """Close every subscription (their consumers end)."""
        for sub in self.subscriptions:
            sub.close()

    def metrics(self) -> dict[str, int]:
        with self._lock:
            n = len(self._subs)
            st = self.stats
            return {
                "stream_subscribers": n,
                "stream_published_tracks": st.published["tracks"],
                "stream_published_alerts": st.published["alerts"],
                "stream_queued": st.queued,
                "stream_dropped": st.dropped,
            }
