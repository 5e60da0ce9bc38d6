"""Bending from excess phase and orbits, against an eikonal forward model.

Truth: for a spherically symmetric atmosphere the phase path between radii ``r_T`` and
``r_R`` along the ray of impact parameter ``a`` is (Hamilton-Jacobi: dS/dtheta = a)

    S(a) = sqrt(r_T^2 - a^2) + sqrt(r_R^2 - a^2) + a alpha(a) + integral_a^inf alpha da'

and the ray closes the geometry when ``theta = pi + alpha(a) - asin(a/r_T) - asin(a/r_R)``.
With the reference US76 bending ``alpha(a)`` and two circular coplanar orbits this gives
the excess phase ``L(t) = S - |r_R - r_T|`` of a setting occultation; the retrieval sees
only ``L(t)`` and the orbits (it never sees ``alpha``).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid
from scipy.optimize import brentq

from kongtian.sensing.occultation.geometry import bending_from_excess_phase

from ..conftest import DATA

REF = DATA / "sensing" / "ro_reference" / "us76_dry_refractivity_bending.csv"
RC = 6_371_000.0
GM = 3.986004418e14


def synthetic_occultation(rate_hz=50.0):
    d = np.loadtxt(REF, delimiter=",", skiprows=1)
    a_ref, al_ref = d[:, 4], d[:, 5]
    fine = np.linspace(a_ref[0], a_ref[-1], 60_000)
    al_f = np.exp(np.interp(fine, a_ref, np.log(al_ref)))
    tail = cumulative_trapezoid(al_f[::-1], -fine[::-1], initial=0.0)[::-1]  # int_a^top

    def alpha(a):
        return np.exp(np.interp(a, a_ref, np.log(al_ref)))

    def integral(a):
        return np.interp(a, fine, tail)

    rr, rt = RC + 800e3, RC + 20_200e3
    wr, wt = np.sqrt(GM / rr**3), np.sqrt(GM / rt**3)

    def theta_of(a):
        return np.pi + alpha(a) - np.arcsin(a / rt) - np.arcsin(a / rr)

    theta0 = theta_of(RC + 100e3)
    t = np.arange(0.0, 80.0, 1.0 / rate_hz)
    theta = theta0 + (wr - wt) * t
    t = t[theta < theta_of(RC + 3e3)]
    theta = theta[: t.size]
    a = np.array(
        [brentq(lambda x, th=th: theta_of(x) - th, RC + 2e3, RC + 110e3, xtol=1e-7) for th in theta]
    )
    s = np.sqrt(rt**2 - a**2) + np.sqrt(rr**2 - a**2) + a * alpha(a) + integral(a)
    ang_r = wr * t
    ang_t = ang_r - theta
    r_rx = rr * np.column_stack([np.cos(ang_r), np.sin(ang_r), 0 * t])
    v_rx = rr * wr * np.column_stack([-np.sin(ang_r), np.cos(ang_r), 0 * t])
    r_tx = rt * np.column_stack([np.cos(ang_t), np.sin(ang_t), 0 * t])
    v_tx = rt * wt * np.column_stack([-np.sin(ang_t), np.cos(ang_t), 0 * t])
    excess = s - np.linalg.norm(r_rx - r_tx, axis=1)
    return t, excess, r_tx, v_tx, r_rx, v_rx, a, alpha


def test_bending_from_excess_phase_recovers_reference():
    t, excess, r_tx, v_tx, r_rx, v_rx, a_true, alpha = synthetic_occultation()
    assert excess.max() > 100.0  # metres of excess phase near the bottom
    a, al = bending_from_excess_phase(t, excess, r_tx, v_tx, r_rx, v_rx, smooth_s=0.2)
    h = a_true - RC
    m = (h > 5e3) & (h < 60e3)
    # metres; the largest misses (up to ~55 m) sit at the 11 km tropopause, where alpha(a)
    # has a cusp that the 0.2 s derivative window smooths
    assert np.percentile(np.abs(a - a_true)[m], 95) < 2.0
    assert np.max(np.abs(al[m] / alpha(a[m]) - 1)) < 5e-3


def test_noise_on_excess_phase_is_smoothed():
    t, excess, r_tx, v_tx, r_rx, v_rx, a_true, alpha = synthetic_occultation()
    noisy = excess + np.random.default_rng(3).normal(0, 1e-3, excess.size)  # 1 mm
    a, al = bending_from_excess_phase(t, noisy, r_tx, v_tx, r_rx, v_rx, smooth_s=1.0)
    m = ((a_true - RC) > 10e3) & ((a_true - RC) < 30e3)
    assert np.sqrt(np.mean((al[m] / alpha(a[m]) - 1) ** 2)) < 0.02
    assert al[m] == pytest.approx(alpha(a[m]), rel=0.1)
