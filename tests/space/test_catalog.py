"""Catalog selection, concatenation, pickling and element-built satrecs.

Truth: the recorded CelesTrak files in tests/data (names and ids as written), and
python-sgp4 (``Satrec.twoline2rv``, ``SatrecArray``) for propagation.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import sgp4
from sgp4.api import Satrec, SatrecArray

from kongtian.space.catalog import Catalog, load_catalog
from kongtian.space.omm import format_omm, parse_omm

from ..conftest import DATA

QIANFAN = DATA / "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle"
ONEWEB = DATA / "oneweb_tle_2025-01-05_celestrak_via_pioet.txt"
STARLINK_JSON = DATA / "starlink_omm_2024-05-20_starperf_first500.json"
SGP4_VER = Path(sgp4.__file__).parent / "SGP4-VER.TLE"
_SATREC_ATTRS = [
    a for a in dir(Satrec()) if not a.startswith("_") and not callable(getattr(Satrec(), a))
]


def names_in(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines()[0::3]]


def ids_in(path: Path) -> list[int]:
    return [int(ln[2:7]) for ln in path.read_text().splitlines()[1::3]]


@pytest.fixture(scope="module")
def qianfan() -> Catalog:
    return load_catalog(QIANFAN, group="qianfan")


@pytest.fixture(scope="module")
def oneweb() -> Catalog:
    return load_catalog(ONEWEB, group="oneweb")


# ----------------------------------------------------------------------------- select
def test_select_by_name_wildcard(qianfan: Catalog) -> None:
    got = qianfan.select(name="QIANFAN-1*").name.tolist()
    want = [f"QIANFAN-{k}" for k in (1, *range(10, 20), *range(100, 109))]
    assert sorted(got) == sorted(want) and len(got) == 20
    assert sorted(qianfan.select(name="qianfan-?").name.tolist()) == [
        f"QIANFAN-{k}" for k in range(1, 10)
    ]
    assert len(qianfan.select(name="QIANFAN-10[0-4]")) == 5


def test_select_by_name_substring_is_case_insensitive(oneweb: Catalog) -> None:
    want = [n for n in names_in(ONEWEB) if "ONEWEB-001" in n]
    assert oneweb.select(name="oneweb-001").name.tolist() == want
    assert len(oneweb.select(name="no such satellite")) == 0


def test_select_by_norad_ids(qianfan: Catalog) -> None:
    ids = ids_in(QIANFAN)
    pick = [ids[7], ids[0], ids[50]]
    got = qianfan.select(norad_id=pick)
    assert got.norad_id.tolist() == sorted(pick, key=ids.index)  # catalog order kept
    assert got.name.tolist() == [names_in(QIANFAN)[ids.index(k)] for k in got.norad_id]
    assert qianfan.select(norad_id=ids[3]).norad_id.tolist() == [ids[3]]
    assert qianfan.select(norad_id=np.int64(ids[3])).norad_id.tolist() == [ids[3]]
    assert len(qianfan.select(norad_id=np.array(ids[:10]))) == 10
    assert len(qianfan.select(norad_id={ids[1], ids[2], 1})) == 2
    assert len(qianfan.select(norad_id=[])) == 0


def test_select_by_group_and_concat(qianfan: Catalog, oneweb: Catalog) -> None:
    both = Catalog.concat([qianfan, oneweb])
    assert len(both) == 108 + 651 == len(both.satrecs)
    assert both.norad_id.tolist() == ids_in(QIANFAN) + ids_in(ONEWEB)
    ow = both.select(group="oneweb")
    assert ow.norad_id.tolist() == ids_in(ONEWEB)
    assert ow.satrecs[0] is oneweb.satrecs[0]
    assert len(both.select(group="qian*")) == 108
    assert len(both.select(group="ONEWEB")) == 0  # group labels are exact
    assert len(both.select(group="oneweb", name="ONEWEB-001*")) == len(
        oneweb.select(name="ONEWEB-001*")
    )


def test_concat_mixes_tle_and_omm_and_handles_empty(qianfan: Catalog) -> None:
    starlink = load_catalog(STARLINK_JSON)
    mixed = Catalog.concat([qianfan[:3], starlink[:2]])
    assert mixed.name.tolist() == names_in(QIANFAN)[:3] + starlink.name[:2].tolist()
    assert mixed.group.tolist() == ["qianfan"] * 3 + [STARLINK_JSON.stem] * 2
    assert len(Catalog.concat([])) == 0
    assert len(Catalog.concat([qianfan[:0], qianfan[:1]])) == 1


def test_getitem_by_index_slice_and_mask(qianfan: Catalog) -> None:
    assert qianfan[5].name.tolist() == [names_in(QIANFAN)[5]]
    assert qianfan[-1].norad_id.tolist() == [ids_in(QIANFAN)[-1]]
    assert len(qianfan[10:20]) == 10
    mask = qianfan.inclination_deg > 88.9
    sub = qianfan[mask]
    assert len(sub) == mask.sum() and all(sub.inclination_deg > 88.9)
    assert [s.satnum for s in sub.satrecs] == sub.norad_id.tolist()


# ----------------------------------------------------------------------------- pickling
def _catalogs() -> list[Catalog]:
    return [
        load_catalog(QIANFAN),
        load_catalog(STARLINK_JSON),
        load_catalog(SGP4_VER, strict=False),  # deep space, resonances, decays
        parse_omm(format_omm(load_catalog(SGP4_VER, strict=False), "json")),
        Catalog.from_elements(
            epoch_utc="2025-03-01T12:00:00.123456789", inclination_deg=[0.05, 53.0, 63.4],
            raan_deg=[10.0, 20.0, 30.0], eccentricity=[2e-4, 1e-3, 0.72], arg_perigee_deg=270.0,
            mean_anomaly_deg=[0.0, 90.0, 180.0], mean_motion_rev_day=[1.0027, 15.05, 2.006],
            bstar_per_earth_radii=1e-4, norad_id=[90001, 123456, 339999],
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "cat", _catalogs(), ids=["tle", "omm", "sgp4-ver", "sgp4-ver-omm", "elements"]
)
def test_pickle_round_trip_propagates_identically(cat: Catalog) -> None:
    errors_before = [s.error for s in cat.satrecs]
    back = pickle.loads(pickle.dumps(cat))
    assert [s.error for s in cat.satrecs] == errors_before  # pickling leaves satrecs alone
    for f in ("name", "norad_id", "epoch_utc", "inclination_deg", "mean_motion_rev_day", "group"):
        np.testing.assert_array_equal(getattr(back, f), getattr(cat, f))
    for a, b in zip(cat.satrecs, back.satrecs, strict=True):
        for name in _SATREC_ATTRS:
            x, y = getattr(a, name), getattr(b, name)
            assert x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)), name
    # Around each satellite's own epoch (resonant orbits integrate from their epoch).
    # SatrecArray propagates copies, so the originals are not disturbed either.
    for a, b in zip(cat.satrecs, back.satrecs, strict=True):
        jd = a.jdsatepoch + np.arange(-3.0, 60.0, 0.77)
        fr = np.full(jd.shape, 0.123)
        e1, r1, v1 = SatrecArray([a]).sgp4(jd, fr)
        e2, r2, v2 = SatrecArray([b]).sgp4(jd, fr)
        np.testing.assert_array_equal(e1, e2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(v1, v2)


# ----------------------------------------------------------------------------- from_elements
def test_from_elements_matches_the_tle_it_copies(qianfan: Catalog) -> None:
    # Rebuild three real element sets from their catalog arrays; python-sgp4's
    # twoline2rv of the original lines is the reference.
    lines = QIANFAN.read_text().splitlines()
    k = np.array([0, 40, 107])
    src = qianfan[k]
    cat = Catalog.from_elements(
        epoch_utc=src.epoch_utc, inclination_deg=src.inclination_deg, raan_deg=src.raan_deg,
        eccentricity=src.eccentricity, arg_perigee_deg=src.arg_perigee_deg,
        mean_anomaly_deg=src.mean_anomaly_deg, mean_motion_rev_day=src.mean_motion_rev_day,
        bstar_per_earth_radii=src.bstar_per_earth_radii, ndot_rev_day2=src.ndot_rev_day2,
        nddot_rev_day3=src.nddot_rev_day3, norad_id=src.norad_id, name=src.name,
    )  # fmt: skip
    ref = [Satrec.twoline2rv(lines[3 * i + 1], lines[3 * i + 2]) for i in k]
    for a, b in zip(cat.satrecs, ref, strict=True):
        assert (a.satnum, a.jdsatepoch, a.jdsatepochF) == (b.satnum, b.jdsatepoch, b.jdsatepochF)
    jd = ref[0].jdsatepoch + np.linspace(-1.0, 2.0, 13)
    fr = np.zeros_like(jd)
    _, r1, _ = SatrecArray(cat.satrecs).sgp4(jd, fr)
    _, r2, _ = SatrecArray(ref).sgp4(jd, fr)
    assert np.abs(r1 - r2).max() < 1e-6  # km: the same orbit to better than a millimetre


def test_from_elements_keeps_alpha5_numbers() -> None:
    cat = Catalog.from_elements(
        epoch_utc="2025-01-01", inclination_deg=53.0, raan_deg=0.0, eccentricity=1e-4,
        arg_perigee_deg=0.0, mean_anomaly_deg=0.0, mean_motion_rev_day=15.0,
        norad_id=[99999, 100000, 123456, 339999, 340000],
    )  # fmt: skip
    assert [s.satnum for s in cat.satrecs] == [99999, 100000, 123456, 339999, 0]
    assert cat.norad_id.tolist() == [99999, 100000, 123456, 339999, 340000]
