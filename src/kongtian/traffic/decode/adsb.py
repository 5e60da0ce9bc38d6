"""Mode S / ADS-B (1090 MHz) decoding into the normalised report record.

Field decoding (altitude, identification, velocity, squawk, Comm-B identification, ...) is
done by ``rs1090`` (MIT, Rust): we call its batch decoder *without* timestamps, which is
stateless, returns one result per input (``None`` when a frame fails its CRC or is not a
known format) and is the fastest path it offers. rs1090 can also resolve CPR positions
when given timestamps, but with its own pairing rules; we resolve positions ourselves in
:mod:`kongtian.traffic.decode.cpr` (pair window, speed gate, reference chain) and the tests
compare the result with pyModeS and with rs1090's own positions.

Output: **one record per decoded frame** in time order. Position messages carry lat/lon
when CPR resolved them (null while waiting for a pair or a reference, or when the speed
gate rejected them, which is also counted in the errors); velocity, identification,
altitude-only, squawk and status frames are state records with null lat/lon. Columns
beyond the core record:

``df`` (downlink format), ``typecode`` (DF17/18 ME type, else null), ``callsign``
(padding stripped; from DF17/18 identification or a Comm-B BDS 2,0 reply), ``squawk``
(4 octal digits as text), ``emergency`` (DF17 BDS 6,1 emergency state; for DF5/21 replies
the emergency squawks 7500/7600/7700 map to ``unlawful_interference``/
``no_communication``/``general``), ``on_ground``, ``nuc_p`` (position quality as sent in
the position type code), ``nac_p`` (DF17 BDS 6,2/6,5), ``nac_v`` (BDS 0,9),
``heading_deg`` and ``airspeed_m_s`` (air-referenced velocity: heading and TAS/IAS, which
are *not* ground speed/track and so stay out of the core columns).

``alt_m`` is barometric (``alt_ref='baro'``) except GNSS-height position messages (type
codes 20-22, ``wgs84``). ``source`` is ``adsb`` for DF17/18 and ``modes`` otherwise.
Object ids are ``icao24:<hex>``; for DF0/4/5/16/20/21 the address is recovered from the
address/parity field, which cannot be checked, so a corrupted reply yields a wrong
address (as in every Mode S decoder without a list of known aircraft).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import rs1090

from kongtian.errors import FormatError
from kongtian.geo.time import as_utc
from kongtian.model.report import DecodeErrors, object_id, report_table
from kongtian.traffic.decode import cpr

__all__ = ["decode_messages", "read_avr", "read_beast", "read_modes_csv"]

KIND = "adsb"
FT_M = 0.3048
KT_M_S = 1852.0 / 3600.0
FPM_M_S = FT_M / 60.0
BEAST_CLOCK_HZ = 12e6  # Beast/AVR-MLAT receiver counter (dump1090, readsb)
DEFAULT_CPR_WINDOW_S = 10.0
DEFAULT_SPEED_GATE_M_S = 400.0  # 1440 km/h: above any airliner ground speed in a jet stream

_HEX_RE = re.compile(r"[0-9a-f]{14}|[0-9a-f]{28}")
_SQUAWK_EMERGENCY = {"7500": "unlawful_interference", "7600": "no_communication", "7700": "general"}
_BATCH = 4096


def decode_messages(
    hex_msgs: Sequence[str],
    times_ns: npt.ArrayLike,
    *,
    ref: tuple[float, float] | None = None,
    cpr_window_s: float = DEFAULT_CPR_WINDOW_S,
    speed_gate_m_s: float = DEFAULT_SPEED_GATE_M_S,
    errors: DecodeErrors | None = None,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode Mode S frames (hex text, 14 or 28 digits) received at ``times_ns``.

    ``times_ns``: UTC, int64 ns since 1970 or ``datetime64``. ``ref``: (lat_deg, lon_deg) of
    the receiver or airport, used to decode surface positions and single airborne messages
    before a global fix (the aircraft must be within 180 NM airborne / 45 NM on the surface).
    ``cpr_window_s``: maximum separation of an even/odd pair (default 10 s, the DO-260B
    airborne rule; jet1090 uses 30 s, which admits more stale pairs).
    ``speed_gate_m_s``: positions implying a faster move from the track's last accepted
    position are rejected (default 400 m/s, 1440 km/h).
    Malformed frames are counted in the returned :class:`DecodeErrors` and skipped.
    """
    errors = errors if errors is not None else DecodeErrors()
    t = np.asarray(times_ns)
    if np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("datetime64[ns]").astype(np.int64)
    t = t.astype(np.int64, copy=False)
    if t.shape != (len(hex_msgs),):
        raise ValueError(f"times_ns has shape {t.shape}, expected ({len(hex_msgs)},)")
    order = np.argsort(t, kind="stable") if t.size > 1 and np.any(np.diff(t) < 0) else None

    frames: list[str] = []
    ftimes: list[int] = []
    idx = order if order is not None else range(len(hex_msgs))
    match = _HEX_RE.fullmatch
    for i in idx:
        raw = hex_msgs[i]
        s = raw.strip().lower() if isinstance(raw, str) else ""
        if match(s) is None:
            errors.add(
                KIND, "frame is not 14 or 28 hex digits", raw if isinstance(raw, str) else repr(raw)
            )
            continue
        frames.append(s)
        ftimes.append(int(t[i]))
    decoded = _rs_decode(frames)

    tracker = cpr.CprTracker(window_s=cpr_window_s, speed_gate_m_s=speed_gate_m_s, ref=ref)
    rows: list[tuple[Any, ...]] = []
    for s, tn, m in zip(frames, ftimes, decoded, strict=True):
        if m is None:
            errors.add(KIND, "rejected by decoder (CRC/parity or unknown format)", s)
            continue
        try:
            row = _row(s, tn, m, tracker, errors)
        except (KeyError, TypeError, ValueError):
            errors.add(KIND, "decoder output not understood", s)
            continue
        if row is not None:
            rows.append(row)
    return _table(rows), errors


def _rs_decode(frames: list[str]) -> list[Any]:
    """rs1090 batch decode, one result per frame; a Rust panic on one frame costs only it."""
    out: list[Any] = []
    for k in range(0, len(frames), _BATCH):
        chunk = frames[k : k + _BATCH]
        try:
            out.extend(rs1090.decode(chunk, batch=len(chunk)))
        except Exception:
            out.extend(_rs_decode_one(f) for f in chunk)
        except BaseException as exc:  # pyo3 PanicException derives from BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            out.extend(_rs_decode_one(f) for f in chunk)
    return out


def _rs_decode_one(frame: str) -> Any:
    try:
        return rs1090.decode([frame])[0]
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return None


_NAMES = (
    "object_id", "source", "time_utc", "lat_deg", "lon_deg", "alt_m", "alt_ref", "speed_m_s",
    "track_deg", "vrate_m_s", "df", "typecode", "callsign", "squawk", "emergency", "on_ground",
    "nuc_p", "nac_p", "nac_v", "heading_deg", "airspeed_m_s",
)  # fmt: skip
_EXTRA_TYPES = {
    "df": pa.int8(),
    "typecode": pa.int8(),
    "callsign": pa.string(),
    "squawk": pa.string(),
    "emergency": pa.string(),
    "on_ground": pa.bool_(),
    "nuc_p": pa.int8(),
    "nac_p": pa.int8(),
    "nac_v": pa.int8(),
    "heading_deg": pa.float64(),
    "airspeed_m_s": pa.float64(),
}
_N_CORE = 10


def _table(rows: list[tuple[Any, ...]]) -> pa.Table:
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [() for _ in _NAMES]
    columns: dict[str, Any] = {}
    for name, values in zip(_NAMES[:_N_CORE], cols[:_N_CORE], strict=True):
        if name in ("object_id", "source", "alt_ref"):
            columns[name] = pa.array(values, pa.string())
        elif name == "time_utc":
            columns[name] = np.asarray(values, dtype=np.int64)
        else:
            columns[name] = np.asarray(values, dtype=np.float64)
    extras: dict[str, Any] = {}
    for name, values in zip(_NAMES[_N_CORE:], cols[_N_CORE:], strict=True):
        typ = _EXTRA_TYPES[name]
        if pa.types.is_floating(typ):
            extras[name] = pa.array(np.asarray(values, dtype=np.float64), typ, from_pandas=True)
        else:
            extras[name] = pa.array(values, typ)
    return report_table(columns, extras)


_NAN = math.nan
_CPR_REASON = {
    cpr.STRADDLE: "cpr: even/odd pair in different longitude zones",
    cpr.GATED: "cpr: position rejected by speed gate",
}


def _num(v: Any, scale: float) -> float:
    return _NAN if v is None else float(v) * scale


def _row(
    frame: str, tn: int, m: dict[str, Any], tracker: cpr.CprTracker, errors: DecodeErrors
) -> tuple[Any, ...] | None:
    df = min(int(frame[:2], 16) >> 3, 24)  # rs1090 names some formats instead of numbering them
    icao = m.get("icao24")
    if not icao:
        errors.add(KIND, "decoded frame without address", frame)
        return None
    lat = lon = alt = spd = trk = vr = hdg = aspd = _NAN
    aref: str | None = None
    tc: int | None = None
    cs = sq = em = None
    gnd: bool | None = None
    nuc = nacp = nacv = None
    if df in (17, 18):
        source = "adsb"
        tc = int(frame[8:10], 16) >> 3
        bds = m.get("bds")
        if bds == "05" or bds == "06":
            surface = bds == "06"
            nuc = m.get("NUCp")
            odd = m.get("parity") == "odd"
            status, lat, lon = tracker.update(
                icao, tn * 1e-9, m["lat_cpr"], m["lon_cpr"], odd, surface
            )
            if status in _CPR_REASON:
                errors.add(KIND, _CPR_REASON[status], frame)
            if surface:
                gnd = True
                spd = _num(m.get("groundspeed"), KT_M_S)
                trk = _num(m.get("track"), 1.0)
            else:
                gnd = False
                alt = _num(m.get("altitude"), FT_M)
                if alt == alt:
                    aref = "wgs84" if 20 <= tc <= 22 else "baro"
        elif bds == "09":
            nacv = m.get("NACv")
            vr = _num(m.get("vertical_rate"), FPM_M_S)
            if "groundspeed" in m:
                spd = _num(m.get("groundspeed"), KT_M_S)
                trk = _num(m.get("track"), 1.0)
            else:
                hdg = _num(m.get("heading"), 1.0)
                aspd = _num(m.get("TAS", m.get("IAS")), KT_M_S)
        elif bds == "08":
            cs = _callsign(m.get("callsign"))
        elif bds == "61":
            em = m.get("emergency_state")
            sq = m.get("squawk")
        elif bds == "62" or bds == "65":
            nacp = m.get("NACp")
    else:
        source = "modes"
        a = m.get("altitude")
        if a is not None:
            alt = float(a) * FT_M
            aref = "baro"
        sq = m.get("squawk")
        if sq is not None:
            em = _SQUAWK_EMERGENCY.get(sq)
        b20 = m.get("bds20")
        if isinstance(b20, dict):
            cs = _callsign(b20.get("callsign"))
        capability = m.get("capability")
        if capability == "ground":
            gnd = True
        elif capability == "airborne":
            gnd = False
    return (
        object_id("icao24", icao), source, tn, lat, lon, alt, aref, spd, trk, vr,
        df, tc, cs, sq, em, gnd, nuc, nacp, nacv, hdg, aspd,
    )  # fmt: skip


def _callsign(v: Any) -> str | None:
    if not v:
        return None
    s = str(v).replace("_", " ").replace("#", " ").strip()
    return s or None


# --------------------------------------------------------------------------- readers


def _ref_time_ns(ref_time_utc: Any) -> int:
    if ref_time_utc is None:
        return int(np.datetime64(datetime.now(UTC).replace(tzinfo=None), "ns").astype(np.int64))
    return int(np.asarray(as_utc(ref_time_utc)).astype("datetime64[ns]").astype(np.int64))


def read_avr(
    text_or_lines: str | Iterable[str],
    *,
    ref_time_utc: Any = None,
    ref: tuple[float, float] | None = None,
    cpr_window_s: float = DEFAULT_CPR_WINDOW_S,
    speed_gate_m_s: float = DEFAULT_SPEED_GATE_M_S,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode AVR text (``*8D...;`` per line; ``@`` + 12-hex-digit 12 MHz receiver counter
    before the frame in dump1090's MLAT variant).

    AVR carries no absolute time. Each frame is stamped ``ref_time_utc`` plus the receiver
    counter elapsed since the first timestamped line (frames without a counter take the
    last stamp, so they share a time). ``ref_time_utc=None`` means now (a live feed).
    Lines that are not AVR frames are counted in the errors; blank lines are skipped.
    """
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    base = _ref_time_ns(ref_time_utc)
    errors = DecodeErrors()
    msgs: list[str] = []
    times: list[int] = []
    first: int | None = None
    now = base
    for line in lines:
        s = line.strip()
        if not s:
            continue
        if len(s) >= 16 and s[0] == "*" and s[-1] == ";":
            msgs.append(s[1:-1])
            times.append(now)
        elif len(s) >= 28 and s[0] == "@" and s[-1] == ";":
            try:
                counter = int(s[1:13], 16)
            except ValueError:
                errors.add(KIND, "avr: bad receiver timestamp", s)
                continue
            if first is None:
                first = counter
            now = base + int(round((counter - first) * 1e9 / BEAST_CLOCK_HZ))
            msgs.append(s[13:-1])
            times.append(now)
        else:
            errors.add(KIND, "avr: line is not *<hex>; or @<ts><hex>;", s)
    return decode_messages(
        msgs,
        np.asarray(times, dtype=np.int64),
        ref=ref,
        cpr_window_s=cpr_window_s,
        speed_gate_m_s=speed_gate_m_s,
        errors=errors,
    )


_BEAST_LEN = {0x31: 2, 0x32: 7, 0x33: 14, 0x34: 14}  # '1' Mode A/C, '2' short, '3' long, '4' status


def beast_frames(
    data: bytes, errors: DecodeErrors | None = None
) -> tuple[list[str], list[int], DecodeErrors]:
    """Split a Beast binary stream into Mode S frames (hex) and 48-bit receiver counters.

    Each record is 0x1a, a type byte, a 6-byte counter, 1 signal byte and the payload, with
    every 0x1a inside escaped as 0x1a 0x1a. Mode A/C (type '1') and status (type '4')
    records are skipped without counting; anything else that breaks the framing is counted
    and the parser resynchronises on the next unescaped 0x1a.
    """
    errors = errors if errors is not None else DecodeErrors()
    msgs: list[str] = []
    counters: list[int] = []
    n = len(data)
    i = data.find(0x1A)
    if i > 0:
        errors.add(KIND, "beast: bytes before first 0x1a", bytes(data[: min(i, 64)]))
    while 0 <= i < n - 1:
        typ = data[i + 1]
        size = _BEAST_LEN.get(typ)
        if size is None:
            errors.add(KIND, "beast: unknown record type", bytes(data[i : i + 16]))
            i = _next_sync(data, i + 1)
            continue
        need = 7 + size
        body = bytearray()
        j = i + 2
        ok = True
        while len(body) < need:
            if j >= n:
                ok = False
                break
            b = data[j]
            if b == 0x1A:
                if j + 1 < n and data[j + 1] == 0x1A:
                    j += 2
                else:
                    ok = False
                    break
            else:
                j += 1
            body.append(b)
        if not ok:
            reason = "beast: truncated record" if j >= n else "beast: unescaped 0x1a inside record"
            errors.add(KIND, reason, bytes(data[i : min(j, i + 40)]))
            i = j if j < n and data[j] == 0x1A else _next_sync(data, j)
            continue
        if typ in (0x32, 0x33):
            msgs.append(body[7:].hex())
            counters.append(int.from_bytes(body[:6], "big"))
        i = j
        if i < n and data[i] != 0x1A:
            errors.add(KIND, "beast: garbage between records", bytes(data[i : i + 16]))
            i = _next_sync(data, i)
    return msgs, counters, errors


def _next_sync(data: bytes, i: int) -> int:
    """Index of the next 0x1a that is not an escaped pair, or -1."""
    n = len(data)
    while True:
        i = data.find(0x1A, i)
        if i < 0 or i + 1 >= n:
            return -1
        if data[i + 1] == 0x1A:
            i += 2
            continue
        return i


def read_beast(
    data: bytes,
    *,
    ref_time_utc: Any = None,
    ref: tuple[float, float] | None = None,
    cpr_window_s: float = DEFAULT_CPR_WINDOW_S,
    speed_gate_m_s: float = DEFAULT_SPEED_GATE_M_S,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode a Beast binary stream (dump1090/readsb port 30005 format).

    Times: ``ref_time_utc`` (``None`` = now) plus the 12 MHz receiver counter elapsed since
    the first frame. GPS-disciplined receivers that put nanoseconds of day in the counter
    are not recognised: their times come out scaled by 12/1000 relative to the first frame.
    """
    msgs, counters, errors = beast_frames(data)
    base = _ref_time_ns(ref_time_utc)
    c = np.asarray(counters, dtype=np.int64)
    times = base + np.round((c - (c[0] if c.size else 0)) * (1e9 / BEAST_CLOCK_HZ)).astype(np.int64)
    return decode_messages(
        msgs,
        times,
        ref=ref,
        cpr_window_s=cpr_window_s,
        speed_gate_m_s=speed_gate_m_s,
        errors=errors,
    )


def read_modes_csv(
    path_or_text: str | Path,
    *,
    ref: tuple[float, float] | None = None,
    cpr_window_s: float = DEFAULT_CPR_WINDOW_S,
    speed_gate_m_s: float = DEFAULT_SPEED_GATE_M_S,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode timestamped CSV: Unix time (UTC seconds) in the first column, the hex frame in
    whichever column holds 14/28 hex digits (detected on the first rows; optional header
    and quotes allowed), as in pyModeS's ``sample_data_adsb.csv``.

    ``path_or_text``: a :class:`~pathlib.Path`, a path string (one line, no comma), or the
    CSV text itself. An unreadable file or one with no frame column raises
    :class:`~kongtian.errors.FormatError`; bad rows are counted and skipped.
    """
    path: str | None = None
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and "," not in path_or_text):
        path = str(path_or_text)
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise FormatError(f"cannot read Mode S CSV: {exc}", path=path) from exc
    else:
        text = str(path_or_text)
    head = list(csv.reader(io.StringIO(text[:8192])))[:50]
    col = _detect_hex_column(head)
    if col is None:
        raise FormatError("no column of 14/28-digit hex Mode S frames in the first rows", path=path)
    errors = DecodeErrors()
    fast = _csv_fast(text, col, header=bool(head) and not _is_float(head[0][0] if head[0] else ""))
    if fast is not None:
        return decode_messages(
            fast[0],
            fast[1],
            ref=ref,
            cpr_window_s=cpr_window_s,
            speed_gate_m_s=speed_gate_m_s,
            errors=errors,
        )
    msgs: list[str] = []
    times: list[int] = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        try:
            ts = float(row[0])
            frame = row[col]
        except (ValueError, IndexError):
            if lineno == 1:
                continue  # header
            errors.add(KIND, f"csv: bad row (line {lineno})", ",".join(row)[:200])
            continue
        if not math.isfinite(ts) or abs(ts) > 1e11:
            errors.add(KIND, f"csv: bad timestamp (line {lineno})", ",".join(row)[:200])
            continue
        msgs.append(frame)
        times.append(int(round(ts * 1e9)))
    return decode_messages(
        msgs,
        np.asarray(times, dtype=np.int64),
        ref=ref,
        cpr_window_s=cpr_window_s,
        speed_gate_m_s=speed_gate_m_s,
        errors=errors,
    )


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _csv_fast(text: str, col: int, header: bool) -> tuple[list[str], npt.NDArray[np.int64]] | None:
    """Arrow's CSV reader for clean files; ``None`` sends the caller to the row-by-row path
    that counts bad rows (any ragged row, bad number or out-of-range time)."""
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode()),
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, skip_rows=1 if header else 0
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"f0": pa.float64(), f"f{col}": pa.string()}
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        return None
    if table.num_columns <= col or table.column(0).null_count or table.column(col).null_count:
        return None
    ts = table.column(0).to_numpy()
    if not np.all(np.isfinite(ts)) or np.any(np.abs(ts) > 1e11):
        return None
    return table.column(col).to_pylist(), np.round(ts * 1e9).astype(np.int64)


def _detect_hex_column(rows: list[list[str]]) -> int | None:
    votes: dict[int, int] = {}
    for row in rows[:50]:
        for k, v in enumerate(row[1:], start=1):
            if _HEX_RE.fullmatch(v.strip().lower()):
                votes[k] = votes.get(k, 0) + 1
    if not votes:
        return None
    return max(votes, key=lambda k: votes[k])
