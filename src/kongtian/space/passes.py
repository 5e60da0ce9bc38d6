"""Ground-station passes: rise, culmination and set of many satellites over many sites.

One call searches every satellite of a catalog over every site for a UTC window, with
a flat elevation mask and optionally a terrain (horizon) mask per site. Event times are
refined to ``tol_s`` (default 0.1 s). Nothing loops over satellites in Python: every
stage works on flat arrays of (satellite, site, bracket) candidates, with numba kernels
where the profile asked for them.

Algorithm (design record with measurements: ``docs/decisions/0005-pass-search.md``):

1. **Coarse grid.** SGP4 on a common time grid, rotated to ITRF in place, step
   ``coarse_step_s`` = by default the shortest "perigee period" in the catalog / 10
   (``2 pi`` over the angular rate at perigee; for LEO the orbital period). From
   position *and velocity* we get per site ``sin(elev)`` and its time derivative, so a
   maximum of elevation shows up as a derivative sign change ``+ -> -`` between two
   samples. Why no pass can hide: near the site (where any pass happens) elevation has
   one maximum per revolution and its neighbouring minima lie about half a revolution
   away, so every maximum has a sample on its rising and on its falling side as long as
   the step is below ~0.45 P; P/10 leaves a factor 4.5. A pass barely above the mask is
   short, but the *hump* of the elevation curve that carries it is not: we look for
   maxima of the continuous curve (below-mask ones included), not for samples above
   the mask.
2. **Screening.** A bracket is dropped when the satellite cannot reach the cone
   ``{elev >= lowest mask}`` in it: first by the distances of the end positions to the
   cone against ``v_max * step``, then on the cubic Hermite path through the end states,
   with a rigorous margin (interpolation error bound + travel between path samples).
3. **Maxima.** The rest are refined together: a start from the quintic Hermite path
   (positions, velocities, J2 accelerations at both ends; good to ~0.01 s in LEO), then
   safeguarded Newton on ``d sin(elev)/dt`` with zipped SGP4
   (:func:`kongtian.space.propagate.propagate_zipped`), usually one evaluation. Maxima
   not above the mask are dropped. The kept ones are polished on SGP4 *positions*
   (parabola through three points): SGP4's velocity is not exactly the derivative of
   its position, which moves flat maxima (GTO near apogee, GEO) by seconds otherwise.
4. **Rise / set.** Between the maximum and the nearest coarse sample below the mask on
   each side: quintic start, then safeguarded Newton on ``sin(elev) - sin(mask)``.
5. **Terrain.** With a terrain mask ``m(az)`` the steps above use its lowest value;
   each resulting interval is then sampled every ``terrain_step_s`` seconds and every
   sign change of ``elev - m(az)`` is bisected to ``tol_s``. An interval can split: a
   satellite that goes behind a ridge and comes out again makes *two* passes (two
   visible intervals, each with its own rise, culmination and set). Visible slivers
   shorter than ``terrain_step_s`` (a notch in the ridge) can be missed.

Conventions (see :class:`Passes`):

- The effective mask is ``max(min_elev_deg, horizon(az))``.
- A pass in progress at ``start_utc`` has no rise (NaT) and one still in progress at
  ``end_utc`` no set (NaT). Passes are clipped to the window: the culmination is the
  highest point *inside the window*, so for a pass whose true maximum lies outside the
  window ``culminate_utc`` is the window edge and ``max_elev_deg`` the elevation there.
- Under a terrain mask the culmination is the highest point of the *visible* interval;
  if the elevation maximum is hidden behind the ridge, that is an end of the interval.
- Two maxima of elevation without a drop below the mask between them (GTO/HEO/GEO;
  never LEO) make one pass culminating at the higher one. A drop below the mask
  between them, however short, splits the pass (the minimum is refined even when no
  coarse sample falls in the dip).
- SGP4 errors (e.g. decay) make those times count as "not visible"; the search goes on.

Frames and units: ITRF (GMST82 + shipped UT1-UTC, no polar motion, like skyfield),
geodetic sites on WGS84; SI inside, degrees at the edges.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from kongtian.errors import ConfigError
from kongtian.geo.ellipsoid import WGS84
from kongtian.geo.frames import EARTH_ROTATION_RAD_S, geodetic_to_ecef, gmst82_rad
from kongtian.geo.time import as_utc, iso_utc
from kongtian.space.catalog import Catalog
from kongtian.space.propagate import propagate, propagate_zipped

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_GM_WGS72_M3_S2 = 398600.8e9
_RE_WGS72_M = 6_378_135.0
_J2_WGS72 = 0.001082616
#: Coarse step = shortest perigee period / this (see module docstring, decision 0005).
COARSE_STEPS_PER_PERIOD = 10
_MAX_COARSE_STEP_S = 900.0
_MAX_GRID_ELEMENTS = 100_000_000
_MAX_ITER = 80
_HERMITE_SAMPLES = 32
_NS = 1_000_000_000

_RESULT_KEYS = ("sat", "site", "rise_x", "cul_x", "set_x", "max_elev", "rise_az", "set_az",
                "cul_range")  # fmt: skip
CSV_HEADER = "norad_id,rise_utc,culminate_utc,set_utc,max_elev_deg"


class _MaskLike(Protocol):
    def min_elev_rad(self, az_rad: Any) -> Any: ...


# --------------------------------------------------------------------------- result
@dataclass
class Passes:
    """Passes as a structure of arrays (length P), sorted by site, then rise time
    (passes already in progress at the window start first, by culmination time).

    ``sat_index`` indexes the searched catalog, ``site_index`` the sites in call order.
    Times are UTC ``datetime64[ns]``; ``rise_utc`` is NaT for a pass in progress at the
    window start, ``set_utc`` NaT for one still in progress at the end. ``culminate_utc``
    is the highest point inside the window (and inside the visible interval under a
    terrain mask), ``max_elev_deg`` the elevation there; ``rise_az_deg``/``set_az_deg``
    are azimuths (deg from north through east) at rise/set (NaN with NaT);
    ``culminate_range_m`` the slant range at culmination (m).
    """

    sat_index: IntArray
    norad_id: IntArray
    site_index: IntArray
    rise_utc: npt.NDArray[np.datetime64]
    culminate_utc: npt.NDArray[np.datetime64]
    set_utc: npt.NDArray[np.datetime64]
    max_elev_deg: FloatArray
    rise_az_deg: FloatArray
    set_az_deg: FloatArray
    culminate_range_m: FloatArray
    n_sites: int = 1
    coarse_step_s: float = field(default=float("nan"), compare=False)

    _COLUMNS = (
        "sat_index", "norad_id", "site_index", "rise_utc", "culminate_utc", "set_utc",
        "max_elev_deg", "rise_az_deg", "set_az_deg", "culminate_range_m",
    )  # fmt: skip

    def __len__(self) -> int:
        return int(self.sat_index.size)

    def __repr__(self) -> str:
        return f"Passes({len(self)} passes, {self.n_sites} site(s))"

    def __getitem__(self, idx: Any) -> Passes:
        """Subset by index array, slice or boolean mask."""
        kw = {c: np.atleast_1d(getattr(self, c)[idx]) for c in self._COLUMNS}
        return Passes(**kw, n_sites=self.n_sites, coarse_step_s=self.coarse_step_s)

    @property
    def duration_s(self) -> FloatArray:
        """Set minus rise in seconds (NaN where either is cut by the window)."""
        d = (self.set_utc - self.rise_utc).astype("timedelta64[ns]").astype(np.float64) / 1e9
        d[np.isnat(self.set_utc) | np.isnat(self.rise_utc)] = np.nan
        return d

    def to_dataframe(self) -> Any:
        """A ``pandas.DataFrame`` with one row per pass and the columns above."""
        import pandas as pd

        return pd.DataFrame({c: getattr(self, c) for c in self._COLUMNS})

    def to_csv(self, file: str | Path | IO[str] | None = None) -> str | None:
        """CSV ``norad_id,rise_utc,culminate_utc,set_utc,max_elev_deg`` (+ ``site``).

        Times are ISO-8601 UTC with 0.1 s (``2025-01-23T01:02:03.4Z``), an empty field
        for NaT; elevations in degrees with 2 decimals. When the search covered more
        than one site a last column ``site`` holds the site index (order of the call).
        Returns the text when ``file`` is None, else writes it (path or text stream).
        """
        multi = self.n_sites > 1
        buf = io.StringIO()
        buf.write(CSV_HEADER + (",site" if multi else "") + "\n")
        rise, cul, st = (
            list(iso_utc(x, 1)) if len(self) else []
            for x in (self.rise_utc, self.culminate_utc, self.set_utc)
        )
        for i in range(len(self)):
            row = f"{self.norad_id[i]},{rise[i]},{cul[i]},{st[i]},{self.max_elev_deg[i]:.2f}"
            buf.write(row + (f",{self.site_index[i]}" if multi else "") + "\n")
        text = buf.getvalue()
        if file is None:
            return text
        if isinstance(file, str | Path):
            Path(file).write_text(text, encoding="utf-8")
        else:
            file.write(text)
        return None


def _empty_passes(n_sites: int, step: float) -> Passes:
    nat = np.array([], dtype="datetime64[ns]")
    f = np.array([], dtype=np.float64)
    i = np.array([], dtype=np.int64)
    return Passes(i, i.copy(), i.copy(), nat, nat.copy(), nat.copy(), f, f.copy(), f.copy(),
                  f.copy(), n_sites=n_sites, coarse_step_s=step)  # fmt: skip


# --------------------------------------------------------------------------- geometry
@dataclass
class _Sites:
    """Site positions (ECEF, m) and local unit vectors, plus their masks (rad)."""

    ecef: FloatArray  # (S, 3)
    up: FloatArray  # (S, 3) geodetic normal
    east: FloatArray
    north: FloatArray
    eps_rad: float  # flat mask
    eps_low: FloatArray  # (S,) lowest effective mask over azimuth
    terrain: list[_MaskLike | None]  # binding terrain masks, else None

    def __len__(self) -> int:
        return int(self.ecef.shape[0])

    def mask_rad(self, site: IntArray, az_rad: FloatArray) -> FloatArray:
        """Effective mask ``max(eps, terrain(az))`` for each (site, azimuth)."""
        out = np.full(site.shape, self.eps_rad)
        for s, m in enumerate(self.terrain):
            if m is None:
                continue
            sel = site == s
            if np.any(sel):
                vals = np.asarray(m.min_elev_rad(az_rad[sel]), dtype=np.float64)
                out[sel] = np.maximum(self.eps_rad, vals)
        return out


def _mask_bounds(mask: _MaskLike) -> tuple[float, float]:
    """(min, max) of a terrain mask over azimuth, radians.

    Exact for piecewise-linear masks with knots (``HorizonMask``: extremes are at
    knots); for other objects sampled every 0.01 deg, the minimum lowered by 1 deg so a
    narrow notch between samples still counts (a lower bound only costs search time).
    """
    knots = getattr(mask, "min_elev_deg", None)
    az = np.linspace(0.0, 2 * np.pi, 36_001)
    vals = np.asarray(mask.min_elev_rad(az), dtype=np.float64)
    lo, hi = float(np.min(vals)), float(np.max(vals))
    if knots is not None and np.size(knots):
        k = np.radians(np.asarray(knots, dtype=np.float64))
        return min(lo, float(k.min())), max(hi, float(k.max()))
    return lo - math.radians(1.0), hi


def _make_sites(lat: FloatArray, lon: FloatArray, alt: FloatArray, eps_rad: float,
                horizon: Any) -> _Sites:  # fmt: skip
    la, lo = np.radians(lat), np.radians(lon)
    ecef = geodetic_to_ecef(la, lo, alt, WGS84)
    sl, cl, so, co = np.sin(la), np.cos(la), np.sin(lo), np.cos(lo)
    up = np.stack([cl * co, cl * so, sl], -1)
    east = np.stack([-so, co, np.zeros_like(so)], -1)
    north = np.stack([-sl * co, -sl * so, cl], -1)
    n = lat.size
    if horizon is None:
        masks: list[Any] = [None] * n
    elif hasattr(horizon, "min_elev_rad"):
        masks = [horizon] * n
    else:
        try:
            masks = list(horizon)
        except TypeError:
            raise ConfigError("a HorizonMask, a list of them (one per site) or None",
                              option="horizon") from None  # fmt: skip
        if len(masks) != n:
            raise ConfigError(f"{len(masks)} masks for {n} sites", option="horizon")
    eps_low = np.full(n, eps_rad)
    terrain: list[_MaskLike | None] = []
    for s, m in enumerate(masks):
        if m is None:
            terrain.append(None)
            continue
        if not hasattr(m, "min_elev_rad"):
            raise ConfigError(f"site {s}: not a horizon mask ({type(m).__name__})",
                              option="horizon")  # fmt: skip
        lo_m, hi_m = _mask_bounds(m)
        eps_low[s] = max(eps_rad, lo_m)
        # A terrain mask that never rises above the flat limit changes nothing.
        terrain.append(m if hi_m > eps_rad else None)
    return _Sites(ecef, up, east, north, eps_rad, eps_low, terrain)


@dataclass
class _State:
    """Topocentric quantities at K (satellite, site, time) points."""

    sinel: FloatArray  # sin(elevation); -2 where SGP4 failed
    g: FloatArray  # d sin(elev) / dt (1/s); NaN where SGP4 failed
    gdot: FloatArray  # d2 sin(elev) / dt2 (1/s^2), from a model acceleration (_accel)
    az: FloatArray  # rad
    range_m: FloatArray

    @property
    def elev(self) -> FloatArray:
        return np.asarray(np.arcsin(np.clip(self.sinel, -1.0, 1.0)))


class _Evaluator:
    """Zipped SGP4 + topocentric geometry at arbitrary (satellite, site, time) points."""

    def __init__(self, cat: Catalog, sites: _Sites, t0: np.datetime64, engine: str) -> None:
        self.cat, self.sites, self.t0, self.engine = cat, sites, t0, engine
        self.calls = 0
        self.points = 0

    def __call__(self, sat: IntArray, site: IntArray, x_s: FloatArray) -> _State:
        if sat.size == 0:
            return _blank_state(0)
        self.calls += 1
        self.points += sat.size
        t = self.t0 + np.round(x_s * 1e9).astype("timedelta64[ns]")
        r, v, err = propagate_zipped(self.cat, sat, t, frame="teme", engine=self.engine)
        return _topocentric(r, v, gmst82_rad(t), err, self.sites, site)


def _topocentric(r_teme: FloatArray, v_teme: FloatArray, theta: FloatArray, err: Any,
                 sites: _Sites, site: IntArray) -> _State:  # fmt: skip
    k = site.size
    out = [np.empty(k) for _ in range(5)]
    bad = np.asarray(err) != 0
    r = np.ascontiguousarray(r_teme, dtype=np.float64)
    v = np.ascontiguousarray(v_teme, dtype=np.float64)
    _teme_to_pef_kernel(r, v, np.ascontiguousarray(theta, dtype=np.float64))
    _topo_kernel(r, v, bad, site.astype(np.int64), sites.ecef, sites.up, sites.east,
                 sites.north, *out)  # fmt: skip
    return _State(*out)


@njit(parallel=True, nogil=True, cache=True)
def _teme_to_pef_kernel(r, v, theta):  # type: ignore[no-untyped-def]
    """In place: TEME -> ITRF (= PEF, no polar motion) by GMST82 ``theta`` (rad).

    Same convention as :func:`kongtian.geo.frames.teme_to_itrf`; ``r``, ``v`` have shape
    (..., 3) flattened to (K, 3) and ``theta`` one angle per row, or (N, T, 3) with
    ``theta`` of length T.
    """
    w = EARTH_ROTATION_RAD_S
    rr = r.reshape((-1, 3))
    vv = v.reshape((-1, 3))
    nth = theta.size
    for k in prange(rr.shape[0]):
        c = math.cos(theta[k % nth])
        s = math.sin(theta[k % nth])
        x = c * rr[k, 0] + s * rr[k, 1]
        y = -s * rr[k, 0] + c * rr[k, 1]
        vx = c * vv[k, 0] + s * vv[k, 1] + w * y
        vy = -s * vv[k, 0] + c * vv[k, 1] - w * x
        rr[k, 0], rr[k, 1] = x, y
        vv[k, 0], vv[k, 1] = vx, vy


@njit(parallel=True, nogil=True, cache=True)
def _topo_kernel(r, v, bad, site, sx, up, east, north, sinel, g, gdot, az, rng):  # type: ignore[no-untyped-def]
    """sin(elev), its first two time derivatives, azimuth and range at K points.

    The second derivative uses a model acceleration (:func:`_accel`); it only sets the
    Newton slope for maxima, the root itself is where SGP4's own velocity gives zero.
    """
    for k in prange(site.shape[0]):
        s = site[k]
        rx, ry, rz = r[k, 0], r[k, 1], r[k, 2]
        vx, vy, vz = v[k, 0], v[k, 1], v[k, 2]
        if bad[k] or not (np.isfinite(rx) and np.isfinite(ry) and np.isfinite(rz)):
            sinel[k], g[k], gdot[k], az[k], rng[k] = -2.0, np.nan, np.nan, np.nan, np.nan
            continue
        dx, dy, dz = rx - sx[s, 0], ry - sx[s, 1], rz - sx[s, 2]
        ax, ay, az_ = _accel(rx, ry, rz, vx, vy, vz)
        se, gg, gd, rho = _sin_elev_rates(dx, dy, dz, vx, vy, vz, ax, ay, az_, up[s, 0],
                                          up[s, 1], up[s, 2])  # fmt: skip
        sinel[k], g[k], gdot[k] = se, gg, gd
        e = dx * east[s, 0] + dy * east[s, 1] + dz * east[s, 2]
        n = dx * north[s, 0] + dy * north[s, 1] + dz * north[s, 2]
        a = math.atan2(e, n)
        az[k] = a + 2 * math.pi if a < 0 else a
        rng[k] = rho


@njit(parallel=True, nogil=True, cache=True)
def _coarse_kernel(r, v, valid, sx, up, eps_low, reach, sinel, g, cand):  # type: ignore[no-untyped-def]
    """sin(elev) and d sin(elev)/dt on the grid, shapes (n, S, T), and candidate maxima.

    ``cand[i, s, j]`` marks brackets [j, j+1] where d sin(elev)/dt goes + -> - and the
    distances of both ends to the cone ``{elev >= eps_low[s]}`` add up to no more than
    ``reach[i, j]`` (the farthest the satellite can travel in the bracket).
    """
    n, nt = valid.shape
    ns = sx.shape[0]
    for i in prange(n):
        for s in range(ns):
            ux, uy, uz = up[s, 0], up[s, 1], up[s, 2]
            s_low, c_low = math.sin(eps_low[s]), math.cos(eps_low[s])
            prev_d = np.inf
            prev_g = np.nan
            for j in range(nt):
                if valid[i, j]:
                    dx, dy, dz = r[i, j, 0] - sx[s, 0], r[i, j, 1] - sx[s, 1], r[i, j, 2] - sx[s, 2]
                    vx, vy, vz = v[i, j, 0], v[i, j, 1], v[i, j, 2]
                    z = dx * ux + dy * uy + dz * uz
                    rho2 = dx * dx + dy * dy + dz * dz
                    rho = math.sqrt(rho2)
                    se = z / rho
                    gg = (vx * ux + vy * uy + vz * uz) / rho - z * (dx * vx + dy * vy + dz * vz) / (
                        rho2 * rho
                    )
                    # Distance to the cone: rho sin(eps - el), or rho past 90 deg; no trig.
                    horiz = math.sqrt(max(rho2 - z * z, 0.0))
                    if c_low * horiz + s_low * z < 0.0:
                        d = rho
                    else:
                        d = max(0.0, s_low * horiz - c_low * z)
                else:
                    se, gg, d = -2.0, np.nan, np.inf
                sinel[i, s, j] = se
                g[i, s, j] = gg
                if j > 0:
                    cand[i, s, j - 1] = prev_g > 0.0 and gg <= 0.0 and prev_d + d <= reach[i, j - 1]
                prev_d, prev_g = d, gg


@njit(inline="always", nogil=True, cache=True)
def _accel(rx, ry, rz, vx, vy, vz):  # type: ignore[no-untyped-def]
    """Acceleration (m/s^2) in the rotating frame: gravity to J2 (WGS72), Coriolis and
    centrifugal. Used only for Newton slopes and interpolation; SGP4 stays the truth."""
    w = EARTH_ROTATION_RAD_S
    r2 = rx * rx + ry * ry + rz * rz
    rn = math.sqrt(r2)
    c = -_GM_WGS72_M3_S2 / (r2 * rn)
    k = 1.5 * _J2_WGS72 * (_RE_WGS72_M * _RE_WGS72_M) / r2
    q = 5.0 * rz * rz / r2
    ax = c * rx * (1.0 + k * (1.0 - q)) + 2 * w * vy + w * w * rx
    ay = c * ry * (1.0 + k * (1.0 - q)) - 2 * w * vx + w * w * ry
    az = c * rz * (1.0 + k * (3.0 - q))
    return ax, ay, az


@njit(inline="always", nogil=True, cache=True)
def _sin_elev_rates(dx, dy, dz, vx, vy, vz, ax, ay, az, ux, uy, uz):  # type: ignore[no-untyped-def]
    """sin(elev), d/dt and d2/dt2 from the site-to-satellite vector, its rate and
    acceleration (rotating frame) and the site's up vector."""
    z = dx * ux + dy * uy + dz * uz
    rho2 = dx * dx + dy * dy + dz * dz
    rho = math.sqrt(rho2)
    zd = vx * ux + vy * uy + vz * uz
    rhod = (dx * vx + dy * vy + dz * vz) / rho
    zdd = ax * ux + ay * uy + az * uz
    rhodd = (vx * vx + vy * vy + vz * vz + dx * ax + dy * ay + dz * az - rhod * rhod) / rho
    se = z / rho
    g = zd / rho - z * rhod / rho2
    gd = zdd / rho - 2 * zd * rhod / rho2 - z * rhodd / rho2 + 2 * z * rhod * rhod / (rho2 * rho)
    return se, g, gd, rho


@njit(inline="always", nogil=True, cache=True)
def _quintic_rates(r, v, i, j, h, u, sx, up, s):  # type: ignore[no-untyped-def]
    """(sin(elev), d/dt, d2/dt2) at fraction u of bracket j on the quintic Hermite path
    through positions, velocities and (J2) accelerations at both ends: a Newton start
    good to a few hundredths of a second for a LEO step of ~10 min."""
    a0 = _accel(r[i, j, 0], r[i, j, 1], r[i, j, 2], v[i, j, 0], v[i, j, 1], v[i, j, 2])
    a1 = _accel(r[i, j + 1, 0], r[i, j + 1, 1], r[i, j + 1, 2],
                v[i, j + 1, 0], v[i, j + 1, 1], v[i, j + 1, 2])  # fmt: skip
    u2 = u * u
    u3 = u2 * u
    u4 = u3 * u
    u5 = u4 * u
    hh = h * h
    b = (1 - 10 * u3 + 15 * u4 - 6 * u5, (u - 6 * u3 + 8 * u4 - 3 * u5) * h,
         (0.5 * u2 - 1.5 * u3 + 1.5 * u4 - 0.5 * u5) * hh, (0.5 * u3 - u4 + 0.5 * u5) * hh,
         (-4 * u3 + 7 * u4 - 3 * u5) * h, 10 * u3 - 15 * u4 + 6 * u5)  # fmt: skip
    d = ((-30 * u2 + 60 * u3 - 30 * u4) / h, 1 - 18 * u2 + 32 * u3 - 15 * u4,
         (u - 4.5 * u2 + 6 * u3 - 2.5 * u4) * h, (1.5 * u2 - 4 * u3 + 2.5 * u4) * h,
         -12 * u2 + 28 * u3 - 15 * u4, (30 * u2 - 60 * u3 + 30 * u4) / h)  # fmt: skip
    e = ((-60 * u + 180 * u2 - 120 * u3) / hh, (-36 * u + 96 * u2 - 60 * u3) / h,
         1 - 9 * u + 18 * u2 - 10 * u3, 3 * u - 12 * u2 + 10 * u3,
         (-24 * u + 84 * u2 - 60 * u3) / h, (60 * u - 180 * u2 + 120 * u3) / hh)  # fmt: skip
    px = _dot6(b, r[i, j, 0], v[i, j, 0], a0[0], a1[0], v[i, j + 1, 0], r[i, j + 1, 0])
    py = _dot6(b, r[i, j, 1], v[i, j, 1], a0[1], a1[1], v[i, j + 1, 1], r[i, j + 1, 1])
    pz = _dot6(b, r[i, j, 2], v[i, j, 2], a0[2], a1[2], v[i, j + 1, 2], r[i, j + 1, 2])
    vx = _dot6(d, r[i, j, 0], v[i, j, 0], a0[0], a1[0], v[i, j + 1, 0], r[i, j + 1, 0])
    vy = _dot6(d, r[i, j, 1], v[i, j, 1], a0[1], a1[1], v[i, j + 1, 1], r[i, j + 1, 1])
    vz = _dot6(d, r[i, j, 2], v[i, j, 2], a0[2], a1[2], v[i, j + 1, 2], r[i, j + 1, 2])
    ax = _dot6(e, r[i, j, 0], v[i, j, 0], a0[0], a1[0], v[i, j + 1, 0], r[i, j + 1, 0])
    ay = _dot6(e, r[i, j, 1], v[i, j, 1], a0[1], a1[1], v[i, j + 1, 1], r[i, j + 1, 1])
    az = _dot6(e, r[i, j, 2], v[i, j, 2], a0[2], a1[2], v[i, j + 1, 2], r[i, j + 1, 2])
    return _sin_elev_rates(px - sx[s, 0], py - sx[s, 1], pz - sx[s, 2], vx, vy, vz, ax, ay,
                           az, up[s, 0], up[s, 1], up[s, 2])  # fmt: skip


@njit(inline="always", nogil=True, cache=True)
def _dot6(w, a, b, c, d, e, f):  # type: ignore[no-untyped-def]
    return w[0] * a + w[1] * b + w[2] * c + w[3] * d + w[4] * e + w[5] * f


@njit(inline="always", nogil=True, cache=True)
def _quintic_newton(r, v, i, j, t0, h, lo, hi, x, s, sx, up, target, extremum):  # type: ignore[no-untyped-def]
    """A few Newton steps on the quintic path, kept inside [lo, hi]."""
    for _ in range(5):
        se, g, gd, _rho = _quintic_rates(r, v, i, j, h, (x - t0) / h, sx, up, s)
        if extremum:
            f, fp = g, gd
        else:
            f, fp = se - target, g
        if not (fp != 0.0 and math.isfinite(f / fp)):
            break
        xn = min(hi, max(lo, x - f / fp))
        if abs(xn - x) < 1e-4:
            return xn
        x = xn
    return x


@njit(inline="always", nogil=True, cache=True)
def _hermite_point(r, v, i, j, h, u, sx, up, s):  # type: ignore[no-untyped-def]
    """(sin(elev), range) at fraction u of bracket j on the cubic Hermite path."""
    u2 = u * u
    u3 = u2 * u
    h00 = 2 * u3 - 3 * u2 + 1
    h10 = (u3 - 2 * u2 + u) * h
    h01 = -2 * u3 + 3 * u2
    h11 = (u3 - u2) * h
    dx = (
        h00 * r[i, j, 0] + h10 * v[i, j, 0] + h01 * r[i, j + 1, 0] + h11 * v[i, j + 1, 0] - sx[s, 0]
    )
    dy = (
        h00 * r[i, j, 1] + h10 * v[i, j, 1] + h01 * r[i, j + 1, 1] + h11 * v[i, j + 1, 1] - sx[s, 1]
    )
    dz = (
        h00 * r[i, j, 2] + h10 * v[i, j, 2] + h01 * r[i, j + 1, 2] + h11 * v[i, j + 1, 2] - sx[s, 2]
    )
    rho = math.sqrt(dx * dx + dy * dy + dz * dz)
    return (dx * up[s, 0] + dy * up[s, 1] + dz * up[s, 2]) / rho, rho


@njit(parallel=True, nogil=True, cache=True)
def _hermite_max(r, v, ci, cj, cs, grid_s, sx, up, delta, m, ub, x0):  # type: ignore[no-untyped-def]
    """Screen candidate maxima on the cubic Hermite path through the bracket's end states.

    ``ub[k]``: an upper bound of sin(elevation) in the bracket: over the path samples,
    the sine of the elevation plus the angle ``asin(delta / range)`` that ``delta[k]``
    metres (path error + half the travel between samples) can add (1 if that passes
    90 deg). ``x0[k]``: the maximum of a parabola through the three highest samples,
    then Newton on the quintic path (s since the grid start), a Newton start.
    """
    for k in prange(ci.size):
        i, j, s = ci[k], cj[k], cs[k]
        h = grid_s[j + 1] - grid_s[j]
        best, bq, bound = -3.0, 0, -np.inf
        for q in range(m):
            se, rho = _hermite_point(r, v, i, j, h, q / (m - 1), sx, up, s)
            # sin(el + a) with sin a = delta / rho, by the addition formulas.
            sa = delta[k] / rho
            if sa >= 1.0:
                b = 1.0
            else:
                ce = math.sqrt(max(1.0 - se * se, 0.0))
                ca = math.sqrt(1.0 - sa * sa)
                b = se * ca + ce * sa if ce * ca - se * sa >= 0.0 else 1.0
            bound = max(bound, b)
            if se > best:
                best, bq = se, q
        ub[k] = bound
        u = bq / (m - 1)
        if 0 < bq < m - 1:
            du = 1.0 / (m - 1)
            a, _ = _hermite_point(r, v, i, j, h, u - du, sx, up, s)
            c, _ = _hermite_point(r, v, i, j, h, u + du, sx, up, s)
            den = a - 2 * best + c
            if den < 0:
                u += 0.5 * du * (a - c) / den
        x0[k] = _quintic_newton(r, v, i, j, grid_s[j], h, grid_s[j], grid_s[j + 1],
                                grid_s[j] + u * h, s, sx, up, 0.0, True)  # fmt: skip


@njit(parallel=True, nogil=True, cache=True)
def _hermite_cross(r, v, ci, cj, cs, grid_s, sx, up, lo, hi, target, m, x0):  # type: ignore[no-untyped-def]
    """Newton start for a crossing of ``sin(elev) = target`` inside [lo, hi] of bracket j.

    Samples the cubic Hermite path at m points and interpolates linearly at the first
    sign change; the midpoint when the path shows none.
    """
    for k in prange(ci.size):
        i, j, s = ci[k], cj[k], cs[k]
        t0 = grid_s[j]
        h = grid_s[j + 1] - t0
        ua, ub = (lo[k] - t0) / h, (hi[k] - t0) / h
        x0[k] = 0.5 * (lo[k] + hi[k])
        prev_u, prev_f = ua, 0.0
        for q in range(m):
            u = ua + (ub - ua) * q / (m - 1)
            se, _ = _hermite_point(r, v, i, j, h, u, sx, up, s)
            f = se - target[k]
            if q > 0 and (prev_f < 0.0) != (f < 0.0):
                x = t0 + h * (prev_u + (u - prev_u) * prev_f / (prev_f - f))
                x0[k] = _quintic_newton(r, v, i, j, t0, h, lo[k], hi[k], x, s, sx, up,
                                        target[k], False)  # fmt: skip
                break
            prev_u, prev_f = u, f


def _take(st: _State, idx: Any) -> _State:
    return _State(st.sinel[idx], st.g[idx], st.gdot[idx], st.az[idx], st.range_m[idx])


def _put(dst: _State, idx: Any, src: _State) -> None:
    dst.sinel[idx], dst.g[idx], dst.gdot[idx] = src.sinel, src.g, src.gdot
    dst.az[idx], dst.range_m[idx] = src.az, src.range_m


def _blank_state(k: int) -> _State:
    return _State(*(np.full(k, np.nan) for _ in range(5)))


@njit(parallel=True, nogil=True, cache=True)
def _below_scan(sinel, sin_low, sat, site, jj, lb, nb):  # type: ignore[no-untyped-def]
    """Last grid index <= jj and first > jj where sin(elev) < sin_low (-1 / T if none)."""
    nt = sinel.shape[2]
    for k in prange(sat.size):
        i, s, j = sat[k], site[k], jj[k]
        thr = sin_low[s]
        q = j
        while q >= 0 and not sinel[i, s, q] < thr:
            q -= 1
        lb[k] = q
        q = j + 1
        while q < nt and not sinel[i, s, q] < thr:
            q += 1
        nb[k] = q


def _hermite_margin_m(cat: Catalog, h_s: float, vmax: FloatArray, m: int) -> FloatArray:
    """Per satellite, how far (m) the true path can be from a Hermite sample point.

    Cubic Hermite interpolation of position over a step h errs by at most
    ``max|d4r/dt4| h^4 / 384`` per axis; in the rotating frame a near-circular orbit has
    ``|d4r/dt4| <= (n + omega_E)^4 r``. We double that (J2, drag, eccentricity up to
    0.05) and add half the travel between samples. Eccentric orbits get no bound (inf):
    they are never screened out, only refined.
    """
    n_rad_s = cat.mean_motion_rev_day * 2 * np.pi / 86_400.0
    ra = cat.semi_major_axis_m * (1 + cat.eccentricity)
    herm = 2.0 * math.sqrt(3.0) * (n_rad_s + EARTH_ROTATION_RAD_S) ** 4 * ra * h_s**4 / 384.0
    out = herm + vmax * h_s / (2 * (m - 1))
    return np.asarray(np.where((cat.eccentricity < 0.05) & np.isfinite(out), out, np.inf))


# --------------------------------------------------------------------------- refinement
def _newton(
    ev: _Evaluator,
    sat: IntArray,
    site: IntArray,
    lo: FloatArray,
    hi: FloatArray,
    x0: FloatArray,
    rising: npt.NDArray[np.bool_],
    target: FloatArray | None,
    tol_s: float,
) -> tuple[FloatArray, _State, FloatArray]:
    """Safeguarded Newton for K roots at once, each bracketed in ``[lo, hi]`` (s).

    ``target`` None: root of ``g = d sin(elev)/dt`` (an extremum; ``rising`` True for a
    minimum, i.e. g goes - to +), Newton slope ``gdot``. Otherwise: root of
    ``sin(elev) - target`` (``rising`` True for a rise), slope ``g``. A Newton step that
    leaves the bracket is replaced by bisection. Stops when the Newton step or the
    bracket is below ``tol_s / 2``. Returns the roots, the states at the last evaluated
    times and those times (within ``tol_s / 2`` of the roots).
    """
    k = sat.size
    lo, hi, x = lo.astype(float).copy(), hi.astype(float).copy(), x0.astype(float).copy()
    out = _blank_state(k)
    xe = x.copy()
    act = np.arange(k)
    sgn = np.where(rising, 1.0, -1.0)
    eps = tol_s / 2.0
    for _ in range(_MAX_ITER):
        if act.size == 0:
            break
        xa = x[act]
        st = ev(sat[act], site[act], xa)
        _put(out, act, st)
        xe[act] = xa
        if target is None:
            f, fp = st.g, st.gdot
        else:
            f, fp = st.sinel - target[act], st.g
        # Past the root (for an increasing function: f > 0) -> move hi; NaN counts as past.
        past = ~(sgn[act] * f < 0)
        hi[act] = np.where(past, xa, hi[act])
        lo[act] = np.where(past, lo[act], xa)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = xa - f / fp
        la, ha = lo[act], hi[act]
        bad = ~np.isfinite(xn) | (xn <= la) | (xn >= ha)
        xn = np.where(bad, 0.5 * (la + ha), xn)
        # A Newton step below tol/2 leaves an error ~ step^2 / (time scale): accept the
        # corrected time (the state is the one just evaluated, tol/2 away at most).
        done = (~bad & (np.abs(xn - xa) < eps)) | (ha - la < eps)
        x[act] = xn
        act = act[~done]
    return x, out, xe


def _polish_extrema(
    ev: _Evaluator,
    sat: IntArray,
    site: IntArray,
    xc: FloatArray,
    stc: _State,
    lo: FloatArray,
    hi: FloatArray,
    tol_s: float,
    maximum: bool,
) -> tuple[FloatArray, _State]:
    """Move extrema to where SGP4 *positions* peak (or bottom out).

    SGP4's velocity is not exactly the derivative of its position (about 1 cm/s in LEO,
    up to m/s for deep-space element sets), so the root of d sin(elev)/dt from the
    velocity can sit seconds away from the highest position when the maximum is flat
    (GTO near apogee, MEO, GEO). Here the slope comes from positions alone: a forward
    difference over ``d`` with ``|d2 sin(elev)/dt2| d^2 / 2 = 1e-9`` (far above rounding
    noise; at least ``tol_s``), corrected for curvature, then a Newton step with the
    model curvature. One extra SGP4 evaluation when the start is already good (LEO);
    iterates until the step is below ``tol_s / 2``. Starts from ``xc`` whose state
    ``stc`` is known; stays inside [lo, hi]. Returns times and their states.
    """
    x = xc.astype(float).copy()
    st = _take(stc, slice(None))
    act = np.arange(x.size)
    for _ in range(10):
        if act.size == 0:
            break
        xa, sc, gd = x[act], st.sinel[act], st.gdot[act]
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.sqrt(2e-9 / np.abs(gd))
        d = np.clip(np.where(np.isfinite(d), d, tol_s), tol_s, 600.0)
        # Step towards the roomier side of the bracket.
        d = np.where(hi[act] - xa >= xa - lo[act], d, -d)
        sd = ev(sat[act], site[act], xa + d).sinel
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (sd - sc) / d - 0.5 * gd * d
            step = -slope / gd
        ok = np.isfinite(step) & ((gd < 0) if maximum else (gd > 0))
        xn = np.clip(xa + np.where(ok, step, 0.0), lo[act], hi[act])
        done = ~ok | (np.abs(xn - xa) < tol_s / 2)
        x[act[done]] = xn[done]  # within tol/2 of the evaluated state
        move = act[~done]
        x[move] = xn[~done]
        _put(st, move, ev(sat[move], site[move], x[move]))
        act = move
    return x, st


# --------------------------------------------------------------------------- main
def auto_coarse_step_s(catalog: Catalog) -> float:
    """Default coarse step (s): the shortest perigee period in the catalog / 12.

    The perigee period ``2 pi / (n (1+e)^2 / (1-e^2)^1.5)`` is the time a satellite
    would take around the Earth at its fastest angular rate; for LEO it is the period.
    """
    n = np.asarray(catalog.mean_motion_rev_day, dtype=float)
    e = np.clip(np.asarray(catalog.eccentricity, dtype=float), 0.0, 0.99)
    ok = np.isfinite(n) & (n > 0)
    if not np.any(ok):
        return _MAX_COARSE_STEP_S
    rate = n[ok] * (1 + e[ok]) ** 2 / (1 - e[ok] ** 2) ** 1.5  # rev/day at perigee
    period_s = 86_400.0 / float(rate.max())
    return float(min(_MAX_COARSE_STEP_S, period_s / COARSE_STEPS_PER_PERIOD))


def _speed_bound_m_s(cat: Catalog) -> FloatArray:
    """Upper bound of each satellite's speed in ITRF: vis-viva at perigee + Earth rotation."""
    a = cat.semi_major_axis_m
    e = np.clip(cat.eccentricity, 0.0, 0.99)
    vp = np.sqrt(_GM_WGS72_M3_S2 * (1 + e) / (a * (1 - e)))
    ra = a * (1 + e)
    # 10 % margin: osculating vs mean elements, drag over the window.
    out = 1.1 * (vp + EARTH_ROTATION_RAD_S * ra)
    return np.where(np.isfinite(out), out, 12_000.0)


def find_passes(
    catalog: Catalog,
    sites_lat_deg: Any,
    sites_lon_deg: Any,
    sites_alt_m: Any = 0.0,
    *,
    start_utc: Any,
    end_utc: Any,
    min_elev_deg: float = 10.0,
    horizon: _MaskLike | Sequence[_MaskLike | None] | None = None,
    tol_s: float = 0.1,
    coarse_step_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "auto",
    terrain_step_s: float = 2.0,
) -> Passes:
    """Rise / culmination / set of every satellite over every site in ``[start, end]``.

    Sites are WGS84 geodetic (deg, deg, m; scalars or arrays broadcast together).
    ``min_elev_deg`` is the flat elevation mask; ``horizon`` an optional terrain mask
    (any object with ``min_elev_rad(az_rad)``, e.g. :class:`kongtian.geo.terrain.HorizonMask`),
    one for all sites or a list with one per site (None entries allowed); the effective
    mask is the larger of the two. Times are refined to ``tol_s`` seconds.
    ``coarse_step_s`` overrides the automatic coarse step (:func:`auto_coarse_step_s`);
    a larger step risks missing passes. ``terrain_step_s`` is the sampling step of
    ``elev - mask(az)`` inside each pass under a terrain mask: a visible gap in the
    ridge shorter than that can be missed. ``progress(done, total)`` is called with
    satellite counts. ``engine`` is passed to the propagator.

    Raises :class:`~kongtian.errors.ConfigError` for an empty or reversed window, a mask
    outside [-90, 90] deg, non-positive tolerances or steps, bad sites or masks.
    See the module docstring for the conventions at the window edges.
    """
    t0 = _utc_scalar(start_utc, "start_utc")
    t1 = _utc_scalar(end_utc, "end_utc")
    if not t1 > t0:
        raise ConfigError(f"end {t1} is not after start {t0}", option="end_utc")
    try:
        eps_deg = float(min_elev_deg)
    except (TypeError, ValueError):
        raise ConfigError(f"not a number: {min_elev_deg!r}", option="min_elev_deg") from None
    if not (math.isfinite(eps_deg) and -90.0 <= eps_deg <= 90.0):
        raise ConfigError(f"must be in [-90, 90] deg, got {min_elev_deg!r}",
                          option="min_elev_deg")  # fmt: skip
    for name, val in (("tol_s", tol_s), ("terrain_step_s", terrain_step_s),
                      ("coarse_step_s", coarse_step_s)):  # fmt: skip
        if val is None and name == "coarse_step_s":
            continue
        number = isinstance(val, numbers.Real) and not isinstance(val, bool)
        if not (number and 0 < float(val) < math.inf):  # type: ignore[arg-type]
            raise ConfigError(f"must be a positive number of seconds, got {val!r}", option=name)
    try:
        lat, lon, alt = (np.atleast_1d(np.asarray(a, dtype=np.float64)).ravel() for a in
                         np.broadcast_arrays(sites_lat_deg, sites_lon_deg, sites_alt_m))  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"sites: {exc}", option="sites") from None
    if lat.size == 0:
        raise ConfigError("no sites given", option="sites")
    if not (np.all(np.isfinite(lat) & (np.abs(lat) <= 90.0)) and np.all(np.isfinite(lon))
            and np.all(np.isfinite(alt))):  # fmt: skip
        raise ConfigError("site latitudes must be in [-90, 90] deg, longitudes and heights "
                          "finite", option="sites")  # fmt: skip
    sites = _make_sites(lat, lon, alt, math.radians(eps_deg), horizon)

    n = len(catalog)
    dur_s = (t1 - t0).astype("timedelta64[ns]").astype(np.int64) / 1e9
    step = float(coarse_step_s) if coarse_step_s is not None else auto_coarse_step_s(catalog)
    if n == 0:
        return _empty_passes(len(sites), step)
    nt = max(2, int(math.ceil(dur_s / step - 1e-9)) + 1)
    grid_s = np.linspace(0.0, dur_s, nt)
    grid_t = t0 + np.round(grid_s * 1e9).astype("timedelta64[ns]")
    # r, v (6), error (1) and per site sin(elev), its rate and the candidate flags (3).
    chunk = int(max(1, _MAX_GRID_ELEMENTS // (nt * (7 + 3 * len(sites)))))
    parts: list[dict[str, Any]] = []
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        part = catalog if (a, b) == (0, n) else catalog[a:b]  # same object: kernel caches hit
        res = _search_chunk(part, sites, t0, grid_s, grid_t, tol_s, terrain_step_s, engine)
        res["sat"] = res["sat"] + a
        parts.append(res)
        if progress is not None:
            progress(b, n)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _assemble(catalog, cols, t0, len(sites), step)


def _utc_scalar(value: Any, option: str) -> np.datetime64:
    try:
        t = as_utc(value)
    except ConfigError as exc:
        raise ConfigError(str(exc), option=option) from None
    t = np.asarray(t)
    if t.size != 1 or np.isnat(t.reshape(-1)[0]):
        raise ConfigError(f"need one UTC time, got {value!r}", option=option)
    return np.datetime64(t.reshape(-1)[0], "ns")


def _search_chunk(
    cat: Catalog,
    sites: _Sites,
    t0: np.datetime64,
    grid_s: FloatArray,
    grid_t: npt.NDArray[np.datetime64],
    tol_s: float,
    terrain_step_s: float,
    engine: str,
) -> dict[str, Any]:
    n, nt, ns = len(cat), grid_s.size, len(sites)
    eph = propagate(cat, grid_t, frame="teme", engine=engine)
    r, v = np.ascontiguousarray(eph.r_m), np.ascontiguousarray(eph.v_m_s)
    valid = (eph.error == 0) & np.all(np.isfinite(r), axis=-1)  # (n, T)
    del eph
    _teme_to_pef_kernel(r, v, gmst82_rad(grid_t))  # in place, fused (no (n, T, 3) copies)
    sin_low = np.sin(sites.eps_low)  # (S,)
    vmax = _speed_bound_m_s(cat)
    h = np.diff(grid_s)
    sinel = np.empty((n, ns, nt))
    g = np.empty((n, ns, nt))
    cand = np.zeros((n, ns, nt - 1), dtype=np.bool_)
    _coarse_kernel(r, v, valid, sites.ecef, sites.up, sites.eps_low,
                   vmax[:, None] * h[None, :], sinel, g, cand)  # fmt: skip

    # ---- candidate maxima: g goes + -> - in [j, j+1]; screen them on the Hermite path.
    ci, cs, cj = np.nonzero(cand)  # satellite, site, bracket
    del cand
    delta = _hermite_margin_m(cat, float(h.max()), vmax, _HERMITE_SAMPLES)[ci]
    ub = np.empty(ci.size)
    x0 = np.empty(ci.size)
    _hermite_max(r, v, ci, cj, cs, grid_s, sites.ecef, sites.up, delta, _HERMITE_SAMPLES, ub, x0)
    keep = ub > sin_low[cs]
    ci, cs, cj, x0 = ci[keep], cs[keep], cj[keep], x0[keep]
    ev = _Evaluator(cat, sites, t0, engine)
    _, stm, xm = _newton(ev, ci, cs, grid_s[cj], grid_s[cj + 1], x0,
                         np.zeros(ci.size, bool), None, tol_s)  # fmt: skip
    keep = stm.sinel > sin_low[cs]
    ci, cj, cs, xm, stm = ci[keep], cj[keep], cs[keep], xm[keep], _take(stm, keep)
    # Velocity-based signs can be wrong within ~1 s of a very flat maximum: let the
    # position-based polish reach into the neighbouring coarse steps.
    xm, stm = _polish_extrema(ev, ci, cs, xm, stm, grid_s[np.maximum(cj - 1, 0)],
                              grid_s[np.minimum(cj + 2, nt - 1)], tol_s, True)  # fmt: skip
    cj = np.clip(np.searchsorted(grid_s, xm, side="right") - 1, 0, nt - 2)  # may have moved

    # ---- maxima on the window edges: above the mask and sloping out of the window.
    with np.errstate(invalid="ignore"):
        e0 = (sinel[:, :, 0] >= sin_low) & (g[:, :, 0] <= 0)
        e1 = (sinel[:, :, -1] >= sin_low) & (g[:, :, -1] >= 0)
    s0i, s0s = np.nonzero(e0)
    s1i, s1s = np.nonzero(e1)
    sat = np.concatenate([ci, s0i, s1i])
    site = np.concatenate([cs, s0s, s1s])
    jj = np.concatenate([cj, np.zeros(s0i.size, np.int64), np.full(s1i.size, nt - 1)])
    xmax = np.concatenate([xm, np.zeros(s0i.size), np.full(s1i.size, grid_s[-1])])
    edge_st = ev(np.concatenate([s0i, s1i]), np.concatenate([s0s, s1s]),
                 np.concatenate([np.zeros(s0i.size), np.full(s1i.size, grid_s[-1])]))  # fmt: skip
    smax = _State(*(np.concatenate([getattr(stm, f), getattr(edge_st, f)])
                    for f in ("sinel", "g", "gdot", "az", "range_m")))  # fmt: skip
    order = np.lexsort((xmax, site, sat))
    sat, site, jj, xmax, smax = sat[order], site[order], jj[order], xmax[order], _take(smax, order)
    m = sat.size

    # ---- nearest below-mask sample before / after each maximum (SGP4 errors count).
    lb = np.empty(m, np.int64)
    nb = np.empty(m, np.int64)
    _below_scan(sinel, sin_low, sat, site, jj, lb, nb)

    # ---- consecutive maxima with no below-mask sample between them: find the minimum.
    same = np.zeros(m, bool)  # maximum k is in the same above-mask stretch as k-1
    split_x = np.full(m, np.nan)  # time of the below-mask minimum between k-1 and k
    if m > 1:
        link = (sat[1:] == sat[:-1]) & (site[1:] == site[:-1]) & (lb[1:] == lb[:-1])
        k = np.flatnonzero(link) + 1
        if k.size:
            xmin, smin, found = _minima_between(ev, g, grid_s, sat, site, jj, xmax, k, tol_s)
            dip = found & (smin.sinel <= sin_low[site[k]])
            same[k[~dip]] = True
            split_x[k[dip]] = xmin[dip]

    # ---- group maxima into passes; culmination = highest maximum of the group.
    if m == 0:
        return {k: np.array([], dtype=np.int64 if k in ("sat", "site") else np.float64)
                for k in _RESULT_KEYS}  # fmt: skip
    first = ~same
    gid = np.cumsum(first) - 1
    ordr = np.lexsort((-smax.sinel, gid))  # by group, highest first
    best = ordr[np.unique(gid[ordr], return_index=True)[1]]
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], m) - 1
    p_sat, p_site = sat[starts], site[starts]
    cul_x, cul = xmax[best], _take(smax, best)

    # Rise bracket (from the group's first maximum) and set bracket (from its last).
    f_j, f_lb, f_x = jj[starts], lb[starts], xmax[starts]
    l_j, l_nb, l_x = jj[ends], nb[ends], xmax[ends]
    r_split = split_x[starts]
    s_split = np.append(split_x[1:], np.nan)[ends]
    has_rise = np.isfinite(r_split) | (f_lb >= 0)
    r_lo = np.where(np.isfinite(r_split), r_split, grid_s[np.maximum(f_lb, 0)])
    r_hi = np.where(np.isfinite(r_split) | (f_lb == f_j), f_x,
                    grid_s[np.minimum(f_lb + 1, nt - 1)])  # fmt: skip
    has_set = np.isfinite(s_split) | (l_nb < nt)
    s_hi = np.where(np.isfinite(s_split), s_split, grid_s[np.minimum(l_nb, nt - 1)])
    s_lo = np.where(np.isfinite(s_split) | (l_nb == l_j + 1), l_x,
                    grid_s[np.clip(l_nb - 1, 0, nt - 1)])  # fmt: skip

    ri, si = np.flatnonzero(has_rise), np.flatnonzero(has_set)
    bsat = np.concatenate([p_sat[ri], p_sat[si]])
    bsite = np.concatenate([p_site[ri], p_site[si]])
    blo = np.concatenate([r_lo[ri], s_lo[si]])
    bhi = np.concatenate([r_hi[ri], s_hi[si]])
    rising = np.concatenate([np.ones(ri.size, bool), np.zeros(si.size, bool)])
    # Newton starts from the Hermite path of the coarse bracket holding [lo, hi].
    bj = np.clip(np.searchsorted(grid_s, blo, side="right") - 1, 0, nt - 2)
    inside = bhi <= grid_s[bj + 1] + 1e-6
    xb0 = 0.5 * (blo + bhi)
    q = np.flatnonzero(inside)
    xq = np.empty(q.size)
    _hermite_cross(r, v, bsat[q], bj[q], bsite[q], grid_s, sites.ecef, sites.up, blo[q],
                   np.minimum(bhi[q], grid_s[bj[q] + 1]), sin_low[bsite[q]], _HERMITE_SAMPLES,
                   xq)  # fmt: skip
    xb0[q] = xq
    xb, stb, _ = _newton(ev, bsat, bsite, blo, bhi, xb0, rising, sin_low[bsite], tol_s)
    npass = starts.size
    rise_x, set_x = np.full(npass, np.nan), np.full(npass, np.nan)
    rise_az, set_az = np.full(npass, np.nan), np.full(npass, np.nan)
    rise_x[ri], rise_az[ri] = xb[: ri.size], stb.az[: ri.size]
    set_x[si], set_az[si] = xb[ri.size :], stb.az[ri.size :]

    res = {
        "sat": p_sat, "site": p_site, "rise_x": rise_x, "cul_x": cul_x, "set_x": set_x,
        "max_elev": cul.elev, "rise_az": rise_az, "set_az": set_az, "cul_range": cul.range_m,
    }  # fmt: skip
    if any(m_ is not None for m_ in sites.terrain):
        res = _apply_terrain(ev, sites, res, grid_s[-1], tol_s, terrain_step_s)
    return res


def _minima_between(
    ev: _Evaluator,
    g: FloatArray,
    grid_s: FloatArray,
    sat: IntArray,
    site: IntArray,
    jj: IntArray,
    xmax: FloatArray,
    k: IntArray,
    tol_s: float,
) -> tuple[FloatArray, _State, npt.NDArray[np.bool_]]:
    """Refine the elevation minimum between maxima k-1 and k (same satellite and site)."""
    nt = grid_s.size
    j_prev, j_cur = jj[k - 1], jj[k]
    # First sample after the previous maximum where elevation rises again (g > 0).
    cnt = np.maximum(j_cur - j_prev, 0)
    off = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rows = np.repeat(np.arange(k.size), cnt)
    cols = np.repeat(j_prev + 1, cnt) + off
    cols = np.minimum(cols, nt - 1)
    with np.errstate(invalid="ignore"):
        rise_here = g[sat[k][rows], site[k][rows], cols] > 0
    first_up = np.full(k.size, -1)
    hit_rows = rows[rise_here]
    hit_cols = cols[rise_here]
    # rows are in ascending order; keep the first hit per row
    uniq, pos = np.unique(hit_rows, return_index=True)
    first_up[uniq] = hit_cols[pos]
    found = first_up > 0
    lo = np.where(found, np.maximum(xmax[k - 1], grid_s[np.maximum(first_up - 1, 0)]), 0.0)
    hi = np.where(found, np.minimum(xmax[k], grid_s[np.maximum(first_up, 0)]), 1.0)
    hi = np.maximum(hi, lo)
    xmin = np.full(k.size, np.nan)
    smin = _blank_state(k.size)
    f = np.flatnonzero(found)
    if f.size:
        _, st, x = _newton(ev, sat[k][f], site[k][f], lo[f], hi[f], 0.5 * (lo[f] + hi[f]),
                           np.ones(f.size, bool), None, tol_s)  # fmt: skip
        x, st = _polish_extrema(ev, sat[k][f], site[k][f], x, st, lo[f], hi[f], tol_s, False)
        xmin[f] = x
        _put(smin, f, st)
    return xmin, smin, found


def _apply_terrain(
    ev: _Evaluator,
    sites: _Sites,
    res: dict[str, Any],
    end_s: float,
    tol_s: float,
    step_s: float,
) -> dict[str, Any]:
    """Split each pass of a terrain-masked site into its intervals above ``m(az)``."""
    ter = np.array([m is not None for m in sites.terrain])
    affected = ter[res["site"]]
    out = {k: v[~affected] for k, v in res.items()}
    idx = np.flatnonzero(affected)
    if idx.size == 0:
        return out
    sat, site = res["sat"][idx], res["site"][idx]
    a = np.where(np.isnan(res["rise_x"][idx]), 0.0, res["rise_x"][idx])
    b = np.where(np.isnan(res["set_x"][idx]), end_s, res["set_x"][idx])
    cul_x = res["cul_x"][idx]
    # Ragged fine grid a, a+step, ..., b for every pass.
    cnt = np.maximum(2, np.ceil((b - a) / step_s).astype(np.int64) + 1)
    p = np.repeat(np.arange(idx.size), cnt)
    off = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    x = np.minimum(a[p] + off * ((b - a) / (cnt - 1))[p], b[p])
    st = ev(sat[p], site[p], x)
    clear = st.elev - sites.mask_rad(site[p], st.az)
    vis = clear > 0
    # Runs of visible samples within each pass.
    same_pass = np.append(p[1:] == p[:-1], False)
    prev_same = np.insert(p[1:] == p[:-1], 0, False)
    start_run = vis & ~(prev_same & np.insert(vis[:-1], 0, False))
    end_run = vis & ~(same_pass & np.append(vis[1:], False))
    rs, re_ = np.flatnonzero(start_run), np.flatnonzero(end_run)
    q = p[rs]
    # A run starting at the pass's first sample keeps the coarse rise (or NaT at the
    # window start); otherwise the crossing lies between the previous sample and it.
    at_first = off[rs] == 0
    at_last = off[re_] == cnt[q] - 1
    n_r = rs.size
    need_r = np.flatnonzero(~at_first)
    need_s = np.flatnonzero(~at_last)
    b_lo = np.concatenate([x[rs[need_r] - 1], x[re_[need_s]]])
    b_hi = np.concatenate([x[rs[need_r]], x[re_[need_s] + 1]])
    b_up = np.concatenate([np.ones(need_r.size, bool), np.zeros(need_s.size, bool)])
    b_run = np.concatenate([need_r, need_s])
    xb, stb = _bisect_clearance(ev, sites, sat[q[b_run]], site[q[b_run]], b_lo, b_hi, b_up,
                                tol_s)  # fmt: skip
    # One spare NaN entry so that runs without a bisection can index something.
    stb_el = np.append(stb.elev, np.nan)
    stb_rg = np.append(stb.range_m, np.nan)
    rise_x = np.where(at_first, res["rise_x"][idx][q], np.nan)
    rise_az = np.where(at_first, res["rise_az"][idx][q], np.nan)
    set_x = np.where(at_last, res["set_x"][idx][q], np.nan)
    set_az = np.where(at_last, res["set_az"][idx][q], np.nan)
    rise_x[need_r], rise_az[need_r] = xb[: need_r.size], stb.az[: need_r.size]
    set_x[need_s], set_az[need_s] = xb[need_r.size :], stb.az[need_r.size :]
    sel_r = np.zeros(n_r, np.int64)  # index into the bisection output for each run end
    sel_r[need_r] = np.arange(need_r.size)
    sel_s = np.zeros(n_r, np.int64)
    sel_s[need_s] = need_r.size + np.arange(need_s.size)
    # Culmination: the elevation maximum if inside the run, else the run end nearer to it.
    lo_x = np.where(np.isnan(rise_x), a[q], rise_x)
    hi_x = np.where(np.isnan(set_x), b[q], set_x)
    c = cul_x[q]
    inside = (c >= lo_x) & (c <= hi_x)
    cul_run = np.where(inside, c, np.where(c < lo_x, lo_x, hi_x))
    max_elev = np.where(inside, res["max_elev"][idx][q], np.nan)
    cul_range = np.where(inside, res["cul_range"][idx][q], np.nan)
    # Ends: elevation and range from the bisection result or the fine sample there.
    use_lo = ~inside & (c < lo_x)
    use_hi = ~inside & ~use_lo
    sel_r[at_first] = -1
    sel_s[at_last] = -1
    lo_el = np.where(at_first, st.elev[rs], stb_el[sel_r])
    lo_rg = np.where(at_first, st.range_m[rs], stb_rg[sel_r])
    hi_el = np.where(at_last, st.elev[re_], stb_el[sel_s])
    hi_rg = np.where(at_last, st.range_m[re_], stb_rg[sel_s])
    max_elev = np.where(use_lo, lo_el, np.where(use_hi, hi_el, max_elev))
    cul_range = np.where(use_lo, lo_rg, np.where(use_hi, hi_rg, cul_range))
    new = {
        "sat": sat[q], "site": site[q], "rise_x": rise_x, "cul_x": cul_run, "set_x": set_x,
        "max_elev": max_elev, "rise_az": rise_az, "set_az": set_az, "cul_range": cul_range,
    }  # fmt: skip
    return {k: np.concatenate([out[k], new[k]]) for k in out}


def _bisect_clearance(
    ev: _Evaluator,
    sites: _Sites,
    sat: IntArray,
    site: IntArray,
    lo: FloatArray,
    hi: FloatArray,
    up: npt.NDArray[np.bool_],
    tol_s: float,
) -> tuple[FloatArray, _State]:
    """Bisect ``elev - m(az) = 0`` (not smooth: the mask has kinks) to ``tol_s / 2``."""
    lo, hi = lo.copy(), hi.copy()
    if lo.size == 0:
        return lo, _blank_state(0)
    while True:
        act = np.flatnonzero(hi - lo > tol_s / 2)
        if act.size == 0:
            break
        mid = 0.5 * (lo[act] + hi[act])
        st = ev(sat[act], site[act], mid)
        vis = st.elev - sites.mask_rad(site[act], st.az) > 0
        # For a rise, visible at mid -> the crossing is earlier.
        go_lo = vis == up[act]
        hi[act] = np.where(go_lo, mid, hi[act])
        lo[act] = np.where(go_lo, lo[act], mid)
    x = 0.5 * (lo + hi)
    return x, ev(sat, site, x)


def _assemble(cat: Catalog, cols: dict[str, Any], t0: np.datetime64, n_sites: int,
              step: float) -> Passes:  # fmt: skip
    def to_t(x: FloatArray) -> npt.NDArray[np.datetime64]:
        out = np.full(x.size, np.datetime64("NaT"), dtype="datetime64[ns]")
        ok = np.isfinite(x)
        out[ok] = t0 + np.round(x[ok] * 1e9).astype("timedelta64[ns]")
        return out

    # Rise time; passes already in progress at the start (no rise) first, by culmination.
    key = np.where(np.isnan(cols["rise_x"]), -1.0, cols["rise_x"])
    sat = cols["sat"].astype(np.int64)
    order = np.lexsort((cat.norad_id[sat], cols["cul_x"], key, cols["site"]))
    c = {k: v[order] for k, v in cols.items()}
    sat = sat[order]
    return Passes(
        sat_index=sat,
        norad_id=np.asarray(cat.norad_id[sat], dtype=np.int64),
        site_index=c["site"].astype(np.int64),
        rise_utc=to_t(c["rise_x"]),
        culminate_utc=to_t(c["cul_x"]),
        set_utc=to_t(c["set_x"]),
        max_elev_deg=np.degrees(c["max_elev"]),
        rise_az_deg=np.degrees(c["rise_az"]),
        set_az_deg=np.degrees(c["set_az"]),
        culminate_range_m=c["cul_range"],
        n_sites=n_sites,
        coarse_step_s=step,
    )


__all__ = ["CSV_HEADER", "Passes", "auto_coarse_step_s", "find_passes"]
