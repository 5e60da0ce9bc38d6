"""Live streams of tracks and alerts: ``GET /v1/stream/ws`` (WebSocket) and ``/v1/stream/sse``.

Both deliver the messages of :class:`kongtian.platform.live.Hub` as JSON
``{"topic": ..., "data": ...}``: first ``{"topic": "hello", "data": {filters, role,
...}}`` with the filters actually applied, then ``tracks`` and ``alerts`` items, and a
``{"topic": "ping", "data": {"time_utc", "dropped"}}`` keepalive after ``ping_s``
seconds without traffic (``dropped``: messages this connection lost to its bounded
queue so far; a client that cannot keep up loses the oldest, never slows ingest).

Query parameters (both routes): ``topics`` (``tracks,alerts``, default both), ``bbox``
(``lon_min,lat_min,lon_max,lat_max`` WGS84 degrees), ``kinds`` (object kinds, e.g.
``uas,icao24``), ``alert_kinds`` (e.g. ``zone_violation``), ``ping_s`` (1..300, default
15), ``key`` (the API key; browsers cannot set headers on a WebSocket). The key may also
come in ``X-API-Key`` or ``Authorization: Bearer``. Every role may read; an ``operator``
key sees only its own fleet (owner filter forced), a ``public`` key gets Remote ID
operator data withheld.

Errors: the WebSocket is accepted, then sent ``{"topic": "error", "data": {"status",
"detail"}}`` and closed with code 4000 + HTTP status (4401 no/invalid key, 4429 rate
limited, 4422 bad filter). SSE answers with the HTTP status and a JSON ``detail``. The
SSE route is left out of ``/openapi.json``, as the WebSocket is: an endless stream
is not an operation a schema-driven client can call and finish.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from starlette.requests import HTTPConnection

from kongtian.errors import ConfigError
from kongtian.platform.live import Subscription, parse_bbox

if TYPE_CHECKING:
    from kongtian.platform.service import Service

router = APIRouter(tags=["stream"])

DEFAULT_PING_S = 15.0
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class _Caller:
    key_id: str
    role: str
    owner: str | None


class _Refused(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def _key_of(conn: HTTPConnection, key: str | None) -> str | None:
    if key:
        return key.strip()
    h = conn.headers.get("x-api-key")
    if h:
        return h.strip()
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _caller(conn: HTTPConnection, key: str | None) -> _Caller:
    """Authenticate with the app's :class:`~kongtian.platform.auth.Authenticator`
    (``app.state.auth``, with its rate limit), or the store's key table without one."""
    from kongtian.platform.auth import hash_key

    text = _key_of(conn, key)
    if not text:
        raise _Refused(401, "missing API key: query parameter key, X-API-Key or Bearer")
    auth = getattr(conn.app.state, "auth", None)
    if auth is not None:
        p = auth.principal(text)
        if p is None:
            raise _Refused(401, "invalid or revoked API key")
        wait = auth.limiter.take(p.key_id)
        if wait > 0:
            raise _Refused(
                429,
                f"rate limit exceeded for key {p.key_id}; retry in {wait:.2f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return _Caller(p.key_id, p.role, p.owner)
    service: Service = conn.app.state.service
    rec = service.store.key_by_hash(hash_key(text))
    if rec is None:
        raise _Refused(401, "invalid or revoked API key")
    return _Caller(str(rec["key_id"]), str(rec["role"]), rec.get("owner"))


def _subscribe(
    conn: HTTPConnection,
    caller: _Caller,
    topics: str | None,
    bbox: str | None,
    kinds: str | None,
    alert_kinds: str | None,
) -> Subscription:
    service: Service = conn.app.state.service
    try:
        tset = (
            [t.strip() for t in topics.split(",") if t.strip()] if topics else ["tracks", "alerts"]
        )
        return service.hub.subscribe(
            topics=tset,
            bbox=parse_bbox(bbox),
            kinds=kinds.split(",") if kinds else None,
            alert_kinds=alert_kinds.split(",") if alert_kinds else None,
            owner=caller.owner if caller.role == "operator" else None,
            public=caller.role == "public",
            maxsize=QUEUE_SIZE,
        )
    except ConfigError as exc:
        raise _Refused(422, str(exc)) from None


def _hello(sub: Subscription, caller: _Caller, ping_s: float) -> dict[str, Any]:
    return {
        "topic": "hello",
        "data": {
            "filters": sub.filters.to_dict(),
            "role": caller.role,
            "key_id": caller.key_id,
            "queue_size": sub.maxsize,
            "ping_s": ping_s,
            "time_utc": _now_iso(),
        },
    }


def _ping(sub: Subscription) -> dict[str, Any]:
    return {"topic": "ping", "data": {"time_utc": _now_iso(), "dropped": sub.dropped}}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _finite(x: Any) -> Any:
    """NaN/inf -> None, recursively (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _dumps(msg: dict[str, Any]) -> str:
    try:
        return json.dumps(msg, default=str, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(msg), default=str, allow_nan=False, separators=(",", ":"))


def _check_ping(ping_s: float) -> float:
    if not (math.isfinite(ping_s) and 1.0 <= ping_s <= 300.0):
        raise _Refused(422, f"ping_s must be in [1, 300] s, got {ping_s}")
    return float(ping_s)


@router.websocket("/v1/stream/ws", name="stream_ws")
async def stream_ws(
    websocket: WebSocket,
    topics: str | None = None,
    bbox: str | None = None,
    kinds: str | None = None,
    alert_kinds: str | None = None,
    key: str | None = None,
    ping_s: float = DEFAULT_PING_S,
) -> None:
    """Live tracks and alerts over a WebSocket (module docstring)."""
    await websocket.accept()
    try:
        ping_s = _check_ping(ping_s)
        caller = await asyncio.to_thread(_caller, websocket, key)  # may query the store
        sub = _subscribe(websocket, caller, topics, bbox, kinds, alert_kinds)
    except _Refused as exc:
        try:
            await websocket.send_text(
                _dumps({"topic": "error", "data": {"status": exc.status, "detail": exc.detail}})
            )
            await websocket.close(code=4000 + exc.status, reason=exc.detail[:120])
        except (WebSocketDisconnect, RuntimeError, ConnectionError):
            pass
        return

    async def watch_client() -> None:
        # Reads (and ignores) client frames; a disconnect ends the subscription.
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            sub.close()

    watcher = asyncio.create_task(watch_client())
    try:
        await websocket.send_text(_dumps(_hello(sub, caller, ping_s)))
        while True:
            try:
                msg = await sub.get(timeout=ping_s)
            except StopAsyncIteration:
                break
            await websocket.send_text(_dumps(msg if msg is not None else _ping(sub)))
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass  # client went away while we were sending
    finally:
        sub.close()
        watcher.cancel()
        try:
            await websocket.close()
        except (RuntimeError, WebSocketDisconnect):
            pass  # already closed


@router.get(
    "/v1/stream/sse",
    name="stream_sse",
    operation_id="stream_sse",
    include_in_schema=False,
    response_model=None,
)
async def stream_sse(
    request: Request,
    topics: str | None = None,
    bbox: str | None = None,
    kinds: str | None = None,
    alert_kinds: str | None = None,
    key: str | None = Query(None),
    ping_s: float = DEFAULT_PING_S,
) -> Response:
    """Live tracks and alerts as Server-Sent Events (``event:`` = topic, ``data:`` = the
    JSON message; module docstring)."""
    from sse_starlette.sse import EventSourceResponse

    try:
        ping_s = _check_ping(ping_s)
        caller = await asyncio.to_thread(_caller, request, key)  # may query the store
        sub = _subscribe(request, caller, topics, bbox, kinds, alert_kinds)
    except _Refused as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            hello = _hello(sub, caller, ping_s)
            yield {"event": "hello", "data": _dumps(hello)}
            while True:
                try:
                    msg = await sub.get(timeout=ping_s)
                except StopAsyncIteration:
                    break
                if msg is None:
                    msg = _ping(sub)
                yield {"event": str(msg["topic"]), "data": _dumps(msg)}
        finally:
            sub.close()

    # sse-starlette's own comment pings are off: our ping messages carry the drop count.
    return EventSourceResponse(events(), ping=3600, headers={"Cache-Control": "no-store"})
