"""Indices, scaling, water and flood masks on the real shared scenes.

Independent truths used here: the published scaling constants in the products' own
metadata (MTL, STAC), Sen2Cor's scene classification (SCL, no water in the desert tile),
the USGS cloud cover in the MTL files, scikit-image's Otsu threshold, the Landsat-8 water
test of Schroeder et al. (2016, RSE 185) written out below (the data team counted 11,298
water pixels with it on this scene), and two hand-drawn polygons of the coastal scene
(open ocean, inland) documented in docs/decisions/0017-water.md. What this cannot show:
accuracy against a surveyed shoreline or a real flood (none exists in the fixtures), nor
behaviour on turbid, frozen or shadowed water.
"""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.errors import ConfigError, FormatError, NotFound
from kongtian.sensing.bands import band_id
from kongtian.sensing.indices import ndvi, normalized_difference, spectral_index
from kongtian.sensing.scaling import landsat_reflectance, mtl_float, read_mtl
from kongtian.sensing.scenes import Scene, load_landsat, load_modis, load_sentinel2
from kongtian.sensing.water import (
    LAND,
    NODATA,
    WATER,
    detect_water,
    flood_mask,
    otsu_threshold,
    read_mask_geotiff,
    write_mask_geotiff,
)

from ..conftest import DATA

D = DATA / "sensing"
L8_COAST = D / "landsat8_c1l1tp_016037_20170813"
L8_CLOUD = D / "landsat8_c2l2sp_001062_20201031"
S2_DESERT = D / "sentinel2_l2a_29RKH_20200219_crop"
MODIS = D / "modis_mcd43a4_h21v11_2017006"

# Polygons of the coastal scene as pixel windows of its 900 m grid (EPSG:32617, origin
# x 471585, y 3787515): open Atlantic SE of the coast, and inland Carolina NW of the lakes.
OCEAN = (slice(200, 240), slice(160, 200))  # x 615585-651585 m, y 3571515-3607515 m
INLAND = (slice(25, 60), slice(150, 230))  # x 606585-678585 m, y 3733515-3765015 m


@pytest.fixture(scope="module")
def coast():
    return load_landsat(L8_COAST, ("coastal", "blue", "green", "red", "nir", "swir16", "swir22"))


# ----------------------------------------------------------------------------- metadata
def test_mtl_values_and_toa_reflectance():
    mtl = read_mtl(next(L8_COAST.glob("*_MTL.txt")))
    assert mtl_float(mtl, "RADIOMETRIC_RESCALING", "REFLECTANCE_MULT_BAND_3") == 2e-5
    assert mtl_float(mtl, "RADIOMETRIC_RESCALING", "REFLECTANCE_ADD_BAND_3") == -0.1
    assert mtl_float(mtl, "IMAGE_ATTRIBUTES", "SUN_ELEVATION") == pytest.approx(62.1731)
    rho = landsat_reflectance(np.array([0, 10000, 20000]), mtl, 3)
    assert np.isnan(rho[0])
    assert rho[1:] == pytest.approx(
        (np.array([10000, 20000]) * 2e-5 - 0.1) / np.sin(np.radians(62.17310472)), rel=1e-6
    )


def test_collection2_surface_reflectance_constants():
    mtl = read_mtl(next(L8_CLOUD.glob("*_MTL.txt")))
    # USGS Collection 2 Level-2 SR scaling: 2.75e-5 and -0.2 for every OLI band
    rho = landsat_reflectance(np.array([10000, 20000]), mtl, 5)
    assert rho == pytest.approx([10000 * 2.75e-5 - 0.2, 20000 * 2.75e-5 - 0.2], abs=1e-6)


def test_bad_mtl_names_line(tmp_path):
    f = tmp_path / "x_MTL.txt"
    f.write_text("GROUP = A\n  K = 1\n  garbage line\nEND_GROUP = A\nEND\n")
    with pytest.raises(FormatError, match=":3:"):
        read_mtl(f)


def test_band_maps():
    assert band_id("landsat-oli-l1", "swir1") == "B6"
    assert band_id("landsat-oli-l2", "green") == "SR_B3"
    assert band_id("sentinel-2", "swir16") == "B11"
    assert band_id("modis", "green") == "B04"  # MODIS band 4 is 545-565 nm
    with pytest.raises(NotFound):
        band_id("sentinel-2", "tir")


# ----------------------------------------------------------------------------- indices
def test_normalized_difference_edge_cases():
    out = normalized_difference([0.5, 0.0, np.nan, 0.2], [0.08, 0.0, 0.1, 0.2])
    assert out[0] == pytest.approx(0.42 / 0.58)
    assert np.isnan(out[1]) and np.isnan(out[2]) and out[3] == 0
    assert ndvi(np.float32(0.5), np.float32(0.1)).dtype == np.float32
    assert spectral_index("MNDWI", {"green": 0.3, "swir1": 0.1}) == pytest.approx(0.5)
    with pytest.raises(NotFound):
        spectral_index("ndvi", {"green": 0.3})


# ----------------------------------------------------------------------------- Otsu
def test_otsu_matches_scikit_image(coast):
    skimage_filters = pytest.importorskip("skimage.filters")
    res = detect_water(coast)
    v = res.index[np.isfinite(res.index)]
    ours = otsu_threshold(v).threshold
    theirs = skimage_filters.threshold_otsu(v, nbins=256)
    assert abs(ours - theirs) <= 2.0 / 256  # one bin of our fixed [-1, 1] histogram
    assert res.threshold == ours and res.method == "otsu"


# ----------------------------------------------------------------------------- scenes
def test_coastal_scene_ocean_is_water_inland_is_land(coast):
    res = detect_water(coast)
    ocean = res.mask[OCEAN]
    inland = res.mask[INLAND]
    assert (ocean == NODATA).mean() < 0.05
    assert (ocean[ocean != NODATA] == WATER).mean() >= 0.99  # measured 99.8 %
    assert (inland[inland != NODATA] == WATER).mean() <= 0.02  # measured 1.1 %


def test_coastal_scene_clouds_masked(coast):
    mtl = read_mtl(next(L8_COAST.glob("*_MTL.txt")))
    usgs = mtl_float(mtl, "IMAGE_ATTRIBUTES", "CLOUD_COVER") / 100  # 26.7 %
    ours = (coast.cloud & coast.valid).sum() / coast.valid.sum()
    # ours also masks high-confidence shadow and cirrus and the fixture is resampled
    assert usgs <= ours <= 0.45
    res = detect_water(coast)
    assert np.all(res.mask[coast.cloud] == NODATA)


def test_agrees_with_schroeder_2016_water_test(coast):
    b = coast.bands
    r1, r2, r3, r4, r5, r6, r7 = (
        b[k] for k in ("coastal", "blue", "green", "red", "nir", "swir16", "swir22")
    )
    schroeder = (r4 > r5) & (r5 > r6) & (r6 > r7) & (r1 - r7 < 0.2)
    schroeder &= (r3 > r2) | ((r1 > r2) & (r2 > r3) & (r3 > r4))
    assert (schroeder & coast.valid).sum() == 11_298  # the data team's count
    res = detect_water(coast)
    clear = res.mask != NODATA
    ours = res.mask == WATER
    theirs = schroeder & clear
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou >= 0.88  # measured 0.91 (MNDWI), 0.94 (NDWI)
    nd = detect_water(coast, "ndwi").mask == WATER
    assert (nd & theirs).sum() / (nd | theirs).sum() >= 0.9


def test_cloudy_scene_is_masked():
    sc = load_landsat(L8_CLOUD)
    assert sc.sensor == "landsat-oli-l2"
    frac = (sc.cloud & sc.valid).sum() / sc.valid.sum()
    assert frac >= 0.99  # MTL CLOUD_COVER = 99.94
    res = detect_water(sc)
    assert (res.mask == WATER).sum() <= 0.001 * sc.valid.sum()


def test_desert_has_no_water():
    sc = load_sentinel2(S2_DESERT)
    assert sc.shape == (250, 250)  # 200 m grid of B11, B03 aggregated 2 x 2
    res = detect_water(sc)
    # Sen2Cor SCL has no water pixel here, STAC s2:water_percentage = 0
    assert (res.mask == WATER).sum() == 0
    assert res.method == "fixed"  # the Otsu split is rejected: one mode only
    assert (res.mask == NODATA).sum() == 61  # SCL thin cirrus


def test_modis_scaling_and_nodata():
    sc = load_modis(MODIS, ("red", "nir", "green", "swir16"))
    assert sc.crs is not None and abs(sc.transform.a) == pytest.approx(4633.127, rel=1e-5)
    v = sc.valid
    assert 0 < v.sum() < v.size  # fill (32767) outside the land pixels
    for band in sc.bands.values():
        assert np.nanmin(band) >= -0.01 and np.nanmax(band) <= 1.2


# ----------------------------------------------------------------------------- flood
def test_flood_detects_injected_water_only(coast):
    ref = detect_water(coast).mask
    # flood an inland land patch with the spectra of real ocean pixels of the same scene
    bands = {k: v.copy() for k, v in coast.bands.items()}
    patch = (slice(30, 50), slice(160, 190))
    rng = np.random.default_rng(0)
    oi, oj = np.nonzero(ref[OCEAN] == WATER)
    pick = rng.integers(0, oi.size, size=(20, 30))
    for k in bands:
        bands[k][patch] = coast.bands[k][OCEAN][oi[pick], oj[pick]]
    cloud = coast.cloud.copy()
    cloud[patch] = False
    flooded = Scene(coast.sensor, bands, cloud, coast.transform, coast.crs)
    fm = flood_mask(detect_water(flooded).mask, ref)
    was_land = ref[patch] == LAND
    assert (fm[patch][was_land] == WATER).mean() >= 0.99
    outside = np.ones(fm.shape, bool)
    outside[patch] = False
    assert (fm[outside] == WATER).sum() <= 0.002 * (fm[outside] != NODATA).sum()
    assert np.all(fm[ref == NODATA] == NODATA)


def test_flood_mask_rules():
    cur = np.array([1, 1, 0, 0, 255, 1], np.uint8)
    ref = np.array([0, 1, 0, 1, 0, 255], np.uint8)
    assert flood_mask(cur, ref).tolist() == [1, 0, 0, 0, 255, 255]
    with pytest.raises(ConfigError):
        flood_mask(cur, ref[:3])


def test_geotiff_round_trip(tmp_path, coast):
    res = detect_water(coast)
    path = write_mask_geotiff(tmp_path / "m.tif", res.mask, coast.transform, coast.crs)
    mask, tr, crs = read_mask_geotiff(path)
    assert np.array_equal(mask, res.mask)
    assert tr == coast.transform and crs.to_epsg() == 32617
    import rasterio

    with rasterio.open(path) as ds:
        assert ds.nodata == 255 and ds.profile["compress"].lower() == "deflate"


def test_polygons_cover_the_ocean(coast):
    shapely = pytest.importorskip("shapely")
    from shapely.geometry import Point, shape

    from kongtian.sensing.water import mask_polygons

    res = detect_water(coast)
    fc = mask_polygons(res.mask, coast.transform, coast.crs)
    biggest = fc["features"][0]
    # centre of the ocean window (row 220, col 180) in WGS84
    from rasterio.warp import transform as warp

    x, y = coast.transform @ (180 + 0.5, 220 + 0.5)
    lon, lat = warp(coast.crs, "EPSG:4326", [x], [y])
    assert shape(biggest["geometry"]).contains(Point(lon[0], lat[0]))
    assert -82 < lon[0] < -76 and 31 < lat[0] < 35  # off the Carolinas
    # every kept polygon is >= 8 pixels; areas add up to their pixel counts
    for f in fc["features"]:
        p = f["properties"]
        assert p["pixels"] >= 8 and p["area_m2"] == pytest.approx(p["pixels"] * 900.0**2)
    assert sum(f["properties"]["pixels"] for f in fc["features"]) <= (res.mask == WATER).sum()
    assert shapely.is_valid(shape(biggest["geometry"]))
