"""``water`` command: masks as GeoTIFF, JSON summary, exit 2 with one line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kongtian.sensing.water import read_mask_geotiff

from ..conftest import DATA

L8 = DATA / "sensing" / "landsat8_c1l1tp_016037_20170813"
S2 = DATA / "sensing" / "sentinel2_l2a_29RKH_20200219_crop"


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kongtian.sensing.cli", "water", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


def test_water_and_flood_masks(tmp_path):
    out = tmp_path / "mask.tif"
    poly = tmp_path / "water.geojson"
    p = run("--landsat", str(L8), "--out", str(out), "--polygons", str(poly))
    assert p.returncode == 0, p.stderr
    fc = json.loads(poly.read_text())
    assert fc["type"] == "FeatureCollection" and fc["features"][0]["properties"]["pixels"] > 9000
    summary = json.loads(p.stdout)
    assert summary["method"] == "otsu" and summary["water_pixels"] > 10_000
    mask, _, crs = read_mask_geotiff(out)
    assert set(np.unique(mask)) == {0, 1, 255} and crs.to_epsg() == 32617
    flood = tmp_path / "flood.tif"
    p = run("--landsat", str(L8), "--out", str(flood), "--reference", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["flooded_pixels"] == 0  # same scene: nothing new


def test_s2_fixed_threshold(tmp_path):
    p = run("--s2", str(S2), "--out", str(tmp_path / "m.tif"), "--threshold", "0.1")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["method"] == "fixed" and s["threshold"] == 0.1 and s["water_pixels"] == 0


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--out", "m.tif"], "exactly one"),
        (["--s2", str(S2), "--landsat", str(L8), "--out", "m.tif"], "exactly one"),
        (["--s1", "x.tif", "--out", "m.tif"], "--s1"),
        (["--s2", str(S2), "--out", "m.tif", "--threshold", "high"], "--threshold"),
        (["--s2", str(S2), "--out", "m.tif", "--index", "ndvi"], "index"),
        (["--landsat", "nowhere", "--out", "m.tif"], "nowhere"),
        (["--landsat", str(S2), "--out", "m.tif"], "MTL"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(tmp_path, args, needle):
    p = run(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_reference_on_other_grid_is_rejected(tmp_path):
    ref = tmp_path / "ref.tif"
    assert run("--s2", str(S2), "--out", str(ref)).returncode == 0
    p = run("--landsat", str(L8), "--out", str(tmp_path / "f.tif"), "--reference", str(ref))
    assert p.returncode == 2 and "--reference" in p.stderr and len(p.stderr.splitlines()) == 1
