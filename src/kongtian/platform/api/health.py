"""``GET /health`` and ``GET /metrics``: liveness and Prometheus metrics, no key needed.

``/metrics`` is open like ``/health`` (decision 0011): it holds counters and gauges only
(reports ingested, duplicates, quarantined, alerts, HTTP requests per operation and
status, job states), never report contents, and scrapers rarely carry API keys. Bind the
service to a private address or filter ``/metrics`` at the proxy to hide it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from kongtian import __version__
from kongtian.platform.api.common import service_of
from kongtian.platform.api.models import ErrorResponse, Health

log = logging.getLogger("kongtian.platform")
router = APIRouter(tags=["health"])

_METRIC_NAME = re.compile(r"[^a-zA-Z0-9_]")
#: service.metrics entries that are current levels, not running totals
_GAUGES = frozenset({"tracks", "objects_live", "zones", "intents", "active_alerts",
                     "stream_subscribers", "stream_queued", "last_ingest_utc_s",
                     "zones_skipped", "intents_skipped"})  # fmt: skip


def _service_metrics(request: Request) -> dict[str, float]:
    raw: Any = getattr(service_of(request), "metrics", {}) or {}
    out: dict[str, float] = {}
    for k, v in dict(raw).items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[str(k)] = float(v)
    return out


@router.get(
    "/health",
    operation_id="get_health",
    summary="Service health: store reachable, counts, ingest adapters",
    response_model=Health,
    responses={503: {"model": Health, "description": "Store unreachable"}},
)
def get_health(request: Request) -> Any:
    svc = service_of(request)
    status, store_state = "ok", "ok"
    reports = quarantined = None
    try:
        reports = svc.store.count_reports()
        quarantined = svc.store.count_quarantine()
    except Exception as exc:  # health must report a broken store, not crash
        status, store_state = "degraded", f"error: {type(exc).__name__}: {exc}"
    body = Health(
        status=status,  # type: ignore[arg-type]
        version=__version__,
        store=store_state,
        reports=reports,
        quarantined=quarantined,
        ingest=request.app.state.adapters.stats(),
        metrics=_service_metrics(request),
    )
    if status != "ok":
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return body


@router.get(
    "/metrics",
    operation_id="get_metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        503: {"model": ErrorResponse},
    },  # fmt: skip
)
def get_metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _ServiceCollector:
    """Reads the service counters, store counts, job states and adapter stats at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        svc = self.app.state.service
        raw: Any = getattr(svc, "metrics", {}) or {}
        for k, v in sorted(dict(raw).items()):
            if isinstance(v, int | float) and not isinstance(v, bool):
                name = "kongtian_service_" + _METRIC_NAME.sub("_", str(k))
                if k in _GAUGES:
                    yield GaugeMetricFamily(name, f"service gauge {k}", value=v)
                else:
                    name = name.removesuffix("_total")
                    yield CounterMetricFamily(name, f"service counter {k}", value=v)
        # No stored-report count here: on PostgreSQL it is a full scan, too slow for every
        # scrape (the ingest counters above say the same; /health has the count).
        try:
            yield GaugeMetricFamily(
                "kongtian_store_quarantined",
                "quarantined messages",
                value=svc.store.count_quarantine(),
            )
            states = {s: 0 for s in ("queued", "running", "done", "failed")}
            for job in svc.store.list_jobs(limit=1000):
                states[job.get("state", "failed")] = states.get(job.get("state", "failed"), 0) + 1
            g = GaugeMetricFamily("kongtian_jobs", "recent jobs by state", labels=["state"])
            for s, n in states.items():
                g.add_metric([s], n)
            yield g
        except Exception:  # a scrape must not fail because the store hiccups
            log.exception("metrics: store unreachable")
        stats = self.app.state.adapters.stats()
        if stats:
            c = CounterMetricFamily(
                "kongtian_ingest", "ingest adapter counters", labels=["adapter", "counter"]
            )
            for adapter, d in stats.items():
                for k, v in d.items():
                    c.add_metric([adapter, k], float(v))
            yield c


def install_metrics(app: FastAPI) -> None:
    """A registry per app (tests build many apps) plus request counters per operation id."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(app))  # type: ignore[arg-type]
    requests = Counter(
        "kongtian_http_requests",
        "HTTP requests by operation and status",
        ["operation", "status"],
        registry=registry,
    )
    latency = Histogram(
        "kongtian_http_request_seconds",
        "HTTP request handling time by operation",
        ["operation"],
        registry=registry,
        buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def _count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        op = getattr(route, "operation_id", None) or getattr(route, "name", None) or "unmatched"
        requests.labels(op, str(response.status_code)).inc()
        latency.labels(op).observe(time.perf_counter() - t0)
        return response
