"""RINEX navigation files (2.10-2.12, 3.00-3.05, 4.0x): broadcast records as DataFrames.

:func:`read_nav` returns a :class:`NavData`: header ionosphere / time-correction / leap
second values and one ``pandas.DataFrame`` of broadcast records per system letter
(``"G"`` GPS, ``"E"`` Galileo, ``"C"`` BeiDou, ``"R"`` GLONASS, ``"J"`` QZSS, ``"I"``
NavIC/IRNSS, ``"S"`` SBAS), one row per record, sorted by ``(sv, toc)``.

Columns (all records): ``sv`` ("G05", "C01": zero-padded), ``msg_type``, ``toc``,
``af0`` (s), ``af1`` (s/s), ``af2`` (s/s^2), ``line`` (1-based number, in the
decompressed file, of the record's SV/epoch line -- in RINEX 4 the line after ``> EPH`` --
for messages downstream).

``toc`` is ``datetime64[ns]`` read as printed, i.e. in the **system's own time scale**:
GPST for G/J/I/S, GST for E (= GPST), BDT for C, UTC for R (RINEX writes GLONASS epochs
in UTC). ``DataFrame.attrs["toc_scale"]`` names it. Seconds of week (``toe``, ``tx_time``)
and ``week`` are system-native too: GPS week for G/J/I (continuous, as RINEX writes it),
the "GAL week" column of RINEX 3/4 for E (which RINEX aligns with the GPS week), BDT week
for C.

``msg_type``: RINEX 4 says it in the ``> EPH`` line; RINEX 2/3 do not, so it is inferred:
Galileo F/NAV when bit 1 (E5a) of ``data_sources`` is set, else I/NAV; BeiDou D2 for the
GEO PRNs C01-C05 and C59-C63, else D1; GPS/QZSS/NavIC "LNAV", GLONASS "FDMA", SBAS "SBAS".

Orbit columns (SI units, angles in rad and rad/s as in the file):

- G/J/I LNAV: ``iode crs delta_n m0 cuc e cus sqrt_a toe cic omega0 cis i0 crc omega
  omega_dot idot l2_codes week l2p_flag sv_accuracy health tgd iodc tx_time fit_interval``.
- E INAV/FNAV: the same Keplerian set with ``iodnav`` (copied to ``iode``),
  ``data_sources``, ``sisa`` (m), ``bgd_e5a_e1``, ``bgd_e5b_e1`` (s).
- C D1/D2: the Keplerian set with ``aode`` (copied to ``iode``), ``tgd`` (= TGD1, B1I),
  ``tgd2`` (TGD2, B2I), ``aodc``, ``sv_accuracy`` (m), ``health`` (SatH1).
- R FDMA: ``tau_n`` (s, = -af0: RINEX stores -TauN, which is also ``af0``), ``gamma_n``
  (= ``af1``), ``tk`` (message frame time, s of the UTC week), ``x y z`` (m), ``vx vy vz``
  (m/s), ``ax ay az`` (m/s^2) -- RINEX stores km, converted here --, ``health``,
  ``freq_num``, ``age``; RINEX >= 3.05 also ``status_flags delta_tau_n urai
  health_flags``.
- S SBAS: ``af0 af1 tx_time``, position/velocity/acceleration as for GLONASS (m),
  ``health``, ``ura``, ``iodn``.
- RINEX 4 CNAV (G/J ``CNAV``/``CNV2``): ``adot crs delta_n m0 cuc e cus sqrt_a t_op cic
  omega0 cis i0 crc omega omega_dot idot delta_n_dot urai_ned0 urai_ned1 urai_ed health tgd
  urai_ned2 isc_l1ca isc_l2c isc_l5i5 isc_l5q5 [isc_l1cd isc_l1cp] tx_time week flags``
  (``toe`` is set to the seconds of week of ``toc``, as the CNAV ``toe`` equals ``toc``).
- RINEX 4 BeiDou ``CNV1``/``CNV2``: ``adot crs delta_n m0 cuc e cus sqrt_a toe cic omega0
  cis i0 crc omega omega_dot idot delta_n_dot sat_type t_op sisai_oe sisai_ocb sisai_oc1
  sisai_oc2 isc_b1cd|isc_b2ad tgd_b1cp tgd_b2ap sismai health integrity_flags iodc tx_time
  iode``; ``CNV3`` (B2b): ``... sisai_* sismai health integrity_flags tgd_b2bi tx_time``.

Missing values are NaN. Records of other RINEX 4 message types (``L1OC``, ``L3OC`` ...) are
skipped; ``> STO``/``> ION`` records fill ``time_corr``/``iono``; ``> EOP`` is skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kongtian.errors import FormatError
from kongtian.nav.rinex_io import fixed_floats, read_rinex_bytes, sniff_version

__all__ = ["NavData", "read_nav", "TOC_SCALE"]

#: Time scale of ``toc`` per system letter.
TOC_SCALE = {"G": "GPST", "J": "GPST", "I": "GPST", "S": "GPST", "E": "GST", "C": "BDT",
             "R": "UTC"}  # fmt: skip

_W = 19  # width of a numeric field in navigation records

_KEPLER: list[str | None] = ["crs", "delta_n", "m0", "cuc", "e", "cus", "sqrt_a", "toe", "cic", "omega0",
           "cis", "i0", "crc", "omega", "omega_dot", "idot"]  # fmt: skip
_GPS_LNAV: list[str | None] = ["iode", *_KEPLER, "l2_codes", "week", "l2p_flag", "sv_accuracy", "health", "tgd",
             "iodc", "tx_time", "fit_interval", None, None]  # fmt: skip
_IRN_LNAV: list[str | None] = ["iode", *_KEPLER, None, "week", None, "sv_accuracy", "health", "tgd", None,
             "tx_time", None, None, None]  # fmt: skip
_GAL: list[str | None] = ["iodnav", *_KEPLER, "data_sources", "week", None, "sisa", "health", "bgd_e5a_e1",
        "bgd_e5b_e1", "tx_time", None, None, None]  # fmt: skip
_BDS_D12: list[str | None] = ["aode", *_KEPLER, None, "week", None, "sv_accuracy", "health", "tgd", "tgd2",
            "tx_time", "aodc", None, None]  # fmt: skip
_GLO: list[str | None] = ["x", "vx", "ax", "health", "y", "vy", "ay", "freq_num", "z", "vz", "az", "age",
        "status_flags", "delta_tau_n", "urai", "health_flags"]  # fmt: skip
_SBAS: list[str | None] = [
    "x",
    "vx",
    "ax",
    "health",
    "y",
    "vy",
    "ay",
    "ura",
    "z",
    "vz",
    "az",
    "iodn",
]
_KEPLER_CNAV: list[str | None] = ["adot", "crs", "delta_n", "m0", "cuc", "e", "cus", "sqrt_a"]
_ORIENT: list[str | None] = ["cic", "omega0", "cis", "i0", "crc", "omega", "omega_dot", "idot"]
_GPS_CNAV: list[str | None] = [*_KEPLER_CNAV, "t_op", *_ORIENT, "delta_n_dot", "urai_ned0", "urai_ned1",
             "urai_ed", "health", "tgd", "urai_ned2", "isc_l1ca", "isc_l2c", "isc_l5i5",
             "isc_l5q5"]  # fmt: skip
_GPS_CNAV_TAIL: list[str | None] = ["tx_time", "week", "flags", None]
_GPS_CNV2_TAIL: list[str | None] = [
    "isc_l1cd",
    "isc_l1cp",
    None,
    None,
    "tx_time",
    "week",
    "flags",
    None,
]
_BDS_CNAV: list[str | None] = [*_KEPLER_CNAV, "toe", *_ORIENT, "delta_n_dot", "sat_type", "t_op", "sisai_oe",
             "sisai_ocb", "sisai_oc1", "sisai_oc2"]  # fmt: skip
_BDS_CNV1_TAIL: list[str | None] = ["isc_b1cd", None, "tgd_b1cp", "tgd_b2ap", "sismai", "health",
                  "integrity_flags", "iodc", "tx_time", None, None, "iode"]  # fmt: skip
_BDS_CNV2_TAIL: list[str | None] = [None, "isc_b2ad", "tgd_b1cp", "tgd_b2ap", "sismai", "health",
                  "integrity_flags", "iodc", "tx_time", None, None, "iode"]  # fmt: skip
_BDS_CNV3_TAIL: list[str | None] = ["sismai", "health", "integrity_flags", "tgd_b2bi", "tx_time", None, None,
                  None]  # fmt: skip

_CLOCK = ["af0", "af1", "af2"]
_CLOCK_SBAS = ["af0", "af1", "tx_time"]
_CLOCK_GLO = ["af0", "gamma_n", "tk"]


@dataclass(frozen=True)
class _Layout:
    clock: list[str]
    orbit: list[str | None]
    min_lines: int  # broadcast-orbit lines that must be present after the epoch line
    km_fields: tuple[str, ...] = ()


def _layout(sys: str, msg: str, version: float) -> _Layout | None:
    if sys in "GJ" and msg == "LNAV":
        return _Layout(_CLOCK, _GPS_LNAV, 7)
    if sys == "I" and msg == "LNAV":
        return _Layout(_CLOCK, _IRN_LNAV, 7)
    if sys == "E" and msg in ("INAV", "FNAV"):
        return _Layout(_CLOCK, _GAL, 7)
    if sys == "C" and msg in ("D1", "D2"):
        return _Layout(_CLOCK, _BDS_D12, 7)
    if sys == "R" and msg == "FDMA":
        # RINEX 3.05/4 add a 4th orbit line (status flags, delta tau, URAI, health flags).
        return _Layout(_CLOCK_GLO, _GLO, 4 if version >= 3.05 else 3, _PVA)
    if sys == "S" and msg == "SBAS":
        return _Layout(_CLOCK_SBAS, _SBAS, 3, _PVA)
    if sys in "GJ" and msg == "CNAV":
        return _Layout(_CLOCK, _GPS_CNAV + _GPS_CNAV_TAIL, 8)
    if sys in "GJ" and msg == "CNV2":
        return _Layout(_CLOCK, _GPS_CNAV + _GPS_CNV2_TAIL, 9)
    if sys == "C" and msg == "CNV1":
        return _Layout(_CLOCK, _BDS_CNAV + _BDS_CNV1_TAIL, 9)
    if sys == "C" and msg == "CNV2":
        return _Layout(_CLOCK, _BDS_CNAV + _BDS_CNV2_TAIL, 9)
    if sys == "C" and msg == "CNV3":
        return _Layout(_CLOCK, _BDS_CNAV + _BDS_CNV3_TAIL, 8)
    return None


_PVA = ("x", "y", "z", "vx", "vy", "vz", "ax", "ay", "az")


@dataclass
class NavData:
    """Content of one RINEX navigation file.

    ``iono``: Klobuchar ``"GPSA"``/``"GPSB"`` (alpha in s, s/semicircle, ...; beta in s,
    ...; 4 each), ``"BDSA"``/``"BDSB"``, ``"QZSA"``/``"QZSB"``, ``"IRNA"``/``"IRNB"``,
    NeQuick ``"GAL"`` (ai0, ai1, ai2, and a 4th value when printed), ``"BDGIM"`` (RINEX 4
    BeiDou CNAV, 9 values) -- the header values in RINEX 2/3, the first ``> ION`` record
    of each kind in RINEX 4.
    ``time_corr``: ``"GPUT"``, ``"GAUT"``, ``"GAGP"``, ``"BDUT"``, ... -> ``(a0 s, a1 s/s,
    reference time s of week, reference week)`` as printed in the header (RINEX 2
    ``DELTA-UTC: A0,A1,T,W`` is stored as ``"GPUT"``); from RINEX 4 ``> STO`` records the
    reference time/week are the ``t_ot`` epoch's seconds/week of the GPS week count and a
    fifth element holds A2 (s/s^2).
    ``leap_seconds``: the ``LEAP SECONDS`` header value (GPS-UTC), ``None`` if absent.
    """

    version: float
    iono: dict[str, np.ndarray] = field(default_factory=dict)
    time_corr: dict[str, tuple[float, ...]] = field(default_factory=dict)
    leap_seconds: int | None = None
    records: dict[str, pd.DataFrame] = field(default_factory=dict)
    path: str = ""

    def summary(self) -> dict[str, object]:
        """Record counts per system and message type, satellites and toc span."""
        systems: dict[str, object] = {}
        for sysl, df in self.records.items():
            systems[sysl] = {
                "records": len(df),
                "msg_types": {str(k): int(v) for k, v in df["msg_type"].value_counts().items()},
                "satellites": sorted(df["sv"].unique().tolist()),
                "toc_first": str(df["toc"].min()),
                "toc_last": str(df["toc"].max()),
                "toc_scale": df.attrs.get("toc_scale", ""),
            }
        return {
            "path": self.path,
            "version": self.version,
            "leap_seconds": self.leap_seconds,
            "iono": sorted(self.iono),
            "time_corr": sorted(self.time_corr),
            "systems": systems,
        }


def read_nav(path: str | os.PathLike[str]) -> NavData:
    """Read a RINEX 2/3/4 navigation file (plain, .gz, .Z); see the module docstring."""
    spath = str(path)
    text = read_rinex_bytes(path).decode("ascii", errors="replace")
    lines = text.splitlines()
    if not lines:
        raise FormatError("empty file", path=spath)
    ver = sniff_version(lines[0], spath)
    if ver.file_type not in ("N", "G", "H"):
        raise FormatError(
            f"not a navigation file (type {ver.file_type!r} in RINEX VERSION / TYPE)",
            path=spath,
            line=1,
        )
    nav = NavData(version=ver.version, path=spath)
    body = _read_header(lines, nav, spath)
    if ver.version < 3:
        default_sys = {"N": "G", "G": "R", "H": "S"}[ver.file_type]
        raw = _split_v2(lines, body, default_sys, spath)
    elif ver.version < 4:
        raw = _split_v3(lines, body, spath)
    else:
        raw = _split_v4(lines, body, spath, nav)
    nav.records = _build_frames(raw, lines, ver.version, spath)
    return nav


# --------------------------------------------------------------------------- header


def _hfloat(s: str) -> float:
    s = s.strip().replace("D", "E").replace("d", "E")
    return float(s) if s else float("nan")


def _read_header(lines: list[str], nav: NavData, path: str) -> int:
    """Parse header lines into ``nav``; return the index of the first body line."""
    for i, line in enumerate(lines):
        label = line[60:].strip()
        try:
            if label == "END OF HEADER":
                return i + 1
            if label == "LEAP SECONDS":
                nav.leap_seconds = int(line[:6])
            elif label == "ION ALPHA":  # RINEX 2
                nav.iono["GPSA"] = np.array(
                    [_hfloat(line[2 + 12 * k : 14 + 12 * k]) for k in range(4)]
                )
            elif label == "ION BETA":
                nav.iono["GPSB"] = np.array(
                    [_hfloat(line[2 + 12 * k : 14 + 12 * k]) for k in range(4)]
                )
            elif label == "DELTA-UTC: A0,A1,T,W":
                nav.time_corr["GPUT"] = (_hfloat(line[3:22]), _hfloat(line[22:41]),
                                         float(int(line[41:50])), float(int(line[50:59])))  # fmt: skip
            elif label == "CORR TO SYSTEM TIME":  # RINEX 2 GLONASS: tau_c at line[21:40]
                nav.time_corr["GLUT"] = (_hfloat(line[21:40]), 0.0, float("nan"), float("nan"))
            elif label == "IONOSPHERIC CORR":
                key = line[:4].strip()
                if key not in nav.iono:  # BDS may repeat BDSA/BDSB per hour: keep the first
                    vals = [_hfloat(line[5 + 12 * k : 17 + 12 * k]) for k in range(4)]
                    nav.iono[key] = np.array(vals)
            elif label == "TIME SYSTEM CORR":
                key = line[:4].strip()
                if key not in nav.time_corr:
                    nav.time_corr[key] = (_hfloat(line[5:22]), _hfloat(line[22:38]),
                                          float(int(line[38:45])), float(int(line[45:50])))  # fmt: skip
        except ValueError:
            raise FormatError(f"unreadable {label!r} header line", path=path, line=i + 1) from None
    raise FormatError("no END OF HEADER line (truncated header?)", path=path, line=len(lines))


# --------------------------------------------------------------------------- record split

# One raw record: (system, msg_type ("" = infer), prn, index of the epoch line, line count)
_Raw = tuple[str, str, int, int, int]


def _split_v2(lines: list[str], start: int, sys: str, path: str) -> list[_Raw]:
    out: list[_Raw] = []
    msg = {"G": "LNAV", "R": "FDMA", "S": "SBAS"}[sys]
    i, n = start, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if not line[:2].strip():
            raise FormatError("continuation line outside a record", path=path, line=i + 1)
        try:
            prn = int(line[:2])
        except ValueError:
            raise FormatError(f"bad PRN field {line[:2]!r}", path=path, line=i + 1) from None
        j = i + 1
        while j < n and lines[j][:3] == "   " and lines[j].strip():
            j += 1
        out.append((sys, msg, prn, i, j - i))
        i = j
    return out


def _split_v3(lines: list[str], start: int, path: str) -> list[_Raw]:
    out: list[_Raw] = []
    i, n = start, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        sys = line[:1]
        if sys == " ":
            raise FormatError("continuation line outside a record", path=path, line=i + 1)
        try:
            prn = int(line[1:3])
        except ValueError:
            raise FormatError(f"bad satellite field {line[:3]!r}", path=path, line=i + 1) from None
        j = i + 1
        while j < n and lines[j][:1] == " " and lines[j].strip():
            j += 1
        out.append((sys, "", prn, i, j - i))
        i = j
    return out


def _split_v4(lines: list[str], start: int, path: str, nav: NavData) -> list[_Raw]:
    out: list[_Raw] = []
    i, n = start, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if not line.startswith(">"):
            raise FormatError("expected a '>' record header line", path=path, line=i + 1)
        j = i + 1
        while j < n and not lines[j].startswith(">"):
            j += 1
        parts = line[1:].split()
        if len(parts) < 3:
            raise FormatError("bad record header (want '> TYPE SV MSG')", path=path, line=i + 1)
        kind, sv, msg = parts[0], parts[1], parts[2]
        if kind == "EPH":
            # drop trailing blank lines
            k = j
            while k > i + 1 and not lines[k - 1].strip():
                k -= 1
            try:
                prn = int(sv[1:3])
            except ValueError:
                raise FormatError(f"bad satellite field {sv!r}", path=path, line=i + 1) from None
            out.append((sv[:1], msg, prn, i + 1, k - i - 1))
        elif kind == "ION":
            _ion_record(lines, i, j, sv, msg, nav, path)
        elif kind == "STO":
            _sto_record(lines, i, j, nav, path)
        i = j
    return out


def _v4_values(lines: list[str], i: int, j: int, path: str) -> np.ndarray:
    """Numeric fields of the lines i+1..j-1 of a RINEX 4 ION/STO record (first line: epoch)."""
    cells = []
    for k in range(i + 1, j):
        # the epoch line carries 3 values after the epoch, the others 4 after 4 blanks
        first, count = (23, 3) if k == i + 1 else (4, 4)
        cells.append(_pad(lines[k], first + count * _W)[first : first + count * _W])
    buf = np.frombuffer("".join(cells).encode("ascii", "replace"), dtype=np.uint8)
    try:
        return fixed_floats(buf.reshape(-1, _W))
    except ValueError as exc:
        raise FormatError(f"bad number in record: {exc.args[0]}", path=path, line=i + 2) from None


def _ion_record(
    lines: list[str], i: int, j: int, sv: str, msg: str, nav: NavData, path: str
) -> None:
    v = _v4_values(lines, i, j, path)
    sys = sv[:1]
    if msg in ("LNAV", "D1D2") and v.size >= 8:
        a, b = {"G": ("GPSA", "GPSB"), "J": ("QZSA", "QZSB"), "C": ("BDSA", "BDSB"),
                "I": ("IRNA", "IRNB")}.get(sys, (sys + "A", sys + "B"))  # fmt: skip
        nav.iono.setdefault(a, v[:4].copy())
        nav.iono.setdefault(b, v[4:8].copy())
    elif msg == "IFNV":
        nav.iono.setdefault("GAL", v[:4].copy())
    elif msg in ("CNVX", "CNV1", "CNV2", "CNV3"):
        nav.iono.setdefault("BDGIM", v[:9].copy())


def _sto_record(lines: list[str], i: int, j: int, nav: NavData, path: str) -> None:
    if j - i < 3:
        raise FormatError("truncated STO record", path=path, line=i + 1)
    first = lines[i + 1]
    key = first[24:42].strip()
    try:
        when = _epoch(first, 4)
    except ValueError:
        raise FormatError("bad STO epoch", path=path, line=i + 2) from None
    buf = np.frombuffer(_pad(lines[i + 2], 80)[4:80].encode("ascii", "replace"), np.uint8)
    try:
        v = fixed_floats(buf.reshape(4, _W))
    except ValueError as exc:
        raise FormatError(
            f"bad number in STO record: {exc.args[0]}", path=path, line=i + 3
        ) from None
    ns = (when - np.datetime64("1980-01-06T00:00:00", "ns")).astype(np.int64)
    week = ns // (604_800 * 10**9)
    sow = (ns - week * 604_800 * 10**9) / 1e9
    if key and key not in nav.time_corr:
        nav.time_corr[key] = (float(v[1]), float(v[2]), float(sow), float(week), float(v[3]))


# --------------------------------------------------------------------------- records


def _pad(s: str, n: int) -> str:
    return s if len(s) >= n else s + " " * (n - len(s))


def _epoch(line: str, col: int) -> np.datetime64:
    """RINEX 3/4 epoch ``yyyy mm dd hh mm ss`` starting at ``col``."""
    y, mo, d, h, mi, s = line[col : col + 19].split()
    base = np.datetime64(f"{int(y):04d}-{int(mo):02d}-{int(d):02d}", "ns")
    return base + np.timedelta64(int(h) * 3600 + int(mi) * 60 + int(s), "s")


def _epoch_v2(line: str) -> np.datetime64:
    yy, mo, d, h, mi = (int(line[k : k + 3]) for k in (2, 5, 8, 11, 14))
    sec = float(line[17:22])
    year = yy + (2000 if yy < 80 else 1900) if yy < 100 else yy
    base = np.datetime64(f"{year:04d}-{mo:02d}-{d:02d}", "ns")
    return (
        base + np.timedelta64(int(h * 3600 + mi * 60), "s") + np.timedelta64(round(sec * 1e9), "ns")
    )


def _build_frames(
    raw: list[_Raw], lines: list[str], version: float, path: str
) -> dict[str, pd.DataFrame]:
    v2 = version < 3
    ep_w, first_col, cont_col = (22, 22, 3) if v2 else (23, 23, 4)
    # Group by (system, msg_type); RINEX 2/3 Galileo and BeiDou types are inferred later.
    groups: dict[tuple[str, str], list[tuple[int, int, int, str]]] = {}
    for sys, msg, prn, i0, nl in raw:
        if not msg:
            msg = {"G": "LNAV", "J": "LNAV", "I": "LNAV", "R": "FDMA", "S": "SBAS",
                   "E": "INAV", "C": "D1"}.get(sys, "")  # fmt: skip
            if not msg:
                raise FormatError(f"unknown satellite system {sys!r}", path=path, line=i0 + 1)
        groups.setdefault((sys, msg), []).append((prn, i0, nl, ""))
    frames: dict[str, list[pd.DataFrame]] = {}
    for (sys, msg), recs in groups.items():
        lay = _layout(sys, msg, version)
        if lay is None:
            continue  # message type we do not model (RINEX 4 L1OC, L3OC, ...)
        n_orbit = len(lay.orbit) // 4
        chunks: list[str] = []
        tocs = np.empty(len(recs), dtype="datetime64[ns]")
        for r, (prn, i0, nl, _) in enumerate(recs):
            if nl - 1 < lay.min_lines:
                raise FormatError(
                    f"truncated {sys}{prn:02d} {msg} record: {nl - 1} orbit lines, "
                    f"{lay.min_lines} expected",
                    path=path,
                    line=i0 + nl if i0 + nl <= len(lines) else len(lines),
                )
            head = lines[i0]
            try:
                tocs[r] = _epoch_v2(head) if v2 else _epoch(head, 4)
            except ValueError:
                raise FormatError(
                    f"bad epoch in record header {head[:ep_w]!r}", path=path, line=i0 + 1
                ) from None
            parts = [_pad(head, first_col + 3 * _W)[first_col : first_col + 3 * _W]]
            for k in range(n_orbit):
                if k + 1 < nl:
                    parts.append(
                        _pad(lines[i0 + 1 + k], cont_col + 4 * _W)[cont_col : cont_col + 4 * _W]
                    )
                else:
                    parts.append(" " * (4 * _W))
            chunks.append("".join(parts))
        buf = np.frombuffer("".join(chunks).encode("ascii", "replace"), dtype=np.uint8)
        nf = 3 + 4 * n_orbit
        try:
            vals = fixed_floats(buf.reshape(len(recs), nf, _W))
        except ValueError as exc:
            flat = int(exc.args[1]) if len(exc.args) > 1 else 0
            rec, fld = divmod(flat, nf)
            row = 0 if fld < 3 else 1 + (fld - 3) // 4
            raise FormatError(f"bad number in record: {exc.args[0]}", path=path,
                              line=recs[rec][1] + row + 1) from None  # fmt: skip
        cols: dict[str, object] = {
            "sv": [f"{sys}{p:02d}" for p, *_ in recs],
            "msg_type": msg,
            "toc": tocs,
        }
        for k, name in enumerate(lay.clock):
            cols[name] = vals[:, k]
        for k, oname in enumerate(lay.orbit):
            if oname is not None:
                cols[oname] = vals[:, 3 + k]
        for kname in lay.km_fields:
            cols[kname] = np.asarray(cols[kname]) * 1000.0
        df = pd.DataFrame(cols)
        df["line"] = [i0 + 1 for _, i0, _, _ in recs]
        df = _finish(df, sys, msg, infer=version < 4)
        frames.setdefault(sys, []).append(df)
    out: dict[str, pd.DataFrame] = {}
    for sys, dfs in frames.items():
        df = pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0]
        df = df.sort_values(["sv", "toc"], kind="stable").reset_index(drop=True)
        df.attrs["toc_scale"] = TOC_SCALE.get(sys, "GPST")
        out[sys] = df
    return out


def _finish(df: pd.DataFrame, sys: str, msg: str, infer: bool) -> pd.DataFrame:
    """Per-system derived columns (aliases, inferred message types, sign conventions)."""
    if sys == "E":
        df["iode"] = df["iodnav"]
        if infer:  # RINEX 2/3: bit 1 of data_sources (F/NAV E5a-I) marks F/NAV records
            ds = df["data_sources"].fillna(0).astype(np.int64).to_numpy()
            df["msg_type"] = np.where((ds & 2) != 0, "FNAV", "INAV")
    elif sys == "C" and msg in ("D1", "D2"):
        df["iode"] = df["aode"]
        if infer:  # RINEX 2/3: GEO PRNs broadcast D2
            prn = df["sv"].str[1:].astype(int).to_numpy()
            df["msg_type"] = np.where((prn <= 5) | (prn >= 59), "D2", "D1")
    elif sys == "R":
        df["tau_n"] = -df["af0"]
        df["af1"] = df["gamma_n"]
        df["af2"] = 0.0
    if sys in "GJ" and msg in ("CNAV", "CNV2"):
        ns = (df["toc"].to_numpy() - np.datetime64("1980-01-06T00:00:00", "ns")).astype(np.int64)
        df["toe"] = (ns % (604_800 * 10**9)) / 1e9
    return df
