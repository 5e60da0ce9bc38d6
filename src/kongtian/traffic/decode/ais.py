"""AIS (ITU-R M.1371) from NMEA 0183 ``!xxVDM`` / ``!xxVDO`` sentences into report batches.

Reads plain sentences, NMEA 4.x tag blocks (``\\c:...,g:...*hh\\!AIVDM,...``), the old
USCG trailing metadata (``...*hh,d-109,S2105,t050056.00,T56.1,r003669946,1325394060``)
and Gatehouse ``$PGHP`` wrapper lines. Multi-sentence messages are reassembled.

Decoded message types (one record each, ``object_id`` ``mmsi:<mmsi>``, ``source`` ``ais``):

- position reports 1, 2, 3 (class A), 18 (class B), 27 (long range), decoded here with
  vectorised numpy bit fields (the bulk of any feed); 9 (SAR aircraft), 19 (extended
  class B), 21 (aid to navigation), 5 and 24 (static and voyage data) via ``pyais``;
- inland static and voyage data (type 8, DAC 200, FI 10, ECE/TRANS/SC.3/176) via ``pyais``:
  ENI, length, beam, ERI ship type, blue cones, draught, loaded; other type 8 are skipped;
- 5, 24 and inland 8 are *state* records: ``lat_deg``/``lon_deg``/``speed_m_s``/``track_deg`` are null
  and the static fields fill the extra columns.

Units: speed over ground knots -> m/s, course over ground -> ``track_deg``, dimensions and
draught in metres, rate of turn in degrees per minute. Not-available values become null:
lat 91 / lon 181 (and any value outside [-90, 90] / [-180, 180]; type 27's values in 1/10
minute alike), SOG 102.3 kn (type 27: 63 kn; type 9: 1023 kn), COG 360 (type 27: 511),
heading 511, ROT -128 (and +-127, "turning faster than 5 deg/30 s, no turn indicator"),
second 60-63, navigation status 15, altitude 4095, IMO / ship type / dimensions / draught 0.

Altitude: null with ``alt_ref`` null, except type 9 (SAR aircraft) whose altitude in metres
is reported with ``alt_ref = 'msl'``: M.1371 calls it "altitude (GNSS)" and airborne AIS
units take it from the GNSS receiver's NMEA GGA altitude, which is above mean sea level
(geoid), not ellipsoidal height.

Time (column ``time_source`` says which was used), first match wins:

1. ``tagblock``: the tag block ``c:`` field (unix seconds; values above 1e11 are read as
   milliseconds, as some providers write them) of the first fragment carrying one;
2. ``receiver``: the USCG metadata's trailing unix time (the first bare number after the
   letter-coded fields; it is the data logger's clock, as libais reads it);
3. ``gatehouse``: the ``$PGHP`` line that immediately precedes the sentence;
4. ``ref``: the stated ``ref_time_utc``.

A message with none of these is counted as error ``no time`` and dropped. The AIS
``second`` field (UTC second of the position fix, 0-59) is always kept as a column; with
``refine_second=True`` the time becomes the latest instant at or before the receive time
whose UTC second equals it (a fix is never newer than its reception and at most 59 s older).
The default leaves the receive time untouched because logger clocks can be off by far more
than a minute, which would make the refinement misleading.

Errors (kind ``ais``) are counted, never raised, for: non-ASCII lines, lines that are not
NMEA, malformed fields, checksum mismatches (sentence or tag block), empty payloads, bad
payload characters, payloads too short for their type, orphan fragments (a fragment that
never became part of a complete message: no first part, first part never completed or
superseded, out of order), and messages without time. Other NMEA sentences (``$GPGGA``...)
and AIS message types not listed above are skipped without counting.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyais.bit_vector import bit_vector
from pyais.messages import MSG_CLASS

from kongtian.errors import FormatError
from kongtian.geo.time import as_utc
from kongtian.model.report import DecodeErrors, object_id, report_table

KIND = "ais"
KNOT_M_S = 1852.0 / 3600.0

# Six-bit armouring: '0'..'W' -> 0..39, '`'..'w' -> 40..63; anything else is invalid (255).
_SIXBIT = np.full(256, 255, dtype=np.uint8)
_SIXBIT[48:88] = np.arange(0, 40)
_SIXBIT[96:120] = np.arange(40, 64)
_SHIFTS = np.arange(5, -1, -1, dtype=np.uint8)

_TIME_SOURCES = ("tagblock", "receiver", "gatehouse", "ref")

# Extra columns, in output order, with their Arrow types.
EXTRA_COLUMNS: dict[str, pa.DataType] = {
    "msg_type": pa.int8(),
    "nav_status": pa.int8(),
    "rot_deg_min": pa.float64(),
    "heading_deg": pa.float64(),
    "second": pa.int8(),
    "accuracy": pa.bool_(),
    "raim": pa.bool_(),
    "maneuver": pa.int8(),
    "name": pa.string(),
    "callsign": pa.string(),
    "imo": pa.int64(),
    "ship_type": pa.int16(),
    "to_bow_m": pa.float64(),
    "to_stern_m": pa.float64(),
    "to_port_m": pa.float64(),
    "to_starboard_m": pa.float64(),
    "destination": pa.string(),
    "eta": pa.string(),
    "draught_m": pa.float64(),
    "epfd": pa.int8(),
    "part_num": pa.int8(),
    "aid_type": pa.int8(),
    "off_position": pa.bool_(),
    "virtual_aid": pa.bool_(),
    "mothership_mmsi": pa.int64(),
    "eni": pa.string(),
    "length_m": pa.float64(),
    "beam_m": pa.float64(),
    "eri_ship_type": pa.int16(),
    "hazard_cones": pa.int8(),
    "loaded": pa.int8(),
    "time_source": pa.string(),
    "line": pa.int64(),
}
_NUMERIC = {k for k, t in EXTRA_COLUMNS.items() if not pa.types.is_string(t)}

# Bit layouts of the vectorised position reports: field -> (start, length, signed).
_POS_A = {
    "mmsi": (8, 30, False),
    "status": (38, 4, False),
    "rot": (42, 8, True),
    "sog": (50, 10, False),
    "acc": (60, 1, False),
    "lon": (61, 28, True),
    "lat": (89, 27, True),
    "cog": (116, 12, False),
    "hdg": (128, 9, False),
    "sec": (137, 6, False),
    "man": (143, 2, False),
    "raim": (148, 1, False),
}
_POS_B = {
    "mmsi": (8, 30, False),
    "sog": (46, 10, False),
    "acc": (56, 1, False),
    "lon": (57, 28, True),
    "lat": (85, 27, True),
    "cog": (112, 12, False),
    "hdg": (124, 9, False),
    "sec": (133, 6, False),
    "raim": (147, 1, False),
}
_POS_27 = {
    "mmsi": (8, 30, False),
    "acc": (38, 1, False),
    "raim": (39, 1, False),
    "status": (40, 4, False),
    "lon": (44, 18, True),
    "lat": (62, 17, True),
    "sog": (79, 6, False),
    "cog": (85, 9, False),
}
# type -> (layout, bits needed)
_VECTOR_TYPES = {
    1: (_POS_A, 168),
    2: (_POS_A, 168),
    3: (_POS_A, 168),
    18: (_POS_B, 168),
    27: (_POS_27, 96),
}
# types decoded message by message with pyais, with the minimum payload bits each needs
_PYAIS_TYPES = {5: 420, 8: 168, 9: 168, 19: 312, 21: 272, 24: 160}


def read_nmea_file(
    path: str | Path, *, ref_time_utc: Any = None, refine_second: bool = False
) -> tuple[pa.Table, DecodeErrors]:
    """:func:`read_nmea` on a file (bytes are read as Latin-1 so no byte is fatal).

    Raises :class:`~kongtian.errors.FormatError` if the file cannot be read.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(
            f"cannot read AIS NMEA file: {exc.strerror or exc}", path=str(path)
        ) from exc
    return read_nmea(data, ref_time_utc=ref_time_utc, refine_second=refine_second)


def read_nmea(
    text_or_lines: str | bytes | Iterable[str | bytes],
    *,
    ref_time_utc: Any = None,
    refine_second: bool = False,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode AIS NMEA text (one sentence per line) into a report table.

    ``text_or_lines``: a whole text (``str`` or ``bytes``) or an iterable of lines.
    ``ref_time_utc``: UTC time (ISO string, datetime, datetime64) given to messages that
    carry no time of their own. Returns the table (core columns, then
    :data:`EXTRA_COLUMNS`) in input order and the counted errors. See the module docstring
    for units, null sentinels and the time rules.
    """
    errors = DecodeErrors()
    ref_ns: int | None = None
    if ref_time_utc is not None:
        ref_ns = int(as_utc(ref_time_utc).reshape(-1)[0].astype("datetime64[ns]").astype(np.int64))
    lines = _as_lines(text_or_lines)
    sentences = _parse_lines(lines, errors)
    msgs = _assemble(sentences, errors)
    return _decode(msgs, errors, ref_ns, refine_second), errors


def _as_lines(data: str | bytes | Iterable[str | bytes]) -> list[str]:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data).decode("latin-1").splitlines()
    if isinstance(data, str):
        return data.splitlines()
    out: list[str] = []
    for item in data:
        if isinstance(item, bytes | bytearray | memoryview):
            out.extend(bytes(item).decode("latin-1").splitlines() or [""])
        else:
            out.extend(str(item).splitlines() or [""])
    return out


def _xor(text: str) -> int:
    return functools.reduce(operator.xor, text.encode("ascii"), 0)


def _seconds_ns(text: str) -> int:
    """Exact integer nanoseconds of a decimal seconds string (no float rounding)."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(text)
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _tag_block(tb: str) -> tuple[str | None, int | None, str | None]:
    """(error reason or None, unix time ns or None, group id or None) of a tag block body."""
    star = tb.rfind("*")
    if star < 0:
        return "tag block without checksum", None, None
    try:
        expected = int(tb[star + 1 :], 16)
    except ValueError:
        return "tag block checksum malformed", None, None
    body = tb[:star]
    if _xor(body) != expected:
        return "tag block checksum", None, None
    t = None
    group = None
    for f in body.split(","):
        key = f[:2]
        if key == "c:":
            try:
                t = _seconds_ns(f[2:])
            except ValueError:
                return "tag block time malformed", None, None
            if t > 100_000_000_000 * 1_000_000_000:  # milliseconds
                t //= 1000
            if t >= 2**62:
                return "tag block time malformed", None, None
        elif key == "g:":
            parts = f[2:].split("-")
            if len(parts) != 3:
                return "tag block group malformed", None, None
            group = parts[2]
    return None, t, group


class _GatehouseChecksum(ValueError):
    pass


def _gatehouse_time(line: str) -> int:
    k = line.find("*")
    if k < 0 or _xor(line[1:k]) != int(line[k + 1 : k + 3] or "-1", 16):
        raise _GatehouseChecksum
    f = line[:k].split(",")
    y, mo, d, h, mi, s, ms = (int(x) for x in f[2:9])
    t = np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}", "ms") + np.timedelta64(
        ms, "ms"
    )
    return int(t.astype(np.int64)) * 1_000_000


# A parsed sentence: (line, talker/type, count, number, seq id, channel, payload, fill,
# time ns or None, time source or None, tag-block group or None, body, checksum, raw)
_Sentence = tuple[
    int, str, int, int, str, str, str, int, int | None, str | None, str | None, str, int, str
]


def _parse_lines(lines: list[str], errors: DecodeErrors) -> list[_Sentence]:
    out: list[_Sentence] = []
    gh_time: int | None = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        if not line.isascii():
            errors.add(KIND, "non-ASCII line", raw)
            gh_time = None
            continue
        t: int | None = None
        src: str | None = None
        group: str | None = None
        if line[0] == "\\":
            j = line.find("\\", 1)
            if j < 0:
                errors.add(KIND, "tag block unterminated", raw)
                continue
            reason, t, group = _tag_block(line[1:j])
            if reason is not None:
                errors.add(KIND, reason, raw)
                continue
            if t is not None:
                src = "tagblock"
            line = line[j + 1 :]
            if not line:
                continue
        c0 = line[0]
        if c0 == "$":
            if line[3:6] == "GHP" or line[1:5] == "PGHP":
                try:
                    gh_time = _gatehouse_time(line)
                except _GatehouseChecksum:
                    errors.add(KIND, "gatehouse checksum", raw)
                    gh_time = None
                except (ValueError, IndexError, OverflowError):
                    errors.add(KIND, "gatehouse line malformed", raw)
                    gh_time = None
            continue  # other NMEA sentences are not AIS
        if c0 != "!":
            errors.add(KIND, "not an NMEA sentence", raw)
            gh_time = None
            continue
        k = line.find("*")
        head = line[1:k] if k > 0 else line[1:]
        fields = head.split(",")
        tag = fields[0]
        if tag[2:5] not in ("VDM", "VDO"):
            continue  # another '!' sentence (e.g. !AIALR): not a VDM payload
        if k < 0 or len(fields) != 7 or len(line) < k + 3:
            errors.add(KIND, "malformed sentence", raw)
            gh_time = None
            continue
        try:
            cnt = int(fields[1])
            num = int(fields[2])
            fill = int(fields[6])
            chk = int(line[k + 1 : k + 3], 16)
        except ValueError:
            errors.add(KIND, "malformed sentence", raw)
            gh_time = None
            continue
        meta = line[k + 3 :]
        if t is None and meta:
            if meta[0] != ",":
                errors.add(KIND, "malformed sentence", raw)
                gh_time = None
                continue
            for part in meta[1:].split(","):
                if part and part[0].isdigit():
                    try:
                        t = _seconds_ns(part)
                        src = "receiver"
                    except ValueError:
                        pass
                    if t is not None and t >= 2**62:
                        t, src = None, None
                    break
        if t is None and gh_time is not None:
            t, src = gh_time, "gatehouse"
        gh_time = None
        out.append(
            (
                lineno,
                tag,
                cnt,
                num,
                fields[3],
                fields[4],
                fields[5],
                fill,
                t,
                src,
                group,
                head,
                chk,
                raw,
            )
        )
    return out


def _checksums_ok(sentences: list[_Sentence]) -> npt.NDArray[np.bool_]:
    """Vectorised NMEA checksum (XOR of the bytes between '!' and '*') of every sentence."""
    if not sentences:
        return np.zeros(0, dtype=bool)
    bodies = [s[11] for s in sentences]
    lens = np.fromiter((len(b) for b in bodies), dtype=np.int64, count=len(bodies))
    buf = np.frombuffer("".join(bodies).encode("ascii"), dtype=np.uint8)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    # reduceat reads one element for an empty segment, so pad and mask (bodies are never empty:
    # they hold at least the talker and six commas)
    x = np.bitwise_xor.reduceat(np.concatenate((buf, [0])).astype(np.uint8), starts)
    expected = np.fromiter((s[12] for s in sentences), dtype=np.int64, count=len(sentences))
    return x.astype(np.int64) == expected


# An assembled message: (line of first fragment, payload, fill bits, time ns, time source, raw)
_Message = tuple[int, str, int, int | None, str | None, str]


def _assemble(sentences: list[_Sentence], errors: DecodeErrors) -> list[_Message]:
    ok = _checksums_ok(sentences)
    out: list[_Message] = []
    pending: dict[tuple[str, str, str, int, str | None], list[_Sentence]] = {}

    def orphan(frags: list[_Sentence]) -> None:
        for f in frags:
            errors.add(KIND, "orphan fragment", f[13])

    for s, good in zip(sentences, ok, strict=True):
        lineno, tag, cnt, num, seq, chan, payload, fill, t, src, group, _, _, raw = s
        if not good:
            errors.add(KIND, "checksum", raw)
            continue
        if not (1 <= num <= cnt <= 9) or not (0 <= fill <= 5):
            errors.add(KIND, "fragment or fill field out of range", raw)
            continue
        if not payload:
            errors.add(KIND, "empty payload", raw)
            continue
        if cnt == 1:
            out.append((lineno, payload, fill, t, src, raw))
            continue
        key = (tag[:2], chan, seq, cnt, group)
        if num == 1:
            if key in pending:
                orphan(pending.pop(key))
            pending[key] = [s]
            continue
        frags = pending.get(key)
        if frags is None:
            orphan([s])
            continue
        if frags[-1][3] != num - 1:
            orphan(pending.pop(key))
            orphan([s])
            continue
        frags.append(s)
        if num == cnt:
            del pending[key]
            t_all = next((f[8] for f in frags if f[8] is not None), None)
            src_all = next((f[9] for f in frags if f[8] is not None), None)
            out.append(
                (
                    frags[0][0],
                    "".join(f[6] for f in frags),
                    fill,
                    t_all,
                    src_all,
                    "\n".join(f[13] for f in frags),
                )
            )
    for frags in pending.values():
        orphan(frags)
    return out


def _columns(n: int) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for name in ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg"):
        cols[name] = np.full(n, np.nan)
    cols["alt_ref"] = np.full(n, None, dtype=object)
    for name in EXTRA_COLUMNS:
        cols[name] = np.full(n, np.nan) if name in _NUMERIC else np.full(n, None, dtype=object)
    cols["mmsi"] = np.zeros(n, dtype=np.int64)
    return cols


def _fields(
    v: npt.NDArray[np.uint8], layout: dict[str, tuple[int, int, bool]], nbits: int
) -> dict[str, Any]:
    """Integer bit fields of ``v`` (messages x six-bit values), vectorised over messages."""
    bits = ((v[:, :, None] >> _SHIFTS) & 1).reshape(len(v), -1)[:, :nbits].astype(np.int64)
    out = {}
    for name, (start, length, signed) in layout.items():
        weights = np.left_shift(np.int64(1), np.arange(length - 1, -1, -1, dtype=np.int64))
        x = bits[:, start : start + length] @ weights
        if signed:
            x = x - ((x >> (length - 1)) & 1) * (np.int64(1) << length)
        out[name] = x
    return out


def _nan_where(
    x: npt.NDArray[Any], bad: npt.NDArray[np.bool_], scale: float = 1.0
) -> npt.NDArray[np.float64]:
    return np.where(bad, np.nan, x * scale)


def _latlon(lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    bad = ~((np.abs(lat) <= 90.0) & (np.abs(lon) <= 180.0))
    return np.where(bad, np.nan, lat), np.where(bad, np.nan, lon)


def _vector_decode(
    cols: dict[str, Any], rows: npt.NDArray[np.int64], six: npt.NDArray[np.uint8], mtype: int
) -> None:
    layout, nbits = _VECTOR_TYPES[mtype]
    f = _fields(six, layout, nbits)
    cols["mmsi"][rows] = f["mmsi"]
    if mtype == 27:
        lat, lon = _latlon(f["lat"] / 600.0, f["lon"] / 600.0)
        cols["speed_m_s"][rows] = _nan_where(f["sog"], f["sog"] == 63, KNOT_M_S)
        cols["track_deg"][rows] = _nan_where(f["cog"], f["cog"] >= 360)
    else:
        lat, lon = _latlon(f["lat"] / 600000.0, f["lon"] / 600000.0)
        cols["speed_m_s"][rows] = _nan_where(f["sog"], f["sog"] == 1023, 0.1 * KNOT_M_S)
        cols["track_deg"][rows] = _nan_where(f["cog"], f["cog"] >= 3600, 0.1)
        cols["heading_deg"][rows] = _nan_where(f["hdg"], f["hdg"] >= 360)
        cols["second"][rows] = _nan_where(f["sec"], f["sec"] >= 60)
    cols["lat_deg"][rows] = lat
    cols["lon_deg"][rows] = lon
    cols["accuracy"][rows] = f["acc"]
    cols["raim"][rows] = f["raim"]
    if "status" in f:
        cols["nav_status"][rows] = _nan_where(f["status"], f["status"] == 15)
    if "rot" in f:
        rot = f["rot"]
        rate = np.sign(rot) * (rot / 4.733) ** 2
        cols["rot_deg_min"][rows] = _nan_where(rate, np.abs(rot) >= 127)
    if "man" in f:
        cols["maneuver"][rows] = f["man"]


def _text(s: Any) -> str | None:
    if s is None:
        return None
    t = str(s).replace("@", " ").strip()
    return t or None


def _pos(v: Any) -> float:
    """A dimension or draught where 0 means not available."""
    return float(v) if v else np.nan


def _pyais_decode(cols: dict[str, Any], i: int, mtype: int, payload: str, fill: int) -> None:
    m = MSG_CLASS[mtype].from_vector(bit_vector(payload.encode("ascii"), fill))
    d: dict[str, Any] = m.asdict(enum_as_int=True)
    cols["mmsi"][i] = int(d["mmsi"])
    if mtype in (9, 19, 21):
        lat, lon = _latlon(np.array([d["lat"]], dtype=float), np.array([d["lon"]], dtype=float))
        cols["lat_deg"][i] = lat[0]
        cols["lon_deg"][i] = lon[0]
        sec = d["second"]
        cols["second"][i] = sec if sec < 60 else np.nan
        cols["accuracy"][i] = d["accuracy"]
        cols["raim"][i] = d["raim"]
    if mtype in (9, 19):
        cog = d["course"]
        cols["track_deg"][i] = cog if cog < 360 else np.nan
    if mtype == 9:
        alt = d["alt"]
        if alt < 4095:
            cols["alt_m"][i] = float(alt)
            cols["alt_ref"][i] = "msl"
        sog = d["speed"]
        cols["speed_m_s"][i] = sog * KNOT_M_S if sog < 1023 else np.nan
    if mtype == 19:
        sog = d["speed"]
        cols["speed_m_s"][i] = sog * KNOT_M_S if sog < 102.25 else np.nan
        hdg = d["heading"]
        cols["heading_deg"][i] = hdg if hdg < 360 else np.nan
    if mtype in (5, 19, 21) or (mtype == 24 and d.get("partno") == 1 and "to_bow" in d):
        cols["to_bow_m"][i] = _pos(d["to_bow"])
        cols["to_stern_m"][i] = _pos(d["to_stern"])
        cols["to_port_m"][i] = _pos(d["to_port"])
        cols["to_starboard_m"][i] = _pos(d["to_starboard"])
    if mtype in (5, 19, 21):
        cols["epfd"][i] = d["epfd"]
    if mtype in (5, 19) or (mtype == 24 and d.get("partno") == 0):
        cols["name"][i] = _text(d["shipname"])
    if mtype in (5, 19) or (mtype == 24 and d.get("partno") == 1):
        st = d["ship_type"]
        cols["ship_type"][i] = st if st else np.nan
    if mtype == 5 or (mtype == 24 and d.get("partno") == 1):
        cols["callsign"][i] = _text(d["callsign"])
    if mtype == 5:
        imo = d["imo"]
        cols["imo"][i] = imo if imo else np.nan
        cols["destination"][i] = _text(d["destination"])
        cols["draught_m"][i] = _pos(d["draught"])
        cols["eta"][i] = _eta(d["month"], d["day"], d["hour"], d["minute"])
    if mtype == 24:
        cols["part_num"][i] = d["partno"]
        if d.get("mothership_mmsi") is not None:
            cols["mothership_mmsi"][i] = int(d["mothership_mmsi"])
    if mtype == 8:  # inland static and voyage data (DAC 200, FI 10)
        cols["eni"][i] = _text(d["vin"])
        cols["length_m"][i] = _pos(d["length"])
        cols["beam_m"][i] = _pos(d["beam"])
        cols["eri_ship_type"][i] = d["shiptype"] if d["shiptype"] else np.nan
        cols["hazard_cones"][i] = d["hazard"] if d["hazard"] < 5 else np.nan
        cols["draught_m"][i] = _pos(d["draught"])
        cols["loaded"][i] = d["loaded"] if d["loaded"] in (1, 2) else np.nan
    if mtype == 21:
        cols["name"][i] = _text(m.full_name)  # type: ignore[union-attr]
        cols["aid_type"][i] = d["aid_type"]
        cols["off_position"][i] = d["off_position"] if d["second"] < 60 else np.nan
        cols["virtual_aid"][i] = d["virtual_aid"]


def _is_inland_static(six: npt.NDArray[np.uint8]) -> bool:
    """Type 8 with DAC 200 (inland, ECE/TRANS/SC.3/176) and FI 10 (static and voyage data)."""
    if len(six) < 10:
        return False
    bits = ((six[:10, None] >> _SHIFTS) & 1).reshape(-1)
    dac = int(bits[40:50] @ (1 << np.arange(9, -1, -1)))
    fid = int(bits[50:56] @ (1 << np.arange(5, -1, -1)))
    return dac == 200 and fid == 10


def _eta(month: int, day: int, hour: int, minute: int) -> str | None:
    """``MM-DDTHH:MM`` (no year in AIS), or ``MM-DD`` when the time of day is not available."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if hour < 24 and minute < 60:
        return f"{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"
    return f"{month:02d}-{day:02d}"


def _decode(
    msgs: list[_Message], errors: DecodeErrors, ref_ns: int | None, refine_second: bool
) -> pa.Table:
    n = len(msgs)
    cols = _columns(n)
    keep = np.zeros(n, dtype=bool)
    if n:
        payloads = [m[1] for m in msgs]
        lens = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=n)
        fills = np.fromiter((m[2] for m in msgs), dtype=np.int64, count=n)
        buf = _SIXBIT[np.frombuffer("".join(payloads).encode("ascii"), dtype=np.uint8)]
        starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        bad_char = np.add.reduceat((buf == 255).astype(np.int64), starts) > 0
        mtype = buf[starts].astype(np.int64)
        nbits = lens * 6 - fills
        for i in np.flatnonzero(bad_char):
            errors.add(KIND, "bad payload character", msgs[i][5])
        for t, (_, need) in _VECTOR_TYPES.items():
            rows = np.flatnonzero((mtype == t) & ~bad_char)
            if not len(rows):
                continue
            short = nbits[rows] < need
            for i in rows[short]:
                errors.add(KIND, f"payload too short for type {t}", msgs[i][5])
            rows = rows[~short]
            if not len(rows):
                continue
            nchar = -(-need // 6)
            idx = starts[rows, None] + np.arange(nchar)
            _vector_decode(cols, rows, buf[idx], t)
            cols["msg_type"][rows] = t
            keep[rows] = True
        for i in np.flatnonzero(np.isin(mtype, list(_PYAIS_TYPES)) & ~bad_char):
            t = int(mtype[i])
            need = _PYAIS_TYPES[t]
            if t == 8 and not _is_inland_static(buf[starts[i] : starts[i] + lens[i]]):
                continue  # other binary broadcasts are not reports
            if t == 24 and nbits[i] >= 40:
                need = 160 if (buf[starts[i] + 6] >> 2) & 3 == 0 else 168
            if nbits[i] < need:
                errors.add(KIND, f"payload too short for type {t}", msgs[i][5])
                continue
            try:
                _pyais_decode(cols, int(i), t, msgs[i][1], msgs[i][2])
            except Exception as exc:  # pyais raises assorted types on odd payloads
                errors.add(KIND, f"type {t} undecodable: {type(exc).__name__}", msgs[i][5])
                continue
            cols["msg_type"][i] = t
            keep[i] = True
    # time
    time_ns = np.fromiter((-1 if m[3] is None else m[3] for m in msgs), dtype=np.int64, count=n)
    src = np.array([m[4] for m in msgs], dtype=object)
    has_t = time_ns >= 0
    if ref_ns is not None:
        time_ns[~has_t] = ref_ns
        src[~has_t] = "ref"
        has_t[:] = True
    for i in np.flatnonzero(keep & ~has_t):
        errors.add(KIND, "no time", msgs[i][5])
    keep &= has_t
    if refine_second:
        sec = cols["second"]
        ok = ~np.isnan(sec)
        rx_sec = (time_ns // 1_000_000_000) % 60
        back = (rx_sec - np.where(ok, sec, 0).astype(np.int64)) % 60
        whole = time_ns - time_ns % 1_000_000_000
        time_ns = np.where(ok, whole - back * 1_000_000_000, time_ns)
    cols["time_source"] = src
    cols["line"] = np.array([m[0] for m in msgs], dtype=np.float64)
    rows = np.flatnonzero(keep)
    core = {
        "object_id": [object_id("mmsi", int(x)) for x in cols["mmsi"][rows]],
        "source": pa.array(np.full(len(rows), KIND, dtype=object), type=pa.string()),
        "time_utc": time_ns[rows],
        "alt_ref": pa.array(cols["alt_ref"][rows], type=pa.string()),
        "vrate_m_s": np.full(len(rows), np.nan),
    }
    for name in ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg"):
        core[name] = cols[name][rows]
    extras = {name: _extra(cols[name][rows], typ) for name, typ in EXTRA_COLUMNS.items()}
    return report_table(core, extras)


def _extra(values: npt.NDArray[Any], typ: pa.DataType) -> pa.Array:
    if pa.types.is_string(typ):
        return pa.array(values, type=typ)
    v = values.astype(np.float64)
    if pa.types.is_floating(typ):
        return pa.array(v, type=typ, from_pandas=True)
    mask = np.isnan(v)
    filled = np.where(mask, 0, v)
    if pa.types.is_boolean(typ):
        return pa.array(filled.astype(bool), type=typ, mask=mask)
    return pa.array(filled.astype(np.int64), type=typ, mask=mask)
