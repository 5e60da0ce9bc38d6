"""``kongtian sensing ...`` commands (typer sub-app, wired into :mod:`kongtian.cli`).

Module-level imports stay light (typer, pathlib); the numerical code is imported inside
each command. Errors end the command with exit code 2 and one line on stderr, both when
run through ``kongtian`` and when this module is run on its own
(``python -m kongtian.sensing.cli``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kongtian.errors import ConfigError, KongtianError

sensing_app = typer.Typer(
    help="Remote sensing: active fires (fire), water and flood masks (water), radio occultation (ro-invert).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@sensing_app.callback()
def _sensing() -> None:
    """Remote sensing: active fires (fire), water/flood masks (water), RO (ro-invert)."""


@sensing_app.command("ro-invert")
def ro_invert(
    bending: Annotated[
        Path, typer.Option("--bending", help="CSV with columns impact_m,bending_rad.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output CSV: altitude_m,refractivity,pressure_hpa,temperature_k."
        ),
    ],
    rc_m: Annotated[
        float, typer.Option("--rc-m", help="Local radius of curvature (m); altitude = r - Rc.")
    ] = 6_371_000.0,
    optimise: Annotated[
        bool,
        typer.Option(
            "--optimise/--no-optimise", help="Statistical optimisation with the climatology."
        ),
    ] = True,
    netcdf: Annotated[
        Path | None, typer.Option("--netcdf", help="Also write an atmPrf-like netCDF file.")
    ] = None,
) -> None:
    """Invert a neutral bending-angle profile to dry refractivity, pressure, temperature."""
    try:
        if not rc_m > 0:
            raise ConfigError(f"must be > 0, got {rc_m:g}", option="--rc-m")
        from kongtian.sensing.occultation.files import read_bending_csv, write_profile_csv
        from kongtian.sensing.occultation.retrieval import retrieve

        impact, alpha = read_bending_csv(bending)
        if not (0.9 * rc_m < impact[0] < 1.1 * rc_m):
            raise ConfigError(
                f"impact parameters ({impact[0]:.0f} m) are not radii near {rc_m:.0f} m "
                f"(column impact_m of {bending} must be in metres)",
                option="--rc-m",
            )
        profile = retrieve(impact, alpha, rc_m=rc_m, optimise=optimise)
        write_profile_csv(profile, out)
        if netcdf is not None:
            from kongtian.sensing.occultation.atmprf import write_atmprf

            write_atmprf(profile, netcdf, input_file=str(bending))
    except KongtianError as exc:
        print(f"kongtian: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except OSError as exc:
        print(f"kongtian: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise typer.Exit(2) from None


@sensing_app.command("water")
def water(
    out: Annotated[Path, typer.Option("--out", help="Output mask GeoTIFF (COG).")],
    s2: Annotated[
        Path | None,
        typer.Option("--s2", help="Sentinel-2 L2A folder (B03.tif, B11.tif...) or STAC item JSON."),
    ] = None,
    landsat: Annotated[
        Path | None, typer.Option("--landsat", help="Landsat 8/9 folder with its MTL file.")
    ] = None,
    s1: Annotated[Path | None, typer.Option("--s1", help="Sentinel-1 GRD (not yet).")] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Reference water mask: write the flood mask instead."),
    ] = None,
    polygons: Annotated[
        Path | None,
        typer.Option("--polygons", help="Also write the mask's 1-pixels as GeoJSON (WGS84)."),
    ] = None,
    index: Annotated[str, typer.Option("--index", help="mndwi or ndwi.")] = "mndwi",
    threshold: Annotated[
        str, typer.Option("--threshold", help="'otsu' or a number (index units).")
    ] = "otsu",
) -> None:
    """Water mask (1 water, 0 land, 255 no data) or, with --reference, flood mask
    (1 new water, 0 not flooded, 255 no data); prints a JSON summary on stdout."""
    try:
        given = [(n, v) for n, v in (("--s2", s2), ("--landsat", landsat), ("--s1", s1)) if v]
        if len(given) != 1:
            raise ConfigError("give exactly one of --s2, --landsat, --s1", option="--s2")
        if s1 is not None:
            raise ConfigError("Sentinel-1 backscatter is not implemented yet", option="--s1")
        thr: float | str = threshold
        if threshold != "otsu":
            try:
                thr = float(threshold)
            except ValueError:
                raise ConfigError(
                    f"must be 'otsu' or a number, got {threshold!r}", option="--threshold"
                ) from None
        import json

        import numpy as np

        from kongtian.sensing.scenes import load_landsat, load_sentinel2
        from kongtian.sensing.water import (
            detect_water,
            flood_mask,
            mask_polygons,
            read_mask_geotiff,
            write_mask_geotiff,
        )

        bands = ("green", "nir", "swir16")
        folder = s2 if s2 is not None else landsat
        assert folder is not None  # exactly one source was checked above
        scene = load_sentinel2(folder, bands) if s2 is not None else load_landsat(folder, bands)
        result = detect_water(scene, index, thr)
        mask = result.mask
        if reference is not None:
            ref, ref_tr, _ = read_mask_geotiff(reference)
            if ref.shape != mask.shape or ref_tr != scene.transform:
                raise ConfigError(
                    f"grid {ref.shape} differs from the scene's {mask.shape}", option="--reference"
                )
            mask = flood_mask(mask, ref)
        write_mask_geotiff(out, mask, scene.transform, scene.crs)
        if polygons is not None:
            fc = mask_polygons(mask, scene.transform, scene.crs)
            polygons.write_text(json.dumps(fc), encoding="utf-8")
        counts = np.bincount(mask.ravel(), minlength=256)
        summary = {
            "out": str(out),
            "product": "flood" if reference is not None else "water",
            "index": result.index_name,
            "threshold": round(result.threshold, 4),
            "method": result.method,
            "water_pixels" if reference is None else "flooded_pixels": int(counts[1]),
            "land_pixels": int(counts[0]),
            "nodata_pixels": int(counts[255]),
        }
        print(json.dumps(summary))
    except KongtianError as exc:
        print(f"kongtian: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except OSError as exc:
        print(f"kongtian: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise typer.Exit(2) from None


@sensing_app.command("fire")
def fire(
    scene: Annotated[
        Path,
        typer.Argument(help="Scene folder (Landsat with MTL, Sentinel-2 L2A, MODIS) or STAC item."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output GeoJSON of fire pixels (points).")],
    polygons: Annotated[
        Path | None, typer.Option("--polygons", help="Also write fire clusters as polygons.")
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option("--alerts", help="Also write platform alerts (JSON lines, active_fire)."),
    ] = None,
) -> None:
    """Active fires (Schroeder 2016 for Landsat-8/9, Murphy 2016 for Sentinel-2 and the
    MODIS NBAR SWIR analogue) as GeoJSON points; prints a JSON summary on stdout."""
    try:
        import json

        from kongtian.sensing.fire.output import fire_alerts, fire_points
        from kongtian.sensing.fire.output import fire_polygons as _polys
        from kongtian.sensing.fire.scene import detect_scene

        if not scene.exists():
            raise ConfigError(f"{scene} does not exist", option="SCENE")
        fs = detect_scene(scene)
        args = (fs.result, fs.transform, fs.crs, fs.scene_id, fs.time_utc)
        out.write_text(json.dumps(fire_points(*args)), encoding="utf-8")
        if polygons is not None:
            polygons.write_text(json.dumps(_polys(*args)), encoding="utf-8")
        if alerts is not None:
            lines = [json.dumps(a) for a in fire_alerts(*args)]
            alerts.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        summary = {"scene": fs.scene_id, "out": str(out), **fs.result.summary()}
        summary["notes"] = fs.notes
        print(json.dumps(summary))
    except KongtianError as exc:
        print(f"kongtian: error: {exc}", file=sys.stderr)
        # SystemExit, not typer.Exit: kongtian.cli.main runs click with
        # standalone_mode=False, where a typer.Exit code is returned and lost (exit 0).
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"kongtian: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    sensing_app()
