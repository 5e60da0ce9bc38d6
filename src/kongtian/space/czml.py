"""CZML (Cesium's time-dynamic scene format) for satellites and coverage results.

A CZML document is a JSON list of packets; the first has ``id == "document"`` and sets
the clock. Satellite positions are written as sampled Earth-fixed (``"FIXED"`` = ITRF)
cartesians ``[t, x, y, z, ...]`` with ``t`` in seconds from ``epoch``, metres, and
Lagrange interpolation of degree 5 (smooth at 30-60 s sampling of LEO orbits). Samples
where SGP4 failed are left out. Coverage points are static ``cartographicDegrees`` with a
colour from the coverage fraction; a region outline, when the dataset carries one, is a
polyline clamped to the ground. No network access is needed to write or read the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.time import as_utc, iso_utc
from kongtian.space.catalog import Catalog


def _interval(t0: np.datetime64, t1: np.datetime64) -> str:
    return f"{iso_utc(t0, 3)[0]}/{iso_utc(t1, 3)[0]}"


def czml_document(
    catalog: Catalog,
    times_or_ephemeris: Any,
    positions_itrf_m: Any = None,
    *,
    name: str = "Kongtian",
    coverage_ds: Any = None,
    multiplier: float = 60.0,
    decimals: int = 1,
    color_rgba: tuple[int, int, int, int] = (255, 200, 0, 255),
) -> list[dict[str, Any]]:
    """Build CZML packets for ``catalog`` moving along ITRF positions.

    Pass an ITRF :class:`~kongtian.space.propagate.Ephemeris`, or UTC times (T,) and
    positions (N, T, 3) in metres. ``coverage_ds`` (from
    :func:`kongtian.space.coverage.coverage`) adds its points coloured by coverage
    fraction (red 0 -> green 1) and the region outline. Positions are rounded to
    ``decimals`` decimals of a metre.
    """
    if positions_itrf_m is None:
        eph = times_or_ephemeris
        if getattr(eph, "frame", "itrf") != "itrf":
            raise ConfigError("CZML FIXED positions need an ITRF ephemeris", option="frame")
        times, pos = eph.time_utc, eph.r_m
    else:
        times, pos = times_or_ephemeris, positions_itrf_m
    t = np.atleast_1d(as_utc(times))
    r = np.asarray(pos, dtype=float)
    if r.ndim != 3 or r.shape[0] != len(catalog) or r.shape[1] != t.size or r.shape[2] != 3:
        raise ConfigError(
            f"positions must be (N={len(catalog)}, T={t.size}, 3), got {r.shape}",
            option="positions",
        )
    if t.size == 0:
        raise ConfigError("no times", option="times")
    epoch = t[0]
    avail = _interval(t[0], t[-1])
    secs = (t - epoch).astype(np.int64) / 1e9
    packets: list[dict[str, Any]] = [{
        "id": "document",
        "name": name,
        "version": "1.0",
        "clock": {
            "interval": avail,
            "currentTime": str(iso_utc(epoch, 3)[0]),
            "multiplier": float(multiplier),
            "range": "LOOP_STOP",
            "step": "SYSTEM_CLOCK_MULTIPLIER",
        },
    }]  # fmt: skip
    seen: set[str] = set()
    for i in range(len(catalog)):
        ok = np.all(np.isfinite(r[i]), axis=1)
        if not ok.any():
            continue
        pid = f"sat-{int(catalog.norad_id[i])}"
        if pid in seen:
            pid = f"{pid}-{i}"
        seen.add(pid)
        samples = np.column_stack([secs[ok], np.round(r[i, ok], decimals)]).ravel()
        packets.append({
            "id": pid,
            "name": str(catalog.name[i]).strip(),
            "availability": avail,
            "position": {
                "epoch": str(iso_utc(epoch, 3)[0]),
                "referenceFrame": "FIXED",
                "interpolationAlgorithm": "LAGRANGE",
                "interpolationDegree": 5,
                "cartesian": samples.tolist(),
            },
            "point": {"pixelSize": 4, "color": {"rgba": list(color_rgba)}},
        })  # fmt: skip
    if coverage_ds is not None:
        packets.extend(_coverage_packets(coverage_ds))
    return packets


def _rgba(frac: float) -> list[int]:
    f = 0.0 if not np.isfinite(frac) else min(1.0, max(0.0, float(frac)))
    return [int(round(255 * (1 - f))), int(round(200 * f)), 40, 200]


def _coverage_packets(ds: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    lat = ds["lat_deg"].values
    lon = ds["lon_deg"].values
    cov = ds["coverage_fraction"].values
    gap = ds["max_gap_s"].values
    for i in range(lat.size):
        out.append({
            "id": f"pt-{i}",
            "name": f"point {i}",
            "description": f"coverage {cov[i]:.4f}, max gap {gap[i]:.0f} s",
            "position": {"cartographicDegrees": [float(lon[i]), float(lat[i]), 0.0]},
            "point": {"pixelSize": 6, "color": {"rgba": _rgba(cov[i])},
                      "heightReference": "CLAMP_TO_GROUND"},
        })  # fmt: skip
    wkt = ds.attrs.get("region_wkt")
    if wkt:
        import shapely

        geom = shapely.from_wkt(wkt)
        polys = list(getattr(geom, "geoms", [geom]))
        for j, poly in enumerate(polys):
            ring = np.asarray(poly.exterior.coords)
            flat = np.column_stack([ring[:, 0], ring[:, 1], np.zeros(len(ring))]).ravel()
            out.append({
                "id": f"region-{j}",
                "name": str(ds.attrs.get("region", "region")),
                "polyline": {"positions": {"cartographicDegrees": flat.tolist()},
                             "width": 2, "clampToGround": True,
                             "material": {"solidColor": {"color": {"rgba": [0, 160, 255, 255]}}}},
            })  # fmt: skip
    return out


def write_czml(path: str | Path, packets: list[dict[str, Any]]) -> Path:
    """Write packets as a CZML file (JSON, UTF-8)."""
    p = Path(path)
    if not packets or packets[0].get("id") != "document":
        raise ConfigError("the first packet must be the document packet", option="packets")
    try:
        p.write_text(json.dumps(packets, separators=(",", ":"), allow_nan=False), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {p}: {exc.strerror}", option="out") from None
    return p


def sample_positions(
    packet: dict[str, Any],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(seconds from epoch, (K, 3) metres) of a satellite packet, e.g. to check a file."""
    arr = np.asarray(packet["position"]["cartesian"], dtype=float).reshape(-1, 4)
    return arr[:, 0], arr[:, 1:]
