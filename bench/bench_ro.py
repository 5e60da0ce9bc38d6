"""Claim: one radio-occultation inversion (600 levels) takes <= 5 ms.

Workload: the shared US Standard Atmosphere reference profile (600 impact levels, 200 m,
0-120 km; tests/data/sensing/ro_reference), as is and with seeded noise
(sigma = 1.5 microrad + 0.3 % of bending, seed 1).

- ``ours abel``: :func:`inverse_abel` (closed-form piecewise-linear intervals, numba loop);
- ``ours chain``: :func:`retrieve` without and with statistical optimisation (noise
  estimate, climatology fit, banded solve, Abel, hydrostatic integration, flags);
- ``anchor``: a straightforward Abel inversion, ``scipy.integrate.quad`` per level with
  the ``1/sqrt(a - x)`` end singularity given to QUADPACK as an algebraic weight
  (``weight="alg"``), on the same linearly interpolated bending angle.

Both Abel versions are checked against US76 refractivity (max error 5-25 km printed).
Run: ``.venv/bin/python bench/bench_ro.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import quad

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sensing.us76 import dry_refractivity  # noqa: E402

from kongtian.sensing.occultation.abel import inverse_abel  # noqa: E402
from kongtian.sensing.occultation.retrieval import retrieve  # noqa: E402

REF = ROOT / "tests" / "data" / "sensing" / "ro_reference" / "us76_dry_refractivity_bending.csv"
RC = 6_371_000.0


def best_of(fn, repeat: int):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def anchor_abel(a: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """ln n by quad per level: integral alpha(s)/sqrt(s+x) * (s-x)^-1/2 ds, x..a_top."""
    out = np.empty_like(a)
    for j, x in enumerate(a[:-1]):
        val, _ = quad(
            lambda s, x=x: np.interp(s, a, alpha) / np.sqrt(s + x),
            x, a[-1], weight="alg", wvar=(-0.5, 0.0), limit=200,
        )  # fmt: skip
        out[j] = val / np.pi
    out[-1] = 0.0
    return np.expm1(out) * 1e6


def max_err(a: np.ndarray, n: np.ndarray) -> float:
    z = a / (1 + n * 1e-6) - RC
    m = (z >= 5e3) & (z <= 25e3)
    return float(np.max(np.abs(n[m] / dry_refractivity(z[m]) - 1)) * 100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    d = np.loadtxt(REF, delimiter=",", skiprows=1)
    a, alpha = d[:, 4], d[:, 5]
    noisy = alpha + np.random.default_rng(1).normal(0, 1, a.size) * (1.5e-6 + 0.003 * alpha)
    retrieve(a, noisy)  # warm the numba cache and the climatology table

    t_abel, (_, n_ours) = best_of(lambda: inverse_abel(a, alpha), args.repeat)
    t_raw, _ = best_of(lambda: retrieve(a, alpha, optimise=False), args.repeat)
    t_so, _ = best_of(lambda: retrieve(a, noisy), args.repeat)
    t_anchor, n_anchor = best_of(lambda: anchor_abel(a, alpha), 1)
    print(f"levels                          : {a.size}")
    print(f"ours   abel (inverse_abel)      : {t_abel * 1e3:8.2f} ms  max |dN/N| 5-25 km "
          f"{max_err(a, n_ours):.4f} %")  # fmt: skip
    print(f"ours   chain, no optimisation   : {t_raw * 1e3:8.2f} ms per profile")
    print(f"ours   chain, with optimisation : {t_so * 1e3:8.2f} ms per profile")
    print(f"anchor quad per level (alg wt)  : {t_anchor * 1e3:8.2f} ms  max |dN/N| 5-25 km "
          f"{max_err(a, n_anchor):.4f} %")  # fmt: skip
    print(f"ratio  (anchor / ours abel)     : {t_anchor / t_abel:8.1f}x")
    print(f"ratio  (anchor / ours chain+SO) : {t_anchor / t_so:8.1f}x")


if __name__ == "__main__":
    main()
