"""Single-point positioning (SPP) from code pseudoranges and broadcast ephemerides.

Model, per epoch ``k`` and satellite ``s`` of system ``g`` (all in metres)::

    P_ks = rho_ks + c dtr_kg - c (dts_ks - TGD_s) + I_ks + T_ks + e_ks

- ``rho``: geometric range from the receiver (at reception) to the satellite (at
  transmission) plus the Sagnac term ``omega_e (x_s y_r - y_s x_r) / c``: the Earth
  turns during the signal's travel. The transmission time is the satellite clock
  reading ``t_rx - P/c`` corrected by the broadcast clock (exact: the pseudorange is
  the difference of the two clock readings, so the receiver clock error drops out) and
  the records are those valid at the receiver epoch (``sat_pos_clk``).
- ``dtr_kg``: one receiver clock per system (GPS, Galileo, BeiDou, ...): the
  inter-system biases (GPST-BDT residual, receiver delays) are absorbed.
- ``TGD``: broadcast group delay of the tracked signal (:func:`kongtian.nav.ephemeris.
  tgd_s`): GPS L1 C/A TGD, BeiDou B1I TGD1 (B3I none), Galileo E1 BGD(E1,E5b) for I/NAV
  or BGD(E1,E5a) for F/NAV.
- ``I``: broadcast ionosphere. GPS (and QZSS, Galileo) use the GPS Klobuchar model
  scaled to the carrier; BeiDou uses its own Klobuchar (``BDSA``/``BDSB``) when the
  navigation file has it, else the GPS model scaled to B1I -- what the run did is in
  :attr:`SppSolution.notes` and in the output header.
- ``T``: Saastamoinen on a standard atmosphere (:mod:`kongtian.nav.troposphere`).

Estimation: iterated weighted least squares, vectorised over all epochs at once
(stacked normal equations, batched solves). Weights ``1/sigma^2`` with
``sigma^2 = a^2 + b^2/sin^2(E) + URA^2 + (0.5 I)^2 + (0.3/(sin E + 0.1))^2`` (code noise
and multipath, broadcast orbit/clock, remaining iono and troposphere errors; a = b =
0.3 m). Satellites below the elevation mask (default 15 deg) are not used. Fault
detection and exclusion: after convergence the weighted sum of squared residuals is
tested against the chi-square quantile (``1 - fde_alpha``, ``n - m`` degrees of
freedom); a failing epoch drops the satellite with the largest standardised residual
(w-test) and is solved again, up to ``max_exclusions`` times while redundancy remains.
Epochs still failing, or with GDOP above ``max_gdop``, are flagged invalid.

Velocity: Doppler range rates (``-lambda D``) in a second least-squares fit of the
receiver velocity and one clock drift, with the same weights and satellites.

Times are GPST ``datetime64[ns]``; positions ECEF (the broadcast frames, WGS 84 /
CGCS2000 / GTRF, cm-level equivalent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.frames import ecef_to_geodetic, enu_matrix
from kongtian.nav import gnss_time, iono, troposphere
from kongtian.nav.ephemeris import sat_pos_clk, tgd_s
from kongtian.nav.signals import C_LIGHT_M_S, SYSTEM_NAMES, frequency_hz

if TYPE_CHECKING:
    from kongtian.nav.rinex_nav import NavData
    from kongtian.nav.rinex_obs import ObsData

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

__all__ = ["DEFAULT_CODES", "SppConfig", "SppSolution", "solve_spp"]

OMEGA_E_RAD_S = 7.2921151467e-5  # WGS 84 rate for the Sagnac term (system differences < 1e-12)

#: Code priority per system (first one present in the file is used); RINEX 3.03+ codes.
DEFAULT_CODES: dict[str, tuple[str, ...]] = {
    "G": ("C1C", "C1W", "C1X", "C1P"),
    "J": ("C1C", "C1X"),
    "E": ("C1C", "C1X", "C1B"),
    "C": ("C2I", "C2X", "C2Q"),  # B1I
}
_TGD_BAND = {"G": "L1", "J": "L1", "E": "E1", "C": "B1I"}
_SUPPORTED = "GJEC"

IonoOption = Literal["auto", "gps", "off"]
TropOption = Literal["saastamoinen", "off"]


@dataclass
class SppConfig:
    """Options of :func:`solve_spp` (defaults in brackets).

    ``systems`` ["GC"]: letters among G, E, C, J. ``elev_mask_deg`` [15].
    ``iono`` ["auto"]: BeiDou own Klobuchar when ``BDSA/BDSB`` exist, GPS Klobuchar
    otherwise; ``"gps"``: GPS Klobuchar for every system (RTKLIB's choice); ``"off"``.
    ``trop`` ["saastamoinen"] with ``trop_mapping`` ["secant"].
    ``codes``: per-system code priority (default :data:`DEFAULT_CODES`).
    ``fde`` [True], ``fde_alpha`` [1e-3], ``max_exclusions`` [3], ``max_gdop`` [30].
    """

    systems: str = "GC"
    elev_mask_deg: float = 15.0
    iono: IonoOption = "auto"
    trop: TropOption = "saastamoinen"
    trop_mapping: troposphere.Mapping = "secant"
    codes: Mapping[str, Sequence[str]] | None = None
    fde: bool = True
    fde_alpha: float = 1e-3
    max_exclusions: int = 3
    max_gdop: float = 30.0
    max_iter: int = 10
    code_sigma_a_m: float = 0.3
    code_sigma_b_m: float = 0.3
    galileo: Literal["inav", "fnav"] = "inav"


@dataclass
class SppSolution:
    """Per-epoch results (T epochs, S satellites); NaN where not solved.

    ``clock_m`` maps a system letter to its receiver clock (m, ``c * dtr``);
    ``status``: 0 ok, 1 too few satellites, 2 chi-square failed after FDE, 3 GDOP too
    large, 4 no convergence. ``used``: the satellites in the final fit;
    ``dop``: (GDOP, PDOP, HDOP, VDOP). ``notes``: human-readable model statements
    (elevation mask, ionosphere per system, troposphere, signals) for output headers.
    """

    time_gpst: npt.NDArray[np.datetime64]
    pos_ecef_m: F64
    vel_ecef_m_s: F64
    clock_m: dict[str, F64]
    clock_drift_m_s: F64
    cov_ecef_m2: F64
    dop: F64
    valid: B
    status: npt.NDArray[np.int8]
    n_used: npt.NDArray[np.int64]
    sv: list[str]
    used: B
    excluded: B
    azimuth_rad: F64
    elevation_rad: F64
    residual_m: F64
    codes: dict[str, str]
    config: SppConfig
    notes: list[str] = field(default_factory=list)

    @property
    def solved_fraction(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0


@dataclass
class _Inputs:
    t: npt.NDArray[np.datetime64]
    sv: list[str]
    sys_idx: npt.NDArray[np.int64]  # (S,) column of the satellite's clock
    systems: list[str]
    pr: F64  # (T,S) pseudorange corrected for satellite clock and TGD (m)
    sat_pos: F64  # (T,S,3)
    sat_vel: F64
    sat_drift_m_s: F64  # (T,S)
    ura_m: F64  # (T,S)
    doppler_rate_m_s: F64  # (T,S) -lambda*D
    freq_hz: F64  # (S,)
    ok: B  # (T,S) usable measurement


def _select_codes(obs: ObsData, systems: str, prio: Mapping[str, Sequence[str]]) -> dict[str, str]:
    ds = obs.data
    svs = ds["sv"].values.astype(str)
    out: dict[str, str] = {}
    for g in systems:
        cols = np.char.startswith(svs, g)
        if not cols.any():
            continue
        for code in prio.get(g, ()):
            if code in ds and np.isfinite(ds[code].values[:, cols]).any():
                out[g] = code
                break
    return out


def _prepare(obs: ObsData, nav: NavData, cfg: SppConfig) -> tuple[_Inputs, dict[str, str]]:
    bad = set(cfg.systems) - set(_SUPPORTED)
    if bad:
        raise ConfigError(
            f"SPP supports systems {_SUPPORTED}, not {''.join(sorted(bad))}", option="systems"
        )
    prio = dict(DEFAULT_CODES)
    if cfg.codes:
        prio.update({k: tuple(v) for k, v in cfg.codes.items()})
    codes = _select_codes(obs, cfg.systems, prio)
    if not codes:
        raise ConfigError(
            f"no pseudorange of systems {cfg.systems!r} in {obs.path or 'the observations'}",
            option="systems",
        )
    ds = obs.data
    flags = ds["epoch_flag"].values if "epoch_flag" in ds.coords else np.zeros(ds.sizes["time"])
    keep_t = np.asarray(flags) <= 1  # 2-5: events / header records, not measurements
    t_gpst = gnss_time.to_gpst(ds["time"].values[keep_t], obs.header.time_scale)
    all_sv = ds["sv"].values.astype(str)
    systems = [g for g in cfg.systems if g in codes]
    cols = [i for i, s in enumerate(all_sv) if s[0] in codes]
    sv = [str(all_sv[i]) for i in cols]
    n_t, n_s = len(t_gpst), len(sv)
    pr = np.full((n_t, n_s), np.nan)
    dop = np.full((n_t, n_s), np.nan)
    freq = np.zeros(n_s)
    for g, code in codes.items():
        j = np.array([k for k, s in enumerate(sv) if s[0] == g])
        src = np.array([cols[k] for k in j])
        pr[:, j] = ds[code].values[keep_t][:, src]
        dcode = "D" + code[1:]
        if dcode in ds:
            dop[:, j] = ds[dcode].values[keep_t][:, src]
        freq[j] = frequency_hz(g, code[1])
    sys_idx = np.array([systems.index(s[0]) for s in sv], dtype=np.int64)
    ok = np.isfinite(pr) & (pr > 1e6)
    # satellite states at transmission (satellite clock reading t_rx - P/c)
    ti, si = np.nonzero(ok)
    t_rx = t_gpst[ti]
    tau_ns = np.round(pr[ti, si] / C_LIGHT_M_S * 1e9).astype(np.int64)
    t_tx = t_rx - tau_ns.astype("timedelta64[ns]")
    svn = np.array(sv)[si]
    st = sat_pos_clk(nav, svn, t_tx, sv_clock_time=True, t_select_gpst=t_rx, galileo=cfg.galileo)
    tgd = np.zeros(len(ti))
    for g in systems:
        m = np.flatnonzero((svn.astype("<U1") == g) & st.valid)
        if m.size:
            tgd[m] = tgd_s(nav, svn[m], _TGD_BAND[g], eph_index=st.eph_index[m])
    sat_pos = np.full((n_t, n_s, 3), np.nan)
    sat_vel = np.full((n_t, n_s, 3), np.nan)
    drift = np.full((n_t, n_s), np.nan)
    ura = np.full((n_t, n_s), np.nan)
    corr = np.full((n_t, n_s), np.nan)
    sat_pos[ti, si] = st.pos_ecef_m
    sat_vel[ti, si] = st.vel_ecef_m_s
    drift[ti, si] = st.clk_drift_s_s * C_LIGHT_M_S
    corr[ti, si] = pr[ti, si] + C_LIGHT_M_S * (st.clk_s - np.nan_to_num(tgd))
    for g in systems:
        df = nav.records.get(g)
        if df is None or "sv_accuracy" not in df:
            continue
        m = np.flatnonzero((svn.astype("<U1") == g) & st.valid)
        acc = df["sv_accuracy"].to_numpy(dtype=np.float64)[st.eph_index[m]]
        if g in "GJC":
            acc = _ura_bound(acc)
        ura[ti[m], si[m]] = acc
    ura = np.where(np.isfinite(ura) & (ura >= 0) & (ura < 1e3), ura, 10.0)
    ok &= np.isfinite(corr)
    lam = C_LIGHT_M_S / np.where(freq > 0, freq, np.nan)
    inputs = _Inputs(t_gpst, sv, sys_idx, systems, corr, sat_pos, sat_vel, drift, ura,
                     -lam[None, :] * dop, freq, ok)  # fmt: skip
    return inputs, codes


# Nominal URA upper bounds (m) of the 4-bit URA index (IS-GPS-200 20.3.3.3.1.3; BeiDou
# uses the same table). RINEX writes "SV accuracy" in metres, and old files print 0.0:
# the broadcast value means "URA <= bound", so the bound is the honest sigma.
_URA_BOUNDS_M = np.array([2.4, 3.4, 4.85, 6.85, 9.65, 13.65, 24.0, 48.0, 96.0, 192.0, 384.0,
                          768.0, 1536.0, 3072.0, 6144.0])  # fmt: skip


def _ura_bound(acc_m: F64) -> F64:
    k = np.searchsorted(_URA_BOUNDS_M, np.nan_to_num(acc_m, nan=1e9) - 1e-9)
    return np.where(k < len(_URA_BOUNDS_M), _URA_BOUNDS_M[np.minimum(k, 14)], np.nan)


def _azel(rx: F64, sat: F64) -> tuple[F64, F64, F64, F64, F64]:
    """(azimuth, elevation, lat, lon, height) of sats (T,S,3) from receivers (T,3)."""
    lat, lon, h = ecef_to_geodetic(rx)
    rot = enu_matrix(lat, lon)  # (T,3,3)
    d = sat - rx[:, None, :]
    enu = np.matmul(d, np.transpose(rot, (0, 2, 1)))
    az = np.mod(np.arctan2(enu[..., 0], enu[..., 1]), 2 * np.pi)
    el = np.arctan2(enu[..., 2], np.hypot(enu[..., 0], enu[..., 1]))
    far = np.linalg.norm(rx, axis=-1) < 6.0e6  # position not known yet: no mask, no models
    el = np.where(far[:, None], np.pi / 2, el)
    return az, el, lat, lon, h


class _Models:
    """Atmosphere models bound to one navigation file and configuration."""

    def __init__(self, nav: NavData, cfg: SppConfig, inp: _Inputs) -> None:
        self.cfg = cfg
        self.inp = inp
        self.notes: list[str] = []
        ion = nav.iono
        self.gps = (ion.get("GPSA"), ion.get("GPSB"))
        self.bds = (ion.get("BDSA"), ion.get("BDSB"))
        have_gps = self.gps[0] is not None and self.gps[1] is not None
        have_bds = self.bds[0] is not None and self.bds[1] is not None
        self.use_bds_model = cfg.iono == "auto" and have_bds
        self.iono_on = cfg.iono != "off" and (have_gps or self.use_bds_model)
        f_l1 = frequency_hz("G", "1")
        for g in inp.systems:
            f = float(inp.freq_hz[inp.sys_idx == inp.systems.index(g)][0])
            name = SYSTEM_NAMES[g]
            if cfg.iono == "off":
                self.notes.append(f"ionosphere {name}: not corrected (iono=off)")
            elif g == "C" and self.use_bds_model:
                self.notes.append(f"ionosphere {name}: BeiDou Klobuchar (BDSA/BDSB, BDS-SIS-ICD)")
            elif have_gps:
                extra = ""
                if g == "C":
                    why = "iono=gps" if cfg.iono == "gps" else "no BDSA/BDSB in the navigation file"
                    extra = f" ({why})"
                scale = f" scaled to {f / 1e6:.3f} MHz" if abs(f - f_l1) > 1.0 else ""
                self.notes.append(f"ionosphere {name}: GPS Klobuchar (GPSA/GPSB){scale}{extra}")
            else:
                self.notes.append(f"ionosphere {name}: not corrected (no broadcast coefficients)")
        if cfg.trop == "saastamoinen":
            self.notes.append(
                f"troposphere: Saastamoinen, standard atmosphere, {cfg.trop_mapping} mapping"
            )
        else:
            self.notes.append("troposphere: not corrected")
        self.tow = gnss_time.week_sow(inp.t, "GPST")[1]
        self.bdt_tow = gnss_time.week_sow(gnss_time.gpst_to_bdt(inp.t), "BDT")[1]

    def delays(
        self, az: F64, el: F64, lat: F64, lon: F64, h: F64, rows: npt.NDArray[np.int64]
    ) -> tuple[F64, F64]:
        inp, cfg = self.inp, self.cfg
        shape = el.shape
        ion = np.zeros(shape)
        if self.iono_on:
            la, lo = lat[:, None], lon[:, None]
            is_c = (np.array([s[0] for s in inp.sv]) == "C")[None, :]
            f_l1 = frequency_hz("G", "1")
            if self.gps[0] is not None and self.gps[1] is not None:
                d = iono.klobuchar_gps(self.gps[0], self.gps[1], la, lo, az, el,
                                       self.tow[rows, None])  # fmt: skip
                ion = iono.scale_to_frequency(d, f_l1, inp.freq_hz[None, :])
            if self.use_bds_model:
                d = iono.klobuchar_bds(self.bds[0], self.bds[1], la, lo, az, el,
                                       self.bdt_tow[rows, None])  # fmt: skip
                d = iono.scale_to_frequency(d, frequency_hz("C", "2"), inp.freq_hz[None, :])
                ion = np.where(is_c, d, ion)
            known = (np.abs(h) < 1e5)[:, None]
            ion = np.where(known, np.nan_to_num(ion), 0.0)
        trp = np.zeros(shape)
        if cfg.trop == "saastamoinen":
            trp = troposphere.slant_delay(lat[:, None], h[:, None], el, mapping=cfg.trop_mapping)
            trp = np.where((np.abs(h) < 1e5)[:, None], trp, 0.0)
        return ion, trp


def _chi2_quantile(p: float, dof: npt.NDArray[np.int64]) -> F64:
    # chi-square quantile through the inverse regularised gamma function (scipy.special
    # imports much faster than scipy.stats)
    from scipy.special import gammaincinv

    k = np.maximum(dof, 1).astype(np.float64)
    return np.asarray(2.0 * gammaincinv(k / 2.0, p), dtype=np.float64)


class _Fit(NamedTuple):
    x: F64  # (R, 3 + n_sys) position and clocks (m)
    v: F64  # (R, S) residuals (m), 0 where unused
    w: F64  # (R, S) weights (1/m^2), 0 where unused
    use: B  # (R, S)
    h: F64  # (R, S, 3 + n_sys) design matrix
    az: F64
    el: F64
    converged: B


def _solve_rows(
    inp: _Inputs,
    models: _Models,
    cfg: SppConfig,
    rows: npt.NDArray[np.int64],
    x0: F64,
    excl: B,
) -> _Fit:
    """Iterated WLS for the epochs ``rows``; returns arrays indexed like ``rows``."""
    n_sys = len(inp.systems)
    n_x = 3 + n_sys
    n_r = len(rows)
    x = x0.copy()
    sp = inp.sat_pos[rows]
    pr = inp.pr[rows]
    base_ok = inp.ok[rows] & ~excl
    onehot = np.zeros((len(inp.sv), n_sys))
    onehot[np.arange(len(inp.sv)), inp.sys_idx] = 1.0
    mask_rad = np.radians(cfg.elev_mask_deg)
    active = np.ones(n_r, dtype=bool)
    converged = np.zeros(n_r, dtype=bool)
    use = base_ok
    w = np.zeros(pr.shape)
    v = np.zeros(pr.shape)
    hmat = np.zeros((*pr.shape, n_x))
    az = el = np.zeros(pr.shape)
    for _ in range(cfg.max_iter):
        rx = x[:, :3]
        d = sp - rx[:, None, :]
        rng = np.linalg.norm(d, axis=-1)
        rng = rng + OMEGA_E_RAD_S * (sp[..., 0] * rx[:, None, 1] - sp[..., 1] * rx[:, None, 0]) / (
            C_LIGHT_M_S
        )
        los = d / np.linalg.norm(d, axis=-1, keepdims=True)
        az, el, lat, lon, h = _azel(rx, sp)
        ion, trp = models.delays(az, el, lat, lon, h, rows)
        clk = x[:, 3:] @ onehot.T  # (R,S)
        v = pr - (rng + clk + ion + trp)
        use = base_ok & (el >= mask_rad) & np.isfinite(v)
        sin_el = np.sin(np.clip(el, 0.05, None))
        var = (
            cfg.code_sigma_a_m**2
            + (cfg.code_sigma_b_m / sin_el) ** 2
            + inp.ura_m[rows] ** 2
            + (0.5 * ion) ** 2
            + (0.3 / (sin_el + 0.1)) ** 2
        )
        w = np.where(use, 1.0 / var, 0.0)
        v = np.where(use, v, 0.0)
        hmat = np.concatenate([-los, np.broadcast_to(onehot, (n_r, *onehot.shape))], axis=-1)
        hmat = np.where(use[..., None], np.nan_to_num(hmat), 0.0)
        nmat = _normal(hmat, w)
        bvec = _rhs(hmat, w, v)
        # systems with no satellite in an epoch: pin their clock (keeps N regular)
        absent = np.einsum("rs,sg->rg", use.astype(float), onehot) == 0
        nmat[:, 3:, 3:] += np.einsum("rg,gh->rgh", absent.astype(float), np.eye(n_sys))
        n_use = use.sum(axis=1)
        enough = n_use >= 3 + (~absent).sum(axis=1)
        step = active & enough
        dx = np.zeros((n_r, n_x))
        if step.any():
            try:
                dx[step] = np.linalg.solve(nmat[step], bvec[step][..., None])[..., 0]
            except np.linalg.LinAlgError:
                for k in np.flatnonzero(step):
                    try:
                        dx[k] = np.linalg.solve(nmat[k], bvec[k])
                    except np.linalg.LinAlgError:
                        step[k] = False
        x[step] += dx[step]
        done = np.linalg.norm(dx[:, :3], axis=1) < 1e-4
        converged |= step & done
        active = step & ~done
        if not active.any():
            break
    return _Fit(x, v, w, use, hmat, az, el, converged)


def solve_spp(
    obs: ObsData,
    nav: NavData,
    config: SppConfig | None = None,
    *,
    max_block_epochs: int = 7200,
) -> SppSolution:
    """Single-point positions (and Doppler velocities) for every epoch of ``obs``.

    ``nav`` must cover the observation span. See the module docstring for the model and
    :class:`SppConfig` for the options. Raises ConfigError for unsupported systems or
    when no pseudorange of the requested systems is present. Epochs are processed in
    blocks of ``max_block_epochs`` (bounds the memory of the stacked (epoch, satellite,
    unknown) arrays, e.g. for 1-Hz days); the result does not depend on the block size.
    """
    cfg = config or SppConfig()
    n_t = obs.data.sizes["time"]
    if n_t <= max_block_epochs:
        return _solve_block(obs, nav, cfg)
    parts = []
    for i in range(0, n_t, max_block_epochs):
        block = type(obs)(header=obs.header, data=obs.data.isel(time=slice(i, i + max_block_epochs)),
                          path=obs.path)  # fmt: skip
        try:
            parts.append(_solve_block(block, nav, cfg))
        except ConfigError:
            continue  # a block without usable pseudoranges: its epochs are simply absent
    if not parts:
        return _solve_block(obs, nav, cfg)  # raises the same ConfigError for the whole file
    return _concat(parts)


def _concat(parts: list[SppSolution]) -> SppSolution:
    """Join block solutions on the union of their satellites (missing -> NaN/False)."""
    svs = sorted({s for p in parts for s in p.sv})
    systems = list(dict.fromkeys(g for p in parts for g in p.clock_m))

    def per_sv(name: str, fill: float | bool) -> npt.NDArray[Any]:
        chunks = []
        for p in parts:
            a = getattr(p, name)
            out = np.full((a.shape[0], len(svs)), fill, dtype=a.dtype)
            out[:, [svs.index(s) for s in p.sv]] = a
            chunks.append(out)
        return np.concatenate(chunks)

    def cat(name: str) -> npt.NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])

    nan_t = [np.full(p.valid.size, np.nan) for p in parts]
    clocks = {
        g: np.concatenate([p.clock_m.get(g, nan_t[k]) for k, p in enumerate(parts)])
        for g in systems
    }
    codes: dict[str, str] = {}
    notes: list[str] = []
    for p in parts:
        codes.update({g: c for g, c in p.codes.items() if g not in codes})
        notes += [n for n in p.notes if n not in notes]
    return SppSolution(
        time_gpst=cat("time_gpst"), pos_ecef_m=cat("pos_ecef_m"), vel_ecef_m_s=cat("vel_ecef_m_s"),
        clock_m=clocks, clock_drift_m_s=cat("clock_drift_m_s"), cov_ecef_m2=cat("cov_ecef_m2"),
        dop=cat("dop"), valid=cat("valid"), status=cat("status"), n_used=cat("n_used"), sv=svs,
        used=per_sv("used", False), excluded=per_sv("excluded", False),
        azimuth_rad=per_sv("azimuth_rad", np.nan), elevation_rad=per_sv("elevation_rad", np.nan),
        residual_m=per_sv("residual_m", np.nan), codes=codes, config=parts[0].config, notes=notes,
    )  # fmt: skip


def _solve_block(obs: ObsData, nav: NavData, cfg: SppConfig) -> SppSolution:
    inp, codes = _prepare(obs, nav, cfg)
    models = _Models(nav, cfg, inp)
    n_t, n_s = inp.pr.shape
    n_sys = len(inp.systems)
    approx = np.asarray(obs.header.approx_xyz_m, dtype=np.float64)
    start = approx if np.all(np.isfinite(approx)) and np.linalg.norm(approx) > 6e6 else np.zeros(3)
    x0 = np.zeros((n_t, 3 + n_sys))
    x0[:, :3] = start
    excl = np.zeros((n_t, n_s), dtype=bool)
    rows = np.arange(n_t)
    res = _solve_rows(inp, models, cfg, rows, x0, excl)
    x, v, w, use, hmat, az, el, conv = res
    chi_ok = np.ones(n_t, dtype=bool)

    def n_params(u: B) -> npt.NDArray[np.int64]:
        present = np.zeros((u.shape[0], n_sys), dtype=bool)
        for g in range(n_sys):
            present[:, g] = (u & (inp.sys_idx == g)[None, :]).any(axis=1)
        return 3 + present.sum(axis=1)

    def chi_test(vv: F64, ww: F64, uu: B) -> tuple[B, npt.NDArray[np.int64]]:
        dof = uu.sum(axis=1) - n_params(uu)
        stat = (ww * vv**2).sum(axis=1)
        return (dof <= 0) | (stat <= _chi2_quantile(1.0 - cfg.fde_alpha, dof)), dof

    chi_ok, dof = chi_test(v, w, use)
    if cfg.fde:
        for _ in range(cfg.max_exclusions):
            bad = np.flatnonzero(~chi_ok & conv & (dof >= 2))
            if bad.size == 0:
                break
            # standardised residuals: v / sqrt(var * (1 - leverage))
            hb, wb, vb = hmat[bad], w[bad], v[bad]
            nmat = _normal(hb, wb)
            nmat += np.eye(nmat.shape[-1]) * 1e-9
            q = np.linalg.inv(nmat)
            lev = (np.matmul(hb, q) * hb).sum(axis=-1) * wb
            std = np.abs(vb) * np.sqrt(wb) / np.sqrt(np.clip(1.0 - lev, 1e-6, None))
            std = np.where(use[bad], std, -1.0)
            worst = np.argmax(std, axis=1)
            excl[bad, worst] = True
            sub = _solve_rows(inp, models, cfg, bad, x[bad], excl[bad])
            x[bad], v[bad], w[bad], use[bad] = sub.x, sub.v, sub.w, sub.use
            hmat[bad], az[bad], el[bad], conv[bad] = sub.h, sub.az, sub.el, sub.converged
            ok_b, dof_b = chi_test(v[bad], w[bad], use[bad])
            chi_ok[bad], dof[bad] = ok_b, dof_b
    # covariance and DOP
    n_used = use.sum(axis=1)
    nmat = _normal(hmat, w)
    g_mat = _normal(hmat, use.astype(float))
    absent = np.einsum("rs,sg->rg", use.astype(float), _onehot(inp.sys_idx, n_sys)) == 0
    eye = np.einsum("rg,gh->rgh", absent.astype(float), np.eye(n_sys))
    nmat[:, 3:, 3:] += eye
    g_mat[:, 3:, 3:] += eye
    enough = n_used >= n_params(use)
    cov = np.full((n_t, 3, 3), np.nan)
    dop = np.full((n_t, 4), np.nan)
    if enough.any():
        ok_rows = np.flatnonzero(enough)
        cov[ok_rows] = np.linalg.inv(nmat[ok_rows])[:, :3, :3]
        qg = np.linalg.inv(g_mat[ok_rows])
        lat, lon, _ = ecef_to_geodetic(x[ok_rows, :3])
        rot = enu_matrix(lat, lon)
        q_enu = rot @ qg[:, :3, :3] @ np.transpose(rot, (0, 2, 1))
        n_clk = (~absent[ok_rows]).sum(axis=1)
        tr_clk = np.einsum("rii->r", qg[:, 3:, 3:]) - (n_sys - n_clk)
        pdop2 = np.einsum("rii->r", qg[:, :3, :3])
        dop[ok_rows, 0] = np.sqrt(pdop2 + tr_clk)
        dop[ok_rows, 1] = np.sqrt(pdop2)
        dop[ok_rows, 2] = np.sqrt(q_enu[:, 0, 0] + q_enu[:, 1, 1])
        dop[ok_rows, 3] = np.sqrt(q_enu[:, 2, 2])
    status = np.zeros(n_t, dtype=np.int8)
    status[~conv] = 4
    status[conv & ~chi_ok] = 2
    status[conv & chi_ok & (dop[:, 0] > cfg.max_gdop)] = 3
    status[~enough] = 1
    valid = status == 0
    pos = np.where(valid[:, None], x[:, :3], np.nan)
    clocks = {g: np.where(valid, x[:, 3 + k], np.nan) for k, g in enumerate(inp.systems)}
    vel, drift = _velocity(inp, x[:, :3], use & valid[:, None], w)
    notes = [f"elevation mask: {cfg.elev_mask_deg:g} deg"]
    notes.append("signals: " + ", ".join(f"{SYSTEM_NAMES[g]} {c}" for g, c in codes.items()))
    notes += models.notes
    notes.append(
        "estimation: weighted least squares, one receiver clock per system"
        + (f", chi-square FDE (alpha {cfg.fde_alpha:g})" if cfg.fde else "")
    )
    return SppSolution(
        time_gpst=inp.t, pos_ecef_m=pos, vel_ecef_m_s=vel, clock_m=clocks,
        clock_drift_m_s=drift, cov_ecef_m2=cov, dop=dop, valid=valid, status=status,
        n_used=np.where(valid, n_used, 0), sv=inp.sv, used=use & valid[:, None],
        excluded=excl & inp.ok, azimuth_rad=az, elevation_rad=el,
        residual_m=np.where(use, v, np.nan), codes=codes, config=cfg, notes=notes,
    )  # fmt: skip


def _normal(h: F64, w: F64) -> F64:
    """Stacked normal matrices H^T W H (batched matmul: much faster than a 3-operand einsum)."""
    return np.matmul(np.transpose(h * w[..., None], (0, 2, 1)), h)


def _rhs(h: F64, w: F64, v: F64) -> F64:
    """Stacked right-hand sides H^T W v."""
    return np.matmul(np.transpose(h, (0, 2, 1)), (w * v)[..., None])[..., 0]


def _onehot(sys_idx: npt.NDArray[np.int64], n_sys: int) -> F64:
    m = np.zeros((len(sys_idx), n_sys))
    m[np.arange(len(sys_idx)), sys_idx] = 1.0
    return m


def _velocity(inp: _Inputs, rx: F64, use: B, w: F64) -> tuple[F64, F64]:
    """Receiver velocity (m/s, ECEF) and clock drift (m/s) from Doppler range rates."""
    n_t = rx.shape[0]
    rate = inp.doppler_rate_m_s
    u = use & np.isfinite(rate) & np.isfinite(inp.sat_drift_m_s)
    if not u.any():
        return np.full((n_t, 3), np.nan), np.full(n_t, np.nan)
    sp, sv = inp.sat_pos, inp.sat_vel
    rxf = np.nan_to_num(rx)
    d = sp - rxf[:, None, :]
    los = d / np.linalg.norm(d, axis=-1, keepdims=True)
    los = np.nan_to_num(los)
    vr = np.zeros((n_t, 3))
    drift = np.zeros(n_t)
    for _ in range(2):  # the Sagnac rate term is (weakly) velocity dependent
        # time derivative of the range's Sagnac term omega_e (x_s y_r - y_s x_r) / c
        sag = OMEGA_E_RAD_S / C_LIGHT_M_S * (
            sv[..., 0] * rxf[:, None, 1] + sp[..., 0] * vr[:, None, 1]
            - sv[..., 1] * rxf[:, None, 0] - sp[..., 1] * vr[:, None, 0]
        )  # fmt: skip
        model = np.einsum("tsi,tsi->ts", sv - vr[:, None, :], los) + drift[:, None] + sag
        y = np.where(u, rate - (model - inp.sat_drift_m_s), 0.0)
        y = np.nan_to_num(y)
        hm = np.concatenate([-los, np.ones((*los.shape[:2], 1))], axis=-1)
        hm = np.where(u[..., None], hm, 0.0)
        ww = np.where(u, w, 0.0)
        nm = _normal(hm, ww)
        bv = _rhs(hm, ww, y)
        ok = u.sum(axis=1) >= 4
        dx = np.zeros((n_t, 4))
        if ok.any():
            dx[ok] = np.linalg.solve(nm[ok], bv[ok][..., None])[..., 0]
        vr += dx[:, :3]
        drift += dx[:, 3]
    ok = (u.sum(axis=1) >= 4) & np.all(np.isfinite(rx), axis=1)
    return np.where(ok[:, None], vr, np.nan), np.where(ok, drift, np.nan)
