"""A simulated UAV fleet over Chongqing: delivery, river inspection and a few rule-breakers.

Everything here is **simulated** and labelled so: object ids ``uas:sim-<mission>-<n>``,
source ``remoteid-net`` (network Remote ID, as a USS would report to the supervision
platform), and the extra columns ``simulated`` (always ``True``), ``mission`` and
``operator_id``.

Each UAV flies a closed route (a polyline whose last vertex is its first) at a constant
ground speed (m/s) and a constant height above take-off (``alt_ref = "agl"``, metres),
starting ``phase_m`` metres along the route at ``t = 0`` and going round forever. The
position at time ``t`` (seconds since the fleet's start) is the point at arc length
``(phase_m + speed * t) mod length`` along the route, where the route is made of
WGS84 geodesic segments (``pyproj.Geod``): a report's ``track_deg`` is the geodesic
azimuth there. :meth:`Fleet.reports` evaluates all UAVs at all times of a 1 Hz grid in
one vectorised pass (MH/T 4053-2022 asks for a report at least every 2 s).

:meth:`Fleet.chongqing` builds the demo fleet, deterministic for a given ``seed``:

- ``dlv``: delivery out-and-back trips from six hubs (pads scattered 100-600 m around
  each hub) to random points 1.5-5 km away, on six height layers 30-105 m
  (:data:`LAYERS_M`), 10-15 m/s. Trips are not deconflicted with each other, so now and
  then two of them conflict, as unplanned traffic does; a trip whose path would touch
  a no-fly, restricted or speed-limit zone of the demo zones is drawn again;
- ``insp``: inspection loops along the Yangtze and Jialing fairways (one bank out, the
  other back), 7 m/s at 40 or 60 m (alternately), evenly spaced so they never close up;
- ``stray``: one trip straight across the Yuzhong no-fly zone (and through the
  Jiangbeizui speed limit), one into the Jiangbei airport no-fly area; both start a few
  seconds before their first violation so alerts come at once;
- ``climb``: a delivery loop at 150 m, above the 120 m limit of open airspace;
- ``speed``: 15 m/s through the 8 m/s Jiangbeizui speed-limit zone;
- ``pair``: two UAVs on parallel lines 15 m apart, flying head-on at the same height,
  300 m apart at the start and closing at 20 m/s: loss of separation (50 m) about 13 s
  after the start, then once per leg (about every 290 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyproj
import shapely
from shapely.geometry import LineString

from kongtian.model.report import report_table
from kongtian.traffic.zones import ZoneSet

FloatArray = npt.NDArray[np.float64]
_GEOD = pyproj.Geod(ellps="WGS84")
SOURCE = "remoteid-net"
ALT_REF = "agl"

#: Delivery hubs (lon, lat WGS84 degrees), approximate district centres, see SOURCES.md.
HUBS: dict[str, tuple[float, float]] = {
    "nanping": (106.5650, 29.5270),  # Nan'an
    "shapingba": (106.4570, 29.5570),
    "yangjiaping": (106.5100, 29.5050),  # Jiulongpo
    "danzishi": (106.6120, 29.5660),  # Nan'an, east bank
    "ranjiaba": (106.5300, 29.6110),  # Yubei
    "chayuan": (106.6300, 29.5050),  # Nan'an, Chayuan
}


@dataclass(frozen=True)
class Route:
    """One simulated UAV: a closed geodesic polyline flown at constant speed and height.

    ``lon_deg``/``lat_deg``: vertices in WGS84 degrees, first == last. ``speed_m_s``:
    ground speed. ``alt_m``: height above take-off (m). ``phase_m``: arc length (m)
    along the route at ``t = 0``.
    """

    uav_id: str
    mission: str
    operator_id: str
    lon_deg: tuple[float, ...]
    lat_deg: tuple[float, ...]
    speed_m_s: float
    alt_m: float
    phase_m: float = 0.0

    @property
    def length_m(self) -> float:
        """Geodesic length of the closed route (m)."""
        return float(_GEOD.line_length(self.lon_deg, self.lat_deg))


def out_and_back(a: tuple[float, float], b: tuple[float, float]) -> tuple[list[float], list[float]]:
    """Vertices (lons, lats) of the closed route a -> b -> a."""
    return [a[0], b[0], a[0]], [a[1], b[1], a[1]]


class Fleet:
    """A set of :class:`Route` evaluated together (structure of arrays, padded vertices)."""

    def __init__(self, routes: Sequence[Route]) -> None:
        if not routes:
            raise ValueError("a fleet needs at least one route")
        self.routes = tuple(routes)
        ids = [r.uav_id for r in self.routes]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate UAV ids in the fleet")
        n = len(self.routes)
        w = max(len(r.lon_deg) for r in self.routes)
        lon = np.zeros((n, w))
        lat = np.zeros((n, w))
        nv = np.array([len(r.lon_deg) for r in self.routes])
        for i, r in enumerate(self.routes):
            if len(r.lon_deg) < 2 or len(r.lon_deg) != len(r.lat_deg):
                raise ValueError(f"{r.uav_id}: a route needs >= 2 vertices")
            if (r.lon_deg[0], r.lat_deg[0]) != (r.lon_deg[-1], r.lat_deg[-1]):
                raise ValueError(f"{r.uav_id}: a route must be closed (last vertex == first)")
            lon[i, : nv[i]] = r.lon_deg
            lat[i, : nv[i]] = r.lat_deg
            lon[i, nv[i] :] = r.lon_deg[-1]  # padding: zero-length segments at the end
            lat[i, nv[i] :] = r.lat_deg[-1]
        az, _, dist = _GEOD.inv(lon[:, :-1], lat[:, :-1], lon[:, 1:], lat[:, 1:])
        dist = np.where(np.arange(w - 1)[None, :] < (nv - 1)[:, None], dist, 0.0)
        self.seg_lon, self.seg_lat = lon[:, :-1], lat[:, :-1]
        self.seg_az = np.asarray(az, dtype=np.float64)
        self.seg_len = np.asarray(dist, dtype=np.float64)
        self.cum = np.concatenate([np.zeros((n, 1)), np.cumsum(self.seg_len, axis=1)], axis=1)
        self.length_m = self.cum[:, -1]
        if np.any(self.length_m <= 0):
            raise ValueError("every route must have a positive length")
        self.speed = np.array([r.speed_m_s for r in self.routes], dtype=np.float64)
        self.alt = np.array([r.alt_m for r in self.routes], dtype=np.float64)
        self.phase = np.array([r.phase_m for r in self.routes], dtype=np.float64)
        self.ids = np.array(ids, dtype=object)

    def __len__(self) -> int:
        return len(self.routes)

    def positions(self, t_s: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(lon_deg, lat_deg, track_deg), each shaped (n_uav, n_t), at times ``t_s`` (s)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        s = np.mod(self.phase[:, None] + self.speed[:, None] * t[None, :], self.length_m[:, None])
        # segment k holds cum[k] <= s < cum[k + 1]; padded segments (cum == length) never do
        seg = np.sum(self.cum[:, None, 1:-1] <= s[:, :, None], axis=2)
        rows = np.arange(len(self))[:, None]
        into = s - self.cum[rows, seg]
        lon, lat, back = _GEOD.fwd(
            self.seg_lon[rows, seg].ravel(),
            self.seg_lat[rows, seg].ravel(),
            self.seg_az[rows, seg].ravel(),
            into.ravel(),
        )
        shape = s.shape
        track = np.mod(np.asarray(back) + 180.0, 360.0)
        return (
            np.asarray(lon).reshape(shape),
            np.asarray(lat).reshape(shape),
            track.reshape(shape),
        )

    def reports(
        self,
        start_utc: np.datetime64 | datetime | str,
        t0_s: float,
        t1_s: float,
        step_s: float = 1.0,
    ) -> pa.Table:
        """Normalised reports of every UAV at ``start_utc + t`` for the grid times
        ``t = k * step_s`` with ``t0_s <= t < t1_s`` (s since the fleet's start),
        sorted by time then UAV."""
        if not step_s > 0:
            raise ValueError("step_s must be > 0")
        k0 = int(np.ceil(t0_s / step_s - 1e-9))
        k1 = int(np.ceil(t1_s / step_s - 1e-9))
        t = np.arange(k0, max(k0, k1), dtype=np.float64) * step_s
        n, m = len(self), len(t)
        lon, lat, track = self.positions(t) if m else (np.zeros((n, 0)),) * 3
        if isinstance(start_utc, datetime) and start_utc.tzinfo is not None:
            start_utc = start_utc.astimezone(UTC).replace(tzinfo=None)
        start = np.array(start_utc, dtype="datetime64[ns]")
        times = start + np.round(t * 1e9).astype("timedelta64[ns]")
        # time-major order: (t0: uav0..uavN), (t1: ...)
        cols = {
            "object_id": np.tile(self.ids, m),
            "source": np.full(n * m, SOURCE, dtype=object),
            "time_utc": np.repeat(times, n),
            "lat_deg": lat.T.ravel(),
            "lon_deg": lon.T.ravel(),
            "alt_m": np.tile(self.alt, m),
            "alt_ref": np.full(n * m, ALT_REF, dtype=object),
            "speed_m_s": np.tile(self.speed, m),
            "track_deg": track.T.ravel(),
            "vrate_m_s": np.zeros(n * m),
        }
        extras = {
            "simulated": pa.array(np.ones(n * m, dtype=bool)),
            "mission": np.tile(np.array([r.mission for r in self.routes], dtype=object), m),
            "operator_id": np.tile(np.array([r.operator_id for r in self.routes], dtype=object), m),
        }
        return report_table(cols, extras)

    # ------------------------------------------------------------------ the demo fleet
    @classmethod
    def chongqing(
        cls, *, n_delivery: int = 90, seed: int = 20260501, zones: ZoneSet | None = None
    ) -> Fleet:
        """The demo fleet over Chongqing's main city (see the module docstring).

        ``zones``: a :class:`~kongtian.traffic.zones.ZoneSet` that delivery trips must
        keep out of (no-fly, restricted, speed-limit kinds); default: the demo zones.
        """
        from kongtian.platform.demo.zones import demo_zone_set

        zs = zones if zones is not None else demo_zone_set()
        rng = np.random.default_rng(seed)
        routes: list[Route] = []
        hub_names = list(HUBS)
        per_hub = np.full(len(hub_names), n_delivery // len(hub_names))
        per_hub[: n_delivery % len(hub_names)] += 1
        k = 0
        for h, name in enumerate(hub_names):
            for _ in range(int(per_hub[h])):
                k += 1
                alt = LAYERS_M[(k + h) % len(LAYERS_M)]
                speed = float(np.round(rng.uniform(10.0, 15.0), 1))
                for _attempt in range(200):
                    pad = _offset(HUBS[name], rng.uniform(0, 360), rng.uniform(100, 600))
                    dest = _offset(pad, rng.uniform(0, 360), rng.uniform(1500, 5000))
                    lons, lats = out_and_back(pad, dest)
                    if not _touches(zs, lons, lats, alt):
                        break
                else:  # pragma: no cover - the hubs leave plenty of room
                    raise RuntimeError(f"no clear delivery trip from hub {name}")
                length = float(_GEOD.line_length(lons, lats))
                routes.append(Route(f"uas:sim-dlv-{k:03d}", "delivery", f"sim-op-{name}",
                                    tuple(lons), tuple(lats), speed, alt,
                                    float(rng.uniform(0, length))))  # fmt: skip
        routes += _inspection_routes(zs)
        routes += _special_routes(zs)
        return cls(routes)


# ---------------------------------------------------------------------------- helpers
def _offset(p: tuple[float, float], az_deg: float, dist_m: float) -> tuple[float, float]:
    lon, lat, _ = _GEOD.fwd(p[0], p[1], az_deg, dist_m)
    return (float(lon), float(lat))


def _densify(lons: Sequence[float], lats: Sequence[float], step_m: float = 25.0) -> FloatArray:
    """Points every ``step_m`` along the geodesic polyline, as an (n, 2) lon/lat array."""
    out = []
    for i in range(len(lons) - 1):
        _, _, d = _GEOD.inv(lons[i], lats[i], lons[i + 1], lats[i + 1])
        npts = max(int(d // step_m), 0)
        mid = _GEOD.npts(lons[i], lats[i], lons[i + 1], lats[i + 1], npts) if npts else []
        out.append((lons[i], lats[i]))
        out += mid
    out.append((lons[-1], lats[-1]))
    return np.asarray(out, dtype=np.float64)


AVOID_KINDS = ("no-fly", "restricted", "speed-limit")
#: Cruise heights of delivery trips (m above take-off): 15 m apart, the vertical
#: separation of the default ``uav_light`` category, so different layers never conflict.
LAYERS_M = (30.0, 45.0, 60.0, 75.0, 90.0, 105.0)


def _touches(zs: ZoneSet, lons: Sequence[float], lats: Sequence[float], alt_m: float) -> bool:
    """Does the route come inside a zone of :data:`AVOID_KINDS` at height ``alt_m``?"""
    pts = _densify(lons, lats)
    n = len(pts)
    _, z = zs.hits(pts[:, 1], pts[:, 0], np.full(n, alt_m), None, np.full(n, ALT_REF, object))
    return bool(np.isin(zs.kinds[z], AVOID_KINDS).any())


def _inspection_routes(zs: ZoneSet) -> list[Route]:
    """Inspection UAVs per river: out along one bank, back along the other."""
    out: list[Route] = []
    k = 0
    for zid, off_m, n in (("yangtze-fairway-yuzhong", 100.0, 6), ("jialing-fairway-yuzhong", 70.0, 4)):  # fmt: skip
        zone = next(z for z in zs.zones if z.id == zid)
        centre = np.asarray(zone.properties["centreline"], dtype=np.float64)
        lons, lats = _bank_loop(centre, off_m)
        if _touches(zs, lons, lats, 60.0):
            raise RuntimeError(f"inspection loop along {zid} touches a zone to avoid")
        length = float(_GEOD.line_length(lons, lats))
        for j in range(n):
            k += 1
            out.append(Route(f"uas:sim-insp-{k:03d}", "inspection", "sim-op-river-authority",
                             tuple(lons), tuple(lats), 7.0, 40.0 + 20.0 * (j % 2),
                             length * j / n))  # fmt: skip
    return out


def _bank_loop(centre: FloatArray, off_m: float) -> tuple[list[float], list[float]]:
    """Closed loop: the centre line offset ``+off_m`` (left), then ``-off_m`` reversed."""
    lon0, lat0 = float(centre[:, 0].mean()), float(centre[:, 1].mean())
    aeqd = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    fwd = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    inv = pyproj.Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
    x, y = fwd.transform(centre[:, 0], centre[:, 1])
    line = LineString(np.column_stack([x, y]))
    left = shapely.get_coordinates(shapely.offset_curve(line, off_m, join_style="mitre"))
    right = shapely.get_coordinates(shapely.offset_curve(line, -off_m, join_style="mitre"))
    pts = np.vstack([left, right[::-1], left[:1]])
    lo, la = inv.transform(pts[:, 0], pts[:, 1])
    return [float(v) for v in lo], [float(v) for v in la]


def _special_routes(zs: ZoneSet) -> list[Route]:
    """The rule-breakers and the conflicting pair (fixed, no randomness)."""
    out: list[Route] = []
    # Across Yuzhong (Nan'an -> Jiangbei) over Jiefangbei, then through Jiangbeizui;
    # starts 3 s (36 m) before it crosses into the no-fly zone.
    lons, lats = out_and_back((106.5750, 29.5350), (106.5850, 29.5900))
    out.append(Route("uas:sim-stray-001", "stray", "sim-op-nanping", tuple(lons), tuple(lats),
                     12.0, 70.0, _entry_m(zs, "yuzhong-no-fly", lons, lats) - 36.0))  # fmt: skip
    # Towards the airport from the south-west, inside the control zone from the start and
    # 5 s (60 m) before it enters the UAV no-fly area.
    lons, lats = out_and_back((106.5950, 29.6300), (106.6300, 29.6800))
    out.append(Route("uas:sim-stray-002", "stray", "sim-op-ranjiaba", tuple(lons), tuple(lats),
                     12.0, 90.0, _entry_m(zs, "zuck-uav-no-fly", lons, lats) - 60.0))  # fmt: skip
    # A delivery loop flown at 150 m, above the 120 m limit of open airspace (Shapingba).
    lons, lats = out_and_back((106.4450, 29.5450), (106.4300, 29.5700))
    out.append(Route("uas:sim-climb-001", "climb", "sim-op-shapingba", tuple(lons), tuple(lats),
                     11.0, 150.0, 300.0))  # fmt: skip
    # Through the Jiangbeizui speed-limit zone (8 m/s) at 15 m/s, 60 m, north of Yuzhong.
    a, b = (106.5550, 29.5790), (106.6000, 29.5790)
    lons, lats = out_and_back(a, b)
    out.append(Route("uas:sim-speed-001", "speeding", "sim-op-danzishi", tuple(lons),
                     tuple(lats), 15.0, 60.0, 800.0))  # fmt: skip
    # Head-on pair on parallel lines 15 m apart (Jiulongpo west): 300 m apart at t = 0,
    # closing at 20 m/s -> loss of separation from t ~ 13 s, then once per lap.
    p, q = (106.4700, 29.5200), (106.4950, 29.5350)
    az, _, d = _GEOD.inv(p[0], p[1], q[0], q[1])
    p2, q2 = _offset(p, az + 90.0, 15.0), _offset(q, az + 90.0, 15.0)
    lons, lats = out_and_back(p, q)
    out.append(Route("uas:sim-pair-a", "conflict-pair", "sim-op-yangjiaping", tuple(lons),
                     tuple(lats), 10.0, 70.0, d / 2 - 150.0))  # fmt: skip
    lons, lats = out_and_back(q2, p2)
    out.append(Route("uas:sim-pair-b", "conflict-pair", "sim-op-yangjiaping", tuple(lons),
                     tuple(lats), 10.0, 70.0, d / 2 - 150.0))  # fmt: skip
    return out


def _entry_m(zs: ZoneSet, zone_id: str, lons: Sequence[float], lats: Sequence[float]) -> float:
    """Arc length (m, to 1 m) along the route of its first point inside zone ``zone_id``."""
    pts = _densify(lons, lats, 1.0)
    p, z = zs.hits(pts[:, 1], pts[:, 0])
    inside = p[zs.ids[z] == zone_id]
    if not len(inside):
        raise RuntimeError(f"route never enters zone {zone_id!r}")
    k = int(inside.min())
    _, _, d = _GEOD.inv(pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1])
    return float(np.sum(np.asarray(d)[:k]))
