"""Integer least squares for carrier-phase ambiguities: our own LAMBDA.

Given a float ambiguity vector ``a`` (cycles) and its covariance ``Q`` (cycles^2), the
integer least-squares problem is

    minimise  (a - z)^T Q^-1 (a - z)  over integer vectors z.

The LAMBDA method (Teunissen 1995; implementation aspects: de Jonge & Tiberius 1996,
Delft LGR series 12; search as in Chang, Yang & Zhou 2005, "MLAMBDA") solves it in three
steps, each a public function here:

1. :func:`ltdl` factorises ``Q = L^T diag(d) L`` with ``L`` unit *lower* triangular,
   working from the last ambiguity up (so ``d[i]`` is the variance of ambiguity ``i``
   conditioned on ambiguities ``i+1..n-1``).
2. :func:`decorrelate` applies integer Gauss transformations and neighbour permutations
   (the Z-transform, unimodular) so that the transformed ambiguities ``z = Z^T a`` with
   ``Q_z = Z^T Q Z = L^T diag(d) L`` are nearly uncorrelated and the conditional
   variances ``d`` are (close to) sorted in decreasing order.
3. :func:`search` enumerates integer vectors inside a shrinking ellipsoid, depth first
   from the last (most precise) component, with the zig-zag (Schnorr-Euchner) order
   around each conditional estimate, keeping the ``m`` best.

:func:`lambda_ils` chains the three and maps the candidates back with ``Z^-T``;
:func:`ratio_test` is the usual acceptance test ``s2/s1 >= threshold``;
:func:`partial_fix` searches the trailing (most precise) decorrelated subsets, dropping
the least precise component one at a time until the ratio test passes.

The factorisation, reduction and search are numba-compiled scalar loops (cached on
disk); the public functions wrap them with numpy arrays. Rounding is ``floor(x + 0.5)``
as in RTKLIB, so ties resolve the same way. Squared norms are ``(a - z)^T Q^-1 (a - z)``
(dimensionless). Float input is shifted by its rounded value before decorrelation
(integer shifts do not change the problem) so that large ambiguities (1e7 cycles) do
not lose precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = [
    "IlsResult",
    "NotPositiveDefiniteError",
    "PartialFix",
    "conditional_update",
    "decorrelate",
    "lambda_ils",
    "ltdl",
    "partial_fix",
    "ratio_test",
    "search",
]

F64 = npt.NDArray[np.float64]

#: Default ratio-test threshold (second-best over best squared norm), as RTKLIB's
#: ``pos2-arthres`` default.
DEFAULT_RATIO = 3.0


class NotPositiveDefiniteError(ValueError):
    """The covariance matrix given to :func:`ltdl` is not positive definite."""


@nb.njit(cache=True, nogil=True)
def _ltdl_kernel(a: F64, lo: F64, d: F64) -> int:
    """In place on a copy ``a`` of Q: fills ``lo``, ``d``; returns -1 or a bad pivot index."""
    n = a.shape[0]
    for i in range(n - 1, -1, -1):
        piv = a[i, i]
        if not piv > 0.0:
            return i
        d[i] = piv
        sq = math.sqrt(piv)
        for j in range(i + 1):
            lo[i, j] = a[i, j] / sq
        # Remove component i from the leading block (Schur complement, lower part).
        for j in range(i):
            for k in range(j + 1):
                a[j, k] -= lo[i, k] * lo[i, j]
        for j in range(i + 1):
            lo[i, j] /= lo[i, i]
    return -1


@nb.njit(cache=True, nogil=True)
def _gauss(lo: F64, z: F64, i: int, j: int) -> None:
    """Integer Gauss transformation reducing ``L[i, j]`` to ``|L[i, j]| <= 1/2``."""
    mu = math.floor(lo[i, j] + 0.5)
    if mu != 0.0:
        n = lo.shape[0]
        for k in range(i, n):
            lo[k, j] -= mu * lo[k, i]
        for k in range(n):
            z[k, j] -= mu * z[k, i]


@nb.njit(cache=True, nogil=True)
def _permute(lo: F64, d: F64, j: int, delta: float, z: F64) -> None:
    """Swap components ``j`` and ``j+1`` and update ``L``, ``d`` and ``Z`` accordingly."""
    n = lo.shape[0]
    eta = d[j] / delta
    lam = d[j + 1] * lo[j + 1, j] / delta
    d[j] = eta * d[j + 1]
    d[j + 1] = delta
    for k in range(j):
        a0 = lo[j, k]
        a1 = lo[j + 1, k]
        lo[j, k] = -lo[j + 1, j] * a0 + a1
        lo[j + 1, k] = eta * a0 + lam * a1
    lo[j + 1, j] = lam
    for k in range(j + 2, n):
        tmp = lo[k, j]
        lo[k, j] = lo[k, j + 1]
        lo[k, j + 1] = tmp
    for k in range(n):
        tmp = z[k, j]
        z[k, j] = z[k, j + 1]
        z[k, j + 1] = tmp


@nb.njit(cache=True, nogil=True)
def _reduce_kernel(lo: F64, d: F64, z: F64) -> None:
    n = d.shape[0]
    j = n - 2
    k = n - 2
    while j >= 0:
        if j <= k:
            for i in range(j + 1, n):
                _gauss(lo, z, i, j)
        delta = d[j] + lo[j + 1, j] ** 2 * d[j + 1]
        # Swap when it lowers the conditional variance of the later component; the
        # small margin avoids endless swapping on ties.
        if delta + 1e-6 < d[j + 1]:
            _permute(lo, d, j, delta, z)
            k = j
            j = n - 2
        else:
            j -= 1


@nb.njit(cache=True, nogil=True)
def _sgn(x: float) -> float:
    return 1.0 if x > 0.0 else -1.0


@nb.njit(cache=True, nogil=True)
def _search_kernel(lo: F64, dd: F64, zf: F64, cands: F64, norms: F64) -> int:
    n = zf.shape[0]
    m = norms.shape[0]
    s_mat = np.zeros((n, n))  # s_mat[k, :k+1]: conditional shifts accumulated above k
    dist = np.zeros(n)
    zb = np.zeros(n)  # conditional float estimates
    z = np.zeros(n)  # current integers
    step = np.zeros(n)
    count = 0
    imax = 0
    maxdist = np.inf
    k = n - 1
    zb[k] = zf[k]
    z[k] = math.floor(zb[k] + 0.5)
    y = zb[k] - z[k]
    step[k] = _sgn(y)
    while True:
        newdist = dist[k] + y * y / dd[k]
        if newdist < maxdist:
            if k != 0:
                # Descend: condition component k-1 on the integers chosen for k..n-1.
                k -= 1
                dist[k] = newdist
                dz = z[k + 1] - zb[k + 1]
                for i in range(k + 1):
                    s_mat[k, i] = s_mat[k + 1, i] + dz * lo[k + 1, i]
                zb[k] = zf[k] + s_mat[k, k]
                z[k] = math.floor(zb[k] + 0.5)
                y = zb[k] - z[k]
                step[k] = _sgn(y)
            else:
                # A full candidate: keep it if it beats the worst held.
                if count < m:
                    for i in range(n):
                        cands[count, i] = z[i]
                    norms[count] = newdist
                    if count == 0 or newdist > norms[imax]:
                        imax = count
                    count += 1
                    if count == m:
                        maxdist = norms[imax]
                else:
                    if newdist < norms[imax]:
                        for i in range(n):
                            cands[imax, i] = z[i]
                        norms[imax] = newdist
                        imax = 0
                        for i in range(1, m):
                            if norms[i] > norms[imax]:
                                imax = i
                    maxdist = norms[imax]
                z[0] += step[0]
                y = zb[0] - z[0]
                step[0] = -step[0] - _sgn(step[0])
        else:
            if k == n - 1:
                break
            k += 1
            z[k] += step[k]
            y = zb[k] - z[k]
            step[k] = -step[k] - _sgn(step[k])
    return count


def ltdl(q: Any) -> tuple[F64, F64]:
    """Factorise a symmetric positive-definite ``q`` as ``L^T diag(d) L``.

    ``L`` is unit lower triangular. The factorisation runs from the last row to the
    first, so ``d[i]`` is the variance of component ``i`` conditioned on all later ones
    (the order the search of :func:`search` uses). Raises
    :class:`NotPositiveDefiniteError` if a pivot is not positive.
    """
    a = np.array(q, dtype=np.float64, copy=True)
    n = a.shape[0]
    if a.ndim != 2 or a.shape != (n, n):
        raise ValueError(f"covariance must be square, got shape {a.shape}")
    lo = np.zeros((n, n))
    d = np.zeros(n)
    bad = _ltdl_kernel(a, lo, d)
    if bad >= 0:
        raise NotPositiveDefiniteError(f"non-positive pivot at index {bad}")
    return lo, d


def decorrelate(lo: Any, d: Any) -> tuple[F64, F64, F64]:
    """Z-transform (integer Gauss decorrelation with permutations) of ``L^T diag(d) L``.

    Returns ``(L_z, d_z, Z)`` with ``Z`` unimodular (integer entries, |det| = 1) such
    that ``Z^T Q Z = L_z^T diag(d_z) L_z``, ``|L_z[i, j]| <= 1/2`` below the diagonal
    after the final pass, and no neighbour swap that would reduce ``d_z[j+1]`` left.
    """
    lz = np.array(lo, dtype=np.float64, copy=True)
    dz = np.array(d, dtype=np.float64, copy=True)
    z = np.eye(len(dz))
    _reduce_kernel(lz, dz, z)
    return lz, dz, z


def search(lo: Any, d: Any, zf: Any, m: int = 2) -> tuple[F64, F64]:
    """The ``m`` integer vectors closest to ``zf`` in the metric ``(L^T diag(d) L)^-1``.

    Depth-first enumeration from the last component to the first; at each level the
    integers are visited in order of distance to the conditional estimate (zig-zag),
    and the ellipsoid shrinks to the m-th best squared norm once ``m`` candidates are
    held. Returns ``(candidates (m, n), squared_norms (m,))`` sorted by norm.
    """
    lo = np.ascontiguousarray(lo, dtype=np.float64)
    dd = np.ascontiguousarray(d, dtype=np.float64)
    zf = np.ascontiguousarray(zf, dtype=np.float64)
    n = len(zf)
    cands = np.zeros((m, n))
    norms = np.full(m, np.inf)
    count = _search_kernel(lo, dd, zf, cands, norms)
    order = np.argsort(norms[:count], kind="stable")
    return cands[:count][order], norms[:count][order]


@dataclass(frozen=True)
class IlsResult:
    """Result of :func:`lambda_ils`.

    ``candidates`` (m, n) integer vectors (float dtype, exact integers) in the original
    ambiguity space, best first; ``sq_norms`` (m,) their squared norms
    ``(a - z)^T Q^-1 (a - z)``; ``z_matrix`` the unimodular Z-transform used;
    ``d_decorrelated`` the conditional variances after decorrelation (cycles^2).
    """

    candidates: F64
    sq_norms: F64
    z_matrix: F64
    d_decorrelated: F64

    @property
    def best(self) -> F64:
        return self.candidates[0]

    @property
    def ratio(self) -> float:
        """Second-best over best squared norm (inf if the best fits exactly)."""
        return _ratio(self.sq_norms)


def _ratio(norms: F64) -> float:
    if len(norms) < 2:
        return math.inf
    if norms[0] <= 0.0:
        return math.inf
    return float(norms[1] / norms[0])


def lambda_ils(a: Any, q: Any, m: int = 2) -> IlsResult:
    """Integer least-squares solution of float ambiguities ``a`` (cycles), covariance ``q``.

    Returns the ``m`` best integer vectors and their squared norms
    (:class:`IlsResult`). Raises :class:`NotPositiveDefiniteError` for a covariance
    that is not positive definite.
    """
    a = np.asarray(a, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    n = a.shape[0]
    if n == 0:
        raise ValueError("no ambiguities")
    shift = np.floor(a + 0.5)
    lo, d = ltdl(q)
    lz, dz, zmat = decorrelate(lo, d)
    zf = zmat.T @ (a - shift)
    cz, norms = search(lz, dz, zf, m)
    # Back to the original space: a = Z^-T z; Z is unimodular so the result is integer.
    back = np.linalg.solve(zmat.T, cz.T).T
    cands = np.round(back) + shift
    return IlsResult(cands, norms, zmat, dz)


def ratio_test(sq_norms: Any, threshold: float = DEFAULT_RATIO) -> bool:
    """Accept the best candidate when ``sq_norms[1] / sq_norms[0] >= threshold``."""
    return _ratio(np.asarray(sq_norms, dtype=np.float64)) >= threshold


@dataclass(frozen=True)
class PartialFix:
    """A (possibly partial) integer fix of float ambiguities.

    The fixed quantities are the integer combinations ``z_fixed = Zs^T a`` with ``Zs``
    = ``z_columns`` (n, k): the k most precise decorrelated ambiguities. When k = n
    the fix is full and ``fixed_ambiguities`` holds the integer vector; otherwise it
    holds ``a`` conditioned on the fixed combinations (float). ``ratio`` and
    ``sq_norms`` are those of the accepted subset search (or of the full set when
    nothing passed, with ``n_fixed = 0``).
    """

    n_fixed: int
    z_columns: F64
    z_fixed: F64
    fixed_ambiguities: F64
    ratio: float
    sq_norms: F64

    @property
    def ok(self) -> bool:
        return self.n_fixed > 0


def conditional_update(a: Any, q: Any, zs: Any, z_fixed: Any) -> tuple[F64, F64]:
    """Condition ``a`` (covariance ``q``) on the integer constraints ``zs^T a = z_fixed``.

    Returns ``(a_c, q_c)``: ``a_c = a - q zs (zs^T q zs)^-1 (zs^T a - z_fixed)`` and the
    corresponding conditional covariance. The same formula applied to a full state
    vector (with the cross covariance in place of ``q zs``) gives the fixed solution of
    an RTK filter.
    """
    a = np.asarray(a, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    zs = np.asarray(zs, dtype=np.float64)
    qz = zs.T @ q @ zs
    gain = np.linalg.solve(qz, (q @ zs).T).T
    a_c = a - gain @ (zs.T @ a - np.asarray(z_fixed, dtype=np.float64))
    q_c = q - gain @ (zs.T @ q)
    return a_c, 0.5 * (q_c + q_c.T)


def partial_fix(
    a: Any,
    q: Any,
    *,
    threshold: float = DEFAULT_RATIO,
    min_fixed: int = 4,
    max_drop: int | None = None,
) -> PartialFix:
    """Full, else partial, ambiguity resolution in the decorrelated space.

    After one decorrelation, the trailing ``k`` components of ``z = Z^T a`` have the
    smallest conditional variances and their marginal covariance factorises exactly as
    the trailing blocks of ``L`` and ``d``; so subsets k = n, n-1, ..., ``min_fixed``
    are searched without refactorising, and the largest one that passes the ratio test
    is accepted (``max_drop`` limits how many components may be dropped).
    """
    a = np.asarray(a, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    n = a.shape[0]
    shift = np.floor(a + 0.5)
    lo, d = ltdl(q)
    lz, dz, zmat = decorrelate(lo, d)
    zf = zmat.T @ (a - shift)
    zshift = zmat.T @ shift  # integer: Z is integer and shift is integer
    lowest = max(1, min(min_fixed, n))
    if max_drop is not None:
        lowest = max(lowest, n - max_drop)
    first_norms: F64 | None = None
    first_ratio = 0.0
    for k in range(n, lowest - 1, -1):
        s = n - k
        cz, norms = search(lz[s:, s:], dz[s:], zf[s:], 2)
        r = _ratio(norms)
        if first_norms is None:
            first_norms, first_ratio = norms, r
        if r >= threshold:
            zs = zmat[:, s:]
            zfix = cz[0] + zshift[s:]
            fixed: F64
            if k == n:
                fixed = np.asarray(np.round(np.linalg.solve(zmat.T, zfix)), dtype=np.float64)
            else:
                fixed, _ = conditional_update(a, q, zs, zfix)
            return PartialFix(k, zs, zfix, fixed, r, norms)
    assert first_norms is not None
    return PartialFix(0, np.zeros((n, 0)), np.zeros(0), a.copy(), first_ratio, first_norms)
