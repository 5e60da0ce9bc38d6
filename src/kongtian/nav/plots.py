"""Solution plots (matplotlib, Agg, files not windows): ENU errors, skyplot, DOP, fix status.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` built without
``pyplot`` (no global state, no display needed); :func:`write_plots` saves them as PNG.
Conventions:

- Times are GPST ``datetime64[ns]`` (the solution's ``time_gpst``), plotted as UTC-less
  calendar times labelled GPST.
- ENU errors (m) are ``R_enu (x - x_ref)`` with the rotation at the reference position
  (WGS 84 geodetic latitude/longitude), the same convention as the RTK tests.
- Azimuth clockwise from north, elevation above the local horizon (rad inside, degrees
  on the plots); satellite positions from the broadcast ephemerides at the receiver epoch
  minus a nominal 75 ms travel time (a 20 ms error moves a GPS satellite by ~80 m, i.e.
  microradians as seen from the ground).
- Quality codes and colours follow RTKLIB's rtkplot: 1 fix green, 2 float orange,
  4 DGNSS blue, 5 single red.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kongtian.geo.frames import ecef_to_geodetic, enu_matrix
from kongtian.nav.double_diff import elevation_az, geometric_range
from kongtian.nav.ephemeris import sat_pos_clk

if TYPE_CHECKING:
    from kongtian.nav.rinex_nav import NavData
    from kongtian.nav.rinex_obs import ObsData

__all__ = [
    "QUALITY_COLOURS",
    "SYSTEM_COLOURS",
    "SkyTracks",
    "dop_from_azel",
    "enu_errors",
    "plot_dop_counts",
    "plot_enu_error",
    "plot_fix_status",
    "plot_skyplot",
    "sky_tracks",
    "write_plots",
]

F64 = npt.NDArray[np.float64]

QUALITY_COLOURS: dict[int, tuple[str, str]] = {
    1: ("fix", "tab:green"),
    2: ("float", "tab:orange"),
    4: ("DGNSS", "tab:blue"),
    5: ("single", "tab:red"),
}
SYSTEM_COLOURS: dict[str, tuple[str, str]] = {
    "G": ("GPS", "tab:blue"),
    "R": ("GLONASS", "tab:red"),
    "E": ("Galileo", "tab:purple"),
    "C": ("BeiDou", "tab:orange"),
    "J": ("QZSS", "tab:green"),
    "I": ("NavIC", "tab:brown"),
    "S": ("SBAS", "tab:gray"),
}
_NOMINAL_TRAVEL_NS = 75_000_000


@dataclass(frozen=True)
class SkyTracks:
    """Azimuth/elevation (rad) of the satellites a receiver observed, per epoch.

    ``az_rad``/``el_rad`` have shape (T, S) over ``time_gpst`` (T,) and ``sv`` (S,); NaN
    where the satellite was not observed (no finite pseudorange) or had no ephemeris.
    """

    time_gpst: npt.NDArray[np.datetime64]
    sv: list[str]
    az_rad: F64
    el_rad: F64


def sky_tracks(
    obs: ObsData,
    nav: NavData,
    time_gpst: Any,
    pos_ecef_m: Any,
    *,
    systems: str | None = None,
) -> SkyTracks:
    """Tracks of the satellites observed in ``obs`` at the epochs ``time_gpst`` (T,)
    seen from the positions ``pos_ecef_m`` (T, 3) (e.g. a solution's).

    Epochs of ``time_gpst`` absent from ``obs`` (beyond 0.5 s) get NaN everywhere.
    """
    ds = obs.data
    t = np.asarray(time_gpst, dtype="datetime64[ns]")
    pos = np.asarray(pos_ecef_m, dtype=np.float64).reshape(-1, 3)
    sv_all = [str(s) for s in ds.sv.values]
    sv = [s for s in sv_all if systems is None or s[0] in systems]
    cols = np.array([sv_all.index(s) for s in sv], dtype=np.int64)
    t_obs = ds.time.values.astype("datetime64[ns]")
    # Observed = any finite pseudorange of the satellite at that epoch.
    seen_all = np.zeros((len(t_obs), len(sv_all)), dtype=bool)
    for name in ds.data_vars:
        code = str(name)
        if len(code) == 3 and code[0] == "C":
            seen_all |= np.isfinite(ds[code].values)
    row = np.searchsorted(t_obs, t)
    row = np.clip(row, 0, max(len(t_obs) - 1, 0))
    ok_t = np.abs((t_obs[row] - t) / np.timedelta64(1, "ms")) <= 500 if len(t_obs) else row < 0
    nt, ns = len(t), len(sv)
    az = np.full((nt, ns), np.nan)
    el = np.full((nt, ns), np.nan)
    if nt == 0 or ns == 0:
        return SkyTracks(t, sv, az, el)
    seen = seen_all[row][:, cols] & ok_t[:, None] & np.all(np.isfinite(pos), axis=1)[:, None]
    t_tx = np.broadcast_to((t - np.timedelta64(_NOMINAL_TRAVEL_NS, "ns"))[:, None], (nt, ns))
    svs = np.broadcast_to(np.asarray(sv, dtype=str)[None, :], (nt, ns))
    st = sat_pos_clk(nav, svs.ravel(), t_tx.ravel(), t_select_gpst=np.repeat(t, ns))
    sat = st.pos_ecef_m.reshape(nt, ns, 3)
    valid = st.valid.reshape(nt, ns) & seen
    for i in range(nt):
        if not valid[i].any():
            continue
        _, los = geometric_range(sat[i], pos[i])
        e, a = elevation_az(los, pos[i])
        az[i] = np.where(valid[i], a, np.nan)
        el[i] = np.where(valid[i], e, np.nan)
    return SkyTracks(t, sv, az, el)


def dop_from_azel(sv: Sequence[str], az_rad: Any, el_rad: Any, mask_deg: float = 15.0) -> F64:
    """(GDOP, PDOP, HDOP, VDOP) per epoch (T, 4) of the satellites above ``mask_deg``,
    one receiver clock per system (as in SPP); NaN where the geometry is singular."""
    az = np.atleast_2d(np.asarray(az_rad, dtype=np.float64))
    el = np.atleast_2d(np.asarray(el_rad, dtype=np.float64))
    letters = sorted({s[0] for s in sv})
    sys_col = np.array([letters.index(s[0]) for s in sv], dtype=np.int64)
    out = np.full((az.shape[0], 4), np.nan)
    mask = np.radians(mask_deg)
    for i in range(az.shape[0]):
        use = np.isfinite(el[i]) & (el[i] >= mask)
        if not use.any():
            continue
        ce, se = np.cos(el[i, use]), np.sin(el[i, use])
        g = [ce * np.sin(az[i, use]), ce * np.cos(az[i, use]), se]
        present = sorted(set(sys_col[use].tolist()))
        g += [(sys_col[use] == c).astype(np.float64) for c in present]
        h = np.stack(g, axis=1)
        if h.shape[0] < h.shape[1]:
            continue
        try:
            q = np.linalg.inv(h.T @ h)
        except np.linalg.LinAlgError:
            continue
        d = np.diag(q)
        out[i] = [np.sqrt(d.sum()), np.sqrt(d[:3].sum()), np.sqrt(d[:2].sum()), np.sqrt(d[2])]
    return out


def enu_errors(pos_ecef_m: Any, ref_ecef_m: Any) -> F64:
    """East/north/up differences (m, (T, 3)) of positions from a reference position."""
    ref = np.asarray(ref_ecef_m, dtype=np.float64)
    lat, lon, _ = ecef_to_geodetic(ref)
    rot = enu_matrix(lat, lon)
    return np.asarray((np.asarray(pos_ecef_m, dtype=np.float64) - ref) @ rot.T)


def _rms(x: F64) -> float:
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.mean(x**2))) if x.size else float("nan")


def plot_enu_error(
    time_gpst: Any,
    pos_ecef_m: Any,
    ref_ecef_m: Any,
    quality: Any = None,
    *,
    ref_label: str = "reference",
) -> Figure:
    """Three stacked panels E, N, U (m) of ``pos - ref`` against time, points coloured by
    quality. In each panel the first line (label ``"all"``) holds every epoch's value,
    the following ones the epochs of one quality code."""
    t = np.asarray(time_gpst, dtype="datetime64[ns]")
    enu = enu_errors(pos_ecef_m, ref_ecef_m)
    q = np.full(len(t), 0) if quality is None else np.asarray(quality).astype(np.int64)
    fig = Figure(figsize=(9, 7), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    for k, (ax, name) in enumerate(zip(axes, ("East", "North", "Up"), strict=True)):
        ax.plot(t, enu[:, k], "-", color="0.75", lw=0.8, label="all")
        for code in sorted(set(q.tolist())):
            lab, col = QUALITY_COLOURS.get(code, (f"Q={code}", "k"))
            sel = q == code
            ax.plot(t[sel], enu[sel, k], ".", color=col, ms=4, label=lab)
        sel = q == 1 if np.any(q == 1) else np.ones(len(q), dtype=bool)
        which = "fixed" if np.any(q == 1) else "all"
        ax.set_ylabel(f"{name} (m)")
        ax.set_title(f"{name}: RMS {_rms(enu[sel, k]):.4f} m ({which})", fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8, ncol=5)
    axes[-1].set_xlabel("GPST")
    fig.suptitle(f"Position error against {ref_label}")
    return fig


def plot_skyplot(tracks: SkyTracks, mask_deg: float | None = 15.0) -> Figure:
    """Polar skyplot: azimuth clockwise from north, zenith at the centre, one track per
    satellite coloured by system, labelled at its last point; mask as a dashed circle."""
    fig = Figure(figsize=(7, 7), layout="constrained")
    ax: Any = fig.add_subplot(projection="polar")
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.set_rlim(0, 90)
    ax.set_rticks([15, 30, 45, 60, 75, 90])
    ax.set_yticklabels(["75", "60", "45", "30", "15", "0"])
    seen_sys: set[str] = set()
    for j, s in enumerate(tracks.sv):
        ok = np.isfinite(tracks.el_rad[:, j]) & (tracks.el_rad[:, j] >= 0)
        if not ok.any():
            continue
        name, col = SYSTEM_COLOURS.get(s[0], (s[0], "k"))
        th = tracks.az_rad[ok, j]
        r = 90.0 - np.degrees(tracks.el_rad[ok, j])
        ax.plot(th, r, ".", ms=2, color=col, label=None if s[0] in seen_sys else name)
        seen_sys.add(s[0])
        ax.annotate(s, (th[-1], r[-1]), fontsize=7, color=col)
    if mask_deg is not None:
        th = np.linspace(0, 2 * np.pi, 181)
        ax.plot(th, np.full_like(th, 90.0 - mask_deg), "--", color="0.4", lw=0.8,
                label=f"mask {mask_deg:g} deg")  # fmt: skip
    ax.legend(loc="lower left", bbox_to_anchor=(-0.1, -0.1), fontsize=8)
    ax.set_title("Skyplot (azimuth from north, elevation in degrees)")
    return fig


def plot_dop_counts(
    time_gpst: Any, dop: Any, n_used: Any, n_visible: Any = None, *, mask_deg: float = 15.0
) -> Figure:
    """Upper panel: GDOP/PDOP/HDOP/VDOP; lower: satellites used (and observed above the
    mask, when given)."""
    t = np.asarray(time_gpst, dtype="datetime64[ns]")
    d = np.asarray(dop, dtype=np.float64).reshape(-1, 4)
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for k, name in enumerate(("GDOP", "PDOP", "HDOP", "VDOP")):
        ax1.plot(t, d[:, k], "-", lw=1.0, label=name)
    ax1.set_ylabel("DOP")
    ax1.legend(loc="upper right", fontsize=8, ncol=4)
    ax1.grid(True, alpha=0.3)
    ax2.step(t, np.asarray(n_used), where="mid", label="used")
    if n_visible is not None:
        ax2.step(t, np.asarray(n_visible), where="mid", ls="--",
                 label=f"observed >= {mask_deg:g} deg")  # fmt: skip
    ax2.set_ylabel("satellites")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_xlabel("GPST")
    ax2.legend(loc="upper right", fontsize=8)
    ax2.grid(True, alpha=0.3)
    fig.suptitle("Dilution of precision and satellite counts")
    return fig


def plot_fix_status(time_gpst: Any, quality: Any, ratio: Any = None) -> Figure:
    """Quality code per epoch (1 fix, 2 float, 4 DGNSS, 5 single), with the AR ratio on
    a second axis when given; the title gives the share of each code."""
    t = np.asarray(time_gpst, dtype="datetime64[ns]")
    q = np.asarray(quality).astype(np.int64)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax = fig.subplots()
    parts = []
    for code in sorted(set(q.tolist())):
        lab, col = QUALITY_COLOURS.get(code, (f"Q={code}", "k"))
        sel = q == code
        ax.plot(t[sel], q[sel], "s", ms=4, color=col, label=lab)
        parts.append(f"{lab} {sel.mean():.1%}")
    ax.set_yticks([1, 2, 4, 5], ["1 fix", "2 float", "4 DGNSS", "5 single"])
    ax.set_ylim(5.5, 0.5)
    ax.set_xlabel("GPST")
    ax.grid(True, alpha=0.3)
    if ratio is not None:
        ax2 = ax.twinx()
        ax2.plot(t, np.asarray(ratio, dtype=np.float64), "-", color="0.5", lw=0.8)
        ax2.set_yscale("log")
        ax2.set_ylabel("AR ratio", color="0.4")
    ax.set_title(f"Solution status ({len(q)} epochs: " + ", ".join(parts) + ")")
    return fig


def write_plots(
    out_dir: str | os.PathLike[str],
    time_gpst: Any,
    pos_ecef_m: Any,
    quality: Any,
    n_used: Any,
    *,
    tracks: SkyTracks | None = None,
    ref_ecef_m: Any = None,
    ref_label: str = "reference",
    ratio: Any = None,
    mask_deg: float = 15.0,
    dpi: int = 110,
) -> dict[str, Path]:
    """Write ``enu_error.png`` (if ``ref_ecef_m``), ``skyplot.png`` and ``dop.png`` (if
    ``tracks``), ``fix_status.png`` into ``out_dir`` (created); returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs: dict[str, Figure] = {}
    if ref_ecef_m is not None:
        figs["enu_error"] = plot_enu_error(time_gpst, pos_ecef_m, ref_ecef_m, quality,
                                           ref_label=ref_label)  # fmt: skip
    if tracks is not None:
        figs["skyplot"] = plot_skyplot(tracks, mask_deg)
        dop = dop_from_azel(tracks.sv, tracks.az_rad, tracks.el_rad, mask_deg)
        vis = np.sum(np.nan_to_num(tracks.el_rad, nan=-1.0) >= np.radians(mask_deg), axis=1)
        figs["dop"] = plot_dop_counts(time_gpst, dop, n_used, vis, mask_deg=mask_deg)
    figs["fix_status"] = plot_fix_status(time_gpst, quality, ratio)
    paths: dict[str, Path] = {}
    for name, fig in figs.items():
        p = out / f"{name}.png"
        fig.savefig(p, dpi=dpi)
        paths[name] = p
    return paths
