"""The FastAPI application of the platform service: :func:`create_app`.

It wires the routers (traffic, space, jobs, admin, health and, when present, the live
streams of :mod:`kongtian.platform.api.stream`), the error handlers that turn project
errors into JSON 4xx responses, an offline ``/docs`` page (no CDN: it renders the
operations of ``/openapi.json`` with a few lines of inline script) and a lifespan that
starts and stops the background job pool, the retention sweep and the ingest adapters
(MQTT, NATS JetStream) the settings ask for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from kongtian import __version__
from kongtian.errors import ConfigError, FormatError, KongtianError, NotFound
from kongtian.platform.auth import Authenticator, RateLimiter
from kongtian.platform.config import Settings
from kongtian.platform.jobs import JobRunner

if TYPE_CHECKING:
    from kongtian.platform.service import Service

log = logging.getLogger("kongtian.platform")

TAGS = [
    {"name": "traffic", "description": "Report ingest, tracks, zones, intents, alerts"},
    {"name": "space", "description": "Satellite catalogs and background space jobs"},
    {"name": "jobs", "description": "Background job progress and result files"},
    {"name": "admin", "description": "API keys, audit log, quarantine, retention"},
    {"name": "health", "description": "Liveness and Prometheus metrics (no key needed)"},
    {"name": "stream", "description": "Live tracks and alerts (WebSocket, SSE)"},
]

DESCRIPTION = """Kongtian platform service.

Authenticate with an API key in the `X-API-Key` header (or `Authorization: Bearer <key>`).
Roles: `public` (read; Remote ID operator data withheld), `operator` (ingest, own fleet,
own intents), `regulator` (read all, zones, intents, alert acknowledgement), `admin`
(everything, keys, audit, quarantine). Errors are JSON `{"detail": ...}`.
Times are UTC ISO 8601 with `Z`; positions WGS84 degrees; altitudes metres.
"""


def _status_for(exc: KongtianError) -> int:
    from kongtian.platform.store.base import VersionConflict

    if isinstance(exc, VersionConflict):
        return 409
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, ConfigError | FormatError):
        return 422
    return 400


def _mqtt_prefix(topics: tuple[str, ...]) -> str:
    """The topic prefix the adapter strips to find the format (``a/b/#`` -> ``a/b``)."""
    bases = {t[:-2] for t in topics if t.endswith("/#")}
    return bases.pop() if len(bases) == 1 else "kongtian/ingest"


def _start(adapter: Any, option: str) -> None:
    """Start an adapter; its errors name the server option that configured it."""
    try:
        adapter.start()
    except ConfigError as exc:
        msg = str(exc)
        if exc.option:
            msg = msg.removeprefix(f"{exc.option}: ")
        raise ConfigError(msg, option=option) from None


class _Adapters:
    """Ingest adapters started by the app lifespan (from :class:`Settings`)."""

    def __init__(self) -> None:
        self.running: dict[str, Any] = {}

    def start(self, service: Service, settings: Settings) -> None:
        if settings.mqtt_url:
            from kongtian.platform.ingest.mqtt import MqttIngest

            m = MqttIngest(
                service,
                url=settings.mqtt_url,
                topics=settings.mqtt_topics,
                client_id=settings.mqtt_client_id,
                prefix=_mqtt_prefix(settings.mqtt_topics),
                owner=settings.ingest_owner,
            )
            _start(m, "--mqtt")
            self.running["mqtt"] = m
        if settings.nats_url:
            from kongtian.platform.ingest.nats import NatsIngest

            n = NatsIngest(
                service,
                url=settings.nats_url,
                stream=settings.nats_stream,
                durable=settings.nats_durable,
                prefix=settings.nats_prefix,
                owner=settings.ingest_owner,
            )
            _start(n, "--nats")
            self.running["nats"] = n

    def stop(self) -> None:
        for name, a in list(self.running.items()):
            try:
                a.stop()
            except Exception:  # one adapter failing to stop must not keep the others running
                log.exception("stopping ingest adapter %s", name)
            del self.running[name]

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, a in self.running.items():
            to_dict = getattr(getattr(a, "stats", None), "to_dict", None)
            out[name] = to_dict() if callable(to_dict) else {}
        return out


async def _retention_loop(service: Service, settings: Settings) -> None:
    from kongtian.platform.api.common import now_utc

    while True:
        await asyncio.sleep(settings.retention_interval_s)
        try:
            await asyncio.to_thread(
                service.store.apply_retention, now_utc(), dict(settings.retention_s)
            )
        except Exception:  # a failed sweep is retried at the next interval
            log.exception("retention sweep failed")


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kongtian API</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:1.5em}
.op{margin:.4em 0;padding:.4em .6em;background:#f6f8fa;border-radius:4px}
.m{display:inline-block;min-width:4.5em;font-weight:bold}
.get{color:#0a6}.post{color:#06c}.put{color:#a60}.delete{color:#c22}
code{background:#eee;padding:0 .2em}small{color:#666}
</style></head><body>
<h1>Kongtian API</h1>
<p>The contract is <a href="/openapi.json"><code>/openapi.json</code></a>
(OpenAPI 3). Send your key in <code>X-API-Key</code>. This page is served by the
service itself and needs no network access.</p>
<div id="ops">Loading /openapi.json ...</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(spec => {
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['other'])[0];
      (byTag[tag] = byTag[tag] || []).push([method, path, op]);
    }
  }
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  let html = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    html += '<h2>' + esc(tag) + '</h2>';
    for (const [method, path, op] of ops) {
      const params = (op.parameters || []).map(p => p.name + (p.required ? '*' : '')).join(', ');
      const codes = Object.keys(op.responses || {}).join(' ');
      html += '<div class="op"><span class="m ' + method + '">' + method.toUpperCase() +
        '</span><code>' + esc(path) + '</code> <b>' + esc(op.operationId || '') + '</b><br>' +
        '<small>' + esc(op.summary || '') + (params ? ' | params: ' + esc(params) : '') +
        ' | responses: ' + esc(codes) + '</small></div>';
    }
  }
  document.getElementById('ops').innerHTML = html;
}).catch(e => { document.getElementById('ops').textContent = 'cannot load: ' + e; });
</script></body></html>
"""


def create_app(
    service: Service,
    settings: Settings | None = None,
    *,
    start_adapters: bool = True,
) -> FastAPI:
    """The API over ``service`` (its ``store`` holds keys, jobs and the audit log).

    ``settings`` default to :meth:`Settings.load` of the environment (rate limits, data
    dir for job results, ingest feeds). The app does not close ``service``: its creator
    does (``kongtian serve`` closes it after the server stops).
    """
    from kongtian.platform.api import admin, health, jobs, space, traffic

    settings = settings if settings is not None else Settings.load()
    adapters = _Adapters()
    runner = JobRunner(service.store, settings.jobs_dir, workers=settings.job_workers)

    # Test clients (schemathesis among them) may enter the lifespan again while it runs:
    # only the outermost entry starts and stops the background parts.
    depth = [0]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        depth[0] += 1
        if depth[0] > 1:
            try:
                yield
            finally:
                depth[0] -= 1
            return
        runner.start()
        sweep = asyncio.create_task(_retention_loop(service, settings))
        try:
            if start_adapters:
                await asyncio.to_thread(adapters.start, service, settings)
            yield
        finally:
            depth[0] -= 1
            sweep.cancel()
            await asyncio.to_thread(adapters.stop)
            await asyncio.to_thread(runner.shutdown)

    app = FastAPI(
        title="Kongtian platform",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,  # 413 beyond: bounds memory per request
    )
    app.state.service = service
    app.state.settings = settings
    app.state.auth = Authenticator(
        service.store, RateLimiter(settings.rate_per_s, settings.rate_burst)
    )
    app.state.jobs = runner
    app.state.adapters = adapters

    @app.exception_handler(KongtianError)
    async def _kongtian_error(request: Request, exc: KongtianError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status_for(exc))

    @app.get("/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    app.include_router(traffic.router)
    app.include_router(space.router)
    app.include_router(jobs.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    health.install_metrics(app)
    from kongtian.console import mount as mount_console
    from kongtian.platform.api import stream

    app.include_router(stream.router)
    # the web console's static files at / (after the API routes, which take precedence)
    mount_console(app)
    return app
