"""Pictures of coverage and handover results (matplotlib, Agg canvas, no network).

Maps are plain lon/lat axes with the region outline drawn from its polygon (no basemap
tiles). Each function writes one PNG (or any format matplotlib infers from the suffix)
and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kongtian.errors import ConfigError


def _figure(w: float, h: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    p = Path(path)
    try:
        fig.savefig(p)
    except OSError as exc:
        raise ConfigError(f"cannot write {p}: {exc.strerror}", option="plot") from None
    return p


def _outline(region: Any, ds: Any) -> Any:
    if region is not None:
        return getattr(region, "geometry", region)
    wkt = ds.attrs.get("region_wkt")
    if wkt:
        import shapely

        return shapely.from_wkt(wkt)
    return None


def _draw_outline(ax: Any, geom: Any) -> None:
    if geom is None:
        return
    for poly in getattr(geom, "geoms", [geom]):
        x, y = poly.exterior.xy
        ax.plot(x, y, color="k", lw=1.0)
        for hole in poly.interiors:
            hx, hy = hole.xy
            ax.plot(hx, hy, color="k", lw=0.6)


def _inputs(ds: Any) -> str:
    a = ds.attrs
    return (f"{a.get('n_satellites', '?')} satellites, mask {a.get('min_elev_deg', '?')} deg, "
            f"k = {a.get('k', '?')}, step {a.get('step_s', '?')} s, "
            f"{a.get('start_utc', '')} + {float(a.get('window_s', 0)) / 3600:.1f} h")  # fmt: skip


def plot_coverage_map(ds: Any, path: str | Path, region: Any = None) -> Path:
    """Coverage fraction and maximum gap side by side, with the region outline."""
    fig = _figure(12, 5)
    axes = fig.subplots(1, 2)
    geom = _outline(region, ds)
    panels = [("coverage_fraction", "coverage fraction", "viridis", 1.0),
              ("max_gap_s", "max gap (min)", "magma_r", 1 / 60)]  # fmt: skip
    for ax, (var, label, cmap, scale) in zip(axes, panels, strict=True):
        if f"{var}_map" in ds:
            lat = ds["lat"].values
            lon = ds["lon"].values
            z = ds[f"{var}_map"].values * scale
            im = ax.pcolormesh(lon, lat, np.ma.masked_invalid(z), cmap=cmap, shading="nearest")
        else:
            im = ax.scatter(ds["lon_deg"].values, ds["lat_deg"].values, c=ds[var].values * scale,
                            cmap=cmap, s=25)  # fmt: skip
        if var == "coverage_fraction":
            # The data range, so small differences show (the colour bar states it);
            # a single value gets a small band around it instead of an empty scale.
            vals = ds[var].values
            lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
            if hi - lo < 1e-3:
                lo, hi = max(0.0, lo - 0.005), min(1.0, hi + 0.005)
                lo, hi = (lo, lo + 0.01) if hi <= lo else (lo, hi)
            im.set_clim(lo, hi)
        _draw_outline(ax, geom)
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
        ax.set_xlabel("longitude (deg E)")
        ax.set_ylabel("latitude (deg N)")
        ax.set_aspect(1.0 / np.cos(np.radians(float(np.nanmean(ds["lat_deg"].values)))))
        ax.set_title(label)
    name = ds.attrs.get("region", "")
    fig.suptitle(f"Coverage{' of ' + name if name else ''}: {_inputs(ds)}\n"
                 f"mean coverage {ds.attrs.get('mean_coverage_fraction', float('nan')):.4f}, "
                 f"worst gap {ds.attrs.get('max_gap_s', float('nan')):.0f} s", fontsize=10)  # fmt: skip
    return _save(fig, path)


def plot_visible_timeseries(ds: Any, path: str | Path, max_lines: int = 8) -> Path:
    """Visible satellites over time: one line per point for a few points, else the
    mean over points with the min-max band."""
    fig = _figure(11, 4)
    ax = fig.subplots()
    t = ds["time"].values
    c = ds["visible_count"].values
    if c.shape[1] <= max_lines:
        names = (
            ds["name"].values if "name" in ds.coords else [f"point {i}" for i in range(c.shape[1])]
        )
        for i in range(c.shape[1]):
            ax.step(t, c[:, i], where="mid", lw=0.9, label=str(names[i]))
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.fill_between(
            t, c.min(axis=1), c.max(axis=1), step="mid", alpha=0.3, label="min-max over points"
        )
        ax.plot(t, c.mean(axis=1), lw=1.0, label="mean over points")
        ax.legend(fontsize=8)
    k = int(ds.attrs.get("k", 1))
    ax.axhline(k, color="r", lw=0.8, ls="--")
    ax.set_ylabel("visible satellites")
    ax.set_xlabel("time (UTC)")
    ax.set_title(f"Visible satellites: {_inputs(ds)}", fontsize=10)
    return _save(fig, path)


def plot_handover(ds: Any, path: str | Path, max_sites: int = 6) -> Path:
    """Serving satellite's elevation per terminal, handovers marked."""
    sites = ds["site"].values[:max_sites]
    fig = _figure(11, 2.2 * len(sites) + 0.6)
    axes = np.atleast_1d(fig.subplots(len(sites), 1, sharex=True, squeeze=False)[:, 0])
    t = ds["time"].values
    for i, ax in enumerate(axes):
        el = ds["elevation_deg"].values[i]
        srv = ds["serving_index"].values[i]
        ax.plot(t, el, lw=0.9)
        ho = np.flatnonzero((srv[1:] >= 0) & (srv[:-1] >= 0) & (srv[1:] != srv[:-1])) + 1
        ax.plot(t[ho], el[ho], "r|", ms=10, label="handover")
        ax.set_ylabel("elev (deg)")
        ax.set_ylim(float(ds.attrs.get("min_elev_deg", 0.0)) - 2, 92)
        ax.set_title(f"{sites[i]}: {int(ds['handover_count'].values[i])} handovers, "
                     f"outage {float(ds['outage_s'].values[i]):.0f} s", fontsize=9)  # fmt: skip
    axes[-1].set_xlabel("time (UTC)")
    fig.suptitle(f"Serving satellite ({ds.attrs.get('policy')}), mask {ds.attrs.get('min_elev_deg')} deg",
                 fontsize=10)  # fmt: skip
    return _save(fig, path)
