"""Claim: our LAMBDA (``kongtian.nav.lambda_ils``, pure Python + numpy) returns the same
two best integer vectors and squared norms as RTKLIB's C ``lambda()``; this prints how
much slower it is.

Workload: float DD ambiguity problems from a GEONET-like geometry (L1+L2, 6/8/11
satellites -> 10/14/20 ambiguities; kinematic batch over 1, 5 and 30 epochs of 30-s data:
from ill- to well-conditioned), 40 problems per case, true integers of size 1e6 cycles,
float = truth + correlated noise drawn from the covariance.

- ours:   ``lambda_ils(a, Q, m=2)`` (LtDL, Z-transform, search, back-transform);
- anchor: ``pyrtklib.lambda(n, 2, a, Q, F, s)`` (RTKLIB 2.4.3 b34, C). The pybind arrays
          are filled before timing (marshalling excluded).

Results are checked equal before timing. Best of 3, same run. Run:
``.venv/bin/python bench/bench_lambda.py``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pyrtklib as rtk

from kongtian.nav.lambda_ils import lambda_ils

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "nav"))
from test_lambda import geonet_like_q  # noqa: E402  (the test's geometry generator)

REPEAT = 3
N_PROBLEMS = 40
_LAMBDA = getattr(rtk, "lambda")


def _problems(n_sat: int, epochs: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_PROBLEMS):
        q = geonet_like_q(rng, n_sat, epochs)
        z = rng.integers(-1_000_000, 1_000_000, len(q)).astype(float)
        out.append((z + np.linalg.cholesky(q) @ rng.normal(size=len(q)), q))
    return out


def _rtk_args(a: np.ndarray, q: np.ndarray) -> tuple:
    n = len(a)
    aa, qq = rtk.Arr1Ddouble(n), rtk.Arr1Ddouble(n * n)
    for i in range(n):
        aa[i] = float(a[i])
    for i, v in enumerate(q.ravel(order="F")):
        qq[i] = float(v)
    return n, aa, qq, rtk.Arr1Ddouble(2 * n), rtk.Arr1Ddouble(2)


def _best(fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    print(f"{'case':<22}{'n':>4}{'agree':>8}{'ours ms':>10}{'RTKLIB ms':>11}{'ratio':>8}")
    for n_sat, epochs in ((6, 1), (8, 1), (8, 5), (8, 30), (11, 5), (11, 30)):
        probs = _problems(n_sat, epochs, 1000 * n_sat + epochs)
        args = [_rtk_args(a, q) for a, q in probs]
        agree = 0
        for (a, q), (n, aa, qq, ff, ss) in zip(probs, args, strict=True):
            res = lambda_ils(a, q)
            assert _LAMBDA(n, 2, aa, qq, ff, ss) == 0
            f = np.round(np.array(list(ff)).reshape(2, n))
            s = np.array(list(ss))
            agree += bool(
                np.array_equal(f, res.candidates) and np.allclose(s, res.sq_norms, rtol=1e-6)
            )

        def ours(probs=probs) -> None:  # type: ignore[no-untyped-def]
            for a, q in probs:
                lambda_ils(a, q)

        def anchor(args=args) -> None:  # type: ignore[no-untyped-def]
            for n, aa, qq, ff, ss in args:
                _LAMBDA(n, 2, aa, qq, ff, ss)

        t_o, t_a = _best(ours), _best(anchor)
        name = f"{n_sat} sats, {epochs} ep"
        n_amb = 2 * (n_sat - 1)
        print(f"{name:<22}{n_amb:>4}{agree:>5}/{N_PROBLEMS:<2}{1e3 * t_o / N_PROBLEMS:>10.3f}"
              f"{1e3 * t_a / N_PROBLEMS:>11.4f}{t_o / t_a:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
