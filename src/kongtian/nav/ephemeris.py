"""Broadcast ephemerides: satellite position, velocity and clock from navigation records.

Covers the Keplerian broadcast messages: GPS and QZSS LNAV, Galileo I/NAV and F/NAV,
BeiDou D1/D2 (with the GEO branch) and NavIC, plus GLONASS FDMA through
:mod:`kongtian.nav.glonass` and SBAS GEO state vectors (second-order polynomial).
CNAV-family records (GPS/QZSS CNAV, CNAV-2; BeiDou B-CNAV1/2/3: A-dot and n-dot terms)
are evaluated too but selected only on request (``messages=``). Input records are the per-system DataFrames of
:class:`kongtian.nav.rinex_nav.NavData` (column names and units in that module).

Frames and times:

- Positions are Earth-fixed at the *transmission* instant, in the frame of the system's
  broadcast: WGS 84 (GPS, QZSS, NavIC), GTRF (Galileo), CGCS2000 (BeiDou), PZ-90.11
  (GLONASS). These agree at the centimetre level, below broadcast-orbit accuracy, and
  no transformation is applied. The Sagnac rotation during signal travel is the
  caller's business (it depends on the receiver).
- ``t_gpst`` is the transmission time in GPST as ``datetime64[ns]``, i.e. receiver time
  minus travel time, already corrected for the satellite clock offset (pass
  ``sv_clock_time=True`` to have that correction done here, ICD-style).
- Clock offsets ``clk_s`` (s) refer to the system's clock reference signal combination
  (GPS L1/L2 P(Y) iono-free; Galileo the pair of the message, E1/E5b for I/NAV and
  E1/E5a for F/NAV; BeiDou B3I) and include the relativistic eccentricity term
  ``F e sqrt(A) sin E``. They exclude group delays: see :func:`tgd_s`.

The entry point is :func:`sat_pos_clk`; :func:`select_ephemeris` picks one record per
(satellite, time) and :func:`eval_records` evaluates given records.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from kongtian.errors import ConfigError
from kongtian.nav import gnss_time
from kongtian.nav.constants import BDS_GEO_PRNS, BDS_GEO_TILT_RAD, ORBIT_CONSTANTS
from kongtian.nav.signals import frequency_hz

if TYPE_CHECKING:
    from kongtian.nav.rinex_nav import NavData

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

KEPLER_SYSTEMS = "GEJCI"
# Message types evaluated by the Keplerian model. The CNAV family (GPS/QZSS CNAV and
# CNAV-2, BeiDou B-CNAV1/2/3) adds a semi-major-axis rate and a mean-motion rate; those
# records are evaluated on request (``messages=``) but not selected by default.
KEPLER_MSG_TYPES = frozenset(("LNAV", "INAV", "FNAV", "D1", "D2"))
CNAV_MSG_TYPES = frozenset(("CNAV", "CNV1", "CNV2", "CNV3"))
DEFAULT_MSG_TYPES = KEPLER_MSG_TYPES | {"FDMA", "SBAS"}
SelectionRule = Literal["auto", "nearest", "latest"]
GalileoPref = Literal["inav", "fnav", "any"]

_KEPLER_TOL_RAD = 1e-14
_KEPLER_MAX_ITER = 30
_NS = 1e9


class SatStates(NamedTuple):
    """Satellite states at the requested (sv, time) pairs; rows without a usable
    ephemeris are NaN with ``valid`` False and ``eph_index`` -1.

    ``eph_index`` is the positional row (``iloc``) in ``nav.records[sv[0]]`` of the
    record used.
    """

    pos_ecef_m: F64
    clk_s: F64
    vel_ecef_m_s: F64
    clk_drift_s_s: F64
    eph_index: I64
    valid: B


# ---------------------------------------------------------------------------------------
# Per-record arrays, computed once per DataFrame.


@dataclass(frozen=True)
class _EphTable:
    """Numeric columns of one system's records, with absolute toe/toc in GPST (int ns)."""

    system: str
    sv: npt.NDArray[np.str_]
    msg_type: npt.NDArray[np.str_]
    toe_ns: I64  # GPST, ns since 1970 (datetime64 int); GLONASS: tb as GPST
    toc_ns: I64
    toe_sow: F64  # seconds of week of toe in the system's own scale
    healthy: B
    usable: B  # message type understood and the orbit parameters are finite
    cols: dict[str, F64]
    geo: B  # BeiDou GEO (evaluated with the GEO branch)


_TABLES: dict[int, tuple[weakref.ref[pd.DataFrame], _EphTable]] = {}

_KEPLER_COLS = (
    "sqrt_a", "e", "m0", "delta_n", "omega", "cuc", "cus", "crc", "crs", "cic", "cis",
    "i0", "idot", "omega0", "omega_dot", "af0", "af1", "af2", "adot", "delta_n_dot",
)  # fmt: skip
_GLONASS_COLS = ("tau_n", "gamma_n", "x", "y", "z", "vx", "vy", "vz", "ax", "ay", "az")
_SBAS_COLS = ("af0", "af1", "x", "y", "z", "vx", "vy", "vz", "ax", "ay", "az")


def _col(df: pd.DataFrame, name: str) -> F64:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return np.asarray(pd.to_numeric(df[name], errors="coerce"), dtype=np.float64)


def _table(df: pd.DataFrame, system: str) -> _EphTable:
    """Arrays of ``df`` (cached per DataFrame object; records are treated as read-only)."""
    hit = _TABLES.get(id(df))
    if hit is not None and hit[0]() is df and hit[1].system == system:
        return hit[1]
    tab = _build_table(df, system)
    if len(_TABLES) > 64:  # forget tables of DataFrames that no longer exist
        for key in [k for k, (ref, _) in _TABLES.items() if ref() is None]:
            del _TABLES[key]
    _TABLES[id(df)] = (weakref.ref(df), tab)
    return tab


def _build_table(df: pd.DataFrame, system: str) -> _EphTable:
    n = len(df)
    sv = np.asarray(df["sv"], dtype=str) if n else np.empty(0, dtype=str)
    if "msg_type" in df.columns:
        msg = np.asarray(df["msg_type"].fillna(""), dtype=str)
    else:
        msg = np.full(n, "", dtype=str)
    health = _col(df, "health")
    healthy = health == 0.0
    if system in "RS":
        cols = {c: _col(df, c) for c in (_GLONASS_COLS if system == "R" else _SBAS_COLS)}
        toc = np.asarray(df["toc"], dtype="datetime64[ns]")
        scale = df.attrs.get("toc_scale", gnss_time.SYSTEM_SCALE[system])
        bad = np.isnat(toc)
        # NaT has no leap-second count: convert a stand-in, the row is unusable anyway
        tb_gpst = gnss_time.to_gpst(np.where(bad, gnss_time.GPS_EPOCH_2000, toc), scale)
        toe_ns: I64 = tb_gpst.astype(np.int64)
        usable = np.isfinite(cols["x"]) & ~bad
        return _EphTable(system, sv, msg, toe_ns, toe_ns.copy(), np.full(n, np.nan), healthy,
                         usable, cols, np.zeros(n, dtype=bool))  # fmt: skip
    scale = df.attrs.get("toc_scale", gnss_time.SYSTEM_SCALE[system])
    cols = {c: _col(df, c) for c in _KEPLER_COLS}
    toc_sys = np.asarray(df["toc"], dtype="datetime64[ns]")
    toe_sow = _col(df, "toe")
    # Place toe within half a week of toc (the week field of some writers belongs to toc,
    # not toe, across a week boundary; toc is unambiguous).
    _, toc_sow = gnss_time.week_sow(toc_sys, scale)
    dt = gnss_time.wrap_half_week(toe_sow - toc_sow)
    dt_ns = np.round(np.nan_to_num(dt) * _NS).astype(np.int64)
    toe_sys = toc_sys + dt_ns.astype("timedelta64[ns]")
    toe_ns = gnss_time.to_gpst(toe_sys, scale).astype(np.int64)
    toc_ns = gnss_time.to_gpst(toc_sys, scale).astype(np.int64)
    kepler_type = np.isin(msg, list(KEPLER_MSG_TYPES | CNAV_MSG_TYPES)) | (msg == "")
    finite = np.ones(n, dtype=bool)
    for c in ("sqrt_a", "e", "m0", "omega0", "i0", "af0"):
        finite &= np.isfinite(cols[c])
    finite &= np.isfinite(toe_sow) & ~np.isnat(toc_sys)
    usable = kepler_type & finite & (np.nan_to_num(cols["sqrt_a"]) > 0.0)
    geo = is_bds_geo(sv) if system == "C" else np.zeros(n, dtype=bool)
    return _EphTable(system, sv, msg, toe_ns, toc_ns, toe_sow, healthy, usable, cols, geo)


def record_times(nav: NavData, system: str) -> tuple[npt.NDArray[np.datetime64], ...]:
    """(toe, toc) of every record of ``nav.records[system]`` as GPST ``datetime64[ns]``.

    toe is rebuilt from its seconds of week placed within half a week of toc; for
    GLONASS both are tb. Useful to report ephemeris ages and to match records.
    """
    tab = _table(nav.records[system], system)
    return tab.toe_ns.astype("datetime64[ns]"), tab.toc_ns.astype("datetime64[ns]")


# ---------------------------------------------------------------------------------------
# Orbit and clock models.


def solve_kepler(m_rad: F64, e: F64) -> F64:
    """Eccentric anomaly E from mean anomaly M: Newton iterations on E - e sin E = M.

    Converges to 1e-14 rad in 3-5 steps for GNSS eccentricities (< 0.1); stops at 30.
    """
    m = np.asarray(m_rad, dtype=np.float64)
    ecc = np.asarray(e, dtype=np.float64)
    big_e = m.copy()
    for _ in range(_KEPLER_MAX_ITER):
        step = (big_e - ecc * np.sin(big_e) - m) / (1.0 - ecc * np.cos(big_e))
        big_e -= step
        if not np.any(np.abs(step) > _KEPLER_TOL_RAD):
            break
    return big_e


def kepler_states(
    cols: Mapping[str, F64],
    tk_s: F64,
    toe_sow: F64,
    gm: F64,
    omega_e: F64,
    geo: B,
) -> tuple[F64, F64, F64, F64, F64]:
    """Earth-fixed position and velocity from broadcast Keplerian elements.

    ``cols`` holds per-sample element arrays (names as in the RINEX records: sqrt_a in
    m^0.5, angles in rad, rates in rad/s, harmonic terms in m and rad; CNAV records add
    ``adot`` (m/s) and ``delta_n_dot`` (rad/s^2), absent = 0); ``tk_s`` is time
    from toe (s), ``toe_sow`` the toe seconds of week in the system scale (enters the
    longitude of the ascending node), ``gm``/``omega_e`` the system constants and
    ``geo`` marks BeiDou GEO satellites (ICD B1I 3.0 section 5.2.4.12).

    Returns (pos (n,3) m, vel (n,3) m/s, E rad, dE/dt rad/s, A_k m).
    """
    a0 = cols["sqrt_a"] ** 2
    ecc = cols["e"]
    adot = cols["adot"] if "adot" in cols else np.zeros_like(a0)
    ndot = cols["delta_n_dot"] if "delta_n_dot" in cols else np.zeros_like(a0)
    a = a0 + adot * tk_s  # CNAV: A_k = A_0 + Adot tk
    n0 = np.sqrt(gm / a0**3)
    # CNAV: n_A = n0 + dn0 + dn0_dot tk / 2, so dM/dt = n0 + dn0 + dn0_dot tk
    big_e = solve_kepler(cols["m0"] + (n0 + cols["delta_n"] + 0.5 * ndot * tk_s) * tk_s, ecc)
    m_dot = n0 + cols["delta_n"] + ndot * tk_s
    sin_e, cos_e = np.sin(big_e), np.cos(big_e)
    one_m_ecos = 1.0 - ecc * cos_e
    e_dot = m_dot / one_m_ecos
    sq = np.sqrt(1.0 - ecc * ecc)
    phi = np.arctan2(sq * sin_e, cos_e - ecc) + cols["omega"]
    phi_dot = sq * e_dot / one_m_ecos
    s2, c2 = np.sin(2.0 * phi), np.cos(2.0 * phi)
    u = phi + cols["cus"] * s2 + cols["cuc"] * c2
    r = a * one_m_ecos + cols["crs"] * s2 + cols["crc"] * c2
    inc = cols["i0"] + cols["idot"] * tk_s + cols["cis"] * s2 + cols["cic"] * c2
    u_dot = phi_dot * (1.0 + 2.0 * (cols["cus"] * c2 - cols["cuc"] * s2))
    r_dot = (
        adot * one_m_ecos
        + a * ecc * sin_e * e_dot
        + 2.0 * phi_dot * (cols["crs"] * c2 - cols["crc"] * s2)
    )
    i_dot = cols["idot"] + 2.0 * phi_dot * (cols["cis"] * c2 - cols["cic"] * s2)

    cu, su = np.cos(u), np.sin(u)
    xp, yp = r * cu, r * su  # in the orbital plane
    xp_dot = r_dot * cu - r * u_dot * su
    yp_dot = r_dot * su + r * u_dot * cu

    # Longitude of the node. MEO/IGSO: in the Earth-fixed frame directly. GEO: in an
    # inertial-like frame (no Earth rotation since toe), rotated afterwards.
    node_rate = np.where(geo, cols["omega_dot"], cols["omega_dot"] - omega_e)
    node = cols["omega0"] + node_rate * tk_s - omega_e * toe_sow
    co, so = np.cos(node), np.sin(node)
    ci, si = np.cos(inc), np.sin(inc)
    x = xp * co - yp * ci * so
    y = xp * so + yp * ci * co
    z = yp * si
    vx = xp_dot * co - yp_dot * ci * so + yp * si * so * i_dot - y * node_rate
    vy = xp_dot * so + yp_dot * ci * co - yp * si * co * i_dot + x * node_rate
    vz = yp_dot * si + yp * ci * i_dot
    pos = np.stack([x, y, z], axis=-1)
    vel = np.stack([vx, vy, vz], axis=-1)
    if np.any(geo):
        pos[geo], vel[geo] = _geo_rotate(pos[geo], vel[geo], omega_e[geo] * tk_s[geo], omega_e[geo])
    return pos, vel, big_e, e_dot, a


def _geo_rotate(p: F64, v: F64, angle: F64, rate: F64) -> tuple[F64, F64]:
    """BeiDou GEO: R_Z(omega_e tk) R_X(-5 deg) applied to position and velocity."""
    c5, s5 = np.cos(BDS_GEO_TILT_RAD), np.sin(BDS_GEO_TILT_RAD)
    # R_X(phi) = [[1,0,0],[0,c,s],[0,-s,c]]
    py = p[:, 1] * c5 + p[:, 2] * s5
    pz = -p[:, 1] * s5 + p[:, 2] * c5
    vy = v[:, 1] * c5 + v[:, 2] * s5
    vz = -v[:, 1] * s5 + v[:, 2] * c5
    px, vx = p[:, 0], v[:, 0]
    ca, sa = np.cos(angle), np.sin(angle)
    # R_Z(a) = [[c,s,0],[-s,c,0],[0,0,1]]; d/dt R_Z = rate [[-s,c,0],[-c,-s,0],[0,0,0]]
    pos = np.stack([ca * px + sa * py, -sa * px + ca * py, pz], axis=-1)
    vel = np.stack(
        [
            ca * vx + sa * vy + rate * (-sa * px + ca * py),
            -sa * vx + ca * vy + rate * (-ca * px - sa * py),
            vz,
        ],
        axis=-1,
    )
    return pos, vel


def is_bds_geo(sv: Sequence[str] | npt.NDArray[np.str_]) -> B:
    """True for BeiDou GEO satellites (C01-C05, C59-C63), which need the GEO branch."""
    arr = np.asarray(sv, dtype=str)
    names = np.array([f"C{p:02d}" for p in sorted(BDS_GEO_PRNS)])
    return np.isin(arr, names)


def eval_records(
    nav: NavData,
    system: str,
    eph_index: Any,
    t_gpst: Any,
    *,
    sv_clock_time: bool = False,
) -> SatStates:
    """Evaluate the records ``nav.records[system].iloc[eph_index]`` at ``t_gpst``.

    No selection and no validity window: the caller chose the records (e.g. to compare
    with another implementation record by record). ``eph_index`` and ``t_gpst`` are
    broadcast together.
    """
    df = nav.records[system]
    tab = _table(df, system)
    idx, t = np.broadcast_arrays(np.asarray(eph_index, dtype=np.int64),
                                 np.asarray(t_gpst, dtype="datetime64[ns]"))  # fmt: skip
    idx, t = idx.ravel(), t.ravel()
    if np.any((idx < 0) | (idx >= len(df))):
        raise ConfigError("index out of range of the records", option="eph_index")
    t_ns = t.astype(np.int64)
    if system == "R":
        from kongtian.nav import glonass

        pos, clk, vel, drift = glonass.glonass_states(tab.cols, tab.toe_ns, idx, t_ns,
                                                      sv_clock_time=sv_clock_time)  # fmt: skip
    elif system == "S":
        pos, clk, vel, drift = _sbas_eval(tab, idx, t_ns, sv_clock_time)
    else:
        pos, clk, vel, drift = _kepler_eval(tab, idx, t_ns, sv_clock_time)
    ok = tab.usable[idx] & np.all(np.isfinite(pos), axis=1)
    return SatStates(pos, clk, vel, drift, idx.copy(), ok)


def _clock_poly(cols: Mapping[str, F64], dt: F64) -> F64:
    return cols["af0"] + (cols["af1"] + cols["af2"] * dt) * dt


def _sbas_eval(
    tab: _EphTable, idx: I64, t_ns: I64, sv_clock_time: bool
) -> tuple[F64, F64, F64, F64]:
    """SBAS GEO: r = r0 + v0 dt + a dt^2/2, clock af0 + af1 dt (RTCA DO-229 A.4.4.11)."""
    c = {k: v[idx] for k, v in tab.cols.items()}
    af1 = np.nan_to_num(c["af1"])
    dt = (t_ns - tab.toe_ns[idx]) / _NS
    if sv_clock_time:
        dt = dt - (c["af0"] + af1 * dt)
    r0 = np.stack([c["x"], c["y"], c["z"]], axis=-1)
    v0 = np.stack([c["vx"], c["vy"], c["vz"]], axis=-1)
    a0 = np.nan_to_num(np.stack([c["ax"], c["ay"], c["az"]], axis=-1))
    d = dt[:, None]
    return r0 + v0 * d + 0.5 * a0 * d * d, c["af0"] + af1 * dt, v0 + a0 * d, af1


def _kepler_eval(
    tab: _EphTable, idx: I64, t_ns: I64, sv_clock_time: bool
) -> tuple[F64, F64, F64, F64]:
    const = ORBIT_CONSTANTS[tab.system]
    cols = {c: v[idx] for c, v in tab.cols.items()}
    for c in ("delta_n", "cuc", "cus", "crc", "crs", "cic", "cis", "idot", "omega_dot",
              "omega", "af1", "af2", "adot", "delta_n_dot"):  # fmt: skip
        cols[c] = np.nan_to_num(cols[c])
    dtc = (t_ns - tab.toc_ns[idx]) / _NS
    if sv_clock_time:
        # t given on the satellite clock: t = t_sv - dt_sv, two fixed-point passes as in
        # IS-GPS-200 20.3.3.3.3.1 (the polynomial is flat enough to converge at once).
        dt_sv = dtc.copy()
        for _ in range(2):
            dt_sv = dtc - _clock_poly(cols, dt_sv)
        shift_ns = np.round((dtc - dt_sv) * _NS).astype(np.int64)
        t_ns = t_ns - shift_ns
        dtc = (t_ns - tab.toc_ns[idx]) / _NS
    tk = (t_ns - tab.toe_ns[idx]) / _NS
    n = len(idx)
    gm = np.full(n, const.gm_m3_s2)
    we = np.full(n, const.omega_e_rad_s)
    geo = tab.geo[idx]
    pos, vel, big_e, e_dot, a = kepler_states(cols, tk, tab.toe_sow[idx], gm, we, geo)
    f_rel = const.f_rel_s_sqrtm
    rel = f_rel * cols["e"] * cols["sqrt_a"] * np.sin(big_e)
    rel_dot = f_rel * cols["e"] * cols["sqrt_a"] * np.cos(big_e) * e_dot
    clk = _clock_poly(cols, dtc) + rel
    drift = cols["af1"] + 2.0 * cols["af2"] * dtc + rel_dot
    return pos, clk, vel, drift


# ---------------------------------------------------------------------------------------
# Selection.


def select_ephemeris(
    nav: NavData,
    sv: Any,
    t_gpst: Any,
    *,
    rule: SelectionRule = "auto",
    healthy_only: bool = True,
    galileo: GalileoPref = "inav",
    max_dtoe_s: Mapping[str, float] | None = None,
    messages: Collection[str] | None = None,
) -> tuple[I64, B]:
    """Pick one record per (sv, t): returns (positional row in ``nav.records[sv[0]]``,
    found mask); -1 where nothing qualifies.

    Rules (``docs/decisions/0015-ephemeris.md``):

    - ``rule="nearest"``: the record with the smallest ``|t - toe|`` (ties: the later
      toe; equal toe: the later record in the file).
    - ``rule="latest"``: the latest toe strictly before ``t`` (Galileo's age of data
      must be positive: a record is not broadcast before its toe).
    - ``rule="auto"`` (default): ``latest`` for Galileo, ``nearest`` for the others,
      which is also what RTKLIB 2.4.3 b34 does.
    - Only records with ``|t - toe| <= max_dtoe_s[system]`` (defaults:
      :data:`kongtian.nav.constants.ORBIT_CONSTANTS` ``max_dtoe_s``: GPS/QZSS/NavIC 2 h,
      Galileo 4 h, BeiDou 6 h, GLONASS 30 min, SBAS 6 min).
    - ``healthy_only``: the record's health field must be 0 (GPS 6-bit SV health,
      Galileo SHS/DVS bits, BeiDou SatH1, GLONASS Bn, SBAS health).
    - ``galileo``: ``"inav"`` (E1/E5b clock, default), ``"fnav"`` (E1/E5a) or ``"any"``.
    - ``messages``: the message types allowed (default LNAV, INAV, FNAV, D1, D2, FDMA,
      SBAS, with ``galileo`` choosing between INAV and FNAV). Pass e.g. ``{"CNV1"}`` to
      use BeiDou B-CNAV1 or ``{"CNAV"}`` for GPS CNAV records (whose clocks go with
      other group delays: see :func:`tgd_s`); ``galileo`` is then ignored.
    """
    svs = np.atleast_1d(np.asarray(sv, dtype=str))
    t = np.atleast_1d(np.asarray(t_gpst, dtype="datetime64[ns]"))
    svs, t = np.broadcast_arrays(svs, t)
    svs, t = svs.ravel(), t.ravel()
    t_ns = t.astype(np.int64)
    out = np.full(len(svs), -1, dtype=np.int64)
    windows = {k: v.max_dtoe_s for k, v in ORBIT_CONSTANTS.items()}
    if max_dtoe_s:
        windows.update(max_dtoe_s)
    letters = svs.astype("<U1")
    for system in np.unique(letters).tolist():
        sel_sys = np.flatnonzero(letters == system)
        df = nav.records.get(system)
        if df is None or len(df) == 0:
            continue
        tab = _table(df, system)
        keep = tab.usable.copy()
        if healthy_only:
            keep &= tab.healthy
        if messages is not None:
            keep &= np.isin(tab.msg_type, [m.upper() for m in messages])
        else:
            keep &= np.isin(tab.msg_type, list(DEFAULT_MSG_TYPES)) | (tab.msg_type == "")
            if system == "E" and galileo != "any":
                keep &= tab.msg_type == galileo.upper()
        win_ns = np.int64(round(windows.get(system, 7200.0) * _NS))
        sys_rule: SelectionRule = rule
        if rule == "auto":
            sys_rule = "latest" if system == "E" else "nearest"
        # group the queries by satellite once (sorting) instead of one scan per satellite
        names, inverse = np.unique(svs[sel_sys], return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
        for k, one in enumerate(names.tolist()):
            q = sel_sys[order[bounds[k] : bounds[k + 1]]]
            rows = np.flatnonzero(keep & (tab.sv == one))
            if len(rows) == 0:
                continue
            out[q] = _pick(rows, tab.toe_ns[rows], t_ns[q], sys_rule, win_ns)
    return out, out >= 0


def _pick(rows: I64, toe: I64, t: I64, rule: SelectionRule, win_ns: np.int64) -> I64:
    """Choose among one satellite's candidate ``rows`` (toe in ns) for each time ``t``."""
    order = np.lexsort((rows, toe))  # by toe, then file order
    rows, toe = rows[order], toe[order]
    # Index of the last record with toe <= t (the latest of equal toes).
    before = np.searchsorted(toe, t, side="right") - 1
    if rule == "latest":
        chosen = np.searchsorted(toe, t, side="left") - 1  # toe < t
    elif rule == "nearest":
        after = np.searchsorted(toe, t, side="left")  # first toe >= t (could equal t)
        after_c = np.minimum(after, len(toe) - 1)
        # the last of any run of equal toes
        after_c = np.searchsorted(toe, toe[after_c], side="right") - 1
        d_before = np.where(before >= 0, t - toe[np.maximum(before, 0)], np.iinfo(np.int64).max)
        d_after = np.where(after < len(toe), toe[after_c] - t, np.iinfo(np.int64).max)
        chosen = np.where(d_after <= d_before, after_c, before)
        chosen = np.where((after >= len(toe)) & (before < 0), -1, chosen)
    else:
        raise ConfigError(f"unknown rule {rule!r} (nearest, latest)", option="rule")
    ok = chosen >= 0
    dt = np.abs(t - toe[np.maximum(chosen, 0)])
    ok &= dt <= win_ns
    return np.where(ok, rows[np.maximum(chosen, 0)], -1)


def sat_pos_clk(
    nav: NavData,
    sv: Any,
    t_gpst: Any,
    *,
    rule: SelectionRule = "auto",
    healthy_only: bool = True,
    galileo: GalileoPref = "inav",
    max_dtoe_s: Mapping[str, float] | None = None,
    sv_clock_time: bool = False,
    t_select_gpst: Any = None,
    messages: Collection[str] | None = None,
) -> SatStates:
    """Positions, clocks, velocities and clock drifts of satellites ``sv`` at ``t_gpst``.

    ``sv`` ("G05", "E11", "C01", "R07", ...) and ``t_gpst`` (transmission time, GPST,
    ``datetime64[ns]``) are broadcast together; a 1-D result of length n. Records are
    chosen by :func:`select_ephemeris` with the same keyword options, at
    ``t_select_gpst`` if given (e.g. the receiver epoch, so that all satellites of an
    epoch use the records valid at that epoch, as RTKLIB does) else at ``t_gpst``. Rows
    with no qualifying record (or of an unsupported system) are NaN, ``valid`` False.

    For a pseudorange ``P`` observed at receiver time ``t_rx``: ``t_gpst = t_rx - P/c``
    with ``sv_clock_time=True`` (that time is read on the satellite's clock) and
    ``t_select_gpst=t_rx``. The result is in the Earth-fixed frame *at transmission*;
    rotate by ``omega_e * travel time`` for the frame at reception.

    Returns :class:`SatStates` ``(pos_ecef_m (n,3), clk_s (n,), vel_ecef_m_s (n,3),
    clk_drift_s_s (n,), eph_index (n,), valid (n,))``.
    """
    svs = np.atleast_1d(np.asarray(sv, dtype=str))
    t = np.atleast_1d(np.asarray(t_gpst, dtype="datetime64[ns]"))
    svs, t = np.broadcast_arrays(svs, t)
    svs, t = svs.ravel(), t.ravel()
    t_sel = t
    if t_select_gpst is not None:
        t_sel = np.broadcast_to(np.asarray(t_select_gpst, dtype="datetime64[ns]"), t.shape)
    idx, found = select_ephemeris(nav, svs, t_sel, rule=rule, healthy_only=healthy_only,
                                  galileo=galileo, max_dtoe_s=max_dtoe_s,
                                  messages=messages)  # fmt: skip
    n = len(svs)
    pos = np.full((n, 3), np.nan)
    vel = np.full((n, 3), np.nan)
    clk = np.full(n, np.nan)
    drift = np.full(n, np.nan)
    valid = np.zeros(n, dtype=bool)
    letters = svs.astype("<U1")
    for system in np.unique(letters[found]).tolist():
        m = np.flatnonzero(found & (letters == system))
        st = eval_records(nav, str(system), idx[m], t[m], sv_clock_time=sv_clock_time)
        pos[m], clk[m], vel[m], drift[m], valid[m] = (st.pos_ecef_m, st.clk_s,
                                                      st.vel_ecef_m_s, st.clk_drift_s_s,
                                                      st.valid)  # fmt: skip
    idx = np.where(valid, idx, -1)
    return SatStates(pos, clk, vel, drift, idx, valid)


# ---------------------------------------------------------------------------------------
# Group delays.

# (system, band name) -> how the broadcast delay applies; see tgd_s.
_BANDS: dict[str, dict[str, str]] = {
    "G": {"L1": "L1", "1": "L1", "L2": "L2", "2": "L2"},
    "J": {"L1": "L1", "1": "L1", "L2": "L2", "2": "L2"},
    "C": {"B1I": "B1I", "2": "B1I", "B2I": "B2I", "7": "B2I", "B3I": "B3I", "6": "B3I"},
    "E": {"E1": "E1", "1": "E1", "E5A": "E5a", "5": "E5a", "E5B": "E5b", "7": "E5b"},
}


def _band_name(system: str, band: str) -> str:
    key = band.strip().upper()
    if len(key) == 3 and key[0] in "CLDS" and key[1].isdigit():
        key = key[1]  # a RINEX >= 3.03 observation code: band digit
        if system == "C" and band.strip().upper()[2] not in "IQX" and key in "27":
            key = "?"  # B1C (C2P...) is not B1I; B2b (C7D/P/Z) is not B2I
    name = _BANDS.get(system, {}).get(key)
    if name is None:
        raise ConfigError(
            f"no broadcast group delay for band {band!r} of system {system!r}", option="band"
        )
    return name


def tgd_s(
    nav: NavData,
    sv: Any,
    band: str,
    *,
    eph_index: Any = None,
    t_gpst: Any = None,
    galileo: GalileoPref = "inav",
) -> F64:
    """Broadcast group delay (s) of signal ``band`` for satellites ``sv``.

    The convention is that of the ICDs: the satellite clock for a single-frequency user
    of ``band`` is ``clk_s - tgd_s``, equivalently the code pseudorange corrected to the
    clock reference is ``P - c * tgd_s``.

    - GPS/QZSS LNAV: L1 -> TGD; L2 -> (f_L1/f_L2)^2 TGD (IS-GPS-200 20.3.3.3.3.2).
    - BeiDou D1/D2: B1I -> TGD1, B2I -> TGD2, B3I -> 0 (B3I is the clock reference).
    - Galileo: E1 -> BGD(E1,E5b) for an I/NAV record, BGD(E1,E5a) for F/NAV; E5a ->
      (f_E1/f_E5a)^2 BGD(E1,E5a); E5b -> (f_E1/f_E5b)^2 BGD(E1,E5b) (OS SIS ICD 5.1.5).

    ``band`` is a band name ("L1", "L2", "B1I", "B2I", "B3I", "E1", "E5a", "E5b") or a
    RINEX >= 3.03 observation code ("C1C", "C2W", "C2I", "C7I", "C6I", "C5Q", "C7Q").
    Records: ``eph_index`` from :func:`sat_pos_clk`, else the one selected at
    ``t_gpst``, else each satellite's latest healthy record. NaN where none. CNAV-family
    records (ISC-based delays) raise :class:`ConfigError`.
    """
    svs = np.atleast_1d(np.asarray(sv, dtype=str))
    systems = {s[:1] for s in svs}
    if len(systems) != 1:
        raise ConfigError("tgd_s takes satellites of one system per call", option="sv")
    system = systems.pop()
    name = _band_name(system, band)
    df = nav.records.get(system)
    if df is None or len(df) == 0:
        return np.full(len(svs), np.nan)
    tab = _table(df, system)
    if eph_index is not None:
        idx = np.broadcast_to(np.asarray(eph_index, dtype=np.int64), svs.shape).copy()
    elif t_gpst is not None:
        idx, _ = select_ephemeris(nav, svs, t_gpst, galileo=galileo)
        svs = np.broadcast_to(svs, idx.shape)
    else:
        idx = np.full(len(svs), -1, dtype=np.int64)
        ok = tab.usable & tab.healthy & ~np.isin(tab.msg_type, list(CNAV_MSG_TYPES))
        for i, one in enumerate(svs):
            rows = np.flatnonzero(ok & (tab.sv == one))
            if len(rows):
                idx[i] = rows[np.argmax(tab.toe_ns[rows])]
    have = idx >= 0
    j = np.maximum(idx, 0)
    if np.any(np.isin(tab.msg_type[j[have]], list(CNAV_MSG_TYPES))):
        # CNAV clocks come with inter-signal corrections (ISC, TGD_B1Cp, ...) not handled
        raise ConfigError("group delays of CNAV-family records are not implemented",
                          option="eph_index")  # fmt: skip
    out = np.full(idx.shape, np.nan)
    if system in "GJ":
        tgd = _col(df, "tgd")[j]
        if name == "L2":
            tgd = tgd * (frequency_hz(system, "1") / frequency_hz(system, "2")) ** 2
        out = tgd
    elif system == "C":
        if name == "B1I":
            out = _col(df, "tgd")[j]
        elif name == "B2I":
            out = _col(df, "tgd2")[j]
        else:
            out = np.zeros(idx.shape)
    elif system == "E":
        e1e5a, e1e5b = _col(df, "bgd_e5a_e1")[j], _col(df, "bgd_e5b_e1")[j]
        if name == "E1":
            out = np.where(tab.msg_type[j] == "FNAV", e1e5a, e1e5b)
        elif name == "E5a":
            out = (frequency_hz("E", "1") / frequency_hz("E", "5")) ** 2 * e1e5a
        else:
            out = (frequency_hz("E", "1") / frequency_hz("E", "7")) ** 2 * e1e5b
    return np.where(have, out, np.nan)
