"""Claim: the surveillance pipeline (tracks -> zones -> conflicts -> alerts) processes
>= 200k decoded reports/s on this 2-core machine; end to end from raw ADS-B frames we
report the rate and the share of time spent decoding.

Workload (seeded, from ``bench/workloads.py``): 10k UAVs x 60 reports (1 s apart,
``random_tracks``, seed 7) over the ~500 km Chongqing square, 1k zones
(``random_zone_polygons``, seed 11; kinds cycle no-fly / restricted / alert-only),
conflict look-ahead 60 s with the ``uav_light`` 50 m / 15 m zone, batches of 1 s of feed
time (10k reports each).

- ours: :meth:`kongtian.traffic.pipeline.Pipeline.process` over every batch after a
  one-batch warm-up (numba compilation), with ``track_store=None`` (per-object states,
  the throughput path). Also printed: the same pipeline with the default
  :class:`~kongtian.traffic.tracks.TrackStore` (fusion + history) on the first
  ``--store-batches`` batches; that store's per-track Python loop is the bottleneck.
- anchor: the straightforward implementation, a per-report Python loop (shapely
  ``STRtree.query(point, predicate="within")`` for the zones, a dict of per-object zone
  sets for enter/exit) plus a dense N x N CPA check per batch (numpy pairwise matrices,
  flat projection). The per-report loop is timed on one batch and the dense check at
  ``--dense-n`` tracks, extrapolated to 10k as (N / n)^2; both in this run.
- end to end: pyModeS's ``sample_data_adsb.csv`` (2000 frames, 730 s) replicated
  ``--copies`` times with a time shift per copy, written to a temporary file, then
  :func:`kongtian.traffic.pipeline.replay` (decode + 1 s batches) with a no-fly zone
  on the track. Prints frames/s and the share of time spent decoding.

``ratio`` = ours / anchor (throughput). Run: ``.venv/bin/python bench/bench_pipeline.py``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).parent))
from kongtian.traffic.conflicts import ConflictConfig  # noqa: E402
from kongtian.traffic.pipeline import Pipeline, batches, replay  # noqa: E402
from kongtian.traffic.zones import Zone, ZoneSet  # noqa: E402
from workloads import random_tracks, random_zone_polygons  # noqa: E402

GOAL = 200_000.0
KINDS = ("no-fly", "restricted", "alert-only")
ADSB_CSV = Path(__file__).parents[1] / "tests/data/traffic/adsb/pymodes_sample_data_adsb.csv"


def make_zones(n: int, seed: int) -> ZoneSet:
    polys = random_zone_polygons(n, seed)
    return ZoneSet(Zone(f"z{i}", f"z{i}", KINDS[i % 3], p) for i, p in enumerate(polys))


def run_ours(reports, zs: ZoneSet, store: bool, max_batches: int | None) -> tuple[float, int, dict]:
    cfg = ConflictConfig(lookahead_s=60.0)
    pipe = Pipeline(zs, None, cfg) if store else Pipeline(zs, None, cfg, track_store=None)
    bl = list(batches(reports, 1.0))
    if max_batches is not None:
        bl = bl[: max_batches + 1]
    pipe.process(bl[0])  # warm-up (numba)
    n = sum(b.num_rows for b in bl[1:])
    t0 = time.perf_counter()
    n_ev = 0
    for b in bl[1:]:
        n_ev += pipe.process(b).num_rows
    dt = time.perf_counter() - t0
    return n / dt, n_ev, dict(pipe.stats.alerts_raised)


def anchor_zones_per_report(batch, zs: ZoneSet) -> float:
    """Seconds per report of a per-report shapely loop with enter/exit bookkeeping."""
    geoms = [z.geometry for z in zs.zones]
    tree = shapely.STRtree(geoms)
    lat = batch.column("lat_deg").to_pylist()
    lon = batch.column("lon_deg").to_pylist()
    oid = batch.column("object_id").to_pylist()
    inside: dict[str, set[int]] = {}
    events = 0
    t0 = time.perf_counter()
    for o, la, lo in zip(oid, lat, lon, strict=True):
        now = set(tree.query(shapely.Point(lo, la), predicate="within").tolist())
        before = inside.get(o, set())
        events += len(now - before) + len(before - now)
        inside[o] = now
    return (time.perf_counter() - t0) / len(oid)


def anchor_dense_conflicts(reports, n: int, repeat: int = 3) -> float:
    """Seconds for one dense N x N CPA check over ``n`` tracks (best of ``repeat``)."""
    b = reports.slice(0, n)
    lat = np.radians(b.column("lat_deg").to_numpy())
    lon = np.radians(b.column("lon_deg").to_numpy())
    alt = b.column("alt_m").to_numpy()
    spd = b.column("speed_m_s").to_numpy()
    trk = np.radians(b.column("track_deg").to_numpy())
    r_e, rh, rv, look = 6_371_000.0, 50.0, 15.0, 60.0
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        x = r_e * np.cos(lat.mean()) * lon
        y = r_e * lat
        vx, vy = spd * np.sin(trk), spd * np.cos(trk)
        dx = x[None, :] - x[:, None]
        dy = y[None, :] - y[:, None]
        dvx = vx[None, :] - vx[:, None]
        dvy = vy[None, :] - vy[:, None]
        dv2 = np.maximum(dvx * dvx + dvy * dvy, 1e-9)
        tcpa = np.clip(-(dx * dvx + dy * dvy) / dv2, 0.0, look)
        dcx, dcy = dx + dvx * tcpa, dy + dvy * tcpa
        dz = np.abs(alt[None, :] - alt[:, None])
        hit = (dcx * dcx + dcy * dcy < rh * rh) & (dz < rv)
        np.fill_diagonal(hit, False)
        int(hit.sum())
        best = min(best, time.perf_counter() - t0)
    return best


def crc24(data: bytes) -> int:
    """Mode S parity (CRC-24, generator 0x1FFF409) of ``data``."""
    crc = 0
    for b in data:
        crc ^= b << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1FFF409
    return crc & 0xFFFFFF


def end_to_end(copies: int) -> None:
    rows = [x.split(",") for x in ADSB_CSV.read_text().splitlines() if x.strip()]
    t_first = int(rows[0][0])
    span = int(rows[-1][0]) - t_first
    out = []
    for k in range(copies):
        # Copy k is another aircraft (ICAO address + k, parity recomputed) flying the same
        # path k * span / copies seconds later: ``copies`` aircraft in trail at once.
        for ts, frame, _icao, *rest in rows:
            msg = bytearray(bytes.fromhex(frame.strip('"')))
            icao = (int.from_bytes(msg[1:4], "big") + k) & 0xFFFFFF
            msg[1:4] = icao.to_bytes(3, "big")
            msg[11:14] = crc24(bytes(msg[:11])).to_bytes(3, "big")
            t = int(ts) + (k * span) // copies
            out.append((t, f'{t},"{msg.hex().upper()}","{icao:06X}",{",".join(rest)}'))
    out.sort(key=lambda r: r[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adsb_x.csv"
        path.write_text("\n".join(r[1] for r in out) + "\n")
        zs = ZoneSet([Zone("nfz", "nfz", "no-fly", shapely.box(5.8, 50.0, 6.3, 52.0))])
        pipe = Pipeline(zs, None, ConflictConfig(categories=("manned_ifr",)), track_store=None)
        s = replay([(path, "modes-csv")], pipe)
    frames = len(out)
    print(
        f"end to end: {frames} raw frames (ADS-B CSV x{copies}) -> {s.reports} reports -> "
        f"{s.alert_events} alert events {s.alerts_by_kind} in {s.elapsed_s:.2f} s: "
        f"{frames / s.elapsed_s:,.0f} frames/s, decoding {100 * s.decode_s / s.elapsed_s:.0f} % "
        f"of the time (decode {frames / s.decode_s:,.0f} frames/s, pipeline "
        f"{s.reports / (s.elapsed_s - s.decode_s):,.0f} reports/s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--reports", type=int, default=60)
    ap.add_argument("--zones", type=int, default=1_000)
    ap.add_argument("--dense-n", type=int, default=2_000)
    ap.add_argument("--store-batches", type=int, default=5)
    ap.add_argument("--copies", type=int, default=100)
    a = ap.parse_args()

    reports = random_tracks(a.objects, a.reports, seed=7)
    zs = make_zones(a.zones, seed=11)
    print(
        f"workload: {a.objects} objects x {a.reports} reports = {reports.num_rows} reports, "
        f"{a.zones} zones, 1 s batches"
    )
    ours, n_ev, raised = run_ours(reports, zs, store=False, max_batches=None)
    print(f"ours (per-object states): {ours:,.0f} reports/s; raised {raised}")
    with_store, _, _ = run_ours(reports, zs, store=True, max_batches=a.store_batches)
    print(f"ours with TrackStore fusion ({a.store_batches} batches): {with_store:,.0f} reports/s")

    first = next(iter(batches(reports, 1.0)))
    per_report = anchor_zones_per_report(first, zs)
    dense_n = anchor_dense_conflicts(reports, a.dense_n)
    n_per_batch = first.num_rows
    dense_full = dense_n * (a.objects / a.dense_n) ** 2
    anchor = n_per_batch / (per_report * n_per_batch + dense_full)
    print(
        f"anchor (per-report shapely loop {per_report * 1e6:.1f} us/report + dense N x N "
        f"{dense_full:.2f} s/batch, from {a.dense_n} tracks x (N/n)^2): {anchor:,.0f} reports/s"
    )
    print(f"goal: {GOAL:,.0f} reports/s -> {'met' if ours >= GOAL else 'NOT met'}")
    print(f"ours {ours:,.0f} reports/s  anchor {anchor:,.0f} reports/s  ratio {ours / anchor:.1f}")
    end_to_end(a.copies)


if __name__ == "__main__":
    main()
