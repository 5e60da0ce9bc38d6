"""Solution plots: files are written, and what is drawn is the solution's data.

Independent checks: ENU errors recomputed here from pyproj geodetic coordinates and the
textbook ENU rotation; satellite azimuths/elevations and DOPs against the SPP solver's
own (separately computed) values on the same epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kongtian.nav import read_nav, read_obs
from kongtian.nav.plots import (
    dop_from_azel,
    plot_dop_counts,
    plot_enu_error,
    plot_fix_status,
    plot_skyplot,
    sky_tracks,
    write_plots,
)
from kongtian.nav.rtk import RtkConfig, RtkSolution, solve_rtk
from kongtian.nav.spp import SppConfig, solve_spp

GEONET = Path(__file__).resolve().parents[1] / "data" / "gnss" / "rtklib_geonet_2005092"
BASE = np.array([-3978241.958, 3382840.234, 3649900.853])
REF = np.array([-3976219.1872, 3382371.6049, 3652511.1422])


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    rov = read_obs(GEONET / "07590920.05o")
    nav = read_nav(GEONET / "30400920.05n")
    sol = solve_rtk(rov, read_obs(GEONET / "30400920.05o"), nav, BASE, RtkConfig())
    return rov, nav, sol


def _enu_independent(pos: np.ndarray, ref: np.ndarray) -> np.ndarray:
    pyproj = pytest.importorskip("pyproj")
    to_llh = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon, lat, _ = to_llh.transform(*ref)
    la, lo = np.radians(lat), np.radians(lon)
    rot = np.array([
        [-np.sin(lo), np.cos(lo), 0.0],
        [-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)],
        [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)],
    ])  # fmt: skip
    return np.asarray((pos - ref) @ rot.T)


def test_enu_plot_shows_the_solution(data) -> None:  # type: ignore[no-untyped-def]
    _, _, sol = data
    assert isinstance(sol, RtkSolution)
    fig = plot_enu_error(sol.time_gpst, sol.pos_ecef_m, REF, sol.quality)
    want = _enu_independent(sol.pos_ecef_m, REF)
    axes = fig.axes
    assert len(axes) == 3
    for k, ax in enumerate(axes):
        line = ax.get_lines()[0]
        assert line.get_label() == "all"
        np.testing.assert_allclose(np.asarray(line.get_ydata(), float), want[:, k], atol=1e-6)
        x = np.asarray(line.get_xdata())
        assert len(x) == len(sol.time_gpst)
        # one marker series per quality code, together all epochs
        n_pts = sum(len(ln.get_ydata()) for ln in ax.get_lines()[1:])
        assert n_pts == len(sol.quality)
    # kinematic fixed solution: millimetre-to-centimetre errors, as the titles say
    title = axes[0].get_title(loc="left")
    assert "RMS 0.00" in title and "(fixed)" in title, title


def test_skyplot_and_dop_match_spp(data) -> None:  # type: ignore[no-untyped-def]
    rov, nav, _ = data
    spp = solve_spp(rov, nav, SppConfig(systems="G"))
    v = spp.valid
    tr = sky_tracks(rov, nav, spp.time_gpst[v], spp.pos_ecef_m[v], systems="G")
    cols = [spp.sv.index(s) for s in tr.sv]
    el_spp = spp.elevation_rad[v][:, cols]
    az_spp = spp.azimuth_rad[v][:, cols]
    both = np.isfinite(el_spp) & np.isfinite(tr.el_rad)
    assert both.sum() > 500
    np.testing.assert_allclose(tr.el_rad[both], el_spp[both], atol=np.radians(0.01))
    daz = np.angle(np.exp(1j * (tr.az_rad[both] - az_spp[both])))
    assert np.max(np.abs(daz)) < np.radians(0.01)
    # DOP over the satellites SPP used (all above the mask here): same numbers
    used = spp.used[v][:, cols]
    el_used = np.where(used, tr.el_rad, np.nan)
    dop = dop_from_azel(tr.sv, tr.az_rad, el_used, mask_deg=15.0)
    np.testing.assert_allclose(dop, spp.dop[v], rtol=1e-3)
    # the skyplot draws r = 90 - elevation (deg) for each satellite
    fig = plot_skyplot(tr, 15.0)
    ax = fig.axes[0]
    j = tr.sv.index("G20")
    ok = np.isfinite(tr.el_rad[:, j])
    r_lines = [ln for ln in ax.get_lines() if len(ln.get_ydata()) == ok.sum()]
    assert any(
        np.allclose(np.asarray(ln.get_ydata(), float), 90 - np.degrees(tr.el_rad[ok, j]))
        for ln in r_lines
    )
    fig2 = plot_dop_counts(spp.time_gpst[v], dop, spp.n_used[v])
    np.testing.assert_allclose(np.asarray(fig2.axes[0].get_lines()[2].get_ydata()), dop[:, 2])


def test_fix_status_and_files(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rov, nav, sol = data
    fig = plot_fix_status(sol.time_gpst, sol.quality, sol.ratio)
    ys = np.concatenate([np.asarray(ln.get_ydata()) for ln in fig.axes[0].get_lines()])
    assert sorted(ys.tolist()) == sorted(sol.quality.tolist())
    tracks = sky_tracks(rov, nav, sol.time_gpst, sol.pos_ecef_m)
    paths = write_plots(tmp_path / "p", sol.time_gpst, sol.pos_ecef_m, sol.quality,
                        sol.n_sats, tracks=tracks, ref_ecef_m=REF, ratio=sol.ratio)  # fmt: skip
    assert sorted(paths) == ["dop", "enu_error", "fix_status", "skyplot"]
    for p in paths.values():
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 20_000
    # satellites observed above the mask >= satellites the filter used, every epoch
    vis = np.sum(np.nan_to_num(tracks.el_rad, nan=-1) >= np.radians(15), axis=1)
    assert np.all(vis >= sol.n_sats)
