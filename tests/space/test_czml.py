"""CZML output: valid JSON a Cesium viewer accepts, and it carries our ephemeris exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kongtian.errors import ConfigError
from kongtian.geo.time import time_grid
from kongtian.space.catalog import load_catalog
from kongtian.space.czml import czml_document, sample_positions, write_czml
from kongtian.space.propagate import propagate

from ..conftest import DATA

START = "2025-01-23T00:00:00Z"


@pytest.fixture(scope="module")
def eph_and_cat():
    cat = load_catalog(DATA / "starlink_tle_2025-01-23_celestrak_via_pioet.txt")[:25]
    t = time_grid(START, 3600, 60)
    return cat, propagate(cat, t, frame="itrf")


def test_document_packet_ids_and_positions(tmp_path, eph_and_cat):
    cat, eph = eph_and_cat
    path = write_czml(tmp_path / "sats.czml", czml_document(cat, eph, name="test"))
    doc = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: no NaN
    assert doc[0]["id"] == "document" and doc[0]["version"] == "1.0"
    clock = doc[0]["clock"]
    assert clock["interval"] == "2025-01-23T00:00:00.000Z/2025-01-23T01:00:00.000Z"
    assert clock["currentTime"] == "2025-01-23T00:00:00.000Z"
    ids = [p["id"] for p in doc]
    assert len(ids) == len(set(ids)) == len(cat) + 1
    secs = (eph.time_utc - eph.time_utc[0]).astype(np.int64) / 1e9
    for i, pkt in enumerate(doc[1:]):
        pos = pkt["position"]
        assert pos["referenceFrame"] == "FIXED" and pos["interpolationAlgorithm"] == "LAGRANGE"
        assert pos["interpolationDegree"] == 5 and pos["epoch"] == clock["currentTime"]
        ts, xyz = sample_positions(pkt)
        assert np.array_equal(ts, secs)
        assert np.max(np.abs(xyz - eph.r_m[i])) <= 0.05 + 1e-9  # rounded to 0.1 m
        assert pkt["id"] == f"sat-{cat.norad_id[i]}"


def test_failed_samples_dropped_and_duplicates_renamed(eph_and_cat):
    cat, eph = eph_and_cat
    two = cat[[0, 0]]
    r = np.stack([eph.r_m[0], eph.r_m[0]])
    r[1, 5] = np.nan  # an SGP4 failure at one step
    doc = czml_document(two, eph.time_utc, r)
    assert [p["id"] for p in doc[1:]] == [f"sat-{cat.norad_id[0]}", f"sat-{cat.norad_id[0]}-1"]
    ts, _ = sample_positions(doc[2])
    assert ts.size == eph.time_utc.size - 1 and 300.0 not in ts
    json.dumps(doc, allow_nan=False)


def test_coverage_points_and_outline(eph_and_cat):
    from kongtian.geo.regions import region
    from kongtian.space.coverage import region_coverage

    cat, eph = eph_and_cat
    ds = region_coverage(cat, region("chongqing"), 0.5, start_utc=START, duration_s=1800, step_s=60,
                         min_elev_deg=25.0)  # fmt: skip
    doc = czml_document(cat, eph, coverage_ds=ds)
    pts = [p for p in doc if p["id"].startswith("pt-")]
    assert len(pts) == ds.sizes["point"]
    lon, lat, _ = pts[3]["position"]["cartographicDegrees"]
    assert (lat, lon) == (float(ds["lat_deg"][3]), float(ds["lon_deg"][3]))
    full = [p for p in pts if float(ds["coverage_fraction"][int(p["id"][3:])]) == 1.0]
    assert all(p["point"]["color"]["rgba"][:2] == [0, 200] for p in full)
    outline = [p for p in doc if p["id"].startswith("region-")]
    assert outline and outline[0]["polyline"]["positions"]["cartographicDegrees"]


def test_bad_inputs(eph_and_cat, tmp_path):
    cat, eph = eph_and_cat
    with pytest.raises(ConfigError, match="positions"):
        czml_document(cat, eph.time_utc, eph.r_m[:3])
    teme = propagate(cat[:2], eph.time_utc[:3], frame="teme")
    with pytest.raises(ConfigError, match="frame"):
        czml_document(cat[:2], teme)
    with pytest.raises(ConfigError, match="packets"):
        write_czml(tmp_path / "x.czml", [{"id": "sat-1"}])
