"""Coverage of ground points by a satellite catalog: visible counts, coverage, gaps, revisit.

For every point ``p`` (geodetic lat/lon/height on WGS84) and time step ``t`` of a regular
UTC grid, ``visible_count[t, p]`` is the number of satellites whose elevation above the
point's geodetic horizon is at least the mask ``min_elev_deg`` (and, where a terrain
horizon is given, above the terrain in that azimuth). Satellite positions are SGP4 in
ITRF (:func:`kongtian.space.propagate.propagate`, GMST82 + shipped UT1-UTC).

How it stays fast and memory-bounded (decision record 0006):

1. Time is processed in chunks; nothing of size satellites x times x points exists.
2. *Screening* on a coarse time grid (every ``screen_step_s``): a satellite can see a
   point above elevation ``e`` only if their Earth-central angle is below the footprint
   half-angle ``lambda = acos(rho cos e / r) - e`` (``r`` satellite radius, ``rho`` the
   smallest geocentric radius of the points; ``e`` lowered by 0.2 deg to cover the
   geodetic/geocentric vertical difference). Between two coarse samples the
   sub-satellite direction moves at most ``omega_max * dt/2`` from the nearer one
   (``omega_max`` from the orbit's perigee speed plus Earth rotation, with margin). Only
   (satellite, step) pairs that pass are propagated at the fine step.
3. The exact test runs on the survivors in a numba kernel, per point tile: a tile is
   skipped when its centre is further than ``lambda + tile radius``; inside, the test is
   ``(r_sat - r_pt) . up >= sin(e) |r_sat - r_pt|`` (i.e. elevation >= e).

The screen is conservative, so results equal a brute-force test of every satellite x
point x step (checked against skyfield in the tests). Counts are additive over
satellites: with a Dask ``client`` the catalog is split into satellite parts computed on
the cluster and the counts are summed, which gives results identical to a local run.
Locally both cores are used by numba threads (SGP4 engine and counting kernel).

Statistics (per point, from ``covered = visible_count >= k``). Each sample stands for the
``step_s`` interval centred on it, clipped to the window ``[t0, t_last]`` (the first and
last samples weigh half a step: the trapezoid rule), so ``coverage_fraction`` + total gap
time / window = 1 exactly.

- ``coverage_fraction``: covered time / window length.
- gaps: maximal runs of uncovered samples. A gap touching a window edge is *included*
  with its in-window (truncated) length, which is a lower bound on the true gap; a point
  never covered has one gap equal to the window. ``max_gap_s``, ``mean_gap_s`` (0 when
  there is no gap), ``n_gaps``.
- ``revisit_s``: mean time between consecutive *rises* (a covered sample preceded by an
  uncovered one); a coverage interval already under way at the window start is not a
  rise. NaN with fewer than two rises.
- ``mean_visible``: time-average of the count; ``max_visible``: its maximum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.frames import EARTH_ROTATION_RAD_S, enu_matrix, geodetic_to_ecef
from kongtian.geo.time import as_utc, iso_utc, time_grid
from kongtian.space.catalog import Catalog
from kongtian.space.propagate import propagate, propagate_zipped

FloatArray = npt.NDArray[np.float64]

#: Upper bound on the angle between the geodetic and the geocentric vertical (0.1924 deg on WGS84).
VERTICAL_TILT_RAD = math.radians(0.2)
_SCREEN_MARGIN_RAD = math.radians(0.05)
# Osculating radius above the mean-element apogee (SGP4 short-period terms).
_RADIUS_MARGIN_M = 50_000.0
_DEFAULT_SCREEN_STEP_S = "auto"
# Satellite x fine-step cells per time chunk: screened chunks hold only coarse positions
# and a boolean mask at this size; unscreened ones hold full positions (about 100 B each).
_BLOCK_SAT_STEPS = 12_000_000
_BLOCK_SAT_STEPS_DENSE = 1_000_000
_TILE_DEG = 2.0

SUMMARY_KEYS = (
    "mean_coverage_fraction", "min_point_coverage_fraction", "max_gap_s", "p95_max_gap_s",
    "mean_gap_s", "mean_revisit_s", "mean_visible", "min_visible", "max_visible",
    "fraction_points_always_covered", "n_points", "n_satellites", "n_times", "step_s",
    "min_elev_deg", "k", "area_weighted_coverage_fraction",
)  # fmt: skip


# --------------------------------------------------------------------------- points
@dataclass
class PointSet:
    """Ground points prepared for visibility tests (ITRF, metres).

    ``up``/``east``/``north`` are unit vectors of the local geodetic frame. Points are
    grouped into tiles of about ``tile_deg`` for the per-tile screen; ``order`` lists
    point indices tile by tile, ``tile_ptr`` the tile boundaries in it.
    """

    lat_rad: FloatArray
    lon_rad: FloatArray
    alt_m: FloatArray
    ecef_m: FloatArray
    up: FloatArray
    east: FloatArray
    north: FloatArray
    rho_min_m: float
    centre: FloatArray
    radius_rad: float
    tile_centre: FloatArray
    tile_radius_rad: FloatArray
    tile_ptr: npt.NDArray[np.int64]
    order: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.lat_rad.size)


def point_set(
    lat_deg: Any, lon_deg: Any, alt_m: Any = 0.0, *, tile_deg: float = _TILE_DEG
) -> PointSet:
    """Prepare points given in degrees (geodetic, WGS84) and metres above the ellipsoid."""
    lat = np.atleast_1d(np.asarray(lat_deg, float))
    lon = np.atleast_1d(np.asarray(lon_deg, float))
    if lat.shape != lon.shape or lat.ndim != 1:
        raise ConfigError(
            "lat_deg and lon_deg must be 1-D arrays of equal length", option="lat_deg"
        )
    if lat.size == 0:
        raise ConfigError("no points", option="lat_deg")
    if not (np.all(np.isfinite(lat)) and np.all(np.abs(lat) <= 90.0)):
        raise ConfigError("latitudes must be finite and within [-90, 90] degrees", option="lat_deg")
    if not np.all(np.isfinite(lon)):
        raise ConfigError("longitudes must be finite", option="lon_deg")
    alt = np.broadcast_to(np.asarray(alt_m, float), lat.shape).copy()
    if not np.all(np.isfinite(alt)):
        raise ConfigError("heights must be finite", option="alt_m")
    la, lo = np.radians(lat), np.radians(lon)
    ecef = geodetic_to_ecef(la, lo, alt)
    m = enu_matrix(la, lo)
    east, north, up = m[:, 0, :], m[:, 1, :], m[:, 2, :]
    rho = np.linalg.norm(ecef, axis=1)
    unit = ecef / rho[:, None]
    centre, radius = _cap(unit)
    # Tiles: latitude bands of tile_deg, longitude bins widened by 1/cos(lat).
    band = np.floor((lat + 90.0) / tile_deg).astype(np.int64)
    coslat = np.maximum(np.cos(np.radians(-90.0 + (band + 0.5) * tile_deg)), 0.05)
    lon_bin = np.floor(np.mod(lon, 360.0) * coslat / tile_deg).astype(np.int64)
    key = band * 100_000 + lon_bin
    order = np.argsort(key, kind="stable")
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    tile_ptr = np.r_[starts, ks.size].astype(np.int64)
    tc = np.empty((starts.size, 3))
    tr = np.empty(starts.size)
    for g in range(starts.size):
        tc[g], tr[g] = _cap(unit[order[tile_ptr[g] : tile_ptr[g + 1]]])
    return PointSet(la, lo, alt, ecef, np.ascontiguousarray(up), np.ascontiguousarray(east),
                    np.ascontiguousarray(north), float(rho.min()), centre, radius, tc, tr,
                    tile_ptr, order.astype(np.int64))  # fmt: skip


def _cap(unit: FloatArray) -> tuple[FloatArray, float]:
    """A spherical cap (centre unit vector, angular radius) containing the unit vectors."""
    c = unit.mean(axis=0)
    nrm = np.linalg.norm(c)
    if nrm < 1e-9:
        return np.array([0.0, 0.0, 1.0]), math.pi
    c = c / nrm
    ang = np.arccos(np.clip(unit @ c, -1.0, 1.0))
    return c, float(min(math.pi, ang.max() + 1e-9))


# --------------------------------------------------------------------------- screening
@dataclass
class _SatBounds:
    """Per-satellite bounds used by the screen."""

    r_max_m: FloatArray  # geocentric radius never exceeded (mean-element apogee + margin)
    omega_max_rad_s: FloatArray  # angular rate of the sub-satellite direction, Earth-fixed


def _sat_bounds(cat: Catalog) -> _SatBounds:
    a = cat.semi_major_axis_m
    e = np.clip(cat.eccentricity, 0.0, 0.99)
    n = cat.mean_motion_rev_day * 2.0 * np.pi / 86_400.0
    # v/r is largest at perigee: n sqrt(1+e) / (1-e)^1.5; 10 % margin for SGP4 perturbations.
    omega = 1.10 * n * np.sqrt(1.0 + e) / (1.0 - e) ** 1.5 + EARTH_ROTATION_RAD_S
    return _SatBounds(a * (1.0 + e) + _RADIUS_MARGIN_M, omega)


def _footprint_rad(r_m: Any, rho_m: float, elev_rad: float) -> FloatArray:
    """Largest Earth-central angle at which a satellite at radius ``r_m`` can be above ``elev_rad``."""
    c = np.clip(rho_m * np.cos(elev_rad) / np.asarray(r_m, float), -1.0, 1.0)
    return np.asarray(np.arccos(c) - elev_rad)


@dataclass
class Pairs:
    """Satellite-step pairs that survived the screen in one time chunk.

    ``t_off`` (Tc+1,) delimits the pairs of each step (pairs are sorted by step);
    ``sat`` indexes the catalog; ``r_m``/``v_m_s`` ITRF (NaN where SGP4 failed).
    """

    i0: int
    i1: int
    t_off: npt.NDArray[np.int64]
    sat: npt.NDArray[np.int64]
    r_m: FloatArray
    v_m_s: FloatArray
    failed_sat: npt.NDArray[np.int64]


def candidate_pairs(
    catalog: Catalog,
    times_utc: npt.NDArray[np.datetime64],
    pts: PointSet,
    min_elev_rad: float,
    *,
    screen_step_s: float | str | None = _DEFAULT_SCREEN_STEP_S,
    engine: str = "auto",
    block_sat_steps: int | None = None,
) -> Iterator[Pairs]:
    """Yield, per time chunk, the (step, satellite) pairs that may see some point.

    Screening is conservative: every pair with elevation >= ``min_elev_rad`` at some
    point is included. ``screen_step_s=None`` (or <= the step) propagates every
    satellite at every step and screens there; ``"auto"`` picks the coarse step from a
    cost model (see :func:`auto_screen_stride`).
    """
    n, nt = len(catalog), times_utc.size
    if n == 0 or nt == 0:
        return
    step_s = float((times_utc[1] - times_utc[0]).astype(np.int64) / 1e9) if nt > 1 else 0.0
    eps_s = min_elev_rad - VERTICAL_TILT_RAD
    bounds = _sat_bounds(catalog)
    stride = 1
    if screen_step_s == "auto" and step_s > 0:
        stride = auto_screen_stride(step_s, bounds, pts, eps_s)
    elif isinstance(screen_step_s, int | float) and screen_step_s > 0 and step_s > 0:
        stride = max(1, int(round(screen_step_s / step_s)))
    elif screen_step_s not in (None, 0, "auto"):
        raise ConfigError(
            f"{screen_step_s!r}: give seconds, 'auto' or None", option="screen_step_s"
        )
    global_set = pts.radius_rad + float(_footprint_rad(1e9, pts.rho_min_m, eps_s)) >= math.pi
    if global_set:  # points all round the globe: no screen can drop a satellite-step
        stride = 1
    if block_sat_steps is None:
        block_sat_steps = _BLOCK_SAT_STEPS_DENSE if stride == 1 else _BLOCK_SAT_STEPS
    chunk = max(stride, (block_sat_steps // n) // stride * stride)
    for i0 in range(0, nt, chunk):
        i1 = min(nt, i0 + chunk)
        yield _pairs_for_chunk(catalog, times_utc, i0, i1, pts, eps_s, stride, global_set,
                               bounds, engine)  # fmt: skip


def auto_screen_stride(step_s: float, bounds: _SatBounds, pts: PointSet, eps_s: float) -> int:
    """Coarse stride (in steps) minimising a propagation-cost model.

    Per satellite and fine step: ``1/s`` coarse propagations plus the fraction of the
    sphere the screen keeps, ``(1 - cos(lambda + rho + omega s dt / 2)) / 2``, times 2
    for the concentration of inclined orbits at mid latitudes (median footprint and rate
    over the catalog). Only speed depends on it; the screen is exact for any stride.
    """
    lam = float(np.median(_footprint_rad(bounds.r_max_m, pts.rho_min_m, eps_s))) + pts.radius_rad
    w = float(np.median(bounds.omega_max_rad_s))
    s = np.arange(1, 257)
    half = np.minimum(lam + w * s * step_s / 2.0, math.pi)
    cost = np.where(s == 1, 1.0, 1.0 / s + (1.0 - np.cos(half)))
    return int(s[np.argmin(cost)])


def _pairs_for_chunk(
    catalog: Catalog,
    times_utc: npt.NDArray[np.datetime64],
    i0: int,
    i1: int,
    pts: PointSet,
    eps_s: float,
    stride: int,
    global_set: bool,
    bounds: _SatBounds,
    engine: str,
) -> Pairs:
    tc = times_utc[i0:i1]
    n, ntc = len(catalog), tc.size
    if stride == 1:
        eph = propagate(catalog, tc, frame="itrf", engine=engine, workers=1)
        r = eph.r_m
        failed = np.flatnonzero(np.any(eph.error != 0, axis=1))
        if global_set:
            keep = np.ones((n, ntc), dtype=bool)
        else:
            rn = np.linalg.norm(r, axis=-1)
            cosang = np.einsum("ntk,k->nt", r, pts.centre) / rn
            lim = _footprint_rad(rn, pts.rho_min_m, eps_s) + pts.radius_rad + _SCREEN_MARGIN_RAD
            keep = ~(cosang < np.cos(np.minimum(lim, math.pi)))  # NaN stays a candidate
        tt, ss = np.nonzero(keep.T)
        return Pairs(i0, i1, _offsets(tt, ntc), ss.astype(np.int64),
                     r[ss, tt], eph.v_m_s[ss, tt], failed)  # fmt: skip
    # Coarse samples at every stride-th step of the chunk, plus its last step.
    cidx = np.unique(np.r_[np.arange(0, ntc, stride), ntc - 1])
    if global_set:
        keep = np.ones((n, ntc), dtype=bool)
        failed_c = np.zeros(0, dtype=np.int64)
    else:
        eph = propagate(catalog, tc[cidx], frame="itrf", engine=engine, workers=1)
        failed_c = np.flatnonzero(np.any(eph.error != 0, axis=1))
        rc = eph.r_m
        rn = np.linalg.norm(rc, axis=-1)
        ang = np.arccos(np.clip(np.einsum("nck,k->nc", rc, pts.centre) / rn, -1.0, 1.0))
        # One radius bound per satellite for the chunk: the larger of the element-set
        # apogee (+ margin) and what was seen, so the footprint is never underestimated.
        with np.errstate(invalid="ignore"):
            r_seen = np.nan_to_num(np.nanmax(rn, axis=1, initial=0.0), nan=0.0)
        r_hi = np.maximum(bounds.r_max_m, 1.01 * r_seen)
        lim = _footprint_rad(r_hi, pts.rho_min_m, eps_s) + pts.radius_rad + _SCREEN_MARGIN_RAD
        lim = lim[:, None]
        keep = np.zeros((n, ntc), dtype=bool)
        if cidx.size == 1:  # a one-step chunk: screen at the sample itself
            keep[:, :1] = ~(ang > lim)
        else:
            dt = (tc[cidx[1:]] - tc[cidx[:-1]]).astype(np.int64) / 1e9
            move = bounds.omega_max_rad_s[:, None] * dt[None, :] / 2
            near = np.fmin(ang[:, :-1], ang[:, 1:]) - move
            cand = ~(near > lim) | np.isnan(ang[:, :-1]) | np.isnan(ang[:, 1:])
            for j in range(cidx.size - 1):
                keep[:, cidx[j] : cidx[j + 1] + 1] |= cand[:, j : j + 1]
    tt, ss = np.nonzero(keep.T)
    if tt.size:
        r, v, err = propagate_zipped(catalog, ss, tc[tt], frame="itrf", engine=engine)
        failed = np.union1d(failed_c, np.unique(ss[err != 0]))
    else:
        r = np.empty((0, 3))
        v = np.empty((0, 3))
        failed = failed_c
    return Pairs(i0, i1, _offsets(tt, ntc), ss.astype(np.int64), r, v, failed.astype(np.int64))


def _offsets(tt: npt.NDArray[np.intp], ntc: int) -> npt.NDArray[np.int64]:
    return np.searchsorted(tt, np.arange(ntc + 1)).astype(np.int64)


# --------------------------------------------------------------------------- kernels
@nb.njit(parallel=True, cache=True, nogil=True)
def _count_kernel(t_off, r, tile_c, tile_rad, tile_ptr, order, p_ecef, up, rho_min, eps_s,
                  sin_eps, counts):  # fmt: skip  # pragma: no cover - compiled
    nt = t_off.size - 1
    ng = tile_c.shape[0]
    cos_eps_s = math.cos(eps_s)
    for t in nb.prange(nt):
        for q in range(t_off[t], t_off[t + 1]):
            x, y, z = r[q, 0], r[q, 1], r[q, 2]
            rn = math.sqrt(x * x + y * y + z * z)
            if not (rn > 0.0):  # NaN: SGP4 error
                continue
            arg = rho_min * cos_eps_s / rn
            arg = min(1.0, max(-1.0, arg))
            cap = math.acos(arg) - eps_s + 1e-9
            ux, uy, uz = x / rn, y / rn, z / rn
            for g in range(ng):
                lim = cap + tile_rad[g]
                if lim < math.pi:
                    if ux * tile_c[g, 0] + uy * tile_c[g, 1] + uz * tile_c[g, 2] < math.cos(lim):
                        continue
                for j in range(tile_ptr[g], tile_ptr[g + 1]):
                    p = order[j]
                    dx = x - p_ecef[p, 0]
                    dy = y - p_ecef[p, 1]
                    dz = z - p_ecef[p, 2]
                    num = dx * up[p, 0] + dy * up[p, 1] + dz * up[p, 2]
                    if num >= sin_eps * math.sqrt(dx * dx + dy * dy + dz * dz):
                        counts[t, p] += 1


@nb.njit(parallel=True, cache=True, nogil=True)
def _gap_kernel(counts, k, step_s, cov, max_gap, mean_gap, n_gaps, revisit, mean_vis,
                max_vis):  # fmt: skip  # pragma: no cover - compiled
    nt, npt_ = counts.shape
    window = (nt - 1) * step_s
    for p in nb.prange(npt_):
        c_time = 0.0
        vis = 0.0
        mg = 0.0
        tot = 0.0
        ng = 0
        run = 0.0
        in_gap = False
        n_rise = 0
        first_rise = -1
        last_rise = -1
        mx = 0
        for i in range(nt):
            w = step_s if 0 < i < nt - 1 else 0.5 * step_s
            c = counts[i, p]
            vis += c * w
            if c > mx:
                mx = c
            if c >= k:
                c_time += w
                if in_gap:
                    ng += 1
                    tot += run
                    mg = max(mg, run)
                    in_gap = False
                    if i > 0:
                        n_rise += 1
                        if first_rise < 0:
                            first_rise = i
                        last_rise = i
            else:
                if not in_gap:
                    in_gap = True
                    run = 0.0
                run += w
        if in_gap:
            ng += 1
            tot += run
            mg = max(mg, run)
        cov[p] = c_time / window
        max_gap[p] = mg
        mean_gap[p] = tot / ng if ng > 0 else 0.0
        n_gaps[p] = ng
        revisit[p] = (last_rise - first_rise) * step_s / (n_rise - 1) if n_rise >= 2 else np.nan
        mean_vis[p] = vis / window
        max_vis[p] = mx


def gap_statistics(counts: Any, k: int, step_s: float) -> dict[str, npt.NDArray[Any]]:
    """Per-point statistics of a (time, point) count series; see the module docstring.

    Returns ``coverage_fraction``, ``max_gap_s``, ``mean_gap_s``, ``n_gaps``,
    ``revisit_s``, ``mean_visible`` and ``max_visible``, each of shape (P,).
    """
    c = np.asarray(counts)
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[0] < 2:
        raise ConfigError("need a (time, point) series with at least two samples", option="counts")
    if k < 1:
        raise ConfigError("must be >= 1", option="k")
    c = np.ascontiguousarray(c.astype(np.int32, copy=False))
    p = c.shape[1]
    out = {name: np.empty(p) for name in ("coverage_fraction", "max_gap_s", "mean_gap_s",
                                           "revisit_s", "mean_visible")}  # fmt: skip
    n_gaps = np.empty(p, dtype=np.int32)
    max_vis = np.empty(p, dtype=np.int32)
    _gap_kernel(c, int(k), float(step_s), out["coverage_fraction"], out["max_gap_s"],
                out["mean_gap_s"], n_gaps, out["revisit_s"], out["mean_visible"], max_vis)  # fmt: skip
    return {**out, "n_gaps": n_gaps, "max_visible": max_vis}


# --------------------------------------------------------------------------- counts
def _site_visibility(
    pairs: Pairs, pts: PointSet, p: int, min_elev_rad: float, horizon: Any
) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray, FloatArray, FloatArray]:
    """Exact per-site test (numpy): indices of visible pairs with elevation, azimuth (rad),
    range (m) and range rate (m/s); ``horizon.min_elev_rad(az)`` raises the mask."""
    r = pairs.r_m
    rn = np.linalg.norm(r, axis=1)
    rho = float(np.linalg.norm(pts.ecef_m[p]))
    with np.errstate(invalid="ignore"):
        lim = np.minimum(_footprint_rad(rn, rho, min_elev_rad - VERTICAL_TILT_RAD) + 1e-6, math.pi)
        near = np.flatnonzero((r @ (pts.ecef_m[p] / rho)) / rn >= np.cos(lim))
    d = r[near] - pts.ecef_m[p]
    rng = np.linalg.norm(d, axis=1)
    u = d @ pts.up[p]
    e = d @ pts.east[p]
    nn = d @ pts.north[p]
    el = np.arctan2(u, np.hypot(e, nn))
    az = np.mod(np.arctan2(e, nn), 2.0 * np.pi)
    ok = u >= math.sin(min_elev_rad) * rng
    if horizon is not None:
        ok &= el >= np.asarray(horizon.min_elev_rad(az), float)
    sel = near[ok]
    rr = np.einsum("ij,ij->i", d[ok], pairs.v_m_s[sel]) / rng[ok]
    return sel, el[ok], az[ok], rng[ok], rr


def _horizon_list(horizon: Any, npts: int) -> list[Any]:
    if horizon is None:
        return [None] * npts
    if hasattr(horizon, "min_elev_rad"):
        return [horizon] * npts
    hz = list(horizon)
    if len(hz) != npts:
        raise ConfigError(f"{len(hz)} horizon masks for {npts} points", option="horizon")
    for h in hz:
        if h is not None and not hasattr(h, "min_elev_rad"):
            raise ConfigError("a horizon mask must have .min_elev_rad(az_rad)", option="horizon")
    return hz


def _count_serial(
    catalog: Catalog,
    times_utc: npt.NDArray[np.datetime64],
    lat_deg: Any,
    lon_deg: Any,
    alt_m: Any,
    min_elev_deg: float,
    horizon: Any = None,
    screen_step_s: float | str | None = _DEFAULT_SCREEN_STEP_S,
    engine: str = "auto",
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int64]]:
    """Counts (T, P) for one catalog (part) in this process, and failed satellite indices."""
    if threads:
        nb.set_num_threads(
            max(1, min(threads, int(getattr(nb.config, "NUMBA_NUM_THREADS", threads))))
        )
    pts = point_set(lat_deg, lon_deg, alt_m)
    hz = _horizon_list(horizon, len(pts))
    with_hz = np.array([h is not None for h in hz])
    eps = math.radians(min_elev_deg)
    nt = times_utc.size
    dtype = np.int16 if len(catalog) <= np.iinfo(np.int16).max else np.int32
    counts = np.zeros((nt, len(pts)), dtype=dtype)
    order = pts.order[~with_hz[pts.order]]
    # Tile pointers over the kernel's order (points with a horizon go the numpy way).
    keep_tile = np.add.reduceat((~with_hz[pts.order]).astype(np.int64), pts.tile_ptr[:-1])
    tile_ptr = np.r_[0, np.cumsum(keep_tile)].astype(np.int64)
    failed: list[npt.NDArray[np.int64]] = []
    for pr in candidate_pairs(
        catalog, times_utc, pts, eps, screen_step_s=screen_step_s, engine=engine
    ):
        sub = counts[pr.i0 : pr.i1]
        if order.size:
            _count_kernel(pr.t_off, np.ascontiguousarray(pr.r_m), pts.tile_centre, pts.tile_radius_rad,
                          tile_ptr, order, pts.ecef_m, pts.up, pts.rho_min_m,
                          eps - VERTICAL_TILT_RAD, math.sin(eps), sub)  # fmt: skip
        for p in np.flatnonzero(with_hz):
            sel, *_ = _site_visibility(pr, pts, int(p), eps, hz[p])
            t_of = np.searchsorted(pr.t_off, sel, side="right") - 1
            np.add.at(sub[:, p], t_of, 1)
        failed.append(pr.failed_sat)
        if progress:
            progress(pr.i1, nt)
    bad = np.unique(np.concatenate(failed)) if failed else np.zeros(0, dtype=np.int64)
    return counts, bad.astype(np.int64)


def satellite_parts(n: int, nparts: int) -> list[npt.NDArray[np.int64]]:
    """Split ``range(n)`` into ``nparts`` interleaved index sets (balanced across shells)."""
    nparts = max(1, min(nparts, n))
    return [np.arange(i, n, nparts, dtype=np.int64) for i in range(nparts)]


def visible_counts(
    catalog: Catalog,
    times_utc: Any,
    lat_deg: Any,
    lon_deg: Any,
    alt_m: Any = 0.0,
    *,
    min_elev_deg: float,
    horizon: Any = None,
    screen_step_s: float | str | None = _DEFAULT_SCREEN_STEP_S,
    engine: str = "auto",
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.int64]]:
    """Number of satellites above the mask for each (time, point): ``(T, P)`` int16.

    Also returns the catalog indices of satellites for which SGP4 reported an error at
    some propagated sample (those samples count as not visible). In this process the
    work runs on all cores (numba threads in SGP4 and in the counting kernel); with a
    Dask ``client`` the catalog is split into satellite parts computed on the cluster.
    """
    t = np.atleast_1d(as_utc(times_utc))
    _check_elev(min_elev_deg)
    if client is not None:
        from kongtian.space.distributed import visible_counts_dask

        return visible_counts_dask(client, catalog, t, lat_deg, lon_deg, alt_m,
                                   min_elev_deg=min_elev_deg, horizon=horizon,
                                   screen_step_s=screen_step_s, engine=engine)  # fmt: skip
    return _count_serial(catalog, t, lat_deg, lon_deg, alt_m, min_elev_deg, horizon,
                         screen_step_s, engine, None, progress)  # fmt: skip


def _narrow(total: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if total.size and total.max() > np.iinfo(np.int16).max:
        return total.astype(np.int32)
    return total.astype(np.int16)


def _check_elev(min_elev_deg: float) -> None:
    if not (math.isfinite(min_elev_deg) and -90.0 < min_elev_deg < 90.0):
        raise ConfigError(
            f"{min_elev_deg!r} is not an elevation in (-90, 90) degrees", option="min_elev_deg"
        )


# --------------------------------------------------------------------------- API
def coverage(
    catalog: Catalog,
    lat_deg: Any = None,
    lon_deg: Any = None,
    alt_m: Any = 0.0,
    *,
    start_utc: Any,
    duration_s: float,
    step_s: float,
    min_elev_deg: float,
    k: int = 1,
    grid: Any = None,
    region: Any = None,
    names: Sequence[str] | None = None,
    horizon: Any = None,
    screen_step_s: float | str | None = _DEFAULT_SCREEN_STEP_S,
    engine: str = "auto",
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Coverage of points by ``catalog`` from ``start_utc`` for ``duration_s`` every ``step_s``.

    Points are ``lat_deg``/``lon_deg`` (degrees, WGS84) and ``alt_m`` (m above the
    ellipsoid), or the points of ``grid`` (a :class:`kongtian.geo.regions.Grid`, which
    also adds 2-D ``*_map`` variables on its lat/lon axes). ``region`` (a Region) is
    recorded for plots (its outline as WKT). ``names`` labels terminals. ``horizon`` is
    one terrain mask for all points or one per point (None for none), each with
    ``.min_elev_rad(az_rad)``. ``k`` is the number of satellites that counts as covered.

    Returns an ``xarray.Dataset`` with ``visible_count (time, point)``, per-point
    ``coverage_fraction``, ``max_gap_s``, ``mean_gap_s``, ``n_gaps``, ``revisit_s``,
    ``mean_visible``, ``max_visible``, per-time ``covered_point_fraction`` and the
    summary of :func:`summary` plus the inputs in ``attrs``.
    """
    if grid is not None and lat_deg is None:
        lat_deg, lon_deg = grid.lat_deg, grid.lon_deg
    if lat_deg is None or lon_deg is None:
        raise ConfigError("give lat_deg and lon_deg, or a grid", option="lat_deg")
    lat = np.atleast_1d(np.asarray(lat_deg, float))
    lon = np.atleast_1d(np.asarray(lon_deg, float))
    if grid is not None and lat.size != np.asarray(grid.lat_deg).size:
        raise ConfigError("the points do not match the grid", option="grid")
    if int(k) != k or k < 1:
        raise ConfigError(f"{k!r} is not a positive integer", option="k")
    _check_elev(min_elev_deg)
    if duration_s < step_s:
        raise ConfigError("must be at least one step", option="duration")
    times = time_grid(start_utc, duration_s, step_s)
    alt = np.broadcast_to(np.asarray(alt_m, float), lat.shape)
    counts, failed = visible_counts(catalog, times, lat, lon, alt, min_elev_deg=min_elev_deg,
                                    horizon=horizon, screen_step_s=screen_step_s, engine=engine,
                                    client=client, progress=progress)  # fmt: skip
    return _dataset(catalog, times, lat, lon, alt, counts, failed, step_s=step_s,
                    min_elev_deg=min_elev_deg, k=int(k), grid=grid, region=region, names=names,
                    horizon=horizon, screen_step_s=screen_step_s)  # fmt: skip


def region_coverage(catalog: Catalog, region: Any, grid_deg: float, **kw: Any) -> Any:
    """:func:`coverage` over the grid points inside ``region`` (a Region or a spec such as
    ``"chongqing"`` or ``"W,S,E,N"``) at ``grid_deg`` spacing."""
    if isinstance(region, str):
        from kongtian.geo.regions import region as _region

        region = _region(region)
    grid = region.grid(grid_deg)
    return coverage(catalog, grid=grid, region=region, **kw)


def _dataset(catalog: Catalog, times: Any, lat: FloatArray, lon: FloatArray, alt: Any,
             counts: npt.NDArray[Any], failed: npt.NDArray[np.int64], *, step_s: float,
             min_elev_deg: float, k: int, grid: Any, region: Any, names: Sequence[str] | None,
             horizon: Any, screen_step_s: float | str | None) -> Any:  # fmt: skip
    import xarray as xr

    import kongtian
    from kongtian.geo.eop import eop_vintage

    st = gap_statistics(counts, k, step_s)
    npts = lat.size
    coords: dict[str, Any] = {
        "time": ("time", times),
        "point": ("point", np.arange(npts)),
        "lat_deg": (
            "point",
            lat,
            {"units": "degrees_north", "long_name": "geodetic latitude (WGS84)"},
        ),
        "lon_deg": ("point", lon, {"units": "degrees_east"}),
        "alt_m": (
            "point",
            np.asarray(alt, float),
            {"units": "m", "long_name": "height above WGS84"},
        ),
    }
    if names is not None:
        if len(names) != npts:
            raise ConfigError(f"{len(names)} names for {npts} points", option="names")
        coords["name"] = ("point", np.asarray(names, dtype=str))
    units = {"coverage_fraction": "1", "max_gap_s": "s", "mean_gap_s": "s", "revisit_s": "s",
             "mean_visible": "1", "n_gaps": "1", "max_visible": "1"}  # fmt: skip
    data: dict[str, Any] = {
        "visible_count": (("time", "point"), counts,
                          {"long_name": f"satellites above {min_elev_deg} deg", "units": "1"}),
        "covered_point_fraction": (("time",), (counts >= k).mean(axis=1),
                                   {"long_name": f"fraction of points with >= {k} satellites"}),
    }  # fmt: skip
    for name, arr in st.items():
        data[name] = (("point",), arr, {"units": units[name]})
    if grid is not None:
        data["inside"] = (("lat", "lon"), np.asarray(grid.mask).astype(np.int8))
        area = getattr(grid, "cell_area_km2", None)
        if area is not None:
            data["cell_area_km2"] = (("point",), np.asarray(area, float), {"units": "km2"})
        for name in ("coverage_fraction", "max_gap_s", "mean_gap_s", "revisit_s", "mean_visible"):
            data[f"{name}_map"] = (("lat", "lon"), np.asarray(grid.to_2d(st[name]), float),
                                   {"units": units[name]})  # fmt: skip
        coords["lat"] = ("lat", np.asarray(grid.lat_axis_deg, float), {"units": "degrees_north"})
        coords["lon"] = ("lon", np.asarray(grid.lon_axis_deg, float), {"units": "degrees_east"})
    ds = xr.Dataset(data, coords=coords)
    attrs: dict[str, Any] = {
        "title": "Kongtian satellite coverage",
        "kongtian_version": kongtian.__version__,
        "start_utc": str(iso_utc(times[0], 0)[0]),
        "end_utc": str(iso_utc(times[-1], 0)[0]),
        "window_s": float((times[-1] - times[0]).astype(np.int64) / 1e9),
        "n_satellites_failed": int(failed.size),
        "catalog_epochs_utc": (
            f"{iso_utc(catalog.epoch_utc.min(), 0)[0]}..{iso_utc(catalog.epoch_utc.max(), 0)[0]}"
            if len(catalog)
            else ""
        ),  # fmt: skip
        "catalog_groups": ",".join(sorted(set(catalog.group.tolist())))[:1000],
        "propagator": "SGP4 (WGS72 elements) -> ITRF via GMST82 + UT1-UTC, no polar motion",
        "eop_vintage": _eop(eop_vintage),
        "elevation": "above the geodetic (WGS84) horizon of each point",
        "screen_step_s": str(screen_step_s),
        "statistics": (
            "trapezoid weights (edge samples half a step); gaps touching the window "
            "edges included with their in-window length; revisit_s = mean time "
            "between rises (covered after uncovered)"
        ),  # fmt: skip
        "terrain_horizon": int(horizon is not None),
    }
    if region is not None:
        attrs["region"] = str(getattr(region, "name", ""))
        geom = getattr(region, "geometry", None)
        if geom is not None:
            attrs["region_wkt"] = geom.simplify(0.002, preserve_topology=True).wkt
    ds.attrs.update(attrs)
    ds.attrs.update({key: val for key, val in _summary_values(ds, catalog_size=len(catalog), step_s=step_s,
                                                              min_elev_deg=min_elev_deg, k=k).items()})  # fmt: skip
    return ds


def _eop(fn: Callable[[], str]) -> str:
    try:
        return fn()
    except Exception:  # a missing table must not break a coverage result
        return "unknown"


def _summary_values(
    ds: Any, *, catalog_size: int, step_s: float, min_elev_deg: float, k: int
) -> dict[str, Any]:
    cov = ds["coverage_fraction"].values
    mg = ds["max_gap_s"].values
    cnt = ds["visible_count"].values
    gaps = ds["mean_gap_s"].values
    ng = ds["n_gaps"].values
    rev = ds["revisit_s"].values
    return {
        "mean_coverage_fraction": float(cov.mean()),
        "min_point_coverage_fraction": float(cov.min()),
        "max_gap_s": float(mg.max()),
        "p95_max_gap_s": float(np.percentile(mg, 95)),
        "mean_gap_s": float((gaps * ng).sum() / ng.sum()) if ng.sum() else 0.0,
        "mean_revisit_s": float(np.nanmean(rev)) if np.any(np.isfinite(rev)) else float("nan"),
        "mean_visible": float(ds["mean_visible"].values.mean()),
        "min_visible": int(cnt.min()),
        "max_visible": int(cnt.max()),
        "fraction_points_always_covered": float(np.mean(ng == 0)),
        "area_weighted_coverage_fraction": (
            float(np.average(cov, weights=ds["cell_area_km2"].values))
            if "cell_area_km2" in ds
            else float("nan")
        ),
        "n_points": int(cov.size),
        "n_satellites": int(catalog_size),
        "n_times": int(ds.sizes["time"]),
        "step_s": float(step_s),
        "min_elev_deg": float(min_elev_deg),
        "k": int(k),
    }


def summary(ds: Any) -> dict[str, Any]:
    """The region summary (JSON-ready) of a coverage dataset: coverage fraction mean and
    minimum over points, worst gap, 95th percentile of per-point max gaps, mean gap (over
    all gaps), mean revisit, visible-count mean/min/max, sizes and inputs."""
    out: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        val = ds.attrs.get(key)
        if isinstance(val, np.generic):
            val = val.item()
        out[key] = None if isinstance(val, float) and math.isnan(val) else val
    return out


def save(ds: Any, path: str | Path) -> Path:
    """Write a coverage dataset to netCDF-4 (netCDF4 library, zlib-compressed variables)."""
    p = Path(path)
    enc = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    try:
        ds.to_netcdf(p, engine="netcdf4", encoding=enc)
    except OSError as exc:
        raise ConfigError(f"cannot write {p}: {exc}", option="out") from None
    return p


def load(path: str | Path) -> Any:
    """Read a coverage dataset written by :func:`save`."""
    import xarray as xr

    p = Path(path)
    if not p.exists():
        from kongtian.errors import FormatError

        raise FormatError("no such file", path=str(p))
    return xr.load_dataset(p, engine="netcdf4")
