"""Our numba SGP4 kernels against Vallado's C++ (``sgp4.api.SatrecArray``) on real catalogs.

The C++ is an independent implementation of the same model. The exact kernel must
return its doubles bit for bit; the fast (vectorised) kernel must agree to
floating-point noise: 1e-8 km and 1e-11 km/s here (typical 1e-12 km; the model itself
turns a 1-ulp change of cos(M) into up to ~1e-10 km for near-circular orbits, see the
module docstring), always with the same error codes and NaNs in the same places.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sgp4.api import SatrecArray

from kongtian.errors import ConfigError
from kongtian.geo.time import jd_split_utc, time_grid
from kongtian.space import sgp4_kernel
from kongtian.space.catalog import load_catalog
from kongtian.space.propagate import propagate
from kongtian.space.sgp4_kernel import FastSatArray, propagate_zipped_kernel

from ..conftest import DATA

FILES = [
    "starlink_tle_2025-01-23_celestrak_via_pioet.txt",
    "oneweb_tle_2025-01-05_celestrak_via_pioet.txt",
    "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle",
]
DR_KM = 1e-8
DV_KM_S = 1e-11


@pytest.fixture(scope="module")
def catalogs():
    return {f: load_catalog(DATA / f) for f in FILES}


@pytest.fixture(scope="module")
def starlink(catalogs):
    return catalogs[FILES[0]]


@pytest.fixture(scope="module")
def deep_space():
    """Vallado's deep-space element sets (12 h, 24 h resonant, Molniya, GEO)."""
    cat = load_catalog(DATA / "SGP4-VER.TLE", strict=False)
    return [s for s in cat.satrecs if s.method == "d"]


def _random_times(cat, rng, n, days=3.0):
    """n UTC times within +-days of the catalog's median epoch, as (jd, fr)."""
    mid = cat.epoch_utc.astype(np.int64)
    mid = np.int64(np.median(mid))
    off = rng.uniform(-days, days, n) * 86_400e9
    t = (mid + off.astype(np.int64)).astype("datetime64[ns]")
    return jd_split_utc(t)


def _assert_same(ours, ref, *, bitwise=False):
    e, r, v = ours
    ee, rr, vv = ref
    np.testing.assert_array_equal(e, ee)
    np.testing.assert_array_equal(np.isnan(r), np.isnan(rr))
    np.testing.assert_array_equal(np.isnan(v), np.isnan(vv))
    if bitwise:
        np.testing.assert_array_equal(r, rr)
        np.testing.assert_array_equal(v, vv)
    elif np.isfinite(rr).any():
        assert np.nanmax(np.abs(r - rr)) < DR_KM
        assert np.nanmax(np.abs(v - vv)) < DV_KM_S


@pytest.mark.parametrize("exact", [False, True], ids=["fast", "exact"])
@pytest.mark.parametrize("name", FILES)
def test_matches_cpp_at_random_times(catalogs, name, exact):
    cat = catalogs[name]
    rng = np.random.default_rng(7)
    jd, fr = _random_times(cat, rng, 48)
    fast = FastSatArray(cat.satrecs, exact=exact)
    assert fast.delegated.size == 0  # all LEO: everything ran in our kernel
    ours = fast.sgp4(jd, fr)
    ref = SatrecArray(cat.satrecs).sgp4(jd, fr)
    assert ours[1].shape == (len(cat), 48, 3) and ours[0].dtype == np.uint8
    _assert_same(ours, ref, bitwise=exact)


@pytest.mark.slow
def test_fast_kernel_accuracy_over_a_day(starlink):
    """The benchmark's workload: all 6,909 Starlink x 1,440 minutes against the C++."""
    jd, fr = jd_split_utc(time_grid("2025-01-23T00:00:00Z", 86_340.0, 60.0))
    ours = FastSatArray(starlink.satrecs).sgp4(jd, fr)
    ref = SatrecArray(starlink.satrecs).sgp4(jd, fr)
    _assert_same(ours, ref)
    d = np.linalg.norm(ours[1] - ref[1], axis=-1)
    assert np.nanmedian(d) < 1e-11  # km: noise, not a modelling difference


@pytest.mark.parametrize("exact", [False, True], ids=["fast", "exact"])
def test_decayed_starlink_back_to_2025_01_05(starlink, exact):
    """~90 Starlink element sets of 2025-01-19..23 fail (decay) when run back to 01-05."""
    t = time_grid("2025-01-05T00:00:00Z", 86_400.0, 600.0)
    jd, fr = jd_split_utc(t)
    e, r, v = FastSatArray(starlink.satrecs, exact=exact).sgp4(jd, fr)  # must not raise
    ref = SatrecArray(starlink.satrecs).sgp4(jd, fr)
    _assert_same((e, r, v), ref, bitwise=exact)
    failed = np.any(e != 0, axis=1)
    assert 80 <= failed.sum() <= 100
    assert set(np.unique(e[e != 0]).tolist()) == {1, 6}
    # error 1 (mean eccentricity out of range): no state; 6 (decayed): state kept
    assert np.isnan(r[e == 1]).all() and np.isnan(v[e == 1]).all()
    assert np.isfinite(r[e == 6]).all()
    assert np.isfinite(r[e == 0]).all()


def test_mixed_catalog_delegates_deep_space(starlink, deep_space):
    sats = starlink.satrecs[:300] + deep_space
    fast = FastSatArray(sats)
    assert sorted(fast.delegated.tolist()) == list(range(300, 300 + len(deep_space)))
    rng = np.random.default_rng(3)
    jd, fr = _random_times(starlink, rng, 16, days=2.0)
    _assert_same(fast.sgp4(jd, fr), SatrecArray(sats).sgp4(jd, fr))


@pytest.mark.parametrize("exact", [False, True], ids=["fast", "exact"])
def test_zipped_equals_outer_product(starlink, deep_space, exact):
    sats = starlink.satrecs[:2000] + deep_space
    rng = np.random.default_rng(11)
    jd, fr = _random_times(starlink, rng, 40)
    ref = SatrecArray(sats).sgp4(jd, fr)
    arr = FastSatArray(sats, exact=exact)
    outer = arr.sgp4(jd, fr)
    k = 50_000
    idx = rng.integers(0, len(sats), k)
    tk = rng.integers(0, jd.size, k)
    z = propagate_zipped_kernel(arr, idx, jd[tk], fr[tk])
    assert z[0].shape == (k,) and z[1].shape == (k, 3)
    # the per-time (zipped) and the vectorised (outer) code do the same arithmetic
    for a, b in zip(z, outer, strict=True):
        np.testing.assert_array_equal(a, b[idx, tk])
    _assert_same(z, tuple(b[idx, tk] for b in ref), bitwise=exact)
    # the list form (cached per list) gives the default kernel's result
    if not exact:
        z2 = propagate_zipped_kernel(sats, idx, jd[tk], fr[tk])
        np.testing.assert_array_equal(z2[1], z[1])


def test_zipped_cache_follows_the_list(starlink):
    sats = list(starlink.satrecs[:20])
    jd, fr = jd_split_utc(time_grid("2025-01-23T00:00:00Z", 180.0, 60.0))
    idx = np.zeros(jd.size, dtype=np.int64)
    first = propagate_zipped_kernel(sats, idx, jd, fr)
    sats[0] = starlink.satrecs[100]  # same list object, different satellite
    second = propagate_zipped_kernel(sats, idx, jd, fr)
    want = SatrecArray([starlink.satrecs[100]]).sgp4(jd, fr)
    _assert_same(second, tuple(w[0] for w in want))
    assert not np.allclose(first[1], second[1])
    # a FastSatArray can be passed instead of a list
    third = propagate_zipped_kernel(FastSatArray(sats), idx, jd, fr)
    np.testing.assert_array_equal(third[1], second[1])


def test_public_propagate_engines_agree(catalogs):
    cat = catalogs[FILES[2]]
    t = time_grid("2026-02-20T00:00:00Z", 6 * 3600.0, 30.0)
    a = propagate(cat, t, engine="numba")
    b = propagate(cat, t, engine="sgp4")
    np.testing.assert_array_equal(a.error, b.error)
    assert np.nanmax(np.abs(a.r_m - b.r_m)) < DR_KM * 1e3
    assert np.nanmax(np.abs(a.v_m_s - b.v_m_s)) < DV_KM_S * 1e3


def test_concurrent_calls_from_threads(starlink):
    """The kernel releases the GIL and may be called from several threads at once."""
    fast = FastSatArray(starlink.satrecs[:1500])
    rng = np.random.default_rng(5)
    batches = [_random_times(starlink, rng, 30) for _ in range(4)]
    serial = [fast.sgp4(jd, fr) for jd, fr in batches]
    with ThreadPoolExecutor(4) as pool:
        par = list(pool.map(lambda b: fast.sgp4(*b), batches))
    for s, p in zip(serial, par, strict=True):
        for a, b in zip(s, p, strict=True):
            np.testing.assert_array_equal(a, b)


def test_empty_inputs(starlink):
    fast = FastSatArray(starlink.satrecs[:5])
    e, r, v = fast.sgp4(np.empty(0), np.empty(0))
    assert e.shape == (5, 0) and r.shape == (5, 0, 3) and v.shape == (5, 0, 3)
    e, r, v = FastSatArray([]).sgp4(np.array([2460698.5]), np.array([0.0]))
    assert e.shape == (0, 1) and r.shape == (0, 1, 3)
    e, r, v = propagate_zipped_kernel(starlink.satrecs[:5], [], [], [])
    assert e.shape == (0,) and r.shape == (0, 3)


def test_bad_input_names_the_argument(starlink):
    fast = FastSatArray(starlink.satrecs[:5])
    with pytest.raises(ConfigError, match="jd"):
        fast.sgp4(np.zeros(3), np.zeros(4))
    with pytest.raises(ConfigError, match="idx"):
        fast.sgp4_zipped([0, 1], [2460698.5], [0.0])
    with pytest.raises(ConfigError, match="out of range"):
        fast.sgp4_zipped([5], [2460698.5], [0.0])


def test_sincos_against_extended_precision():
    """Our branch-free sin/cos vs 80-bit long double sin/cos: < 1 ulp.

    Near the zeros of large arguments (sin x for x near k*pi) the error is counted in
    ulps of 2**-50: there the reduction x - k*pi/2 keeps ~1e-31 absolute, which is all
    SGP4 can use (7,000 km x 1e-31).
    """
    from numba import njit

    @njit(error_model="numpy")
    def both(x, s, c):
        for i in range(x.size):
            s[i], c[i] = sgp4_kernel._sincos(x[i])

    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(-1, 1, 200_000),
            rng.uniform(-7, 7, 200_000),
            rng.uniform(-1e5, 1e5, 200_000),
            rng.uniform(-1e9, 1e9, 100_000),
            np.arange(-2000, 2000) * (np.pi / 4),  # octant edges
            np.nextafter(np.arange(-2000, 2000) * (np.pi / 2), np.inf),
            [0.0, -0.0, 1e-300, 5e-324, 1e-8],
        ]
    )
    s = np.empty_like(x)
    c = np.empty_like(x)
    both(x, s, c)
    xl = x.astype(np.longdouble)
    for got, want in ((s, np.sin(xl)), (c, np.cos(xl))):
        mag = np.maximum(np.abs(want.astype(np.float64)), 2.0**-50)
        err = np.abs((got.astype(np.longdouble) - want) / np.spacing(mag).astype(np.longdouble))
        assert float(err.max()) < 1.0
    nan = np.array([np.nan, np.inf, -np.inf])
    s, c = np.empty(3), np.empty(3)
    both(nan, s, c)
    assert np.isnan(s).all() and np.isnan(c).all()


def test_fmod_2pi_is_c_fmod_bit_for_bit():
    from numba import njit

    @njit(error_model="numpy")
    def ours(x, out, out_exact):
        for i in range(x.size):
            out[i] = sgp4_kernel._fmod_2pi(x[i])
            out_exact[i] = sgp4_kernel._fmod_2pi_exact(x[i])

    two_pi = 2 * np.pi
    k = np.arange(-100_000, 100_000, dtype=np.float64)
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [
            rng.uniform(-10, 10, 100_000),
            rng.uniform(-1e6, 1e6, 100_000),
            k * two_pi,  # exact multiples and their neighbours: q off by one
            np.nextafter(k * two_pi, np.inf),
            np.nextafter(k * two_pi, -np.inf),
            [0.0, -0.0, two_pi, -two_pi, np.nextafter(two_pi, 0), 1e15, -1e-300],
            [1e16, -3e300],  # beyond 2**50: the fast form gives NaN, the exact one libm's
        ]
    )
    got = np.empty_like(x)
    got_exact = np.empty_like(x)
    ours(x, got, got_exact)
    want = np.fmod(x, two_pi)  # C fmod
    np.testing.assert_array_equal(got_exact, want)
    np.testing.assert_array_equal(np.signbit(got_exact), np.signbit(want))
    np.testing.assert_array_equal(got[:-2], want[:-2])
    np.testing.assert_array_equal(np.signbit(got[:-2]), np.signbit(want[:-2]))
    assert np.isnan(got[-2:]).all()


_FORK_INPUT: list = []  # Satrec does not pickle: the forked child reads it from here


def _child_propagates(_):
    sats, jd, fr = _FORK_INPUT
    e, r, v = FastSatArray(sats).sgp4(jd, fr)
    z = propagate_zipped_kernel(sats, np.arange(len(sats)), jd[: len(sats)], fr[: len(sats)])
    return e, r, z[1]


def test_forked_child_after_parallel_use(catalogs):
    """GNU OpenMP aborts a forked child entering a parallel region its parent started;
    a child forked after our kernels ran must still propagate (single-threaded)."""
    import multiprocessing as mp

    cat = catalogs[FILES[2]]
    jd, fr = jd_split_utc(time_grid("2026-02-20T00:00:00Z", 7200.0, 60.0))
    want = FastSatArray(cat.satrecs).sgp4(jd, fr)  # the parent runs in parallel first
    _FORK_INPUT[:] = [cat.satrecs, jd, fr]
    with mp.get_context("fork").Pool(1) as pool:
        e, r, zr = pool.map_async(_child_propagates, [0]).get(timeout=300)[0]
    np.testing.assert_array_equal(e, want[0])
    np.testing.assert_array_equal(r, want[1])
    np.testing.assert_array_equal(zr, want[1][np.arange(len(cat)), np.arange(len(cat))])
