"""``kongtian demo``: a Chongqing study on the real catalogs shipped with the package.

What an operator's application lab asks first about a city of mountains and valleys:

1. Qianfan (108 real element sets, 2026-02-20): passes over named sites, coverage and
   gap maps over the municipality, and what adding a published shell would change.
2. Starlink (6,909 real element sets, 2025-01-23): coverage over the same grid, and the
   serving satellite and handovers of terminals (one in a valley with an illustrative
   terrain mask) under three serving policies, with delay and Ku-band Doppler.

Everything is written to one folder (CSV, netCDF, PNG, CZML, ``summary.json``) and a
summary table is printed. No network, no servers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from kongtian.geo.regions import Site, region, sites
from kongtian.geo.terrain import HorizonMask
from kongtian.geo.time import as_utc
from kongtian.space.catalog import Catalog
from kongtian.space.catalogs import shipped_catalog

MASK_DEG = 25.0
KU_DOWNLINK_HZ = 11.7e9

# No DEM ships yet: this valley mask is illustrative (ridges to the north-west and
# south-east, as in the Daning river valley around Wuxi), not surveyed.
VALLEY_MASK = HorizonMask(
    np.array([0.0, 60.0, 120.0, 150.0, 180.0, 240.0, 300.0, 330.0]),
    np.array([20.0, 12.0, 25.0, 35.0, 25.0, 12.0, 30.0, 35.0]),
)


def run_demo(out: Path, *, quick: bool = False, console: Any = None) -> dict[str, Any]:
    """Run the study, write the report into ``out`` and return the summary dict."""
    from rich.console import Console

    con = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    grid_deg = 0.25 if quick else 0.1
    hours = 3.0 if quick else 24.0
    step_s = 60.0 if quick else 30.0
    cq = region("chongqing")
    grid = cq.grid(grid_deg)
    cq_sites = sites("chongqing")
    summary: dict[str, Any] = {
        "region": {
            "name": cq.name,
            "area_km2": round(cq.area_km2),
            "grid_deg": grid_deg,
            "grid_points": int(grid.lat_deg.size),
        },  # fmt: skip
        "mask_deg": MASK_DEG,
        "window_hours": hours,
        "step_s": step_s,
    }

    # ------------------------------------------------------------------ Qianfan
    qf = shipped_catalog("qianfan")
    qf_t0 = as_utc("2026-02-20T00:00:00Z")
    con.rule("[bold]Qianfan (千帆): 108 real element sets, 2026-02-20")
    summary["qianfan"] = _study(
        con, out, "qianfan", qf, qf_t0, hours, step_s, grid, cq, cq_sites, with_passes=True
    )
    # What if a published shell were added? Guowang GW-2 at 50 deg (27 x 64, 1145 km).
    from kongtian.space.walker import shell_catalog, shell_spec

    extra_key = "guowang-gw-2-3"
    try:
        spec = shell_spec(extra_key)
    except Exception:  # noqa: BLE001 - table keys are data; fall back to the first Guowang shell
        from kongtian.space.walker import list_shells

        extra_key = next(k for k in list_shells() if k.startswith("guowang"))
        spec = shell_spec(extra_key)
    extra = shell_catalog(extra_key, epoch_utc=qf_t0)
    both = Catalog.concat([qf, extra])
    alt_km = (spec.altitude_m or float("nan")) / 1e3
    con.print(f"what-if: Qianfan + shell {extra_key} ({spec.total} satellites, "
              f"{spec.inclination_deg:g} deg, {alt_km:.0f} km)")  # fmt: skip
    what_if = _coverage(con, out, "qianfan_plus_" + extra_key, both, qf_t0, hours, step_s, grid, cq)
    summary["what_if"] = {"added_shell": extra_key, "added_satellites": spec.total,
                          "label": f"QF + {spec.inclination_deg:g}°/{alt_km:.0f}km shell",
                          **what_if}  # fmt: skip

    # ------------------------------------------------------------------ Starlink
    sl = shipped_catalog("starlink")
    sl_t0 = as_utc("2025-01-23T00:00:00Z")
    con.rule("[bold]Starlink: 6,909 real element sets, 2025-01-23")
    summary["starlink"] = _study(
        con, out, "starlink", sl, sl_t0, hours, step_s, grid, cq, cq_sites, with_passes=False
    )
    summary["handover"] = _handover(con, out, sl, sl_t0, cq_sites, quick)

    summary["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    _print_table(summary, out)
    return summary


# --------------------------------------------------------------------------- parts
def _study(con: Any, out: Path, label: str, cat: Catalog, t0: Any, hours: float, step_s: float,
           grid: Any, cq: Any, cq_sites: list[Site], *, with_passes: bool) -> dict[str, Any]:  # fmt: skip
    res: dict[str, Any] = {"satellites": len(cat)}
    if with_passes:
        res["passes"] = _passes(con, out, label, cat, t0, hours, cq_sites)
    res.update(_coverage(con, out, label, cat, t0, hours, step_s, grid, cq))
    return res


def _passes(con: Any, out: Path, label: str, cat: Catalog, t0: Any, hours: float,
            cq_sites: list[Site]) -> dict[str, Any]:  # fmt: skip
    from kongtian.space.passes import find_passes

    lat = np.array([s.lat_deg for s in cq_sites])
    lon = np.array([s.lon_deg for s in cq_sites])
    alt = np.array([s.alt_m for s in cq_sites])
    with _bar(con, f"{label}: passes over {len(cq_sites)} sites") as upd:
        p = find_passes(cat, lat, lon, alt, start_utc=t0,
                        end_utc=t0 + np.timedelta64(int(hours * 3600), "s"),
                        min_elev_deg=MASK_DEG, progress=upd)  # fmt: skip
    path = out / f"passes_{label}.csv"
    p.to_csv(path)
    df = p.to_dataframe()
    per_site = {}
    for i, s in enumerate(cq_sites):
        d = df[df["site_index"] == i] if "site_index" in df else df
        dur = p.duration_s[np.asarray(p.site_index) == i]
        per_site[s.name] = {
            "passes": int(len(d)),
            "mean_duration_s": round(float(np.nanmean(dur)), 1) if dur.size else None,
            "max_elev_deg": round(float(np.nanmax(d["max_elev_deg"])), 2) if len(d) else None,
        }
    con.print(f"  {len(p)} passes above {MASK_DEG:g} deg -> {path.name}")
    return {"file": path.name, "total": int(len(p)), "per_site": per_site}


def _coverage(con: Any, out: Path, label: str, cat: Catalog, t0: Any, hours: float,
              step_s: float, grid: Any, cq: Any) -> dict[str, Any]:  # fmt: skip
    from kongtian.space import coverage as cov
    from kongtian.space.plots import plot_coverage_map, plot_visible_timeseries

    with _bar(con, f"{label}: coverage, {grid.lat_deg.size} points") as upd:
        ds = cov.coverage(cat, grid.lat_deg, grid.lon_deg, 0.0, start_utc=t0,
                          duration_s=hours * 3600.0, step_s=step_s, min_elev_deg=MASK_DEG,
                          k=1, grid=grid, region=cq, progress=upd)  # fmt: skip
    nc = cov.save(ds, out / f"coverage_{label}.nc")
    png = plot_coverage_map(ds, out / f"coverage_{label}.png", region=cq)
    ts = plot_visible_timeseries(ds, out / f"visible_{label}.png")
    s = cov.summary(ds)
    con.print(f"  coverage {s['mean_coverage_fraction']:.3f}, worst gap {s['max_gap_s']:.0f} s, "
              f"mean visible {s['mean_visible']:.1f} -> {Path(nc).name}, {Path(png).name}")  # fmt: skip
    keep = ("mean_coverage_fraction", "min_point_coverage_fraction", "max_gap_s", "mean_visible")
    return {**{k: s[k] for k in keep}, "files": [Path(nc).name, Path(png).name, Path(ts).name]}


def _handover(con: Any, out: Path, cat: Catalog, t0: Any, cq_sites: list[Site],
              quick: bool) -> dict[str, Any]:  # fmt: skip
    from kongtian.space.handover import handover_summary, serving_timeline
    from kongtian.space.plots import plot_handover

    by_name = {s.name: s for s in cq_sites}
    airport = next((s for n, s in by_name.items() if "jiangbei" in n.lower()), cq_sites[0])
    valley = next((s for n, s in by_name.items() if "wuxi" in n.lower()), cq_sites[-1])
    terminals = [
        airport,
        Site(valley.name + " (valley mask)", valley.lat_deg, valley.lon_deg, valley.alt_m),
    ]
    masks = [HorizonMask.constant(MASK_DEG), VALLEY_MASK]
    dur = 1800.0 if quick else 7200.0
    res: dict[str, Any] = {"window_s": dur, "step_s": 5.0, "carrier_hz": KU_DOWNLINK_HZ,
                           "terminals": [t.name for t in terminals], "policies": {}}  # fmt: skip
    for policy in ("max_elevation", "longest_visibility", "min_range"):
        with _bar(con, f"starlink: serving satellite, {policy}") as _:
            ds = serving_timeline(cat, terminals, start_utc=t0, duration_s=dur, step_s=5.0,
                                  min_elev_deg=MASK_DEG, policy=policy,
                                  carrier_hz=KU_DOWNLINK_HZ, horizon=masks)  # fmt: skip
        png = plot_handover(ds, out / f"handover_{policy}.png")
        rows = handover_summary(ds)
        res["policies"][policy] = {"terminals": rows, "plot": Path(png).name}
        counts = ", ".join(f"{r['site']}: {r['handover_count']}" for r in rows)
        con.print(f"  {policy}: handovers in {dur / 3600:g} h -> {counts}")
    return res


# --------------------------------------------------------------------------- output
class _bar:
    """A transient progress bar on the console (stderr)."""

    def __init__(self, con: Any, text: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("  {task.description}"), BarColumn(), TimeElapsedColumn(),
                           console=con, transient=True)  # fmt: skip
        self._text = text

    def __enter__(self) -> Any:
        self._p.start()
        task = self._p.add_task(self._text, total=None)

        def upd(done: int, total: int) -> None:
            self._p.update(task, completed=done, total=total)

        return upd

    def __exit__(self, *exc: Any) -> None:
        self._p.stop()


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _print_table(summary: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    tab = Table(title=f"Chongqing ({summary['region']['area_km2']:,} km², "
                      f"{summary['region']['grid_points']} points at {summary['region']['grid_deg']} deg), "
                      f"mask {summary['mask_deg']:g} deg, {summary['window_hours']:g} h")  # fmt: skip
    for col in (
        "constellation",
        "satellites",
        "coverage",
        "worst point",
        "max gap",
        "mean visible",
    ):
        first = col == "constellation"
        tab.add_column(col, justify="left" if first else "right", no_wrap=first)
    rows = [("Qianfan", summary["qianfan"]), ("Starlink", summary["starlink"]),
            (summary["what_if"]["label"],
             {**summary["what_if"], "satellites": summary["qianfan"]["satellites"]
              + summary["what_if"]["added_satellites"]})]  # fmt: skip
    for name, r in rows:
        tab.add_row(name, f"{r['satellites']:,}", f"{r['mean_coverage_fraction']:.1%}",
                    f"{r['min_point_coverage_fraction']:.1%}", f"{r['max_gap_s'] / 60:.1f} min",
                    f"{r['mean_visible']:.1f}")  # fmt: skip
    con.print(tab)
    ps = summary["qianfan"].get("passes", {}).get("per_site", {})
    if ps:
        pt = Table(title="Qianfan passes above the mask, per site")
        for col in ("site", "passes", "mean duration", "highest"):
            pt.add_column(col)
        for name, r in ps.items():
            pt.add_row(name, str(r["passes"]),
                       f"{r['mean_duration_s']:.0f} s" if r["mean_duration_s"] else "-",
                       f"{r['max_elev_deg']:.1f} deg" if r["max_elev_deg"] else "-")  # fmt: skip
        con.print(pt)
    ht = Table(title="Starlink serving satellite: handovers per terminal")
    ht.add_column("policy")
    names = summary["handover"]["terminals"]
    for n in names:
        ht.add_column(n)
    for pol, r in summary["handover"]["policies"].items():
        ht.add_row(
            pol, *[f"{t['handover_count']} ({t['outage_s']:.0f} s outage)" for t in r["terminals"]]
        )
    con.print(ht)
    con.print(f"report: {out.resolve()}  ({summary['elapsed_s']} s)")
