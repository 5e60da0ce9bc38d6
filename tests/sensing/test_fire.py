"""Active fire: window statistics, the published tests at their thresholds, masks, the real
fire-free scenes, GeoJSON/alert output and the ``fire`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kongtian.sensing.fire.contextual import mod14
from kongtian.sensing.fire.landsat import ratio, schroeder2016
from kongtian.sensing.fire.output import fire_alerts, fire_points, fire_polygons, pixel_id
from kongtian.sensing.fire.result import TEST_ABSOLUTE, TEST_CONTEXTUAL, confidence_class
from kongtian.sensing.fire.scene import detect_scene
from kongtian.sensing.fire.sentinel2 import murphy2016
from kongtian.sensing.fire.window import (
    bounding_window,
    count_neighbours,
    neighbours_at,
    window_mean_std,
    window_ratio_stats_at,
)

from ..conftest import DATA

SENSING = DATA / "sensing"
L8 = SENSING / "landsat8_c1l1tp_016037_20170813"
L8_CLOUD = SENSING / "landsat8_c2l2sp_001062_20201031"
S2 = SENSING / "sentinel2_l2a_29RKH_20200219_swir"
MODIS = SENSING / "modis_mcd43a4_h21v11_2017006"


# ----------------------------------------------------------------------------- window
def test_window_mean_std_matches_brute_force_including_edges():
    rng = np.random.default_rng(1)
    v = rng.normal(0.3, 0.1, (23, 31))
    m = rng.random((23, 31)) > 0.3
    mean, std, n = window_mean_std(v, m, 7)
    for r in range(23):
        for c in range(31):
            sl = (slice(max(0, r - 3), r + 4), slice(max(0, c - 3), c + 4))
            vals = v[sl][m[sl]]
            assert n[r, c] == vals.size
            if vals.size:
                assert mean[r, c] == pytest.approx(vals.mean(), abs=1e-12)
                assert std[r, c] == pytest.approx(vals.std(), abs=1e-7)
            else:
                assert np.isnan(mean[r, c])


def test_window_helpers():
    with pytest.raises(ValueError):
        window_mean_std(np.zeros((3, 3)), np.ones((3, 3), bool), 4)
    m = np.zeros((9, 9), bool)
    m[4, 4] = True
    assert count_neighbours(m)[3:6, 3:6].sum() == 8 and count_neighbours(m)[4, 4] == 0
    assert bounding_window(m, 2) == (slice(2, 7), slice(2, 7))
    assert bounding_window(np.zeros((4, 4), bool), 2) is None


def test_window_at_points_equals_whole_image_filter():
    rng = np.random.default_rng(2)
    num = rng.uniform(0.0, 1.0, (40, 50))
    den = rng.uniform(0.1, 1.0, (40, 50))
    m = rng.random((40, 50)) > 0.5
    rows = np.array([0, 5, 39, 20, 39])
    cols = np.array([0, 49, 0, 25, 49])
    mean_r, std_r, n = window_mean_std(num / den, m, 11)
    mean_n, std_n, _ = window_mean_std(num, m, 11)
    got = window_ratio_stats_at(num, den, m, 11, rows, cols, chunk=2)
    assert np.array_equal(n[rows, cols], got[2])
    np.testing.assert_allclose(got[0], mean_r[rows, cols], atol=1e-12)
    np.testing.assert_allclose(got[1], std_r[rows, cols], atol=1e-7)
    np.testing.assert_allclose(got[3], mean_n[rows, cols], atol=1e-12)
    np.testing.assert_allclose(got[4], std_n[rows, cols], atol=1e-7)
    np.testing.assert_array_equal(neighbours_at(m, rows, cols), count_neighbours(m)[rows, cols])


# --------------------------------------------------------------------- Schroeder 2016
def _oli(shape=(81, 81), r7=0.05, r5=0.25, r6=0.15):
    """A uniform vegetated OLI scene (reflectance), every band as in a dry grassland."""
    base = {1: 0.12, 2: 0.10, 3: 0.09, 4: 0.07, 5: r5, 6: r6, 7: r7}
    return {k: np.full(shape, v, dtype=np.float32) for k, v in base.items()}


def test_schroeder_contextual_threshold_is_strict():
    # uniform background: R75 = 0.2, sd 0 -> t_R = 1.0; rho7 = 0.05 -> t_7 = 0.13.
    # At (40, 40) rho5 = 0.25, rho6 = 0.15: the binding test is R75 > 1.8 -> rho7 > 0.45.
    b = _oli()
    b[7][40, 40] = np.float32(0.45)  # R75 = 1.8 exactly: not > 1.8
    assert schroeder2016(b).n_fire == 0
    b[7][40, 40] = np.float32(0.4501)
    res = schroeder2016(b)
    assert res.fire[40, 40] and res.n_fire == 1 and res.test[40, 40] == TEST_CONTEXTUAL


def test_schroeder_filter_and_gather_paths_agree():
    b = _oli(shape=(120, 130))
    rng = np.random.default_rng(4)
    b[7][:] = rng.uniform(0.01, 0.40, b[7].shape).astype(np.float32)
    hot = rng.integers(0, 120, 40), rng.integers(0, 130, 40)
    b[7][hot] = rng.uniform(0.46, 0.9, 40).astype(np.float32)
    a = schroeder2016(b, method="filter")
    g = schroeder2016(b, method="gather")
    assert a.n_fire > 0 and np.array_equal(a.fire, g.fire)
    with pytest.raises(ValueError):
        schroeder2016(b, method="nope")


def test_schroeder_contextual_test_rejects_a_hot_background():
    # the same candidate in a background where R75 varies strongly: t_R ~ 2.2 > R75 = 1.88,
    # t_7 ~ 0.55 > rho7 = 0.47
    b = _oli()
    rng = np.random.default_rng(3)
    b[7][:] = rng.uniform(0.01, 0.40, b[7].shape).astype(np.float32)  # R75 0.04-1.6
    b[7][40, 40] = 0.47
    res = schroeder2016(b)
    assert res.candidates[40, 40] and not res.fire[40, 40]


def test_schroeder_unambiguous_and_folded():
    b = _oli()
    b[5][10, 10], b[7][10, 10] = 0.2, 0.51  # R75 2.55, diff 0.31, rho7 0.51
    b[6][20, 20], b[1][20, 20], b[5][20, 20] = 0.81, 0.15, 0.41  # DN folding
    res = schroeder2016(b, window=5)  # window size does not matter for these
    assert res.fire[10, 10] and res.test[10, 10] == TEST_ABSOLUTE
    assert res.fire[20, 20] and res.test[20, 20] == TEST_ABSOLUTE
    assert res.n_fire == 2


def test_schroeder_water_and_divide_guard():
    b = _oli()
    # water: rho4 > rho5 > rho6 > rho7, rho1 - rho7 < 0.2, rho3 > rho2
    for k, v in {1: 0.08, 2: 0.06, 3: 0.07, 4: 0.05, 5: 0.03, 6: 0.02, 7: 0.01}.items():
        b[k][:10, :] = v
    b[5][50, 50] = 0.0  # R75 undefined: no fire, no warning (the pereira Meq3 bug)
    b[7][50, 50] = 0.6
    b[5][60, 60] = -0.01
    b[7][60, 60] = 0.6
    with np.errstate(all="raise"):
        res = schroeder2016(b)
    assert res.water[:10].all() and not res.water[10:].any()
    assert res.n_fire == 0
    assert np.isnan(ratio(np.float32(1), np.float32(0)))


def test_schroeder_cloud_only_blocks_relative_detections():
    b = _oli()
    b[7][30, 30] = 0.5  # contextual-only candidate (R75 = 2.0)
    b[5][50, 50], b[7][50, 50] = 0.2, 0.6  # unambiguous
    cloud = np.zeros((81, 81), bool)
    cloud[25:35, 25:35] = True
    cloud[48:53, 48:53] = True
    res = schroeder2016(b, cloud)
    assert not res.fire[30, 30] and res.fire[50, 50]
    assert res.cloud.sum() == 125
    # without the cloud flag the same candidate is a fire
    assert schroeder2016(b).fire[30, 30]


def test_schroeder_needs_background():
    b = _oli(shape=(21, 21))
    for k, v in {1: 0.08, 2: 0.06, 3: 0.07, 4: 0.05, 5: 0.03, 6: 0.02, 7: 0.01}.items():
        b[k][:] = v  # all water
    for k, v in {1: 0.12, 2: 0.10, 3: 0.09, 4: 0.07, 5: 0.25, 6: 0.15, 7: 0.48}.items():
        b[k][10, 10] = v  # a candidate island
    res = schroeder2016(b)
    assert res.unknown[10, 10] and not res.fire[10, 10]


# ------------------------------------------------------------------------ Murphy 2016
def test_murphy_alpha_boundaries_and_beta_adjacency():
    shape = (20, 20)
    r8a = np.full(shape, 0.30, np.float32)
    r11 = np.full(shape, 0.40, np.float32)
    r12 = np.full(shape, 0.35, np.float32)
    r12[5, 5] = np.float32(0.56)  # 1.4 x 0.40: alpha (>=)
    r12[8, 8] = np.float32(0.55)  # just below: no
    # beta next to the alpha pixel, and a lone beta far away
    r8a[5, 6], r11[5, 6], r12[5, 6] = 0.2, 0.6, 0.55
    r8a[15, 15], r11[15, 15], r12[15, 15] = 0.2, 0.6, 0.55
    res = murphy2016(r8a, r11, r12)
    assert res.fire[5, 5] and res.test[5, 5] == TEST_ABSOLUTE
    assert res.fire[5, 6] and res.test[5, 6] == TEST_CONTEXTUAL
    assert not res.fire[8, 8] and not res.fire[15, 15]
    assert res.n_fire == 2


def test_murphy_b12_floor_saturation_and_divide_guard():
    shape = (5, 5)
    r8a = np.full(shape, 0.05, np.float32)
    r11 = np.full(shape, 0.05, np.float32)
    r12 = np.full(shape, 0.14, np.float32)  # ratios 2.8 but B12 < 0.15
    r8a[0, 0] = 0.0
    r12[0, 0] = 0.5
    with np.errstate(all="raise"):
        res = murphy2016(r8a, r11, r12)
    assert res.n_fire == 0
    sat = np.zeros(shape, bool)
    sat[2, 3] = True
    r12[2, 2] = 0.2  # alpha next to a saturated pixel
    res = murphy2016(r8a, r11, r12, saturated=sat)
    assert res.fire[2, 2] and res.fire[2, 3] and res.n_fire == 2


# ------------------------------------------------------------------ MOD14 contextual
def _thermal(shape=(41, 41)):
    rng = np.random.default_rng(7)
    t11 = 295.0 + rng.normal(0, 1.0, shape)
    t4 = t11 + 5.0 + rng.normal(0, 1.0, shape)
    return t4, t11


def test_mod14_contextual_absolute_and_cloud():
    t4, t11 = _thermal()
    t4[20, 20] = 330.0  # potential (310 K, dT 35 K), far above the background
    t4[5, 5] = 370.0  # absolute
    t4[30, 30] = 312.0  # potential but only ~2 K above the 310 K floor: z ~ 12, dT 17 K
    t11[35, 35], t4[35, 35] = 250.0, 320.0  # cold top: cloud
    res = mod14(t4, t11)
    assert res.fire[20, 20] and res.test[20, 20] == TEST_CONTEXTUAL
    assert res.fire[5, 5] and res.test[5, 5] == TEST_ABSOLUTE
    assert res.cloud[35, 35] and not res.fire[35, 35]
    assert 0 < res.confidence[20, 20] <= 100
    # a warm homogeneous background at 309 K + 5 K: nothing passes
    t4b, t11b = _thermal()
    assert mod14(t4b + 14.0, t11b + 14.0).n_fire == 0


def test_mod14_night_and_coastal():
    t4, t11 = _thermal()
    t4[20, 20] = 318.0
    assert mod14(t4, t11, day=False).fire[20, 20]
    water = np.zeros(t4.shape, bool)
    water[21, 21] = True
    assert not mod14(t4, t11, day=False, water=water).fire[20, 20]


# ------------------------------------------------------------------- real scenes
@pytest.mark.parametrize(
    ("folder", "sensor", "cloud_min"),
    [
        (L8, "landsat-oli", 18_000),
        (L8_CLOUD, "landsat-oli", 100_000),
        (S2, "sentinel-2", 10_000),
        (MODIS, "modis", 0),
    ],
)
def test_real_scenes_have_no_fire(folder, sensor, cloud_min):
    fs = detect_scene(folder)
    s = fs.result.summary()
    assert s["sensor"] == sensor
    assert s["fire_pixels"] == 0 and s["candidate_pixels"] == 0
    assert s["cloud_pixels"] >= cloud_min


def test_coastal_scene_masks():
    s = detect_scene(L8).result.summary()
    # the Schroeder water test on this scene: 11,298 of 46,093 valid pixels (shared notes)
    assert s["water_pixels"] == 11_298 and s["valid_pixels"] == 46_093
    assert s["cloud_pixels"] == 18_606


# ------------------------------------------------------------------------- output
def _scene_with_fires():
    fs = detect_scene(L8)
    from kongtian.sensing.fire.scene import LANDSAT_BANDS
    from kongtian.sensing.scenes import load_landsat

    sc = load_landsat(L8, LANDSAT_BANDS)
    b = {k: v.copy() for k, v in sc.bands.items()}
    for r, c in [(150, 100), (150, 101), (151, 100), (60, 200)]:
        b["nir"][r, c], b["swir22"][r, c] = 0.2, 0.7  # unambiguous
    res = schroeder2016(b, sc.cloud)
    return res, fs


def test_points_polygons_alerts():
    res, fs = _scene_with_fires()
    assert res.n_fire == 4
    pts = fire_points(res, fs.transform, fs.crs, fs.scene_id, fs.time_utc)
    assert len(pts["features"]) == 4
    f0 = pts["features"][0]
    lon, lat = f0["geometry"]["coordinates"]
    assert -90 < lon < -70 and 25 < lat < 40  # US south-east coast
    assert f0["id"] == pixel_id(fs.scene_id, 60, 200) == f"fire:{fs.scene_id}:60:200"
    assert f0["properties"]["test"] == "absolute" and f0["properties"]["time_utc"].startswith(
        "2017-08-13T"
    )
    polys = fire_polygons(res, fs.transform, fs.crs, fs.scene_id)
    sizes = sorted(f["properties"]["pixels"] for f in polys["features"])
    assert sizes == [1, 3]
    alerts = fire_alerts(res, fs.transform, fs.crs, fs.scene_id, fs.time_utc)
    assert {a["kind"] for a in alerts} == {"active_fire"}
    assert alerts[0]["object_id"] == f0["id"]
    assert alerts[0]["severity"] in ("info", "advisory", "warning")
    assert list(confidence_class([10, 50, 90])) == ["low", "nominal", "high"]


# ------------------------------------------------------------------------------ CLI
def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "kongtian.sensing.cli", "fire", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("scene", [L8, L8_CLOUD, S2 / "S2A_29RKH_20200219_0_L2A.json", MODIS])
def test_cli_fire_on_real_scenes(tmp_path, scene):
    out = tmp_path / "fires.geojson"
    alerts = tmp_path / "alerts.jsonl"
    p = run(
        str(scene),
        "--out",
        str(out),
        "--polygons",
        str(tmp_path / "p.geojson"),
        "--alerts",
        str(alerts),
    )
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["fire_pixels"] == 0
    assert json.loads(out.read_text()) == {"type": "FeatureCollection", "features": []}
    assert alerts.read_text() == ""


def test_cli_bad_input(tmp_path):
    p = run(str(tmp_path / "nope"), "--out", str(tmp_path / "x.geojson"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "error" in p.stderr
    p = run(str(tmp_path), "--out", str(tmp_path / "x.geojson"))
    assert p.returncode == 2 and "no Landsat" in p.stderr


def test_cli_bad_input_through_the_kongtian_entry_point(tmp_path):
    from kongtian.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sensing", "fire", str(tmp_path / "nope"), "--out", str(tmp_path / "x.geojson")])
    assert exc.value.code == 2
