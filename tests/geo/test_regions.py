"""Regions, bounding boxes, grids and sites.

Truth used here, independent of the code under test:
- Chongqing's published area, 82,400 km^2, and its published extent
  105°11'-110°11' E, 28°10'-32°13' N (Chongqing municipal government figures).
- Which side of the border a city lies on: checked by hand against two independent
  boundary datasets (Natural Earth admin-1, and a 24,000-vertex Amap-derived polygon),
  every point used is >= 10 km from the border in both (see geo/data/SOURCES.md).
- The WGS84 ellipsoid's surface area, 510,065,621.724 km^2 (NIMA TR8350.2).
- pyproj's geodesic polygon area for boxes (a second implementation of area).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from kongtian.errors import ConfigError, FormatError
from kongtian.geo.regions import (
    Grid,
    Region,
    Site,
    bbox_region,
    list_regions,
    parse_site,
    region,
    region_from_geojson,
    sites,
)

CHONGQING_AREA_KM2 = 82_400.0
WGS84_SURFACE_KM2 = 510_065_621.724

INSIDE = {
    "Yuzhong district": (29.56, 106.57),
    "Wanzhou": (30.81, 108.41),
    "Qianjiang": (29.53, 108.77),
    "Chengkou": (31.95, 108.66),
    "Jiangbei airport": (29.72, 106.64),
    "Wuxi county": (31.40, 109.63),
    "Youyang": (28.84, 108.77),
}
OUTSIDE = {
    "Chengdu (Sichuan)": (30.66, 104.07),
    "Guiyang (Guizhou)": (26.65, 106.63),
    "Yichang (Hubei)": (30.69, 111.29),
    "Dazhou (Sichuan)": (31.21, 107.47),
    "Guang'an (Sichuan)": (30.46, 106.63),
    "Luzhou (Sichuan)": (28.87, 105.44),
    "Enshi (Hubei)": (30.27, 109.49),
    "Tongren (Guizhou)": (27.72, 109.19),
    "Ankang (Shaanxi)": (32.68, 109.03),
}


@pytest.fixture(scope="module")
def cq() -> Region:
    return region("chongqing")


def _geod_box_area_km2(w: float, s: float, e: float, n: float) -> float:
    # Densified so pyproj's geodesic edges follow the parallels of the box.
    poly = shapely.segmentize(shapely.box(w, s, e, n), 0.01)
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(poly)
    return abs(area) / 1e6


# --- Chongqing boundary -------------------------------------------------------------


def test_chongqing_area_matches_published(cq: Region) -> None:
    assert cq.area_km2 == pytest.approx(CHONGQING_AREA_KM2, rel=0.02)


def test_chongqing_bbox_matches_published_extent(cq: Region) -> None:
    w, s, e, n = cq.bbox
    published = (105 + 11 / 60, 28 + 10 / 60, 110 + 11 / 60, 32 + 13 / 60)
    # Natural Earth 1:10m is generalised: extremes agree to ~0.1 deg (~10 km).
    for got, want in zip((w, s, e, n), published, strict=True):
        assert got == pytest.approx(want, abs=0.15)


@pytest.mark.parametrize("name", sorted(INSIDE))
def test_cities_inside(cq: Region, name: str) -> None:
    lat, lon = INSIDE[name]
    assert cq.contains(lat, lon).item() is True


@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_cities_outside(cq: Region, name: str) -> None:
    lat, lon = OUTSIDE[name]
    assert cq.contains(lat, lon).item() is False


def test_contains_is_vectorised_and_broadcasts(cq: Region) -> None:
    lat = np.array([[29.56, 30.66], [26.65, 31.95]])
    lon = np.array([[106.57, 104.07], [106.63, 108.66]])
    got = cq.contains(lat, lon)
    assert got.shape == (2, 2) and got.dtype == bool
    assert got.tolist() == [[True, False], [False, True]]
    # scalar latitude against a row of longitudes (Yuzhong's parallel, Sichuan to Hunan)
    row = cq.contains(29.56, np.array([104.0, 106.57, 108.0, 111.0]))
    assert row.tolist() == [False, True, True, False]


@pytest.mark.parametrize("spec", ["chongqing", "Chongqing", " CHONGQING ", "重庆", "重庆市"])
def test_chongqing_names(spec: str) -> None:
    r = region(spec)
    assert r.name == "chongqing"
    assert r is region("chongqing")  # loaded once


def test_list_regions() -> None:
    assert "chongqing" in list_regions()


def test_unknown_region_lists_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        region("atlantis")
    assert info.value.option == "--region"
    assert "atlantis" in str(info.value) and "chongqing" in str(info.value)


def test_shipped_geojson_is_rfc7946_wgs84() -> None:
    from importlib.resources import files

    doc = json.loads(files("kongtian.geo").joinpath("data/chongqing.geojson").read_text("utf-8"))
    feat = doc["features"][0]
    assert "WGS84" in feat["properties"]["datum"]
    geom = shapely.geometry.shape(feat["geometry"])
    assert geom.is_valid
    assert geom.exterior.is_ccw  # RFC 7946 winding: exterior counter-clockwise


# --- bounding boxes -----------------------------------------------------------------


def test_bbox_parse() -> None:
    r = region("105, 28, 111,33")
    assert r.bbox == (105.0, 28.0, 111.0, 33.0)
    assert r.contains(30.0, 108.0).item() and not r.contains(34.0, 108.0).item()


def test_bbox_area_matches_pyproj() -> None:
    r = region("105,28,111,33")
    assert r.area_km2 == pytest.approx(_geod_box_area_km2(105, 28, 111, 33), rel=1e-6)


def test_whole_globe_bbox_area_is_wgs84_surface() -> None:
    assert region("-180,-90,180,90").area_km2 == pytest.approx(WGS84_SURFACE_KM2, rel=1e-9)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("105,28,111", "4 numbers"),
        ("105,28,111,33,1", "4 numbers"),
        ("west,28,111,33", "W is not a number"),
        ("105,28,111,", "N is not a number"),
        ("111,28,105,33", "W < E"),
        ("105,33,111,28", "S < N"),
        ("105,28,105,33", "W < E"),
        ("105,-95,111,33", "S latitude -95"),
        ("105,28,111,91", "N latitude 91"),
        ("-190,28,111,33", "W longitude -190"),
        ("105,28,181,33", "E longitude 181"),
        ("nan,28,111,33", "finite"),
        ("", "region name"),
    ],
)
def test_bbox_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        region(spec)
    assert info.value.option == "--region"
    assert fragment in str(info.value)


def test_bbox_region_direct() -> None:
    r = bbox_region(106.0, 29.0, 107.0, 30.0, name="core")
    assert r.name == "core" and r.bbox == (106.0, 29.0, 107.0, 30.0)


# --- grids --------------------------------------------------------------------------


@pytest.mark.parametrize("step", [0.0, -0.1, float("nan"), float("inf"), "abc", 100.0])
def test_grid_bad_step(cq: Region, step: object) -> None:
    with pytest.raises(ConfigError) as info:
        cq.grid(step)  # type: ignore[arg-type]
    assert info.value.option == "--grid-deg"


def test_grid_rule_on_box() -> None:
    # Edges on multiples of the step: a 1-deg grid over 105..111 x 28..33 is 5 x 6 cells
    # centred on half degrees, all inside.
    g = region("105,28,111,33").grid(1.0)
    assert g.lat_axis_deg.tolist() == [28.5, 29.5, 30.5, 31.5, 32.5]
    assert g.lon_axis_deg.tolist() == [105.5, 106.5, 107.5, 108.5, 109.5, 110.5]
    assert g.mask.all() and g.n_points == 30
    # row-major: latitude index major
    assert g.iy.tolist()[:7] == [0, 0, 0, 0, 0, 0, 1]
    assert (g.lat_deg[0], g.lon_deg[0]) == (28.5, 105.5)
    assert (g.lat_deg[6], g.lon_deg[6]) == (29.5, 105.5)


def test_grid_centres_are_half_multiples(cq: Region) -> None:
    g = cq.grid(0.05)
    for axis in (g.lat_axis_deg, g.lon_axis_deg):
        k = axis / 0.05 - 0.5
        assert np.allclose(k, np.round(k), atol=1e-9)
        assert np.allclose(np.diff(axis), 0.05)
    w, s, e, n = cq.bbox
    assert g.lat_axis_deg[0] >= s and g.lat_axis_deg[-1] <= n
    assert g.lon_axis_deg[0] >= w and g.lon_axis_deg[-1] <= e


def test_whole_globe_grid_cell_areas_sum_to_wgs84_surface() -> None:
    g = region("-180,-90,180,90").grid(1.0)
    assert g.shape == (180, 360) and g.n_points == 64_800
    assert g.cell_area_km2.sum() == pytest.approx(WGS84_SURFACE_KM2, rel=1e-9)


def test_box_cell_areas_match_pyproj() -> None:
    g = region("106,29,107,30").grid(0.5)
    want = _geod_box_area_km2(106.0, 29.0, 106.5, 29.5)
    assert g.cell_area_km2[0] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("step", [0.02, 0.05, 0.1])
def test_grid_area_consistent_with_region_area(cq: Region, step: float) -> None:
    g = cq.grid(step)
    assert isinstance(g, Grid)
    # The inside cells tile the polygon up to a boundary band of half a cell.
    assert g.cell_area_km2.sum() == pytest.approx(cq.area_km2, rel=0.02)
    assert g.cell_area_km2.sum() == pytest.approx(CHONGQING_AREA_KM2, rel=0.03)
    assert np.all(cq.contains(g.lat_deg, g.lon_deg))


def test_grid_point_count_at_5km() -> None:
    # 0.05 deg cell at 30 N is ~5.55 km x 4.82 km = 26.7 km^2 -> ~3080 cells for 82,400 km^2.
    g = region("chongqing").grid(0.05)
    cell_km2 = (0.05 * 111.0) * (0.05 * 111.3 * math.cos(math.radians(30.0)))
    assert g.n_points == pytest.approx(CHONGQING_AREA_KM2 / cell_km2, rel=0.03)


def test_to_2d_round_trip(cq: Region) -> None:
    g = cq.grid(0.1)
    values = np.arange(g.n_points, dtype=float)
    grid2 = g.to_2d(values)
    assert grid2.shape == g.shape
    assert np.array_equal(np.isnan(grid2), ~g.mask)
    assert np.array_equal(grid2[g.mask], values)  # boolean indexing is row-major too
    assert np.array_equal(grid2[g.iy, g.ix], values)
    stacked = g.to_2d(np.stack([values, -values, 2 * values]))
    assert stacked.shape == (3, *g.shape)
    assert np.array_equal(stacked[2][g.mask], 2 * values)
    # integer and boolean inputs come back as float with NaN outside
    assert g.to_2d(np.ones(g.n_points, dtype=bool)).dtype == np.float64


def test_to_2d_wrong_length(cq: Region) -> None:
    g = cq.grid(0.1)
    with pytest.raises(ConfigError, match="points"):
        g.to_2d(np.zeros(g.n_points + 1))
    with pytest.raises(ConfigError):
        g.to_2d(3.0)


# --- GeoJSON files ------------------------------------------------------------------


def test_region_from_geojson(tmp_path) -> None:
    tri = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[106, 29], [107, 29], [106.5, 30], [106, 29]]],
                },
            },
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [0, 0]},
            },
        ],
    }
    path = tmp_path / "tri.geojson"
    path.write_text(json.dumps(tri))
    r = region(str(path))
    assert r.name == "tri"
    assert r.contains([29.3, 29.9], [106.5, 106.1]).tolist() == [True, False]
    assert region_from_geojson(path, name="x").name == "x"


def test_region_from_bad_geojson(tmp_path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature",\n "geometry": }')
    with pytest.raises(FormatError) as info:
        region(str(bad))
    assert str(bad) in str(info.value) and info.value.line == 2
    nopoly = tmp_path / "points.geojson"
    nopoly.write_text('{"type": "Point", "coordinates": [1, 2]}')
    with pytest.raises(FormatError, match="no Polygon"):
        region_from_geojson(nopoly)
    with pytest.raises(ConfigError, match="cannot read"):
        region(str(tmp_path / "missing.geojson"))


# --- sites --------------------------------------------------------------------------


def test_shipped_sites(cq: Region) -> None:
    ss = sites("chongqing")
    assert 3 <= len(ss) <= 6
    assert all(isinstance(s, Site) for s in ss)
    lat = np.array([s.lat_deg for s in ss])
    lon = np.array([s.lon_deg for s in ss])
    assert cq.contains(lat, lon).all()
    assert all(0.0 < s.alt_m < 3000.0 for s in ss)  # Chongqing's relief: ~70 m to ~2800 m
    by_name = {s.name: s for s in ss}
    ap = by_name["jiangbei_airport"]
    # Jiangbei airport (ZUCK) ~ 29.72 N, 106.64 E, elevation 1365 ft
    assert (ap.lat_deg, ap.lon_deg) == pytest.approx((29.72, 106.64), abs=0.01)
    assert ap.alt_m == pytest.approx(1365 * 0.3048, abs=0.1)
    assert ap.lat_rad == pytest.approx(math.radians(ap.lat_deg))
    assert sites("重庆") == ss


def test_sites_unknown_region() -> None:
    with pytest.raises(ConfigError) as info:
        sites("atlantis")
    assert info.value.option == "--region"


def test_parse_site() -> None:
    s = parse_site("29.72,106.64")
    assert (s.lat_deg, s.lon_deg, s.alt_m) == (29.72, 106.64, 0.0)
    s = parse_site(" 31.4 , 109.63 , 300 ")
    assert (s.lat_deg, s.lon_deg, s.alt_m) == (31.4, 109.63, 300.0)
    assert parse_site("0,270").lon_deg == -90.0
    assert parse_site("jiangbei_airport") == sites()[0]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("29.7", "neither"),
        ("29.7,", "LON is not a number"),
        ("a,106", "LAT is not a number"),
        ("29,106,x", "ALT_M is not a number"),
        ("29,106,1,2", "4 fields"),
        ("95,106", "LAT 95"),
        ("29,400", "LON 400"),
        ("29,inf", "finite"),
        ("", "LAT,LON"),
    ],
)
def test_parse_site_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_site(spec)
    assert info.value.option == "--site"
    assert fragment in str(info.value)
