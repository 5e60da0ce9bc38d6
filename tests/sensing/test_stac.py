"""``kongtian.sensing.stac``: offline STAC items and collections as lazy xarray bands.

Truth is read in the tests with rasterio directly (windowed reads, ``from_bounds``,
``warp.reproject``) and with pyproj/shapely for the region geometry, never through the
module under test.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import warnings
from datetime import UTC, datetime

import dask.array
import numpy as np
import pystac
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform
from shapely.geometry import Polygon, box

from kongtian.errors import ConfigError, FormatError, NotFound
from kongtian.geo.regions import bbox_region
from kongtian.sensing import stac
from kongtian.sensing.water import read_mask_geotiff

from ..conftest import DATA

SWIR = DATA / "sensing" / "sentinel2_l2a_29RKH_20200219_swir"
CROP = DATA / "sensing" / "sentinel2_l2a_29RKH_20200219_crop"
ITEM = SWIR / "S2A_29RKH_20200219_0_L2A.json"
CROP_ITEM = CROP / "S2A_29RKH_20200219_0_L2A.json"


def quiet_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stac.StacGridWarning)
        return stac.load_band(*args, **kwargs)


def raw_read(path, window=None):
    with rasterio.open(path) as ds:
        return ds.read(1, window=window), ds.transform, ds.crs


# ------------------------------------------------------------------------------ items


def test_remote_hrefs_resolve_to_local_files_by_base_name():
    item = stac.read_item(ITEM)
    assert item.assets["swir16"].href.startswith("https://")
    assert stac.resolve_asset(item, "swir16") == SWIR / "B11.tif"
    assert stac.resolve_asset(item, "B12") == SWIR / "B12.tif"  # by file stem
    assert stac.resolve_asset(item, "scl") == SWIR / "SCL.tif"


def test_files_named_by_asset_key_and_explicit_local_dir(tmp_path):
    shutil.copy(SWIR / "B11.tif", tmp_path / "swir16.tif")
    item = stac.read_item(ITEM)  # item stays in the fixture folder
    assert stac.resolve_asset(item, "swir16", local_dir=tmp_path) == tmp_path / "swir16.tif"


def test_remote_asset_without_local_file_is_a_format_error_naming_it(tmp_path):
    shutil.copy(ITEM, tmp_path / "item.json")
    item = stac.read_item(tmp_path / "item.json")
    with pytest.raises(FormatError, match="'swir22'.*B12.tif"):
        stac.load_band(item, "swir22")
    with pytest.raises(FormatError, match="'swir22'"):
        stac.resolve_asset(item, "swir22")


def test_not_an_item_and_unknown_band(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match=r"x\.json"):
        stac.read_item(bad)
    with pytest.raises(FormatError, match="no such"):
        stac.read_item(tmp_path / "missing.json")
    with pytest.raises(NotFound, match="'B99'"):
        stac.resolve_asset(stac.read_item(ITEM), "B99")


# ------------------------------------------------------------------------------ grid


def test_grid_comes_from_the_files_not_the_item():
    item = stac.read_item(ITEM)
    ig = stac.item_grid(item, "swir16")
    assert ig is not None and ig.shape == (5490, 5490) and ig.transform.a == 20
    with pytest.warns(stac.StacGridWarning, match="5490x5490"):
        da = stac.load_band(item, "swir16")
    _, tr, crs = raw_read(SWIR / "B11.tif")
    with rasterio.open(SWIR / "B11.tif") as ds:
        shape = ds.shape
    assert da.shape == shape == (549, 549)
    assert da.rio.transform() == tr and tr.a == 200
    assert da.rio.crs == crs and crs.to_epsg() == 32629
    assert da.attrs["grid_source"] == "file"
    assert "differs" in da.attrs["grid_note"] and "B11.tif" in da.attrs["grid_note"]
    # pixel-centre coordinates follow the file's transform
    assert da.x.values[0] == tr.c + 100 and da.y.values[0] == tr.f - 100


def test_matching_item_grid_gives_no_warning(tmp_path):
    doc = json.loads(ITEM.read_text())
    doc["assets"]["swir16"]["proj:shape"] = [549, 549]
    doc["assets"]["swir16"]["proj:transform"] = [200, 0, 199980, 0, -200, 2800020]
    (tmp_path / "item.json").write_text(json.dumps(doc))
    shutil.copy(SWIR / "B11.tif", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", stac.StacGridWarning)
        da = stac.load_band(tmp_path / "item.json", "swir16")
    assert "grid_note" not in da.attrs


# ------------------------------------------------------------------------------ laziness


def test_result_is_dask_backed_and_unmaterialised():
    da = quiet_load(ITEM, "swir16", chunks=256)
    assert isinstance(da.data, dask.array.Array)
    assert da.chunks == ((256, 256, 37), (256, 256, 37))
    graph = dict(da.data.__dask_graph__())
    # no pixel block is held in the graph: every entry is a task, not an array of values
    assert not any(isinstance(v, np.ndarray) and v.size > 1 for v in graph.values())


def test_pixels_are_read_only_at_compute_time(tmp_path):
    """Load lazily, then overwrite the file in place: the computed values are the new ones."""
    path = tmp_path / "B11.tif"
    with rasterio.open(SWIR / "B11.tif") as src:
        profile = src.profile | {"driver": "GTiff", "compress": None, "tiled": False}
        profile.pop("blockxsize", None), profile.pop("blockysize", None)
        data = src.read(1)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
    shutil.copy(ITEM, tmp_path / "item.json")
    da = quiet_load(tmp_path / "item.json", "swir16", scale=False)
    with rasterio.open(path, "r+") as dst:
        dst.write(np.full_like(data, 1234), 1)
    values = da.compute().values
    assert (values == 1234).all()


# ------------------------------------------------------------------------------ clipping


def test_clip_on_pixel_edges_equals_rasterio_windowed_read():
    with rasterio.open(SWIR / "B11.tif") as ds:
        tr = ds.transform
    # a UTM box on pixel edges: rows 100..160, cols 40..140
    left, top = tr.c + 40 * tr.a, tr.f + 100 * tr.e
    right, bottom = tr.c + 140 * tr.a, tr.f + 160 * tr.e
    region = box(left, bottom, right, top)
    win = from_bounds(left, bottom, right, top, transform=tr)
    assert (win.col_off, win.row_off, win.width, win.height) == pytest.approx((40, 100, 100, 60))
    win = Window(40, 100, 100, 60)
    dn, _, _ = raw_read(SWIR / "B11.tif", window=win)

    raw = quiet_load(ITEM, "swir16", region=region, region_crs="EPSG:32629", scale=False)
    assert raw.shape == (60, 100)
    assert raw.rio.transform() == window_transform(win, tr)
    assert raw.rio.bounds() == pytest.approx((left, bottom, right, top))
    np.testing.assert_array_equal(raw.compute().values, dn)

    refl = quiet_load(ITEM, "swir16", region=region, region_crs="EPSG:32629")
    expected = np.where(dn == 0, np.nan, dn.astype(np.float32) * np.float32(1e-4))
    np.testing.assert_array_equal(refl.compute().values, expected)
    assert refl.dtype == np.float32


def test_clip_to_a_lonlat_region_rounds_outward_and_masks_outside():
    lon0, lat0, lon1, lat1 = -11.6, 24.6, -11.4, 24.8
    poly = Polygon([(lon0, lat0), (lon1, lat0 + 0.05), (lon1, lat1), (lon0 + 0.05, lat1)])
    # independent geometry: pyproj on a dense boundary, not rasterio.warp
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32629", always_xy=True)
    ring = shapely.segmentize(poly, 0.001).exterior.coords
    xs, ys = to_utm.transform(*zip(*ring, strict=True))
    utm = Polygon(zip(xs, ys, strict=True))
    with rasterio.open(SWIR / "B11.tif") as ds:
        tr = ds.transform
    w = from_bounds(*utm.bounds, transform=tr)
    c0, r0 = math.floor(w.col_off), math.floor(w.row_off)
    c1, r1 = math.ceil(w.col_off + w.width), math.ceil(w.row_off + w.height)
    dn, _, _ = raw_read(SWIR / "B11.tif", window=Window(c0, r0, c1 - c0, r1 - r0))

    da = quiet_load(ITEM, "swir16", region=poly).compute()
    assert da.shape == (r1 - r0, c1 - c0)
    assert da.rio.transform() == window_transform(Window(c0, r0, c1 - c0, r1 - r0), tr)
    # the window covers the region and is no more than one pixel larger on each side
    bl, bb, br, bt = da.rio.bounds()
    ul, ub, ur, ut = utm.bounds
    assert bl <= ul < bl + 200 and br - 200 < ur <= br
    assert bb <= ub < bb + 200 and bt - 200 < ut <= bt
    cx, cy = np.meshgrid(da.x.values, da.y.values)
    inside = shapely.contains_xy(utm, cx, cy)
    assert 0 < (~inside).sum() < inside.sum()
    vals = da.values
    assert np.isnan(vals[~inside]).all()
    np.testing.assert_array_equal(vals[inside], dn[inside].astype(np.float32) * np.float32(1e-4))


def test_kongtian_region_equals_shapely_box():
    reg = bbox_region(-11.6, 24.6, -11.4, 24.8, name="test")
    a = quiet_load(ITEM, "swir16", region=reg).compute()
    b = quiet_load(ITEM, "swir16", region=box(-11.6, 24.6, -11.4, 24.8)).compute()
    np.testing.assert_array_equal(a.values, b.values)
    assert a.rio.transform() == b.rio.transform()


def test_region_outside_the_tile_is_a_config_error():
    with pytest.raises(ConfigError, match="does not overlap"):
        quiet_load(ITEM, "swir16", region=box(100, 30, 101, 31))


# ------------------------------------------------------------------------------ reprojection


def test_reprojection_equals_rasterio_warp_on_the_same_grid():
    region = box(-11.6, 24.6, -11.4, 24.8)
    res = 0.002
    da = quiet_load(ITEM, "swir16", region=region, crs="EPSG:4326", resolution=res, scale=False)
    assert isinstance(da.data, dask.array.Array)
    t = da.rio.transform()
    assert (t.a, t.e) == pytest.approx((res, -res))
    # edges on multiples of the resolution, covering the region
    assert t.c / res == pytest.approx(round(t.c / res)) and t.f / res == pytest.approx(
        round(t.f / res)
    )
    left, bottom, right, top = da.rio.bounds()
    assert left <= -11.6 and right >= -11.4 and bottom <= 24.6 and top >= 24.8
    # truth: eager rasterio.warp.reproject of the whole file onto the same grid
    from rasterio.warp import Resampling, reproject

    expected = np.zeros(da.shape, dtype=np.uint16)
    with rasterio.open(SWIR / "B11.tif") as ds:
        reproject(
            rasterio.band(ds, 1),
            expected,
            dst_transform=Affine(*t[:6]),
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
        )
    got = da.compute().values
    # the region is a lon/lat box here, so no pixel is masked
    assert (expected > 0).all()
    np.testing.assert_array_equal(got, expected)
    assert da.attrs["resampling"] == "nearest"


def test_bands_of_different_resolution_share_the_coarsest_grid():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stac.StacGridWarning)
        ds = stac.load(CROP_ITEM, ["green", "swir16"])
    assert set(ds.data_vars) == {"green", "swir16"}
    g11, tr11, _ = raw_read(CROP / "B11.tif")
    g03, _, _ = raw_read(CROP / "B03.tif")
    assert ds["green"].shape == g11.shape == (250, 250)
    assert ds["swir16"].rio.transform() == tr11
    np.testing.assert_array_equal(
        ds["swir16"].compute().values, g11.astype(np.float32) * np.float32(1e-4)
    )
    # 'average' of the 2x2 blocks of the 100 m band (no zeros in this desert crop)
    assert (g03 > 0).all()
    block = g03.reshape(250, 2, 250, 2).astype(np.float64).mean(axis=(1, 3)) * 1e-4
    np.testing.assert_allclose(ds["green"].compute().values, block, atol=1e-4 + 1e-6)
    assert "grid_note" in ds.attrs


# ------------------------------------------------------------------------------ collections


def _write_collection(tmp_path, item_links_remote=False):
    root = tmp_path / "catalog"
    coll = pystac.Collection(
        id="s2-local",
        description="two local items",
        extent=pystac.Extent(
            pystac.SpatialExtent([[-12.0, 24.0, -10.8, 25.4]]),
            pystac.TemporalExtent([[None, None]]),
        ),
        license="proprietary",
    )
    for i, band in enumerate(["B11", "B12"]):
        item = pystac.Item(
            id=f"tile-{i}",
            geometry=box(-12.0, 24.0, -10.8, 25.4).__geo_interface__,
            bbox=[-12.0, 24.0, -10.8, 25.4],
            datetime=datetime(2020, 2, 19, 11, 34, 25, tzinfo=UTC),
            properties={},
        )
        item.add_asset(
            "swir", pystac.Asset(href=f"./{band}.tif", media_type=pystac.MediaType.GEOTIFF)
        )
        coll.add_item(item)
    coll.normalize_hrefs(str(root))
    coll.make_all_asset_hrefs_relative()
    coll.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    for i, band in enumerate(["B11", "B12"]):
        shutil.copy(SWIR / f"{band}.tif", root / f"tile-{i}" / f"{band}.tif")
    if item_links_remote:
        doc = json.loads((root / "collection.json").read_text())
        for link in doc["links"]:
            if link["rel"] == "item":
                link["href"] = "https://example.invalid/" + link["href"].lstrip("./")
        (root / "collection.json").write_text(json.dumps(doc))
    return root / "collection.json"


def test_local_collection_lists_its_items_and_loads_relative_assets(tmp_path):
    path = _write_collection(tmp_path)
    items = stac.collection_items(path)
    assert [it.id for it in items] == ["tile-0", "tile-1"]
    assert stac.read_collection(path).id == "s2-local"
    p1 = stac.resolve_asset(items[1], "swir")
    assert p1 == (path.parent / "tile-1" / "B12.tif").resolve()
    da = stac.load_band(items[1], "swir", scale=False)  # no proj: metadata, no warning
    np.testing.assert_array_equal(da.compute().values, raw_read(SWIR / "B12.tif")[0])


def test_collection_with_remote_item_links_is_refused_without_network(tmp_path):
    path = _write_collection(tmp_path, item_links_remote=True)
    with pytest.raises(FormatError, match="remote STAC href"):
        stac.collection_items(path)


# ------------------------------------------------------------------------------ CLI


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "kongtian.sensing.cli", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_water_accepts_a_stac_item_with_files_named_by_asset_key(tmp_path):
    """An item whose hrefs are remote, with local copies named by asset key (not B03.tif)."""
    folder = tmp_path / "scene"
    folder.mkdir()
    shutil.copy(CROP_ITEM, folder / "item.json")
    for band, key in [("B03", "green"), ("B08", "nir"), ("B11", "swir16"), ("SCL", "scl")]:
        shutil.copy(CROP / f"{band}.tif", folder / f"{key}.tif")
    ref = tmp_path / "ref.tif"
    got = tmp_path / "got.tif"
    p = run("water", "--s2", str(CROP), "--out", str(ref), "--threshold", "0.1")
    assert p.returncode == 0, p.stderr
    p = run("water", "--s2", str(folder / "item.json"), "--out", str(got), "--threshold", "0.1")
    assert p.returncode == 0, p.stderr
    a, ta, _ = read_mask_geotiff(ref)
    b, tb, _ = read_mask_geotiff(got)
    assert ta == tb
    np.testing.assert_array_equal(a, b)
    assert json.loads(p.stdout)["nodata_pixels"] > 0  # SCL resolved through the item too


def test_fire_and_water_with_an_item_but_no_files_exit_2(tmp_path):
    shutil.copy(CROP_ITEM, tmp_path / "item.json")
    p = run("water", "--s2", str(tmp_path / "item.json"), "--out", str(tmp_path / "m.tif"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "'green'" in p.stderr
    p = run("fire", str(tmp_path / "item.json"), "--out", str(tmp_path / "f.geojson"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "'nir08'" in p.stderr


def test_fire_on_an_item_reports_the_resolution(tmp_path):
    p = run("fire", str(ITEM), "--out", str(tmp_path / "f.geojson"))
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["fire_pixels"] == 0 and any("STAC item" in n for n in s["notes"])


@pytest.mark.parametrize(
    "href,remote",
    [
        ("s3://bucket/B11.tif", True),
        ("https://host/B11.tif", True),
        ("/vsis3/bucket/B11.tif", True),
        ("./B11.tif", False),
        ("/data/B11.tif", False),
        ("file:///data/B11.tif", False),
        ("C:/data/B11.tif", False),
    ],
)
def test_is_remote(href, remote):
    assert stac.is_remote(href) is remote


def test_file_stem_prefers_the_geotiff_over_the_jp2():
    item = stac.read_item(ITEM)
    assert item.assets["nir08-jp2"].href.endswith("B8A.jp2")
    assert stac.asset_key(item, "B8A") == "nir08"


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="resampling"):
        quiet_load(ITEM, "swir16", crs="EPSG:4326", resampling="bogus")
    with pytest.raises(ConfigError, match="needs crs"):
        quiet_load(ITEM, "swir16", resolution=100)
    grid = stac.file_grid(SWIR / "B11.tif")
    with pytest.raises(ConfigError, match="either grid"):
        quiet_load(ITEM, "swir16", grid=grid, crs="EPSG:32629")


def test_multi_resolution_load_clipped_to_a_region():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stac.StacGridWarning)
        ds = stac.load(CROP_ITEM, ["green", "swir16"], region=box(-11.9, 24.9, -11.8, 25.0))
    g11, tr11, _ = raw_read(CROP / "B11.tif")
    r0, c0, h, w = ds["swir16"].attrs["window"]
    assert ds["green"].attrs["window"] == (r0, c0, h, w)
    assert ds["green"].rio.transform() == window_transform(Window(c0, r0, w, h), tr11)
    sw = ds["swir16"].compute().values
    inside = np.isfinite(sw)
    expected = g11[r0 : r0 + h, c0 : c0 + w].astype(np.float32) * np.float32(1e-4)
    np.testing.assert_array_equal(sw[inside], expected[inside])
    assert inside.mean() > 0.8
