"""Terrain horizon masks: the lowest usable elevation as a function of azimuth.

A site in a valley (Wuxi, Chengkou) sees the sky only above the ridge line; a mask
holds that ridge as knots (azimuth, minimum elevation) in degrees, azimuth clockwise
from true north in [0, 360). Between knots the limit is linear in azimuth, and the
last knot joins the first across north (periodic interpolation), so a mask needs no
knot at 0 deg. Evaluation takes and returns radians, the unit of the frame functions
(:func:`kongtian.geo.frames.enu_to_aer`), and is vectorised over any array shape.

CSV format (``HorizonMask.from_csv``): header ``az_deg,min_elev_deg``, one knot per
line, ``#`` comments and blank lines ignored.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError, FormatError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_COLUMNS = ("az_deg", "min_elev_deg")


@dataclass(frozen=True, eq=False)
class HorizonMask:
    """Minimum elevation (deg) at knot azimuths (deg, [0, 360)), periodic linear in azimuth."""

    az_deg: FloatArray
    min_elev_deg: FloatArray

    def __post_init__(self) -> None:
        az = np.asarray(self.az_deg, dtype=np.float64).ravel()
        el = np.asarray(self.min_elev_deg, dtype=np.float64).ravel()
        if az.size == 0 or az.size != el.size:
            raise ConfigError(
                f"need as many azimuths as elevations (>= 1), got {az.size} and {el.size}",
                option="horizon mask",
            )
        if not (np.all(np.isfinite(az)) and np.all((az >= 0.0) & (az < 360.0))):
            raise ConfigError("azimuths must be finite and in [0, 360) deg", option="horizon mask")
        if not (np.all(np.isfinite(el)) and np.all(np.abs(el) <= 90.0)):
            raise ConfigError(
                "elevations must be finite and in [-90, 90] deg", option="horizon mask"
            )
        order = np.argsort(az, kind="stable")
        az, el = az[order], el[order]
        if np.any(np.diff(az) == 0.0):
            dup = az[1:][np.diff(az) == 0.0][0]
            raise ConfigError(f"azimuth {dup:g} deg given twice", option="horizon mask")
        az.setflags(write=False)
        el.setflags(write=False)
        object.__setattr__(self, "az_deg", az)
        object.__setattr__(self, "min_elev_deg", el)

    @classmethod
    def constant(cls, min_elev_deg: float) -> HorizonMask:
        """The same limit in every direction (a plain elevation mask)."""
        return cls(np.array([0.0]), np.array([float(min_elev_deg)]))

    @classmethod
    def from_csv(cls, path: str | Path) -> HorizonMask:
        """Read knots from a CSV file (see module docstring); errors name file:line."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise FormatError(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text ({exc.reason})", path=str(p)) from None
        return cls._parse(text, str(p))

    @classmethod
    def _parse(cls, text: str, where: str) -> HorizonMask:
        header_seen = False
        az: list[float] = []
        el: list[float] = []
        first_line: dict[float, int] = {}
        for lineno, row in _rows(text):
            cells = [c.strip() for c in row]
            if not header_seen:
                if tuple(c.lower() for c in cells) != _COLUMNS:
                    raise FormatError(
                        f"header must be 'az_deg,min_elev_deg', got {','.join(cells)!r}",
                        path=where,
                        line=lineno,
                    )
                header_seen = True
                continue
            if len(cells) != 2:
                raise FormatError(f"expected 2 fields, got {len(cells)}", path=where, line=lineno)
            vals = []
            for name, c in zip(_COLUMNS, cells, strict=True):
                try:
                    v = float(c)
                except ValueError:
                    raise FormatError(
                        f"{name} is not a number: {c!r}", path=where, line=lineno
                    ) from None
                if not math.isfinite(v):
                    raise FormatError(f"{name} must be finite, got {c!r}", path=where, line=lineno)
                vals.append(v)
            a, e = vals
            if not 0.0 <= a < 360.0:
                raise FormatError(f"az_deg {a:g} outside [0, 360)", path=where, line=lineno)
            if not -90.0 <= e <= 90.0:
                raise FormatError(f"min_elev_deg {e:g} outside [-90, 90]", path=where, line=lineno)
            if a in first_line:
                raise FormatError(
                    f"az_deg {a:g} repeats line {first_line[a]}", path=where, line=lineno
                )
            first_line[a] = lineno
            az.append(a)
            el.append(e)
        if not header_seen:
            raise FormatError("empty file: no header 'az_deg,min_elev_deg'", path=where)
        if not az:
            raise FormatError("no data rows after the header", path=where)
        return cls(np.array(az), np.array(el))

    def min_elev_deg_at(self, az_deg: Any) -> FloatArray:
        """Limit (deg) at azimuths in degrees (any real values; taken modulo 360)."""
        a = np.mod(np.asarray(az_deg, dtype=np.float64), 360.0)
        return np.interp(a, self.az_deg, self.min_elev_deg, period=360.0)

    def min_elev_rad(self, az_rad: Any) -> FloatArray:
        """Limit (rad) at azimuths in radians, same shape as ``az_rad``."""
        return np.radians(self.min_elev_deg_at(np.degrees(np.asarray(az_rad, np.float64))))

    def visible(self, az_rad: Any, elev_rad: Any) -> BoolArray:
        """True where a direction (az, elev in rad) is at or above the mask."""
        return np.asarray(elev_rad, np.float64) >= self.min_elev_rad(az_rad)


def _rows(text: str) -> Any:
    for lineno, line in enumerate(io.StringIO(text), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        yield lineno, next(csv.reader([stripped]))


def combine(mask: HorizonMask | None, min_elev_deg: float) -> HorizonMask:
    """The larger of a terrain mask and a flat elevation limit, at every azimuth.

    Knots are added where a mask segment crosses the flat limit, so the result is the
    exact pointwise maximum, not just the maximum at the old knots.
    """
    c = float(min_elev_deg)
    if not (math.isfinite(c) and -90.0 <= c <= 90.0):
        raise ConfigError(
            f"elevation limit {min_elev_deg!r} outside [-90, 90] deg", option="--min-elev"
        )
    if mask is None:
        return HorizonMask.constant(c)
    az = mask.az_deg
    el = mask.min_elev_deg
    # Segments i -> i+1, the last one wrapping across north to the first knot + 360.
    az_next = np.append(az[1:], az[0] + 360.0)
    el_next = np.append(el[1:], el[0])
    d0 = el - c
    d1 = el_next - c
    cross = d0 * d1 < 0.0
    t = d0[cross] / (d0[cross] - d1[cross])
    az_cross = np.mod(az[cross] + t * (az_next[cross] - az[cross]), 360.0)
    new_az = np.concatenate([az, az_cross])
    new_el = np.concatenate([np.maximum(el, c), np.full(az_cross.size, c)])
    # A crossing can round onto an existing knot; keep one copy (values agree there).
    new_az, keep = np.unique(new_az, return_index=True)
    return HorizonMask(new_az, new_el[keep])
