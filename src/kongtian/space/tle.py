"""Two-line element sets: parse (2- and 3-line, strict or lenient) and format.

Strict mode (the default) rejects a line whose length is not 69 columns, whose
modulo-10 checksum (digits count their value, ``-`` counts 1) is wrong, whose line
numbers or satellite numbers disagree, or whose fixed columns do not parse. Every
error names ``file:line``. Lenient mode reads the first 69 columns, ignores
checksums and whatever follows column 69 (Vallado's ``SGP4-VER.TLE`` puts start,
stop and step minutes there) and skips ``#`` comment lines.
"""

from __future__ import annotations

import math
import re

import numpy as np
from sgp4.api import WGS72, Satrec

from kongtian.errors import FormatError
from kongtian.space.catalog import Catalog

_L1 = re.compile(
    r"^1 [0-9A-Z ][0-9 ]{4}[A-Z ] [ 0-9A-Z]{8} [ 0-9]{2}[ 0-9.]{12} [ +\-.0-9]{10} "
    r"[ +\-0-9]{6}[+\-0-9][0-9] [ +\-0-9]{6}[+\-0-9][0-9] [ 0-9] [ 0-9]{4}[0-9]$"
)
_L2 = re.compile(
    r"^2 [0-9A-Z ][0-9 ]{4} [ 0-9.]{8} [ 0-9.]{8} [0-9 ]{7} [ 0-9.]{8} [ 0-9.]{8} "
    r"[ 0-9.]{11}[ 0-9]{5}[0-9]$"
)
_TEMPLATE = {
    1: "1 NNNNNC NNNNNAAA NNNNN.NNNNNNNN +.NNNNNNNN +NNNNN-N +NNNNN-N N NNNNN",
    2: "2 NNNNN NNN.NNNN NNN.NNNN NNNNNNN NNN.NNNN NNN.NNNN NN.NNNNNNNNNNNNNN",
}


def checksum(line: str) -> int:
    """Modulo-10 TLE checksum of the first 68 columns."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


def parse_tle(text: str, *, path: str = "<string>", strict: bool = True, group: str = "") -> Catalog:
    """Parse 2- or 3-line element sets from ``text`` into a :class:`Catalog`."""
    lines = text.splitlines()
    names: list[str] = []
    recs: list[Satrec] = []
    pending_name: str | None = None
    i = 0
    n = len(lines)
    while i < n:
        raw = lines[i].rstrip("\r\n")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if raw.startswith("1 ") and len(raw) >= 2:
            if i + 1 >= n:
                raise FormatError("line 1 without a following line 2", path=path, line=i + 1)
            l1, l2 = raw, lines[i + 1].rstrip("\r\n")
            recs.append(_parse_pair(l1, l2, path, i + 1, strict))
            names.append(pending_name if pending_name is not None else "")
            pending_name = None
            i += 2
            continue
        if raw.startswith("2 "):
            raise FormatError("line 2 without a preceding line 1", path=path, line=i + 1)
        if pending_name is not None and strict:
            raise FormatError(
                f"expected TLE line 1 after name {pending_name!r}, got {stripped[:30]!r}",
                path=path, line=i + 1,
            )  # fmt: skip
        pending_name = stripped[2:].strip() if stripped.startswith("0 ") else stripped
        i += 1
    if pending_name is not None and strict:
        raise FormatError(f"name {pending_name!r} has no element lines", path=path, line=n)
    if not recs:
        raise FormatError("no TLE element sets found", path=path)
    return _catalog_from_satrecs(recs, names, group)


def _parse_pair(l1: str, l2: str, path: str, lineno: int, strict: bool) -> Satrec:
    for k, line, num in ((1, l1, lineno), (2, l2, lineno + 1)):
        if not line.startswith(f"{k} "):
            raise FormatError(f"expected TLE line {k}", path=path, line=num)
        if strict:
            if len(line) != 69:
                raise FormatError(
                    f"TLE line {k} has {len(line)} columns, expected 69", path=path, line=num
                )
            if not (_L1 if k == 1 else _L2).match(line):
                raise FormatError(
                    f"TLE line {k} does not match the column layout\n  {_TEMPLATE[k]}\n  {line}",
                    path=path, line=num,
                )  # fmt: skip
            want = checksum(line)
            if int(line[68]) != want:
                raise FormatError(
                    f"TLE line {k} checksum is {line[68]}, computed {want}", path=path, line=num
                )
        elif len(line) < 64:
            raise FormatError(f"TLE line {k} is too short ({len(line)} columns)", path=path, line=num)
    a, b = l1[:69], l2[:69]
    if a[2:7] != b[2:7]:
        raise FormatError(
            f"satellite number differs between line 1 ({a[2:7]!r}) and line 2 ({b[2:7]!r})",
            path=path, line=lineno + 1,
        )  # fmt: skip
    try:
        sat = Satrec.twoline2rv(a, b, WGS72)
    except (ValueError, RuntimeError) as exc:
        raise FormatError(f"cannot parse element set: {exc}", path=path, line=lineno) from None
    # A non-zero sat.error after initialisation (e.g. a decayed orbit) is not a format
    # problem: the element set is kept and the propagator reports the code per time.
    if not all(math.isfinite(x) for x in (sat.no_kozai, sat.ecco, sat.inclo)):
        raise FormatError("non-numeric orbital elements", path=path, line=lineno + 1)
    return sat


def _catalog_from_satrecs(recs: list[Satrec], names: list[str], group: str) -> Catalog:
    n = len(recs)
    jd = np.array([r.jdsatepoch for r in recs]) - 2440587.5
    jf = np.array([r.jdsatepochF for r in recs])
    epoch_ns = np.round(jd * 86_400e9).astype(np.int64) + np.round(jf * 86_400e9).astype(np.int64)
    deg = 180.0 / math.pi
    per_day = 1440.0 / (2 * math.pi)
    norad = np.array([_satnum(r) for r in recs], dtype=np.int64)
    cat = Catalog(
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
    return cat


def _satnum(r: Satrec) -> int:
    s = getattr(r, "satnum_str", None)
    if s is None:
        return int(r.satnum)
    s = s.strip()
    if s and s[0].isalpha():  # Alpha-5: A0000 = 100000, skipping I and O
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        return (letters.index(s[0]) + 10) * 10000 + int(s[1:])
    return int(s)


def format_tle(cat: Catalog, *, three_line: bool = True) -> str:
    """Format a catalog as TLE text (fresh checksums; names on line 0 if ``three_line``)."""
    out: list[str] = []
    for i in range(len(cat)):
        l1, l2 = tle_lines(cat, i)
        if three_line:
            out.append(str(cat.name[i]))
        out.extend((l1, l2))
    return "\n".join(out) + "\n"


def tle_lines(cat: Catalog, i: int) -> tuple[str, str]:
    """Lines 1 and 2 for satellite ``i`` with computed checksums."""
    ep = cat.epoch_utc[i].astype("datetime64[ns]")
    year = int(str(ep.astype("datetime64[Y]")))
    day0 = np.datetime64(f"{year}-01-01", "ns")
    doy = (ep - day0).astype(np.int64) / 86_400e9 + 1.0
    satnum = _satnum_str(int(cat.norad_id[i]))
    intl = str(cat.intl_designator[i])[:8].ljust(8)
    l1 = (
        f"1 {satnum}{str(cat.classification[i])[:1] or 'U'} {intl} {year % 100:02d}{doy:012.8f} "
        f"{_ndot(cat.ndot_rev_day2[i])} {_exp(cat.nddot_rev_day3[i])} "
        f"{_exp(cat.bstar_per_earth_radii[i])} 0 {int(cat.element_set_no[i]) % 10000:4d}"
    )
    ecc = f"{cat.eccentricity[i]:.7f}"[2:]
    l2 = (
        f"2 {satnum} {cat.inclination_deg[i] % 360:8.4f} {cat.raan_deg[i] % 360:8.4f} {ecc} "
        f"{cat.arg_perigee_deg[i] % 360:8.4f} {cat.mean_anomaly_deg[i] % 360:8.4f} "
        f"{cat.mean_motion_rev_day[i]:11.8f}{int(cat.rev_at_epoch[i]) % 100000:5d}"
    )
    return l1 + str(checksum(l1)), l2 + str(checksum(l2))


def _satnum_str(k: int) -> str:
    if k < 100000:
        return f"{k:05d}"
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return letters[k // 10000 - 10] + f"{k % 10000:04d}"


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
