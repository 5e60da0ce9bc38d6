"""CSV input and output of the ``ro-invert`` command.

Input: a header line naming at least ``impact_m`` and ``bending_rad`` (other columns are
ignored), then one level per line, impact parameters strictly increasing (or strictly
decreasing, as when a setting occultation is stored in time order; they are reversed).
Output: ``altitude_m,refractivity,pressure_hpa,temperature_k`` (altitude above the sphere
of the given curvature radius), increasing altitude.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kongtian.errors import FormatError

from .retrieval import RoProfile

FloatArray = npt.NDArray[np.float64]
REQUIRED = ("impact_m", "bending_rad")


def read_bending_csv(path: str | Path) -> tuple[FloatArray, FloatArray]:
    """Impact parameter (m) and bending angle (rad) from a CSV file, increasing impact.

    Raises :class:`~kongtian.errors.FormatError` naming ``file:line`` and the column.
    """
    p = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror}", path=p) from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise FormatError(
                "empty file, expected a header with impact_m,bending_rad", path=p, line=1
            ) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FormatError(f"not a CSV text file ({exc})", path=p, line=1) from None
        names = [h.strip() for h in header]
        cols: list[int] = []
        for name in REQUIRED:
            if name not in names:
                raise FormatError(f"missing column {name!r} in header {header!r}", path=p, line=1)
            cols.append(names.index(name))
        a: list[float] = []
        al: list[float] = []
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                vals = []
                for name, c in zip(REQUIRED, cols, strict=True):
                    if c >= len(row):
                        raise FormatError(f"column {name!r} missing", path=p, line=line)
                    try:
                        v = float(row[c])
                    except ValueError:
                        raise FormatError(
                            f"column {name!r}: not a number: {row[c]!r}", path=p, line=line
                        ) from None
                    if not math.isfinite(v):
                        raise FormatError(
                            f"column {name!r}: not finite: {row[c]!r}", path=p, line=line
                        )
                    vals.append(v)
                if a and vals[0] == a[-1]:
                    raise FormatError("column 'impact_m': repeated value", path=p, line=line)
                if len(a) >= 2 and (vals[0] - a[-1]) * (a[-1] - a[-2]) < 0:
                    raise FormatError("column 'impact_m': not monotonic", path=p, line=line)
                a.append(vals[0])
                al.append(vals[1])
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FormatError(
                f"not a CSV text file ({exc})", path=p, line=reader.line_num
            ) from None
    if len(a) < 3:
        raise FormatError(f"needs at least 3 levels, found {len(a)}", path=p)
    ia, ial = np.array(a), np.array(al)
    if ia[1] < ia[0]:
        ia, ial = ia[::-1].copy(), ial[::-1].copy()
    return ia, ial


def write_profile_csv(profile: RoProfile, path: str | Path) -> Path:
    """Write ``altitude_m,refractivity,pressure_hpa,temperature_k`` (usable levels only)."""
    out = Path(path)
    keep = np.isfinite(profile.temperature_k)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["altitude_m", "refractivity", "pressure_hpa", "temperature_k"])
        for z, n, pr, t in zip(
            profile.altitude_m[keep],
            profile.refractivity[keep],
            profile.pressure_pa[keep] / 100.0,
            profile.temperature_k[keep],
            strict=True,
        ):
            w.writerow([f"{z:.1f}", f"{n:.6g}", f"{pr:.6g}", f"{t:.3f}"])
    return out
