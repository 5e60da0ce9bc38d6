"""Vectorised near-Earth SGP4 in numba: many satellites x many times on every core.

Why: ``sgp4.api.SatrecArray`` (Vallado's C++) is single-threaded and holds the GIL, so
using two cores costs two processes and a copy of every result. These kernels run
near-Earth element sets (period < 225 min, SGP4 method ``'n'``) multi-threaded with the
GIL released and write straight into the output arrays. Deep-space element sets
(method ``'d'``) and any the initialisation below cannot take are delegated to
``sgp4.api.SatrecArray`` inside :class:`FastSatArray`.

Both kernels share:

- the per-satellite constants (cc1, d2..d4, t2cof..t5cof, ...) from the ``sgp4``
  package's own ``sgp4init`` (its pure-Python port, which exposes them; the C++ object
  does not), fed with the C++ record's elements, memoised on those elements;
- the per-time model, written from Spacetrack Report #3 as revised by Vallado et al.
  (AIAA 2006-6753): secular gravity and drag, long-period periodics, Kepler's equation,
  short-period periodics, with the C++'s ``tsince`` arithmetic, iteration rule and
  error codes: 1 (mean eccentricity out of range), 2 (mean motion <= 0) and 4
  (semi-latus rectum < 0) give NaN r and v; 6 (decayed, mrt < 1) keeps r and v.

``exact=True``: one time at a time with the C++'s operand order and libm calls (no
fastmath; ``fmod`` replaced by a bit-exact FMA form), so r and v are the C++'s doubles.
``exact=False`` (default): the same equations in three branch-free stages per block of
times so LLVM vectorises them (AVX2/AVX-512), with our own sin/cos (< 0.9 ulp),
``am*sqrt(am)`` for ``pow(am, 1.5)`` and the argument of latitude's sin/cos taken from
its unit vector instead of through ``atan2``. It differs from the C++ by floating-point
noise: median 1e-12 km; the worst seen, 1e-10 km, is where the C++'s own drag term
amplifies a 1-ulp change of cos(M) (xmcof ~ 1/e for near-circular orbits).

Units: TEME frame, km and km/s; times as UTC Julian dates split ``jd + fr`` exactly like
``sgp4.api``. Verified in ``tests/space/test_vallado.py`` and ``test_sgp4_kernel.py``.
"""

from __future__ import annotations

import contextlib
import math
import os
import types as pytypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, parallel_chunksize, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.unsafe.ndarray import to_fixed_tuple
from sgp4 import propagation as _pyprop
from sgp4.api import Satrec, SatrecArray
from sgp4.earth_gravity import wgs72, wgs72old, wgs84
from sgp4.model import Satrec as _PySatrec

from kongtian.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

_TWOPI = 2.0 * math.pi
_INV_TWOPI = 1.0 / _TWOPI
_X2O3 = 2.0 / 3.0

# Columns of the packed (N, NCOL) parameter array.  Products the C++ evaluates
# left-to-right from two satellite constants (bstar*cc4, bstar*cc5, 0.5*j2) are
# pre-multiplied: same operands, same order, same bits.
_MO, _MDOT, _ARGPO, _ARGPDOT, _NODEO, _NODEDOT, _NODECF = 0, 1, 2, 3, 4, 5, 6
_CC1, _BCC4, _T2COF, _ISIMP, _OMGCOF, _ETA, _XMCOF, _DELMO = 7, 8, 9, 10, 11, 12, 13, 14
_D2, _D3, _D4, _BCC5, _SINMAO, _T3COF, _T4COF, _T5COF = 15, 16, 17, 18, 19, 20, 21, 22
_NO, _ECCO, _AK, _INCLO, _SINIP, _COSIP, _XLCOF, _AYCOF = 23, 24, 25, 26, 27, 28, 29, 30
_HJ2, _CON41, _X1MTH2, _X7THM1, _XKE, _RE, _VKMPERSEC = 31, 32, 33, 34, 35, 36, 37
_EPOCH, _EPOCHF, _USE = 38, 39, 40
NCOL = 41

_GRAVITY = (wgs72, wgs72old, wgs84)


# --------------------------------------------------------------------------- setup
def _param_row(sat: Satrec) -> FloatArray | None:
    """Packed constants for one C++ record, or None when the kernel must not take it."""
    grav = next(
        (g for g in _GRAVITY if g.radiusearthkm == sat.radiusearthkm and g.j2 == sat.j2), None
    )
    if sat.method != "n" or grav is None or grav.xke != sat.xke:
        return None
    py = _PySatrec()
    try:
        _pyprop.sgp4init(
            grav, sat.operationmode, "00000",
            (sat.jdsatepoch + sat.jdsatepochF) - 2433281.5,
            sat.bstar, sat.ndot, sat.nddot, sat.ecco, sat.argpo, sat.inclo, sat.mo,
            sat.no_kozai, sat.nodeo, py,
        )  # fmt: skip
        if py.method != "n":
            return None
        row = np.empty(NCOL)
        row[_MO], row[_MDOT] = py.mo, py.mdot
        row[_ARGPO], row[_ARGPDOT] = py.argpo, py.argpdot
        row[_NODEO], row[_NODEDOT], row[_NODECF] = py.nodeo, py.nodedot, py.nodecf
        row[_CC1], row[_BCC4], row[_T2COF] = py.cc1, py.bstar * py.cc4, py.t2cof
        row[_ISIMP] = float(py.isimp)
        row[_OMGCOF], row[_ETA], row[_XMCOF], row[_DELMO] = py.omgcof, py.eta, py.xmcof, py.delmo
        row[_D2], row[_D3], row[_D4] = py.d2, py.d3, py.d4
        row[_BCC5], row[_SINMAO] = py.bstar * py.cc5, py.sinmao
        row[_T3COF], row[_T4COF], row[_T5COF] = py.t3cof, py.t4cof, py.t5cof
        row[_NO], row[_ECCO] = py.no_unkozai, py.ecco
        # pow(xke / nm, 2/3) with nm = no_unkozai is a per-satellite constant in the
        # near-Earth branch; the C++ recomputes it at every call with the same libm pow.
        row[_AK] = math.pow(py.xke / py.no_unkozai, _X2O3) if py.no_unkozai > 0.0 else math.nan
        row[_INCLO], row[_SINIP], row[_COSIP] = py.inclo, math.sin(py.inclo), math.cos(py.inclo)
        row[_XLCOF], row[_AYCOF] = py.xlcof, py.aycof
        row[_HJ2], row[_CON41], row[_X1MTH2], row[_X7THM1] = (
            0.5 * py.j2, py.con41, py.x1mth2, py.x7thm1,
        )  # fmt: skip
        row[_XKE], row[_RE] = py.xke, py.radiusearthkm
        row[_VKMPERSEC] = py.radiusearthkm * py.xke / 60.0
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        # math domain errors (or complex powers) where the C++ would carry NaN: let it
        return None
    row[_EPOCH], row[_EPOCHF] = sat.jdsatepoch, sat.jdsatepochF
    row[_USE] = 1.0
    return row


_ROW_CACHE: dict[tuple[Any, ...], FloatArray | None] = {}
_ROW_CACHE_MAX = 200_000


def _key(sat: Satrec) -> tuple[Any, ...]:
    return (
        sat.method, sat.operationmode, sat.radiusearthkm, sat.j2, sat.jdsatepoch,
        sat.jdsatepochF, sat.bstar, sat.ndot, sat.nddot, sat.ecco, sat.argpo, sat.inclo,
        sat.mo, sat.no_kozai, sat.nodeo,
    )  # fmt: skip


def pack_satrecs(satrecs: Sequence[Satrec]) -> FloatArray:
    """(N, NCOL) float64 kernel parameters; rows with ``[:, _USE] == 0`` are delegated.

    Initialisation results are memoised on the element values (identical elements give
    identical constants), so re-packing a catalog's records costs a few us each.
    """
    p = np.zeros((len(satrecs), NCOL))
    if len(_ROW_CACHE) > _ROW_CACHE_MAX:
        _ROW_CACHE.clear()
    for i, sat in enumerate(satrecs):
        k = _key(sat)
        row = _ROW_CACHE.get(k, _MISSING)
        if row is _MISSING:
            row = _param_row(sat)
            _ROW_CACHE[k] = row
        if row is not None:
            p[i] = row  # type: ignore[index]
    return p


_MISSING: Any = object()


# --------------------------------------------------------------------------- math
# Everything below compiles with error_model="numpy" (IEEE results, no Python
# ZeroDivisionError checks): the C++ returns inf/NaN there too, and branch-free loop
# bodies are what lets LLVM vectorise the fast kernel.
_JIT: dict[str, Any] = {"nogil": True, "cache": True, "error_model": "numpy"}


@intrinsic
def _fma(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """a * b + c with one rounding (the FMA instruction; used only where written)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen


@njit(inline="always", **_JIT)
def _fmod_2pi(x):  # type: ignore[no-untyped-def]
    """C ``fmod(x, 2*pi)`` bit for bit for |x| < 2**50, branch-free, ~7x cheaper than libm.

    fmod's exact result x - q*y (q the truncated quotient) is always representable, so
    one FMA with the right integer q gives it exactly. q from a rounded product can be
    off by one near multiples of y; the range checks then take the neighbour. Beyond
    2**50 (SGP4 angles after ~1e8 years) q is no longer exact: NaN.
    """
    y = _TWOPI
    q = np.trunc(x * _INV_TWOPI)
    r = _fma(-q, y, x)
    pos = x > 0.0
    dec = (pos & (r < 0.0)) | (~pos & (r <= -y))
    inc = (pos & (r >= y)) | (~pos & (r > 0.0))
    q = q - 1.0 if dec else (q + 1.0 if inc else q)
    r = _fma(-q, y, x)
    r = math.copysign(0.0, x) if r == 0.0 else r  # a zero result keeps x's sign
    r = r if abs(x) < _FMOD_EXACT_BELOW else math.nan
    return x if abs(x) < y else r


_FMOD_EXACT_BELOW = 2.0**50


@njit(inline="always", **_JIT)
def _fmod_2pi_exact(x):  # type: ignore[no-untyped-def]
    """:func:`_fmod_2pi`, with libm's fmod for the huge arguments it refuses."""
    if abs(x) >= _FMOD_EXACT_BELOW:
        return np.fmod(x, _TWOPI)
    return _fmod_2pi(x)


# pi/2 as hi + mid + lo, each the double nearest to what is left
_PIO2_HI = 1.5707963267948966
_PIO2_MID = 6.123233995736766e-17
_PIO2_LO = -1.4973849048591698e-33
_TWO_OVER_PI = 0.6366197723675814
# Taylor coefficients of sin (x^3 .. x^19) and cos (x^4 .. x^18): on |r| <= pi/4 the
# first omitted terms are below 1e-19 relative
_S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9 = (
    (-1.0) ** k / math.factorial(2 * k + 1) for k in range(1, 10)
)
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9 = ((-1.0) ** k / math.factorial(2 * k) for k in range(2, 10))


@njit(inline="always", **_JIT)
def _sincos(x):  # type: ignore[no-untyped-def]
    """(sin x, cos x), branch-free so loops over it vectorise; < 0.9 ulp for |x| < 1e9.

    Reduction x = q pi/2 + r with r carried as a double-double: q*hi is subtracted
    exactly (the difference is a multiple of 2^-52 below 2 in size), q*mid with its
    exact product and sum errors, so cancellation near the zeros keeps full accuracy.
    glibc's sin/cos are < 0.52 ulp; the two agree bit for bit ~96% of the time.
    """
    q = math.floor(x * _TWO_OVER_PI + 0.5)
    r1 = _fma(-q, _PIO2_HI, x)
    p = -q * _PIO2_MID
    pe = _fma(-q, _PIO2_MID, -p)  # the product's rounding error, exactly
    r = r1 + p
    bb = r - r1
    rlo = ((r1 - (r - bb)) + (p - bb)) + _fma(-q, _PIO2_LO, pe)  # two-sum error + tail
    z = r * r
    ps = _fma(_fma(_fma(_fma(_S9, z, _S8), z, _S7), z, _S6), z, _S5)
    ps = _fma(_fma(_fma(_fma(ps, z, _S4), z, _S3), z, _S2), z, _S1)
    s = r + _fma(r * z, ps, rlo)
    pc = _fma(_fma(_fma(_fma(_C9, z, _C8), z, _C7), z, _C6), z, _C5)
    pc = _fma(_fma(_fma(pc, z, _C4), z, _C3), z, _C2)
    hz = 0.5 * z
    w = 1.0 - hz
    c = w + (((1.0 - w) - hz) + _fma(z * z, pc, -r * rlo))
    m = q - 4.0 * math.floor(q * 0.25)  # quadrant 0..3, in floats so NaN stays harmless
    swap = (m == 1.0) | (m == 3.0)
    so = c if swap else s
    co = s if swap else c
    so = -so if m >= 2.0 else so
    co = -co if (m == 1.0) | (m == 2.0) else co
    return so, co


# --------------------------------------------------------------------------- exact kernel
@njit(inline="always", **_JIT)
def _sgp4_exact(p, i, t):  # type: ignore[no-untyped-def]
    """SGP4 near-Earth with libm, satellite row ``i`` of ``p`` at ``t`` min since epoch.

    Returns (error, rx, ry, rz, vx, vy, vz) in km and km/s, TEME. Every expression has
    the C++ operand order and the same libm calls, so the doubles are the C++'s.
    """
    nan = math.nan
    # secular gravity and atmospheric drag
    xmdf = p[i, _MO] + p[i, _MDOT] * t
    argpdf = p[i, _ARGPO] + p[i, _ARGPDOT] * t
    nodedf = p[i, _NODEO] + p[i, _NODEDOT] * t
    argpm = argpdf
    mm = xmdf
    t2 = t * t
    nodem = nodedf + p[i, _NODECF] * t2
    tempa = 1.0 - p[i, _CC1] * t
    tempe = p[i, _BCC4] * t
    templ = p[i, _T2COF] * t2
    if p[i, _ISIMP] != 1.0:
        delomg = p[i, _OMGCOF] * t
        delmtemp = 1.0 + p[i, _ETA] * math.cos(xmdf)
        delm = p[i, _XMCOF] * (delmtemp * delmtemp * delmtemp - p[i, _DELMO])
        temp = delomg + delm
        mm = xmdf + temp
        argpm = argpdf - temp
        t3 = t2 * t
        t4 = t3 * t
        tempa = tempa - p[i, _D2] * t2 - p[i, _D3] * t3 - p[i, _D4] * t4
        tempe = tempe + p[i, _BCC5] * (math.sin(mm) - p[i, _SINMAO])
        templ = templ + p[i, _T3COF] * t3 + t4 * (p[i, _T4COF] + t * p[i, _T5COF])
    no = p[i, _NO]
    if no <= 0.0:
        return 2, nan, nan, nan, nan, nan, nan
    xke = p[i, _XKE]
    am = p[i, _AK] * tempa * tempa
    nm = xke / math.pow(am, 1.5)
    em = p[i, _ECCO] - tempe
    if em >= 1.0 or em < -0.001:
        return 1, nan, nan, nan, nan, nan, nan
    if em < 1.0e-6:
        em = 1.0e-6
    mm = mm + no * templ
    xlm = mm + argpm + nodem
    # C fmod keeps the dividend's sign (unlike Python's %)
    nodem = _fmod_2pi_exact(nodem)
    argpm = _fmod_2pi_exact(argpm)
    xlm = _fmod_2pi_exact(xlm)
    mm = _fmod_2pi_exact(xlm - argpm - nodem)

    # long-period periodics (near-Earth: inclination and its trig are constants)
    sinip = p[i, _SINIP]
    cosip = p[i, _COSIP]
    axnl = em * math.cos(argpm)
    temp = 1.0 / (am * (1.0 - em * em))
    aynl = em * math.sin(argpm) + temp * p[i, _AYCOF]
    xl = mm + argpm + nodem + temp * p[i, _XLCOF] * axnl

    # Kepler's equation for E + omega, Newton steps capped at 0.95 rad
    u = _fmod_2pi_exact(xl - nodem)
    eo1 = u
    tem5 = 9999.9
    ktr = 1
    sineo1 = 0.0
    coseo1 = 0.0
    while abs(tem5) >= 1.0e-12 and ktr <= 10:
        sineo1 = math.sin(eo1)
        coseo1 = math.cos(eo1)
        tem5 = 1.0 - coseo1 * axnl - sineo1 * aynl
        tem5 = (u - aynl * coseo1 + axnl * sineo1 - eo1) / tem5
        if abs(tem5) >= 0.95:
            tem5 = 0.95 if tem5 > 0.0 else -0.95
        eo1 = eo1 + tem5
        ktr = ktr + 1

    # short-period preliminaries
    ecose = axnl * coseo1 + aynl * sineo1
    esine = axnl * sineo1 - aynl * coseo1
    el2 = axnl * axnl + aynl * aynl
    pl = am * (1.0 - el2)
    if pl < 0.0:
        return 4, nan, nan, nan, nan, nan, nan
    rl = am * (1.0 - ecose)
    rdotl = math.sqrt(am) * esine / rl
    rvdotl = math.sqrt(pl) / rl
    betal = math.sqrt(1.0 - el2)
    temp = esine / (1.0 + betal)
    sinu = am / rl * (sineo1 - aynl - axnl * temp)
    cosu = am / rl * (coseo1 - axnl + aynl * temp)
    su = math.atan2(sinu, cosu)
    sin2u = (cosu + cosu) * sinu
    cos2u = 1.0 - 2.0 * sinu * sinu
    temp = 1.0 / pl
    temp1 = p[i, _HJ2] * temp
    temp2 = temp1 * temp

    # short-period periodics
    con41 = p[i, _CON41]
    x1mth2 = p[i, _X1MTH2]
    mrt = rl * (1.0 - 1.5 * temp2 * betal * con41) + 0.5 * temp1 * x1mth2 * cos2u
    su = su - 0.25 * temp2 * p[i, _X7THM1] * sin2u
    xnode = nodem + 1.5 * temp2 * cosip * sin2u
    xinc = p[i, _INCLO] + 1.5 * temp2 * cosip * sinip * cos2u
    mvt = rdotl - nm * temp1 * x1mth2 * sin2u / xke
    rvdot = rvdotl + nm * temp1 * (x1mth2 * cos2u + 1.5 * con41) / xke

    # orientation vectors
    sinsu = math.sin(su)
    cossu = math.cos(su)
    snod = math.sin(xnode)
    cnod = math.cos(xnode)
    sini = math.sin(xinc)
    cosi = math.cos(xinc)
    xmx = -snod * cosi
    xmy = cnod * cosi
    ux = xmx * sinsu + cnod * cossu
    uy = xmy * sinsu + snod * cossu
    uz = sini * sinsu
    vx = xmx * cossu - cnod * sinsu
    vy = xmy * cossu - snod * sinsu
    vz = sini * cossu

    re = p[i, _RE]
    vk = p[i, _VKMPERSEC]
    err = 6 if mrt < 1.0 else 0
    return (
        err,
        (mrt * ux) * re,
        (mrt * uy) * re,
        (mrt * uz) * re,
        (mvt * ux + rvdot * vx) * vk,
        (mvt * uy + rvdot * vy) * vk,
        (mvt * uz + rvdot * vz) * vk,
    )


@njit(parallel=True, **_JIT)
def _outer_exact(p, jd, fr, e, r, v):  # type: ignore[no-untyped-def]
    """:func:`_outer_fast`'s contract with :func:`_sgp4_exact` (libm, one time at once)."""
    n = p.shape[0]
    nt = jd.shape[0]
    for i in prange(n):
        if p[i, _USE] == 0.0:
            continue
        ep = p[i, _EPOCH]
        epf = p[i, _EPOCHF]
        for j in range(nt):
            t = (jd[j] - ep) * 1440.0 + (fr[j] - epf) * 1440.0
            err, rx, ry, rz, vx, vy, vz = _sgp4_exact(p, i, t)
            e[i, j] = err
            r[i, j, 0] = rx
            r[i, j, 1] = ry
            r[i, j, 2] = rz
            v[i, j, 0] = vx
            v[i, j, 1] = vy
            v[i, j, 2] = vz


@njit(parallel=True, **_JIT)
def _zipped_exact(p, idx, jd, fr, e, r, v):  # type: ignore[no-untyped-def]
    """:func:`_zipped_fast`'s contract with :func:`_sgp4_exact`."""
    for k in prange(idx.shape[0]):
        i = idx[k]
        if p[i, _USE] == 0.0:
            continue
        t = (jd[k] - p[i, _EPOCH]) * 1440.0 + (fr[k] - p[i, _EPOCHF]) * 1440.0
        err, rx, ry, rz, vx, vy, vz = _sgp4_exact(p, i, t)
        e[k] = err
        r[k, 0] = rx
        r[k, 1] = ry
        r[k, 2] = rz
        v[k, 0] = vx
        v[k, 1] = vy
        v[k, 2] = vz


# --------------------------------------------------------------------------- fast kernel
# The same equations in three branch-free stages per block of times (secular terms ->
# Kepler -> short-period terms), so LLVM turns each time loop into SIMD code. Own
# sin/cos (above), am*sqrt(am) for pow(am, 1.5), and sin/cos of the argument of
# latitude from the unit vector (sinu, cosu) instead of via atan2 make it differ from
# the C++ by floating-point noise only (see the module docstring and the tests).
_BLOCK = 256


@njit(inline="always", **_JIT)
def _secular(c, t):  # type: ignore[no-untyped-def]
    """Secular gravity and drag, then long-period periodics, at ``t`` min since epoch.

    ``c`` is one satellite's parameter row as a tuple. Returns (bad_eccentricity, u,
    axnl, aynl, am, nm, nodem): Kepler's inputs and what the short-period terms need.
    """
    xmdf = c[_MO] + c[_MDOT] * t
    argpdf = c[_ARGPO] + c[_ARGPDOT] * t
    nodedf = c[_NODEO] + c[_NODEDOT] * t
    t2 = t * t
    nodem = nodedf + c[_NODECF] * t2
    tempa = 1.0 - c[_CC1] * t
    tempe = c[_BCC4] * t
    templ = c[_T2COF] * t2
    # the simplified model (isimp, perigee < 220 km) drops the next terms; f = 0
    # leaves the others exactly as they are
    f = 0.0 if c[_ISIMP] == 1.0 else 1.0
    delomg = c[_OMGCOF] * t
    delmtemp = 1.0 + c[_ETA] * _sincos(xmdf)[1]
    delm = c[_XMCOF] * (delmtemp * delmtemp * delmtemp - c[_DELMO])
    temp = f * (delomg + delm)
    mm = xmdf + temp
    argpm = argpdf - temp
    t3 = t2 * t
    t4 = t3 * t
    tempa = tempa - f * (c[_D2] * t2) - f * (c[_D3] * t3) - f * (c[_D4] * t4)
    tempe = tempe + f * (c[_BCC5] * (_sincos(mm)[0] - c[_SINMAO]))
    templ = templ + f * (c[_T3COF] * t3) + f * (t4 * (c[_T4COF] + t * c[_T5COF]))
    am = c[_AK] * tempa * tempa
    nm = c[_XKE] / (am * math.sqrt(am))
    em = c[_ECCO] - tempe
    bad = (em >= 1.0) | (em < -0.001)
    em = 1.0e-6 if em < 1.0e-6 else em
    mm = mm + c[_NO] * templ
    xlm = mm + argpm + nodem
    nodem = _fmod_2pi(nodem)
    argpm = _fmod_2pi(argpm)
    xlm = _fmod_2pi(xlm)
    mm = _fmod_2pi(xlm - argpm - nodem)
    sinargp, cosargp = _sincos(argpm)
    axnl = em * cosargp
    temp = 1.0 / (am * (1.0 - em * em))
    aynl = em * sinargp + temp * c[_AYCOF]
    xl = mm + argpm + nodem + temp * c[_XLCOF] * axnl
    u = _fmod_2pi(xl - nodem)
    return bad, u, axnl, aynl, am, nm, nodem


@njit(inline="always", **_JIT)
def _kepler_step(u, axnl, aynl, eo1):  # type: ignore[no-untyped-def]
    """One Newton step on Kepler's equation for E + omega, capped at 0.95 rad.

    Returns (sin eo1, cos eo1, step, next eo1).
    """
    sineo1, coseo1 = _sincos(eo1)
    tem5 = 1.0 - coseo1 * axnl - sineo1 * aynl
    tem5 = (u - aynl * coseo1 + axnl * sineo1 - eo1) / tem5
    tem5 = math.copysign(0.95, tem5) if abs(tem5) >= 0.95 else tem5
    return sineo1, coseo1, tem5, eo1 + tem5


@njit(inline="always", **_JIT)
def _short_period(c, bad, am, nm, nodem, axnl, aynl, sineo1, coseo1):  # type: ignore[no-untyped-def]
    """Short-period periodics and the TEME state: (code, rx, ry, rz, vx, vy, vz)."""
    ecose = axnl * coseo1 + aynl * sineo1
    esine = axnl * sineo1 - aynl * coseo1
    el2 = axnl * axnl + aynl * aynl
    pl = am * (1.0 - el2)
    rl = am * (1.0 - ecose)
    rdotl = math.sqrt(am) * esine / rl
    rvdotl = math.sqrt(pl) / rl
    betal = math.sqrt(1.0 - el2)
    temp = esine / (1.0 + betal)
    sinu = am / rl * (sineo1 - aynl - axnl * temp)
    cosu = am / rl * (coseo1 - axnl + aynl * temp)
    sin2u = (cosu + cosu) * sinu
    cos2u = 1.0 - 2.0 * sinu * sinu
    temp = 1.0 / pl
    temp1 = c[_HJ2] * temp
    temp2 = temp1 * temp
    con41 = c[_CON41]
    x1mth2 = c[_X1MTH2]
    mrt = rl * (1.0 - 1.5 * temp2 * betal * con41) + 0.5 * temp1 * x1mth2 * cos2u
    # su = atan2(sinu, cosu) - dsu; its sine and cosine from the unit vector and the
    # angle-difference identity (saves atan2 and a full sin/cos)
    dsu = 0.25 * temp2 * c[_X7THM1] * sin2u
    rho = math.sqrt(sinu * sinu + cosu * cosu)
    s0 = sinu / rho
    c0 = cosu / rho
    sind, cosd = _sincos(dsu)
    sinsu = s0 * cosd - c0 * sind
    cossu = c0 * cosd + s0 * sind
    xnode = nodem + 1.5 * temp2 * c[_COSIP] * sin2u
    xinc = c[_INCLO] + 1.5 * temp2 * c[_COSIP] * c[_SINIP] * cos2u
    mvt = rdotl - nm * temp1 * x1mth2 * sin2u / c[_XKE]
    rvdot = rvdotl + nm * temp1 * (x1mth2 * cos2u + 1.5 * con41) / c[_XKE]
    snod, cnod = _sincos(xnode)
    sini, cosi = _sincos(xinc)
    xmx = -snod * cosi
    xmy = cnod * cosi
    ux = xmx * sinsu + cnod * cossu
    uy = xmy * sinsu + snod * cossu
    uz = sini * sinsu
    vx = xmx * cossu - cnod * sinsu
    vy = xmy * cossu - snod * sinsu
    vz = sini * cossu
    re = c[_RE]
    vk = c[_VKMPERSEC]
    # the C++ stops at the first failed check: 1 (eccentricity), 4 (semi-latus
    # rectum), then flags 6 (decayed) but keeps that state
    code = 1.0 if bad else (4.0 if pl < 0.0 else (6.0 if mrt < 1.0 else 0.0))
    keep = (code == 0.0) | (code == 6.0)
    nan = math.nan
    return (
        code,
        (mrt * ux) * re if keep else nan,
        (mrt * uy) * re if keep else nan,
        (mrt * uz) * re if keep else nan,
        (mvt * ux + rvdot * vx) * vk if keep else nan,
        (mvt * uy + rvdot * vy) * vk if keep else nan,
        (mvt * uz + rvdot * vz) * vk if keep else nan,
    )


# scratch rows of the block routine
_W_T, _W_BAD, _W_U, _W_AX, _W_AY, _W_AM, _W_NM, _W_ND, _W_EO, _W_S, _W_C, _W_ACT = range(12)
_W_CODE, _W_RX, _W_RY, _W_RZ, _W_VX, _W_VY, _W_VZ = range(12, 19)
_W_ROWS = 19


@njit(inline="always", **_JIT)
def _block(c, w, nb):  # type: ignore[no-untyped-def]
    """One satellite at the ``nb`` times ``w[_W_T, :nb]`` (min since epoch).

    Writes code and state to rows ``_W_CODE.._W_VZ`` of ``w``. Each loop is branch-free
    over the times, so it compiles to SIMD code.
    """
    t_, bad_, u_, ax_, ay_ = w[_W_T], w[_W_BAD], w[_W_U], w[_W_AX], w[_W_AY]
    am_, nm_, nd_, eo_, s_, c_, act_ = (
        w[_W_AM], w[_W_NM], w[_W_ND], w[_W_EO], w[_W_S], w[_W_C], w[_W_ACT],
    )  # fmt: skip
    code_, rx_, ry_, rz_, vx_, vy_, vz_ = (
        w[_W_CODE], w[_W_RX], w[_W_RY], w[_W_RZ], w[_W_VX], w[_W_VY], w[_W_VZ],
    )  # fmt: skip
    for j in range(nb):
        bad, u, axnl, aynl, am, nm, nodem = _secular(c, t_[j])
        bad_[j] = 1.0 if bad else 0.0
        u_[j] = u
        ax_[j] = axnl
        ay_[j] = aynl
        am_[j] = am
        nm_[j] = nm
        nd_[j] = nodem
        eo_[j] = u
        act_[j] = 1.0
    # Kepler for the whole block: a time drops out once its step is < 1e-12 (or
    # after 10 steps), exactly as in the per-time loop of the C++
    for _ in range(10):
        active = 0
        for j in range(nb):
            sineo1, coseo1, tem5, eo1 = _kepler_step(u_[j], ax_[j], ay_[j], eo_[j])
            a = act_[j] != 0.0
            s_[j] = sineo1 if a else s_[j]
            c_[j] = coseo1 if a else c_[j]
            eo_[j] = eo1 if a else eo_[j]
            go = a & (abs(tem5) >= 1.0e-12)
            act_[j] = 1.0 if go else 0.0
            active += 1 if go else 0
        if active == 0:
            break
    for j in range(nb):
        code, rx, ry, rz, vx, vy, vz = _short_period(
            c, bad_[j] != 0.0, am_[j], nm_[j], nd_[j], ax_[j], ay_[j], s_[j], c_[j]
        )
        code_[j] = code
        rx_[j] = rx
        ry_[j] = ry
        rz_[j] = rz
        vx_[j] = vx
        vy_[j] = vy
        vz_[j] = vz


@njit(parallel=True, **_JIT)
def _outer_fast(p, jd, fr, e, r, v):  # type: ignore[no-untyped-def]
    """Fill e (N,T), r, v (N,T,3) for the rows of ``p`` flagged for the kernel."""
    n = p.shape[0]
    nt = jd.shape[0]
    for i in prange(n):
        if p[i, _USE] == 0.0:
            continue
        c = to_fixed_tuple(p[i], NCOL)
        ep = c[_EPOCH]
        epf = c[_EPOCHF]
        w = np.empty((_W_ROWS, _BLOCK))
        for j0 in range(0, nt, _BLOCK):
            nb = min(_BLOCK, nt - j0)
            for j in range(nb):
                # same split arithmetic as sgp4.api, so tsince has the same bits
                w[_W_T, j] = (jd[j0 + j] - ep) * 1440.0 + (fr[j0 + j] - epf) * 1440.0
            _block(c, w, nb)
            _store_outer(c, w, nb, e[i, j0:], r[i, j0:], v[i, j0:])


@njit(inline="always", **_JIT)
def _store_outer(c, w, nb, e, r, v):  # type: ignore[no-untyped-def]
    """Copy a block's results to e (nb,), r, v (nb, 3); error 2 when n <= 0."""
    two = c[_NO] <= 0.0  # mean motion <= 0: the C++ fails before anything else
    nan = math.nan
    for j in range(nb):
        e[j] = np.uint8(2.0 if two else w[_W_CODE, j])
        r[j, 0] = nan if two else w[_W_RX, j]
        r[j, 1] = nan if two else w[_W_RY, j]
        r[j, 2] = nan if two else w[_W_RZ, j]
        v[j, 0] = nan if two else w[_W_VX, j]
        v[j, 1] = nan if two else w[_W_VY, j]
        v[j, 2] = nan if two else w[_W_VZ, j]


@njit(**_JIT)
def _group_by(idx, n):  # type: ignore[no-untyped-def]
    """Counting sort of ``idx`` (values 0..n-1): (order, starts) of the non-empty groups."""
    count = np.zeros(n + 1, dtype=np.int64)
    for k in range(idx.shape[0]):
        count[idx[k] + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    pos = count[:-1].copy()
    order = np.empty(idx.shape[0], dtype=np.int64)
    for k in range(idx.shape[0]):
        order[pos[idx[k]]] = k
        pos[idx[k]] += 1
    ngroups = 0
    for i in range(n):
        ngroups += 1 if count[i + 1] > count[i] else 0
    starts = np.empty(ngroups + 1, dtype=np.int64)
    g = 0
    for i in range(n):
        if count[i + 1] > count[i]:
            starts[g] = count[i]
            g += 1
    starts[ngroups] = idx.shape[0]
    return order, starts


@njit(parallel=True, **_JIT)
def _zipped_fast(p, idx, order, starts, jd, fr, e, r, v):  # type: ignore[no-untyped-def]
    """Satellite ``idx[k]`` at time k, grouped by satellite (``order`` sorts ``idx``,
    group g is ``order[starts[g]:starts[g + 1]]``) so each group runs the SIMD block
    routine; the results equal :func:`_outer_fast`'s bit for bit."""
    nan = math.nan
    for g in prange(starts.shape[0] - 1):
        a = starts[g]
        b = starts[g + 1]
        i = idx[order[a]]
        if p[i, _USE] == 0.0:
            continue
        c = to_fixed_tuple(p[i], NCOL)
        ep = c[_EPOCH]
        epf = c[_EPOCHF]
        two = c[_NO] <= 0.0
        w = np.empty((_W_ROWS, _BLOCK))
        for j0 in range(a, b, _BLOCK):
            nb = min(_BLOCK, b - j0)
            for j in range(nb):
                k = order[j0 + j]
                w[_W_T, j] = (jd[k] - ep) * 1440.0 + (fr[k] - epf) * 1440.0
            _block(c, w, nb)
            for j in range(nb):
                k = order[j0 + j]
                e[k] = np.uint8(2.0 if two else w[_W_CODE, j])
                r[k, 0] = nan if two else w[_W_RX, j]
                r[k, 1] = nan if two else w[_W_RY, j]
                r[k, 2] = nan if two else w[_W_RZ, j]
                v[k, 0] = nan if two else w[_W_VX, j]
                v[k, 1] = nan if two else w[_W_VY, j]
                v[k, 2] = nan if two else w[_W_VZ, j]


# --------------------------------------------------------------------------- dispatch
# GNU OpenMP (numba's threading layer when TBB is absent) aborts a forked child that
# enters a parallel region its parent had started. A child forked after we ran in
# parallel therefore gets the same kernels compiled without threads.
_PARALLEL = {
    "outer_fast": _outer_fast,
    "outer_exact": _outer_exact,
    "zipped_fast": _zipped_fast,
    "zipped_exact": _zipped_exact,
}
_SERIAL: dict[str, Any] = {}
_STATE = {"parallel_used": False, "forked_after_parallel": False}


def _after_fork_in_child() -> None:
    _STATE["forked_after_parallel"] = _STATE["parallel_used"]


os.register_at_fork(after_in_child=_after_fork_in_child)


def _chunksize(n: int) -> Any:
    """numba's per-call chunk size; a no-op (no threading-layer call) in such a child."""
    if _STATE["forked_after_parallel"]:
        return contextlib.nullcontext()
    return parallel_chunksize(n)


def _kernel(name: str) -> Any:
    if not _STATE["forked_after_parallel"]:
        _STATE["parallel_used"] = True
        return _PARALLEL[name]
    if name not in _SERIAL:
        # a renamed copy: numba's disk cache is keyed by name, not by the parallel flag
        f = _PARALLEL[name].py_func
        g = pytypes.FunctionType(f.__code__, f.__globals__, f.__name__ + "_serial")
        g.__qualname__ = f.__qualname__ + "_serial"
        _SERIAL[name] = njit(**_JIT)(g)
    return _SERIAL[name]


# --------------------------------------------------------------------------- public API
class FastSatArray:
    """Drop-in for ``sgp4.api.SatrecArray``: ``sgp4(jd, fr) -> (e, r_km, v_km_s)``.

    Near-Earth records run in a numba kernel on all cores (the GIL is released);
    deep-space ones through ``SatrecArray``. Outputs: ``e`` (N, T) uint8 SGP4 error
    codes, ``r`` (N, T, 3) km and ``v`` (N, T, 3) km/s in TEME.

    ``exact=False`` (default): the vectorised kernel, ~14x the C++ per core with
    AVX-512; on the real catalogs tested it is a median 1e-12 km and at most 1e-10 km,
    1e-13 km/s from the C++. ``exact=True``: libm, one time at a time, ~1.9x the C++
    per core, and the C++'s doubles bit for bit (x86-64 wheels, built without FMA
    contraction). See docs/decisions/0002-sgp4-kernel.md.
    """

    def __init__(self, satrecs: Sequence[Satrec], *, exact: bool = False) -> None:
        self.satrecs = list(satrecs)
        self.exact = exact
        self.params = pack_satrecs(self.satrecs)
        use = self.params[:, _USE] != 0.0
        self.delegated = np.flatnonzero(~use)
        self._deep = (
            SatrecArray([self.satrecs[i] for i in self.delegated]) if self.delegated.size else None
        )

    def __len__(self) -> int:
        return len(self.satrecs)

    def sgp4(self, jd: Any, fr: Any) -> tuple[npt.NDArray[np.uint8], FloatArray, FloatArray]:
        """Propagate every satellite to every UTC Julian date ``jd + fr`` (arrays of T)."""
        jd = np.ascontiguousarray(np.atleast_1d(jd), dtype=np.float64)
        fr = np.ascontiguousarray(np.atleast_1d(fr), dtype=np.float64)
        if jd.shape != fr.shape or jd.ndim != 1:
            raise ConfigError(
                f"shapes jd {jd.shape}, fr {fr.shape}: need two 1-D arrays of one length",
                option="jd",
            )
        n, nt = len(self.satrecs), jd.size
        e = np.empty((n, nt), dtype=np.uint8)
        r = np.empty((n, nt, 3))
        v = np.empty((n, nt, 3))
        if n and nt:
            # hand out satellites a few at a time rather than one block per thread, so
            # a core slowed by other work (or a run of cheap failing satellites) evens out
            with _chunksize(max(1, 65536 // nt)):
                kernel = _kernel("outer_exact" if self.exact else "outer_fast")
                kernel(self.params, jd, fr, e, r, v)
            if self._deep is not None:
                de, dr, dv = self._deep.sgp4(jd, fr)
                e[self.delegated], r[self.delegated], v[self.delegated] = de, dr, dv
        return e, r, v

    def sgp4_zipped(
        self, idx: Any, jd: Any, fr: Any
    ) -> tuple[npt.NDArray[np.uint8], FloatArray, FloatArray]:
        """Satellite ``idx[k]`` at ``jd[k] + fr[k]``: ``e`` (K,), ``r``, ``v`` (K, 3)."""
        idx = np.ascontiguousarray(np.atleast_1d(idx), dtype=np.int64)
        jd = np.ascontiguousarray(np.atleast_1d(jd), dtype=np.float64)
        fr = np.ascontiguousarray(np.atleast_1d(fr), dtype=np.float64)
        if not (idx.shape == jd.shape == fr.shape) or idx.ndim != 1:
            raise ConfigError(
                f"shapes idx {idx.shape}, jd {jd.shape}, fr {fr.shape}: need three 1-D arrays "
                "of one length",
                option="idx",
            )
        n = len(self.satrecs)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ConfigError(f"satellite index out of range 0..{n - 1}", option="idx")
        k = idx.size
        e = np.empty(k, dtype=np.uint8)
        r = np.empty((k, 3))
        v = np.empty((k, 3))
        if k:
            if self.exact:
                with _chunksize(4096):
                    _kernel("zipped_exact")(self.params, idx, jd, fr, e, r, v)
            else:
                # group by satellite so the vectorised block routine applies
                order, starts = _group_by(idx, n)
                with _chunksize(max(1, 4096 * (starts.size - 1) // k)):
                    _kernel("zipped_fast")(self.params, idx, order, starts, jd, fr, e, r, v)
            if self.delegated.size:
                _zipped_delegated(self.satrecs, self.params, idx, jd, fr, e, r, v)
        return e, r, v


def _zipped_delegated(
    satrecs: Sequence[Satrec],
    params: FloatArray,
    idx: npt.NDArray[np.int64],
    jd: FloatArray,
    fr: FloatArray,
    e: npt.NDArray[np.uint8],
    r: FloatArray,
    v: FloatArray,
) -> None:
    sel = np.flatnonzero(params[idx, _USE] == 0.0)
    if sel.size == 0:
        return
    order = sel[np.argsort(idx[sel], kind="stable")]
    bounds = np.flatnonzero(np.diff(idx[order])) + 1
    for grp in np.split(order, bounds):
        ee, rr, vv = satrecs[int(idx[grp[0]])].sgp4_array(jd[grp], fr[grp])
        e[grp], r[grp], v[grp] = ee, rr, vv


_ZIP_CACHE: OrderedDict[int, tuple[Sequence[Satrec], int, FastSatArray]] = OrderedDict()
_ZIP_CACHE_SIZE = 4


def _fast_array_for(satrecs: Sequence[Satrec] | FastSatArray) -> FastSatArray:
    """A FastSatArray for ``satrecs``, reused while the same list object is passed again."""
    if isinstance(satrecs, FastSatArray):
        return satrecs
    hit = _ZIP_CACHE.get(id(satrecs))
    # the cache holds a reference to the list, so its id cannot be recycled meanwhile
    if (
        hit is not None
        and hit[0] is satrecs
        and hit[1] == len(satrecs)
        and all(a is b for a, b in zip(hit[2].satrecs, satrecs, strict=True))
    ):
        _ZIP_CACHE.move_to_end(id(satrecs))
        return hit[2]
    arr = FastSatArray(satrecs)
    _ZIP_CACHE[id(satrecs)] = (satrecs, len(satrecs), arr)
    while len(_ZIP_CACHE) > _ZIP_CACHE_SIZE:
        _ZIP_CACHE.popitem(last=False)
    return arr


def propagate_zipped_kernel(
    satrecs: Sequence[Satrec] | FastSatArray, idx: Any, jd: Any, fr: Any
) -> tuple[npt.NDArray[np.uint8], FloatArray, FloatArray]:
    """Satellite ``satrecs[idx[k]]`` at UTC Julian date ``jd[k] + fr[k]``, for each k.

    Returns ``e`` (K,) uint8, ``r`` (K, 3) km, ``v`` (K, 3) km/s in TEME. The packed
    parameters are cached for the last few lists passed (or pass a FastSatArray).
    """
    return _fast_array_for(satrecs).sgp4_zipped(idx, jd, fr)


__all__ = ["NCOL", "FastSatArray", "pack_satrecs", "propagate_zipped_kernel"]
