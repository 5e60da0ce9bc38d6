"""kongtian.console.mount: the built console at ``/`` without disturbing the API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kongtian.console import STATIC_DIR, mount


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_built_assets_are_shipped() -> None:
    for name in ["index.html", "app.js", "style.css", "vendor/maplibre-gl.mjs"]:
        assert (STATIC_DIR / name).is_file(), name
    for name in ["vendor/maplibre-gl-worker.mjs", "data/land.geojson", "data/chongqing.geojson"]:
        assert (STATIC_DIR / name).is_file(), name
    # Offline: the page references no other origin.
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html


def test_mount_serves_console_and_leaves_api_errors_alone() -> None:
    app = _app()
    assert mount(app) and mount(app)  # idempotent
    assert sum(getattr(r, "name", None) == "console" for r in app.routes) == 1
    c = TestClient(app)
    r = c.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert 'lang="zh-CN"' in r.text
    r = c.get("/vendor/maplibre-gl-worker.mjs")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert c.get("/health").json() == {"ok": True}
    for method, path in [("GET", "/v1/nope"), ("POST", "/v1/nope"), ("POST", "/")]:
        r = c.request(method, path)
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}, (method, path)
