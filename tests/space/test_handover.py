"""Serving-satellite policies against brute-force recomputation from skyfield elevations.

The reference applies each policy with a plain Python loop to a satellite x step matrix
of skyfield elevations (and ranges, range rates), so both the geometry and the
selection logic are independent of the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kongtian.errors import ConfigError
from kongtian.geo.regions import Site
from kongtian.space.catalog import Catalog, load_catalog
from kongtian.space.handover import remaining_steps, serving_timeline
from kongtian.space.links import SPEED_OF_LIGHT_M_S

from ..conftest import DATA, skyfield_timescale

START = "2025-01-23T00:00:00Z"
MASK = 25.0


@pytest.fixture(scope="module")
def case():
    """200 random Starlink satellites over two Chongqing terminals for 2 h at 30 s."""
    from skyfield.api import EarthSatellite, wgs84

    full = load_catalog(DATA / "starlink_tle_2025-01-23_celestrak_via_pioet.txt")
    rng = np.random.default_rng(2025)
    cat = full[np.sort(rng.choice(len(full), 200, replace=False))]
    sites = [Site("Yuzhong", 29.556, 106.577, 250.0), Site("Wanzhou", 30.808, 108.409, 180.0)]
    duration, step = 7200.0, 30.0
    secs = np.arange(0.0, duration + 1e-9, step)
    ts = skyfield_timescale()
    tt = ts.utc(2025, 1, 23, 0, 0, secs)
    el = np.empty((len(sites), len(cat), secs.size))
    dist = np.empty_like(el)
    rate = np.empty_like(el)
    for j, s in enumerate(sites):
        top = wgs84.latlon(s.lat_deg, s.lon_deg, elevation_m=s.alt_m)
        for i, rec in enumerate(cat.satrecs):
            sat = EarthSatellite.from_satrec(rec, ts)
            e, _, d, _, _, rr = (sat - top).at(tt).frame_latlon_and_rates(top)
            el[j, i], dist[j, i], rate[j, i] = e.degrees, d.m, rr.m_per_s
    return cat, sites, duration, step, el, dist, rate


def reference_policy(el: np.ndarray, dist: np.ndarray, policy: str) -> np.ndarray:
    """Serving satellite index per step (-1 none) from an (S, T) elevation matrix."""
    vis = el >= MASK
    n_sat, n_t = el.shape
    out = np.full(n_t, -1)
    cur = -1
    for t in range(n_t):
        cands = [i for i in range(n_sat) if vis[i, t]]
        if not cands:
            cur = -1
            continue
        if policy == "max_elevation":
            cur = max(cands, key=lambda i: el[i, t])
        elif policy == "min_range":
            cur = min(cands, key=lambda i: dist[i, t])
        else:
            if cur not in cands:

                def remaining(i: int, t0: int) -> int:
                    k = t0
                    while k + 1 < n_t and vis[i, k + 1]:
                        k += 1
                    return k - t0

                cur = max(cands, key=lambda i, t=t: (remaining(i, t), el[i, t]))
        out[t] = cur
    return out


def handovers(serv: np.ndarray) -> int:
    return int(np.sum((serv[1:] >= 0) & (serv[:-1] >= 0) & (serv[1:] != serv[:-1])))


@pytest.mark.parametrize("policy", ["max_elevation", "min_range", "longest_visibility"])
def test_policies_match_skyfield_brute_force(case, policy):
    cat, sites, duration, step, el, dist, rate = case
    ds = serving_timeline(cat, sites, start_utc=START, duration_s=duration, step_s=step,
                          min_elev_deg=MASK, policy=policy, carrier_hz=12e9)  # fmt: skip
    for j in range(len(sites)):
        ref = reference_policy(el[j], dist[j], policy)
        ours = ds["serving_index"].values[j]
        assert np.array_equal(ours, ref), f"{policy} at {sites[j].name}"
        assert int(ds["handover_count"].values[j]) == handovers(ref)
        assert np.array_equal(ds["n_visible"].values[j], (el[j] >= MASK).sum(axis=0))
        has = ref >= 0
        t_idx = np.flatnonzero(has)
        assert np.allclose(ds["elevation_deg"].values[j, has], el[j, ref[has], t_idx], atol=1e-6)
        assert np.allclose(ds["range_m"].values[j, has], dist[j, ref[has], t_idx], atol=0.01)
        assert np.allclose(ds["range_rate_m_s"].values[j, has], rate[j, ref[has], t_idx], atol=1e-3)
        assert np.allclose(
            ds["delay_s"].values[j, has], dist[j, ref[has], t_idx] / SPEED_OF_LIGHT_M_S
        )
        assert np.allclose(
            ds["doppler_hz"].values[j, has],
            -12e9 * rate[j, ref[has], t_idx] / SPEED_OF_LIGHT_M_S,
            atol=0.05,
        )
        assert np.isnan(ds["elevation_deg"].values[j, ~has]).all()
        assert (ds["serving_norad"].values[j, ~has] == -1).all()
        # outages: steps with nothing visible
        assert float(ds["outage_s"].values[j]) == pytest.approx(np.sum(~has) * step)
        # intervals tile the serving steps of this site
        sel = ds["interval_site"].values == j
        assert ds["interval_duration_s"].values[sel].sum() == pytest.approx(has.sum() * step)
    assert handovers(ds["serving_index"].values[0]) > 3  # a case with real handovers


def test_longest_visibility_hands_over_least(case):
    cat, sites, duration, step, *_ = case
    counts = {}
    for pol in ("max_elevation", "min_range", "longest_visibility"):
        ds = serving_timeline(cat, sites[:1], start_utc=START, duration_s=duration, step_s=step,
                              min_elev_deg=MASK, policy=pol)  # fmt: skip
        counts[pol] = int(ds["handover_count"].values[0])
    assert counts["longest_visibility"] <= min(counts["max_elevation"], counts["min_range"])
    h0 = serving_timeline(cat, sites[:1], start_utc=START, duration_s=duration, step_s=step,
                          min_elev_deg=MASK, policy="max_elevation", hysteresis_deg=10.0)  # fmt: skip
    assert int(h0["handover_count"].values[0]) <= counts["max_elevation"]


def _equatorial(mean_anomalies_deg) -> Catalog:
    n = math.sqrt(3.986008e14 / (6_378_135.0 + 550e3) ** 3) * 86400 / (2 * math.pi)
    return Catalog.from_elements(epoch_utc=START, inclination_deg=0.0, raan_deg=0.0,
                                 eccentricity=0.0, arg_perigee_deg=0.0,
                                 mean_anomaly_deg=np.asarray(mean_anomalies_deg, float),
                                 mean_motion_rev_day=n)  # fmt: skip


def test_equatorial_train_hands_over_at_the_midpoint():
    """Three satellites 10 deg apart in one equatorial orbit pass over an equator site:
    max-elevation switches when the site is midway (equal elevations), i.e. 5 deg of
    relative motion after the leader was overhead; longest-visibility switches only at
    set. Each policy hands over exactly twice per train pass."""
    cat = _equatorial([20.0, 10.0, 0.0])  # leader first
    site = ("EQ", [0.0], [0.0], [0.0])
    kw = {"start_utc": START, "duration_s": 6000.0, "step_s": 5.0, "min_elev_deg": MASK}
    me = serving_timeline(cat, site, policy="max_elevation", **kw)
    lv = serving_timeline(cat, site, policy="longest_visibility", **kw)
    for ds in (me, lv):
        srv = ds["serving_index"].values[0]
        seq = [s for i, s in enumerate(srv) if s >= 0 and (i == 0 or s != srv[i - 1])]
        assert seq[:3] == [0, 1, 2]  # one pass of the train in order
        assert (
            int(ds["handover_count"].values[0]) % 2 == 0
            and int(ds["handover_count"].values[0]) >= 2
        )
    # The switch happens when the site is midway: both satellites 5 deg of Earth-central
    # angle away, at elevation atan((cos 5 - R/r) / sin 5) (planar geometry on the equator).
    from sgp4.api import jday

    jd, fr = jday(2025, 1, 23, 0, 0, 0)
    _, r_km, _ = cat.satrecs[0].sgp4(jd, fr)
    r_sat = float(np.linalg.norm(r_km)) * 1e3
    th = math.radians(5.0)
    el_mid = math.degrees(math.atan((math.cos(th) - 6_378_137.0 / r_sat) / math.sin(th)))
    srv = me["serving_index"].values[0]
    k = int(np.flatnonzero((srv[1:] == 1) & (srv[:-1] == 0))[0]) + 1
    el = me["elevation_deg"].values[0]
    # within one 5 s step of elevation change (< 2 deg at 40 deg elevation) above el_mid
    assert el_mid - 0.05 <= el[k] <= el_mid + 2.0
    assert el_mid - 0.05 <= el[k - 1] <= el_mid + 2.0
    # longest visibility keeps the leader until it sets, so its switch comes later, low
    srv_lv = lv["serving_index"].values[0]
    k_lv = int(np.flatnonzero((srv_lv[1:] == 1) & (srv_lv[:-1] == 0))[0]) + 1
    assert k_lv > k
    assert lv["elevation_deg"].values[0, k_lv - 1] < MASK + 3.0


def test_remaining_steps_by_hand():
    t = np.array([0, 0, 1, 1, 2, 4, 5, 5])
    s = np.array([7, 3, 7, 3, 7, 7, 7, 3])
    # sat 7 visible at 0,1,2 then 4,5; sat 3 at 0,1 then 5
    assert list(remaining_steps(t, s)) == [2, 1, 1, 0, 0, 1, 0, 0]


def test_bad_inputs(case):
    cat = case[0]
    kw = {"start_utc": START, "duration_s": 600.0, "step_s": 60.0, "min_elev_deg": MASK}
    with pytest.raises(ConfigError, match="policy"):
        serving_timeline(cat, [Site("a", 30.0, 106.0)], policy="nearest", **kw)
    with pytest.raises(ConfigError, match="sites"):
        serving_timeline(cat, ["not a site"], **kw)
    with pytest.raises(ConfigError, match="carrier_hz"):
        serving_timeline(cat, [Site("a", 30.0, 106.0)], carrier_hz=-1.0, **kw)


def test_plot_handover(tmp_path, case):
    from kongtian.space.plots import plot_handover

    cat, sites, *_ = case
    ds = serving_timeline(
        cat, sites, start_utc=START, duration_s=3600.0, step_s=30.0, min_elev_deg=MASK
    )
    data = plot_handover(ds, tmp_path / "ho.png").read_bytes()
    assert data[:4] == b"\x89PNG" and len(data) > 10_000
