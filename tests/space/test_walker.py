"""Walker patterns, the published-shell table and shells derived from real TLEs.

Geometry is checked on the *propagated* states (SGP4 through ``propagate``), from the
orbit normal r x v, not on the elements we wrote. Real-data checks use the recorded
CelesTrak element sets in tests/data (see SOURCES.md) and figures measured
independently of this code (launch designators, published plane counts).
"""

from __future__ import annotations

import csv
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from sgp4.api import WGS72, Satrec

from kongtian.errors import ConfigError, FormatError, NotFound
from kongtian.geo.time import time_grid
from kongtian.space import walker
from kongtian.space.propagate import propagate
from kongtian.space.tle import parse_tle
from kongtian.space.walker import (
    WalkerSpec,
    best_phasing,
    circular_clusters,
    derive_shells,
    list_shells,
    load_shells,
    mean_altitude_from_kozai,
    min_separation_m,
    parse_walker,
    shell_catalog,
    shell_spec,
    walker_catalog,
)

EPOCH = "2025-01-01T00:00:00Z"
R_WGS72_M = 6_378_135.0
EARTH_RADIUS = R_WGS72_M
SHELL_CSV = Path(walker.__file__).parent / "data" / "constellation_shells.csv"


def _tle(data_dir: Path, name: str):
    p = data_dir / name
    return parse_tle(p.read_text(), path=str(p), group=p.stem)


def _orbit_geometry(r: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inclination, RAAN, argument of latitude) in degrees from TEME r, v."""
    h = np.cross(r, v)
    n = h / np.linalg.norm(h, axis=-1, keepdims=True)
    inc = np.degrees(np.arccos(n[..., 2]))
    raan = np.degrees(np.arctan2(n[..., 0], -n[..., 1])) % 360.0
    node = np.stack([-n[..., 1], n[..., 0], np.zeros_like(n[..., 0])], axis=-1)
    node /= np.linalg.norm(node, axis=-1, keepdims=True)
    e2 = np.cross(n, node)
    u = np.degrees(np.arctan2((r * e2).sum(-1), (r * node).sum(-1))) % 360.0
    return inc, raan, u


def _wrap180(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x) + 180.0) % 360.0 - 180.0


def _plane_slot(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ps = [re.search(r"-P(\d+)-S(\d+)$", str(n)) for n in names]
    assert all(ps), "names must end in -Ppp-Sss"
    return np.array([int(m[1]) for m in ps]), np.array([int(m[2]) for m in ps])  # type: ignore[index]


def _circ_mean_deg(a: np.ndarray) -> float:
    r = np.radians(a)
    return float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360.0)


# ------------------------------------------------------------------ geometry of emitted shells
@pytest.mark.parametrize("phasing", [None, 17])
def test_starlink_shell1_geometry_from_propagated_states(phasing: int | None) -> None:
    if phasing is None:
        cat = shell_catalog("starlink-gen1-1", EPOCH)
        f = 65  # the stated default (largest minimum separation) when no F is published
        assert shell_spec("starlink-gen1-1").phasing == f
    else:
        cat = walker_catalog(f"53:1584/72/{phasing}", altitude_km=550, epoch_utc=EPOCH)
        f = phasing
    assert len(cat) == 1584
    eph = propagate(cat, EPOCH, frame="teme", engine="sgp4")
    assert not eph.failed.any()
    inc, raan, u = _orbit_geometry(eph.r_m[:, 0], eph.v_m_s[:, 0])
    plane, slot = _plane_slot(cat.name)
    assert plane.max() == 71 and slot.max() == 21

    # Osculating inclination differs from the mean one by J2 short-period terms (~0.02 deg).
    assert np.abs(inc - 53.0).max() < 0.05

    plane_raan = np.array([_circ_mean_deg(raan[plane == p]) for p in range(72)])
    spacing = _wrap180(np.diff(np.r_[plane_raan, plane_raan[0]]))
    np.testing.assert_allclose(spacing, 5.0, atol=0.01)
    assert abs(_wrap180(plane_raan[0] - 0.0)) < 0.05  # plane 0 at RAAN0 = 0

    # Osculating argument of latitude wobbles once per orbit around the mean one (J3
    # long-period eccentricity, ~1e-3), so neighbour spacings vary by up to ~0.035 deg.
    for p in (0, 35, 71):
        uu = u[plane == p][np.argsort(slot[plane == p])]
        np.testing.assert_allclose(_wrap180(np.diff(np.r_[uu, uu[0]])), 360.0 / 22, atol=0.05)

    # Inter-plane phase: same slot, next plane, is F * 360 / T ahead (up to the same
    # once-per-orbit wobble, which differs between the two when F * 360 / T is large).
    key = {(p, s): k for k, (p, s) in enumerate(zip(plane, slot, strict=True))}
    d = [u[key[(p + 1, s)]] - u[key[(p, s)]] for p in range(71) for s in range(22)]
    np.testing.assert_allclose(_wrap180(np.array(d) - f * 360.0 / 1584), 0.0, atol=0.05)


def test_star_pattern_spreads_planes_over_180_deg() -> None:
    cat = walker_catalog(
        "86.4:66/6/2", altitude_km=780, epoch_utc=EPOCH, kind="star", raan0_deg=10.0
    )
    eph = propagate(cat, EPOCH, frame="teme", engine="sgp4")
    inc, raan, _ = _orbit_geometry(eph.r_m[:, 0], eph.v_m_s[:, 0])
    plane, _ = _plane_slot(cat.name)
    centres = np.array([_circ_mean_deg(raan[plane == p]) for p in range(6)])
    np.testing.assert_allclose(np.diff(centres), 30.0, atol=0.02)
    np.testing.assert_allclose(centres[0], 10.0, atol=0.05)
    assert centres.max() < 10.0 + 180.0
    assert np.abs(inc - 86.4).max() < 0.05
    # The same pattern as delta spreads over 360 deg.
    eph_d = propagate(walker_catalog("86.4:66/6/2", altitude_km=780, epoch_utc=EPOCH), EPOCH)
    _, raan_d, _ = _orbit_geometry(eph_d.r_m[:, 0], eph_d.v_m_s[:, 0])
    cd = np.array([_circ_mean_deg(raan_d[plane == p]) for p in range(6)])
    np.testing.assert_allclose(_wrap180(np.diff(cd)), 60.0, atol=0.02)
    # Without F, the default phasing is searched for the final kind (OneWeb Gen1 gives 10).
    ow = walker_catalog("87.9:588/12", altitude_km=1200, epoch_utc=EPOCH, kind="star")
    assert ow.group[0] == "87.9:588/12/10 star 1200km"
    assert shell_spec("oneweb-gen1-1").phasing == 10


MEAN_ALT_TOL_M = 10.0  # stated in walker.kozai_mean_motion


@pytest.mark.parametrize(
    ("alt_km", "inc_deg"),
    [(550, 53.0), (540, 53.2), (560, 97.6), (1200, 87.9), (1145, 30.0), (500, 0.0), (23222, 56.0)],
)
def test_mean_altitude_over_one_orbit(alt_km: float, inc_deg: float) -> None:
    cat = walker_catalog(f"{inc_deg}:1/1/0", altitude_km=alt_km, epoch_utc=EPOCH)
    period_s = 86400.0 / float(cat.mean_motion_rev_day[0])
    t = time_grid(np.datetime64("2025-01-01T00:00:00", "ns"), period_s, period_s / 4000.0)
    eph = propagate(cat, t, frame="teme", engine="sgp4")
    r = np.linalg.norm(eph.r_m[0], axis=-1)
    assert abs(r.mean() - R_WGS72_M - alt_km * 1e3) < MEAN_ALT_TOL_M
    h = np.cross(eph.r_m[0], eph.v_m_s[0])
    inc = np.degrees(np.arccos(h[:, 2] / np.linalg.norm(h, axis=-1)))
    assert np.abs(inc - inc_deg).max() < 0.05


@pytest.mark.parametrize(("alt_km", "inc_deg"), [(560, 97.6), (500, 0.0)])
def test_keplerian_mean_motion_would_miss_the_altitude(alt_km: float, inc_deg: float) -> None:
    """Why the J2 conversion exists: n = sqrt(GM/(R+h)^3), as other simulators write it,
    puts SGP4's mean altitude more than 1 km off at these inclinations."""
    n_rad_min = math.sqrt(398600.8 / (R_WGS72_M / 1e3 + alt_km) ** 3) * 60.0
    s = Satrec()
    s.sgp4init(
        WGS72, "i", 1, 27395.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.radians(inc_deg), 0.0, n_rad_min, 0.0
    )
    tsince = np.linspace(0.0, 2 * math.pi / n_rad_min, 4000, endpoint=False)
    r = np.array([np.linalg.norm(s.sgp4_tsince(x)[1]) for x in tsince]) * 1e3
    assert abs(r.mean() - R_WGS72_M - alt_km * 1e3) > 1000.0


def test_mean_altitude_from_kozai_matches_sgp4_on_a_real_tle(data_dir: Path) -> None:
    cat = _tle(data_dir, "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle")[:3]
    t0 = cat.epoch_utc.max()
    period_s = 86400.0 / float(cat.mean_motion_rev_day.max())
    eph = propagate(cat, time_grid(t0, period_s, period_s / 4000.0), frame="teme", engine="sgp4")
    r = np.linalg.norm(eph.r_m, axis=-1).mean(axis=1) - R_WGS72_M
    est = mean_altitude_from_kozai(cat.mean_motion_rev_day, cat.inclination_deg, cat.eccentricity)
    # Real TLEs have e ~ 1e-3 and drag; the near-circular formula stays within ~100 m.
    np.testing.assert_allclose(est, r, atol=150.0)


# ------------------------------------------------------------------ phasing and separation
@pytest.mark.parametrize(("pattern", "kind"), [("53:24/4", "delta"), ("87:24/4", "star")])
def test_min_separation_closed_form_vs_sampled_orbits(pattern: str, kind: str) -> None:
    """Closed form against brute force: all pairs, two-body circles sampled in time."""
    base = parse_walker(pattern + "/0")
    a_m = EARTH_RADIUS + 550e3
    t = np.linspace(0.0, 2 * np.pi, 36000, endpoint=False)
    for f in range(base.planes):
        spec = WalkerSpec(base.inclination_deg, base.total, base.planes, f, 550e3, kind)
        _, _, raan, u = spec.pattern()
        om, i = np.radians(raan)[:, None], math.radians(spec.inclination_deg)
        uu = np.radians(u)[:, None] + t[None, :]
        xyz = a_m * np.stack(
            [
                np.cos(om) * np.cos(uu) - np.sin(om) * np.sin(uu) * math.cos(i),
                np.sin(om) * np.cos(uu) + np.cos(om) * np.sin(uu) * math.cos(i),
                np.sin(uu) * math.sin(i) + 0.0 * om,
            ],
            axis=-1,
        )
        sampled = min(
            float(np.delete(np.linalg.norm(xyz - xyz[k], axis=-1), k, axis=0).min())
            for k in range(spec.total)
        )
        # Sampling can only overestimate; 1.7e-4 rad steps: below 5 m here.
        assert min_separation_m(spec) == pytest.approx(sampled, abs=5.0)


def test_default_phasing_keeps_satellites_apart_under_sgp4() -> None:
    """Starlink shell 1 propagated with SGP4 over an orbit: the default F = 65 keeps every
    satellite > 50 km from satellite P00-S00 (by symmetry, from every other), F = 1
    lets them pass within a few km."""

    def closest_km(f: int) -> float:
        cat = walker_catalog(f"53:1584/72/{f}", altitude_km=550, epoch_utc=EPOCH)
        period_s = 86400.0 / float(cat.mean_motion_rev_day[0])
        t = time_grid(np.datetime64("2025-01-01T00:00:00", "ns"), period_s, 4.0)
        eph = propagate(cat, t, frame="teme", engine="sgp4")
        dr = eph.r_m[1:] - eph.r_m[:1]
        dv = eph.v_m_s[1:] - eph.v_m_s[:1]
        # Closest approach within each 4 s step, relative motion taken as straight.
        tca = np.clip(-(dr * dv).sum(-1) / (dv * dv).sum(-1), -2.0, 2.0)
        return float(np.linalg.norm(dr + dv * tca[..., None], axis=-1).min()) / 1e3

    assert closest_km(65) > 50.0
    assert closest_km(1) < 5.0


# ------------------------------------------------------------------ ids, names, pickling
def test_synthetic_norad_ids_cannot_be_tle_numbers() -> None:
    with pytest.raises(ValueError):  # the reason for the default range: Alpha-5 ends at 339999
        Satrec().sgp4init(WGS72, "i", 340000, 27395.0, 0, 0, 0, 0, 0, 0.9, 0, 0.06, 0)
    cat = shell_catalog("starlink-gen1", EPOCH)
    assert len(cat) == 1584 + 1584 + 720 + 348 + 172
    np.testing.assert_array_equal(cat.norad_id, 900000 + np.arange(len(cat)))
    assert cat.name[0] == "STARLINK-GEN1-1-P00-S00"
    assert cat.name[-1] == "STARLINK-GEN1-5-P03-S42"
    assert set(cat.group) == {f"starlink-gen1-{k}" for k in range(1, 6)}
    back = pickle.loads(pickle.dumps(cat[:50]))
    a = propagate(cat[:50], EPOCH, engine="sgp4").r_m
    np.testing.assert_array_equal(propagate(back, EPOCH, engine="sgp4").r_m, a)


def test_low_first_norad_id_gives_tle_numbers() -> None:
    cat = walker_catalog("53:4/2/1", altitude_km=550, epoch_utc=EPOCH, first_norad_id=80001)
    assert cat.norad_id.tolist() == [80001, 80002, 80003, 80004]
    assert [s.satnum for s in cat.satrecs] == [80001, 80002, 80003, 80004]


# ------------------------------------------------------------------ the shell table
def test_every_table_row_loads_with_a_source() -> None:
    with SHELL_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(list_shells()) >= 20
    for row in rows:
        spec = shell_spec(row["key"])
        assert int(row["total"]) == int(row["planes"]) * int(row["sats_per_plane"])
        assert (spec.total, spec.planes) == (int(row["total"]), int(row["planes"]))
        assert spec.altitude_m == pytest.approx(float(row["altitude_km"]) * 1e3)
        assert spec.inclination_deg == pytest.approx(float(row["inclination_deg"]))
        assert row["source_repo"].strip() and row["source_path"].strip()
        commits = row["source_commit"].split(";")
        assert len(commits) == len(row["source_repo"].split(";"))
        assert all(re.fullmatch(r"[0-9a-f]{40}", c) for c in commits), row["key"]
        if not row["phasing_f"]:  # the stated default
            assert spec.phasing == best_phasing(
                spec.inclination_deg, spec.total, spec.planes, spec.kind
            )
    for key in ("starlink-gen1-1", "kuiper-1", "oneweb-gen1-1", "guowang-gw-a59-1"):
        assert key in list_shells()


@pytest.mark.parametrize(
    ("key", "alt_km", "inc_deg", "planes", "per_plane"),
    [  # published figures (FCC SAT-MOD-20200417-00037, SAT-LOA-20190704-00057, ITU GW-2)
        ("starlink-gen1-1", 550, 53.0, 72, 22),
        ("starlink-gen1-3", 570, 70.0, 36, 20),
        ("kuiper-1", 630, 51.9, 34, 34),
        ("oneweb-gen1-1", 1200, 87.9, 12, 49),
        ("guowang-gw-2-1", 1145, 30.0, 27, 64),
    ],
)
def test_table_matches_published_figures(key, alt_km, inc_deg, planes, per_plane) -> None:
    s = shell_spec(key)
    assert (s.altitude_m, s.inclination_deg, s.planes, s.sats_per_plane) == (
        alt_km * 1e3,
        inc_deg,
        planes,
        per_plane,
    )


def test_bad_table_rows_are_reported_with_line(tmp_path: Path) -> None:
    lines = SHELL_CSV.read_text(encoding="utf-8").splitlines()
    bad = lines[:3] + [lines[3].replace(",720,", ",721,")]
    p = tmp_path / "shells.csv"
    p.write_text("\n".join(bad) + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"shells\.csv:4: .*total 721"):
        load_shells(p)
    cols = lines[0].split(",")
    fields = next(csv.reader([lines[1]]))
    fields[cols.index("source_repo")] = ""
    p.write_text(lines[0] + "\n" + ",".join(f'"{x}"' for x in fields) + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r":2: .*no source"):
        load_shells(p)


def test_unknown_shell() -> None:
    with pytest.raises(NotFound, match="starlink-gen1-1"):
        shell_spec("starlink-gen9")
    with pytest.raises(NotFound):
        shell_catalog(["kuiper-1", "nope"], EPOCH)
    assert len(shell_catalog("kuiper", EPOCH)) == 1156 + 1296 + 784


# ------------------------------------------------------------------ parsing
def test_parse_walker() -> None:
    assert parse_walker("53:1584/72/17") == WalkerSpec(53.0, 1584, 72, 17)
    assert parse_walker(" 53.0 : 1584 / 72 ").phasing == 65  # best_phasing
    assert parse_walker("0:1/1").phasing == 0  # one plane: only F = 0 exists


@pytest.mark.parametrize(
    "bad",
    ["", "53", "53:1584", "53:1584/72/17/1", "abc:1/1/0", "53:1585/72/1", "53:1584/72/72",
     "53:1584/72/-1", "181:10/2/0", "53:0/0/0", "53;1584/72/1"],
)  # fmt: skip
def test_bad_specs_name_the_option(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"--walker") as ei:
        parse_walker(bad)
    assert ei.value.option == "--walker"


def test_missing_or_bad_altitude() -> None:
    with pytest.raises(ConfigError) as ei:
        walker_catalog("53:1584/72/1", epoch_utc=EPOCH)
    assert ei.value.option == "--alt-km"
    with pytest.raises(ConfigError, match="--alt-km"):
        walker_catalog("53:1584/72/1", altitude_km=20, epoch_utc=EPOCH)
    with pytest.raises(ConfigError, match="--walker"):
        walker_catalog("53:1584/72/1", altitude_km=550, epoch_utc=EPOCH, kind="rosette")


# ------------------------------------------------------------------ deriving shells from TLEs
def test_circular_clusters_do_not_split_at_zero() -> None:
    labels, centres = circular_clusters([359.6, 359.9, 0.2, 0.4, 120.0, 120.5, 240.1], 1.5)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 2]
    np.testing.assert_allclose(centres, [0.025, 120.25, 240.1], atol=1e-6)
    labels, centres = circular_clusters([10.0, 10.5, 11.0], 1.5)  # no gap: one plane
    assert labels.tolist() == [0, 0, 0] and centres == pytest.approx([10.5])


def test_derive_recovers_a_walker_shell_straddling_raan_zero() -> None:
    spec = WalkerSpec(53.0, 120, 6, 1, 550e3, "delta", raan0_deg=359.7)
    shells = derive_shells(walker_catalog(spec, epoch_utc=EPOCH))
    assert len(shells) == 1
    s = shells[0]
    assert (s.n_planes, s.sats_per_plane) == (6, (20,) * 6)
    np.testing.assert_allclose(
        _wrap180(np.array(s.plane_raan_deg) - (359.7 + 60 * np.r_[1:6, 0])), 0, atol=1e-6
    )
    assert s.altitude_km == pytest.approx(550.0, abs=0.01)
    assert (s.spec.planes, s.spec.total, s.spec.kind) == (6, 120, "delta")


def test_qianfan_shell_planes_and_raising(data_dir: Path) -> None:
    cat = _tle(data_dir, "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle")
    shells = derive_shells(cat)
    assert len(shells) == 1
    s = shells[0]
    # /work/shared/notes/space.md sec 3: 87 at n = 13.51 rev/day, ~1069 km, 88.98 deg.
    assert s.n_sats == 87 and sum(s.sats_per_plane) == 87
    assert s.altitude_km == pytest.approx(1069.0, abs=2.0)
    assert s.inclination_deg == pytest.approx(88.98, abs=0.02)
    np.testing.assert_allclose(cat.mean_motion_rev_day[s.member_index], 13.51, atol=0.01)
    # The 21 others are below, all with a higher mean motion.
    assert s.raising_index.size == 21 and s.off_plane_index.size == 0
    assert set(s.raising_index) == set(np.flatnonzero(cat.mean_motion_rev_day > 13.52))
    # Six planes at the measured RAANs (292, 70, 34, 96, 313, 55). The notes' "70" is the
    # mean of that launch including its raising satellites (68.7..74.1 deg); the three
    # already on station sit at ~73.8, hence 4.5 deg tolerance.
    assert s.n_planes == 6
    expected = np.sort([292.0, 70.0, 34.0, 96.0, 313.0, 55.0])
    np.testing.assert_allclose(_wrap180(np.sort(s.plane_raan_deg) - expected), 0.0, atol=4.5)
    # Independent truth: each 18-satellite launch fills one plane, so a plane's members
    # share one international designator (launch).
    launch = np.array([str(x)[:5] for x in cat.intl_designator])
    for p in range(6):
        assert len(set(launch[s.member_index[s.member_plane == p]])) == 1
    assert s.spec.planes == 6 and s.spec.sats_per_plane == 18
    assert "not a published" in s.source


def test_starlink_2025_shells(data_dir: Path) -> None:
    cat = _tle(data_dir, "starlink_tle_2025-01-23_celestrak_via_pioet.txt")
    shells = derive_shells(cat)
    by_inc = {}
    for want_inc, want_alt in [(53.05, 547), (53.22, 540), (70.0, 573), (97.65, 565)]:
        hits = [
            s
            for s in shells
            if abs(s.inclination_deg - want_inc) < 0.03 and abs(s.altitude_km - want_alt) < 6
        ]
        assert len(hits) == 1, (want_inc, [s.label for s in shells])
        assert hits[0].n_sats > 200
        by_inc[want_inc] = hits[0]
    # Gen1 shells 1 and 2 are filed as 72 planes 5 deg apart (FCC SAT-MOD-20200417-00037).
    for k in (53.05, 53.22):
        s = by_inc[k]
        assert s.n_planes == 72
        gaps = _wrap180(np.diff(np.r_[s.plane_raan_deg, s.plane_raan_deg[0]]))
        assert np.median(gaps) == pytest.approx(5.0, abs=0.05)
    # Members and raising satellites are disjoint across all shells.
    idx = np.concatenate(
        [np.r_[s.member_index, s.raising_index, s.off_plane_index] for s in shells]
    )
    assert idx.size == np.unique(idx).size


def test_derive_rejects_bad_tolerances() -> None:
    with pytest.raises(ConfigError):
        derive_shells(walker_catalog("53:4/2/1", altitude_km=550, epoch_utc=EPOCH), alt_tol_km=0)
