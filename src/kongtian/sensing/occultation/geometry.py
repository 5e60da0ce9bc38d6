"""Bending angle from excess phase and orbits (geometric optics, spherical symmetry).

Inputs per sample ``t``: transmitter (GNSS) and receiver (LEO) positions ``r_T, r_R`` (m)
and velocities ``v_T, v_R`` (m/s) in one inertial frame centred on the local centre of
curvature (subtract the centre first), and the excess phase path ``L = S - |r_R - r_T|``
(m), clocks and relativity already removed.

1. The phase path rate is ``dS/dt = dL/dt + (v_R - v_T) . (r_R - r_T)/|r_R - r_T|``;
   ``dL/dt`` comes from a Savitzky-Golay derivative (window ``smooth_s`` seconds), which
   also low-passes the noise.
2. In the occultation plane (normal ``r_T x r_R``) the ray leaves the transmitter along
   ``e_T = -cos(phi_T) r_T^ + sin(phi_T) w_T`` and reaches the receiver along
   ``e_R = cos(phi_R) r_R^ + sin(phi_R) w_R`` (``w = n x r^``), where Bouguer's rule gives
   ``r_T sin(phi_T) = r_R sin(phi_R) = a``. Geometric optics says
   ``dS/dt = v_R . e_R - v_T . e_T``, one equation for the impact parameter ``a``, solved
   by Newton's method from the straight-line value.
3. ``alpha = phi_T + phi_R + theta - pi``, ``theta`` the angle between ``r_T`` and ``r_R``.

Single-ray geometric optics only: in multipath (lower troposphere) a wave-optics method
(canonical transform, full-spectrum inversion) is needed and is not provided here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import savgol_filter

from kongtian.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


def _unit(v: FloatArray) -> FloatArray:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def _vec3(name: str, v: Any, n: int) -> FloatArray:
    arr = np.asarray(v, dtype=np.float64)
    if arr.shape != (n, 3):
        raise ConfigError(f"must have shape ({n}, 3), got {arr.shape}", option=name)
    return arr


def excess_phase_rate(time_s: Any, excess_phase_m: Any, smooth_s: float = 0.5) -> FloatArray:
    """``dL/dt`` (m/s) by a quadratic Savitzky-Golay derivative over ``smooth_s`` seconds.

    Assumes uniform sampling; the window is at least 5 samples.
    """
    t = np.asarray(time_s, dtype=np.float64)
    L = np.asarray(excess_phase_m, dtype=np.float64)
    if t.ndim != 1 or t.shape != L.shape or t.size < 5:
        raise ConfigError("time and excess phase must be 1-D of equal length >= 5")
    dt = np.diff(t)
    if not np.all(dt > 0) or np.ptp(dt) > 1e-3 * np.mean(dt):
        raise ConfigError("must be strictly increasing and uniformly sampled", option="time_s")
    step = float(np.mean(dt))
    win = max(5, int(round(smooth_s / step)) | 1)
    win = min(win, t.size if t.size % 2 else t.size - 1)
    return np.asarray(savgol_filter(L, win, 2, deriv=1, delta=step, mode="interp"))


def bending_from_doppler(
    phase_path_rate_m_s: Any,
    r_tx_m: Any,
    v_tx_m_s: Any,
    r_rx_m: Any,
    v_rx_m_s: Any,
    iterations: int = 20,
) -> tuple[FloatArray, FloatArray]:
    """Impact parameter (m) and bending angle (rad) from the phase path rate ``dS/dt``.

    Positions and velocities have shape (n, 3), relative to the centre of curvature.
    """
    s_dot = np.atleast_1d(np.asarray(phase_path_rate_m_s, dtype=np.float64))
    n = s_dot.size
    rt, vt = _vec3("r_tx_m", r_tx_m, n), _vec3("v_tx_m_s", v_tx_m_s, n)
    rr, vr = _vec3("r_rx_m", r_rx_m, n), _vec3("v_rx_m_s", v_rx_m_s, n)
    rt_n = np.linalg.norm(rt, axis=1)
    rr_n = np.linalg.norm(rr, axis=1)
    ut, ur = rt / rt_n[:, None], rr / rr_n[:, None]
    normal = _unit(np.cross(ut, ur))
    wt, wr = np.cross(normal, ut), np.cross(normal, ur)
    theta = np.arctan2(np.linalg.norm(np.cross(ut, ur), axis=1), np.sum(ut * ur, axis=1))
    # velocity components in the plane, radial (r) and along w
    vtr, vtw = np.sum(vt * ut, axis=1), np.sum(vt * wt, axis=1)
    vrr, vrw = np.sum(vr * ur, axis=1), np.sum(vr * wr, axis=1)
    # straight-line impact parameter as the first guess
    a = rt_n * rr_n * np.sin(theta) / np.linalg.norm(rr - rt, axis=1)
    for _ in range(iterations):
        st, sr = a / rt_n, a / rr_n
        ct, cr = np.sqrt(1.0 - st**2), np.sqrt(1.0 - sr**2)
        model = (vrr * cr + vrw * sr) - (-vtr * ct + vtw * st)
        dmodel = (-vrr * sr + vrw * cr) / (rr_n * cr) - (vtr * st + vtw * ct) / (rt_n * ct)
        step = (model - s_dot) / dmodel
        a = np.minimum(a - step, 0.999999 * np.minimum(rt_n, rr_n))
        if np.all(np.abs(step) < 1e-6):
            break
    alpha = np.arcsin(a / rt_n) + np.arcsin(a / rr_n) + theta - np.pi
    return a, alpha


def bending_from_excess_phase(
    time_s: Any,
    excess_phase_m: Any,
    r_tx_m: Any,
    v_tx_m_s: Any,
    r_rx_m: Any,
    v_rx_m_s: Any,
    smooth_s: float = 0.5,
) -> tuple[FloatArray, FloatArray]:
    """Impact parameter (m) and bending angle (rad) per sample from excess phase and orbits.

    See the module docstring for the frame and the equations.
    """
    rate = excess_phase_rate(time_s, excess_phase_m, smooth_s)
    n = rate.size
    rt, vt = _vec3("r_tx_m", r_tx_m, n), _vec3("v_tx_m_s", v_tx_m_s, n)
    rr, vr = _vec3("r_rx_m", r_rx_m, n), _vec3("v_rx_m_s", v_rx_m_s, n)
    los = _unit(rr - rt)
    s_dot = rate + np.sum((vr - vt) * los, axis=1)
    return bending_from_doppler(s_dot, rt, vt, rr, vr)
