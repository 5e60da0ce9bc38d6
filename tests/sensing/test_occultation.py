"""Radio-occultation retrieval against independent truth.

Truth: the US Standard Atmosphere 1976 (published formulas and table values, ``us76.py``)
and the shared reference bending angles (``tests/data/sensing/ro_reference``), computed
there by an exponential-layer (erf) forward transform on a 50 m grid: a different scheme
from our piecewise-linear Abel pair. Analytic Abel pairs and the 1/f^2 ionospheric law
provide the other truths.
"""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.errors import ConfigError
from kongtian.sensing.occultation import quality
from kongtian.sensing.occultation.abel import forward_abel, inverse_abel
from kongtian.sensing.occultation.climatology import climatology_profile
from kongtian.sensing.occultation.hydrostatic import dry_pressure_temperature, gravity_us76
from kongtian.sensing.occultation.ionosphere import (
    ionosphere_free_bending,
    linear_combination_weights,
)
from kongtian.sensing.occultation.optimisation import estimate_noise
from kongtian.sensing.occultation.retrieval import retrieve

from ..conftest import DATA
from .us76 import dry_refractivity, us76

REF = DATA / "sensing" / "ro_reference" / "us76_dry_refractivity_bending.csv"
RC = 6_371_000.0


@pytest.fixture(scope="module")
def ref():
    d = np.loadtxt(REF, delimiter=",", skiprows=1)
    return {
        "z": d[:, 0] * 1e3,
        "t": d[:, 1],
        "p": d[:, 2] * 100,
        "n": d[:, 3],
        "a": d[:, 4],
        "alpha": d[:, 5],
    }


def band(z, lo_km, hi_km):
    return (z >= lo_km * 1e3) & (z <= hi_km * 1e3)


def noisy(ref, seed):
    sigma = 1.5e-6 + 0.003 * ref["alpha"]
    return ref["alpha"] + np.random.default_rng(seed).normal(0.0, 1.0, sigma.size) * sigma


# ----------------------------------------------------------------------------- truth
def test_us76_helper_matches_published_table():
    # US76 Table I (geometric altitude): 11, 20, 32, 50 km.
    t, p = us76([11e3, 20e3, 32e3, 50e3])
    assert t == pytest.approx([216.774, 216.650, 228.490, 270.650], abs=1e-3)
    assert p == pytest.approx([22699.9, 5529.3, 889.06, 79.779], rel=2e-5)


def test_reference_file_is_us76(ref):
    assert ref["n"] == pytest.approx(dry_refractivity(ref["z"]), rel=1e-6)


# ----------------------------------------------------------------------------- Abel
def test_inverse_abel_exact_pair():
    # alpha(a) = A (a/a0) exp(-(a^2 - a0^2)/s^2)  <->  ln n(x) = A s/(2 sqrt(pi) a0) exp(-(x^2-a0^2)/s^2)
    a0, s, amp = 6.372e6, np.sqrt(2 * 6.372e6 * 7e3), 0.02
    a = a0 + np.arange(0.0, 150e3, 200.0)
    alpha = amp * (a / a0) * np.exp(-(a**2 - a0**2) / s**2)
    x, n = inverse_abel(a, alpha)
    ln_n = amp * s / (2 * np.sqrt(np.pi) * a0) * np.exp(-(x**2 - a0**2) / s**2)
    truth = np.expm1(ln_n) * 1e6
    low = x - a0 < 60e3
    assert np.max(np.abs(n[low] / truth[low] - 1)) < 2e-4


def test_forward_abel_reproduces_reference_bending(ref):
    z = np.arange(0.0, 120_001.0, 50.0)
    n = dry_refractivity(z)
    x = (1 + n * 1e-6) * (RC + z)
    alpha = forward_abel(x, n, ref["a"])
    m = band(ref["z"], 0, 60)
    assert np.max(np.abs(alpha[m] / ref["alpha"][m] - 1)) < 3e-3


def test_inverse_abel_rejects_bad_grid():
    with pytest.raises(ConfigError, match="increasing"):
        inverse_abel([3.0, 2.0, 1.0], [1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- hydrostatic
def test_isothermal_atmosphere_gives_its_temperature():
    z = np.arange(0.0, 80_001.0, 200.0)
    t0 = 250.0
    g = gravity_us76(z)
    ln_p = np.log(1e5) - np.concatenate(
        [[0], np.cumsum(np.diff(z) * 0.5 * (g[1:] + g[:-1]) / (287.05287 * t0))]
    )
    n = 0.776 * np.exp(ln_p) / t0
    p, t = dry_pressure_temperature(z, n, t_top_k=t0)
    assert np.max(np.abs(t - t0)) < 1e-3
    assert np.exp(ln_p) == pytest.approx(p, rel=1e-5)


def test_top_temperature_error_decays_downward():
    z = np.arange(0.0, 90_001.0, 100.0)
    n = dry_refractivity(z)
    t_true, _ = us76(z)
    _, t = dry_pressure_temperature(z, n, t_top_k=float(t_true[-1]) + 20.0)
    assert abs(t[-1] - t_true[-1]) == pytest.approx(20.0, abs=0.01)
    assert np.max(np.abs(t - t_true)[band(z, 0, 40)]) < 0.05


# ----------------------------------------------------------------------------- acceptance
@pytest.mark.parametrize("optimise", [False, True])
def test_us76_round_trip(ref, optimise):
    pr = retrieve(ref["a"], ref["alpha"], rc_m=RC, optimise=optimise)
    z = pr.altitude_m
    m = band(z, 5, 25)
    n_err = np.abs(pr.refractivity / dry_refractivity(z) - 1)[m]
    t_err = np.abs(pr.temperature_k - us76(z)[0])[m]
    assert n_err.max() <= 1e-3  # 0.1 %
    assert t_err.max() <= 0.5
    # measured (see docs/decisions/0016): 0.062 % and 0.094 K
    assert n_err.max() < 7e-4 and t_err.max() < 0.1
    assert not pr.bad


def test_altitudes_are_geometric_heights(ref):
    pr = retrieve(ref["a"], ref["alpha"], rc_m=RC)
    m = band(pr.altitude_m, 0, 60)
    # the reference levels are z = 0, 0.2, ... km with impact = x + 1 m, so r = z + ~1 m
    assert np.max(np.abs(pr.altitude_m[m] - (ref["z"][m] + 1.0))) < 0.5


def rms_t(pr, lo, hi):
    m = band(pr.altitude_m, lo, hi)
    return float(np.sqrt(np.nanmean((pr.temperature_k - us76(pr.altitude_m)[0])[m] ** 2)))


def test_statistical_optimisation_beats_raw_inversion(ref):
    # 20 fixed seeds; noise sigma = 1.5 microrad + 0.3 % of the bending angle.
    raw = [rms_t(retrieve(ref["a"], noisy(ref, s), optimise=False), 25, 40) for s in range(20)]
    opt = [rms_t(retrieve(ref["a"], noisy(ref, s)), 25, 40) for s in range(20)]
    assert np.mean(opt) < 0.5 * np.mean(raw)
    # measured: raw 6.81 K mean (2.53 median), optimised 1.29 K mean, 1.16 K median
    assert np.mean(opt) <= 1.5
    assert np.median(opt) <= 1.25


def test_noisy_5_25km_refractivity(ref):
    pr = retrieve(ref["a"], noisy(ref, 1))
    m = band(pr.altitude_m, 5, 25)
    err = pr.refractivity[m] / dry_refractivity(pr.altitude_m[m]) - 1
    assert np.sqrt(np.mean(err**2)) < 1e-3


@pytest.mark.xfail(
    strict=True,
    reason="issue 7 target (<= 1 K rms 25-40 km, seed 1) not met: 1.84 K; noise excursion "
    "of -2..-3 % in the 45-60 km bending (see docs/decisions/0016)",
)
def test_noisy_seed1_temperature_within_1k(ref):
    assert rms_t(retrieve(ref["a"], noisy(ref, 1)), 25, 40) <= 1.0


def test_background_is_not_the_truth():
    z = np.arange(25e3, 80e3, 500.0)
    t_clim, _, n_clim = climatology_profile(z)
    t_true, _ = us76(z)
    assert np.sqrt(np.mean((t_clim - t_true) ** 2)) > 3.0
    assert np.max(np.abs(n_clim / dry_refractivity(z) - 1)) > 0.03


def test_noise_estimate_recovers_injected_sigma(ref):
    sigma = 1.5e-6 + 0.003 * ref["alpha"]
    est = estimate_noise(noisy(ref, 7))
    m = band(ref["z"], 40, 100)
    assert np.median(est[m] / sigma[m]) == pytest.approx(1.0, abs=0.15)


# ----------------------------------------------------------------------------- ionosphere
def test_linear_combination_removes_1_over_f2_term(ref):
    f1, f2 = 1575.42e6, 1227.60e6
    c1, c2 = linear_combination_weights(f1, f2)
    assert (c1, c2) == pytest.approx((2.54573, -1.54573), abs=1e-5)
    z = np.arange(0.0, 120_001.0, 50.0)
    n = dry_refractivity(z)
    x = (1 + n * 1e-6) * (RC + z)
    a1 = ref["a"]
    a2 = ref["a"][:-5] + 37.0  # L2 sampled at other impact parameters

    # Rays at every tangent height cross the F layer: ionospheric bending of a few
    # microrad at L1, slowly varying with impact parameter, scaling as 1/f^2.
    def iono_l1(a):
        return 3e-6 * (1.0 + (a - RC) / 100e3)

    alpha1 = forward_abel(x, n, a1) + iono_l1(a1)
    alpha2 = forward_abel(x, n, a2) + iono_l1(a2) * (f1 / f2) ** 2
    neutral = ionosphere_free_bending(a1, alpha1, a2, alpha2, f1, f2)
    truth = forward_abel(x, n, a1)
    m = band(a1 - RC, 5, 60)
    assert np.max(np.abs(alpha1[m] / truth[m] - 1)) > 0.5  # uncorrected L1 is far off
    err = np.abs(neutral[m] / truth[m] - 1)
    # what remains is the linear interpolation of L2 onto L1's grid (largest at the
    # tropopause cusp near 11.5 km)
    assert np.sqrt(np.mean(err**2)) < 1e-3
    assert np.max(err) < 1e-2
    assert np.isnan(neutral[-1])


# ----------------------------------------------------------------------------- quality
def test_flags_mark_bad_levels(ref):
    alpha = ref["alpha"].copy()
    alpha[100:103] = -0.05  # corrupted samples near 20 km
    pr = retrieve(ref["a"], alpha, optimise=False)
    assert pr.flags[100] & quality.NONPOSITIVE_BENDING
    assert np.any(pr.flags & quality.BAD)
    assert pr.bad


def test_background_dominated_flag_above_noise_floor(ref):
    pr = retrieve(ref["a"], noisy(ref, 1))
    dominated = pr.flags & quality.BACKGROUND_DOMINATED > 0
    assert not dominated[band(pr.altitude_m, 0, 40)].any()
    assert dominated[band(pr.altitude_m, 70, 100)].all()
