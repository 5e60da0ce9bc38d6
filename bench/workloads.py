"""Seeded synthetic workloads for traffic benchmarks (zones, points, tracks).

Every generator takes an explicit ``seed`` and returns the same data for the same
arguments, so benchmark numbers can be compared between runs and machines. Coordinates
are WGS84 degrees, distances metres, times ``datetime64[ns]`` UTC. The default region is
a ~500 km square centred on Chongqing (29.6 N, 106.5 E).

- :func:`random_zone_polygons`: circles as 65-vertex polygons plus a share of irregular
  200-vertex star-shaped polygons (the geofence benchmark workload).
- :func:`random_points`: uniform lon/lat points with altitudes.
- :func:`random_tracks`: straight constant-speed tracks of many objects, as a
  normalised report table (:mod:`kongtian.model.report`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import shapely

CENTRE_LAT_DEG = 29.6
CENTRE_LON_DEG = 106.5
HALF_SIZE_M = 250_000.0
_M_PER_DEG_LAT = 111_320.0


def region_bounds(half_size_m: float = HALF_SIZE_M) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of the square region around the centre."""
    dlat = half_size_m / _M_PER_DEG_LAT
    dlon = half_size_m / (_M_PER_DEG_LAT * np.cos(np.radians(CENTRE_LAT_DEG)))
    return (
        CENTRE_LON_DEG - dlon,
        CENTRE_LAT_DEG - dlat,
        CENTRE_LON_DEG + dlon,
        CENTRE_LAT_DEG + dlat,
    )


def random_zone_polygons(
    n: int,
    seed: int,
    *,
    polygon_share: float = 0.1,
    circle_vertices: int = 65,
    polygon_vertices: int = 200,
    radius_m: tuple[float, float] = (500.0, 5_000.0),
    half_size_m: float = HALF_SIZE_M,
) -> list[shapely.Polygon]:
    """``n`` zone polygons: circles (``circle_vertices`` points, closing one included)
    and, for ``polygon_share`` of them, star-shaped polygons of ``polygon_vertices``
    points with radii jittered 50-100 % of a random radius in ``radius_m``."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = region_bounds(half_size_m)
    lon = rng.uniform(x0, x1, n)
    lat = rng.uniform(y0, y1, n)
    r = rng.uniform(*radius_m, n)
    is_poly = rng.random(n) < polygon_share
    out = []
    for i in range(n):
        k = polygon_vertices if is_poly[i] else circle_vertices
        ang = np.linspace(0, 2 * np.pi, k - 1, endpoint=False)
        rr = r[i] * (rng.uniform(0.5, 1.0, k - 1) if is_poly[i] else 1.0)
        dy = rr * np.sin(ang) / _M_PER_DEG_LAT
        dx = rr * np.cos(ang) / (_M_PER_DEG_LAT * np.cos(np.radians(lat[i])))
        ring = np.column_stack([lon[i] + dx, lat[i] + dy])
        out.append(shapely.Polygon(np.vstack([ring, ring[:1]])))
    return out


def random_points(
    n: int,
    seed: int,
    *,
    half_size_m: float = HALF_SIZE_M,
    alt_m: tuple[float, float] = (0.0, 3000.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat_deg, lon_deg, alt_m) arrays of ``n`` uniform points over the region."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = region_bounds(half_size_m)
    return rng.uniform(y0, y1, n), rng.uniform(x0, x1, n), rng.uniform(*alt_m, n)


def random_tracks(
    n_objects: int,
    n_reports: int,
    seed: int,
    *,
    start_utc: str = "2026-01-01T00:00:00",
    step_s: float = 1.0,
    speed_m_s: tuple[float, float] = (5.0, 60.0),
    half_size_m: float = HALF_SIZE_M,
) -> pa.Table:
    """Report table of ``n_objects`` straight tracks with ``n_reports`` reports each.

    Objects ``uas:obj<i>`` fly a random constant heading and speed at a random constant
    altitude (``msl``); rows are ordered by time, then object.
    """
    from kongtian.model.report import report_table

    rng = np.random.default_rng(seed)
    lat0, lon0, alt = random_points(
        n_objects, seed + 1, half_size_m=half_size_m, alt_m=(0.0, 500.0)
    )
    v = rng.uniform(*speed_m_s, n_objects)
    hdg = rng.uniform(0, 2 * np.pi, n_objects)
    k = np.arange(n_reports)[:, None]
    d = v * step_s * k
    lat = lat0 + d * np.cos(hdg) / _M_PER_DEG_LAT
    lon = lon0 + d * np.sin(hdg) / (_M_PER_DEG_LAT * np.cos(np.radians(lat0)))
    t0 = np.datetime64(start_utc, "ns")
    t = (
        t0
        + (k * step_s * 1e9).astype("timedelta64[ns]")
        + np.zeros((1, n_objects), dtype="timedelta64[ns]")
    )
    ids = np.array([f"uas:obj{i}" for i in range(n_objects)], dtype=object)
    size = n_objects * n_reports
    return report_table(
        {
            "object_id": np.broadcast_to(ids, (n_reports, n_objects)).ravel(),
            "source": np.full(size, "remoteid-net", dtype=object),
            "time_utc": t.ravel(),
            "lat_deg": lat.ravel(),
            "lon_deg": lon.ravel(),
            "alt_m": np.broadcast_to(alt, (n_reports, n_objects)).ravel(),
            "alt_ref": np.full(size, "msl", dtype=object),
            "speed_m_s": np.broadcast_to(v, (n_reports, n_objects)).ravel(),
            "track_deg": np.broadcast_to(np.degrees(hdg), (n_reports, n_objects)).ravel(),
            "vrate_m_s": np.zeros(size),
        }
    )
