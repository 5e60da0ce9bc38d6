"""Run the right fire algorithm on a scene folder or a STAC item file.

- a folder with ``*_MTL.txt``: Landsat-8/9 (bands 1-7 and QA), :func:`.landsat.schroeder2016`;
- a folder with ``B12.tif``, or a STAC item ``*.json`` whose assets resolve to local
  files (:func:`kongtian.sensing.stac.resolve_asset`): Sentinel-2 L2A (B8A, B11, B12,
  SCL), :func:`.sentinel2.murphy2016`;
- a folder with MODIS ``*_B07.TIF``: MCD43A4 NBAR bands 2/6/7, the Murphy analogue.

Reading goes through :mod:`kongtian.sensing.scenes` (grid from the files, scaling from
MTL / STAC ``raster:bands``, QA cloud masks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kongtian.errors import FormatError

from .result import FireResult

LANDSAT_BANDS = ("coastal", "blue", "green", "red", "nir", "swir16", "swir22")
SWIR_BANDS = ("nir08", "swir16", "swir22")


@dataclass
class FireScene:
    """A detection with the grid and identity needed to write it out."""

    scene_id: str
    result: FireResult
    transform: Any
    crs: Any
    time_utc: str | None
    notes: list[str]


def _landsat_time(folder: Path) -> str | None:
    from kongtian.sensing.scaling import read_mtl

    mtl_path = next(iter(sorted(folder.glob("*_MTL.txt"))), None)
    if mtl_path is None:
        return None
    mtl = read_mtl(mtl_path)
    attrs = mtl.get("IMAGE_ATTRIBUTES", {})
    meta = mtl.get("PRODUCT_METADATA", {})
    date = attrs.get("DATE_ACQUIRED") or meta.get("DATE_ACQUIRED")
    tod = attrs.get("SCENE_CENTER_TIME") or meta.get("SCENE_CENTER_TIME")
    if not date:
        return None
    return f"{date}T{tod[:8]}Z" if tod else f"{date}T00:00:00Z"


def _is_landsat(folder: Path) -> bool:
    return any(folder.glob("*_MTL.txt"))


def _find(folder: Path, pattern: str) -> Path | None:
    rx = re.compile(pattern, re.IGNORECASE)
    for p in sorted(folder.iterdir()):
        if rx.fullmatch(p.name):
            return p
    return None


def detect_scene(path: str | Path) -> FireScene:
    """Detect fires in the scene at ``path`` (folder or STAC item JSON)."""
    import numpy as np

    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".json":
        folder = p.parent
    elif p.is_dir():
        folder = p
    else:
        raise FormatError("not a scene folder or STAC item (.json)", path=str(p))
    scene_id = folder.name.lower()
    notes: list[str] = []
    if _is_landsat(folder):
        from kongtian.sensing.scenes import load_landsat

        from .landsat import schroeder2016

        sc = load_landsat(folder, LANDSAT_BANDS)
        if sc.sensor.endswith("l2"):
            notes.append("Collection-2 surface reflectance used in place of TOA reflectance")
        res = schroeder2016(sc.bands, sc.cloud, sensor="landsat-oli")
        return FireScene(scene_id, res, sc.transform, sc.crs, _landsat_time(folder), notes)
    if _find(folder, r"B12\.tif") is not None or p.is_file():
        from kongtian.sensing.scaling import read_stac_item
        from kongtian.sensing.scenes import load_sentinel2

        from .sentinel2 import murphy2016

        # an item file: its assets are resolved to local files (kongtian.sensing.stac)
        sc = load_sentinel2(p if p.is_file() else folder, SWIR_BANDS)
        item_path = p if p.is_file() else _find(folder, r".*\.json")
        when = None
        if item_path is not None:
            item = read_stac_item(item_path)
            scene_id = str(item.get("id", scene_id)).lower()
            when = (item.get("properties") or {}).get("datetime")
        b = sc.bands
        res = murphy2016(b["nir08"], b["swir16"], b["swir22"], sc.cloud, sensor="sentinel-2")
        notes.append("SCL classes 0/1 (no data, saturated/defective) are read as no data")
        if p.is_file():
            notes.append("bands resolved from the STAC item's assets; grid from the files")
        return FireScene(scene_id, res, sc.transform, sc.crs, when, notes)
    if _find(folder, r".*_B07\.TIF") is not None:
        from kongtian.sensing.scenes import load_modis

        from .sentinel2 import murphy2016

        sc = load_modis(folder, ("nir", "swir16", "swir22"))
        b = sc.bands
        res = murphy2016(b["nir"], b["swir16"], b["swir22"], None, sensor="modis")
        notes.append("MODIS NBAR: Murphy SWIR tests on bands 2/6/7 (no thermal bands, no QA)")
        m = re.search(r"\.A(\d{4})(\d{3})\.", next(iter(sorted(folder.glob("*_B07.TIF")))).name)
        when = None
        if m:
            day = np.datetime64(f"{m.group(1)}-01-01") + np.timedelta64(int(m.group(2)) - 1, "D")
            when = f"{day}T00:00:00Z"
        return FireScene(scene_id, res, sc.transform, sc.crs, when, notes)
    raise FormatError(
        "no Landsat *_MTL.txt, Sentinel-2 B12.tif or MODIS *_B07.TIF in the folder",
        path=str(folder),
    )
