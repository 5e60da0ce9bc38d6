"""Helpers for the API tests: a real app on a real store with one key per role.

The store is DuckDB (in memory, or a file under ``tmp_path``) or PostgreSQL on
127.0.0.1 in a schema of its own; the service is the real :class:`Service`; requests go
through Starlette's ASGI test client, i.e. through the whole FastAPI stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kongtian.platform.api.app import create_app
from kongtian.platform.auth import create_dev_keys
from kongtian.platform.config import Settings
from kongtian.platform.service import Service
from kongtian.platform.store import open_store

ROLES = ("public", "operator", "regulator", "admin")
FLEET = "dev-fleet"  # owner of the dev operator key


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]
    service: Service
    settings: Settings
    app: FastAPI

    def h(self, role: str | None) -> dict[str, str]:
        """Headers carrying the key of ``role`` (None: no key)."""
        return {} if role is None else {"X-API-Key": self.keys[role]}

    def get(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.get(path, headers=self.h(role), **kw)

    def post(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.post(path, headers=self.h(role), **kw)

    def put(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.put(path, headers=self.h(role), **kw)

    def delete(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        return self.client.delete(path, headers=self.h(role), **kw)


@contextmanager
def api(tmp_path: Path, store_url: str = "duckdb://:memory:", **settings: Any) -> Iterator[Api]:
    """A running app (lifespan entered) with dev keys; everything closed afterwards."""
    settings.setdefault("rate_per_s", 0)
    cfg = Settings(data_dir=tmp_path, store_url=store_url, **settings)
    store = open_store(store_url)
    service = Service(store, settings=cfg, pipeline_options={"reload_every_s": 0})
    try:
        keys = create_dev_keys(store, owner=FLEET)
        app = create_app(service, cfg, start_adapters=False)
        with TestClient(app) as client:
            yield Api(client, keys, service, cfg, app)
    finally:
        service.close()
        store.close()


def require_pg() -> None:
    """Fail (not skip) with a clear message when PostgreSQL is down."""
    import socket

    import pytest

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return
    except OSError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc}); start it (CI: .ci/run)"
        )


@contextmanager
def store_url(backend: str) -> Iterator[str]:
    """A fresh store URL for ``backend`` (``duckdb`` in memory, ``postgresql`` in a new
    schema dropped afterwards)."""
    if backend == "duckdb":
        yield "duckdb://:memory:"
        return
    require_pg()
    url = pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(url)


def pg_url() -> str:
    """A PostgreSQL store URL in a fresh schema (the store creates it)."""
    return f"postgresql://postgres@127.0.0.1:5432/test?schema=h3api_{uuid.uuid4().hex[:10]}"


def drop_pg_schema(url: str) -> None:
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def report(
    object_id: str, t: str, lat: float, lon: float, *, source: str = "adsb", **extra: Any
) -> dict[str, Any]:
    return {"object_id": object_id, "source": source, "time_utc": t,
            "lat_deg": lat, "lon_deg": lon, **extra}  # fmt: skip


def square(lon: float, lat: float, half_deg: float) -> dict[str, Any]:
    """A GeoJSON Polygon: a square of side 2 * half_deg around (lon, lat)."""
    x0, x1, y0, y1 = lon - half_deg, lon + half_deg, lat - half_deg, lat + half_deg
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def zone_feature(zone_id: str, kind: str = "no-fly", **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": zone_id,
        "geometry": square(106.55, 29.56, 0.05),
        "properties": {"kind": kind, "name": zone_id, **props},
    }


def volume(
    lon: float, lat: float, t0: str, t1: str, *, lo: float = 0.0, hi: float = 120.0
) -> dict[str, Any]:
    return {"outline": square(lon, lat, 0.01), "alt_lower_m": lo, "alt_upper_m": hi,
            "alt_ref": "wgs84", "t_start_utc": t0, "t_end_utc": t1}  # fmt: skip
