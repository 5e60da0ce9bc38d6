"""Digital numbers to reflectance from product metadata (Landsat MTL, STAC raster:bands).

- Landsat Collection 1/2 Level-1 (``L1TP``/``L1GT``/``L1GS``): top-of-atmosphere
  reflectance ``rho = (M * DN + A) / sin(sun elevation)`` with ``M``/``A`` =
  ``REFLECTANCE_MULT/ADD_BAND_n`` of the ``RADIOMETRIC_RESCALING`` (C1) or
  ``LEVEL1_RADIOMETRIC_RESCALING`` (C2) group.
- Landsat Collection 2 Level-2 (``L2SP``/``L2SR``): surface reflectance
  ``M * DN + A`` from ``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS`` (2.75e-5, -0.2).
- STAC items: ``value = scale * DN + offset`` and ``nodata`` from the asset's
  ``raster:bands[0]``.
DN 0 is fill in all of them and becomes NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import FormatError, NotFound

FloatArray = npt.NDArray[np.float32]
Mtl = dict[str, dict[str, str]]


def read_mtl(path: str | Path) -> Mtl:
    """Parse a Landsat ``*_MTL.txt`` into ``{group: {key: raw value}}`` (quotes removed).

    Nested groups are keyed by their innermost group name.
    """
    p = str(path)
    try:
        lines = Path(path).read_text(encoding="ascii", errors="replace").splitlines()
    except OSError as exc:
        raise FormatError(f"cannot read MTL: {exc.strerror}", path=p) from None
    out: Mtl = {}
    stack: list[str] = []
    for no, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s == "END":
            continue
        if "=" not in s:
            raise FormatError(f"expected KEY = VALUE, got {s[:40]!r}", path=p, line=no)
        key, value = (t.strip() for t in s.split("=", 1))
        if key == "GROUP":
            stack.append(value)
            out.setdefault(value, {})
        elif key == "END_GROUP":
            if not stack or stack[-1] != value:
                raise FormatError(f"END_GROUP {value} does not close a group", path=p, line=no)
            stack.pop()
        else:
            if not stack:
                raise FormatError("value outside any GROUP", path=p, line=no)
            out[stack[-1]][key] = value.strip('"')
    return out


def mtl_float(mtl: Mtl, group: str, key: str) -> float:
    """A numeric MTL value; raises :class:`NotFound` when absent."""
    try:
        return float(mtl[group][key])
    except KeyError:
        raise NotFound(f"MTL has no {group}/{key}") from None


def _processing_level(mtl: Mtl) -> str:
    for group in ("PRODUCT_CONTENTS", "PRODUCT_METADATA"):
        for key in ("PROCESSING_LEVEL", "DATA_TYPE"):
            if key in mtl.get(group, {}):
                return mtl[group][key]
    raise NotFound("MTL has no PROCESSING_LEVEL / DATA_TYPE")


def landsat_reflectance(dn: Any, mtl: Mtl, band: int) -> FloatArray:
    """Reflectance (float32, NaN for fill) of OLI band number ``band`` from DNs.

    Surface reflectance for Collection 2 Level-2 products, sun-elevation-corrected
    top-of-atmosphere reflectance for Level-1 products.
    """
    d = np.asarray(dn)
    level = _processing_level(mtl)
    if level.startswith("L2"):
        g = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
        m = mtl_float(mtl, g, f"REFLECTANCE_MULT_BAND_{band}")
        a = mtl_float(mtl, g, f"REFLECTANCE_ADD_BAND_{band}")
        sin_e = 1.0
    else:
        g = (
            "LEVEL1_RADIOMETRIC_RESCALING"
            if "LEVEL1_RADIOMETRIC_RESCALING" in mtl
            else ("RADIOMETRIC_RESCALING")
        )
        m = mtl_float(mtl, g, f"REFLECTANCE_MULT_BAND_{band}")
        a = mtl_float(mtl, g, f"REFLECTANCE_ADD_BAND_{band}")
        sin_e = math.sin(math.radians(mtl_float(mtl, "IMAGE_ATTRIBUTES", "SUN_ELEVATION")))
    out = (d.astype(np.float32) * np.float32(m) + np.float32(a)) / np.float32(sin_e)
    out[d == 0] = np.nan
    return np.asarray(out, dtype=np.float32)


def read_stac_item(path: str | Path) -> dict[str, Any]:
    """A STAC item as a dict (plain JSON; no network)."""
    try:
        item = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormatError(f"cannot read STAC item: {exc.strerror}", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    if not isinstance(item, dict) or item.get("type") != "Feature" or "assets" not in item:
        raise FormatError("not a STAC item (Feature with assets)", path=str(path))
    return item


def stac_asset_for_file(item: dict[str, Any], filename: str) -> tuple[str, dict[str, Any]]:
    """The asset (key, dict) whose href ends in ``filename`` (local file of a remote item)."""
    for key, asset in item["assets"].items():
        href = str(asset.get("href", ""))
        if href.rsplit("/", 1)[-1] == filename:
            return key, asset
    raise NotFound(f"STAC item {item.get('id')!r} has no asset for {filename!r}")


def stac_scaling(asset: dict[str, Any]) -> tuple[float, float, float | None]:
    """``(scale, offset, nodata)`` of an asset's first ``raster:bands`` entry (1, 0, None)."""
    rb = (asset.get("raster:bands") or [{}])[0]
    nodata = rb.get("nodata")
    return (
        float(rb.get("scale", 1.0)),
        float(rb.get("offset", 0.0)),
        (None if nodata is None else float(nodata)),
    )


def apply_scaling(dn: Any, scale: float, offset: float, nodata: float | None) -> FloatArray:
    """``scale * DN + offset`` in float32, NaN where ``DN == nodata``."""
    d = np.asarray(dn)
    out = d.astype(np.float32) * np.float32(scale) + np.float32(offset)
    if nodata is not None:
        out[d == nodata] = np.nan
    return np.asarray(out, dtype=np.float32)
