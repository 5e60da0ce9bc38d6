"""GLONASS FDMA broadcast ephemeris: numerical integration of the PZ-90 equations.

A GLONASS record gives the satellite state (position, velocity, luni-solar acceleration)
at ``tb`` in the Earth-fixed PZ-90 frame. The position at ``t`` comes from integrating
the equations of motion in that rotating frame (GLONASS ICD 5.1, A.3.1.2): central
term, the J2 zonal term, centrifugal and Coriolis terms, plus the broadcast
acceleration held constant. Fourth-order Runge-Kutta with 60 s steps (the last one
shorter), vectorised over all requested samples; a 30-min span takes 30 steps.

Clock: ``dt_sv = -tau_n + gamma_n (t - tb)`` (s); no relativistic term is added because
the broadcast tau_n already contains it. Frequency-channel biases are not applied here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from kongtian.nav.constants import GLONASS, GLONASS_A_M, GLONASS_J2

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

STEP_S = 60.0
_NS = 1e9


def equations_of_motion(state: F64, acc: F64) -> F64:
    """Time derivative of (x, y, z, vx, vy, vz) in PZ-90 (m, m/s) -> (n, 6)."""
    gm, we = GLONASS.gm_m3_s2, GLONASS.omega_e_rad_s
    r = state[:, :3]
    v = state[:, 3:]
    r2 = np.einsum("ij,ij->i", r, r)
    rn = np.sqrt(r2)
    r3 = r2 * rn
    j2_term = 1.5 * GLONASS_J2 * gm * GLONASS_A_M**2 / (r2 * r3)
    z2_r2 = 5.0 * r[:, 2] ** 2 / r2
    common = -gm / r3 - j2_term * (1.0 - z2_r2)
    out = np.empty_like(state)
    out[:, :3] = v
    out[:, 3] = (common + we * we) * r[:, 0] + 2.0 * we * v[:, 1] + acc[:, 0]
    out[:, 4] = (common + we * we) * r[:, 1] - 2.0 * we * v[:, 0] + acc[:, 1]
    out[:, 5] = (common - 2.0 * j2_term) * r[:, 2] + acc[:, 2]
    return out


def integrate(state0: F64, acc: F64, dt_s: F64) -> F64:
    """Propagate states (n, 6) by ``dt_s`` (n,) seconds (either sign) with RK4."""
    x = np.array(state0, dtype=np.float64, copy=True)
    rem = np.array(dt_s, dtype=np.float64, copy=True)
    while True:
        active = np.abs(rem) > 1e-9
        if not np.any(active):
            return x
        h = np.where(active, np.sign(rem) * np.minimum(STEP_S, np.abs(rem)), 0.0)[:, None]
        k1 = equations_of_motion(x, acc)
        k2 = equations_of_motion(x + 0.5 * h * k1, acc)
        k3 = equations_of_motion(x + 0.5 * h * k2, acc)
        k4 = equations_of_motion(x + h * k3, acc)
        x = x + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        rem = rem - h[:, 0]


def glonass_states(
    cols: Mapping[str, F64],
    toe_ns: I64,
    idx: I64,
    t_ns: I64,
    *,
    sv_clock_time: bool = False,
) -> tuple[F64, F64, F64, F64]:
    """(pos (n,3) m, clock s, vel (n,3) m/s, clock drift s/s) of records ``idx`` at GPST
    ``t_ns`` (int ns); ``toe_ns`` is tb in GPST. ``cols`` as in the RINEX records
    (``tau_n`` is the ICD tau_n, i.e. minus the RINEX clock-bias field)."""
    tau = cols["tau_n"][idx]
    gam = np.nan_to_num(cols["gamma_n"][idx])
    dt = (t_ns - toe_ns[idx]) / _NS
    if sv_clock_time:
        corr = dt.copy()
        for _ in range(2):
            corr = dt - (-tau + gam * corr)
        dt = corr
    state0 = np.stack([cols[c][idx] for c in ("x", "y", "z", "vx", "vy", "vz")], axis=-1)
    acc = np.stack([np.nan_to_num(cols[c][idx]) for c in ("ax", "ay", "az")], axis=-1)
    x = integrate(state0, acc, dt)
    clk = -tau + gam * dt
    return x[:, :3], clk, x[:, 3:], gam
