"""Spectral indices from reflectance (unitless, 0-1 scale), arrays in, arrays out.

All indices are normalised differences ``(x - y) / (x + y)``; pixels where either input is
NaN or the sum is zero give NaN.

=========  ==================  ===========================================
index      bands               reference
=========  ==================  ===========================================
NDVI       nir, red            Rouse et al. 1974
NDWI       green, nir          McFeeters 1996 (open water > 0)
MNDWI      green, swir16       Xu 2006 (open water > 0, less built-up noise)
NBR        nir, swir22         Key & Benson 2006 (burn severity)
NDMI       nir, swir16         Gao 1996 NDWI (vegetation water content)
NDBI       swir16, nir         Zha et al. 2003 (built-up)
=========  ==================  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import NotFound

from .bands import ALIASES

FloatArray = npt.NDArray[np.floating[Any]]

#: index name -> (first band, second band) as common names
INDEX_BANDS: dict[str, tuple[str, str]] = {
    "ndvi": ("nir", "red"),
    "ndwi": ("green", "nir"),
    "mndwi": ("green", "swir16"),
    "nbr": ("nir", "swir22"),
    "ndmi": ("nir", "swir16"),
    "ndbi": ("swir16", "nir"),
}


def normalized_difference(x: Any, y: Any) -> FloatArray:
    """``(x - y) / (x + y)`` in float32 (float64 if an input is float64); NaN where undefined."""
    xa = np.asarray(x)
    ya = np.asarray(y)
    dtype = np.result_type(xa.dtype, ya.dtype, np.float32)
    xa = xa.astype(dtype, copy=False)
    ya = ya.astype(dtype, copy=False)
    den = xa + ya
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray((xa - ya) / den)
    return np.where(den == 0, np.asarray(np.nan, dtype=dtype), out)


def spectral_index(name: str, bands: Mapping[str, Any]) -> FloatArray:
    """Index ``name`` (see :data:`INDEX_BANDS`) from reflectances keyed by common name."""
    key = name.lower()
    if key not in INDEX_BANDS:
        raise NotFound(f"unknown index {name!r}; known: {sorted(INDEX_BANDS)}")
    first, second = INDEX_BANDS[key]
    lookup = {ALIASES.get(k, k): v for k, v in bands.items()}
    missing = [b for b in (first, second) if b not in lookup]
    if missing:
        raise NotFound(f"index {name!r} needs bands {missing}")
    return normalized_difference(lookup[first], lookup[second])


def ndvi(nir: Any, red: Any) -> FloatArray:
    """Normalised difference vegetation index."""
    return normalized_difference(nir, red)


def ndwi(green: Any, nir: Any) -> FloatArray:
    """McFeeters normalised difference water index."""
    return normalized_difference(green, nir)


def mndwi(green: Any, swir16: Any) -> FloatArray:
    """Modified NDWI (Xu 2006), green vs 1.6 micrometre SWIR."""
    return normalized_difference(green, swir16)


def nbr(nir: Any, swir22: Any) -> FloatArray:
    """Normalised burn ratio, NIR vs 2.2 micrometre SWIR."""
    return normalized_difference(nir, swir22)
