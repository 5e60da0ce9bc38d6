"""Real-time kinematic (RTK) positioning: double differences in an extended Kalman filter.

State (ECEF metres, cycles): the rover position and one *single-difference* carrier
ambiguity ``N_rover - N_base`` (cycles) per (satellite, frequency). Measurements are
double differences (:mod:`kongtian.nav.double_diff`) of carrier phase and code on two
frequencies against one reference satellite per system (the highest at the base), so
the reference may change from epoch to epoch without touching the state. Per epoch:

1. Base epoch matched to the rover epoch (nearest, within ``max_age_s``); receiver time
   tags may differ by milliseconds (clock steering): each receiver's geometry uses its
   own tag and pseudoranges.
2. Cycle slips (:mod:`kongtian.nav.cycle_slip`: LLI, geometry-free, Melbourne-Wuebbena,
   gaps) at either receiver reset the satellite's ambiguities; satellites missing for
   more than ``max_outage`` epochs are dropped from the state.
3. Time update: *kinematic* re-initialises the position each epoch from a DGNSS
   (double-differenced code) solution with a 30 m sigma; *static* keeps it, without
   process noise. Ambiguities get a small random walk; new ones start at
   ``SD(L) - SD(P)/lambda`` with a 30-cycle sigma.
4. Measurement update with DD phase and code rows; variances are elevation dependent
   (``a^2 + b^2/sin^2 el`` per receiver, code ``code_phase_ratio`` times the phase
   sigma), the DD covariance carries the correlation through the reference satellite.
   The hydrostatic Saastamoinen delay is applied at both receivers (it matters for
   height differences between the antennas).
5. Integer ambiguity resolution of the DD ambiguities with our LAMBDA
   (:mod:`kongtian.nav.lambda_ils`), ratio test, optionally partial (largest
   decorrelated subset that passes); the fixed solution conditions the float state on
   the accepted integer combinations, and is accepted only if every post-fix DD phase
   residual is within ``fix_residual_sigmas`` (4) sigma. *Fix-and-hold* feeds the fix
   back as a tight pseudo-measurement.

``mode="dgnss"`` stops after the DD code solution of step 3 (first frequency only,
weighted least squares per epoch, no filter). Outputs use RTKLIB's quality codes: 1
fixed, 2 float, 4 DGNSS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numba as nb
import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.frames import ecef_to_geodetic, enu_matrix
from kongtian.nav.cycle_slip import SlipConfig, SlipDetector
from kongtian.nav.double_diff import (
    DDOperator,
    SatGeometry,
    dd_covariance,
    dd_design_rows,
    dd_operator,
    elevation_az,
    elevation_variance,
    geometric_range,
    geometry_from_states,
)
from kongtian.nav.ephemeris import sat_pos_clk
from kongtian.nav.lambda_ils import NotPositiveDefiniteError, lambda_ils, partial_fix
from kongtian.nav.signals import wavelength_m
from kongtian.nav.troposphere import saastamoinen_zenith

if TYPE_CHECKING:
    from kongtian.nav.rinex_nav import NavData
    from kongtian.nav.rinex_obs import ObsData

__all__ = [
    "DEFAULT_SIGNALS",
    "Q_DGNSS",
    "Q_FIX",
    "Q_FLOAT",
    "RtkConfig",
    "RtkSolution",
    "solve_rtk",
]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

Q_FIX, Q_FLOAT, Q_DGNSS = 1, 2, 4

#: Per system: ((phase code, pseudorange code, band), ...) for the two frequencies.
DEFAULT_SIGNALS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "G": (("L1C", "C1C", "1"), ("L2W", "C2W", "2")),
    "C": (("L2I", "C2I", "2"), ("L6I", "C6I", "6")),
    "E": (("L1C", "C1C", "1"), ("L5Q", "C5Q", "5")),
    "J": (("L1C", "C1C", "1"), ("L2L", "C2L", "2")),
}


@dataclass(frozen=True)
class RtkConfig:
    """Processing options (defaults follow RTKLIB 2.4.3's where one exists)."""

    mode: Literal["kinematic", "static", "dgnss"] = "kinematic"
    systems: str = "G"
    signals: Mapping[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = field(
        default_factory=lambda: dict(DEFAULT_SIGNALS)
    )
    elev_mask_deg: float = 15.0
    phase_sigma_a_m: float = 0.003
    phase_sigma_b_m: float = 0.003
    code_phase_ratio: float = 100.0
    pos_init_sigma_m: float = 30.0
    amb_init_sigma_cyc: float = 30.0
    amb_noise_cyc_sqrt_s: float = 1e-4
    ratio_threshold: float = 3.0
    partial: bool = True
    min_fixed: int = 4
    validate_fix: bool = True
    fix_residual_sigmas: float = 4.0
    fix_and_hold: bool = False
    hold_sigma_cyc: float = 0.001
    max_age_s: float = 30.0
    max_outage: int = 5
    max_innovation_m: float = 30.0
    troposphere: bool = True
    slip: SlipConfig = field(default_factory=SlipConfig)


@dataclass(frozen=True)
class RtkSolution:
    """Per output epoch: time (GPST, rover tag), ECEF position (m), quality (1/2/4),
    number of satellites used, ratio of the ambiguity search (0 if none), number of
    fixed ambiguity combinations, the 3x3 position covariance (m^2), the age of the
    differential (s, rover tag minus the matched base tag) and processing notes
    (mode, mask, signals, AR, base position) for output headers."""

    time_gpst: npt.NDArray[np.datetime64]
    pos_ecef_m: F64
    quality: npt.NDArray[np.int8]
    n_sats: npt.NDArray[np.int64]
    ratio: F64
    n_fixed: npt.NDArray[np.int64]
    cov_m2: F64
    age_s: F64 = field(default_factory=lambda: np.zeros(0))
    notes: list[str] = field(default_factory=list)

    @property
    def fix_rate(self) -> float:
        return float(np.mean(self.quality == Q_FIX)) if len(self.quality) else 0.0


@dataclass
class _Obs:
    """One receiver's observations at one epoch over the satellite list."""

    t: np.datetime64
    phase: list[F64]  # cycles, per frequency
    code: list[F64]  # metres, per frequency
    lli: list[npt.NDArray[np.int8]]
    sat_pos: F64  # (n, 3) satellite positions at transmission (ECEF, m)
    sat_clk: F64
    sat_ok: B


class _Receiver:
    """All epochs of one receiver as arrays over a common satellite list, with the
    broadcast satellite states evaluated once for every (epoch, satellite)."""

    def __init__(self, obs: ObsData, nav: NavData, sv: Sequence[str], sig: Mapping[str, Any],
                 nf: int) -> None:  # fmt: skip
        ds = obs.data
        self.t = ds.time.values.astype("datetime64[ns]")
        nt, n = len(self.t), len(sv)
        col = {str(s): k for k, s in enumerate(ds.sv.values)}
        self.phase = np.full((nf, nt, n), np.nan)
        self.code = np.full((nf, nt, n), np.nan)
        self.lli = np.full((nf, nt, n), -1, dtype=np.int8)
        for j, s in enumerate(sv):
            k = col.get(s)
            if k is None:
                continue
            for f in range(nf):
                lc, pc, _ = sig[s[0]][f]
                if lc in ds and pc in ds:
                    self.phase[f, :, j] = ds[lc].values[:, k]
                    self.code[f, :, j] = ds[pc].values[:, k]
                    if f"{lc}_lli" in ds:
                        self.lli[f, :, j] = ds[f"{lc}_lli"].values[:, k]
        # Transmission time t_rx - P/c on the satellite clock; records chosen at t_rx.
        pr = self.code[0]
        ok = np.isfinite(pr)
        tau_ns = np.round(np.where(ok, pr, 2.0e7) / 299_792_458.0 * 1e9).astype(np.int64)
        t_rx = np.broadcast_to(self.t[:, None], pr.shape)
        t_tx = t_rx - tau_ns.astype("timedelta64[ns]")
        svs = np.broadcast_to(np.asarray(sv, dtype=str)[None, :], pr.shape)
        st = sat_pos_clk(nav, svs.ravel(), t_tx.ravel(), sv_clock_time=True,
                         t_select_gpst=t_rx.ravel())  # fmt: skip
        self.sat_pos = st.pos_ecef_m.reshape(nt, n, 3)
        self.sat_clk = st.clk_s.reshape(nt, n)
        self.sat_ok = st.valid.reshape(nt, n) & ok
        # Per (epoch, satellite): every phase and code present; first-frequency code present.
        self.all_finite = np.all(np.isfinite(self.phase) & np.isfinite(self.code), axis=0)
        self.code0_finite = ok

    def epoch(self, i: int) -> _Obs:
        nf = self.phase.shape[0]
        return _Obs(self.t[i], [self.phase[f, i] for f in range(nf)],
                    [self.code[f, i] for f in range(nf)], [self.lli[f, i] for f in range(nf)],
                    self.sat_pos[i], self.sat_clk[i], self.sat_ok[i])  # fmt: skip


def _geom(o: _Obs, rx: F64, site: _Site) -> SatGeometry:
    return geometry_from_states(o.sat_pos, o.sat_clk, o.sat_ok, rx, site.enu)


@dataclass(frozen=True)
class _Site:
    """Geodetic latitude (rad), height (m) and ENU rotation of an approximate position:
    metres of error change elevations and delays negligibly. ``zenith_m`` is the dry
    Saastamoinen zenith delay there (the model RTKLIB applies in relative positioning),
    computed once per site; ``model_ok`` False outside the model's height range."""

    lat: float
    h: float
    enu: F64
    zenith_m: float
    model_ok: bool

    @classmethod
    def at(cls, xyz: F64) -> _Site:
        lat, lon, h = ecef_to_geodetic(xyz)
        zhd, zwd = saastamoinen_zenith(float(lat), float(h), 0.0)
        hf = float(h)
        return cls(float(lat), hf, enu_matrix(lat, lon), float(zhd + zwd), -100.0 < hf < 1e4)


def _tropo(site: _Site, el: F64, use: bool) -> F64:
    """Slant delays (m), as :func:`~kongtian.nav.troposphere.slant_delay` with the secant
    mapping and no water vapour, from the site's precomputed zenith delay."""
    if not use:
        return np.zeros_like(el)
    out = site.zenith_m * (1.0 / np.sin(np.clip(el, 1e-6, None)))
    return np.where((el > 0) & site.model_ok, out, 0.0)


def _dgnss(
    sv: Sequence[str], ro: _Obs, ok: B, gb: SatGeometry, code_b: F64, trop_b: F64, x0: F64,
    site: _Site, cfg: RtkConfig,
) -> tuple[F64, SatGeometry, F64, DDOperator, B] | None:  # fmt: skip
    """Rover position from DD code on the first frequency (Gauss-Newton, <= 6 iterations),
    with its covariance (m^2; elevation-dependent code variances as in the filter), the DD
    operator and the satellite mask it was built on (the filter reuses it if unchanged)."""
    x = x0.copy()
    code_r = ro.code[0]
    gr = _geom(ro, x, site)
    # Satellite set, weights and troposphere are fixed within the epoch: elevations move
    # by microradians over the metres this iteration covers.
    used = ok & gr.valid
    op = dd_operator(sv, gb.el_rad, used)
    if len(op) < 3:
        return None
    trop_r = _tropo(site, gr.el_rad, cfg.troposphere)
    sig_a = cfg.phase_sigma_a_m * cfg.code_phase_ratio
    sig_b = cfg.phase_sigma_b_m * cfg.code_phase_ratio
    var_b = elevation_variance(gb.el_rad, sig_a, sig_b)
    var_r = elevation_variance(gr.el_rad, sig_a, sig_b)
    w = _solve_spd(dd_covariance(op, var_r, var_b), np.eye(len(op)))
    y = op.apply((code_r - code_b) - (trop_r - trop_b) + gb.range_m)
    normal = np.eye(3)
    rng, los = gr.range_m, gr.los_unit
    # Only ranges and lines of sight change within the iteration (elevations are fixed
    # above); the full geometry is recomputed once at the converged position.
    for _ in range(6):
        v = y - op.apply(rng)
        h = dd_design_rows(op, los)
        hw = h.T @ w
        normal = hw @ h
        dx = _solve_spd(normal, (hw @ v)[:, None])[:, 0]
        x = x + dx
        rng, los = geometric_range(ro.sat_pos, x)
        if float(np.sqrt(dx @ dx)) < 1e-4:
            break
    # Ranges and lines of sight are those at the final x: add elevations and azimuths.
    el, az = elevation_az(los, x, site.enu)
    gr = SatGeometry(ro.sat_pos, ro.sat_clk, rng, los, el, az, ro.sat_ok & np.isfinite(rng))
    return x, gr, _solve_spd(normal, np.eye(3)), op, used


def solve_rtk(
    rover: ObsData,
    base: ObsData,
    nav: NavData,
    base_pos_ecef_m: Any,
    config: RtkConfig | None = None,
) -> RtkSolution:
    """RTK solution of ``rover`` against ``base`` at the known ``base_pos_ecef_m``."""
    cfg = config or RtkConfig()
    if cfg.mode not in ("kinematic", "static", "dgnss"):
        raise ConfigError(f"unknown mode {cfg.mode!r} (kinematic, static, dgnss)", option="mode")
    base_pos = np.asarray(base_pos_ecef_m, dtype=np.float64)
    if base_pos.shape != (3,) or not np.all(np.isfinite(base_pos)):
        raise ConfigError("base position must be 3 finite ECEF metres", option="base_pos")
    rds, bds = rover.data, base.data
    systems = [s for s in cfg.systems if s in cfg.signals]
    if not systems:
        raise ConfigError(f"no signal pair configured for {cfg.systems!r}", option="systems")
    sv = [str(s) for s in rds.sv.values if str(s)[0] in systems and s in set(bds.sv.values)]
    n = len(sv)
    nf = 2
    lam = np.array([[wavelength_m(s[0], cfg.signals[s[0]][f][2]) for s in sv] for f in range(nf)])
    freq = 299_792_458.0 / lam
    det_r = SlipDetector(sv, freq[0], freq[1], cfg.slip)
    det_b = SlipDetector(sv, freq[0], freq[1], cfg.slip)
    nx = 3 + n * nf
    x = np.zeros(nx)
    p = np.zeros((nx, nx))
    active = np.zeros(n * nf, dtype=bool)
    outage = np.zeros(n, dtype=np.int64)
    pos_init = False
    t_prev: np.datetime64 | None = None
    x_guess = np.asarray(rover.header.approx_xyz_m, dtype=np.float64)
    if not np.all(np.isfinite(x_guess)) or np.linalg.norm(x_guess) < 6e6:
        x_guess = base_pos.copy()
    rov_arr = _Receiver(rover, nav, sv, cfg.signals, nf)
    bas_arr = _Receiver(base, nav, sv, cfg.signals, nf)
    tb_all = bas_arr.t
    base_site = _Site.at(base_pos)
    # The base does not move: its geometry and troposphere for every epoch at once.
    gb_all = geometry_from_states(bas_arr.sat_pos, bas_arr.sat_clk, bas_arr.sat_ok, base_pos,
                                  base_site.enu)  # fmt: skip
    trop_b_all = _tropo(base_site, gb_all.el_rad, cfg.troposphere)
    out_t: list[np.datetime64] = []
    out_x: list[F64] = []
    out_q: list[int] = []
    out_ns: list[int] = []
    out_ratio: list[float] = []
    out_nfix: list[int] = []
    out_cov: list[F64] = []
    out_age: list[float] = []
    mask = np.radians(cfg.elev_mask_deg)

    # Nearest base epoch of every rover epoch (first of equals) and the age (ns).
    tr_ns = rov_arr.t.astype(np.int64)
    tb_ns = tb_all.astype(np.int64)
    jb_all = np.argmin(np.abs(tb_ns[None, :] - tr_ns[:, None]), axis=1)
    age_all = (tr_ns - tb_ns[jb_all]).astype(np.float64)

    for i in range(rds.sizes["time"]):
        t = rov_arr.t[i]
        jb = int(jb_all[i])
        age_ns = float(age_all[i])
        if abs(age_ns) > cfg.max_age_s * 1e9:
            continue
        ro = rov_arr.epoch(i)
        bo = bas_arr.epoch(jb)
        fl_r = det_r.update(ro.t, ro.phase[0], ro.phase[1], ro.code[0], ro.code[1],
                            ro.lli[0], ro.lli[1])  # fmt: skip
        fl_b = det_b.update(bo.t, bo.phase[0], bo.phase[1], bo.code[0], bo.code[1],
                            bo.lli[0], bo.lli[1])  # fmt: skip
        slip = fl_r.any | fl_b.any
        gb = SatGeometry(gb_all.pos_ecef_m[jb], gb_all.clk_s[jb], gb_all.range_m[jb],
                         gb_all.los_unit[jb], gb_all.el_rad[jb], gb_all.az_rad[jb],
                         gb_all.valid[jb])  # fmt: skip
        if cfg.mode == "dgnss":  # code on the first frequency is enough
            have = rov_arr.code0_finite[i] & bas_arr.code0_finite[jb]
        else:
            have = rov_arr.all_finite[i] & bas_arr.all_finite[jb]
        ok = have & gb.valid & (gb.el_rad >= mask)
        trop_b = trop_b_all[jb]
        start = x[:3] if pos_init else x_guess
        rov_site = _Site.at(start)
        dg = _dgnss(sv, ro, ok, gb, bo.code[0], trop_b, start, rov_site, cfg)
        if dg is None:
            continue
        x_dg, gr, cov_dg, op_dg, used_dg = dg
        ok &= gr.valid & (gr.el_rad >= mask)
        if cfg.mode == "dgnss":
            if ok.sum() >= 4:
                x_guess = x_dg
                out_t.append(t)
                out_x.append(x_dg)
                out_q.append(Q_DGNSS)
                out_ns.append(int(ok.sum()))
                out_ratio.append(0.0)
                out_nfix.append(0)
                out_cov.append(cov_dg)
                out_age.append(age_ns * 1e-9)
            continue
        if ok.sum() < 5:
            continue
        x_guess = x_dg
        # --- time update -------------------------------------------------------------
        if cfg.mode == "kinematic" or not pos_init:
            x[:3] = x_dg
            p[:3, :] = 0.0
            p[:, :3] = 0.0
            p[:3, :3] = np.eye(3) * cfg.pos_init_sigma_m**2
            pos_init = True
        dt = 0.0 if t_prev is None else float((t - t_prev) / np.timedelta64(1, "s"))
        t_prev = t
        outage = np.where(ok, 0, outage + 1)
        # Ambiguity states, as (satellite, frequency) flat index k = j * nf + f.
        # A slip seen while the satellite is unused (e.g. below the mask) still resets.
        reset = np.repeat(slip | (outage > cfg.max_outage), nf)
        active &= ~reset
        ok_k = np.repeat(ok, nf)
        new = ok_k & ~active
        keep = active.copy()
        idx_keep = 3 + np.flatnonzero(keep)
        p[idx_keep, idx_keep] += cfg.amb_noise_cyc_sqrt_s**2 * dt
        idx_off = 3 + np.flatnonzero(~keep)  # new or inactive: clear rows and columns
        p[idx_off, :] = 0.0
        p[:, idx_off] = 0.0
        x[idx_off] = 0.0
        if new.any():
            k_new = np.flatnonzero(new)
            j_new, f_new = k_new // nf, k_new % nf
            sd_l = (np.stack(ro.phase) - np.stack(bo.phase))[f_new, j_new]
            sd_p = (np.stack(ro.code) - np.stack(bo.code))[f_new, j_new]
            x[3 + k_new] = sd_l - sd_p / lam[f_new, j_new]
            p[3 + k_new, 3 + k_new] = cfg.amb_init_sigma_cyc**2
            active |= new
        st = np.concatenate([np.arange(3), 3 + np.flatnonzero(active)])
        # --- measurement update (geometry linearised at the DGNSS/previous position) ---
        # Same satellites and base elevations as the DGNSS step: the same operator.
        op = op_dg if np.array_equal(ok, used_dg) else dd_operator(sv, gb.el_rad, ok)
        var_r = elevation_variance(gr.el_rad, cfg.phase_sigma_a_m, cfg.phase_sigma_b_m)
        var_b = elevation_variance(gb.el_rad, cfg.phase_sigma_a_m, cfg.phase_sigma_b_m)
        if not np.array_equal(x[:3], x_dg):  # static: the filter's position
            gr = _geom(ro, x[:3], rov_site)
        trop_r = _tropo(rov_site, gr.el_rad, cfg.troposphere)
        geo = op.apply((gr.range_m - gb.range_m) + (trop_r - trop_b))
        hpos = dd_design_rows(op, gr.los_unit)
        m = len(op)
        cov = dd_covariance(op, var_r, var_b)
        # Rows (phase f0, code f0, phase f1, code f1), built directly over the active
        # states ``st``; every used satellite's ambiguities are active.
        col = np.full(nx, -1, dtype=np.int64)
        col[st] = np.arange(len(st))
        rr = np.arange(m)
        h = np.zeros((2 * nf * m, len(st)))
        v = np.empty(2 * nf * m)
        tmat = np.zeros((nf * m, len(st)))  # DD ambiguities (cycles) from the states
        is_phase_all = np.zeros(2 * nf * m, dtype=bool)
        for f in range(nf):
            lf = lam[f]
            ks, kr = 3 + op.sat * nf + f, 3 + op.ref * nf + f
            r0, r1 = 2 * f * m, 2 * f * m + m
            h[r0:r1, :3] = hpos
            h[r1 : r1 + m, :3] = hpos
            h[r0 + rr, col[ks]] = lf[op.sat]
            h[r0 + rr, col[kr]] = -lf[op.ref]
            sd_phase_m = (ro.phase[f] - bo.phase[f]) * lf
            amb_m = lf[op.sat] * x[ks] - lf[op.ref] * x[kr]
            v[r0:r1] = op.apply(sd_phase_m) - geo - amb_m
            v[r1 : r1 + m] = op.apply(ro.code[f] - bo.code[f]) - geo
            is_phase_all[r0:r1] = True
            tmat[f * m + rr, col[ks]] = 1.0
            tmat[f * m + rr, col[kr]] = -1.0
        r = _block_diag([cov, cov * cfg.code_phase_ratio**2] * nf)
        good = np.abs(v) <= cfg.max_innovation_m
        v, h, r = v[good], h[good], r[np.ix_(good, good)]
        is_phase = is_phase_all[good]
        x_prior = x[st].copy()
        ix = np.ix_(st, st)
        xs_new, ps_new = _kalman_update(x_prior, p[ix], h, r, v)
        x[st] = xs_new
        p[ix] = ps_new
        # --- ambiguity resolution ---------------------------------------------------
        quality = Q_FLOAT
        ratio = 0.0
        nfix = 0
        x_out = x[:3].copy()
        p_out = p[:3, :3].copy()
        ps = ps_new
        xs = xs_new
        a = tmat @ xs
        qa = tmat @ ps @ tmat.T
        try:
            if cfg.partial:
                pf = partial_fix(a, qa, threshold=cfg.ratio_threshold, min_fixed=cfg.min_fixed)
                ratio = pf.ratio
                if pf.n_fixed > 0:
                    cmat = pf.z_columns.T @ tmat
                    zfix = pf.z_fixed
                    nfix = pf.n_fixed
            else:
                res = lambda_ils(a, qa)
                ratio = res.ratio
                if ratio >= cfg.ratio_threshold:
                    cmat, zfix, nfix = tmat, res.best, len(a)
        except (NotPositiveDefiniteError, np.linalg.LinAlgError):
            nfix = 0
        if nfix > 0:
            cp = cmat @ ps
            gain = _solve_spd(cp @ cmat.T, cp).T
            xf = xs - gain @ (cmat @ xs - zfix)
            pfix = ps - gain @ cp
            if cfg.validate_fix:
                # Post-fix phase residuals must be consistent with their sigmas: a wrong
                # integer set that passed the ratio test shows up as a cycle-sized misfit.
                res_post = v - h @ (xf - x_prior)
                lim = cfg.fix_residual_sigmas * np.sqrt(np.diag(r))
                if np.any(np.abs(res_post[is_phase]) > lim[is_phase]):
                    nfix = 0
        if nfix > 0:
            x_out = xf[:3]
            p_out = pfix[:3, :3]
            quality = Q_FIX
            if cfg.fix_and_hold:
                s = cp @ cmat.T + np.eye(len(zfix)) * cfg.hold_sigma_cyc**2
                gain_h = np.linalg.solve(s, cp).T
                x[st] = xs - gain_h @ (cmat @ xs - zfix)
                ph = ps - gain_h @ cp
                p[np.ix_(st, st)] = 0.5 * (ph + ph.T)
        out_t.append(t)
        out_x.append(x_out)
        out_q.append(quality)
        out_ns.append(int(ok.sum()))
        out_ratio.append(float(min(ratio, 999.9)))
        out_nfix.append(nfix)
        out_cov.append(p_out)
        out_age.append(age_ns * 1e-9)
    return RtkSolution(
        np.array(out_t, dtype="datetime64[ns]"),
        np.array(out_x).reshape(-1, 3),
        np.array(out_q, dtype=np.int8),
        np.array(out_ns, dtype=np.int64),
        np.array(out_ratio),
        np.array(out_nfix, dtype=np.int64),
        np.array(out_cov).reshape(-1, 3, 3),
        np.array(out_age, dtype=np.float64),
        _notes(cfg, systems, base_pos),
    )


def _notes(cfg: RtkConfig, systems: Sequence[str], base_pos: F64) -> list[str]:
    """Human-readable processing statements for output headers."""
    sig = "; ".join(
        f"{s} " + " + ".join(f"{lc}/{pc}" for lc, pc, _ in cfg.signals[s]) for s in systems
    )
    notes = [f"pos mode  : {cfg.mode}", f"elevation mask: {cfg.elev_mask_deg:g} deg"]
    if cfg.mode == "dgnss":
        notes.append("signals   : " + "; ".join(f"{s} {cfg.signals[s][0][1]}" for s in systems))
    else:
        notes.append(f"signals   : {sig}")
        ar = "partial" if cfg.partial else "full"
        hold = ", fix-and-hold" if cfg.fix_and_hold else ""
        notes.append(f"amb res   : LAMBDA {ar}, ratio >= {cfg.ratio_threshold:g}{hold}")
    notes.append("tropo     : " + ("Saastamoinen hydrostatic" if cfg.troposphere else "off"))
    notes.append("ref pos   :" + " ".join(f"{v:14.4f}" for v in base_pos))
    return notes


@nb.njit(cache=True, nogil=True)
def _chol_solve_kernel(a: F64, b: F64, out: F64) -> bool:
    """``out = a^-1 b`` by Cholesky for symmetric positive definite ``a`` (n, n) and
    ``b`` (n, k); False (``out`` undefined) if ``a`` is not numerically positive definite."""
    n = a.shape[0]
    lo = np.zeros((n, n))
    for j in range(n):
        d = a[j, j]
        for k in range(j):
            d -= lo[j, k] * lo[j, k]
        if not d > 0.0:
            return False
        ljj = np.sqrt(d)
        lo[j, j] = ljj
        for i in range(j + 1, n):
            t = a[i, j]
            for k in range(j):
                t -= lo[i, k] * lo[j, k]
            lo[i, j] = t / ljj
    for c in range(b.shape[1]):
        for i in range(n):  # L y = b
            t = b[i, c]
            for k in range(i):
                t -= lo[i, k] * out[k, c]
            out[i, c] = t / lo[i, i]
        for i in range(n - 1, -1, -1):  # L^T x = y
            t = out[i, c]
            for k in range(i + 1, n):
                t -= lo[k, i] * out[k, c]
            out[i, c] = t / lo[i, i]
    return True


def _solve_spd(a: F64, b: F64) -> F64:
    """``a^-1 b`` for a symmetric positive definite ``a``: one compiled Cholesky call
    (numpy's ``solve`` costs ~25 us of call overhead on these small systems); LU via
    numpy if ``a`` is not positive definite (raising LinAlgError if singular)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    out = np.empty_like(b)
    if _chol_solve_kernel(a, b, out):
        return out
    return np.asarray(np.linalg.solve(a, b), dtype=np.float64)


def _kalman_update(xs: F64, ps: F64, h: F64, r: F64, v: F64) -> tuple[F64, F64]:
    """EKF measurement update on the active states: ``K = P H^T S^-1``,
    ``x + K v``, ``P - K H P`` (symmetrised); ``S = H P H^T + R``."""
    hp = h @ ps
    kt = _solve_spd(hp @ h.T + r, hp)  # (m, n) = S^-1 H P = K^T
    x_new = xs + kt.T @ v
    p_new = ps - kt.T @ hp
    return x_new, 0.5 * (p_new + p_new.T)


def _block_diag(blocks: Sequence[F64]) -> F64:
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    k = 0
    for b in blocks:
        m = b.shape[0]
        out[k : k + m, k : k + m] = b
        k += m
    return out
