"""Profiles as netCDF in the layout of the public RO archives (CDAAC ``atmPrf``-like).

Variable names follow UCAR CDAAC's atmPrf product so existing readers find them; units
are stated in each variable's ``units`` attribute and match atmPrf's conventions
(km, hPa, degrees Celsius) rather than our SI internals:

=================  ===========  ==========================================================
variable           units        meaning
=================  ===========  ==========================================================
``MSL_alt``        km           altitude above the sphere of radius ``rfict`` (no geoid:
                                we do not know the location, so it is *not* mean sea level)
``Ref``            N-units      refractivity
``Pres``           hPa          dry pressure
``Temp``           degC         dry temperature
``Impact_parm``    km           impact parameter
``Bend_ang``       rad          input (neutral) bending angle
``Opt_bend_ang``   rad          bending angle inverted (after statistical optimisation)
``Bg_bend_ang``    rad          scaled climatology bending (ours; not in atmPrf)
``Qual_flag``      1            per-level bit mask (ours; meanings in ``flag_meanings``)
=================  ===========  ==========================================================

One dimension ``MSL_alt`` ordered by increasing impact parameter. Global attributes:
``rfict`` (km, radius of curvature), ``curv`` (km, same), ``bad`` ("0"/"1"),
``t_top_K``, ``background_scale``, plus any caller metadata (``lat``, ``lon``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kongtian.errors import FormatError

from .quality import FLAG_MEANINGS
from .retrieval import RoProfile


def to_dataset(profile: RoProfile, **attrs: Any) -> Any:
    """The profile as an ``xarray.Dataset`` in the atmPrf-like layout (see module doc)."""
    import xarray as xr

    dim = "MSL_alt"

    def var(values: Any, units: str, long_name: str) -> Any:
        return xr.Variable(dim, np.asarray(values), {"units": units, "long_name": long_name})

    ds = xr.Dataset(
        {
            "Ref": var(profile.refractivity, "N-units", "refractivity"),
            "Pres": var(profile.pressure_pa / 100.0, "hPa", "dry pressure"),
            "Temp": var(profile.temperature_k - 273.15, "degC", "dry temperature"),
            "Impact_parm": var(profile.impact_m / 1e3, "km", "impact parameter"),
            "Bend_ang": var(profile.bending_obs_rad, "rad", "neutral bending angle (input)"),
            "Opt_bend_ang": var(profile.bending_rad, "rad", "optimised bending angle"),
            "Bg_bend_ang": var(
                profile.bending_background_rad, "rad", "scaled climatology bending angle"
            ),
            "Qual_flag": xr.Variable(
                dim,
                profile.flags,
                {
                    "long_name": "per-level quality bit mask",
                    "flag_masks": np.array(list(FLAG_MEANINGS), dtype=np.uint16),
                    "flag_meanings": " ".join(FLAG_MEANINGS.values()),
                },
            ),
        },
        coords={dim: var(profile.altitude_m / 1e3, "km", "altitude above the rfict sphere")},
        attrs={
            "rfict": profile.rc_m / 1e3,
            "curv": profile.rc_m / 1e3,
            "bad": "1" if profile.bad else "0",
            "t_top_K": profile.t_top_k,
            "background_scale": profile.background_scale,
            "title": "dry atmospheric profile (atmPrf-like layout)",
            "source": "kongtian.sensing.occultation",
            **attrs,
        },
    )
    return ds


def write_atmprf(profile: RoProfile, path: str | Path, **attrs: Any) -> Path:
    """Write ``profile`` to a netCDF-4 file; returns the path."""
    out = Path(path)
    to_dataset(profile, **attrs).to_netcdf(out, engine="netcdf4")
    return out


def read_atmprf(path: str | Path) -> Any:
    """Open an atmPrf(-like) netCDF file as an ``xarray.Dataset`` (loaded, file closed)."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            missing = [v for v in ("Ref", "Pres", "Temp", "Impact_parm") if v not in ds]
            if missing:
                raise FormatError(f"not an atmPrf profile, missing {missing}", path=str(path))
            return ds.load()
    except OSError as exc:
        raise FormatError(f"cannot read netCDF: {exc}", path=str(path)) from None
