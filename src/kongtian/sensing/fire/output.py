"""Fire pixels as GeoJSON (points and cluster polygons, WGS84) and as alert conditions.

- :func:`fire_points`: one Point per fire pixel at the pixel centre, with ``id``
  ``fire:<scene>:<row>:<col>``, ``confidence`` (0-100), ``confidence_class``
  (low/nominal/high), ``test`` (absolute/contextual), ``sensor``, ``algorithm``,
  ``swir22`` (2.2 um reflectance), ``time_utc``.
- :func:`fire_polygons`: the pixel footprints of 8-connected fire clusters, one Polygon or
  MultiPolygon per cluster, with ``pixels``, ``max_confidence`` and the pixel ids.
- :func:`fire_alerts`: condition dicts for :class:`kongtian.traffic.alerts.AlertManager`
  style consumers: ``kind = "active_fire"``, ``object_id = fire:<scene>:<row>:<col>``,
  ``other_id = None``, ``time_utc``, ``severity`` (high -> warning, nominal -> advisory,
  low -> info) and ``details``.
Coordinates are WGS84 longitude/latitude (RFC 7946); grids without a CRS keep their own
coordinates and say so in the collection's ``crs_note``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .result import TEST_NAMES, FireResult, confidence_class

SEVERITY = {"high": "warning", "nominal": "advisory", "low": "info"}


def _lonlat(xs: Any, ys: Any, crs: Any) -> tuple[list[float], list[float]]:
    if crs is None or len(xs) == 0:
        return [float(x) for x in xs], [float(y) for y in ys]
    from rasterio.warp import transform

    lon, lat = transform(crs, "EPSG:4326", list(map(float, xs)), list(map(float, ys)))
    return list(lon), list(lat)


def pixel_id(scene_id: str, row: int, col: int) -> str:
    """``fire:<scene>:<row>:<col>`` in lower case."""
    return f"fire:{scene_id.strip().lower()}:{int(row)}:{int(col)}"


def fire_table(
    result: FireResult, transform: Any, crs: Any, scene_id: str, time_utc: str | None = None
) -> list[dict[str, Any]]:
    """One dict per fire pixel (row-major order) with position and attributes."""
    rows, cols = np.nonzero(result.fire)
    xs = [
        transform.c + (c + 0.5) * transform.a + (r + 0.5) * transform.b
        for r, c in zip(rows, cols, strict=True)
    ]
    ys = [
        transform.f + (c + 0.5) * transform.d + (r + 0.5) * transform.e
        for r, c in zip(rows, cols, strict=True)
    ]
    lon, lat = _lonlat(xs, ys, crs)
    conf = result.confidence[rows, cols]
    classes = confidence_class(conf)
    swir = result.extra.get("swir22")
    out = []
    for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        out.append(
            {
                "id": pixel_id(scene_id, r, c),
                "row": r,
                "col": c,
                "lon_deg": round(float(lon[i]), 7),
                "lat_deg": round(float(lat[i]), 7),
                "confidence": int(round(float(conf[i]))),
                "confidence_class": str(classes[i]),
                "test": TEST_NAMES.get(int(result.test[r, c]), "none"),
                "sensor": result.sensor,
                "algorithm": result.algorithm,
                "swir22": None if swir is None else round(float(swir[r, c]), 4),
                "time_utc": time_utc,
            }
        )
    return out


def _collection(features: list[dict[str, Any]], crs: Any) -> dict[str, Any]:
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is None:
        fc["crs_note"] = "grid has no CRS: coordinates are the grid's own"
    return fc


def fire_points(
    result: FireResult, transform: Any, crs: Any, scene_id: str, time_utc: str | None = None
) -> dict[str, Any]:
    """Fire pixels as a GeoJSON FeatureCollection of Points."""
    feats = []
    for rec in fire_table(result, transform, crs, scene_id, time_utc):
        props = {k: v for k, v in rec.items() if k not in ("lon_deg", "lat_deg")}
        feats.append(
            {
                "type": "Feature",
                "id": rec["id"],
                "geometry": {"type": "Point", "coordinates": [rec["lon_deg"], rec["lat_deg"]]},
                "properties": props,
            }
        )
    return _collection(feats, crs)


def fire_polygons(
    result: FireResult, transform: Any, crs: Any, scene_id: str, time_utc: str | None = None
) -> dict[str, Any]:
    """8-connected fire clusters as pixel-footprint polygons (GeoJSON, WGS84)."""
    from rasterio.features import shapes
    from rasterio.warp import transform_geom
    from scipy.ndimage import label
    from shapely.geometry import mapping, shape
    from shapely.ops import unary_union

    labels, n = label(result.fire, structure=np.ones((3, 3), dtype=bool))
    feats = []
    if n:
        parts: dict[int, list[Any]] = {}
        lab32 = labels.astype(np.int32)
        for geom, value in shapes(lab32, mask=lab32 > 0, connectivity=4, transform=transform):
            parts.setdefault(int(value), []).append(shape(geom))
        for k in range(1, n + 1):
            rr, cc = np.nonzero(labels == k)
            geom = mapping(unary_union(parts[k]))
            if crs is not None:
                geom = transform_geom(crs, "EPSG:4326", geom)
            conf = result.confidence[rr, cc]
            top = int(np.argmax(conf))
            cid = pixel_id(scene_id, int(rr[top]), int(cc[top])).replace("fire:", "firecluster:")
            feats.append(
                {
                    "type": "Feature",
                    "id": cid,
                    "geometry": geom,
                    "properties": {
                        "id": cid,
                        "pixels": int(rr.size),
                        "max_confidence": int(round(float(conf.max()))),
                        "confidence_class": str(confidence_class(conf.max())),
                        "pixel_ids": [
                            pixel_id(scene_id, r, c)
                            for r, c in zip(rr.tolist(), cc.tolist(), strict=True)
                        ],
                        "sensor": result.sensor,
                        "algorithm": result.algorithm,
                        "time_utc": time_utc,
                    },
                }
            )
    return _collection(feats, crs)


def fire_alerts(
    result: FireResult, transform: Any, crs: Any, scene_id: str, time_utc: str | None = None
) -> list[dict[str, Any]]:
    """Alert conditions, one per fire pixel (``kind = "active_fire"``)."""
    alerts = []
    for rec in fire_table(result, transform, crs, scene_id, time_utc):
        alerts.append(
            {
                "kind": "active_fire",
                "object_id": rec["id"],
                "other_id": None,
                "time_utc": time_utc,
                "severity": SEVERITY[rec["confidence_class"]],
                "details": {
                    "lat_deg": rec["lat_deg"],
                    "lon_deg": rec["lon_deg"],
                    "confidence": rec["confidence"],
                    "confidence_class": rec["confidence_class"],
                    "test": rec["test"],
                    "sensor": rec["sensor"],
                    "algorithm": rec["algorithm"],
                },
            }
        )
    return alerts
