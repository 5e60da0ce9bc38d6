"""Abel transform pair between bending angle and refractive index (spherical symmetry).

Conventions (SI): impact parameter ``a`` and refractional radius ``x = n r`` in metres,
bending angle ``alpha`` in radians, refractivity ``N = (n - 1) 1e6`` in N-units.

Inverse (Fjeldbo et al. 1971)::

    ln n(x) = (1/pi) * integral_x^inf alpha(a) / sqrt(a^2 - x^2) da

The integrand has an integrable ``1/sqrt(a - x)`` singularity at ``a = x``. Instead of a
quadrature that has to tiptoe around it, ``alpha`` is taken piecewise linear between the
observed impact parameters and every interval is integrated in closed form:

    integral 1/sqrt(a^2-x^2) da     = arccosh(a/x)
    integral a/sqrt(a^2-x^2) da     = sqrt(a^2-x^2)

so the singular end contributes exactly and ``ln n = W @ alpha`` with a matrix ``W`` that
depends only on the impact grid. Above the last level ``alpha`` is continued as an
exponential with an estimated scale height and integrated with ``erfcx``.

Forward: ``alpha(a) = -2 a integral_a^inf (d ln n/dx) / sqrt(x^2 - a^2) dx`` with ``ln n``
piecewise linear in ``x`` between the model levels (again closed form per layer,
``arccosh(x/a)``) and an exponential continuation above the top level.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt
from scipy.special import erfcx

from kongtian.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

_DEFAULT_SCALE_HEIGHT_M = 7_000.0


def _as_grid(name: str, values: Any) -> FloatArray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 3:
        raise ConfigError("needs a 1-D array of at least 3 values", option=name)
    if not np.all(np.isfinite(arr)):
        raise ConfigError("contains non-finite values", option=name)
    if not np.all(np.diff(arr) > 0):
        raise ConfigError("must be strictly increasing", option=name)
    return arr


def tail_decay_rate(impact_m: FloatArray, bending_rad: FloatArray, span_m: float = 10e3) -> float:
    """Decay rate ``k`` (1/m) of ``alpha ~ exp(-k a)`` fitted over the top ``span_m``.

    Falls back to a 7 km scale height when the top is too noisy to fit (non-positive
    bending or a fitted scale height outside 3-15 km).
    """
    top = impact_m >= impact_m[-1] - span_m
    a, al = impact_m[top], bending_rad[top]
    if a.size >= 3 and np.all(al > 0):
        slope = np.polyfit(a - a[-1], np.log(al), 1)[0]
        if -1 / 3e3 < slope < -1 / 15e3:
            return float(-slope)
    return 1.0 / _DEFAULT_SCALE_HEIGHT_M


def inverse_abel_weights(impact_m: Any, tail_k_per_m: float | None = None) -> FloatArray:
    """Matrix ``W`` (n x n) with ``ln n(x_j) = (W @ alpha)_j`` at ``x_j = a_j``.

    Exact for ``alpha`` piecewise linear in ``a``; the last column also carries the
    exponential tail above the top level (decay rate ``tail_k_per_m``, default 7 km
    scale height). The factor ``1/pi`` is included.
    """
    a = _as_grid("impact_m", impact_m)
    k = 1.0 / _DEFAULT_SCALE_HEIGHT_M if tail_k_per_m is None else float(tail_k_per_m)
    n = a.size
    h = np.diff(a)
    x = a[:, None]
    lo = a[None, :-1]
    hi = a[None, 1:]
    # s = sqrt(a^2 - x^2) at interval ends, formed as (a - x)(a + x) for accuracy near x.
    s_lo = np.sqrt(np.maximum(lo - x, 0.0) * (lo + x))
    s_hi = np.sqrt(np.maximum(hi - x, 0.0) * (hi + x))
    active = lo >= x  # interval i contributes to level j when a_i >= x_j
    with np.errstate(divide="ignore", invalid="ignore"):
        ds = h * (lo + hi) / (s_hi + s_lo)  # sqrt(a^2-x^2) difference, no cancellation
        dt = np.log1p((h + ds) / (lo + s_lo))  # arccosh(a/x) difference
        lin = (ds - lo * dt) / h  # integral of (a - a_i)/(h sqrt(a^2 - x^2))
    dt = np.where(active, dt, 0.0)
    lin = np.where(active, lin, 0.0)
    w = np.zeros((n, n))
    w[:, :-1] += dt - lin
    w[:, 1:] += lin
    # Exponential tail above a_{n-1}: integral ~ sqrt(pi / (2 x k)) erfcx(sqrt(k (a_top - x))).
    d = a[-1] - a
    w[:, -1] += np.sqrt(np.pi / (2.0 * a * k)) * erfcx(np.sqrt(k * d))
    w /= np.pi
    return w


@nb.njit(cache=True, nogil=True)
def _ln_n_kernel(a: FloatArray, al: FloatArray) -> FloatArray:  # pragma: no cover
    """``ln n(x_j = a_j)``: same closed form as :func:`inverse_abel_weights`, O(n^2) loop."""
    n = a.size
    out = np.empty(n)
    for j in range(n):
        x = a[j]
        acc = 0.0
        s_lo = 0.0
        for i in range(j, n - 1):
            lo = a[i]
            hi = a[i + 1]
            h = hi - lo
            s_hi = np.sqrt((hi - x) * (hi + x))
            ds = h * (lo + hi) / (s_hi + s_lo)
            dt = np.log1p((h + ds) / (lo + s_lo))
            lin = (ds - lo * dt) / h
            acc += al[i] * (dt - lin) + al[i + 1] * lin
            s_lo = s_hi
        out[j] = acc
    return out


def inverse_abel(
    impact_m: Any, bending_rad: Any, tail_k_per_m: float | None = None
) -> tuple[FloatArray, FloatArray]:
    """Refractive index from bending angle.

    Parameters
    ----------
    impact_m : array (n,)
        Impact parameters (m), strictly increasing.
    bending_rad : array (n,)
        Neutral bending angle (rad) at those impact parameters.
    tail_k_per_m : float, optional
        Decay rate (1/m) of the exponential continuation above the top; fitted from the
        top 10 km when omitted (see :func:`tail_decay_rate`).

    Returns
    -------
    x_m, refractivity : arrays (n,)
        Refractional radius ``x = n r`` (m, equal to the impact parameters) and
        refractivity ``N = (n - 1) 1e6`` (N-units) there.
    """
    a = _as_grid("impact_m", impact_m)
    al = np.asarray(bending_rad, dtype=np.float64)
    if al.shape != a.shape:
        raise ConfigError("must have the same length as impact_m", option="bending_rad")
    if tail_k_per_m is None:
        tail_k_per_m = tail_decay_rate(a, al)
    al = np.ascontiguousarray(al)
    tail = (
        al[-1]
        * np.sqrt(np.pi / (2.0 * a * tail_k_per_m))
        * erfcx(np.sqrt(tail_k_per_m * (a[-1] - a)))
    )
    ln_n = (_ln_n_kernel(a, al) + tail) / np.pi
    return a, np.expm1(ln_n) * 1e6


def forward_abel(x_m: Any, refractivity: Any, impact_m: Any) -> FloatArray:
    """Bending angle (rad) at ``impact_m`` from refractivity given on radii ``x_m = n r``.

    ``ln n`` is taken piecewise linear in ``x`` between the levels ``x_m`` (strictly
    increasing) and exponential above the top level, with the scale of the top layer.
    Impact parameters below ``x_m[0]`` give NaN.
    """
    x = _as_grid("x_m", x_m)
    ln_n = np.log1p(np.asarray(refractivity, dtype=np.float64) * 1e-6)
    if ln_n.shape != x.shape:
        raise ConfigError("must have the same length as x_m", option="refractivity")
    a = np.atleast_1d(np.asarray(impact_m, dtype=np.float64))
    c = np.diff(ln_n) / np.diff(x)  # d ln n / dx per layer
    aa = a[:, None]
    x_lo = np.maximum(x[None, :-1], aa)
    x_hi = x[None, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        t_lo = np.arccosh(np.maximum(x_lo / aa, 1.0))
        t_hi = np.arccosh(np.maximum(x_hi / aa, 1.0))
    alpha = -2.0 * a * np.sum(c[None, :] * np.where(x_hi > aa, t_hi - t_lo, 0.0), axis=1)
    k = -c[-1] / ln_n[-1] if ln_n[-1] > 0 and c[-1] < 0 else 1.0 / _DEFAULT_SCALE_HEIGHT_M
    d = np.maximum(x[-1] - a, 0.0)
    # ln n = ln n_top exp(-k (x - x_top)) above the top: -2a * integral gives this closed form.
    above = np.maximum(a - x[-1], 0.0)
    alpha += ln_n[-1] * np.exp(-k * above) * np.sqrt(2 * np.pi * a * k) * erfcx(np.sqrt(k * d))
    alpha[a < x[0]] = np.nan
    return np.asarray(alpha)
