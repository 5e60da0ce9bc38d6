"""Orbit Mean-Elements Messages (CCSDS 502.0-B OMM) as CelesTrak serves them.

:func:`parse_omm` reads GP element sets in four encodings and detects which one it has:

- JSON: a list of flat objects (``OBJECT_NAME``, ``OBJECT_ID``, ``EPOCH``,
  ``MEAN_MOTION``, ... ``MEAN_MOTION_DDOT``), numbers as JSON numbers or strings;
- CSV: one header row of those keywords, one row per element set;
- XML: the NDM/OMM schema, ``<ndm><omm><body><segment><metadata>`` plus
  ``<data><meanElements>`` and ``<tleParameters>``, with or without a namespace;
- KVN: ``KEYWORD = value`` lines, one message per ``CCSDS_OMM_VERS``.

Each element set becomes one catalog row; its ``Satrec`` is initialised by
python-sgp4's own ``sgp4.omm.initialize`` (WGS72, as for TLEs), so propagation matches
the reference. The catalog keeps the epoch to the nanosecond as written (python-sgp4
reads microseconds) and the element values exactly as parsed.

:func:`format_omm` writes the same shapes: JSON laid out like CelesTrak's files, CSV
with CelesTrak's header, XML with CelesTrak's NDM wrapper, and KVN. Numbers are
written in their shortest round-trip form, so values written and read back are
bit-identical; integral values are written without a decimal point as CelesTrak's
JSON does (``"MEAN_MOTION_DDOT": 0``).

Only SGP4 element sets are accepted: ``MEAN_ELEMENT_THEORY`` other than SGP4,
``EPHEMERIS_TYPE`` 4 (SGP4-XP) or a ``TIME_SYSTEM`` other than UTC raise
:class:`FormatError`, as does a missing or non-numeric required field; the message
names the field and the record (JSON record index, CSV ``file:line``, XML segment
number and line, KVN line).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import escape

import numpy as np
from sgp4 import omm as _sgp4_omm
from sgp4.api import Satrec

from kongtian.errors import ConfigError, FormatError
from kongtian.space.catalog import Catalog

OmmFormat = Literal["json", "csv", "xml", "kvn"]

#: CelesTrak's GP keywords in the order of its JSON objects and CSV header.
FIELDS: tuple[str, ...] = (
    "OBJECT_NAME", "OBJECT_ID", "EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION",
    "RA_OF_ASC_NODE", "ARG_OF_PERICENTER", "MEAN_ANOMALY", "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH", "BSTAR",
    "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT",
)  # fmt: skip
#: Keywords without which SGP4 cannot be initialised.
REQUIRED: tuple[str, ...] = (
    "EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER", "MEAN_ANOMALY", "NORAD_CAT_ID", "BSTAR", "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)  # fmt: skip
_FLOATS = (
    "INCLINATION", "RA_OF_ASC_NODE", "ECCENTRICITY", "ARG_OF_PERICENTER", "MEAN_ANOMALY",
    "MEAN_MOTION", "BSTAR", "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT",
)  # fmt: skip
_METADATA = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "CENTER_NAME",
    "REF_FRAME",
    "TIME_SYSTEM",
    "MEAN_ELEMENT_THEORY",
)
_MEAN_ELEMENTS = FIELDS[2:9]
_TLE_PARAMETERS = FIELDS[9:]
_CONSTANT_METADATA = {
    "CENTER_NAME": "EARTH",
    "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC",
    "MEAN_ELEMENT_THEORY": "SGP4",
}
_MAX_SATNUM = 339_999  # largest NORAD id a python-sgp4 Satrec can carry (Alpha-5 'Z9999')
_NDM_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<ndm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/'
    'ndmxml-2.0.0-master-2.0.xsd">\n'
)

_EPOCH_RE = re.compile(
    r"\s*(\d{4})-(?:(\d{2})-(\d{2})|(\d{3}))[T ](\d{2}):(\d{2}):(\d{2})"
    r"(?:\.(\d{1,9})\d*)?\s*(?:Z|UTC)?\s*"
)
_OBJECT_ID_RE = re.compile(r"(\d{4})-(\d{3})([A-Z]{0,3})")
_INTL_RE = re.compile(r"(\d{2})(\d{3})([A-Z]{0,3})")
_KVN_START = re.compile(r"\s*CCSDS_OMM_VERS\s*=", re.IGNORECASE)


@dataclass
class _Record:
    """One element set's keyword values and where it came from (for error messages)."""

    fields: dict[str, Any]
    where: str
    line: int | None = None
    field_line: Callable[[str], int | None] | None = None


# --------------------------------------------------------------------------- detection
def detect_format(text: str) -> OmmFormat | None:
    """``"json"``, ``"xml"``, ``"csv"`` or ``"kvn"`` if ``text`` looks like OMM, else None."""
    head = text.lstrip("\ufeff \t\r\n")[:4096]
    if not head:
        return None
    if head[0] in "[{":
        return "json"
    if head[0] == "<":
        return "xml"
    first = head.splitlines()[0]
    if _KVN_START.match(first):
        return "kvn"
    cells = {c.strip().strip('"').upper() for c in first.split(",")}
    if len(cells) > 1 and cells & {"OBJECT_NAME", "NORAD_CAT_ID", "EPOCH", "MEAN_MOTION"}:
        return "csv"
    return None


# --------------------------------------------------------------------------- parsing
def parse_omm(text: str, *, path: str = "<string>", group: str = "") -> Catalog:
    """Parse OMM text (JSON, CSV, XML or KVN, detected) into a :class:`Catalog`.

    ``path`` labels error messages; ``group`` labels every satellite for
    :meth:`Catalog.select`. Raises :class:`FormatError`.
    """
    fmt = detect_format(text)
    if fmt is None:
        raise FormatError(
            "not OMM: expected JSON, XML, KVN, or CSV with a header row of OMM keywords",
            path=path, line=1,
        )  # fmt: skip
    text = text.lstrip("\ufeff")
    reader = {"json": _json_records, "csv": _csv_records, "xml": _xml_records, "kvn": _kvn_records}
    records = reader[fmt](text, path)
    if not records:
        raise FormatError(f"no element sets in this OMM {fmt.upper()}", path=path)
    return _build(records, path, group)


def _json_records(text: str, path: str) -> list[_Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno
        ) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise FormatError("OMM JSON must be a list of objects", path=path)
    out = []
    for k, item in enumerate(data):
        if not isinstance(item, dict):
            raise FormatError(f"JSON record [{k}] is not an object", path=path)
        out.append(_Record(item, f"JSON record [{k}]"))
    return out


def _csv_records(text: str, path: str) -> list[_Record]:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    out = []
    try:
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip().upper() for c in row]
                for key in REQUIRED:
                    if key not in header:
                        raise FormatError(
                            f"CSV header has no {key} column", path=path, line=reader.line_num
                        )
                continue
            if len(row) != len(header):
                raise FormatError(
                    f"CSV row has {len(row)} cells, the header has {len(header)}",
                    path=path, line=reader.line_num,
                )  # fmt: skip
            out.append(_Record(dict(zip(header, row, strict=True)), "CSV row", reader.line_num))
    except csv.Error as exc:
        raise FormatError(f"invalid CSV: {exc}", path=path, line=reader.line_num) from None
    return out


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_records(text: str, path: str) -> list[_Record]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FormatError(f"not well-formed XML: {exc}", path=path, line=exc.position[0]) from None
    segments = [el for el in root.iter() if _local(el.tag) == "segment"]
    # ElementTree keeps no line numbers; find the segments in the text instead.
    starts = [m.start() for m in re.finditer(r"<(?:[\w.-]+:)?segment[\s>/]", text)]
    if len(starts) != len(segments):
        starts = []
    starts.append(len(text))

    def line_at(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    out = []
    for k, seg in enumerate(segments):
        fields: dict[str, Any] = {}
        for part in seg:
            kind = _local(part.tag)
            if kind == "metadata":
                blocks = [part]
            elif kind == "data":
                blocks = [b for b in part if _local(b.tag) in ("meanElements", "tleParameters")]
            else:
                continue
            for block in blocks:
                for el in block:
                    key = _local(el.tag)
                    if key and key != "COMMENT" and len(el) == 0:
                        fields[key] = el.text
        seg_line = line_at(starts[k]) if len(starts) > 1 else None

        def field_line(key: str, k: int = k, seg_line: int | None = seg_line) -> int | None:
            if seg_line is None:
                return None
            m = re.compile(rf"<(?:[\w.-]+:)?{re.escape(key)}[\s>/]").search(
                text, starts[k], starts[k + 1]
            )
            return line_at(m.start()) if m else seg_line

        out.append(_Record(fields, f"XML segment {k + 1}", seg_line, field_line))
    return out


def _kvn_records(text: str, path: str) -> list[_Record]:
    out: list[_Record] = []
    lines: dict[str, int] = {}
    for ln, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.upper().startswith("COMMENT"):
            continue
        key, eq, value = s.partition("=")
        if not eq:
            raise FormatError(f"expected 'KEYWORD = value', got {s[:40]!r}", path=path, line=ln)
        key = key.strip().upper()
        value = value.strip()
        if key in _FLOATS:
            value = re.sub(r"\s*\[[^\]]*\]$", "", value)  # drop '[rev/day]' and the like
        if key == "CCSDS_OMM_VERS":
            lines = {}
            out.append(_Record({}, f"KVN message {len(out) + 1}", ln, _line_of(lines, ln)))
        elif not out:
            raise FormatError("KVN OMM must start with CCSDS_OMM_VERS", path=path, line=ln)
        out[-1].fields[key] = value
        lines[key] = ln
    return out


def _line_of(lines: dict[str, int], default: int) -> Callable[[str], int | None]:
    def field_line(key: str) -> int | None:
        return lines.get(key, default)

    return field_line


class _Fields:
    """Typed access to one record's keywords; failures name the keyword and record."""

    def __init__(self, rec: _Record, path: str):
        self.rec = rec
        self.path = path

    def fail(self, key: str, problem: str) -> FormatError:
        f = self.rec.fields
        who = [
            str(f[k]).strip() for k in ("OBJECT_NAME", "NORAD_CAT_ID") if f.get(k) not in (None, "")
        ]
        label = f"{self.rec.where} ({', '.join(who)})" if who else self.rec.where
        line = self.rec.field_line(key) if self.rec.field_line else self.rec.line
        return FormatError(f"{label}: {key} {problem}", path=self.path, line=line)

    def raw(self, key: str, required: bool) -> Any:
        v = self.rec.fields.get(key)
        if isinstance(v, str):
            v = v.strip()
        if v is None or v == "":
            if required:
                raise self.fail(key, "is missing")
            return None
        return v

    def text(self, key: str, default: str = "") -> str:
        v = self.raw(key, False)
        return default if v is None else str(v)

    def number(self, key: str) -> float:
        v = self.raw(key, True)
        try:
            if isinstance(v, bool):
                raise TypeError
            x = float(v)
        except (TypeError, ValueError):
            raise self.fail(key, f"is not a number: {v!r}") from None
        if not math.isfinite(x):
            raise self.fail(key, f"is not finite: {v!r}")
        return x

    def integer(self, key: str, default: int | None = None) -> int:
        v = self.raw(key, default is None)
        if v is None:
            return int(default)  # type: ignore[arg-type]
        try:
            if isinstance(v, bool):
                raise TypeError
            if isinstance(v, int):
                return v
            if isinstance(v, float):
                x = v
            else:
                try:
                    return int(str(v))
                except ValueError:
                    x = float(str(v))  # '44713.0' or '4.4713E4' from spreadsheets
            if not x.is_integer():
                raise ValueError
            return int(x)
        except (TypeError, ValueError, OverflowError):
            raise self.fail(key, f"is not an integer: {v!r}") from None

    def epoch_ns(self) -> int:
        v = self.raw("EPOCH", True)
        m = _EPOCH_RE.fullmatch(str(v))
        try:
            if m is None:
                raise ValueError
            year, mon, day, doy, hh, mi, ss, frac = m.groups()
            if doy is not None:
                if not 1 <= int(doy) <= 366:
                    raise ValueError
                days = int(np.datetime64(f"{year}-01-01", "D").astype(np.int64)) + int(doy) - 1
            else:
                days = int(np.datetime64(f"{year}-{mon}-{day}", "D").astype(np.int64))
            if int(hh) > 23 or int(mi) > 59 or int(ss) > 59:
                raise ValueError
        except ValueError:
            raise self.fail(
                "EPOCH", f"is not a UTC time like 2024-05-20T13:33:20.193984: {v!r}"
            ) from None
        sec = (int(days) * 24 + int(hh)) * 3600 + int(mi) * 60 + int(ss)
        return sec * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


def _build(records: list[_Record], path: str, group: str) -> Catalog:
    n = len(records)
    names: list[str] = []
    intl: list[str] = []
    cls: list[str] = []
    norad = np.empty(n, dtype=np.int64)
    epoch = np.empty(n, dtype=np.int64)
    elnum = np.empty(n, dtype=np.int64)
    revnum = np.empty(n, dtype=np.int64)
    values = np.empty((len(_FLOATS), n))
    sats: list[Satrec] = []
    for k, rec in enumerate(records):
        f = _Fields(rec, path)
        theory = f.text("MEAN_ELEMENT_THEORY", "SGP4").upper()
        if theory != "SGP4":
            raise f.fail(
                "MEAN_ELEMENT_THEORY", f"is {theory!r}; only SGP4 element sets are supported"
            )
        if f.text("TIME_SYSTEM", "UTC").upper() != "UTC":
            raise f.fail(
                "TIME_SYSTEM", f"is {f.text('TIME_SYSTEM')!r}; only UTC epochs are supported"
            )
        ephtype = f.integer("EPHEMERIS_TYPE", 0)
        if ephtype == 4:
            raise f.fail("EPHEMERIS_TYPE", "is 4 (SGP4-XP), which SGP4 cannot propagate")
        epoch[k] = f.epoch_ns()
        for j, key in enumerate(_FLOATS):
            values[j, k] = f.number(key)
        norad[k] = f.integer("NORAD_CAT_ID")
        elnum[k] = f.integer("ELEMENT_SET_NO", 999)
        revnum[k] = f.integer("REV_AT_EPOCH", 0)
        c = f.text("CLASSIFICATION_TYPE", "U")
        if len(c) != 1:
            raise f.fail("CLASSIFICATION_TYPE", f"must be one character, got {c!r}")
        object_id = f.text("OBJECT_ID")
        cls.append(c)
        intl.append(_intl_from_object_id(object_id))
        names.append(f.text("OBJECT_NAME") or f"NORAD {norad[k]}")
        # python-sgp4's own initialisation, fed the parsed values, so the Satrec is
        # exactly the one sgp4.omm.initialize builds from the record.
        us = (int(epoch[k]) + 500) // 1000
        sgp4_fields = {key: values[j, k] for j, key in enumerate(_FLOATS)}
        sgp4_fields.update(
            EPOCH=str(np.datetime_as_string(np.datetime64(us, "us"))),
            CLASSIFICATION_TYPE=c,
            OBJECT_ID=object_id,
            EPHEMERIS_TYPE=ephtype,
            ELEMENT_SET_NO=int(elnum[k]),
            REV_AT_EPOCH=int(revnum[k]),
            NORAD_CAT_ID=int(norad[k]) if 0 <= norad[k] <= _MAX_SATNUM else 0,
        )
        sat = Satrec()
        try:
            _sgp4_omm.initialize(sat, sgp4_fields)
        except (ValueError, TypeError, OverflowError) as exc:
            raise f.fail("element set", f"cannot initialise SGP4: {exc}") from None
        sats.append(sat)
    col = dict(zip(_FLOATS, values, strict=True))
    return Catalog(
        name=np.array(names, dtype=str),
        norad_id=norad,
        epoch_utc=epoch.astype("datetime64[ns]"),
        inclination_deg=col["INCLINATION"],
        raan_deg=col["RA_OF_ASC_NODE"],
        eccentricity=col["ECCENTRICITY"],
        arg_perigee_deg=col["ARG_OF_PERICENTER"],
        mean_anomaly_deg=col["MEAN_ANOMALY"],
        mean_motion_rev_day=col["MEAN_MOTION"],
        bstar_per_earth_radii=col["BSTAR"],
        ndot_rev_day2=col["MEAN_MOTION_DOT"],
        nddot_rev_day3=col["MEAN_MOTION_DDOT"],
        intl_designator=np.array(intl, dtype=str),
        classification=np.array(cls, dtype=str),
        element_set_no=elnum,
        rev_at_epoch=revnum,
        group=np.full(n, group, dtype=object).astype(str),
        satrecs=sats,
    )


def _intl_from_object_id(object_id: str) -> str:
    """'2019-074A' -> '19074A' (the TLE form the catalog keeps); anything else as is."""
    m = _OBJECT_ID_RE.fullmatch(object_id)
    return f"{m[1][2:]}{m[2]}{m[3]}" if m else object_id


def _object_id_from_intl(intl: str) -> str:
    """'19074A' -> '2019-074A' (TLE years 57-99 are 19xx); anything else as is."""
    m = _INTL_RE.fullmatch(intl.strip())
    if not m:
        return intl.strip()
    yy = int(m[1])
    return f"{1900 + yy if yy >= 57 else 2000 + yy}-{m[2]}{m[3]}"


# --------------------------------------------------------------------------- writing
def format_omm(cat: Catalog, fmt: OmmFormat = "json") -> str:
    """Write ``cat`` as OMM ``"json"``, ``"csv"``, ``"xml"`` or ``"kvn"`` text.

    The epoch is written to the microsecond (CelesTrak's resolution). Raises
    :class:`ConfigError` for an unknown ``fmt`` and :class:`FormatError` for a
    non-finite element.
    """
    writers = {"json": _write_json, "csv": _write_csv, "xml": _write_xml, "kvn": _write_kvn}
    if fmt not in writers:
        raise ConfigError(f"unknown OMM format {fmt!r}; use one of {sorted(writers)}", option="fmt")
    return writers[fmt](_records_out(cat))


def _records_out(cat: Catalog) -> list[dict[str, str | int | float]]:
    epoch_us = (cat.epoch_utc.astype("datetime64[ns]").astype(np.int64) + 500) // 1000
    epochs = np.datetime_as_string(epoch_us.astype("datetime64[us]"))
    out = []
    for i in range(len(cat)):
        ephtype = int(getattr(cat.satrecs[i], "ephtype", 0) or 0) if i < len(cat.satrecs) else 0
        rec: dict[str, str | int | float] = {
            "OBJECT_NAME": str(cat.name[i]),
            "OBJECT_ID": _object_id_from_intl(str(cat.intl_designator[i])),
            "EPOCH": str(epochs[i]),
            "MEAN_MOTION": float(cat.mean_motion_rev_day[i]),
            "ECCENTRICITY": float(cat.eccentricity[i]),
            "INCLINATION": float(cat.inclination_deg[i]),
            "RA_OF_ASC_NODE": float(cat.raan_deg[i]),
            "ARG_OF_PERICENTER": float(cat.arg_perigee_deg[i]),
            "MEAN_ANOMALY": float(cat.mean_anomaly_deg[i]),
            "EPHEMERIS_TYPE": ephtype,
            "CLASSIFICATION_TYPE": str(cat.classification[i]) or "U",
            "NORAD_CAT_ID": int(cat.norad_id[i]),
            "ELEMENT_SET_NO": int(cat.element_set_no[i]),
            "REV_AT_EPOCH": int(cat.rev_at_epoch[i]),
            "BSTAR": float(cat.bstar_per_earth_radii[i]),
            "MEAN_MOTION_DOT": float(cat.ndot_rev_day2[i]),
            "MEAN_MOTION_DDOT": float(cat.nddot_rev_day3[i]),
        }
        for key, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise FormatError(
                    f"{rec['OBJECT_NAME']} (NORAD {rec['NORAD_CAT_ID']}): {key} is {v}"
                )
        out.append(rec)
    return out


def _num(v: str | int | float) -> str:
    """A number as CelesTrak's JSON writes it: shortest round-trip digits, '4.456e-5', '9.0e-5', '0'."""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        s = repr(v)
        mant, e, exp = s.partition("e")
        if not e:
            return s
        # Python writes '9e-05'; CelesTrak (PHP) writes '9.0e-5'.
        x = int(exp)
        if "." not in mant:
            mant += ".0"
        return f"{mant}e{'+' if x > 0 else ''}{x}"
    return str(v)


def _write_json(recs: list[dict[str, str | int | float]]) -> str:
    if not recs:
        return "[]\n"
    blocks = []
    for rec in recs:
        items = [
            f"    {json.dumps(k)}: {json.dumps(v) if isinstance(v, str) else _num(v)}"
            for k, v in rec.items()
        ]
        blocks.append("  {\n" + ",\n".join(items) + "\n  }")
    return "[\n" + ",\n".join(blocks) + "\n]\n"


def _write_csv(recs: list[dict[str, str | int | float]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for rec in recs:
        w.writerow([v if isinstance(v, str) else _num(v) for v in rec.values()])
    return buf.getvalue()


def _xml_text(v: str | int | float) -> str:
    return escape(v) if isinstance(v, str) else _num(v)


def _write_xml(recs: list[dict[str, str | int | float]]) -> str:
    parts = [_NDM_OPEN]
    for rec in recs:
        full = {**rec, **_CONSTANT_METADATA}

        def block(keys: tuple[str, ...], full: dict[str, str | int | float] = full) -> str:
            return "".join(f"<{k}>{_xml_text(full[k])}</{k}>" for k in keys)

        parts.append(
            '<omm id="CCSDS_OMM_VERS" version="2.0">\n'
            "<header><CREATION_DATE/><ORIGINATOR/></header><body><segment>"
            f"<metadata>{block(_METADATA)}</metadata><data>"
            f"<meanElements>{block(_MEAN_ELEMENTS)}</meanElements>"
            f"<tleParameters>{block(_TLE_PARAMETERS)}</tleParameters>"
            "</data></segment></body></omm>\n"
        )
    parts.append("</ndm>\n")
    return "".join(parts)


def _write_kvn(recs: list[dict[str, str | int | float]]) -> str:
    msgs = []
    for rec in recs:
        full = {**rec, **_CONSTANT_METADATA}
        lines = ["CCSDS_OMM_VERS = 2.0", "CREATION_DATE = ", "ORIGINATOR = "]
        for k in (*_METADATA, *_MEAN_ELEMENTS, *_TLE_PARAMETERS):
            v = full[k]
            lines.append(f"{k} = {v if isinstance(v, str) else _num(v)}")
        msgs.append("\n".join(lines) + "\n")
    return "\n".join(msgs)
