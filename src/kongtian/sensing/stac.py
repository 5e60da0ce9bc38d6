"""STAC items and local collections as lazy, dask-backed ``xarray`` bands, offline.

- :func:`read_item`, :func:`read_collection`, :func:`collection_items` read STAC JSON with
  pystac through a reader that refuses network hrefs (:class:`LocalStacIO`).
- :func:`resolve_asset` maps an asset to a local file. A local href (relative hrefs are
  taken against the item file) is used when it exists; otherwise, and for remote hrefs
  (``s3://``, ``https://``...), the file is looked up in a local folder (by default the
  item's own folder) by the href's base name (``B11.tif``), then by the asset key
  (``swir16.tif``). No match is a :class:`~kongtian.errors.FormatError` naming the asset.
- :func:`load_band` / :func:`load` open the files with rioxarray as dask arrays (nothing
  is read until ``.compute()``), scale them with :mod:`.scaling` (STAC ``raster:bands``
  scale/offset/nodata; NaN for no data), and optionally reproject and clip to a region.

Grid rule: the grid is always the file's. When the item's projection metadata
(``proj:shape``, ``proj:transform``, ``proj:epsg``/``proj:code``) disagrees with the file
(the shared Sentinel-2 item describes the 20 m tile, the files are 200 m copies), a
:class:`StacGridWarning` is issued, the note is logged, and the returned ``attrs`` carry
``grid_source = "file"`` and ``grid_note``.

Clip rule (native grid): the region is transformed to the file's CRS, its bounds become a
pixel window with :func:`rasterio.windows.from_bounds`, and the window is rounded outward
to whole pixels (offset floored, end ceiled) and cut to the raster; pixels whose centres
fall outside the region's geometry become NaN (``mask_outside=True``).

Reprojection (``crs=``): a GDAL ``WarpedVRT`` onto a grid of ``resolution`` in the target
CRS whose edges are multiples of the resolution, covering the region (or the whole file),
opened lazily by rioxarray; warping happens chunk by chunk at compute time.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from kongtian.errors import ConfigError, FormatError, NotFound

from .scaling import apply_scaling, stac_scaling

if TYPE_CHECKING:
    import pystac
    import xarray as xr
    from shapely.geometry.base import BaseGeometry

    from kongtian.geo.regions import Region

log = logging.getLogger(__name__)

#: Default dask chunk edge (pixels) for band arrays.
DEFAULT_CHUNK = 512


#: GDAL virtual file systems that read over the network.
_GDAL_REMOTE = ("/vsicurl", "/vsis3", "/vsigs", "/vsiaz", "/vsiadls", "/vsioss", "/vsiswift")


class StacGridWarning(UserWarning):
    """The item's projection metadata disagrees with the local file's grid."""


def is_remote(href: str) -> bool:
    """True for hrefs with a network scheme (``s3``, ``http(s)``, ``gs``, ``az``, ...)."""
    if href.startswith(_GDAL_REMOTE):
        return True
    scheme = urlparse(href).scheme.lower()
    # one-letter schemes are Windows drive letters; "file" is local.
    return len(scheme) > 1 and scheme != "file"


def _local_path(href: str) -> Path:
    p = urlparse(href)
    return Path(p.path) if p.scheme.lower() == "file" else Path(href)


def _stac_io() -> pystac.StacIO:
    import pystac

    class LocalStacIO(pystac.StacIO):
        """pystac reader/writer for local files only: a network href is an error."""

        def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
            href = str(os.fspath(source))
            if is_remote(href):
                raise FormatError(f"remote STAC href {href!r}: only local files are read")
            try:
                return _local_path(href).read_text(encoding="utf-8")
            except OSError as exc:
                raise FormatError(f"cannot read STAC file: {exc.strerror}", path=href) from None

        def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
            href = str(os.fspath(dest))
            if is_remote(href):
                raise FormatError(f"remote STAC href {href!r}: only local files are written")
            path = _local_path(href)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(txt, encoding="utf-8")

    return LocalStacIO()


def _from_file(cls: Any, path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such STAC file", path=str(p))
    from pystac.errors import STACError, STACTypeError

    try:
        return cls.from_file(str(p.resolve()), stac_io=_stac_io())
    except FormatError:
        raise
    except (STACError, STACTypeError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"not a valid STAC {cls.__name__}: {exc}", path=str(p)) from None


def read_item(path: str | Path) -> pystac.Item:
    """A STAC item from a local JSON file (its self href is the file)."""
    import pystac

    item: pystac.Item = _from_file(pystac.Item, path)
    return item


def read_collection(path: str | Path) -> pystac.Catalog:
    """A local STAC collection (or catalog) JSON file; links are followed locally only."""
    import pystac

    class _Any:
        __name__ = "catalog or collection"

        @staticmethod
        def from_file(href: str, stac_io: pystac.StacIO) -> pystac.STACObject:
            return pystac.read_file(href, stac_io=stac_io)

    obj = _from_file(_Any, path)
    if not isinstance(obj, pystac.Catalog):
        raise FormatError(f"not a STAC catalog or collection: {type(obj).__name__}", path=str(path))
    return obj


def collection_items(path: str | Path) -> list[pystac.Item]:
    """Every item of a local collection/catalog, children included, sorted by id.

    Links are followed by this function, not by pystac, so that a remote ``item`` or
    ``child`` link is refused (:class:`~kongtian.errors.FormatError`) before any reading.
    """
    items: dict[str, pystac.Item] = {}
    seen: set[Path] = set()

    def walk(file: Path) -> None:
        file = file.resolve()
        if file in seen:
            return
        seen.add(file)
        cat = read_collection(file)
        for link in cat.links:
            if link.rel not in ("item", "child"):
                continue
            href = link.get_absolute_href() or link.href
            if is_remote(href):
                raise FormatError(
                    f"remote STAC href {href!r} ({link.rel} link): only local files are read",
                    path=str(file),
                )
            target = _local_path(href)
            if link.rel == "item":
                it = read_item(target)
                items[it.id] = it
            else:
                walk(target)

    walk(Path(path))
    return [items[k] for k in sorted(items)]


# ----------------------------------------------------------------------------- assets


def asset_key(item: pystac.Item, band: str) -> str:
    """Asset key for ``band``: an asset key, a file stem (``B11``) or an eo common name."""
    if band in item.assets:
        return band
    low = band.lower()
    by_stem = [
        key
        for key, asset in item.assets.items()
        if asset.href.rsplit("/", 1)[-1].split(".", 1)[0].lower() == low
    ]
    if by_stem:  # prefer the GeoTIFF (Earth Search items also list B8A.jp2 etc.)
        tif = [k for k in by_stem if re.search(r"(?i)\.tiff?$", item.assets[k].href)]
        return (tif or by_stem)[0]
    for key, asset in item.assets.items():
        for eo in asset.extra_fields.get("eo:bands") or []:
            if str(eo.get("common_name", "")).lower() == low:
                return key
    raise NotFound(f"STAC item {item.id!r} has no asset or band {band!r}")


def resolve_asset(item: pystac.Item, band: str, local_dir: str | Path | None = None) -> Path:
    """Local file of asset/band ``band`` (see the module doc for the lookup order)."""
    key = asset_key(item, band)
    href = item.assets[key].href
    self_href = item.get_self_href()
    base = Path(_local_path(self_href)).parent if self_href and not is_remote(self_href) else None
    if not is_remote(href):
        p = _local_path(href)
        if not p.is_absolute() and base is not None:
            p = base / p
        if p.is_file():
            return p
    folder = Path(local_dir) if local_dir is not None else base
    if folder is None or not folder.is_dir():
        raise FormatError(
            f"asset {key!r} ({href}) is not local and no local folder holds it",
            path=None if folder is None else str(folder),
        )
    names = [href.rsplit("/", 1)[-1].lower(), f"{key}.tif".lower(), f"{key}.tiff".lower()]
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for n in names:
        if n in files:
            return files[n]
    raise FormatError(
        f"asset {key!r} ({href}) has no local copy: looked for {', '.join(dict.fromkeys(names))}",
        path=str(folder),
    )


# ----------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class Grid:
    """A raster grid: ``(rows, cols)``, ``affine.Affine`` transform, ``rasterio`` CRS."""

    shape: tuple[int, int]
    transform: Any
    crs: Any

    def same_as(self, other: Grid, rel: float = 1e-9) -> bool:
        """Same shape, CRS and (to ``rel`` of the pixel size) transform."""
        if self.shape != other.shape or (self.crs is None) != (other.crs is None):
            return False
        if self.crs is not None and self.crs != other.crs:
            return False
        tol = rel * max(abs(self.transform.a), abs(self.transform.e), 1.0)
        return all(
            abs(a - b) <= tol for a, b in zip(self.transform[:6], other.transform[:6], strict=True)
        )


def item_grid(item: pystac.Item, band: str) -> Grid | None:
    """The grid the item's projection metadata gives for ``band`` (asset over item level).

    ``None`` when ``proj:shape`` or ``proj:transform`` is missing.
    """
    from affine import Affine
    from rasterio.crs import CRS

    key = asset_key(item, band)
    asset = item.assets[key].extra_fields

    def get(name: str) -> Any:
        return asset.get(name, item.properties.get(name))

    shape, tr = get("proj:shape"), get("proj:transform")
    if shape is None or tr is None or len(shape) != 2 or len(tr) not in (6, 9):
        return None
    code = get("proj:code")
    epsg = get("proj:epsg")
    crs = None
    try:
        if code:
            crs = CRS.from_user_input(code)
        elif epsg:
            crs = CRS.from_epsg(int(epsg))
    except Exception as exc:  # rasterio CRSError and friends
        raise FormatError(f"item {item.id!r}: bad projection code: {exc}") from None
    return Grid((int(shape[0]), int(shape[1])), Affine(*[float(v) for v in tr[:6]]), crs)


def file_grid(path: str | Path) -> Grid:
    """Grid of a raster file (header only)."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            return Grid((ds.height, ds.width), ds.transform, ds.crs)
    except rasterio.errors.RasterioIOError as exc:
        raise FormatError(f"cannot read raster: {exc}", path=str(path)) from None


def _describe(g: Grid) -> str:
    t = g.transform
    crs = g.crs.to_string() if g.crs is not None else "no CRS"
    return f"{g.shape[0]}x{g.shape[1]} px of {t.a:g} x {-t.e:g} at ({t.c:g}, {t.f:g}) {crs}"


# ----------------------------------------------------------------------------- regions


def _region_geometry(region: Region | BaseGeometry) -> BaseGeometry:
    geom = getattr(region, "geometry", region)
    if not hasattr(geom, "bounds") or not hasattr(geom, "__geo_interface__"):
        raise ConfigError(f"not a shapely geometry or Region: {type(region).__name__}")
    return geom


def _geometry_in(geom: BaseGeometry, src_crs: Any, dst_crs: Any) -> BaseGeometry:
    from rasterio.warp import transform_geom
    from shapely import segmentize
    from shapely.geometry import shape

    if src_crs == dst_crs:
        return geom
    # densify so that straight lon/lat edges stay curves in the target projection
    span = max(geom.bounds[2] - geom.bounds[0], geom.bounds[3] - geom.bounds[1], 1e-9)
    dense = segmentize(geom, span / 64)
    return shape(transform_geom(src_crs, dst_crs, dense.__geo_interface__))


def outward_window(bounds: tuple[float, float, float, float], transform: Any) -> Any:
    """:func:`rasterio.windows.from_bounds` rounded outward to whole pixels."""
    from rasterio.windows import Window, from_bounds

    w = from_bounds(*bounds, transform=transform)
    eps = 1e-6  # bounds on a pixel edge must not grow by a pixel through float noise
    c0 = math.floor(w.col_off + eps)
    r0 = math.floor(w.row_off + eps)
    c1 = math.ceil(w.col_off + w.width - eps)
    r1 = math.ceil(w.row_off + w.height - eps)
    return Window(c0, r0, c1 - c0, r1 - r0)


def _target_grid(src: Grid, crs: Any, resolution: float | None, geom: BaseGeometry | None) -> Grid:
    """Grid in ``crs`` with edges on multiples of the resolution covering geom or the file."""
    from affine import Affine
    from rasterio.warp import calculate_default_transform, transform_bounds

    h, w = src.shape
    if resolution is None:
        tr, _, _ = calculate_default_transform(
            src.crs, crs, w, h, *_bounds(src.transform, src.shape)
        )
        resolution = float(abs(tr.a))
    if not resolution > 0:
        raise ConfigError(f"must be > 0, got {resolution}", option="resolution")
    if geom is not None:
        left, bottom, right, top = geom.bounds
    else:
        left, bottom, right, top = transform_bounds(
            src.crs, crs, *_bounds(src.transform, src.shape), densify_pts=21
        )
    r = float(resolution)
    x0, x1 = math.floor(left / r) * r, math.ceil(right / r) * r
    y0, y1 = math.floor(bottom / r) * r, math.ceil(top / r) * r
    shape = (max(1, round((y1 - y0) / r)), max(1, round((x1 - x0) / r)))
    return Grid(shape, Affine(r, 0.0, x0, 0.0, -r, y1), crs)


def _bounds(transform: Any, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    from rasterio.transform import array_bounds

    south, west, north, east = array_bounds(shape[0], shape[1], transform)  # type: ignore[no-untyped-call]
    return (float(west), float(south), float(east), float(north))


# ----------------------------------------------------------------------------- loading


def _scaled(data: Any, scale: float, offset: float, nodata: float | None) -> Any:
    import dask.array as da
    import numpy as np

    return da.map_blocks(apply_scaling, data, scale, offset, nodata, dtype=np.float32)


def load_band(
    item: pystac.Item | str | Path,
    band: str,
    *,
    local_dir: str | Path | None = None,
    region: Region | BaseGeometry | None = None,
    region_crs: Any = "EPSG:4326",
    crs: Any = None,
    resolution: float | None = None,
    grid: Grid | None = None,
    resampling: str = "nearest",
    mask_outside: bool = True,
    scale: bool = True,
    chunks: int = DEFAULT_CHUNK,
) -> xr.DataArray:
    """One band of ``item`` as a lazy ``(y, x)`` DataArray on the file's (or a target) grid.

    ``item`` is a pystac Item or the path of an item JSON. ``band`` is an asset key
    (``swir16``), a file stem (``B11``) or an eo common name. ``region`` (shapely
    geometry in ``region_crs``, default lon/lat, or a :class:`kongtian.geo.regions.Region`)
    clips the result; ``crs`` (+ ``resolution`` in its units) reprojects it with
    ``resampling`` (a :class:`rasterio.enums.Resampling` name), ``grid`` warps onto that
    exact grid instead (a region then clips within it). With ``scale`` the values
    are ``scale * DN + offset`` (float32, NaN for no data) from the asset's
    ``raster:bands`` (nodata falls back to the file's); otherwise raw DNs.
    """
    import numpy as np
    import rasterio
    import rioxarray
    import xarray as xr
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.features import geometry_mask
    from rasterio.vrt import WarpedVRT

    it = item if not isinstance(item, str | Path) else read_item(item)
    key = asset_key(it, band)
    path = resolve_asset(it, key, local_dir)
    fgrid = file_grid(path)
    attrs: dict[str, Any] = {
        "stac_item": it.id,
        "asset": key,
        "href": it.assets[key].href,
        "local_path": str(path),
        "grid_source": "file",
    }
    igrid = item_grid(it, key)
    if igrid is not None and not igrid.same_as(fgrid):
        note = (
            f"asset {key!r}: item grid {_describe(igrid)} differs from file {path.name} "
            f"{_describe(fgrid)}; using the file's grid"
        )
        warnings.warn(note, StacGridWarning, stacklevel=2)
        log.info(note)
        attrs["grid_note"] = note
        attrs["item_grid"] = _describe(igrid)

    try:
        rs = Resampling[resampling]
    except KeyError:
        raise ConfigError(f"unknown resampling {resampling!r}", option="resampling") from None
    geom = None if region is None else _region_geometry(region)
    src_crs = CRS.from_user_input(region_crs)

    if grid is not None and (crs is not None or resolution is not None):
        raise ConfigError("give either grid or crs/resolution", option="grid")
    if grid is not None or crs is not None:
        if grid is not None:
            dst = grid.crs
            g = None if geom is None else _geometry_in(geom, src_crs, dst)
            target = grid
        else:
            dst = CRS.from_user_input(crs)
            g = None if geom is None else _geometry_in(geom, src_crs, dst)
            target = _target_grid(fgrid, dst, resolution, g)
        with rasterio.open(path) as ds:
            nodata_file = ds.nodata
            vrt = WarpedVRT(
                ds,
                crs=dst,
                transform=target.transform,
                width=target.shape[1],
                height=target.shape[0],
                resampling=rs,
            )
            opened = rioxarray.open_rasterio(vrt, chunks={"y": chunks, "x": chunks})
            vrt.close()
        grid = target
        geom_native = g
        attrs["resampling"] = rs.name
    else:
        if resolution is not None:
            raise ConfigError("resolution needs crs (the target CRS)", option="resolution")
        with rasterio.open(path) as ds:
            nodata_file = ds.nodata
        opened = rioxarray.open_rasterio(path, chunks={"y": chunks, "x": chunks})
        grid = fgrid
        geom_native = None if geom is None else _geometry_in(geom, src_crs, fgrid.crs)
    if not isinstance(opened, xr.DataArray):
        raise FormatError("expected one raster, got a list of subdatasets", path=str(path))
    da_ = opened.isel(band=0, drop=True)

    if geom_native is not None:
        win = outward_window(geom_native.bounds, grid.transform)
        r0, c0 = max(0, int(win.row_off)), max(0, int(win.col_off))
        r1 = min(grid.shape[0], int(win.row_off + win.height))
        c1 = min(grid.shape[1], int(win.col_off + win.width))
        if r1 <= r0 or c1 <= c0:
            raise ConfigError(f"the region does not overlap asset {key!r}", option="region")
        da_ = da_.isel(y=slice(r0, r1), x=slice(c0, c1))
        from rasterio.windows import Window
        from rasterio.windows import transform as win_transform

        clip_tr = win_transform(Window(c0, r0, c1 - c0, r1 - r0), grid.transform)
        grid = Grid((r1 - r0, c1 - c0), clip_tr, grid.crs)
        attrs["window"] = (r0, c0, r1 - r0, c1 - c0)

    s, o, nd = stac_scaling(it.assets[key].to_dict())
    nd = nd if nd is not None else nodata_file
    if scale:
        data = _scaled(da_.data, s, o, nd)
        attrs.update({"scale": s, "offset": o})
    else:
        data = da_.data
    if nd is not None:
        attrs["nodata"] = nd
    out = da_.copy(data=data)
    if geom_native is not None and mask_outside and not geom_native.equals(geom_native.envelope):
        inside = ~geometry_mask([geom_native], out_shape=grid.shape, transform=grid.transform)
        fill: Any = np.nan if scale else (nd if nd is not None else 0)
        out = out.where(xr.DataArray(inside, dims=("y", "x")), fill)
        if not scale:
            out = out.astype(da_.dtype)
    out = out.rio.write_crs(grid.crs) if grid.crs is not None else out
    out = out.rio.write_transform(grid.transform)
    out.attrs = {k: v for k, v in out.attrs.items() if k in ("AREA_OR_POINT",)}
    out.attrs.update(attrs)
    out.attrs["transform"] = tuple(grid.transform)[:6]
    out.name = key
    return out


def load(
    item: pystac.Item | str | Path,
    bands: Sequence[str],
    **kwargs: Any,
) -> xr.Dataset:
    """Several bands as a Dataset of lazy DataArrays (see :func:`load_band`).

    Bands must end on one grid: when their files differ (Sentinel-2 10/20/60 m) and no
    ``crs``/``grid`` is given, the coarsest band's file grid is the target (``grid=``),
    with ``resampling="average"`` unless another is given.
    """
    import xarray as xr

    if not bands:
        raise ConfigError("no bands requested", option="bands")
    it = item if not isinstance(item, str | Path) else read_item(item)
    local_dir = kwargs.get("local_dir")
    grids = {b: file_grid(resolve_asset(it, b, local_dir)) for b in bands}
    first = next(iter(grids.values()))
    explicit = kwargs.get("crs") is not None or kwargs.get("grid") is not None
    if not explicit and not all(g.same_as(first) for g in grids.values()):
        coarse = max(grids.values(), key=lambda g: abs(g.transform.a))
        kwargs = {**kwargs, "grid": coarse}
        kwargs.setdefault("resampling", "average")
    arrays = {}
    for b in bands:
        da_ = load_band(it, b, **kwargs)
        arrays[str(da_.name)] = da_
    try:
        ds = xr.Dataset(arrays)
    except ValueError as exc:
        raise FormatError(f"bands do not share one grid: {exc}") from None
    ds.attrs["stac_item"] = it.id
    notes = [str(a.attrs["grid_note"]) for a in arrays.values() if "grid_note" in a.attrs]
    if notes:
        ds.attrs["grid_note"] = "; ".join(notes)
    return ds


_BAND_FILE = re.compile(r"(?i)^[^/]+\.tiff?$")


def local_band_files(
    item: pystac.Item | str | Path, local_dir: str | Path | None = None
) -> dict[str, Path]:
    """``{asset key: local file}`` for every GeoTIFF asset with a local copy."""
    it = item if not isinstance(item, str | Path) else read_item(item)
    out: dict[str, Path] = {}
    for key, asset in it.assets.items():
        if not _BAND_FILE.match(asset.href.rsplit("/", 1)[-1]):
            continue
        try:
            out[key] = resolve_asset(it, key, local_dir)
        except FormatError:
            continue
    return out
