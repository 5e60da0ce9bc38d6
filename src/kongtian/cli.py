"""The ``kongtian`` command line: a thin layer over the library.

Machine-readable output goes to stdout or ``--out``; progress bars and logs go to
stderr. Any :class:`~kongtian.errors.KongtianError` or bad option ends the program
with exit code 2 and one line naming the file:line or option at fault.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

try:  # typer >= 0.26 vendors click as typer._click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as click_exc  # type: ignore[no-redef]

from kongtian import __version__
from kongtian.errors import ConfigError, KongtianError

app = typer.Typer(
    help="Kongtian (空天): space-air-ground information services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
space_app = typer.Typer(
    help="Constellations: catalogs, propagation, passes, coverage.", no_args_is_help=True
)
app.add_typer(space_app, name="space")
traffic_app = typer.Typer(
    help="Low-altitude and mobility supervision: decode feeds.", no_args_is_help=True
)
app.add_typer(traffic_app, name="traffic")


# --------------------------------------------------------------------------- helpers
def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Any:
    """A rich progress bar on stderr; yields ``update(done, total)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=_stderr_console(), transient=False,
    ) as prog:  # fmt: skip
        task = prog.add_task(description, total=total)

        def update(done: int, tot: int) -> None:
            prog.update(task, completed=done, total=tot)

        yield update


def _positive(value: float, option: str) -> float:
    if not value > 0:
        raise ConfigError(f"must be > 0, got {value:g}", option=option)
    return value


def _min_elev(value: float) -> float:
    if not -90.0 <= value <= 90.0:
        raise ConfigError(f"must be within [-90, 90] degrees, got {value:g}", option="--min-elev")
    return value


def _load_catalog(path: Path, strict: bool = True) -> Any:
    from kongtian.space.catalog import load_catalog

    return load_catalog(path, strict=strict)


# --------------------------------------------------------------------------- top level
@app.command()
def version() -> None:
    """Print the version and the vintage of the shipped time tables."""
    from kongtian.geo.eop import eop_vintage
    from kongtian.geo.time import LEAP_SECONDS_VINTAGE

    typer.echo(f"kongtian {__version__}")
    typer.echo(f"leap seconds: {LEAP_SECONDS_VINTAGE}")
    typer.echo(f"UT1-UTC and polar motion: {eop_vintage()}")


demo_app = typer.Typer(
    help="The demo: the platform service with live Chongqing traffic (bare `kongtian demo`), "
    "or the space study report (`kongtian demo space`).",
    invoke_without_command=True,
)
app.add_typer(demo_app, name="demo")


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Folder of the demo's embedded store (created).")
    ] = Path("kongtian-demo-data"),
    speed: Annotated[
        float, typer.Option(help="Replay factor: demo seconds per wall-clock second.")
    ] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    uavs: Annotated[
        int, typer.Option(help="Simulated delivery UAVs (plus inspection and scripted ones).")
    ] = 90,
    seed: Annotated[int, typer.Option(help="Seed of the simulated fleet.")] = 20260501,
) -> None:
    """Serve the API on embedded defaults (DuckDB, no servers) with live demo traffic.

    Chongqing zones, a clearly labelled simulated UAV fleet over Chongqing, and real
    recorded ADS-B and AIS replayed where they were recorded, times shifted to now.
    Prints the URL and dev-mode keys; runs until Ctrl-C (or --duration seconds).
    """
    if ctx.invoked_subcommand is not None:
        return
    if not 0 < port <= 65535:
        raise ConfigError(f"must be 1..65535, got {port}", option="--port")
    from kongtian.platform.demo.runner import run_demo_service

    run_demo_service(host=host, port=port, data_dir=data_dir, speed=speed, duration_s=duration,
                     seed=seed, n_delivery=uavs)  # fmt: skip


@demo_app.command("space")
def demo_space(
    out: Annotated[Path, typer.Option(help="Folder for the report (created).")] = Path(
        "kongtian-demo"
    ),
    quick: Annotated[bool, typer.Option(help="Smaller grid and window (for smoke tests).")] = False,
) -> None:
    """Chongqing study on the shipped real catalogs: passes, coverage, gaps, handovers."""
    from kongtian.demo import run_demo

    run_demo(out, quick=quick, console=_stderr_console())


# --------------------------------------------------------------------------- space
@space_app.command("catalog")
def catalog_cmd(
    catalog: Annotated[
        Path, typer.Option("--catalog", help="TLE (2/3-line) or OMM (JSON/CSV/XML) file.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Keep names matching (substring or * wildcard).")
    ] = None,
    norad: Annotated[
        str | None, typer.Option(help="Keep these NORAD ids (comma-separated).")
    ] = None,
    lenient: Annotated[
        bool, typer.Option(help="Ignore TLE checksums and columns past 69.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the (filtered) catalog: .tle/.txt, .json, .csv, .xml."),
    ] = None,
) -> None:
    """Read a catalog, summarise it, optionally filter and convert it."""
    import numpy as np

    cat = _load_catalog(catalog, strict=not lenient)
    if name is not None or norad is not None:
        ids = None
        if norad is not None:
            try:
                ids = [int(x) for x in norad.split(",") if x.strip()]
            except ValueError:
                raise ConfigError(f"not a list of integers: {norad!r}", option="--norad") from None
        cat = cat.select(name=name, norad_id=ids)
    if out is not None:
        from kongtian.space.catalog import save_catalog

        save_catalog(cat, out)
    alt_km = cat.mean_altitude_m / 1e3 if len(cat) else np.array([np.nan])
    summary = {
        "satellites": len(cat),
        "epoch_min_utc": str(np.datetime_as_string(cat.epoch_utc.min(), "s")) + "Z"
        if len(cat)
        else None,
        "epoch_max_utc": str(np.datetime_as_string(cat.epoch_utc.max(), "s")) + "Z"
        if len(cat)
        else None,
        "mean_altitude_km_p5_p50_p95": [
            round(float(x), 1) for x in np.nanpercentile(alt_km, [5, 50, 95])
        ],
        "inclination_deg_p50": round(float(np.median(cat.inclination_deg)), 3)
        if len(cat)
        else None,
    }
    typer.echo(json.dumps(summary))


@space_app.command("propagate")
def propagate_cmd(
    catalog: Annotated[Path, typer.Option("--catalog", help="TLE or OMM file.")],
    start: Annotated[str, typer.Option(help="Start, ISO-8601 UTC (e.g. 2025-01-23T00:00:00Z).")],
    hours: Annotated[float, typer.Option(help="Window length in hours.")],
    step_s: Annotated[float, typer.Option("--step-s", help="Step in seconds.")] = 60.0,
    frame: Annotated[str, typer.Option(help="itrf or teme.")] = "itrf",
    out: Annotated[Path, typer.Option(help="Output file: .csv, .parquet or .nc.")] = Path(
        "ephemeris.csv"
    ),
    lenient: Annotated[bool, typer.Option(help="Lenient TLE parsing.")] = False,
) -> None:
    """Positions and velocities of every satellite at every step (SGP4)."""
    from kongtian.geo.time import parse_utc, time_grid
    from kongtian.space.ephemeris_io import write_ephemeris
    from kongtian.space.propagate import propagate

    if frame.lower() not in ("itrf", "teme"):
        raise ConfigError(f"must be itrf or teme, got {frame!r}", option="--frame")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".nc"):
        raise ConfigError(f"must end in .csv, .parquet or .nc, got {out.name!r}", option="--out")
    t0 = parse_utc(start, option="--start")
    times = time_grid(t0, _positive(hours, "--hours") * 3600.0, _positive(step_s, "--step-s"))
    cat = _load_catalog(catalog, strict=not lenient)
    with progress_bar("propagating", len(cat)) as update:
        eph = propagate(cat, times, frame=frame.lower(), progress=update)
    write_ephemeris(eph, out)
    failed = int(eph.failed.sum())
    print(json.dumps({"satellites": len(cat), "times": int(times.size), "frame": eph.frame,
                      "satellites_with_errors": failed, "out": str(out)}), file=sys.stderr)  # fmt: skip


@space_app.command("passes")
def passes_cmd(
    catalog: Annotated[Path, typer.Option("--catalog", help="TLE or OMM file.")],
    site: Annotated[
        list[str], typer.Option(help="LAT,LON[,ALT_M] in degrees and metres; repeatable.")
    ],
    start: Annotated[str, typer.Option(help="Start, ISO-8601 UTC.")],
    hours: Annotated[float, typer.Option(help="Window length in hours.")] = 24.0,
    min_elev: Annotated[float, typer.Option("--min-elev", help="Elevation mask, degrees.")] = 10.0,
    horizon: Annotated[
        Path | None, typer.Option(help="Terrain mask CSV (az_deg,min_elev_deg).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    lenient: Annotated[bool, typer.Option(help="Lenient TLE parsing.")] = False,
) -> None:
    """Rise / culmination / set of every satellite over the sites (times to 0.1 s)."""
    import numpy as np

    from kongtian.geo.regions import parse_site
    from kongtian.geo.time import parse_utc
    from kongtian.space.passes import find_passes

    if fmt not in ("csv", "json"):
        raise ConfigError(f"must be csv or json, got {fmt!r}", option="--format")
    sites = [parse_site(s) for s in site]
    t0 = parse_utc(start, option="--start")
    dur = _positive(hours, "--hours") * 3600.0
    mask = None
    if horizon is not None:
        from kongtian.geo.terrain import HorizonMask

        mask = HorizonMask.from_csv(horizon)
    cat = _load_catalog(catalog, strict=not lenient)
    with progress_bar("pass search", len(cat)) as update:
        passes = find_passes(
            cat,
            np.array([s.lat_deg for s in sites]),
            np.array([s.lon_deg for s in sites]),
            np.array([s.alt_m for s in sites]),
            start_utc=t0,
            end_utc=t0 + np.timedelta64(int(round(dur * 1e9)), "ns"),
            min_elev_deg=_min_elev(min_elev),
            horizon=mask,
            progress=update,
        )
    if fmt == "csv":
        sys.stdout.write(passes.to_csv(None) or "")
    else:
        df = passes.to_dataframe()
        sys.stdout.write(df.to_json(orient="records", date_format="iso") + "\n")


@space_app.command("coverage")
def coverage_cmd(
    region: Annotated[str, typer.Option(help="chongqing, or a box W,S,E,N in degrees.")],
    start: Annotated[str, typer.Option(help="Start, ISO-8601 UTC.")],
    hours: Annotated[float, typer.Option(help="Window length in hours.")],
    out: Annotated[Path, typer.Option(help="netCDF output (.nc).")],
    catalog: Annotated[Path | None, typer.Option("--catalog", help="TLE or OMM file.")] = None,
    walker: Annotated[
        str | None, typer.Option(help="Walker design I:T/P/F (degrees: total/planes/phasing).")
    ] = None,
    alt_km: Annotated[float | None, typer.Option("--alt-km", help="Walker altitude, km.")] = None,
    grid_deg: Annotated[float, typer.Option("--grid-deg", help="Grid spacing, degrees.")] = 0.1,
    step_s: Annotated[float, typer.Option("--step-s", help="Time step, seconds.")] = 60.0,
    min_elev: Annotated[float, typer.Option("--min-elev", help="Elevation mask, degrees.")] = 25.0,
    k: Annotated[int, typer.Option(help="Covered means at least k satellites visible.")] = 1,
    plot: Annotated[Path | None, typer.Option(help="PNG with coverage and max-gap maps.")] = None,
    czml: Annotated[
        Path | None, typer.Option(help="CZML file for Cesium (grid coloured by coverage).")
    ] = None,
    lenient: Annotated[bool, typer.Option(help="Lenient TLE parsing.")] = False,
) -> None:
    """Visible-satellite counts, coverage fraction and gaps over a region grid."""
    from kongtian.geo.regions import region as get_region
    from kongtian.geo.time import parse_utc
    from kongtian.space import coverage as cov

    if (catalog is None) == (walker is None):
        raise ConfigError("give exactly one of --catalog or --walker", option="--catalog")
    if out.suffix.lower() != ".nc":
        raise ConfigError(f"must end in .nc, got {out.name!r}", option="--out")
    if k < 1:
        raise ConfigError(f"must be >= 1, got {k}", option="--k")
    t0 = parse_utc(start, option="--start")
    dur = _positive(hours, "--hours") * 3600.0
    _positive(step_s, "--step-s")
    _positive(grid_deg, "--grid-deg")
    _min_elev(min_elev)
    reg = get_region(region)
    grid = reg.grid(grid_deg)
    if grid.lat_deg.size == 0:
        raise ConfigError(
            f"no grid point falls inside {reg.name} at {grid_deg:g} deg", option="--grid-deg"
        )
    if walker is not None:
        from kongtian.space.walker import walker_catalog

        if alt_km is None:
            raise ConfigError("--walker needs --alt-km", option="--alt-km")
        cat = walker_catalog(walker, altitude_km=_positive(alt_km, "--alt-km"), epoch_utc=t0)
    else:
        assert catalog is not None
        cat = _load_catalog(catalog, strict=not lenient)
    with progress_bar("coverage", None) as update:
        ds = cov.coverage(
            cat, grid.lat_deg, grid.lon_deg, 0.0, start_utc=t0, duration_s=dur, step_s=step_s,
            min_elev_deg=min_elev, k=k, grid=grid, region=reg, progress=update,
        )  # fmt: skip
    cov.save(ds, out)
    if plot is not None:
        from kongtian.space.plots import plot_coverage_map

        plot_coverage_map(ds, plot, region=reg)
    if czml is not None:
        from kongtian.geo.time import time_grid
        from kongtian.space.czml import czml_document, write_czml
        from kongtian.space.propagate import propagate

        # Satellite tracks at 60 s are plenty for Cesium's Lagrange interpolation.
        eph = propagate(cat, time_grid(t0, dur, min(60.0, dur)), frame="itrf")
        write_czml(czml, czml_document(cat, eph, name=reg.name, coverage_ds=ds))
    typer.echo(json.dumps(cov.summary(ds)))


@space_app.command("shells")
def shells_cmd() -> None:
    """List the built-in published constellation shells (with sources)."""
    from kongtian.space.walker import list_shells, shell_spec

    for key in list_shells():
        s = shell_spec(key)
        typer.echo(
            f"{key:32s} {s.inclination_deg:6.2f} deg  {s.total:5d} = {s.planes} x "
            f"{s.total // s.planes}  F={s.phasing}  {(s.altitude_m or float('nan')) / 1e3:7.1f} km"
        )


# --------------------------------------------------------------------------- traffic
def _parse_ref(ref: str | None) -> tuple[float, float] | None:
    """``--ref LAT,LON`` (a receiver or airport position) as degrees, or None."""
    if ref is None:
        return None
    from kongtian.geo.regions import parse_site

    try:
        site = parse_site(ref)
    except ConfigError as exc:
        raise ConfigError(str(exc).split(": ", 1)[-1], option="--ref") from None
    return (site.lat_deg, site.lon_deg)


DECODE_FORMATS = ("avr", "beast", "modes-csv", "remoteid", "ais", "jt808")


@traffic_app.command("decode")
def traffic_decode_cmd(
    file: Annotated[Path, typer.Argument(help="Input file.")],
    fmt: Annotated[str, typer.Option("--format", help=" | ".join(DECODE_FORMATS))],
    out: Annotated[Path, typer.Option(help="Output: .jsonl or .parquet.")],
    ref: Annotated[
        str | None, typer.Option(help="Receiver/airport LAT,LON for surface and local CPR.")
    ] = None,
    ref_time: Annotated[
        str | None, typer.Option("--ref-time", help="UTC time for inputs without absolute time.")
    ] = None,
    lenient: Annotated[
        bool, typer.Option(help="JT/T 808: accept bad check codes and lengths.")
    ] = False,
) -> None:
    """Decode a recorded feed into normalised reports (one per position or state)."""
    from kongtian.geo.time import parse_utc
    from kongtian.traffic.decode.io import decode_file, write_reports

    if fmt not in DECODE_FORMATS:
        raise ConfigError(
            f"must be one of {', '.join(DECODE_FORMATS)}, got {fmt!r}", option="--format"
        )
    if out.suffix.lower() not in (".jsonl", ".parquet"):
        raise ConfigError(f"must end in .jsonl or .parquet, got {out.name!r}", option="--out")
    ref_ll = _parse_ref(ref)
    t_ref = parse_utc(ref_time, option="--ref-time") if ref_time is not None else None
    table, errors = decode_file(file, fmt, ref=ref_ll, ref_time_utc=t_ref, strict=not lenient)
    write_reports(table, out)
    summary = {
        "format": fmt,
        "reports": table.num_rows,
        "positions": int(table.num_rows - table.column("lat_deg").null_count),
        "objects": len(set(table.column("object_id").to_pylist())),
        "errors": errors.total,
        "errors_by_kind": {f"{k}: {r}": n for (k, r), n in sorted(errors.counts.items())},
        "out": str(out),
    }
    typer.echo(json.dumps(summary))


@traffic_app.command("replay")
def traffic_replay_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(help="Feed files; FILE:FORMAT names the format of one file."),
    ],
    zones: Annotated[
        Path | None, typer.Option(help="Zones GeoJSON (kind per feature: no-fly, ...).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Alert events, JSON Lines.")] = Path("alerts.jsonl"),
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Format of files given without :FORMAT; else by extension."),
    ] = None,
    intents: Annotated[
        Path | None, typer.Option(help="Operational intents JSON (with object_id per intent).")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Replay speed x real time; 0 = as fast as possible.")
    ] = 0.0,
    batch_s: Annotated[float, typer.Option("--batch-s", help="Feed seconds per batch.")] = 1.0,
    category: Annotated[
        str, typer.Option(help="Conflict category of every track (e.g. uav_light, manned_ifr).")
    ] = "uav_light",
    lookahead_s: Annotated[
        float, typer.Option("--lookahead-s", help="Conflict look-ahead, seconds; 0 = off.")
    ] = 60.0,
    ref: Annotated[
        str | None, typer.Option(help="Receiver/airport LAT,LON for surface and local CPR.")
    ] = None,
    ref_time: Annotated[
        str | None, typer.Option("--ref-time", help="UTC time for inputs without absolute time.")
    ] = None,
) -> None:
    """Replay recorded feeds through tracks, zones, conflicts and intents into alerts."""
    from kongtian.geo.time import parse_utc
    from kongtian.traffic.conflicts import ConflictConfig
    from kongtian.traffic.pipeline import (
        Pipeline,
        infer_format,
        load_intents,
        replay,
        write_alert_events,
    )
    from kongtian.traffic.zones import ZoneSet

    if fmt is not None and fmt not in DECODE_FORMATS:
        raise ConfigError(
            f"must be one of {', '.join(DECODE_FORMATS)}, got {fmt!r}", option="--format"
        )
    feeds: list[tuple[Path, str]] = []
    for f in files:
        name, _, suffix = str(f).rpartition(":")
        if name and suffix in DECODE_FORMATS:
            feeds.append((Path(name), suffix))
        else:
            feeds.append((f, fmt or infer_format(f)))
    zoneset = ZoneSet.from_geojson(zones) if zones is not None else None
    index, intent_of = load_intents(intents) if intents is not None else (None, {})
    cfg = None
    if lookahead_s > 0:
        cfg = ConflictConfig(categories=(category,), lookahead_s=lookahead_s)
        try:
            cfg.matrices()
        except ConfigError as exc:
            raise ConfigError(str(exc).split(": ", 1)[-1], option="--category") from None
    ref_ll = _parse_ref(ref)
    t_ref = parse_utc(ref_time, option="--ref-time") if ref_time is not None else None
    pipe = Pipeline(zoneset, index, cfg, intent_of=intent_of)
    try:
        fh = out.open("w", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {str(out)!r}: {exc.strerror}", option="--out") from None
    with fh:
        summary = replay(
            feeds,
            pipe,
            batch_s=batch_s,
            speed=speed,
            on_events=lambda ev: write_alert_events(ev, fh),
            ref=ref_ll,
            ref_time_utc=t_ref,
        )
    typer.echo(json.dumps({**summary.to_dict(), "out": str(out)}))


# --------------------------------------------------------------------------- entry point
NO_ARGS_IS_HELP: type[Exception] = getattr(
    click_exc, "NoArgsIsHelpError", getattr(click_exc, "NoArgsIsHelp", click_exc.UsageError)
)


def _register_platform() -> None:
    """Add the service commands (serve, keys, ingest); their modules import lightly."""
    try:
        from kongtian.platform import serve_cli
    except ImportError:  # pragma: no cover - while the platform is being built
        pass
    else:
        app.command("serve")(serve_cli.serve)
        app.add_typer(serve_cli.keys_app, name="keys")
    try:
        from kongtian.platform.ingest import cli as ingest_cli
    except ImportError:  # pragma: no cover
        pass
    else:
        app.add_typer(ingest_cli.ingest_app, name="ingest")


_register_platform()


def _register_sensing() -> None:
    from kongtian.nav.cli import nav_app
    from kongtian.sensing.cli import sensing_app

    app.add_typer(nav_app, name="nav")
    app.add_typer(sensing_app, name="sensing")


_register_sensing()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; turn expected errors into one line and exit code 2."""
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of
        # exiting; pass it on so `raise typer.Exit(2)` exits 2 through this entry point.
        rc = app(args=argv, standalone_mode=False)
    except KongtianError as exc:
        print(f"kongtian: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except NO_ARGS_IS_HELP:
        # Raised after help for a bare group has been printed: not an error.
        raise SystemExit(0) from None
    except click_exc.UsageError as exc:
        opt = ""
        if isinstance(exc, click_exc.BadParameter) and exc.param is not None:
            opt = f"{exc.param.opts[0] if getattr(exc.param, 'opts', None) else exc.param.name}: "
        msg = (exc.message if opt else "") or exc.format_message()
        print(f"kongtian: error: {opt}{msg}".replace("\n", " "), file=sys.stderr)
        raise SystemExit(2) from None
    except (typer.Abort, KeyboardInterrupt):
        print("kongtian: aborted", file=sys.stderr)
        raise SystemExit(130) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except BrokenPipeError:
        raise SystemExit(0) from None
    if isinstance(rc, int) and not isinstance(rc, bool) and rc != 0:
        raise SystemExit(rc)


if __name__ == "__main__":
    main()
