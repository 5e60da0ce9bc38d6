"""Claim: Schroeder-2016 Landsat fire detection with uniform_filter window statistics runs at
tens of Mpixel/s, and faster than the straightforward implementations of its 61x61
contextual test.

Workload: the seven OLI reflectance bands of the real Landsat-8 016/037 fixture
(tests/data/sensing, 27 % cloud, ocean) tiled to ``--size`` x ``--size`` (default 4000,
16 Mpixel, float32), with ``K`` potential-fire pixels injected at seeded random clear land
positions (rho7 = 1.3x the smallest value passing the potential-fire tests, kept below
0.5 so that every one goes through the contextual test, none is unambiguous), for K in ``--candidates`` (default 200, 2000, 20000: sparse to very active).

- ``ours``: :func:`kongtian.sensing.fire.landsat.schroeder2016` (all tests, masks,
  window statistics with three ``uniform_filter`` passes per quantity over the
  candidates' bounding box, confidence);
- ``anchor`` (loop): the same spectral tests in numpy, then a Python loop over the
  potential fires computing each 61x61 background mean/std from a numpy slice;
- ``anchor`` (generic_filter): the window statistics with
  ``scipy.ndimage.generic_filter(np.nanmean / np.nanstd)`` over every pixel, timed on a
  ``--gf-size`` image (default 128, 0.5 % candidates) because it is slow; compared with
  our whole-image ``uniform_filter`` path (``method="filter"``).
Every anchor's fire mask must equal ours. Prints Mpixel/s (wall clock, and CPU time of
the process because the 2-core box is shared) and the ratio anchor time / our time.
Run: ``.venv/bin/python bench/bench_fire.py [--size N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import generic_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kongtian.sensing.fire.landsat import (  # noqa: E402
    potential_test,
    ratio,
    schroeder2016,
    unambiguous_test,
    water_test,
)
from kongtian.sensing.scenes import load_landsat  # noqa: E402

L8 = ROOT / "tests" / "data" / "sensing" / "landsat8_c1l1tp_016037_20170813"
NAMES = ("coastal", "blue", "green", "red", "nir", "swir16", "swir22")


def best_of(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Best wall time, best CPU time of this process (the box is shared), last result."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu, out


def workload(size: int, k: int, seed: int = 5) -> tuple[dict[int, np.ndarray], np.ndarray]:
    sc = load_landsat(L8, NAMES)
    reps = (size // sc.shape[0] + 1, size // sc.shape[1] + 1)
    bands = {
        i + 1: np.ascontiguousarray(np.tile(sc.bands[n], reps)[:size, :size])
        for i, n in enumerate(NAMES)
    }
    cloud = np.ascontiguousarray(np.tile(sc.cloud, reps)[:size, :size])
    rng = np.random.default_rng(seed)
    r5, r6, r7 = bands[5], bands[6], bands[7]
    need = np.maximum.reduce([1.8 * r5, r5 + 0.17, 1.6 * r6, np.full_like(r5, 0.25)])
    # candidates for the contextual path only: rho7 stays below 0.5 (never unambiguous)
    land = np.isfinite(r7) & ~cloud & (r5 > 0) & (r6 > 0) & (r7 > 0) & (1.3 * need < 0.49)
    cand = np.argwhere(land)
    pick = cand[rng.choice(len(cand), size=k, replace=False)]
    r7[pick[:, 0], pick[:, 1]] = (1.3 * need[pick[:, 0], pick[:, 1]]).astype(np.float32)
    return bands, cloud


def anchor_loop(b: dict[int, np.ndarray], cloud: np.ndarray, window: int = 61) -> np.ndarray:
    """Spectral tests in numpy, window statistics in a Python loop over candidates."""
    valid = np.all([np.isfinite(a) for a in b.values()], axis=0)
    with np.errstate(invalid="ignore"):
        r75 = ratio(b[7], b[5])  # float32, the candidate's own ratio
        r75_64 = np.where(b[5] > 0, b[7] / b[5].astype(np.float64), np.nan)  # background
        water = water_test(b) & valid
        unamb = unambiguous_test(b) & valid
        pot = potential_test(b) & valid & ~unamb
    bg = valid & ~water & ~unamb & ~pot & (b[7] > 0) & np.isfinite(r75)
    fire = unamb.copy()
    h = window // 2
    for r, c in np.argwhere(pot & ~water & ~cloud):
        sl = (slice(max(0, r - h), r + h + 1), slice(max(0, c - h), c + h + 1))
        m = bg[sl]
        if m.sum() < 25:
            continue
        vr = r75_64[sl][m]
        v7 = b[7][sl][m].astype(np.float64)
        if r75[r, c] > vr.mean() + max(3 * vr.std(), 0.8) and b[7][r, c] > v7.mean() + max(
            3 * v7.std(), 0.08
        ):
            fire[r, c] = True
    return fire & ~water


def anchor_generic_filter(
    b: dict[int, np.ndarray], cloud: np.ndarray, window: int = 61
) -> np.ndarray:
    """Window statistics at every pixel with scipy.ndimage.generic_filter."""
    valid = np.all([np.isfinite(a) for a in b.values()], axis=0)
    with np.errstate(invalid="ignore"):
        r75 = ratio(b[7], b[5])  # float32, the candidate's own ratio
        r75_64 = np.where(b[5] > 0, b[7] / b[5].astype(np.float64), np.nan)  # background
        water = water_test(b) & valid
        unamb = unambiguous_test(b) & valid
        pot = potential_test(b) & valid & ~unamb
    bg = valid & ~water & ~unamb & ~pot & (b[7] > 0) & np.isfinite(r75)
    rr = np.where(bg, r75_64, np.nan)
    r7 = np.where(bg, b[7], np.nan).astype(np.float64)
    kw = {"size": window, "mode": "constant", "cval": np.nan}
    with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        mr = generic_filter(rr, np.nanmean, **kw)
        sr = generic_filter(rr, np.nanstd, **kw)
        m7 = generic_filter(r7, np.nanmean, **kw)
        s7 = generic_filter(r7, np.nanstd, **kw)
        n = generic_filter(bg.astype(np.float64), np.sum, size=window, mode="constant", cval=0.0)
        ctx = (
            pot
            & ~water
            & ~cloud
            & (n >= 25)
            & (r75 > mr + np.maximum(3 * sr, 0.8))
            & (b[7] > m7 + np.maximum(3 * s7, 0.08))
        )
    return (unamb | ctx) & ~water


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--candidates", default="200,2000,20000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gf-size", type=int, default=128)
    a = ap.parse_args()
    mpx = a.size * a.size / 1e6
    print(f"workload: Landsat-8 016/037 tiled to {a.size}x{a.size} ({mpx:.1f} Mpixel)")
    for k in (int(x) for x in a.candidates.split(",")):
        b, cloud = workload(a.size, k)
        t_ours, c_ours, res = best_of(lambda b=b, cloud=cloud: schroeder2016(b, cloud), a.repeat)
        t_loop, c_loop, ref = best_of(lambda b=b, cloud=cloud: anchor_loop(b, cloud), a.repeat)
        same = bool(np.array_equal(res.fire, ref))
        print(
            f"K={k:6d} candidates={int(res.candidates.sum()):6d} fires={res.n_fire:5d} | "
            f"ours {mpx / t_ours:6.1f} Mpixel/s wall, {mpx / c_ours:6.1f} cpu | "
            f"anchor loop {mpx / t_loop:6.1f} wall, {mpx / c_loop:6.1f} cpu | "
            f"ratio wall {t_loop / t_ours:5.2f} cpu {c_loop / c_ours:5.2f} | identical {same}"
        )
    g = a.gf_size
    bs, cs = workload(g, g * g // 200)  # the crop itself tiled, 0.5 % candidates
    t_ours, c_ours, res = best_of(lambda: schroeder2016(bs, cs, method="filter"), a.repeat)
    t_gf, c_gf, ref = best_of(lambda: anchor_generic_filter(bs, cs), 1)
    gm = g * g / 1e6
    print(
        f"crop {g}x{g} candidates={int(res.candidates.sum())} fires={res.n_fire} | "
        f"ours(filter) {gm / t_ours:7.2f} Mpixel/s wall, {gm / c_ours:7.2f} cpu | "
        f"anchor generic_filter {gm / t_gf:7.4f} wall, {gm / c_gf:7.4f} cpu | "
        f"ratio wall {t_gf / t_ours:7.0f} cpu {c_gf / c_ours:7.0f} | "
        f"identical {bool(np.array_equal(res.fire, ref))}"
    )


if __name__ == "__main__":
    main()
