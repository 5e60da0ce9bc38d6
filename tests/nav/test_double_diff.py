"""Double differences on the GEONET pair (0759 rover / 3040 base, 3.3 km, GPS L1/L2).

Truth: the base position of RTKLIB's test makefile and the rover reference of
``RESULTS.md`` (RTKLIB static L1+L2 fixed); geometry from our broadcast ephemerides.
With both positions known, DD code minus DD geometry is code noise and multipath
(metre level), and DD phase minus geometry is an integer number of cycles plus
centimetre-level noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kongtian.nav import read_nav, read_obs
from kongtian.nav.double_diff import (
    dd_covariance,
    dd_design_rows,
    dd_operator,
    elevation_variance,
    geometric_range,
    reference_satellites,
    satellite_geometry,
    single_difference,
)
from kongtian.nav.signals import wavelength_m

GEONET = Path(__file__).resolve().parents[1] / "data" / "gnss" / "rtklib_geonet_2005092"
BASE = np.array([-3978241.958, 3382840.234, 3649900.853])
ROVER = np.array([-3976219.1872, 3382371.6049, 3652511.1422])
LAM1, LAM2 = wavelength_m("G", "1"), wavelength_m("G", "2")


@pytest.fixture(scope="module")
def dd_series() -> dict[str, list[np.ndarray]]:
    rov = read_obs(GEONET / "07590920.05o").data
    bas = read_obs(GEONET / "30400920.05o").data
    nav = read_nav(GEONET / "30400920.05n")
    sv = [s for s in rov.sv.values if s in set(bas.sv.values)]
    rov, bas = rov.sel(sv=sv), bas.sel(sv=sv)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("c1", "p2", "l1", "l2", "pair", "h")}
    tb = bas.time.values
    for i, t in enumerate(rov.time.values):
        jb = int(np.argmin(np.abs(tb - t)))
        # Both receivers steer their clocks in 1-ms steps: tags differ by up to 9 ms.
        # Each receiver's geometry uses its own tags and pseudoranges, so this is harmless.
        if abs((tb[jb] - t) / np.timedelta64(1, "ms")) > 100:
            continue
        r, b = rov.isel(time=i), bas.isel(time=jb)
        gr = satellite_geometry(nav, sv, t, r.C1C.values, ROVER)
        gb = satellite_geometry(nav, sv, tb[jb], b.C1C.values, BASE)
        ok = gr.valid & gb.valid & (gb.el_rad > np.radians(15))
        for c in ("L1C", "L2W", "C2W"):
            ok &= np.isfinite(r[c].values) & np.isfinite(b[c].values)
        op = dd_operator(sv, gb.el_rad, ok)
        geo = op.apply(single_difference(gr.range_m, gb.range_m))
        out["c1"].append(op.apply(single_difference(r.C1C.values, b.C1C.values)) - geo)
        out["p2"].append(op.apply(single_difference(r.C2W.values, b.C2W.values)) - geo)
        out["l1"].append(op.apply(single_difference(r.L1C.values, b.L1C.values)) - geo / LAM1)
        out["l2"].append(op.apply(single_difference(r.L2W.values, b.L2W.values)) - geo / LAM2)
        out["pair"].append(np.array([sv[a] + sv[c] for a, c in zip(op.sat, op.ref, strict=True)]))
        out["h"].append(dd_design_rows(op, gr.los_unit))
    return out


def test_epoch_matching_and_counts(dd_series: dict[str, list[np.ndarray]]) -> None:
    # RTKLIB solves 115 epochs of this pair; the 5 others lack a common base epoch.
    assert len(dd_series["c1"]) >= 115
    assert min(len(x) for x in dd_series["c1"]) >= 4


def test_dd_code_residuals_metre_level(dd_series: dict[str, list[np.ndarray]]) -> None:
    for key in ("c1", "p2"):
        res = np.concatenate(dd_series[key])
        rms = float(np.sqrt(np.mean(res**2)))
        assert rms < 1.0, (key, rms)
        assert np.max(np.abs(res)) < 3.0, key


def test_dd_phase_integer_plus_cm(dd_series: dict[str, list[np.ndarray]]) -> None:
    for key, lam in (("l1", LAM1), ("l2", LAM2)):
        frac = np.concatenate([x - np.round(x) for x in dd_series[key]]) * lam
        rms = float(np.sqrt(np.mean(frac**2)))
        assert rms < 0.015, (key, rms)
        assert np.max(np.abs(frac)) < 0.05, key
    # Per satellite pair the integer is constant along arcs (no slips on the DD series
    # except at arc breaks): check the most common pair of the hour.
    pairs = np.concatenate(dd_series["pair"])
    vals = np.concatenate(dd_series["l1"])
    top = max(set(pairs.tolist()), key=pairs.tolist().count)
    n = np.round(vals[pairs == top])
    assert (pairs == top).sum() > 40 and np.ptp(n) == 0


def test_design_rows_match_numeric_derivative() -> None:
    sat = np.array([[15e6, 10e6, 18e6], [-12e6, 14e6, 19e6], [2e6, -5e6, 25e6]])
    el = np.radians([40.0, 60.0, 25.0])
    op = dd_operator(["G01", "G02", "G03"], el, np.ones(3, bool))
    assert op.ref.tolist() == [1, 1] and op.sat.tolist() == [0, 2]
    r0, los = geometric_range(sat, ROVER)
    h = dd_design_rows(op, los)
    num = np.zeros((2, 3))
    for k in range(3):
        dx = np.zeros(3)
        dx[k] = 1e-3
        num[:, k] = (op.apply(geometric_range(sat, ROVER + dx)[0]) - op.apply(r0)) / 1e-3
    # Up to the Sagnac term's own derivative (omega_e r / c ~ 1e-5), left out of H.
    assert np.allclose(h, num, atol=3e-5)


def test_dd_covariance_structure() -> None:
    el = np.radians([80.0, 30.0, 15.0, 50.0])
    sv = ["G01", "G02", "C03", "C04"]
    ok = np.ones(4, bool)
    assert reference_satellites(sv, el, ok) == {"G": 0, "C": 3}
    op = dd_operator(sv, el, ok)
    vr, vb = elevation_variance(el), elevation_variance(el)
    cov = dd_covariance(op, vr, vb)
    d = np.zeros((2, 4))
    d[0, [1, 0]] = [1, -1]
    d[1, [2, 3]] = [1, -1]
    assert np.allclose(cov, d @ np.diag(vr + vb) @ d.T)
    # RTKLIB's default phase sigma: 3 mm + 3 mm / sin(el) -> at zenith 2 * 9e-6 m^2
    assert elevation_variance(np.pi / 2) == pytest.approx(1.8e-5)
    # Monte Carlo check of the correlation through the reference satellite (same system)
    rng = np.random.default_rng(0)
    sd = rng.normal(size=(200_000, 4)) * np.sqrt(vr + vb)
    emp = np.cov(np.array([op.apply(x) for x in sd[:20000]]).T)
    assert np.allclose(emp, cov, rtol=0.05, atol=1e-6)
