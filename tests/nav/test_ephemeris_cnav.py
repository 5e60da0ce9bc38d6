"""CNAV-family orbits (GPS/QZSS CNAV and CNAV-2, BeiDou B-CNAV1/2/3: semi-major-axis rate
and mean-motion rate). No shared file carries such records and RTKLIB 2.4.3 cannot read
them, so these tests use hand-made records with realistic values:

- against cssrlib (MIT, Hirokawa; its ``eph2pos`` with ``mode=1``), an independent
  Python implementation, when it is installed (positions and clocks; its velocity omits
  the Adot term and differentiates the harmonic terms with the wrong angle, so
  velocities are checked by central differences instead);
- reductions that need no oracle: zero rates give exactly the LNAV result; velocity
  and drift equal central differences; default selection leaves CNAV records out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kongtian.errors import ConfigError
from kongtian.nav import ephemeris, gnss_time
from kongtian.nav.rinex_nav import NavData

TOC = np.datetime64("2022-06-08T10:00:00", "ns")  # in each system's own scale
SATS = [("G01", "CNAV"), ("G02", "CNV2"), ("C30", "CNV1"), ("C40", "CNV2"), ("C20", "CNV3")]


def _records(seed: int = 1, rates: bool = True) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for sv, msg in SATS:
        scale = "BDT" if sv[0] == "C" else "GPST"
        a = (27_906_100.0 if sv[0] == "C" else 26_559_700.0) + rng.normal(0.0, 5000.0)
        rows.append({
            "sv": sv, "msg_type": msg, "toc": TOC, "af0": 1e-4, "af1": 2e-12, "af2": 0.0,
            "sqrt_a": np.sqrt(a), "e": 0.002 + 0.01 * rng.random(),
            "m0": rng.uniform(-3, 3), "delta_n": 4e-9, "omega": rng.uniform(-3, 3),
            "cuc": 1e-6, "cus": 5e-6, "crc": 200.0, "crs": -30.0, "cic": 1e-7, "cis": -5e-8,
            "i0": 0.96, "idot": 1e-10, "omega0": rng.uniform(-3, 3), "omega_dot": -8e-9,
            "toe": float(gnss_time.week_sow(TOC, scale)[1]), "health": 0.0,
            "adot": rng.normal(0.0, 0.05) if rates else 0.0,
            "delta_n_dot": rng.normal(0.0, 1e-13) if rates else 0.0,
        })  # fmt: skip
    df = pd.DataFrame(rows)
    return {s: g.reset_index(drop=True) for s, g in df.groupby(df["sv"].str[0])}


def _nav(records: dict[str, pd.DataFrame]) -> NavData:
    return NavData(version=4.0, iono={}, time_corr={}, leap_seconds=18, records=records)


def _times(system: str) -> np.ndarray:
    toe = gnss_time.to_gpst(TOC, "BDT" if system == "C" else "GPST")
    return toe + np.arange(-7200, 7201, 900).astype("timedelta64[s]")


def test_cnav_against_cssrlib():
    pytest.importorskip("bitstruct")
    gnss = pytest.importorskip("cssrlib.gnss")
    cssr_eph = pytest.importorskip("cssrlib.ephemeris")
    nav = _nav(_records())
    worst_pos, worst_clk, count = 0.0, 0.0, 0
    for system, df in nav.records.items():
        sys_id = gnss.uGNSS.BDS if system == "C" else gnss.uGNSS.GPS
        toe_ns = int(ephemeris.record_times(nav, system)[0][0].astype(np.int64))
        for i, r in df.iterrows():
            e = gnss.Eph(gnss.prn2sat(sys_id, int(r["sv"][1:])))
            e.mode = 1  # CNAV family
            e.A, e.e, e.M0, e.deln, e.omg = r.sqrt_a**2, r.e, r.m0, r.delta_n, r.omega
            e.cuc, e.cus, e.crc, e.crs, e.cic, e.cis = r.cuc, r.cus, r.crc, r.crs, r.cic, r.cis
            e.i0, e.idot, e.OMG0, e.OMGd = r.i0, r.idot, r.omega0, r.omega_dot
            e.af0, e.af1, e.af2, e.Adot, e.delnd = r.af0, r.af1, r.af2, r.adot, r.delta_n_dot
            e.toes = r.toe
            e.toe = e.toc = gnss.gtime_t(toe_ns // 1_000_000_000, 0.0)  # GPST, toe = toc
            t = _times(system)
            st = ephemeris.eval_records(nav, system, i, t)
            for k, tk in enumerate(t):
                ns = int(tk.astype(np.int64))
                g = gnss.gtime_t(ns // 1_000_000_000, (ns % 1_000_000_000) / 1e9)
                rs, dts = cssr_eph.eph2pos(g, e)
                worst_pos = max(worst_pos, float(np.linalg.norm(st.pos_ecef_m[k] - rs)))
                worst_clk = max(worst_clk, abs(float(st.clk_s[k] - dts)))
                count += 1
    print(f"\nCNAV vs cssrlib: {count} states, max |dpos| {worst_pos:.1e} m, "
          f"max |dclk| {worst_clk:.1e} s")  # fmt: skip
    # cssrlib stops Kepler's iteration at 1e-12 rad and reuses sin E of the previous
    # iterate (~3e-5 m); the acceptance bound is 1 cm / 0.1 ns.
    assert worst_pos < 1e-3 and worst_clk < 1e-12


def test_zero_rates_reduce_to_lnav():
    recs = _records(rates=False)
    lnav = {s: df.assign(msg_type="LNAV" if s == "G" else "D1") for s, df in recs.items()}
    a, b = _nav(recs), _nav(lnav)
    for system in recs:
        t = _times(system)
        for i in range(len(recs[system])):
            sa = ephemeris.eval_records(a, system, i, t)
            sb = ephemeris.eval_records(b, system, i, t)
            assert np.array_equal(sa.pos_ecef_m, sb.pos_ecef_m)
            assert np.array_equal(sa.clk_s, sb.clk_s)


def test_cnav_velocity_and_drift_are_derivatives():
    nav = _nav(_records(seed=7))
    h = np.timedelta64(500, "ms")
    for system, df in nav.records.items():
        t = _times(system)
        for i in range(len(df)):
            mid = ephemeris.eval_records(nav, system, i, t)
            hi = ephemeris.eval_records(nav, system, i, t + h)
            lo = ephemeris.eval_records(nav, system, i, t - h)
            assert np.max(np.abs(hi.pos_ecef_m - lo.pos_ecef_m - mid.vel_ecef_m_s)) < 1e-4
            assert np.max(np.abs(hi.clk_s - lo.clk_s - mid.clk_drift_s_s)) < 1e-16


def test_cnav_selected_only_on_request():
    nav = _nav(_records())
    t = gnss_time.to_gpst(TOC, "BDT") + np.timedelta64(60, "s")
    assert ephemeris.select_ephemeris(nav, "C30", t)[0].tolist() == [-1]
    idx, ok = ephemeris.select_ephemeris(nav, "C30", t, messages={"CNV1"})
    assert ok.all()
    st = ephemeris.sat_pos_clk(nav, ["C30", "G01"], t, messages={"CNV1", "CNAV"})
    assert st.valid.all()
    with pytest.raises(ConfigError):
        ephemeris.tgd_s(nav, "C30", "B1I", eph_index=idx)
