"""``kongtian nav ...`` commands: positioning (SPP, DGNSS, RTK) and file summaries.

Module-level imports stay light (typer only); the navigation modules load inside the
commands. The lead mounts :data:`nav_app` under ``kongtian nav``. Errors are raised as
:class:`~kongtian.errors.KongtianError` (``FormatError`` naming file:line,
``ConfigError`` naming the option), which the top-level ``main`` turns into one line
and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

nav_app = typer.Typer(
    help="GNSS navigation: RINEX summaries, SPP, DGNSS and RTK positioning.",
    no_args_is_help=True,
)

_OUT_EXT = (".pos", ".csv", ".geojson", ".json")


@nav_app.command("spp")
def spp_cmd(
    obs: Annotated[Path, typer.Argument(help="RINEX observation file (.rnx/.crx/.gz/.Z, 2-4).")],
    nav: Annotated[Path, typer.Argument(help="RINEX navigation file (broadcast ephemerides).")],
    systems: Annotated[
        str, typer.Option(help="Systems to use, letters among G, E, C, J (e.g. GC).")
    ] = "GC",
    mask: Annotated[float, typer.Option(help="Elevation mask (deg).")] = 15.0,
    iono: Annotated[
        str,
        typer.Option(help="auto (BeiDou own Klobuchar when BDSA/BDSB exist), gps, off."),
    ] = "auto",
    fde: Annotated[bool, typer.Option(help="Chi-square fault detection and exclusion.")] = True,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .pos (RTKLIB), .csv or .geojson; default: .pos on stdout."),
    ] = None,
) -> None:
    """Single-point positions (and Doppler velocities) for every epoch of OBS.

    A summary (epochs solved, model statements) goes to stderr; the solution to --out
    or, as an RTKLIB .pos, to stdout.
    """
    from kongtian.errors import ConfigError
    from kongtian.nav.pos_io import write_pos, write_solution
    from kongtian.nav.rinex_nav import read_nav
    from kongtian.nav.rinex_obs import read_obs
    from kongtian.nav.spp import SppConfig, solve_spp

    letters = systems.replace(",", "").upper()
    if not letters or any(c not in "GECJ" for c in letters):
        raise ConfigError(f"letters among G, E, C, J expected, got {systems!r}", option="--systems")
    if not 0.0 <= mask < 90.0:
        raise ConfigError(f"must be within [0, 90) degrees, got {mask:g}", option="--mask")
    if iono not in ("auto", "gps", "off"):
        raise ConfigError(f"auto, gps or off expected, got {iono!r}", option="--iono")
    if out is not None and out.suffix.lower() not in _OUT_EXT:
        raise ConfigError(f"extension must be one of {', '.join(_OUT_EXT)}", option="--out")
    for p in (obs, nav):
        if not p.is_file():
            raise ConfigError(f"no such file: {p}", option="OBS" if p is obs else "NAV")
    o = read_obs(obs, systems=letters)
    n = read_nav(nav)
    cfg = SppConfig(systems=letters, elev_mask_deg=mask, iono=iono, fde=fde)  # type: ignore[arg-type]
    sol = solve_spp(o, n, cfg)
    inputs = [str(obs), str(nav)]
    if out is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "out.pos"
            count = write_pos(f, sol, inputs=inputs)
            sys.stdout.write(f.read_text())
    else:
        count = write_solution(out, sol, inputs=inputs)
    summary = {
        "epochs": int(sol.valid.size),
        "solved": int(sol.valid.sum()),
        "written": count,
        "excluded_measurements": int(sol.excluded.sum()),
        "notes": sol.notes,
    }
    typer.echo(json.dumps(summary), err=True)


def _parse_position(text: str, option: str) -> tuple[float, float, float]:
    """ECEF ``X,Y,Z`` (m) or geodetic ``LAT,LON,H`` (deg, deg, m; WGS 84) -> ECEF (m).

    Three numbers whose first two are within latitude/longitude ranges and whose vector
    is far shorter than the Earth's radius are read as geodetic."""
    import numpy as np

    from kongtian.errors import ConfigError
    from kongtian.geo.frames import geodetic_to_ecef

    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        v = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"three numbers X,Y,Z or LAT,LON,H expected, got {text!r}",
                          option=option) from None  # fmt: skip
    if len(v) != 3 or not all(np.isfinite(v)):
        raise ConfigError(f"three numbers X,Y,Z or LAT,LON,H expected, got {text!r}",
                          option=option)  # fmt: skip
    norm = float(np.linalg.norm(v))
    if 6.0e6 <= norm <= 7.0e6:
        return v[0], v[1], v[2]
    if abs(v[0]) <= 90.0 and abs(v[1]) <= 360.0 and abs(v[2]) < 1.0e5:
        x = geodetic_to_ecef(np.radians(v[0]), np.radians(v[1]), v[2])
        xyz = np.asarray(x, dtype=float).reshape(3)
        return float(xyz[0]), float(xyz[1]), float(xyz[2])
    raise ConfigError(f"neither ECEF metres near the Earth's surface nor LAT,LON,H: {text!r}",
                      option=option)  # fmt: skip


@nav_app.command("solve")
def solve_cmd(
    rover: Annotated[Path, typer.Argument(help="Rover RINEX observation file.")],
    nav: Annotated[Path, typer.Argument(help="RINEX navigation file (broadcast ephemerides).")],
    mode: Annotated[str, typer.Option(help="spp, dgnss, kinematic or static.")] = "kinematic",
    base: Annotated[
        Path | None, typer.Option(help="Base RINEX observation file (dgnss/kinematic/static).")
    ] = None,
    base_pos: Annotated[
        str | None,
        typer.Option(
            help="Base antenna position: ECEF X,Y,Z (m) or LAT,LON,H (deg, deg, m); "
            "default: the base file's APPROX POSITION XYZ."
        ),
    ] = None,
    systems: Annotated[
        str, typer.Option(help="Systems, letters among G, E, C, J (e.g. G or GC).")
    ] = "G",
    mask: Annotated[
        float, typer.Option("--mask", "--elev-mask", help="Elevation mask (deg).")
    ] = 15.0,
    partial: Annotated[bool, typer.Option(help="Partial ambiguity fixing.")] = True,
    hold: Annotated[bool, typer.Option(help="Fix-and-hold.")] = False,
    ratio: Annotated[float, typer.Option(help="AR ratio-test threshold.")] = 3.0,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .pos (RTKLIB), .csv or .geojson; default: .pos on stdout."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Directory for PNG plots (ENU error, skyplot, DOP, fix status)."),
    ] = None,
    ref_pos: Annotated[
        str | None,
        typer.Option(
            help="Reference rover position for the ENU error plot (X,Y,Z or LAT,LON,H); "
            "default: the mean of the fixed (else all) epochs."
        ),
    ] = None,
) -> None:
    """Position the rover: single point (spp), DD code (dgnss) or RTK (kinematic/static).

    A JSON summary (epochs, fix rate, notes) goes to stderr; the solution to --out or,
    as an RTKLIB .pos, to stdout.
    """
    import numpy as np

    from kongtian.errors import ConfigError
    from kongtian.nav.pos_io import write_pos, write_solution
    from kongtian.nav.rinex_nav import read_nav
    from kongtian.nav.rinex_obs import read_obs

    modes = ("spp", "dgnss", "kinematic", "static")
    if mode not in modes:
        raise ConfigError(f"one of {', '.join(modes)} expected, got {mode!r}", option="--mode")
    letters = systems.replace(",", "").upper()
    if not letters or any(c not in "GECJ" for c in letters):
        raise ConfigError(f"letters among G, E, C, J expected, got {systems!r}", option="--systems")
    if not 0.0 <= mask < 90.0:
        raise ConfigError(f"must be within [0, 90) degrees, got {mask:g}", option="--mask")
    if ratio < 1.0:
        raise ConfigError(f"must be >= 1, got {ratio:g}", option="--ratio")
    if out is not None and out.suffix.lower() not in _OUT_EXT:
        raise ConfigError(f"extension must be one of {', '.join(_OUT_EXT)}", option="--out")
    if mode != "spp" and base is None:
        raise ConfigError(f"mode {mode} needs a base observation file", option="--base")
    for p, name in ((rover, "ROVER_OBS"), (nav, "NAV"), (base, "--base")):
        if p is not None and not p.is_file():
            raise ConfigError(f"no such file: {p}", option=name)
    if plot is not None and plot.exists() and not plot.is_dir():
        raise ConfigError(f"not a directory: {plot}", option="--plot")
    bpos = _parse_position(base_pos, "--base-pos") if base_pos is not None else None
    rpos = _parse_position(ref_pos, "--ref-pos") if ref_pos is not None else None

    rov = read_obs(rover, systems=letters)
    nd = read_nav(nav)
    inputs = [str(rover)] + ([str(base)] if base is not None else []) + [str(nav)]
    summary: dict[str, object] = {"mode": mode}
    if mode == "spp":
        from kongtian.nav.spp import SppConfig, solve_spp

        spp = solve_spp(rov, nd, SppConfig(systems=letters, elev_mask_deg=mask))
        sol: object = spp
        v = spp.valid
        t_out, x_out, ns_out = spp.time_gpst[v], spp.pos_ecef_m[v], spp.n_used[v]
        q_out, ratio_out = np.full(int(v.sum()), 5), None
        notes = spp.notes
        summary.update(epochs=int(v.size), solved=int(v.sum()))
    else:
        from kongtian.nav.rtk import RtkConfig, solve_rtk

        assert base is not None
        bas = read_obs(base, systems=letters)
        approx = np.asarray(bas.header.approx_xyz_m, dtype=float)
        usable = approx.shape == (3,) and bool(np.all(np.isfinite(approx)))
        usable = usable and float(np.linalg.norm(approx)) > 6.0e6
        if bpos is not None and usable:
            # A swapped LAT,LON or a wrong station: refuse rather than solve nothing.
            off_km = float(np.linalg.norm(np.array(bpos) - approx)) / 1e3
            if off_km > 10.0:
                raise ConfigError(
                    f"{off_km:.0f} km from the base file's APPROX POSITION XYZ "
                    "(order X,Y,Z or LAT,LON,H?)",
                    option="--base-pos",
                )
        if bpos is None:
            if not usable:
                raise ConfigError("the base file has no usable APPROX POSITION XYZ; give it",
                                  option="--base-pos")  # fmt: skip
            bpos = (float(approx[0]), float(approx[1]), float(approx[2]))
            summary["base_pos_from"] = "base header APPROX POSITION XYZ"
        cfg = RtkConfig(mode=mode, systems=letters, elev_mask_deg=mask, partial=partial,  # type: ignore[arg-type]
                        fix_and_hold=hold, ratio_threshold=ratio)  # fmt: skip
        rtk = solve_rtk(rov, bas, nd, np.array(bpos), cfg)
        sol = rtk
        t_out, x_out, ns_out = rtk.time_gpst, rtk.pos_ecef_m, rtk.n_sats
        q_out, ratio_out = rtk.quality, rtk.ratio
        notes = rtk.notes
        summary.update(
            epochs=int(rov.data.sizes["time"]),
            solved=len(rtk.time_gpst),
            fixed=int(np.sum(rtk.quality == 1)),
            fix_rate=round(rtk.fix_rate, 4),
        )
    if out is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "out.pos"
            count = write_pos(f, sol, inputs=inputs)  # type: ignore[arg-type]
            sys.stdout.write(f.read_text())
    else:
        count = write_solution(out, sol, inputs=inputs)  # type: ignore[arg-type]
    summary["written"] = count
    if plot is not None:
        from kongtian.nav.plots import sky_tracks, write_plots

        ref_label = "the given reference position"
        if rpos is None and len(t_out):
            fixed = q_out == 1
            sel = fixed if fixed.any() else np.ones(len(q_out), dtype=bool)
            rpos_arr = x_out[sel].mean(axis=0)
            ref_label = f"the mean of the {'fixed' if fixed.any() else 'solved'} epochs"
        else:
            rpos_arr = np.array(rpos) if rpos is not None else None
        tracks = sky_tracks(rov, nd, t_out, x_out, systems=letters)
        paths = write_plots(plot, t_out, x_out, q_out, ns_out, tracks=tracks,
                            ref_ecef_m=rpos_arr, ref_label=ref_label, ratio=ratio_out,
                            mask_deg=mask)  # fmt: skip
        summary["plots"] = [str(p) for p in paths.values()]
    summary["notes"] = notes
    typer.echo(json.dumps(summary), err=True)


@nav_app.command("info")
def info_cmd(
    file: Annotated[Path, typer.Argument(help="RINEX observation or navigation file.")],
) -> None:
    """What a RINEX file holds: systems, signals, epochs, gaps (or ephemeris records)."""
    from kongtian.errors import ConfigError
    from kongtian.nav.rinex_io import read_rinex_bytes, sniff_version

    if not file.is_file():
        raise ConfigError(f"no such file: {file}", option="FILE")
    head = read_rinex_bytes(file)[:200].decode("ascii", "replace").splitlines()
    ver = sniff_version(head[0] if head else "", str(file))
    if ver.file_type == "O":
        from kongtian.nav.rinex_obs import read_obs

        summary = read_obs(file).summary()
    else:
        from kongtian.nav.rinex_nav import read_nav

        summary = read_nav(file).summary()
    typer.echo(json.dumps(summary, default=str))
