"""Serving satellite and handovers for ground terminals, with link geometry per step.

For each terminal and time step every satellite above the mask (elevation above the
geodetic horizon >= ``min_elev_deg``, and above the terrain horizon where one is given)
is a candidate; a *policy* picks the serving one:

- ``"max_elevation"``: the highest satellite at each step. With ``hysteresis_deg`` the
  current satellite is kept while it is visible and the best exceeds it by no more
  than that.
- ``"min_range"``: the nearest satellite at each step (``hysteresis_m`` likewise).
- ``"longest_visibility"``: keep the current satellite while it stays visible; when it
  is lost (or at the start, or after an outage) take the visible satellite whose
  remaining visibility is the longest (ties: higher elevation). Remaining visibility
  looks ahead only to the end of the window.

A *handover* is a step at which the serving satellite differs from the one at the
previous step, both being satellites (not an outage). Serving intervals are maximal runs
of steps with the same serving satellite; their ``duration_s`` is ``n_steps * step_s``.
Geometry is ITRF with the terminal fixed to the Earth; range rate uses the satellite's
ITRF velocity; Doppler ``-f_c * range_rate / c``; delay ``range / c`` (vacuum).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.time import iso_utc, time_grid
from kongtian.space.catalog import Catalog
from kongtian.space.coverage import (
    _DEFAULT_SCREEN_STEP_S,
    _check_elev,
    _horizon_list,
    _site_visibility,
    candidate_pairs,
    point_set,
)
from kongtian.space.links import doppler_hz, one_way_delay_s

POLICIES = ("max_elevation", "min_range", "longest_visibility")
_POLICY_CODE = {name: i for i, name in enumerate(POLICIES)}


def _sites(
    sites: Any,
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Accept Site-like objects or a (names, lat_deg, lon_deg, alt_m) tuple."""
    if isinstance(sites, tuple) and len(sites) in (3, 4) and not hasattr(sites[0], "lat_deg"):
        names = [str(x) for x in np.atleast_1d(sites[0])]
        lat = np.atleast_1d(np.asarray(sites[1], float))
        lon = np.atleast_1d(np.asarray(sites[2], float))
        alt = np.broadcast_to(np.asarray(sites[3] if len(sites) == 4 else 0.0, float), lat.shape)
    else:
        seq = [sites] if hasattr(sites, "lat_deg") else list(sites)
        if not seq or not all(hasattr(s, "lat_deg") and hasattr(s, "lon_deg") for s in seq):
            raise ConfigError(
                "give Site objects or (names, lat_deg, lon_deg, alt_m)", option="sites"
            )
        names = [str(getattr(s, "name", f"site-{i}")) for i, s in enumerate(seq)]
        lat = np.array([s.lat_deg for s in seq], float)
        lon = np.array([s.lon_deg for s in seq], float)
        alt = np.array([getattr(s, "alt_m", 0.0) for s in seq], float)
    if not (len(names) == lat.size == lon.size):
        raise ConfigError("names, lat_deg and lon_deg must have the same length", option="sites")
    return names, lat, lon, np.asarray(alt, float).copy()


def remaining_steps(
    t_idx: npt.NDArray[np.int64], sat: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """For visibility entries (step, satellite), the number of further consecutive steps
    the same satellite stays visible (0 on its last visible step)."""
    if t_idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((t_idx, sat))
    ts, ss = t_idx[order], sat[order]
    new_run = np.r_[True, (ss[1:] != ss[:-1]) | (ts[1:] != ts[:-1] + 1)]
    run_id = np.cumsum(new_run) - 1
    run_end = np.zeros(run_id[-1] + 1, dtype=np.int64)
    np.maximum.at(run_end, run_id, ts)
    out = np.empty_like(t_idx)
    out[order] = run_end[run_id] - ts
    return out


@nb.njit(cache=True)
def _select(t_off, sat, el, rng, remain, policy, hyst_el, hyst_m):  # pragma: no cover - compiled
    nt = t_off.size - 1
    chosen = np.full(nt, -1, dtype=np.int64)
    cur = -1  # serving satellite (catalog index) at the previous step
    for t in range(nt):
        a, b = t_off[t], t_off[t + 1]
        if a == b:
            cur = -1
            continue
        cur_q = -1
        for q in range(a, b):
            if sat[q] == cur:
                cur_q = q
        if policy == 2:  # longest remaining visibility, sticky
            if cur_q >= 0:
                chosen[t] = cur_q
                continue
            best = a
            for q in range(a + 1, b):
                if remain[q] > remain[best] or (remain[q] == remain[best] and el[q] > el[best]):
                    best = q
        elif policy == 0:
            best = a
            for q in range(a + 1, b):
                if el[q] > el[best]:
                    best = q
            if cur_q >= 0 and el[best] - el[cur_q] <= hyst_el:
                best = cur_q
        else:
            best = a
            for q in range(a + 1, b):
                if rng[q] < rng[best]:
                    best = q
            if cur_q >= 0 and rng[cur_q] - rng[best] <= hyst_m:
                best = cur_q
        chosen[t] = best
        cur = sat[best]
    return chosen


def serving_timeline(
    catalog: Catalog,
    sites: Any,
    *,
    start_utc: Any,
    duration_s: float,
    step_s: float,
    min_elev_deg: float,
    policy: str = "max_elevation",
    hysteresis_deg: float = 0.0,
    hysteresis_m: float = 0.0,
    carrier_hz: float | None = None,
    horizon: Any = None,
    screen_step_s: float | str | None = _DEFAULT_SCREEN_STEP_S,
    engine: str = "auto",
) -> Any:
    """Serving satellite per terminal and step under ``policy`` (see the module docstring).

    ``sites``: Site-like objects (``name``, ``lat_deg``, ``lon_deg``, ``alt_m``) or a tuple
    ``(names, lat_deg, lon_deg, alt_m)``. ``horizon``: one terrain mask for all sites or
    one per site. Returns an ``xarray.Dataset`` with dims (site, time):
    ``serving_norad`` (-1 when none), ``serving_index`` (catalog index, -1),
    ``elevation_deg``, ``azimuth_deg``, ``range_m``, ``delay_s``, ``range_rate_m_s``,
    ``doppler_hz`` (with ``carrier_hz``), ``n_visible``; per site ``handover_count``,
    ``n_outages``, ``outage_s``, ``mean_serving_s``; and the serving intervals on dim
    ``interval`` (``interval_site``, ``interval_norad``, ``interval_start_utc``,
    ``interval_end_utc``, ``interval_duration_s``, ``interval_max_elevation_deg``).
    """
    import xarray as xr

    if policy not in _POLICY_CODE:
        raise ConfigError(f"unknown policy {policy!r} ({', '.join(POLICIES)})", option="policy")
    _check_elev(min_elev_deg)
    if hysteresis_deg < 0 or hysteresis_m < 0:
        raise ConfigError("must be >= 0", option="hysteresis")
    if carrier_hz is not None and not carrier_hz > 0:
        raise ConfigError("must be a positive frequency in Hz", option="carrier_hz")
    if duration_s < step_s:
        raise ConfigError("must be at least one step", option="duration")
    names, lat, lon, alt = _sites(sites)
    times = time_grid(start_utc, duration_s, step_s)
    nt, ns = times.size, len(names)
    pts = point_set(lat, lon, alt)
    hz = _horizon_list(horizon, ns)
    eps = math.radians(min_elev_deg)
    acc: list[list[tuple[Any, ...]]] = [[] for _ in range(ns)]
    for pr in candidate_pairs(catalog, times, pts, eps, screen_step_s=screen_step_s, engine=engine):
        for p in range(ns):
            sel, el, az, rng, rr = _site_visibility(pr, pts, p, eps, hz[p])
            t_of = pr.i0 + np.searchsorted(pr.t_off, sel, side="right") - 1
            acc[p].append((t_of, pr.sat[sel], el, az, rng, rr))
    shape = (ns, nt)
    out = {
        "serving_index": np.full(shape, -1, dtype=np.int64),
        "serving_norad": np.full(shape, -1, dtype=np.int64),
        "elevation_deg": np.full(shape, np.nan),
        "azimuth_deg": np.full(shape, np.nan),
        "range_m": np.full(shape, np.nan),
        "range_rate_m_s": np.full(shape, np.nan),
        "n_visible": np.zeros(shape, dtype=np.int16),
    }
    ivals: list[tuple[int, int, int, int, float]] = []
    for p in range(ns):
        cols = (
            [np.concatenate(c) for c in zip(*acc[p], strict=True)] if acc[p] else [np.zeros(0)] * 6
        )
        t_idx = cols[0].astype(np.int64)
        sat = cols[1].astype(np.int64)
        el, az, rng, rr = cols[2:]
        t_off = np.searchsorted(t_idx, np.arange(nt + 1)).astype(np.int64)
        out["n_visible"][p] = np.diff(t_off)
        chosen = _select(t_off, sat, el, rng, remaining_steps(t_idx, sat), _POLICY_CODE[policy],
                         math.radians(hysteresis_deg), float(hysteresis_m))  # fmt: skip
        has = chosen >= 0
        q = chosen[has]
        out["serving_index"][p, has] = sat[q]
        out["serving_norad"][p, has] = catalog.norad_id[sat[q]]
        out["elevation_deg"][p, has] = np.degrees(el[q])
        out["azimuth_deg"][p, has] = np.degrees(az[q])
        out["range_m"][p, has] = rng[q]
        out["range_rate_m_s"][p, has] = rr[q]
        ivals.extend(_intervals(p, out["serving_index"][p], out["elevation_deg"][p]))
    serving = out["serving_index"]
    prev, nxt = serving[:, :-1], serving[:, 1:]
    handovers = np.sum((prev >= 0) & (nxt >= 0) & (prev != nxt), axis=1)
    none = serving < 0
    n_out = np.sum(none[:, 1:] & ~none[:, :-1], axis=1) + none[:, 0]
    iv = np.array(ivals, dtype=float).reshape(-1, 5)
    iv_site = iv[:, 0].astype(np.int64)
    iv_len = iv[:, 3] - iv[:, 2] + 1
    mean_serving = np.array([iv_len[iv_site == p].mean() * step_s if np.any(iv_site == p) else 0.0
                             for p in range(ns)])  # fmt: skip
    data: dict[str, Any] = {
        "serving_index": (("site", "time"), serving, {"long_name": "catalog index, -1 = none"}),
        "serving_norad": (("site", "time"), out["serving_norad"], {"long_name": "NORAD id, -1 = none"}),
        "elevation_deg": (("site", "time"), out["elevation_deg"], {"units": "degree"}),
        "azimuth_deg": (("site", "time"), out["azimuth_deg"], {"units": "degree"}),
        "range_m": (("site", "time"), out["range_m"], {"units": "m"}),
        "delay_s": (("site", "time"), one_way_delay_s(out["range_m"]), {"units": "s", "long_name": "one-way delay"}),
        "range_rate_m_s": (("site", "time"), out["range_rate_m_s"], {"units": "m s-1"}),
        "n_visible": (("site", "time"), out["n_visible"], {"units": "1"}),
        "handover_count": (("site",), handovers.astype(np.int64)),
        "n_outages": (("site",), n_out.astype(np.int64)),
        "outage_s": (("site",), _outage_time(none, step_s), {"units": "s"}),
        "mean_serving_s": (("site",), mean_serving, {"units": "s"}),
        "interval_site": (("interval",), iv_site),
        "interval_norad": (("interval",), catalog.norad_id[iv[:, 1].astype(np.int64)] if len(iv) else np.zeros(0, np.int64)),
        "interval_start_utc": (("interval",), times[iv[:, 2].astype(np.int64)] if len(iv) else times[:0]),
        "interval_end_utc": (("interval",), times[iv[:, 3].astype(np.int64)] if len(iv) else times[:0]),
        "interval_duration_s": (("interval",), iv_len * step_s, {"units": "s"}),
        "interval_max_elevation_deg": (("interval",), iv[:, 4], {"units": "degree"}),
    }  # fmt: skip
    if carrier_hz is not None:
        data["doppler_hz"] = (
            ("site", "time"),
            doppler_hz(carrier_hz, out["range_rate_m_s"]),
            {"units": "Hz"},
        )
    coords = {
        "site": ("site", np.asarray(names, dtype=str)),
        "time": ("time", times),
        "lat_deg": ("site", lat, {"units": "degrees_north"}),
        "lon_deg": ("site", lon, {"units": "degrees_east"}),
        "alt_m": ("site", alt, {"units": "m"}),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({
        "title": "Kongtian serving satellite timeline",
        "policy": policy,
        "hysteresis_deg": float(hysteresis_deg),
        "hysteresis_m": float(hysteresis_m),
        "min_elev_deg": float(min_elev_deg),
        "step_s": float(step_s),
        "start_utc": str(iso_utc(times[0], 0)[0]),
        "carrier_hz": float(carrier_hz) if carrier_hz is not None else 0.0,
        "n_satellites": len(catalog),
        "terrain_horizon": int(horizon is not None),
        "handover": "change of serving satellite between consecutive steps, outages excluded",
    })  # fmt: skip
    return ds


def _intervals(
    p: int, serving: npt.NDArray[np.int64], el_deg: npt.NDArray[np.float64]
) -> list[tuple[int, int, int, int, float]]:
    """(site, satellite index, first step, last step, max elevation) per serving run."""
    out = []
    n = serving.size
    start = 0
    for i in range(1, n + 1):
        if i == n or serving[i] != serving[start]:
            if serving[start] >= 0:
                out.append(
                    (p, int(serving[start]), start, i - 1, float(np.nanmax(el_deg[start:i])))
                )
            start = i
    return out


def _outage_time(none: npt.NDArray[np.bool_], step_s: float) -> npt.NDArray[np.float64]:
    return np.asarray(none.sum(axis=1) * step_s, dtype=float)


def handover_summary(ds: Any) -> list[dict[str, Any]]:
    """Per-site summary (JSON-ready): handovers, outages, mean serving time, worst delay."""
    rows = []
    for i, name in enumerate(ds["site"].values):
        d = ds["delay_s"].values[i]
        rows.append({
            "site": str(name),
            "handover_count": int(ds["handover_count"].values[i]),
            "n_outages": int(ds["n_outages"].values[i]),
            "outage_s": float(ds["outage_s"].values[i]),
            "mean_serving_s": float(ds["mean_serving_s"].values[i]),
            "max_delay_ms": float(np.nanmax(d) * 1e3) if np.any(np.isfinite(d)) else None,
        })  # fmt: skip
    return rows


__all__: Sequence[str] = ("POLICIES", "handover_summary", "remaining_steps", "serving_timeline")
