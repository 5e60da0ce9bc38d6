"""Claim: Chongqing coverage by the whole Starlink catalog for a day at 30 s runs in
under 60 s wall and under 4 GiB peak memory on this 2-core machine.

Workload: the 2025-01-23 CelesTrak Starlink catalog (6,909 element sets; the copy in
tests/data is byte-identical to shared data/space/starlink_tle_2025-01-23_celestrak_via_pioet.txt)
over the points of a 0.1 deg grid inside the Chongqing polygon
(``kongtian.geo.regions.region("chongqing").grid(0.1)``), from 2025-01-23T00:00:00Z for
24 h at 30 s (2,881 steps), elevation mask 25 deg, k = 1.

- ours:   ``kongtian.space.coverage.coverage`` end to end (screened propagation, numba
          counting kernel, statistics, xarray Dataset); numba compile / cache load is
          done by a small warm-up call first and reported separately;
- anchor: brute force in numpy, every satellite x point x step: ``SatrecArray`` SGP4,
          TEME -> ITRF, then the elevation test for all triples. Its rate is measured on
          a random subsample (satellites x first steps, all points) in the same run and
          extrapolated linearly to the full problem (both its parts, propagation and
          the triple test, scale with satellites x steps at a fixed point count);
- check:  our counts on the same subsample equal the brute-force counts exactly.

Best of 2 runs for both. Peak RSS is the process maximum (``ru_maxrss``) read right after our run, before the
anchor. Run: ``.venv/bin/python bench/bench_coverage.py``
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import numpy as np
from sgp4.api import SatrecArray

from kongtian.geo.frames import teme_to_itrf
from kongtian.geo.regions import region
from kongtian.geo.time import jd_split_utc, time_grid
from kongtian.space.catalog import load_catalog
from kongtian.space.coverage import coverage, point_set, summary, visible_counts

ROOT = Path(__file__).resolve().parents[1]
TLE = ROOT / "tests" / "data" / "starlink_tle_2025-01-23_celestrak_via_pioet.txt"
START = "2025-01-23T00:00:00Z"
HOURS, STEP_S, MASK_DEG, GRID_DEG = 24, 30.0, 25.0, 0.1
SUB_SATS, SUB_STEPS = 600, 240
REPEAT = 2


def brute_force_counts(cat, times, pts, mask_deg: float) -> np.ndarray:
    """Every satellite x point x step in numpy (the anchor)."""
    jd, fr = jd_split_utc(times)
    _, r_km, _ = SatrecArray(cat.satrecs).sgp4(jd, fr)
    r, _ = teme_to_itrf(np.asarray(r_km) * 1e3, None, times)
    s = np.sin(np.radians(mask_deg))
    counts = np.zeros((times.size, len(pts)), dtype=np.int16)
    blk = 8
    for a in range(0, times.size, blk):
        d = r[:, a : a + blk, None, :] - pts.ecef_m[None, None]  # (n, blk, P, 3)
        up = np.einsum("ntpk,pk->ntp", d, pts.up)
        dist = np.sqrt(np.einsum("ntpk,ntpk->ntp", d, d))
        counts[a : a + blk] = (up >= s * dist).sum(axis=0)
    return counts


def main() -> None:
    cat = load_catalog(TLE)
    reg = region("chongqing")
    grid = reg.grid(GRID_DEG)
    times = time_grid(START, HOURS * 3600.0, STEP_S)
    n, nt, npts = len(cat), times.size, grid.lat_deg.size
    print(f"workload: {n} satellites x {npts} points x {nt} steps = {n * npts * nt / 1e9:.2f} G triples; "
          f"mask {MASK_DEG} deg, k = 1, cores {os.cpu_count()}")  # fmt: skip

    t0 = time.perf_counter()
    coverage(cat[:50], grid=grid, region=reg, start_utc=START, duration_s=600, step_s=STEP_S,
             min_elev_deg=MASK_DEG)  # fmt: skip
    print(f"warm-up (numba compile or cache load, small case): {time.perf_counter() - t0:.2f} s")

    walls = []
    for _ in range(REPEAT):
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        ds = coverage(cat, grid=grid, region=reg, start_utc=START, duration_s=HOURS * 3600.0,
                      step_s=STEP_S, min_elev_deg=MASK_DEG, k=1)  # fmt: skip
        walls.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu0
    t_ours = min(walls)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("summary:", json.dumps(summary(ds)))

    # --- anchor on a subsample, and the exactness check
    rng = np.random.default_rng(20250123)
    sub = cat[np.sort(rng.choice(n, SUB_SATS, replace=False))]
    tsub = times[:SUB_STEPS]
    pts = point_set(grid.lat_deg, grid.lon_deg, 0.0)
    t_sub = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        brute = brute_force_counts(sub, tsub, pts, MASK_DEG)
        t_sub = min(t_sub, time.perf_counter() - t0)
    ours_sub, _ = visible_counts(sub, tsub, grid.lat_deg, grid.lon_deg, min_elev_deg=MASK_DEG)
    same = bool(np.array_equal(ours_sub, brute))
    triples_sub = SUB_SATS * SUB_STEPS * npts
    rate = triples_sub / t_sub
    t_anchor = t_sub * (n * nt) / (SUB_SATS * SUB_STEPS)
    print(f"anchor subsample: {SUB_SATS} satellites x {SUB_STEPS} steps x {npts} points in {t_sub:.2f} s "
          f"= {rate / 1e6:.1f} M triples/s (1 core, numpy); counts identical to ours: {same}")  # fmt: skip
    print(f"ours: {t_ours:.2f} s wall, best of {REPEAT} ({', '.join(f'{w:.2f}' for w in walls)}; "
          f"{cpu:.1f} s CPU in the last), peak RSS {peak_gib:.2f} GiB")  # fmt: skip
    print(
        f"anchor: {t_anchor:.0f} s (brute force extrapolated; {t_anchor / 2:.0f} s if perfectly split over 2 cores)"
    )
    print(
        f"ratio: {t_anchor / t_ours:.1f} (anchor / ours; {t_anchor / 2 / t_ours:.1f} against the 2-core ideal)"
    )
    print(f"goal: < 60 s wall: {t_ours < 60}; < 4 GiB: {peak_gib < 4}")


if __name__ == "__main__":
    main()
