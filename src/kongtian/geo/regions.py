"""Named regions, bounding boxes and regular lat/lon grids over them.

A :class:`Region` is a shapely (Multi)Polygon in WGS84 longitude/latitude degrees.
Chongqing Municipality ships with the package (``geo/data/chongqing.geojson``: Natural
Earth 1:10m admin-1, public domain, WGS84; provenance and accuracy in
``geo/data/SOURCES.md`` and ``docs/decisions/0004-chongqing-boundary.md``). Any other
area is given as a ``W,S,E,N`` bounding box in degrees or as a GeoJSON file.

Point-in-region tests are vectorised with shapely 2 (``contains_xy`` on a prepared
geometry); a point exactly on the boundary counts as outside. Areas are geodesic on the
WGS84 ellipsoid (pyproj ``Geod``). Degrees are the unit at this edge of the library
because regions and grids are what people type and plot; convert once with
``np.radians`` before calling the frame functions.

Grid rule: cell *edges* sit at integer multiples of ``step_deg`` in latitude and
longitude, so cell centres are at ``(k + 1/2) * step_deg`` for integer k. Every such
centre inside the region's bounding box is on an axis, and a cell is *in* the region
when its centre is. The same step gives the same cells for any region, so grids of
different regions line up, and a box whose edges are multiples of the step (the whole
globe at 1 deg, say) is tiled exactly, with no centre on its boundary.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, box, shape

from kongtian.errors import ConfigError, FormatError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

_GEOD = Geod(ellps="WGS84")
# Longest polygon edge handed to the geodesic area routine, deg: a 0.1 deg chord of a
# parallel differs from the great circle by < 1 m, so the area follows lon/lat edges.
_BOX_SEGMENT_DEG = 0.1

# canonical name -> (data file, display name); aliases map onto canonical names.
_NAMED: dict[str, tuple[str, str]] = {
    "chongqing": ("chongqing.geojson", "Chongqing Municipality"),
}
_ALIASES: dict[str, str] = {
    "chongqing": "chongqing",
    "重庆": "chongqing",
    "重庆市": "chongqing",
    "重慶": "chongqing",
    "cq": "chongqing",
}
_SITE_FILES: dict[str, str] = {"chongqing": "chongqing_sites.csv"}


@dataclass(frozen=True)
class Site:
    """A fixed point on the ground: WGS84 geodetic latitude/longitude (deg), height (m).

    ``alt_m`` is the height the data source gives (shipped sites: above mean sea level;
    the ~30 m geoid undulation over Chongqing is below their stated accuracy).
    """

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0

    @property
    def lat_rad(self) -> float:
        return math.radians(self.lat_deg)

    @property
    def lon_rad(self) -> float:
        return math.radians(self.lon_deg)


@dataclass(eq=False)
class Grid:
    """A regular lat/lon grid clipped to a region.

    ``lat_axis_deg`` (ny,) and ``lon_axis_deg`` (nx,) are ascending cell-centre axes;
    ``mask`` (ny, nx) is True where the cell centre is inside the region. The inside cells
    are also listed flat, row-major (latitude index major): ``lat_deg``, ``lon_deg``,
    ``iy``, ``ix`` all of shape (P,). Computations run on the P flat points;
    :meth:`to_2d` puts results back on the 2-D grid.
    """

    lat_axis_deg: FloatArray
    lon_axis_deg: FloatArray
    mask: BoolArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    iy: IntArray
    ix: IntArray
    step_deg: float
    region_name: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat_axis_deg.size, self.lon_axis_deg.size)

    @property
    def n_points(self) -> int:
        return int(self.lat_deg.size)

    @cached_property
    def cell_area_km2(self) -> FloatArray:
        """Area (km^2) of each inside cell on the WGS84 ellipsoid, shape (P,).

        Exact area of the lat/lon quadrangle ``centre +- step/2`` (edges clipped to
        +-90 deg), from the authalic-latitude closed form; use it to weight statistics
        by area.
        """
        half = 0.5 * self.step_deg
        lat_lo = np.clip(self.lat_deg - half, -90.0, 90.0)
        lat_hi = np.clip(self.lat_deg + half, -90.0, 90.0)
        return _quad_area_km2(lat_lo, lat_hi, self.step_deg)

    def to_2d(self, values: Any) -> FloatArray:
        """Scatter per-point values (..., P) onto the grid (..., ny, nx); NaN outside."""
        v = np.asarray(values)
        if v.ndim == 0 or v.shape[-1] != self.n_points:
            raise ConfigError(
                f"last axis must have the grid's {self.n_points} points, got shape {v.shape}",
                option="values",
            )
        dtype = np.result_type(v.dtype, np.float64)
        out = np.full(v.shape[:-1] + self.shape, np.nan, dtype=dtype)
        out[..., self.iy, self.ix] = v
        return out


@dataclass(frozen=True)
class Region:
    """A named area: shapely Polygon/MultiPolygon in WGS84 lon/lat degrees."""

    name: str
    geometry: Polygon | MultiPolygon

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Polygon | MultiPolygon):
            raise ConfigError(
                f"region {self.name!r}: geometry must be a Polygon or MultiPolygon, "
                f"got {type(self.geometry).__name__}",
                option="--region",
            )
        if self.geometry.is_empty or not self.geometry.is_valid:
            raise ConfigError(
                f"region {self.name!r}: geometry is empty or invalid "
                f"({shapely.is_valid_reason(self.geometry)})",
                option="--region",
            )
        shapely.prepare(self.geometry)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        w, s, e, n = self.geometry.bounds
        return (float(w), float(s), float(e), float(n))

    def contains(self, lat_deg: Any, lon_deg: Any) -> BoolArray:
        """True where (lat, lon) in degrees is strictly inside; broadcasts its inputs."""
        lat, lon = np.broadcast_arrays(np.asarray(lat_deg, float), np.asarray(lon_deg, float))
        return np.asarray(shapely.contains_xy(self.geometry, lon, lat), dtype=bool)

    @cached_property
    def area_km2(self) -> float:
        """Area on the WGS84 ellipsoid, km^2, of the region as :meth:`contains` sees it.

        A lat/lon box (the geometry equals its envelope) uses the exact closed form,
        which also holds for boxes touching the poles or spanning 360 deg; any other
        shape uses pyproj's geodesic polygon area after densifying edges to
        0.1 deg, so that long edges follow the straight lon/lat lines that
        :meth:`contains` tests against rather than great circles.
        """
        g = self.geometry
        if isinstance(g, Polygon) and g.equals(box(*g.bounds)):
            w, s, e, n = g.bounds
            return float(_quad_area_km2(s, n, e - w))
        area_m2, _ = _GEOD.geometry_area_perimeter(shapely.segmentize(g, _BOX_SEGMENT_DEG))
        return abs(float(area_m2)) / 1e6

    def grid(self, step_deg: float) -> Grid:
        """Cells of ``step_deg`` degrees, edges on multiples of the step, centres inside."""
        step = _check_step(step_deg)
        w, s, e, n = self.bbox
        lat_axis = _axis(s, n, step)
        lon_axis = _axis(w, e, step)
        if lat_axis.size * lon_axis.size > 20_000_000:
            raise ConfigError(
                f"{lat_axis.size} x {lon_axis.size} cells is too many; use a coarser step",
                option="--grid-deg",
            )
        lon2, lat2 = np.meshgrid(lon_axis, lat_axis)
        mask = np.asarray(shapely.contains_xy(self.geometry, lon2, lat2), dtype=bool)
        iy, ix = np.nonzero(mask)
        return Grid(
            lat_axis_deg=lat_axis,
            lon_axis_deg=lon_axis,
            mask=mask,
            lat_deg=lat_axis[iy],
            lon_deg=lon_axis[ix],
            iy=iy.astype(np.intp),
            ix=ix.astype(np.intp),
            step_deg=step,
            region_name=self.name,
        )


def _check_step(step_deg: Any) -> float:
    try:
        step = float(step_deg)
    except (TypeError, ValueError):
        raise ConfigError(
            f"grid step must be a number of degrees, got {step_deg!r}", option="--grid-deg"
        ) from None
    if not math.isfinite(step) or step <= 0.0:
        raise ConfigError(f"grid step must be > 0 degrees, got {step_deg!r}", option="--grid-deg")
    if step > 90.0:
        raise ConfigError(f"grid step must be <= 90 degrees, got {step_deg!r}", option="--grid-deg")
    return step


def _axis(lo: float, hi: float, step: float) -> FloatArray:
    # Centres (k + 1/2) * step in [lo, hi]; the tiny slack keeps a bound that is itself a
    # centre from being lost to float rounding.
    eps = 1e-9
    k0 = math.ceil(lo / step - 0.5 - eps)
    k1 = math.floor(hi / step - 0.5 + eps)
    k = np.arange(k0, k1 + 1, dtype=np.float64)
    # Round away binary noise (0.1 * 297.5 = 29.750000000000004) so centres print cleanly.
    return np.round((k + 0.5) * step, 12)


_E2 = _GEOD.es  # WGS84 first eccentricity squared
_B_M = _GEOD.b


def _q(lat_deg: FloatArray) -> FloatArray:
    # Authalic term: area between the equator and lat per radian of longitude is b^2/2 * q.
    e = math.sqrt(_E2)
    s = np.sin(np.radians(lat_deg))
    return s / (1.0 - _E2 * s * s) + np.log((1.0 + e * s) / (1.0 - e * s)) / (2.0 * e)


def _quad_area_km2(lat_lo_deg: Any, lat_hi_deg: Any, dlon_deg: float) -> FloatArray:
    lo = np.asarray(lat_lo_deg, float)
    hi = np.asarray(lat_hi_deg, float)
    return 0.5 * _B_M**2 * math.radians(dlon_deg) * (_q(hi) - _q(lo)) / 1e6


def bbox_region(west: float, south: float, east: float, north: float, name: str = "") -> Region:
    """A lat/lon box in degrees (edges along meridians and parallels)."""
    vals = {"W": west, "S": south, "E": east, "N": north}
    for key, v in vals.items():
        if not math.isfinite(v):
            raise ConfigError(f"bbox {key} must be a finite number, got {v!r}", option="--region")
    for key in ("S", "N"):
        if not -90.0 <= vals[key] <= 90.0:
            raise ConfigError(
                f"bbox {key} latitude {vals[key]:g} outside [-90, 90]", option="--region"
            )
    for key in ("W", "E"):
        if not -180.0 <= vals[key] <= 180.0:
            raise ConfigError(
                f"bbox {key} longitude {vals[key]:g} outside [-180, 180]", option="--region"
            )
    if not west < east:
        raise ConfigError(
            f"bbox needs W < E, got W={west:g} E={east:g} "
            "(boxes across the antimeridian are not supported)",
            option="--region",
        )
    if not south < north:
        raise ConfigError(f"bbox needs S < N, got S={south:g} N={north:g}", option="--region")
    return Region(
        name or f"bbox({west:g},{south:g},{east:g},{north:g})", box(west, south, east, north)
    )


def _parse_bbox(spec: str) -> Region:
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 4:
        raise ConfigError(
            f"a bbox is 4 numbers W,S,E,N in degrees, got {len(parts)} fields in {spec!r}",
            option="--region",
        )
    nums = []
    for key, p in zip("WSEN", parts, strict=True):
        try:
            nums.append(float(p))
        except ValueError:
            raise ConfigError(f"bbox {key} is not a number: {p!r}", option="--region") from None
    return bbox_region(nums[0], nums[1], nums[2], nums[3])


def region_from_geojson(path: str | Path, name: str | None = None) -> Region:
    """Union of the (Multi)Polygons in a GeoJSON file (WGS84 lon/lat, RFC 7946)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror or exc}", option="--region") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise FormatError(f"not valid JSON ({exc})", path=str(p), line=line) from None
    geoms = list(_polygons(doc, str(p)))
    if not geoms:
        raise FormatError("no Polygon or MultiPolygon geometry found", path=str(p))
    geom = shapely.union_all(geoms) if len(geoms) > 1 else geoms[0]
    if isinstance(geom, Polygon | MultiPolygon):
        return Region(name or p.stem, geom)
    raise FormatError(f"union of polygons is a {geom.geom_type}", path=str(p))


def _polygons(doc: Any, where: str) -> Iterable[Polygon | MultiPolygon]:
    if not isinstance(doc, dict):
        raise FormatError("top level is not a GeoJSON object", path=where)
    kind = doc.get("type")
    if kind == "FeatureCollection":
        for feat in doc.get("features") or []:
            yield from _polygons(feat, where)
    elif kind == "Feature":
        if doc.get("geometry") is not None:
            yield from _polygons(doc["geometry"], where)
    elif kind == "GeometryCollection":
        for g in doc.get("geometries") or []:
            yield from _polygons(g, where)
    elif kind in ("Polygon", "MultiPolygon"):
        try:
            g = shape(doc)
        except (ValueError, TypeError, IndexError, GEOSException) as exc:
            raise FormatError(f"bad {kind} coordinates ({exc})", path=where) from None
        if not g.is_valid:
            g = shapely.make_valid(g)
            g = shapely.union_all([x for x in getattr(g, "geoms", [g]) if x.area > 0])
        yield g


@cache
def _named_region(key: str) -> Region:
    fname, _ = _NAMED[key]
    res = files("kongtian.geo").joinpath("data", fname)
    with res.open("r", encoding="utf-8") as fh:
        doc = json.load(fh)
    geoms = list(_polygons(doc, f"kongtian/geo/data/{fname}"))
    geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
    return Region(key, geom)


def list_regions() -> list[str]:
    """Canonical names of the built-in regions."""
    return sorted(_NAMED)


def region(spec: str) -> Region:
    """A region from a name (``chongqing``/``重庆``), a ``W,S,E,N`` bbox or a .geojson path."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(
            f"give a region name ({', '.join(list_regions())}) or a bbox W,S,E,N",
            option="--region",
        )
    text = spec.strip()
    key = _ALIASES.get(text.lower())
    if key is not None:
        return _named_region(key)
    if "," in text:
        return _parse_bbox(text)
    if text.lower().endswith((".geojson", ".json")):
        return region_from_geojson(text)
    raise ConfigError(
        f"unknown region {text!r}; known regions: {', '.join(list_regions())}, "
        "or a bbox W,S,E,N in degrees, or a .geojson file",
        option="--region",
    )


@cache
def _load_sites(key: str) -> tuple[Site, ...]:
    fname = _SITE_FILES[key]
    where = f"kongtian/geo/data/{fname}"
    text = files("kongtian.geo").joinpath("data", fname).read_text(encoding="utf-8")
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln and not ln.startswith("#")]
    reader = csv.DictReader(ln for _, ln in lines)
    out = []
    for (lineno, _), row in zip(lines[1:], reader, strict=True):
        try:
            out.append(
                Site(row["name"], float(row["lat_deg"]), float(row["lon_deg"]), float(row["alt_m"]))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"bad site row ({exc})", path=where, line=lineno) from None
    return tuple(out)


def sites(name: str = "chongqing") -> list[Site]:
    """Demo sites shipped for a built-in region (see ``geo/data/SOURCES.md``)."""
    key = _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None
    if key is None or key not in _SITE_FILES:
        raise ConfigError(
            f"no sites for region {name!r}; regions with sites: {', '.join(sorted(_SITE_FILES))}",
            option="--region",
        )
    return list(_load_sites(key))


def parse_site(spec: str) -> Site:
    """``LAT,LON[,ALT_M]`` in degrees and metres, or the name of a shipped site."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("give a site as LAT,LON[,ALT_M] (degrees, metres)", option="--site")
    text = spec.strip()
    if "," not in text:
        for key in _SITE_FILES:
            for s in _load_sites(key):
                if s.name == text.lower():
                    return s
        known = ", ".join(s.name for k in _SITE_FILES for s in _load_sites(k))
        raise ConfigError(
            f"{text!r} is neither LAT,LON[,ALT_M] nor a known site ({known})", option="--site"
        )
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError(
            f"a site is LAT,LON[,ALT_M], got {len(parts)} fields in {text!r}", option="--site"
        )
    nums = []
    for label, p in zip(("LAT", "LON", "ALT_M"), parts, strict=False):
        try:
            v = float(p)
        except ValueError:
            raise ConfigError(f"site {label} is not a number: {p!r}", option="--site") from None
        if not math.isfinite(v):
            raise ConfigError(f"site {label} must be finite, got {p!r}", option="--site")
        nums.append(v)
    lat, lon = nums[0], nums[1]
    alt = nums[2] if len(nums) == 3 else 0.0
    if not -90.0 <= lat <= 90.0:
        raise ConfigError(f"site LAT {lat:g} outside [-90, 90]", option="--site")
    if not -180.0 <= lon <= 360.0:
        raise ConfigError(f"site LON {lon:g} outside [-180, 360]", option="--site")
    if lon > 180.0:
        lon -= 360.0
    return Site(f"{lat:g},{lon:g}", lat, lon, alt)
