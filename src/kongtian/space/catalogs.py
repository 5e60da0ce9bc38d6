"""Catalog snapshots shipped with the package (real CelesTrak element sets, offline).

See ``space/data/catalogs/SOURCES.md`` for origins and epochs.
"""

from __future__ import annotations

from importlib.resources import as_file, files

from kongtian.errors import NotFound
from kongtian.space.catalog import Catalog, load_catalog

SHIPPED = {
    "qianfan": ("qianfan_2026-02-20.tle", "2026-02-20T00:00:00Z"),
    "starlink": ("starlink_2025-01-23.tle", "2025-01-23T00:00:00Z"),
    "oneweb": ("oneweb_2025-01-05.tle", "2025-01-05T00:00:00Z"),
}


def list_shipped() -> list[str]:
    return sorted(SHIPPED)


def shipped_catalog(name: str) -> Catalog:
    """Load a shipped snapshot by name (``qianfan``, ``starlink``, ``oneweb``)."""
    key = name.lower()
    if key not in SHIPPED:
        raise NotFound(f"no shipped catalog {name!r}; known: {', '.join(list_shipped())}")
    res = files("kongtian.space").joinpath("data/catalogs/" + SHIPPED[key][0])
    with as_file(res) as path:
        return load_catalog(path, group=key)


def suggested_start(name: str) -> str:
    """A window start (UTC, ISO) close to the snapshot's epochs."""
    return SHIPPED[name.lower()][1]
