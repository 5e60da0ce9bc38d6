"""Strategic 4D deconfliction of operational intents and conformance monitoring (ASTM F3548).

An operational intent is a set of 4D volumes (an outline polygon or circle, an altitude
band and a UTC time window). Two volumes intersect, as decided here, when

- their time windows overlap with positive length (``start_a < end_b`` and
  ``start_b < end_a``): one ending exactly when the other starts is a hand-over, not
  shared airspace;
- their altitude bands overlap or are closer than ``tolerance_m``;
- their outlines overlap or are closer than ``tolerance_m`` (default 1 cm, the
  intersection precision F3548 asks of a USS). Touching outlines therefore conflict:
  the conservative reading when separation cannot be resolved below 1 cm.

Outlines are compared in an azimuthal-equidistant (WGS84) plane centred on one of them;
polygon edges are straight in that plane (F3548 gives vertices only). The plane's scale
error over a 100 km volume is ~1e-5 and applies to the gap being measured, so a 1 cm
decision is not affected. Circles are geodesic circles (exact in the plane at their centre).

Priority (F3548 SCD0015/SCD0020 and the priority-conflict rules): a new or modified intent
must be deconflicted against intents of *higher* priority, and against *equal* priority
unless the regulator allows conflicts at that level; lower-priority intents may be
overlapped. :meth:`IntentIndex.conflicts` therefore returns intents of equal or higher
priority by default (``equal_priority_blocks=False`` drops equal, ``include_lower=True``
returns all). Ended intents take no part.

The index keeps one row per volume (time window, altitude band, lon/lat bounding box) and
filters candidates with vectorised comparisons before the exact outline test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from pyproj import Geod, Proj

from kongtian.errors import ConfigError, NotFound
from kongtian.geo.time import as_utc
from kongtian.model.report import ALT_REFS

STATES = ("Accepted", "Activated", "Nonconforming", "Contingent", "Ended")
_GEOD = Geod(ellps="WGS84")
_M_PER_DEG = 111_000.0  # lower bound of metres per degree of latitude (bbox margins)


@dataclass(frozen=True)
class Circle:
    """Geodesic circle: centre (WGS84 degrees) and radius (m)."""

    lat_deg: float
    lon_deg: float
    radius_m: float

    def __post_init__(self) -> None:
        if not (-90 <= self.lat_deg <= 90 and -180 <= self.lon_deg <= 360):
            raise ConfigError(
                f"centre ({self.lat_deg}, {self.lon_deg}) out of range", option="outline"
            )
        if not (np.isfinite(self.radius_m) and self.radius_m > 0):
            raise ConfigError(f"radius must be positive, got {self.radius_m!r}", option="radius_m")


@dataclass(frozen=True)
class Volume4D:
    """One 4D volume: ``outline`` (shapely Polygon in lon/lat degrees, or :class:`Circle`),
    altitude band ``[alt_lower_m, alt_upper_m]`` in ``alt_ref`` (one of
    :data:`kongtian.model.report.ALT_REFS`; F3548 uses WGS84), UTC time window
    ``[t_start_utc, t_end_utc]`` (anything :func:`kongtian.geo.time.as_utc` accepts)."""

    outline: shapely.Polygon | Circle
    alt_lower_m: float
    alt_upper_m: float
    alt_ref: str
    t_start_utc: Any
    t_end_utc: Any

    def __post_init__(self) -> None:
        o = self.outline
        if isinstance(o, shapely.Polygon):
            if o.is_empty or not o.is_valid:
                raise ConfigError(
                    f"polygon is empty or invalid: {shapely.is_valid_reason(o)}", option="outline"
                )
            x0, y0, x1, y1 = o.bounds
            if y0 < -90 or y1 > 90 or x0 < -180 or x1 > 360 or x1 - x0 > 180:
                raise ConfigError(
                    "polygon must be lon/lat degrees spanning < 180 deg of longitude",
                    option="outline",
                )
        elif not isinstance(o, Circle):
            raise ConfigError(
                f"expected a shapely Polygon or Circle, got {type(o).__name__}", option="outline"
            )
        if not (np.isfinite(self.alt_lower_m) and np.isfinite(self.alt_upper_m)) or (
            self.alt_lower_m > self.alt_upper_m
        ):
            raise ConfigError(
                f"need finite alt_lower_m <= alt_upper_m, got {self.alt_lower_m}, {self.alt_upper_m}",
                option="alt_lower_m",
            )
        if self.alt_ref not in ALT_REFS:
            raise ConfigError(f"{self.alt_ref!r} is not one of {ALT_REFS}", option="alt_ref")
        t0, t1 = as_utc(self.t_start_utc), as_utc(self.t_end_utc)
        if np.isnat(t0) or np.isnat(t1) or not t0 < t1:
            raise ConfigError(f"need t_start_utc < t_end_utc, got {t0}, {t1}", option="t_start_utc")
        object.__setattr__(self, "t_start_utc", t0)
        object.__setattr__(self, "t_end_utc", t1)

    def bbox_deg(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat), circles enlarged to cover their radius."""
        o = self.outline
        if isinstance(o, Circle):
            dlat = o.radius_m / _M_PER_DEG
            dlon = min(
                180.0, dlat / max(np.cos(np.radians(min(abs(o.lat_deg) + dlat, 90.0))), 1e-9)
            )
            return o.lon_deg - dlon, o.lat_deg - dlat, o.lon_deg + dlon, o.lat_deg + dlat
        b = o.bounds
        return b[0], b[1], b[2], b[3]


@dataclass(frozen=True)
class OperationalIntent:
    """An operational intent: ``volumes`` (at least one), ``state`` in :data:`STATES`,
    ``priority`` (higher number = higher priority, as in F3548), ``owner`` (USS or operator)."""

    id: str
    volumes: Sequence[Volume4D]
    state: str = "Accepted"
    priority: int = 0
    owner: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ConfigError("intent id must be a non-empty string", option="id")
        if self.state not in STATES:
            raise ConfigError(f"{self.state!r} is not one of {STATES}", option="state")
        object.__setattr__(self, "volumes", tuple(self.volumes))
        if not self.volumes or not all(isinstance(v, Volume4D) for v in self.volumes):
            raise ConfigError("at least one Volume4D is needed", option="volumes")


@lru_cache(maxsize=4096)
def _aeqd(lat_deg: float, lon_deg: float) -> Proj:
    return Proj(proj="aeqd", lat_0=lat_deg, lon_0=lon_deg, ellps="WGS84")


def _project(poly: shapely.Polygon, proj: Proj) -> shapely.Polygon:
    return shapely.transform(poly, lambda xy: np.column_stack(proj(xy[:, 0], xy[:, 1])))


def _centre(v: Volume4D) -> tuple[float, float]:
    if isinstance(v.outline, Circle):
        return v.outline.lat_deg, v.outline.lon_deg
    c = v.outline.centroid
    return c.y, c.x


def outline_gap_m(a: Volume4D, b: Volume4D) -> float:
    """Horizontal distance between two outlines (m); 0 when they overlap or touch."""
    oa, ob = a.outline, b.outline
    if isinstance(oa, Circle) and isinstance(ob, Circle):
        _, _, d = _GEOD.inv(oa.lon_deg, oa.lat_deg, ob.lon_deg, ob.lat_deg)
        return max(0.0, d - oa.radius_m - ob.radius_m)
    if isinstance(ob, Circle):
        oa, ob = ob, oa
    if isinstance(oa, Circle):
        assert isinstance(ob, shapely.Polygon)
        poly = _project(ob, _aeqd(oa.lat_deg, oa.lon_deg))
        return max(0.0, float(poly.distance(shapely.Point(0.0, 0.0))) - oa.radius_m)
    # Plane centred on the first outline (cached: a query volume is compared with many);
    # its scale error applies to the small gap being decided, so any nearby centre works.
    la, loa = _centre(a)
    proj = _aeqd(round(la, 6), round(loa, 6))
    return float(_project(oa, proj).distance(_project(ob, proj)))


def volumes_intersect(a: Volume4D, b: Volume4D, tolerance_m: float = 0.01) -> bool:
    """4D intersection as defined in the module docstring."""
    if a.alt_ref != b.alt_ref:
        raise ConfigError(
            f"cannot compare altitudes in {a.alt_ref!r} and {b.alt_ref!r}", option="alt_ref"
        )
    if not (a.t_start_utc < b.t_end_utc and b.t_start_utc < a.t_end_utc):
        return False
    if a.alt_lower_m > b.alt_upper_m + tolerance_m or b.alt_lower_m > a.alt_upper_m + tolerance_m:
        return False
    return outline_gap_m(a, b) <= tolerance_m


class IntentIndex:
    """Operational intents indexed by time window, altitude band and lon/lat bbox.

    All volumes in one index share one altitude reference (the first added sets it).
    ``tolerance_m`` is the spatial intersection precision (F3548: 1 cm).
    """

    def __init__(self, tolerance_m: float = 0.01) -> None:
        if not (np.isfinite(tolerance_m) and tolerance_m >= 0):
            raise ConfigError(f"must be >= 0, got {tolerance_m!r}", option="tolerance_m")
        self.tolerance_m = float(tolerance_m)
        self._intents: dict[str, OperationalIntent] = {}
        self._alt_ref: str | None = None
        self._arrays: dict[str, npt.NDArray[Any]] | None = None
        self._vol_list: list[tuple[str, Volume4D]] = []

    def __len__(self) -> int:
        return len(self._intents)

    def __contains__(self, intent_id: object) -> bool:
        return intent_id in self._intents

    def get(self, intent_id: str) -> OperationalIntent:
        try:
            return self._intents[intent_id]
        except KeyError:
            raise NotFound(f"no operational intent {intent_id!r}") from None

    def add(self, intent: OperationalIntent) -> None:
        """Add an intent; one with the same id is replaced (an F3548 update)."""
        refs = {v.alt_ref for v in intent.volumes}
        ref = self._alt_ref or next(iter(refs))
        if refs != {ref}:
            raise ConfigError(
                f"intent {intent.id!r} uses {sorted(refs)}; this index is in {ref!r}",
                option="alt_ref",
            )
        self._alt_ref = ref
        self._intents[intent.id] = intent
        self._arrays = None

    def remove(self, intent_id: str) -> None:
        if intent_id not in self._intents:
            raise NotFound(f"no operational intent {intent_id!r}")
        del self._intents[intent_id]
        self._arrays = None

    def _index(self) -> dict[str, npt.NDArray[Any]]:
        if self._arrays is None:
            self._vol_list = [
                (i.id, v) for i in self._intents.values() if i.state != "Ended" for v in i.volumes
            ]
            vols = [v for _, v in self._vol_list]
            bb = np.array([v.bbox_deg() for v in vols], dtype=float).reshape(-1, 4)
            self._arrays = {
                "t0": np.array([v.t_start_utc for v in vols], dtype="datetime64[ns]"),
                "t1": np.array([v.t_end_utc for v in vols], dtype="datetime64[ns]"),
                "lo": np.array([v.alt_lower_m for v in vols], dtype=float),
                "hi": np.array([v.alt_upper_m for v in vols], dtype=float),
                "bb": bb,
                "prio": np.array(
                    [self._intents[i].priority for i, _ in self._vol_list], dtype=np.int64
                ),
            }
        return self._arrays

    def conflicts(
        self,
        intent: OperationalIntent,
        *,
        equal_priority_blocks: bool = True,
        include_lower: bool = False,
    ) -> list[str]:
        """Ids (sorted) of indexed intents whose volumes 4D-intersect any of ``intent``'s.

        The intent itself (same id) and Ended intents are skipped; priorities filter as in
        the module docstring.
        """
        if self._alt_ref is not None and any(v.alt_ref != self._alt_ref for v in intent.volumes):
            raise ConfigError(
                f"intent {intent.id!r} is not in this index's {self._alt_ref!r}", option="alt_ref"
            )
        a = self._index()
        if not self._vol_list:
            return []
        if include_lower:
            prio_ok = np.ones(len(self._vol_list), dtype=bool)
        elif equal_priority_blocks:
            prio_ok = a["prio"] >= intent.priority
        else:
            prio_ok = a["prio"] > intent.priority
        tol = self.tolerance_m
        found: set[str] = set()
        for q in intent.volumes:
            x0, y0, x1, y1 = q.bbox_deg()
            pad = tol / _M_PER_DEG
            mask = (
                prio_ok
                & (a["t0"] < q.t_end_utc)
                & (q.t_start_utc < a["t1"])
                & (a["lo"] <= q.alt_upper_m + tol)
                & (q.alt_lower_m <= a["hi"] + tol)
                & _bbox_overlap(a["bb"], (x0, y0, x1, y1), pad)
            )
            for k in np.flatnonzero(mask):
                owner, v = self._vol_list[k]
                if owner != intent.id and owner not in found and volumes_intersect(q, v, tol):
                    found.add(owner)
        return sorted(found)

    def conformance(
        self,
        reports: pa.Table | Mapping[str, Any],
        intent_ids: Sequence[str | None],
        *,
        margin_m: float = 0.0,
    ) -> npt.NDArray[np.bool_]:
        """For each report, is it inside at least one volume of its intent at its time?

        ``reports`` has ``lat_deg``, ``lon_deg``, ``alt_m`` (in this index's altitude
        reference) and ``time_utc`` columns (a report table or a mapping of arrays);
        ``intent_ids[k]`` names report k's intent (``None``/``""``: none, so not
        conforming). A report is inside when its time is in ``[t_start, t_end]`` and its
        position within ``margin_m`` of the volume (horizontally and vertically). Reports
        with a null position or altitude are not conforming. Unknown intent ids raise
        :class:`NotFound`.
        """
        if not (np.isfinite(margin_m) and margin_m >= 0):
            raise ConfigError(f"must be >= 0, got {margin_m!r}", option="margin_m")
        cols = {}
        for name in ("lat_deg", "lon_deg", "alt_m", "time_utc"):
            try:
                col = reports[name]
            except KeyError:
                raise ConfigError("reports need this column", option=name) from None
            if isinstance(col, pa.ChunkedArray | pa.Array):
                col = col.to_numpy(zero_copy_only=False)
            cols[name] = np.asarray(col)
        lat = np.asarray(cols["lat_deg"], dtype=float)
        lon = np.asarray(cols["lon_deg"], dtype=float)
        alt = np.asarray(cols["alt_m"], dtype=float)
        t = (
            as_utc(cols["time_utc"])
            if cols["time_utc"].dtype.kind != "M"
            else cols["time_utc"].astype("M8[ns]")
        )
        ids = np.array(["" if i is None else str(i) for i in intent_ids], dtype=object)
        if len(ids) != len(lat):
            raise ConfigError(
                f"expected {len(lat)} intent ids, got {len(ids)}", option="intent_ids"
            )
        unknown = sorted({i for i in set(ids.tolist()) if i and i not in self._intents})
        if unknown:
            raise NotFound(f"unknown operational intent(s): {', '.join(unknown[:5])}")
        ok = np.zeros(len(lat), dtype=bool)
        valid = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(alt) & ~np.isnat(t)
        for iid in set(ids.tolist()) - {""}:
            rows = np.flatnonzero((ids == iid) & valid)
            for v in self._intents[iid].volumes:
                left = rows[~ok[rows]]
                if not len(left):
                    break
                sel = (
                    (t[left] >= v.t_start_utc)
                    & (t[left] <= v.t_end_utc)
                    & (alt[left] >= v.alt_lower_m - margin_m)
                    & (alt[left] <= v.alt_upper_m + margin_m)
                )
                cand = left[sel]
                if len(cand):
                    ok[cand] = _inside_2d(v, lat[cand], lon[cand], margin_m)
        return ok


def _bbox_overlap(
    bb: npt.NDArray[np.float64], q: tuple[float, float, float, float], pad: float
) -> Any:
    x0, y0, x1, y1 = q
    lat_ok = (bb[:, 1] <= y1 + pad) & (y0 - pad <= bb[:, 3])
    # Longitudes compared modulo 360 so boxes either side of the antimeridian still meet.
    lon_ok = np.zeros(len(bb), dtype=bool)
    for shift in (-360.0, 0.0, 360.0):
        lon_ok |= (bb[:, 0] + shift <= x1 + pad) & (x0 - pad <= bb[:, 2] + shift)
    return lat_ok & lon_ok


def _inside_2d(
    v: Volume4D, lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64], margin_m: float
) -> Any:
    o = v.outline
    if isinstance(o, Circle):
        _, _, d = _GEOD.inv(np.full(lat.shape, o.lon_deg), np.full(lat.shape, o.lat_deg), lon, lat)
        return np.asarray(d) <= o.radius_m + margin_m
    c = o.centroid
    proj = _aeqd(c.y, c.x)
    poly = _project(o, proj)
    if margin_m > 0:
        poly = poly.buffer(margin_m, quad_segs=32)
    shapely.prepare(poly)
    x, y = proj(lon, lat)
    return shapely.intersects_xy(poly, x, y)
