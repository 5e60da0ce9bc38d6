"""Two-line element sets: parse (2- and 3-line, strict or lenient) and format.

Strict mode (the default) rejects a line whose length is not 69 columns (trailing
blanks are ignored), whose fixed-column fields do not fit the TLE layout, whose
modulo-10 checksum (digits count their value, ``-`` counts 1) is wrong, or whose
line number or satellite number disagrees with its partner line. Lenient mode reads
the first 69 columns only, ignores checksums and whatever follows column 69
(Vallado's ``SGP4-VER.TLE`` puts start, stop and step minutes there), and lets a
name line be replaced by a later one. Both modes skip blank lines and ``#`` comment
lines, and both require every numeric field to parse. Every error names
``file:line`` and, where one field is at fault, its columns.

The catalog arrays hold the values exactly as written in the file (degrees,
rev/day, the epoch to the nanosecond); the ``Satrec`` objects come from
python-sgp4's ``Satrec.twoline2rv`` so propagation matches the reference code.
Satellite numbers above 99999 use the Alpha-5 scheme (``A0000`` = 100000, letters
I and O skipped, up to ``Z9999`` = 339999).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from sgp4.api import WGS72, Satrec

from kongtian.errors import FormatError
from kongtian.space.catalog import Catalog

_DAY_NS = 86_400_000_000_000
_ALPHA5 = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # 10..33 in the leading position; no I, no O
_MAX_ALPHA5 = 339_999

# (start, stop, field name, pattern): 0-based half-open column ranges.
_SATNUM = r"[0-9A-HJ-NP-Z ][0-9 ]{3}[0-9]"
_EXPFIELD = r"[ +\-][0-9]{5}[+\-][0-9]"
_ANGLE = r"[ 0-9]{3}\.[0-9]{4}"
_LAYOUT: dict[int, tuple[tuple[int, int, str, str], ...]] = {
    1: (
        (0, 1, "line number", "1"),
        (1, 2, "separator", " "),
        (2, 7, "satellite number", _SATNUM),
        (7, 8, "classification", "[A-Z ]"),
        (8, 9, "separator", " "),
        (9, 17, "international designator", "[0-9A-Z ]{8}"),
        (17, 18, "separator", " "),
        (18, 32, "epoch", r"[0-9]{2}[ 0-9]{2}[0-9]\.[0-9]{8}"),
        (32, 33, "separator", " "),
        (33, 43, "mean motion derivative", r"[ +\-]\.[0-9]{8}"),
        (43, 44, "separator", " "),
        (44, 52, "mean motion second derivative", _EXPFIELD),
        (52, 53, "separator", " "),
        (53, 61, "BSTAR", _EXPFIELD),
        (61, 62, "separator", " "),
        (62, 63, "ephemeris type", "[ 0-9]"),
        (63, 64, "separator", " "),
        (64, 68, "element set number", "[ 0-9]{4}"),
        (68, 69, "checksum", "[0-9]"),
    ),
    2: (
        (0, 1, "line number", "2"),
        (1, 2, "separator", " "),
        (2, 7, "satellite number", _SATNUM),
        (7, 8, "separator", " "),
        (8, 16, "inclination", _ANGLE),
        (16, 17, "separator", " "),
        (17, 25, "right ascension of ascending node", _ANGLE),
        (25, 26, "separator", " "),
        (26, 33, "eccentricity", "[0-9]{7}"),
        (33, 34, "separator", " "),
        (34, 42, "argument of perigee", _ANGLE),
        (42, 43, "separator", " "),
        (43, 51, "mean anomaly", _ANGLE),
        (51, 52, "separator", " "),
        (52, 63, "mean motion", r"[ 0-9]{2}\.[0-9]{8}"),
        (63, 68, "revolution number", "[ 0-9]{5}"),
        (68, 69, "checksum", "[0-9]"),
    ),
}
_LINE_RE = {k: re.compile("".join(f"(?:{p})" for *_, p in v) + "$") for k, v in _LAYOUT.items()}
_EXAMPLE = {
    1: "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
    2: "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537",
}


def checksum(line: str) -> int:
    """Modulo-10 TLE checksum of the first 68 columns."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


# --------------------------------------------------------------------------- parsing
def parse_tle(
    text: str, *, path: str = "<string>", strict: bool = True, group: str = ""
) -> Catalog:
    """Parse 2- or 3-line element sets from ``text`` into a :class:`Catalog`.

    ``path`` only labels error messages (``path:line: ...``); ``group`` labels every
    satellite for :meth:`Catalog.select`. Raises :class:`FormatError`.
    """
    lines = text.splitlines()
    names: list[str] = []
    recs: list[Satrec] = []
    rows: list[tuple[Any, ...]] = []
    pending_name: str | None = None
    pending_line = 0
    i, n = 0, len(lines)
    while i < n:
        raw = lines[i].rstrip()
        if not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        if raw.startswith("1 "):
            if i + 1 >= n:
                raise FormatError("TLE line 1 without a following line 2", path=path, line=i + 1)
            l2 = lines[i + 1].rstrip()
            if not l2.startswith("2 "):
                raise FormatError(
                    f"expected TLE line 2 after line 1 (line {i + 1}), got {l2[:30]!r}",
                    path=path, line=i + 2,
                )  # fmt: skip
            row, sat = _parse_pair(raw, l2, path, i + 1, strict)
            rows.append(row)
            recs.append(sat)
            names.append(pending_name or "")
            pending_name = None
            i += 2
            continue
        if raw.startswith("2 "):
            raise FormatError("TLE line 2 without a preceding line 1", path=path, line=i + 1)
        if pending_name is not None and strict:
            raise FormatError(
                f"expected TLE line 1 after name {pending_name!r} (line {pending_line}), "
                f"got {raw.strip()[:30]!r}",
                path=path, line=i + 1,
            )  # fmt: skip
        stripped = raw.strip()
        # Space-Track's 3LE prefixes the name with "0 ".
        pending_name = stripped[2:].strip() if stripped.startswith("0 ") else stripped
        pending_line = i + 1
        i += 1
    if pending_name is not None and strict:
        raise FormatError(
            f"name {pending_name!r} has no element lines", path=path, line=pending_line
        )
    if not recs:
        raise FormatError("no TLE element sets found", path=path)
    return _catalog_from_rows(rows, recs, names, group)


def _parse_pair(
    l1: str, l2: str, path: str, lineno: int, strict: bool
) -> tuple[tuple[Any, ...], Satrec]:
    """Check and decode one line pair; ``lineno`` is the 1-based line of line 1."""
    lines = {1: l1, 2: l2}
    for k, num in ((1, lineno), (2, lineno + 1)):
        line = lines[k]
        if strict:
            if len(line) != 69:
                raise FormatError(
                    f"TLE line {k} has {len(line)} columns, expected 69", path=path, line=num
                )
            if not _LINE_RE[k].match(line):
                raise FormatError(_layout_message(k, line), path=path, line=num)
            want = checksum(line)
            if int(line[68]) != want:
                raise FormatError(
                    f"TLE line {k} checksum (column 69) is {line[68]}, computed {want}",
                    path=path, line=num,
                )  # fmt: skip
        else:
            if len(line) < 63:
                raise FormatError(
                    f"TLE line {k} is too short ({len(line)} columns)", path=path, line=num
                )
            lines[k] = line[:69].ljust(69)
    a, b = lines[1], lines[2]
    row = _fields(a, b, path, lineno)
    sat_b = _field(b, 2, 7, "satellite number", 2, path, lineno + 1, _decode_satnum)
    if row[0] != sat_b:
        raise FormatError(
            f"satellite number differs between line 1 ({a[2:7]!r}) and line 2 ({b[2:7]!r})",
            path=path, line=lineno + 1,
        )  # fmt: skip
    try:
        sat = Satrec.twoline2rv(a[:69], b[:69], WGS72)
    except (ValueError, RuntimeError) as exc:
        raise FormatError(f"cannot parse element set: {exc}", path=path, line=lineno) from None
    # A non-zero sat.error after initialisation (e.g. a decayed orbit) is not a format
    # problem: the element set is kept and the propagator reports the code per time.
    return row, sat


def _layout_message(k: int, line: str) -> str:
    for start, stop, what, pattern in _LAYOUT[k]:
        if not re.fullmatch(pattern, line[start:stop]):
            return (
                f"TLE line {k} columns {start + 1}-{stop} ({what}) = {line[start:stop]!r} do not "
                f"fit the layout; expected like {_EXAMPLE[k][start:stop]!r}"
            )
    return f"TLE line {k} does not match the layout:\n  {_EXAMPLE[k]}\n  {line}"


def _field(
    line: str, start: int, stop: int, what: str, k: int, path: str, num: int,
    conv: Callable[[str], Any],
) -> Any:  # fmt: skip
    s = line[start:stop]
    try:
        return conv(s)
    except (ValueError, IndexError):
        raise FormatError(
            f"TLE line {k} columns {start + 1}-{stop} ({what}) is not valid: {s!r}",
            path=path, line=num,
        ) from None  # fmt: skip


def _decode_satnum(s: str) -> int:
    """Five-column satellite number, Alpha-5 aware ('A0000' = 100000)."""
    s = s.strip()
    if s and s[0].isalpha():
        if s[0] not in _ALPHA5 or not s[1:].isdigit() or len(s) != 5:
            raise ValueError(s)
        return (_ALPHA5.index(s[0]) + 10) * 10000 + int(s[1:])
    return int(s)


def _implied(s: str) -> float:
    """TLE implied-decimal exponent field: ' 12345-3' is 0.12345e-3."""
    s = s.strip()
    if not s:
        return 0.0
    sign = s[0] if s[0] in "+-" else ""
    body = s.lstrip("+-")
    if len(body) < 2 or body[-2] not in "+-" or not body[-1].isdigit():
        raise ValueError(s)
    mant, exp = body[:-2].strip(), body[-2:]
    if not mant.isdigit():
        raise ValueError(s)
    return _float(f"{sign}0.{mant}e{exp}")


def _float(s: str) -> float:
    x = float(s)
    if not math.isfinite(x):
        raise ValueError(s)
    return x


def _int0(s: str) -> int:
    s = s.strip()
    return int(s) if s else 0


def _epoch_ns(s: str) -> int:
    """'YYDDD.DDDDDDDD' (day 1 = 1 January) to ns since 1970, with integer arithmetic."""
    yy = int(s[:2])
    day_s = s[2:].strip()
    whole, _, frac = day_s.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(s)
    year = 2000 + yy if yy < 57 else 1900 + yy
    jan1 = int(np.datetime64(f"{year:04d}-01-01", "D").astype(np.int64))
    frac_ns = (int(frac) * _DAY_NS * 2 + 10 ** len(frac)) // (2 * 10 ** len(frac)) if frac else 0
    return (jan1 + int(whole) - 1) * _DAY_NS + frac_ns


def _fields(a: str, b: str, path: str, lineno: int) -> tuple[Any, ...]:
    """Field values of one element set as written, in :func:`_catalog_from_rows` order."""
    l2 = lineno + 1
    return (
        _field(a, 2, 7, "satellite number", 1, path, lineno, _decode_satnum),
        _field(a, 18, 32, "epoch", 1, path, lineno, _epoch_ns),
        _field(b, 8, 16, "inclination", 2, path, l2, _float),
        _field(b, 17, 25, "right ascension of ascending node", 2, path, l2, _float),
        _field(b, 26, 33, "eccentricity", 2, path, l2, lambda s: _float("0." + s.strip())),
        _field(b, 34, 42, "argument of perigee", 2, path, l2, _float),
        _field(b, 43, 51, "mean anomaly", 2, path, l2, _float),
        _field(b, 52, 63, "mean motion", 2, path, l2, _float),
        _field(a, 53, 61, "BSTAR", 1, path, lineno, _implied),
        _field(a, 33, 43, "mean motion derivative", 1, path, lineno, _float),
        _field(a, 44, 52, "mean motion second derivative", 1, path, lineno, _implied),
        a[9:17].strip(),
        a[7].strip() or "U",
        _field(a, 64, 68, "element set number", 1, path, lineno, _int0),
        _field(b, 63, 68, "revolution number", 2, path, l2, _int0),
    )


def _catalog_from_rows(
    rows: list[tuple[Any, ...]], recs: list[Satrec], names: list[str], group: str
) -> Catalog:
    cols = list(zip(*rows, strict=True))
    norad = np.array(cols[0], dtype=np.int64)
    n = len(rows)
    return Catalog(
        name=np.array([nm or f"NORAD {k}" for nm, k in zip(names, norad, strict=True)], dtype=str),
        norad_id=norad,
        epoch_utc=np.array(cols[1], dtype=np.int64).astype("datetime64[ns]"),
        inclination_deg=np.array(cols[2], dtype=float),
        raan_deg=np.array(cols[3], dtype=float),
        eccentricity=np.array(cols[4], dtype=float),
        arg_perigee_deg=np.array(cols[5], dtype=float),
        mean_anomaly_deg=np.array(cols[6], dtype=float),
        mean_motion_rev_day=np.array(cols[7], dtype=float),
        bstar_per_earth_radii=np.array(cols[8], dtype=float),
        ndot_rev_day2=np.array(cols[9], dtype=float),
        nddot_rev_day3=np.array(cols[10], dtype=float),
        intl_designator=np.array(cols[11], dtype=str),
        classification=np.array(cols[12], dtype=str),
        element_set_no=np.array(cols[13], dtype=np.int64),
        rev_at_epoch=np.array(cols[14], dtype=np.int64),
        group=np.full(n, group, dtype=object).astype(str),
        satrecs=recs,
    )


def _catalog_from_satrecs(recs: list[Satrec], names: list[str], group: str) -> Catalog:
    """A catalog whose arrays are derived from initialised ``Satrec`` objects."""
    n = len(recs)
    jd = np.array([r.jdsatepoch for r in recs]) - 2440587.5
    jf = np.array([r.jdsatepochF for r in recs])
    epoch_ns = np.round(jd * 86_400e9).astype(np.int64) + np.round(jf * 86_400e9).astype(np.int64)
    deg = 180.0 / math.pi
    per_day = 1440.0 / (2 * math.pi)
    norad = np.array([int(r.satnum) for r in recs], dtype=np.int64)
    return Catalog(
        name=np.array([nm or f"NORAD {k}" for nm, k in zip(names, norad, strict=True)], dtype=str),
        norad_id=norad,
        epoch_utc=epoch_ns.astype("datetime64[ns]"),
        inclination_deg=np.array([r.inclo for r in recs]) * deg,
        raan_deg=np.array([r.nodeo for r in recs]) * deg,
        eccentricity=np.array([r.ecco for r in recs]),
        arg_perigee_deg=np.array([r.argpo for r in recs]) * deg,
        mean_anomaly_deg=np.array([r.mo for r in recs]) * deg,
        mean_motion_rev_day=np.array([r.no_kozai for r in recs]) * per_day,
        bstar_per_earth_radii=np.array([r.bstar for r in recs]),
        ndot_rev_day2=np.array([r.ndot for r in recs]) * per_day * 1440.0,
        nddot_rev_day3=np.array([r.nddot for r in recs]) * per_day * 1440.0**2,
        intl_designator=np.array([r.intldesg for r in recs], dtype=str),
        classification=np.array([r.classification or "U" for r in recs], dtype=str),
        element_set_no=np.array([r.elnum for r in recs], dtype=np.int64),
        rev_at_epoch=np.array([r.revnum for r in recs], dtype=np.int64),
        group=np.full(n, group, dtype=object).astype(str),
        satrecs=recs,
    )


# --------------------------------------------------------------------------- formatting
def format_tle(cat: Catalog, *, three_line: bool = True) -> str:
    """Format a catalog as TLE text (fresh checksums; names on line 0 if ``three_line``).

    Raises :class:`FormatError` for a satellite the format cannot hold (NORAD id
    above 339999, eccentricity outside [0, 1)).
    """
    out: list[str] = []
    for i in range(len(cat)):
        l1, l2 = tle_lines(cat, i)
        if three_line:
            out.append(str(cat.name[i]))
        out.extend((l1, l2))
    return "\n".join(out) + "\n" if out else ""


def tle_lines(cat: Catalog, i: int) -> tuple[str, str]:
    """Lines 1 and 2 for satellite ``i`` with computed checksums."""
    ep_ns = int(cat.epoch_utc[i].astype("datetime64[ns]").astype(np.int64))
    year = int(str(cat.epoch_utc[i].astype("datetime64[Y]")))
    jan1_ns = int(np.datetime64(f"{year:04d}-01-01", "D").astype(np.int64)) * _DAY_NS
    day, ns_in_day = divmod(ep_ns - jan1_ns, _DAY_NS)
    frac = (ns_in_day * 2 + 864_000) // (2 * 864_000)  # 1e-8 day = 864 us, rounded
    if frac == 10**8:
        day, frac = day + 1, 0
    satnum = _satnum_str(int(cat.norad_id[i]), str(cat.name[i]))
    ecc = float(cat.eccentricity[i])
    ecc_s = f"{ecc:.7f}"
    if not 0.0 <= ecc or not ecc_s.startswith("0."):
        raise FormatError(f"{cat.name[i]}: eccentricity {ecc} cannot be written to a TLE")
    intl = str(cat.intl_designator[i])[:8].ljust(8)
    l1 = (
        f"1 {satnum}{str(cat.classification[i])[:1] or 'U'} {intl} "
        f"{year % 100:02d}{day + 1:03d}.{frac:08d} "
        f"{_ndot(cat.ndot_rev_day2[i])} {_exp(cat.nddot_rev_day3[i])} "
        f"{_exp(cat.bstar_per_earth_radii[i])} {_ephtype(cat, i)} "
        f"{int(cat.element_set_no[i]) % 10000:4d}"
    )
    l2 = (
        f"2 {satnum} {_angle(cat.inclination_deg[i])} {_angle(cat.raan_deg[i])} {ecc_s[2:]} "
        f"{_angle(cat.arg_perigee_deg[i])} {_angle(cat.mean_anomaly_deg[i])} "
        f"{cat.mean_motion_rev_day[i]:11.8f}{int(cat.rev_at_epoch[i]) % 100000:5d}"
    )
    return l1 + str(checksum(l1)), l2 + str(checksum(l2))


def _ephtype(cat: Catalog, i: int) -> int:
    if i < len(cat.satrecs):
        t = int(getattr(cat.satrecs[i], "ephtype", 0) or 0)
        return t if 0 <= t <= 9 else 0
    return 0


def _angle(x: float) -> str:
    # Round before wrapping so 359.99996 becomes "  0.0000", not "360.0000".
    return f"{round(float(x), 4) % 360.0:8.4f}"


def _satnum_str(k: int, name: str = "") -> str:
    if 0 <= k < 100000:
        return f"{k:05d}"
    if k < 0 or k > _MAX_ALPHA5:
        raise FormatError(
            f"{name or 'satellite'}: NORAD id {k} cannot be written to a TLE "
            f"(Alpha-5 ends at {_MAX_ALPHA5}); write OMM instead"
        )
    return _ALPHA5[k // 10000 - 10] + f"{k % 10000:04d}"


def _ndot(x: float) -> str:
    s = f"{x:.8f}"
    sign = "-" if s.startswith("-") else " "
    s = s.lstrip("-")
    return sign + s[1:] if s.startswith("0") else sign + s


def _exp(x: float) -> str:
    """TLE's implied-decimal exponent form: ' 12345-3' means 0.12345e-3."""
    if x == 0:
        return " 00000+0"
    sign = "-" if x < 0 else " "
    m, e = f"{abs(x):.4e}".split("e")
    mant = int(round(float(m) * 10000))
    exp = int(e) + 1
    if mant >= 100000:
        mant //= 10
        exp += 1
    return f"{sign}{mant:05d}{'-' if exp < 0 else '+'}{abs(exp)}"
