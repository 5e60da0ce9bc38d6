"""Persistent storage of the platform service behind one interface.

``open_store(url)`` picks the backend from the URL:

- ``duckdb:///abs/path.db`` or ``duckdb://rel/path.db`` (a file), ``duckdb://:memory:``;
- ``postgresql://user@host:port/db?schema=name`` (``postgres://`` too); ``schema``
  isolates tests and deployments (created if missing, default ``public``).
"""

from __future__ import annotations

from kongtian.platform.store.base import (
    DEFAULT_RETENTION_S,
    STORED_REPORT_SCHEMA,
    InsertResult,
    NotFound,
    Quarantined,
    Store,
    VersionConflict,
)

__all__ = [
    "DEFAULT_RETENTION_S",
    "STORED_REPORT_SCHEMA",
    "InsertResult",
    "NotFound",
    "Quarantined",
    "Store",
    "VersionConflict",
    "open_store",
]


def open_store(url: str) -> Store:
    """Open (and create or migrate) the store named by ``url``; ConfigError if malformed."""
    from kongtian.errors import ConfigError

    if url.startswith("duckdb://"):
        from kongtian.platform.store.duckdb_store import DuckDBStore

        path = url[len("duckdb://") :]
        if not path:
            raise ConfigError(f"no database path in {url!r}", option="store_url")
        return DuckDBStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        from kongtian.platform.store.postgres_store import PostgresStore

        return PostgresStore(url)
    raise ConfigError(
        f"unsupported store URL {url!r} (expected duckdb:///path, duckdb://:memory: "
        "or postgresql://user@host:port/db?schema=name)",
        option="store_url",
    )
