"""``kongtian nav ...`` commands: single-point positioning and file summaries.

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
    help="GNSS navigation: RINEX summaries, single-point positioning.", no_args_is_help=True
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
