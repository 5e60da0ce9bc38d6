"""Zones (geofences): polygons and circles with a vertical band, schedules and kinds.

A :class:`Zone` is a horizontal shape in WGS84 lon/lat degrees (a shapely ``Polygon`` /
``MultiPolygon``, or a :class:`Circle` given by centre and radius in metres), a vertical
band ``[floor_m, ceiling_m]`` in one altitude reference, an optional :class:`Schedule`
of active times, a kind (:data:`ZONE_KINDS`) and an optional speed limit.

:class:`ZoneSet` answers "which zones hold these points" for whole arrays at once
(:meth:`ZoneSet.hits`): a numpy uniform-grid index over the zone bounding boxes gives
candidate (point, zone) pairs, a bbox test prunes them, polygons are tested with
``shapely.contains_xy`` on prepared geometries (no shapely points are ever created) and
circles with an ellipsoidal distance (see :class:`Circle`).

:class:`ZoneMonitor` turns batches of normalised reports (:mod:`kongtian.model.report`)
into ``enter`` / ``exit`` / ``inside`` / ``overspeed`` events, per object in time order
(see :meth:`ZoneMonitor.update` for the ordering and late-report policy).

Rules chosen here (tested in ``tests/traffic/test_zones.py``):

- Horizontal: a point on a polygon boundary is outside (shapely ``contains``); a point
  at exactly ``radius_m`` from a circle centre is inside. Shapes must not cross the
  antimeridian (split them first).
- Vertical: the band is closed, ``floor_m <= alt <= ceiling_m``. A missing altitude
  (NaN / null) is taken as inside the band (conservative) and flagged
  :data:`ALT_UNKNOWN`. A report whose ``alt_ref`` differs from the zone's is shifted by
  a configured offset ``ref_offsets_m[(report_ref, zone_ref)]`` (e.g. a geoid
  undulation for ``wgs84`` -> ``msl``, or a QNH correction for ``baro`` -> ``msl``) when
  one is given; otherwise it is compared as if the references were equal and flagged
  :data:`ALT_REF_MISMATCH`. ``alt_ref=None`` means "already in each zone's reference".
  Zones with no vertical limits never flag.
- Time: a zone with no schedule is always active; otherwise see :class:`Schedule`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import ALT_REFS

ZONE_KINDS = ("no-fly", "restricted", "corridor", "speed-limit", "alert-only")
EVENTS = ("exit", "enter", "inside", "overspeed")  # also the order of events at one report
ALT_UNKNOWN = 1  # flag bit: report had no altitude, assumed inside the band
ALT_REF_MISMATCH = 2  # flag bit: report alt_ref differs from the zone's, compared as equal

MAX_CIRCLE_RADIUS_M = 1_000_000.0
_NEVER = -(2**63)  # last_time_ns of an object never seen
FT_M = 0.3048

_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_WGS84_E2 = _WGS84_F * (2 - _WGS84_F)
_GEOD = pyproj.Geod(ellps="WGS84")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

EVENT_SCHEMA = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("zone_id", pa.string(), nullable=False),
        pa.field("zone_kind", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("time_utc", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("lat_deg", pa.float64()),
        pa.field("lon_deg", pa.float64()),
        pa.field("alt_m", pa.float64()),
        pa.field("speed_m_s", pa.float64()),
        pa.field("alt_flags", pa.uint8()),
    ]
)


@dataclass(frozen=True)
class Circle:
    """A small circle: centre (WGS84 degrees) and radius in metres along the ellipsoid.

    Membership is ``geodesic_distance(centre, point) <= radius_m`` on the WGS84
    ellipsoid. The bulk of points is decided with the mid-latitude (Gauss) plane
    approximation ``hypot(M(phi_m) dphi, N(phi_m) cos(phi_m) dlambda)``, whose error is
    about ``0.4 (r / 6371 km)^2`` relative (8 mm at 10 km, 1 m at 50 km); points within
    that error band of the rim are decided by the exact geodesic (``pyproj.Geod.inv``).
    """

    lon_deg: float
    lat_deg: float
    radius_m: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) degrees, slightly padded."""
        r = self.radius_m * 1.001 + 1.0
        s = math.sin(math.radians(self.lat_deg)) ** 2
        m = _WGS84_A * (1 - _WGS84_E2) / (1 - _WGS84_E2 * s) ** 1.5
        dlat = math.degrees(r / m)
        lat_far = min(abs(self.lat_deg) + dlat, 89.9)
        n_far = _WGS84_A / math.sqrt(1 - _WGS84_E2 * math.sin(math.radians(lat_far)) ** 2)
        dlon = min(math.degrees(r / (n_far * math.cos(math.radians(lat_far)))), 180.0)
        return (self.lon_deg - dlon, self.lat_deg - dlat, self.lon_deg + dlon, self.lat_deg + dlat)


@dataclass(frozen=True)
class WeeklyWindow:
    """Active every week on ``days`` (0 = Monday) from ``start_min`` to ``end_min``.

    Minutes after local midnight in the schedule's time zone; ``end_min <= start_min``
    means the window runs past midnight into the next day.
    """

    days: frozenset[int]
    start_min: int
    end_min: int


@dataclass(frozen=True)
class Schedule:
    """When a zone is active: the union of UTC intervals and weekly local-time windows.

    ``intervals_utc`` holds ``(start, end)`` pairs as ``datetime64[ns]`` UTC, half open
    ``[start, end)``. ``weekly`` windows use the IANA zone ``tz`` (default
    ``Asia/Shanghai``, UTC+8 without daylight saving), converted with pandas so
    daylight-saving zones also work. An empty schedule is never active (use
    ``schedule=None`` for "always").

    GeoJSON form (property ``schedule``)::

        {"utc": [["2026-05-01T00:00Z", "2026-05-02T00:00Z"]],
         "weekly": [{"days": ["mon", "tue"], "start": "08:00", "end": "18:00"}],
         "tz": "Asia/Shanghai"}
    """

    intervals_utc: tuple[tuple[np.datetime64, np.datetime64], ...] = ()
    weekly: tuple[WeeklyWindow, ...] = ()
    tz: str = "Asia/Shanghai"

    def active(self, time_utc: Any) -> np.ndarray:
        """Boolean array: is the schedule active at each ``datetime64[ns]`` UTC time."""
        t = np.asarray(time_utc, dtype="datetime64[ns]")
        out = np.zeros(t.shape, dtype=bool)
        for start, end in self.intervals_utc:
            out |= (t >= start) & (t < end)
        if self.weekly and t.size:
            local = pd.DatetimeIndex(t.ravel()).tz_localize("UTC").tz_convert(self.tz)
            wd = np.asarray(local.day_of_week).reshape(t.shape)
            minute = (np.asarray(local.hour) * 60 + np.asarray(local.minute)).reshape(t.shape)
            minute = minute + np.asarray(local.second).reshape(t.shape) / 60.0
            for w in self.weekly:
                days = np.array(sorted(w.days))
                if w.end_min > w.start_min:
                    out |= np.isin(wd, days) & (minute >= w.start_min) & (minute < w.end_min)
                else:  # past midnight: evening of a listed day or early hours of the next
                    out |= np.isin(wd, days) & (minute >= w.start_min)
                    out |= np.isin((wd - 1) % 7, days) & (minute < w.end_min)
        return out


@dataclass(frozen=True)
class Zone:
    """One geofence. Geometry in WGS84 lon/lat degrees; altitudes in metres re ``alt_ref``."""

    id: str
    name: str
    kind: str
    geometry: BaseGeometry | Circle
    floor_m: float = -math.inf
    ceiling_m: float = math.inf
    alt_ref: str = "msl"
    schedule: Schedule | None = None
    speed_limit_m_s: float | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ZONE_KINDS:
            raise ConfigError(
                f"zone {self.id!r}: kind {self.kind!r} not in {ZONE_KINDS}", option="kind"
            )
        if self.alt_ref not in ALT_REFS:
            raise ConfigError(
                f"zone {self.id!r}: alt_ref {self.alt_ref!r} not in {ALT_REFS}", option="alt_ref"
            )
        if not self.floor_m <= self.ceiling_m:
            raise ConfigError(
                f"zone {self.id!r}: floor {self.floor_m} above ceiling {self.ceiling_m}",
                option="floor_m",
            )
        if self.kind == "speed-limit" and self.speed_limit_m_s is None:
            raise ConfigError(
                f"zone {self.id!r}: speed-limit zone needs speed_limit_m_s",
                option="speed_limit_m_s",
            )
        if isinstance(self.geometry, Circle):
            if not 0 < self.geometry.radius_m <= MAX_CIRCLE_RADIUS_M:
                raise ConfigError(
                    f"zone {self.id!r}: radius_m {self.geometry.radius_m} not in (0, 1e6]",
                    option="radius_m",
                )
        elif not isinstance(self.geometry, shapely.Polygon | shapely.MultiPolygon):
            raise ConfigError(
                f"zone {self.id!r}: geometry must be a Polygon, MultiPolygon or Circle",
                option="geometry",
            )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) in degrees."""
        if isinstance(self.geometry, Circle):
            return self.geometry.bounds
        b = self.geometry.bounds
        return (b[0], b[1], b[2], b[3])


class _GridIndex:
    """Uniform lon/lat grid over zone bounding boxes, stored as CSR arrays.

    Zones covering more than ``max_cells`` cells go to a short "large" list that every
    point checks by bbox. Cell size is half the median zone bbox extent (measured: about
    three bbox tests per point on the benchmark, against five at the full extent).
    """

    def __init__(self, bounds: np.ndarray, max_cells: int = 1024) -> None:
        self.bounds = bounds
        n = len(bounds)
        if n == 0:
            self.nx = self.ny = 0
            self.indptr = np.zeros(1, dtype=np.int64)
            self.indices = np.zeros(0, dtype=np.int64)
            self.large = np.zeros(0, dtype=np.int64)
            self.x0 = self.y0 = 0.0
            self.cell = 1.0
            return
        ext = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        self.x0, self.y0 = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        span = max(float(bounds[:, 2].max()) - self.x0, float(bounds[:, 3].max()) - self.y0, 1e-9)
        # at most ~4 M cells whatever the spread of zones
        self.cell = max(0.5 * float(np.median(ext)), span / 2048, 1e-9)
        self.nx = int((float(bounds[:, 2].max()) - self.x0) // self.cell) + 1
        self.ny = int((float(bounds[:, 3].max()) - self.y0) // self.cell) + 1
        ix0, iy0 = self._cell(bounds[:, 0], bounds[:, 1])
        ix1, iy1 = self._cell(bounds[:, 2], bounds[:, 3])
        ncx, ncy = ix1 - ix0 + 1, iy1 - iy0 + 1
        count = ncx * ncy
        big = count > max_cells
        self.large = np.flatnonzero(big)
        small = np.flatnonzero(~big)
        c = count[small]
        zone = np.repeat(small, c)
        k = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        w = np.repeat(ncx[small], c)
        cx = np.repeat(ix0[small], c) + k % w
        cy = np.repeat(iy0[small], c) + k // w
        cellid = cy * self.nx + cx
        order = np.argsort(cellid, kind="stable")
        self.indices = zone[order]
        self.indptr = np.zeros(self.nx * self.ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cellid, minlength=self.nx * self.ny), out=self.indptr[1:])

    def _cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ix = np.floor((x - self.x0) / self.cell).astype(np.int64)
        iy = np.floor((y - self.y0) / self.cell).astype(np.int64)
        return np.clip(ix, 0, self.nx - 1), np.clip(iy, 0, self.ny - 1)

    def candidates(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, zone) pairs whose zone bbox holds the point (closed bbox).

        Pairs come zone-major (points ascending within a zone), the order in which
        ``shapely.contains_xy`` runs fastest (one prepared geometry hot in cache).
        """
        if self.nx == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        nz = len(self.bounds)
        count = np.zeros(nz + 1, dtype=np.int64)
        e = np.zeros(0, dtype=np.int64)
        args = (
            x,
            y,
            self.x0,
            self.y0,
            self.cell,
            self.nx,
            self.ny,
            self.indptr,
            self.indices,
            self.large,
            self.bounds,
        )
        _scan_kernel(*args, count, e, e, e)
        np.cumsum(count, out=count)
        pout = np.empty(count[-1], dtype=np.int64)
        zout = np.empty(count[-1], dtype=np.int64)
        _scan_kernel(*args, count, pout, zout, count[:-1].copy())
        return pout, zout


@nb.njit(cache=True, nogil=True)
def _scan_kernel(
    x, y, x0, y0, cell, nx, ny, indptr, indices, large, bounds, count, pout, zout, fill
):  # type: ignore[no-untyped-def]
    """Pass 1 (``fill`` empty): count bbox hits per zone into ``count[z + 1]``.
    Pass 2: write each hit at ``fill[z]`` (zone-major output without a sort)."""
    write = fill.shape[0] > 0
    for i in range(x.shape[0]):
        xi = x[i]
        yi = y[i]
        fx = (xi - x0) / cell
        fy = (yi - y0) / cell
        if not (0.0 <= fx <= nx and 0.0 <= fy <= ny):  # also rejects NaN
            continue
        c = min(int(fy), ny - 1) * nx + min(int(fx), nx - 1)
        for k in range(indptr[c], indptr[c + 1] + large.shape[0]):
            zz = indices[k] if k < indptr[c + 1] else large[k - indptr[c + 1]]
            if (
                bounds[zz, 0] <= xi
                and xi <= bounds[zz, 2]
                and bounds[zz, 1] <= yi
                and yi <= bounds[zz, 3]
            ):
                if write:
                    pout[fill[zz]] = i
                    zout[fill[zz]] = zz
                    fill[zz] += 1
                else:
                    count[zz + 1] += 1


@nb.njit(cache=True, nogil=True)
def _stable_order_by(key, nkeys):  # type: ignore[no-untyped-def]
    """Stable counting-sort permutation of small non-negative integer keys."""
    start = np.zeros(nkeys + 1, dtype=np.int64)
    for k in key:
        start[k + 1] += 1
    for k in range(nkeys):
        start[k + 1] += start[k]
    out = np.empty(key.shape[0], dtype=np.int64)
    for i in range(key.shape[0]):
        out[start[key[i]]] = i
        start[key[i]] += 1
    return out


def _circle_distance_approx_m(
    lat0: np.ndarray, lon0: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> np.ndarray:
    """Mid-latitude plane distance on WGS84 (degrees in, metres out)."""
    p0, p = np.radians(lat0), np.radians(lat)
    pm = 0.5 * (p0 + p)
    s = np.sin(pm) ** 2
    w = 1 - _WGS84_E2 * s
    n = _WGS84_A / np.sqrt(w)
    m = _WGS84_A * (1 - _WGS84_E2) / (w * np.sqrt(w))
    dlon = np.radians((lon - lon0 + 180.0) % 360.0 - 180.0)
    return np.hypot(m * (p - p0), n * np.cos(pm) * dlon)


class ZoneSet:
    """An indexed, immutable collection of zones with vectorised point-in-zone queries.

    ``ref_offsets_m[(report_ref, zone_ref)]`` is added to a report altitude in
    ``report_ref`` to express it in ``zone_ref`` (see the module docstring).
    """

    def __init__(
        self,
        zones: Iterable[Zone],
        *,
        ref_offsets_m: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        ids = [z.id for z in self.zones]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigError(f"duplicate zone ids: {dup[:5]}", option="id")
        n = len(self.zones)
        self.ids = np.array(ids, dtype=object)
        self.kinds = np.array([z.kind for z in self.zones], dtype=object)
        self.floor_m = np.array([z.floor_m for z in self.zones], dtype=np.float64)
        self.ceiling_m = np.array([z.ceiling_m for z in self.zones], dtype=np.float64)
        self.alt_ref_code = np.array([ALT_REFS.index(z.alt_ref) for z in self.zones], dtype=np.int8)
        self.speed_limit_m_s = np.array(
            [np.nan if z.speed_limit_m_s is None else z.speed_limit_m_s for z in self.zones],
            dtype=np.float64,
        )
        self.is_circle = np.array([isinstance(z.geometry, Circle) for z in self.zones], dtype=bool)
        self.circle = np.full((n, 3), np.nan)  # lon, lat, radius_m
        geoms = np.empty(n, dtype=object)
        for i, z in enumerate(self.zones):
            if isinstance(z.geometry, Circle):
                self.circle[i] = (z.geometry.lon_deg, z.geometry.lat_deg, z.geometry.radius_m)
            else:
                geoms[i] = z.geometry
        poly = ~self.is_circle
        self.geoms = geoms
        if poly.any():
            shapely.prepare(geoms[poly])
        self.scheduled = np.array([z.schedule is not None for z in self.zones], dtype=bool)
        self.vertical = np.isfinite(self.floor_m) | np.isfinite(self.ceiling_m)
        self.ref_offsets = np.full((len(ALT_REFS), len(ALT_REFS)), np.nan)
        np.fill_diagonal(self.ref_offsets, 0.0)
        for (a, b), off in (ref_offsets_m or {}).items():
            if a not in ALT_REFS or b not in ALT_REFS:
                raise ConfigError(f"unknown alt_ref pair {(a, b)}", option="ref_offsets_m")
            self.ref_offsets[ALT_REFS.index(a), ALT_REFS.index(b)] = off
        bounds = np.array([z.bounds for z in self.zones], dtype=np.float64).reshape(n, 4)
        self.index = _GridIndex(bounds)

    def __len__(self) -> int:
        return len(self.zones)

    def __getitem__(self, i: int) -> Zone:
        return self.zones[i]

    def hits(
        self,
        lat_deg: Any,
        lon_deg: Any,
        alt_m: Any = None,
        time_utc: Any = None,
        alt_ref: Any = None,
        *,
        with_flags: bool = False,
    ) -> tuple[np.ndarray, ...]:
        """Sparse (point_index, zone_index) pairs of points inside active zones.

        ``lat_deg``/``lon_deg`` WGS84 degrees (NaN never hits); ``alt_m`` metres (None
        or NaN: unknown, see module docstring); ``time_utc`` ``datetime64[ns]`` UTC,
        scalar or per point (None: schedules ignored, every zone active); ``alt_ref``
        one of :data:`ALT_REFS`, scalar or per point (None: each zone's own reference).
        Pairs are sorted by point then zone. With ``with_flags=True`` a third uint8
        array of :data:`ALT_UNKNOWN` / :data:`ALT_REF_MISMATCH` bits is returned.
        """
        lat = np.atleast_1d(np.asarray(lat_deg, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon_deg, dtype=np.float64))
        if lat.shape != lon.shape or lat.ndim != 1:
            raise ConfigError(
                "lat_deg and lon_deg must be 1-D arrays of equal length", option="lat_deg"
            )
        p, z = self.index.candidates(lon, lat)  # zone-major: ~4x faster contains_xy
        keep = np.zeros(len(p), dtype=bool)
        circ = self.is_circle[z]
        pc, zc = p[~circ], z[~circ]
        if len(pc):
            keep[~circ] = shapely.contains_xy(self.geoms[zc], lon[pc], lat[pc])
        if circ.any():
            keep[circ] = self._in_circles(lat[p[circ]], lon[p[circ]], z[circ])
        p, z = p[keep], z[keep]
        if time_utc is not None and self.scheduled.any():
            p, z = self._active(p, z, time_utc, len(lat))
        flags = np.zeros(len(p), dtype=np.uint8)
        if alt_m is not None and self.vertical.any():
            p, z, flags = self._vertical(p, z, alt_m, alt_ref, len(lat))
        order = _stable_order_by(p, len(lat))  # still zone-major within each point
        p, z, flags = p[order], z[order], flags[order]
        return (p, z, flags) if with_flags else (p, z)

    def _in_circles(self, lat: np.ndarray, lon: np.ndarray, z: np.ndarray) -> np.ndarray:
        c = self.circle[z]
        d = _circle_distance_approx_m(c[:, 1], c[:, 0], lat, lon)
        r = c[:, 2]
        tol = r * (0.5 * (r / 6.3e6) ** 2 + 1e-9) + 1e-3
        inside = d <= r
        near = np.abs(d - r) <= tol
        if near.any():  # exact geodesic only for the thin rim band
            _, _, dist = _GEOD.inv(c[near, 0], c[near, 1], lon[near], lat[near])
            inside[near] = np.asarray(dist) <= r[near]
        return inside

    def _active(
        self, p: np.ndarray, z: np.ndarray, time_utc: Any, npts: int
    ) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(time_utc, dtype="datetime64[ns]")
        t = np.broadcast_to(t, (npts,)) if t.ndim == 0 else t
        if t.shape != (npts,):
            raise ConfigError("time_utc must be a scalar or one time per point", option="time_utc")
        keep = np.ones(len(p), dtype=bool)
        sched = np.flatnonzero(self.scheduled[z])
        if len(sched):
            zs = z[sched]
            for zi in np.unique(zs):
                sel = sched[zs == zi]
                schedule = self.zones[zi].schedule
                assert schedule is not None
                keep[sel] = schedule.active(t[p[sel]])
        return p[keep], z[keep]

    def _vertical(
        self, p: np.ndarray, z: np.ndarray, alt_m: Any, alt_ref: Any, npts: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alt = np.asarray(alt_m, dtype=np.float64)
        alt = np.broadcast_to(alt, (npts,)) if alt.ndim == 0 else alt
        if alt.shape != (npts,):
            raise ConfigError("alt_m must be a scalar or one altitude per point", option="alt_m")
        a = alt[p]
        flags = np.zeros(len(p), dtype=np.uint8)
        if alt_ref is not None:
            refs = np.asarray(alt_ref, dtype=object)
            refs = np.broadcast_to(refs, (npts,)) if refs.ndim == 0 else refs
            lut = {r: i for i, r in enumerate(ALT_REFS)}
            try:
                code = np.array([-1 if r is None else lut[r] for r in refs], dtype=np.int8)
            except KeyError as exc:
                raise ConfigError(
                    f"alt_ref {exc.args[0]!r} not in {ALT_REFS}", option="alt_ref"
                ) from None
            rc, zc = code[p], self.alt_ref_code[z]
            known = rc >= 0
            off = np.zeros(len(p))
            off[known] = self.ref_offsets[rc[known], zc[known]]
            mismatch = np.isnan(off)
            off[mismatch] = 0.0
            a = a + off
            flags[mismatch & self.vertical[z]] |= ALT_REF_MISMATCH
        unknown = np.isnan(a)
        flags[unknown & self.vertical[z]] |= ALT_UNKNOWN
        with np.errstate(invalid="ignore"):
            ok = unknown | ((a >= self.floor_m[z]) & (a <= self.ceiling_m[z]))
        return p[ok], z[ok], flags[ok]

    # ---------------------------------------------------------------- loaders

    @classmethod
    def from_geojson(
        cls,
        source: str | Path | Mapping[str, Any],
        *,
        default_kind: str | None = None,
        ref_offsets_m: Mapping[tuple[str, str], float] | None = None,
    ) -> ZoneSet:
        """Zones from a GeoJSON FeatureCollection (path, JSON text or parsed object).

        Geometry: ``Polygon`` / ``MultiPolygon`` (lon, lat degrees), or ``Point`` with
        property ``radius_m`` for a circle. Properties: ``kind`` (one of
        :data:`ZONE_KINDS`; required unless ``default_kind``), ``id`` (else the
        feature ``id``, else ``zone-<index>``), ``name``, ``floor_m`` / ``ceiling_m``
        (metres, absent = unbounded), ``alt_ref`` (default ``msl``), ``schedule`` (see
        :class:`Schedule`), ``speed_limit_m_s``; the rest is kept in ``properties``.
        Bad input raises :class:`~kongtian.errors.FormatError` naming the feature index
        and property.
        """
        path: str | None = None
        obj: Any
        if isinstance(source, Mapping):
            obj = source
        else:
            text = str(source)
            if isinstance(source, Path) or not text.lstrip().startswith("{"):
                path = text
                try:
                    text = Path(text).read_text(encoding="utf-8")
                except OSError as exc:
                    raise FormatError(f"cannot read: {exc.strerror}", path=path) from None
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FormatError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
        if not isinstance(obj, Mapping):
            raise FormatError("GeoJSON root must be an object", path=path)
        if obj.get("type") == "Feature":
            features: Any = [obj]
        elif obj.get("type") == "FeatureCollection":
            features = obj.get("features")
            if not isinstance(features, list):
                raise FormatError("FeatureCollection has no 'features' list", path=path)
        else:
            raise FormatError(
                f"GeoJSON type {obj.get('type')!r} is not Feature or FeatureCollection", path=path
            )
        zones = [_zone_from_feature(i, f, default_kind, path) for i, f in enumerate(features)]
        ids = [z.id for z in zones]
        for i, zid in enumerate(ids):
            if zid in ids[:i]:
                raise FormatError(
                    f"feature {i}: property 'id': duplicate zone id {zid!r}", path=path
                )
        return cls(zones, ref_offsets_m=ref_offsets_m)

    @classmethod
    def from_traffic_airspace(
        cls, source: str | Path | Mapping[str, Any], *, kind: str = "restricted"
    ) -> ZoneSet:
        """Zones from the JSON airspace format of the ``traffic`` library.

        The file holds ``name``, ``type`` and ``shapes``: each shape is a GeoJSON
        ``polygon`` with ``lower`` / ``upper`` flight levels (hundreds of feet of
        pressure altitude), so each becomes one zone ``<name>#<i>`` with ``alt_ref``
        ``baro`` and floor/ceiling ``FL * 100 ft``.
        """
        path = None if isinstance(source, Mapping) else str(source)
        try:
            obj = (
                source
                if isinstance(source, Mapping)
                else json.loads(Path(str(source)).read_text("utf-8"))
            )
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"cannot read airspace: {exc}", path=path) from None
        shapes = obj.get("shapes") if isinstance(obj, Mapping) else None
        if not isinstance(shapes, list):
            raise FormatError("airspace has no 'shapes' list", path=path)
        name = str(obj.get("name", "airspace"))
        zones = []
        for i, s in enumerate(shapes):
            try:
                geom = shape(s["polygon"])
                lower, upper = float(s["lower"]), float(s["upper"])
            except (KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
                raise FormatError(f"shape {i}: {exc!r}", path=path) from None
            zones.append(
                _make_zone(
                    i,
                    path,
                    id=f"{name}#{i}",
                    name=name,
                    kind=kind,
                    geometry=geom,
                    floor_m=lower * 100 * FT_M,
                    ceiling_m=upper * 100 * FT_M,
                    alt_ref="baro",
                    properties={"type": obj.get("type"), "lower_fl": lower, "upper_fl": upper},
                )
            )
        return cls(zones)


def _make_zone(index: int, path: str | None, **kw: Any) -> Zone:
    try:
        return Zone(**kw)
    except ConfigError as exc:
        prop = exc.option or "?"
        raise FormatError(f"feature {index}: property {prop!r}: {exc}", path=path) from None


def _num(
    index: int, props: Mapping[str, Any], key: str, path: str | None, default: float | None
) -> float | None:
    v = props.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise FormatError(
            f"feature {index}: property {key!r}: expected a finite number, got {v!r}", path=path
        )
    return float(v)


def _zone_from_feature(i: int, f: Any, default_kind: str | None, path: str | None) -> Zone:
    if not isinstance(f, Mapping) or f.get("type") != "Feature":
        raise FormatError(f"feature {i}: not a GeoJSON Feature", path=path)
    props = f.get("properties") or {}
    if not isinstance(props, Mapping):
        raise FormatError(f"feature {i}: 'properties' must be an object", path=path)
    g = f.get("geometry")
    if not isinstance(g, Mapping):
        raise FormatError(f"feature {i}: missing geometry", path=path)
    kind = props.get("kind", default_kind)
    if kind is None:
        raise FormatError(f"feature {i}: property 'kind': missing (one of {ZONE_KINDS})", path=path)
    try:
        geom = shape(g)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        shapely.errors.GEOSException,
    ) as exc:
        raise FormatError(f"feature {i}: geometry: {exc}", path=path) from None
    geometry: BaseGeometry | Circle
    if isinstance(geom, shapely.Point):
        radius = _num(i, props, "radius_m", path, None)
        if radius is None:
            raise FormatError(
                f"feature {i}: property 'radius_m': required for a Point (circle) zone", path=path
            )
        geometry = Circle(float(geom.x), float(geom.y), radius)
        lon_b, lat_b = (geom.x, geom.x), (geom.y, geom.y)
    elif isinstance(geom, shapely.Polygon | shapely.MultiPolygon):
        if geom.is_empty or not geom.is_valid:
            why = shapely.is_valid_reason(geom)
            raise FormatError(f"feature {i}: geometry: invalid {geom.geom_type} ({why})", path=path)
        geometry = geom
        b = geom.bounds
        lon_b, lat_b = (b[0], b[2]), (b[1], b[3])
    else:
        raise FormatError(f"feature {i}: geometry: type {geom.geom_type} not supported", path=path)
    if not (-180 <= lon_b[0] and lon_b[1] <= 180 and -90 <= lat_b[0] and lat_b[1] <= 90):
        raise FormatError(
            f"feature {i}: geometry: coordinates outside lon [-180, 180] / lat [-90, 90]", path=path
        )
    zid = props.get("id", f.get("id", f"zone-{i}"))
    floor = _num(i, props, "floor_m", path, -math.inf)
    ceiling = _num(i, props, "ceiling_m", path, math.inf)
    speed = _num(i, props, "speed_limit_m_s", path, None)
    schedule = _parse_schedule(i, props.get("schedule"), path)
    known = {
        "id",
        "name",
        "kind",
        "floor_m",
        "ceiling_m",
        "alt_ref",
        "schedule",
        "speed_limit_m_s",
        "radius_m",
    }
    return _make_zone(
        i,
        path,
        id=str(zid),
        name=str(props.get("name", zid)),
        kind=kind,
        geometry=geometry,
        floor_m=floor,
        ceiling_m=ceiling,
        alt_ref=props.get("alt_ref", "msl"),
        schedule=schedule,
        speed_limit_m_s=speed,
        properties={k: v for k, v in props.items() if k not in known},
    )


def _hhmm(i: int, s: Any, path: str | None) -> int:
    try:
        h, m = str(s).split(":")
        hh, mm = int(h), int(m)
        if not (0 <= hh <= 24 and 0 <= mm < 60 and hh * 60 + mm <= 1440):
            raise ValueError
    except ValueError:
        raise FormatError(
            f"feature {i}: property 'schedule': time {s!r} is not HH:MM", path=path
        ) from None
    return hh * 60 + mm


def _parse_schedule(i: int, s: Any, path: str | None) -> Schedule | None:
    if s is None:
        return None
    if not isinstance(s, Mapping) or not set(s) <= {"utc", "weekly", "tz"}:
        raise FormatError(
            f"feature {i}: property 'schedule': expected an object with utc/weekly/tz", path=path
        )
    intervals = []
    for k, iv in enumerate(s.get("utc", [])):
        try:
            a, b = (
                np.datetime64(pd.Timestamp(x).tz_convert("UTC").tz_localize(None), "ns") for x in iv
            )
        except (TypeError, ValueError) as exc:
            raise FormatError(
                f"feature {i}: property 'schedule': utc[{k}] needs two ISO times with a zone ({exc})",
                path=path,
            ) from None
        if not b > a:
            raise FormatError(
                f"feature {i}: property 'schedule': utc[{k}] ends before it starts", path=path
            )
        intervals.append((a, b))
    tz = str(s.get("tz", "Asia/Shanghai"))
    try:
        pd.Timestamp("2000-01-01", tz=tz)
    except Exception:  # pandas raises several types for an unknown zone
        raise FormatError(
            f"feature {i}: property 'schedule': unknown time zone {tz!r}", path=path
        ) from None
    weekly = []
    for k, w in enumerate(s.get("weekly", [])):
        if not isinstance(w, Mapping) or not {"days", "start", "end"} <= set(w):
            raise FormatError(
                f"feature {i}: property 'schedule': weekly[{k}] needs days, start, end", path=path
            )
        try:
            days = frozenset(_DAYS.index(str(d).lower()[:3]) for d in w["days"])
        except ValueError:
            raise FormatError(
                f"feature {i}: property 'schedule': weekly[{k}] bad day in {w['days']!r}", path=path
            ) from None
        weekly.append(WeeklyWindow(days, _hhmm(i, w["start"], path), _hhmm(i, w["end"], path)))
    return Schedule(tuple(intervals), tuple(weekly), tz)


# -------------------------------------------------------------------- monitor


class ZoneMonitor:
    """Stateful enter / exit / inside / overspeed detection over report batches.

    State is, per object, the set of zones it was last inside and the time of its last
    processed report. Policy (see :meth:`update`):

    - Within a batch, each object's reports are processed in ``time_utc`` order (stable
      for ties), so several reports of one object in one batch yield exactly the events
      a one-by-one replay would (no missed ``enter``, Tile38 #522).
    - A report older than its object's last processed time (late, out of order across
      batches) changes no state and emits no event; it is counted in
      :attr:`late_reports` (no spurious exit/enter flip, Tile38 #661).
    - Reports without lat/lon are skipped and counted in :attr:`no_position_reports`;
      they neither exit nor enter.
    """

    def __init__(self, zoneset: ZoneSet, *, emit_inside: bool = True) -> None:
        self.zoneset = zoneset
        self.emit_inside = emit_inside
        self.inside: dict[str, frozenset[int]] = {}
        self.last_time_ns: dict[str, int] = {}
        self.late_reports = 0
        self.no_position_reports = 0

    def update(self, reports: pa.Table) -> pa.Table:
        """Events (:data:`EVENT_SCHEMA`) for one batch of normalised reports.

        Events come sorted by ``time_utc``, then object, then ``exit`` before
        ``enter`` before ``inside`` before ``overspeed`` at the same report.
        ``overspeed``: report inside a zone with a speed limit and ``speed_m_s`` above it.
        """
        zs = self.zoneset
        n_in = reports.num_rows
        if n_in == 0:
            return EVENT_SCHEMA.empty_table()
        oid_all = np.asarray(reports.column("object_id").to_pylist(), dtype=object)
        t_all = reports.column("time_utc").cast(pa.int64()).to_numpy(zero_copy_only=False)
        lat_all = _f64(reports, "lat_deg")
        lon_all = _f64(reports, "lon_deg")
        alt_all = (
            _f64(reports, "alt_m") if "alt_m" in reports.column_names else np.full(n_in, np.nan)
        )
        spd_all = (
            _f64(reports, "speed_m_s")
            if "speed_m_s" in reports.column_names
            else np.full(n_in, np.nan)
        )
        ref_all = (
            np.asarray(reports.column("alt_ref").to_pylist(), dtype=object)
            if "alt_ref" in reports.column_names
            else None
        )
        codes, uniq = pd.factorize(oid_all, sort=False)
        uniq = np.asarray(uniq, dtype=object)
        last = np.array([self.last_time_ns.get(o, _NEVER) for o in uniq], dtype=np.int64)
        late = t_all < last[codes]
        self.late_reports += int(late.sum())
        haspos = np.isfinite(lat_all) & np.isfinite(lon_all)
        self.no_position_reports += int((~haspos & ~late).sum())
        use = np.flatnonzero(~late & haspos)
        use = use[np.lexsort((t_all[use], codes[use]))]
        n = len(use)
        oc = codes[use]
        t, lat, lon, alt, spd = t_all[use], lat_all[use], lon_all[use], alt_all[use], spd_all[use]
        # per-object row range [a, b) in the sorted rows
        objs, a = np.unique(oc, return_index=True)
        b = np.append(a[1:], n)
        first = np.zeros(len(uniq), dtype=np.int64)
        end = np.zeros(len(uniq), dtype=np.int64)
        first[objs], end[objs] = a, b
        p, z, flags = zs.hits(
            lat,
            lon,
            alt,
            t.astype("datetime64[ns]"),
            None if ref_all is None else ref_all[use],
            with_flags=True,
        )
        keys = z * n + p  # sorted by (zone, row) after this sort
        order = np.argsort(keys, kind="stable")
        p, z, flags, keys = p[order], z[order], flags[order], keys[order]
        prior_o: list[int] = []
        prior_z: list[int] = []
        for o, name in zip(objs.tolist(), uniq[objs].tolist(), strict=True):
            for zi in self.inside.get(name, ()):
                prior_o.append(o)
                prior_z.append(zi)
        po = np.array(prior_o, dtype=np.int64)
        pz = np.array(prior_z, dtype=np.int64)
        pkeys = np.sort(pz * len(uniq) + po)

        prev_row = p - 1
        at_first = p == first[oc[p]]
        prev_in = np.where(
            at_first, _member(pkeys, z * len(uniq) + oc[p]), _member(keys, z * n + prev_row)
        )
        ev_row = [p]
        ev_zone = [z]
        ev_kind = [np.where(prev_in, 2, 1)]  # index into EVENTS
        ev_flag = [flags]
        # exit at the next row of the same object when that row is not a hit
        nxt = p + 1
        ex = (nxt < end[oc[p]]) & ~_member(keys, z * n + nxt)
        ev_row.append(nxt[ex])
        ev_zone.append(z[ex])
        ev_kind.append(np.zeros(int(ex.sum()), dtype=np.int64))
        ev_flag.append(np.zeros(int(ex.sum()), dtype=np.uint8))
        # exit at the first row of an object that was inside before this batch
        pex_row = first[po]
        pex = ~_member(keys, pz * n + pex_row)
        ev_row.append(pex_row[pex])
        ev_zone.append(pz[pex])
        ev_kind.append(np.zeros(int(pex.sum()), dtype=np.int64))
        ev_flag.append(np.zeros(int(pex.sum()), dtype=np.uint8))
        # overspeed inside a zone with a limit
        lim = zs.speed_limit_m_s[z] if len(z) else np.zeros(0)
        with np.errstate(invalid="ignore"):
            over = spd[p] > lim
        ev_row.append(p[over])
        ev_zone.append(z[over])
        ev_kind.append(np.full(int(over.sum()), 3, dtype=np.int64))
        ev_flag.append(flags[over])

        row = np.concatenate(ev_row)
        zone = np.concatenate(ev_zone)
        kind = np.concatenate(ev_kind)
        flag = np.concatenate(ev_flag)
        if not self.emit_inside:
            keep = kind != 2
            row, zone, kind, flag = row[keep], zone[keep], kind[keep], flag[keep]
        sel = np.lexsort((zone, kind, row, t[row]))
        row, zone, kind, flag = row[sel], zone[sel], kind[sel], flag[sel]

        # new state: zones held at each object's last row in this batch
        last_hit = p == (end[oc[p]] - 1)
        new_inside: dict[int, set[int]] = {}
        for o, zi in zip(oc[p[last_hit]].tolist(), z[last_hit].tolist(), strict=True):
            new_inside.setdefault(o, set()).add(zi)
        last_t = t[end[objs] - 1].tolist()
        for o, name, tl in zip(objs.tolist(), uniq[objs].tolist(), last_t, strict=True):
            held = new_inside.get(o)
            if held:
                self.inside[name] = frozenset(held)
            else:
                self.inside.pop(name, None)
            self.last_time_ns[name] = tl

        return pa.Table.from_arrays(
            [
                pa.array(uniq[oc[row]].tolist() if len(row) else [], type=pa.string()),
                pa.array(zs.ids[zone].tolist() if len(zone) else [], type=pa.string()),
                pa.array(zs.kinds[zone].tolist() if len(zone) else [], type=pa.string()),
                pa.array(
                    np.array(EVENTS, dtype=object)[kind].tolist() if len(kind) else [],
                    type=pa.string(),
                ),
                pa.array(t[row], type=pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
                pa.array(lat[row], type=pa.float64(), from_pandas=True),
                pa.array(lon[row], type=pa.float64(), from_pandas=True),
                pa.array(alt[row], type=pa.float64(), from_pandas=True),
                pa.array(spd[row], type=pa.float64(), from_pandas=True),
                pa.array(flag, type=pa.uint8()),
            ],
            schema=EVENT_SCHEMA,
        )


def _member(sorted_keys: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Vectorised ``q in sorted_keys``."""
    if len(sorted_keys) == 0 or len(q) == 0:
        return np.zeros(len(q), dtype=bool)
    i = np.searchsorted(sorted_keys, q)
    i = np.minimum(i, len(sorted_keys) - 1)
    return np.asarray(sorted_keys[i] == q)


def _f64(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
