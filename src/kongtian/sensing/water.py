"""Open-water and flood masks from optical indices, and GeoTIFF mask output.

Mask values (uint8): 1 water, 0 land, 255 no data (no data in a band, or cloud).

Threshold: Otsu's method (Otsu 1979) on a 256-bin histogram of the index over the valid
pixels: the threshold maximising the between-class variance. Otsu always splits, even a
scene without water; so the split is accepted only when it separates two real modes,
i.e. the separability ``eta = sigma_between^2 / sigma_total^2`` is at least
``min_separability`` (0.6) and the upper class's mean index is positive (open water has
MNDWI/NDWI > 0 in every published calibration: McFeeters 1996, Xu 2006). Otherwise the
fixed, published threshold 0 is used.

A pixel bright in the near infrared (reflectance above ``nir_max`` = 0.15) is never
water: water absorbs NIR, and the rule removes vegetated or hazy pixels with a high
green/SWIR contrast (cf. the NIR tests of Fmask, Zhu & Woodcock 2012). It applies when
the scene has a ``nir`` band.

Flood: ``flood_mask(current, reference)`` is 1 where the current mask is water and the
reference land, 0 where both are valid and not newly flooded, 255 where either lacks data.

Polygons: :func:`mask_polygons` vectorises a mask to GeoJSON (WGS84).

Speed: the index and its histogram are made in one numba pass over the two bands
(``bench/bench_water.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError, FormatError

from .indices import INDEX_BANDS
from .scenes import Scene

FloatArray = npt.NDArray[np.float32]
MaskArray = npt.NDArray[np.uint8]
WATER, LAND, NODATA = 1, 0, 255
_BINS = 256
_LO, _HI = -1.0, 1.0


@nb.njit(cache=True, nogil=True)
def _nd_hist(x: Any, y: Any, invalid: Any, out: Any, hist: Any) -> None:  # pragma: no cover
    """out = (x - y) / (x + y) (NaN where invalid or undefined); histogram on [-1, 1]."""
    n = x.size
    xf = x.ravel()
    yf = y.ravel()
    bad = invalid.ravel()
    of = out.ravel()
    nb_ = hist.size
    scale = nb_ / (_HI - _LO)
    for i in range(n):
        a = xf[i]
        b = yf[i]
        s = a + b
        if bad[i] or not (s != 0.0) or a != a or b != b:
            of[i] = np.nan
            continue
        v = (a - b) / s
        of[i] = v
        k = int((v - _LO) * scale)
        if k < 0:
            k = 0
        elif k >= nb_:
            k = nb_ - 1
        hist[k] += 1


def index_and_histogram(x: Any, y: Any, invalid: Any) -> tuple[FloatArray, Any]:
    """Normalised difference of ``x``, ``y`` (float32, NaN where ``invalid``) and its
    256-bin histogram over [-1, 1] (int64)."""
    xa = np.ascontiguousarray(x, dtype=np.float32)
    ya = np.ascontiguousarray(y, dtype=np.float32)
    bad = np.ascontiguousarray(invalid, dtype=np.bool_)
    if xa.shape != ya.shape or xa.shape != bad.shape:
        raise ConfigError("bands and mask must have the same shape")
    out = np.empty_like(xa)
    hist = np.zeros(_BINS, dtype=np.int64)
    _nd_hist(xa, ya, bad, out, hist)
    return out, hist


@dataclass(frozen=True)
class OtsuResult:
    """Threshold (index units), separability ``eta`` in [0, 1], class means."""

    threshold: float
    separability: float
    mean_low: float
    mean_high: float


def otsu_from_histogram(hist: Any, lo: float = _LO, hi: float = _HI) -> OtsuResult:
    """Otsu threshold of a histogram with equal bins over ``[lo, hi]``.

    The threshold is the upper edge of the last bin of the lower class.
    """
    h = np.asarray(hist, dtype=np.float64)
    total = h.sum()
    if total <= 0:
        raise ConfigError("no valid pixels to threshold")
    edges = np.linspace(lo, hi, h.size + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    p = h / total
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    mt = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    k = int(np.argmax(between))
    var_t = float(np.sum(p * (centres - mt) ** 2))
    eta = float(between[k] / var_t) if var_t > 0 else 0.0
    mean_low = float(m0[k] / w0[k]) if w0[k] > 0 else float("nan")
    mean_high = float((mt - m0[k]) / w1[k]) if w1[k] > 0 else float("nan")
    return OtsuResult(float(edges[k + 1]), max(eta, 0.0), mean_low, mean_high)


def otsu_threshold(values: Any, bins: int = _BINS) -> OtsuResult:
    """Otsu threshold of the finite ``values`` in [-1, 1] (``bins`` equal bins)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    hist, _ = np.histogram(np.clip(v, _LO, _HI), bins=bins, range=(_LO, _HI))
    return otsu_from_histogram(hist)


@dataclass(frozen=True)
class WaterResult:
    """Mask (uint8 1/0/255), the index used and its values, the threshold and method."""

    mask: MaskArray
    index_name: str
    index: FloatArray
    threshold: float
    method: str  # "otsu" or "fixed"
    otsu: OtsuResult | None


def water_from_index(
    index: Any,
    invalid: Any,
    threshold: float | str = "otsu",
    min_separability: float = 0.6,
    fallback: float = 0.0,
    histogram: Any = None,
) -> tuple[MaskArray, float, str, OtsuResult | None]:
    """Threshold an index into a 1/0/255 mask; returns (mask, threshold, method, otsu)."""
    idx = np.asarray(index)
    bad = np.asarray(invalid, dtype=bool) | ~np.isfinite(idx)
    otsu = None
    if isinstance(threshold, str):
        if threshold != "otsu":
            raise ConfigError(f"must be a number or 'otsu', got {threshold!r}", option="threshold")
        if bad.all():
            t, method = fallback, "fixed"
        else:
            otsu = (
                otsu_from_histogram(histogram)
                if histogram is not None
                else otsu_threshold(idx[~bad])
            )
            usable = otsu.separability >= min_separability and otsu.mean_high > 0
            t, method = (otsu.threshold, "otsu") if usable else (fallback, "fixed")
    else:
        t, method = float(threshold), "fixed"
    mask = np.where(idx > t, WATER, LAND).astype(np.uint8)
    mask[bad] = NODATA
    return mask, float(t), method, otsu


def detect_water(
    scene: Scene,
    index_name: str = "mndwi",
    threshold: float | str = "otsu",
    mask_clouds: bool = True,
    min_separability: float = 0.6,
    nir_max: float | None = 0.15,
) -> WaterResult:
    """Water mask of a scene from ``mndwi`` (default) or ``ndwi``.

    ``nir_max`` (reflectance) vetoes water where the scene's ``nir`` band is brighter;
    None disables the veto.
    """
    key = index_name.lower()
    if key not in ("mndwi", "ndwi"):
        raise ConfigError(f"water index must be mndwi or ndwi, got {index_name!r}", option="index")
    first, second = INDEX_BANDS[key]
    if first not in scene.bands or second not in scene.bands:
        raise ConfigError(f"{key} needs bands {first} and {second}", option="index")
    invalid = ~scene.valid
    if mask_clouds:
        invalid |= scene.cloud
    idx, hist = index_and_histogram(scene.bands[first], scene.bands[second], invalid)
    mask, t, method, otsu = water_from_index(
        idx, invalid, threshold, min_separability, histogram=hist
    )
    if nir_max is not None and "nir" in scene.bands:
        mask[(mask == WATER) & (scene.bands["nir"] > nir_max)] = LAND
    return WaterResult(mask, key, idx, t, method, otsu)


def flood_mask(current: Any, reference: Any) -> MaskArray:
    """1 newly flooded (water now, land in the reference), 0 otherwise, 255 no data."""
    c = np.asarray(current, dtype=np.uint8)
    r = np.asarray(reference, dtype=np.uint8)
    if c.shape != r.shape:
        raise ConfigError(f"reference shape {r.shape} differs from {c.shape}", option="reference")
    out = np.where((c == WATER) & (r == LAND), WATER, LAND).astype(np.uint8)
    out[(c == NODATA) | (r == NODATA)] = NODATA
    return out


def mask_polygons(
    mask: Any, transform: Any, crs: Any, value: int = WATER, min_pixels: int = 8
) -> dict[str, Any]:
    """Polygons of the ``value`` pixels as a GeoJSON FeatureCollection in WGS84 (RFC 7946).

    Pixels connect through their edges (4-connectivity); polygons of fewer than
    ``min_pixels`` pixels are dropped (the UN-SPIDER recipe drops < 8 connected pixels).
    Each feature carries ``pixels`` and ``area_m2`` (in the raster's projected CRS).
    """
    from rasterio.features import shapes
    from rasterio.warp import transform_geom
    from shapely.geometry import shape

    m = np.asarray(mask, dtype=np.uint8)
    pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
    features = []
    for geom, _ in shapes(m, mask=m == value, connectivity=4, transform=transform):
        area = float(shape(geom).area)
        pixels = int(round(area / pixel_area))
        if pixels < min_pixels:
            continue
        wgs84 = transform_geom(crs, "EPSG:4326", geom) if crs is not None else geom
        features.append(
            {
                "type": "Feature",
                "geometry": wgs84,
                "properties": {"value": int(value), "pixels": pixels, "area_m2": area},
            }
        )
    features.sort(key=lambda f: -f["properties"]["pixels"])
    return {"type": "FeatureCollection", "features": features}


def write_mask_geotiff(path: str | Path, mask: Any, transform: Any, crs: Any) -> Path:
    """Write a uint8 mask as a Cloud-Optimised GeoTIFF (deflate, nodata 255)."""
    import rasterio

    m = np.asarray(mask, dtype=np.uint8)
    out = Path(path)
    profile = {
        "driver": "COG",
        "height": m.shape[0],
        "width": m.shape[1],
        "count": 1,
        "dtype": "uint8",
        "nodata": NODATA,
        "transform": transform,
        "crs": crs,
        "compress": "deflate",
    }
    with rasterio.open(out, "w", **profile) as ds:
        ds.write(m, 1)
    return out


def read_mask_geotiff(path: str | Path) -> tuple[MaskArray, Any, Any]:
    """(mask, transform, crs) of a single-band uint8 mask GeoTIFF."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            if ds.count != 1 or ds.dtypes[0] != "uint8":
                raise FormatError("expected a single-band uint8 mask", path=str(path))
            return ds.read(1), ds.transform, ds.crs
    except rasterio.errors.RasterioIOError as exc:
        raise FormatError(f"cannot read raster: {exc}", path=str(path)) from None
