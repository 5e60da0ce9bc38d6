"""Scene folders as reflectance arrays on one grid, with cloud and no-data masks.

A folder holds one GeoTIFF per band, named by band:

- Landsat 8/9: ``*_B3.TIF`` (Collection 1/2 Level-1, with ``*_BQA.TIF`` or
  ``*_QA_PIXEL.TIF``) or ``*_SR_B3.TIF`` (Collection 2 Level-2, ``*_QA_PIXEL.TIF``), plus
  the ``*_MTL.txt`` that gives the scaling (:mod:`.scaling`);
- Sentinel-2 L2A: ``B03.tif``, ``B11.tif``, ..., optional ``SCL.tif`` and a STAC item
  ``*.json`` whose ``raster:bands`` give the scaling (default 1e-4, offset 0, nodata 0);
  or the item file itself, whose assets are resolved to local files by
  :func:`kongtian.sensing.stac.resolve_asset`;
- MODIS MCD43A4: ``*_B01.TIF`` ... ``*_B07.TIF`` (scale 1e-4, nodata 32767).

Bands of different resolution are brought to the coarsest band's grid by block means
(integer factors, same origin): the grid is taken from the files, never from metadata.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import FormatError, NotFound

from .bands import ALIASES, band_id
from .scaling import (
    apply_scaling,
    landsat_reflectance,
    read_mtl,
    read_stac_item,
    stac_asset_for_file,
    stac_scaling,
)

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class Scene:
    """Reflectance bands (float32, NaN = no data) on one grid.

    ``cloud`` is True where the product's own QA flags cloud, cloud shadow or cirrus
    (all False when the folder has no QA band). ``transform`` is an ``affine.Affine`` and
    ``crs`` a ``rasterio.crs.CRS`` (or None for grids without one).
    """

    sensor: str
    bands: dict[str, FloatArray]
    cloud: BoolArray
    transform: Any
    crs: Any

    @property
    def valid(self) -> BoolArray:
        """True where every band has data."""
        ok = np.ones(self.shape, dtype=bool)
        for b in self.bands.values():
            ok &= np.isfinite(b)
        return ok

    @property
    def shape(self) -> tuple[int, int]:
        first = next(iter(self.bands.values()))
        return (int(first.shape[0]), int(first.shape[1]))


def _read(path: Path) -> tuple[Any, Any, Any, tuple[float, float]]:
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return ds.read(1), ds.transform, ds.crs, ds.res
    except rasterio.errors.RasterioIOError as exc:
        raise FormatError(f"cannot read raster: {exc}", path=str(path)) from None


def _block_mean(arr: FloatArray, factor: int, shape: tuple[int, int]) -> FloatArray:
    """Mean over ``factor x factor`` blocks (NaN if any is NaN), cropped/padded to ``shape``."""
    if factor == 1:
        out = arr
    else:
        h, w = (arr.shape[0] // factor) * factor, (arr.shape[1] // factor) * factor
        out = arr[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    res = np.full(shape, np.nan, dtype=np.float32)
    hh, ww = min(shape[0], out.shape[0]), min(shape[1], out.shape[1])
    res[:hh, :ww] = out[:hh, :ww]
    return res


def _find(folder: Path, pattern: str) -> Path | None:
    rx = re.compile(pattern, re.IGNORECASE)
    hits = sorted(p for p in folder.iterdir() if rx.fullmatch(p.name))
    return hits[0] if hits else None


def _stack(
    sensor: str,
    raw: dict[str, tuple[FloatArray, Any, Any, tuple[float, float]]],
    cloud_raw: tuple[BoolArray, Any, Any, tuple[float, float]] | None,
) -> Scene:
    coarse = max(raw.values(), key=lambda r: r[3][0])
    res, transform, crs = coarse[3][0], coarse[1], coarse[2]
    shape = coarse[0].shape
    bands: dict[str, FloatArray] = {}
    for name, (arr, tr, _crs, r) in raw.items():
        factor = int(round(res / r[0]))
        if abs(factor * r[0] - res) > 1e-6 * res or (tr.c, tr.f) != (transform.c, transform.f):
            raise FormatError(f"band {name} is not on a grid nested in the {res:g} m grid")
        bands[name] = _block_mean(arr, factor, shape)
    cloud = np.zeros(shape, dtype=bool)
    if cloud_raw is not None:
        factor = int(round(res / cloud_raw[3][0]))
        cloud = _block_mean(cloud_raw[0].astype(np.float32), factor, shape) > 0
    return Scene(sensor=sensor, bands=bands, cloud=cloud, transform=transform, crs=crs)


def landsat_cloud(qa: Any, collection2: bool) -> BoolArray:
    """Cloud/shadow/cirrus mask from a Landsat QA band.

    Collection 2 ``QA_PIXEL``: bits 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow.
    Collection 1 ``BQA``: bit 4 cloud, or high confidence (3) in the 2-bit fields cloud
    (bits 5-6), cloud shadow (7-8) or cirrus (11-12).
    """
    q = np.asarray(qa).astype(np.uint32)
    if collection2:
        return np.asarray((q & 0b11110) != 0)
    hi = ((q >> 5) & 3 == 3) | ((q >> 7) & 3 == 3) | ((q >> 11) & 3 == 3)
    return np.asarray(((q >> 4) & 1 == 1) | hi)


def load_landsat(folder: str | Path, bands: Sequence[str] = ("green", "nir", "swir16")) -> Scene:
    """Landsat 8/9 folder (see module doc); ``bands`` are common names."""
    f = Path(folder)
    if not f.is_dir():
        raise FormatError("not a folder", path=str(f))
    mtl_path = _find(f, r".*_MTL\.txt")
    if mtl_path is None:
        raise FormatError("no *_MTL.txt in the Landsat folder", path=str(f))
    mtl = read_mtl(mtl_path)
    level2 = _find(f, r".*_SR_B\d\.TIF") is not None
    sensor = "landsat-oli-l2" if level2 else "landsat-oli-l1"
    raw: dict[str, Any] = {}
    for name in bands:
        bid = band_id(sensor, name)
        path = _find(f, rf".*_{bid}\.TIF")
        if path is None:
            raise FormatError(f"no *_{bid}.TIF ({name}) in the folder", path=str(f))
        dn, tr, crs, res = _read(path)
        number = int(bid.rsplit("B", 1)[1])
        raw[ALIASES.get(name, name)] = (landsat_reflectance(dn, mtl, number), tr, crs, res)
    qa_path = _find(f, r".*_QA_PIXEL\.TIF") or _find(f, r".*_BQA\.TIF")
    cloud_raw = None
    if qa_path is not None:
        qa, tr, crs, res = _read(qa_path)
        c2 = "QA_PIXEL" in qa_path.name.upper()
        cloud = landsat_cloud(qa, collection2=c2) & (qa != 1)  # value 1 = fill only
        cloud_raw = (cloud, tr, crs, res)
    return _stack(sensor, raw, cloud_raw)


#: Sentinel-2 scene-classification classes treated as cloud: shadow, cloud medium/high,
#: thin cirrus. Class 0 (no data) and 1 (saturated/defective) become no data.
S2_SCL_CLOUD = (3, 8, 9, 10)


def load_sentinel2(folder: str | Path, bands: Sequence[str] = ("green", "nir", "swir16")) -> Scene:
    """Sentinel-2 L2A folder or STAC item JSON (see module doc); ``bands`` are common names.

    Given an item file, each band's file is found with :func:`.stac.resolve_asset` (local
    href, else the same base name in the item's folder) and scaled by its own asset.
    """
    f = Path(folder)
    stac_item = None
    item_path: Path | None
    if f.is_file() and f.suffix.lower() == ".json":
        from .stac import read_item

        stac_item, item_path, f = read_item(f), f, f.parent
    elif not f.is_dir():
        raise FormatError("not a folder or STAC item (.json)", path=str(f))
    else:
        item_path = _find(f, r".*\.json")
    item = read_stac_item(item_path) if item_path is not None else None
    raw: dict[str, Any] = {}
    for name in bands:
        bid = band_id("sentinel-2", name)
        key = None
        if stac_item is not None:
            from .stac import asset_key, resolve_asset

            key = asset_key(stac_item, bid)
            path: Path | None = resolve_asset(stac_item, key)
        else:
            path = _find(f, rf"{bid}\.tif")
        if path is None:
            raise FormatError(f"no {bid}.tif ({name}) in the folder", path=str(f))
        scale, offset, nodata = 1e-4, 0.0, 0.0
        if item is not None:
            try:
                asset = item["assets"][key] if key else stac_asset_for_file(item, path.name)[1]
                scale, offset, nodata_s = stac_scaling(asset)
                nodata = 0.0 if nodata_s is None else nodata_s
            except NotFound:
                pass
        dn, tr, crs, res = _read(path)
        raw[ALIASES.get(name, name)] = (apply_scaling(dn, scale, offset, nodata), tr, crs, res)
    scl_path = _find(f, r"SCL\.tif")
    if stac_item is not None and "scl" in stac_item.assets:
        from .stac import resolve_asset

        try:
            scl_path = resolve_asset(stac_item, "scl")
        except FormatError:
            scl_path = None
    cloud_raw = None
    scene_nodata = None
    if scl_path is not None:
        scl, tr, crs, res = _read(scl_path)
        cloud_raw = (np.isin(scl, S2_SCL_CLOUD), tr, crs, res)
        scene_nodata = (np.isin(scl, (0, 1)), tr, crs, res)
    scene = _stack("sentinel-2", raw, cloud_raw)
    if scene_nodata is not None:
        factor = int(round(abs(scene.transform.a) / scene_nodata[3][0]))
        bad = _block_mean(scene_nodata[0].astype(np.float32), factor, scene.shape) > 0
        for b in scene.bands.values():
            b[bad] = np.nan
    return scene


def load_modis(folder: str | Path, bands: Sequence[str] = ("green", "nir", "swir16")) -> Scene:
    """MODIS MCD43A4 folder (``*_B0n.TIF``, scale 1e-4, nodata 32767)."""
    f = Path(folder)
    if not f.is_dir():
        raise FormatError("not a folder", path=str(f))
    raw: dict[str, Any] = {}
    for name in bands:
        bid = band_id("modis", name)
        path = _find(f, rf".*_{bid}\.TIF")
        if path is None:
            raise FormatError(f"no *_{bid}.TIF ({name}) in the folder", path=str(f))
        dn, tr, crs, res = _read(path)
        raw[ALIASES.get(name, name)] = (apply_scaling(dn, 1e-4, 0.0, 32767), tr, crs, res)
    return _stack("modis", raw, None)
