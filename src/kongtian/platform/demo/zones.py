"""The demo's Chongqing zones: a GeoJSON FeatureCollection shipped with the package.

``data/chongqing_zones.geojson`` follows the property conventions of
:meth:`kongtian.traffic.zones.ZoneSet.from_geojson` (``kind``, ``floor_m`` /
``ceiling_m``, ``alt_ref``, ``radius_m`` for circles, ``speed_limit_m_s``, ``schedule``).
The coordinates are **approximate, for demonstration only** (see ``data/SOURCES.md``):
the Jiangbei airport (ZUCK) UAV no-fly area and control zone, a no-fly zone over the
Yuzhong peninsula (Jiefangbei), the open-airspace ceiling of 120 m true height over the
main city, Yangtze and Jialing fairway sections (``kind = "alert-only"`` with
``purpose = "fairway"``: the zone kinds have no fairway kind; the pipeline raises no
alert for them, they are there for fairway rules such as
:func:`kongtian.traffic.alerts.anchored_in_fairway`), a speed limit over Jiangbeizui,
an authorised UAV corridor and a scheduled watch area.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from kongtian.traffic.zones import ZoneSet

DATA_DIR = Path(__file__).resolve().parent / "data"
ZONES_PATH = DATA_DIR / "chongqing_zones.geojson"


def demo_zones() -> dict[str, Any]:
    """The demo zones as a parsed GeoJSON FeatureCollection (a fresh copy each call)."""
    obj: dict[str, Any] = json.loads(ZONES_PATH.read_text(encoding="utf-8"))
    return obj


def demo_features() -> list[dict[str, Any]]:
    """The zone features, each with its ``id`` set (the store keys zones by it)."""
    return [dict(f, id=f.get("id") or f["properties"]["id"]) for f in demo_zones()["features"]]


@cache
def demo_zone_set() -> ZoneSet:
    """The demo zones as a :class:`~kongtian.traffic.zones.ZoneSet` (cached)."""
    return ZoneSet.from_geojson(ZONES_PATH)
