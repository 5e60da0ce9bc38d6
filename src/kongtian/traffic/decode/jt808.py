"""JT/T 808 (2013 and 2019) terminal protocol: framing, header, location reports, replies.

JT/T 808 is the Chinese road-transport terminal protocol (vehicles, and many cheap GNSS
trackers that borrow it). One message on the wire::

    0x7e | header | body | check code | 0x7e

with 0x7e and 0x7d inside the frame escaped as ``7d 02`` and ``7d 01``; the check code
is the XOR of every unescaped byte of header and body. The header carries the message
id, the body properties word (body length in bits 0-9, encryption in 10-12, sub-package
flag in bit 13, the 2019 version flag in bit 14), for 2019 a protocol-version byte, the
terminal phone number in BCD (6 bytes in 2013, 10 in 2019), a serial number, and for
sub-packages the packet count and index.

What this module reads into reports: 0x0200 location reports and every item of 0x0704
batches (lat/lon in 1e-6 degree with the south/west bits of the status word, altitude
in metres above mean sea level, speed 0.1 km/h, direction in degrees, time BCD
YYMMDDhhmmss in GMT+8). Additional information items with a standard id and length
are decoded (0x01 mileage, 0x02 fuel, 0x03 recorder speed, 0x14 JT/T 1078 video alarm,
0x25 extended status, 0x2a IO, 0x2b analog, 0x30 signal, 0x31 satellites); every
other item is kept raw in ``extra_items``. A vendor item whose length runs past the
body ends the item list (``items_truncated``) but never costs the base position
(traccar issue #5331). Coordinates 0,0 (no fix yet) or beyond +-90/180 become null.

What it answers: :func:`reply_for` builds the platform general response 0x8001 and the
registration response 0x8100 in the same protocol version as the request, so a real
terminal can register, authenticate and report.

Sub-packaged messages: :func:`parse_frame` keeps each packet's body raw;
:func:`read_frames` joins the packets it is given and decodes the whole body.

Not done here: decryption of RSA bodies (bits 10-12), vendor messages (0x5501, 0x0900
pass-through payloads and the like; kept raw).
"""

from __future__ import annotations

import calendar
import dataclasses
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import xor
from typing import Any

import pyarrow as pa

from kongtian.errors import FormatError
from kongtian.model.report import DecodeErrors, object_id, report_table

FLAG = 0x7E
ESCAPE = 0x7D
KIND = "jt808"
# flags + every byte of the longest header (2019, sub-packaged), body and check code escaped
MAX_FRAME_BYTES = 2 + 2 * (21 + 0x3FF + 1)
SOURCE = "jt808"

MSG_TERMINAL_RESPONSE = 0x0001
MSG_HEARTBEAT = 0x0002
MSG_REGISTER = 0x0100
MSG_AUTH = 0x0102
MSG_LOCATION = 0x0200
MSG_LOCATION_QUERY_RESPONSE = 0x0201
MSG_LOCATION_BATCH = 0x0704
MSG_PLATFORM_RESPONSE = 0x8001
MSG_REGISTER_RESPONSE = 0x8100

_KMH_TO_M_S = 1.0 / 3.6
_GMT8_S = 8 * 3600
_BASE = struct.Struct(">IIIIhHH")
_BAD_ESCAPE = re.compile(rb"\x7d(?![\x01\x02])", re.DOTALL)

# Alarm word bits of JT/T 808-2013 table 24 (2019 adds bit 12); named flags become
# boolean columns, the whole word stays in ``alarm_flags``.
ALARM_BITS = {
    "alarm_sos": 0,
    "alarm_overspeed": 1,
    "alarm_fatigue": 2,
    "alarm_gnss_fault": 4,
    "alarm_gnss_antenna_open": 5,
    "alarm_gnss_antenna_short": 6,
    "alarm_power_low": 7,
    "alarm_power_off": 8,
    "alarm_collision": 29,
    "alarm_rollover": 30,
}
# Status word bits (table 25).
STATUS_ACC_ON = 0
STATUS_LOCATED = 1
STATUS_SOUTH = 2
STATUS_WEST = 3

_REPORT_EXTRAS: dict[str, pa.DataType] = {
    "msg_id": pa.uint16(),
    "serial": pa.uint16(),
    "protocol_version": pa.uint8(),
    "batch_type": pa.uint8(),
    "alarm_flags": pa.uint32(),
    "status_flags": pa.uint32(),
    "acc_on": pa.bool_(),
    "located": pa.bool_(),
    **{name: pa.bool_() for name in ALARM_BITS},
    "mileage_m": pa.float64(),
    "fuel_l": pa.float64(),
    "recorder_speed_m_s": pa.float64(),
    "video_alarm": pa.uint32(),
    "ext_status": pa.uint32(),
    "io_status": pa.uint16(),
    "analog": pa.uint32(),
    "signal_strength": pa.uint8(),
    "satellites": pa.uint8(),
    "items_truncated": pa.bool_(),
    "extra_items": pa.list_(pa.struct([("id", pa.uint8()), ("data", pa.binary())])),
}


class JT808Error(FormatError):
    """A JT/T 808 frame that cannot be used; ``reason`` is the short counter key."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"JT/T 808 frame: {reason}" + (f" ({detail})" if detail else ""))


@dataclass
class Message:
    """One parsed JT/T 808 message (header fields, raw body and what was decoded from it).

    ``phone`` is the terminal phone number as the BCD digits sent (12 in 2013, 20 in
    2019; hex letters kept if a vendor puts non-decimal nibbles there). ``locations``
    holds one dict per position (0x0200, 0x0201, each item of 0x0704) with keys as in
    the report columns; ``fields`` holds the decoded body of other known messages.
    """

    msg_id: int
    phone: str
    serial: int
    body: bytes
    version_2019: bool = False
    protocol_version: int | None = None
    encryption: int = 0
    packet_total: int | None = None
    packet_index: int | None = None
    declared_body_len: int = 0
    checksum_ok: bool = True
    length_ok: bool = True
    fields: dict[str, Any] = field(default_factory=dict)
    locations: list[dict[str, Any]] = field(default_factory=list)
    item_errors: list[str] = field(default_factory=list)

    @property
    def subpackaged(self) -> bool:
        return self.packet_total is not None


# ---------------------------------------------------------------------------- framing


def split_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Cut a TCP byte stream into 0x7e-delimited frames.

    Returns ``(frames, leftover)``: each frame keeps both 0x7e flags; ``leftover`` is the
    unfinished tail (from its opening flag) to prepend to the next read. Bytes outside
    any frame are dropped; ``7e 7e`` (one frame's end flag followed by the next frame's
    start flag) is handled, and so is a lone flag between frames. A tail longer than
    any frame can be (:data:`MAX_FRAME_BYTES`) is dropped, so a peer that never sends
    the closing flag cannot grow the buffer.
    """
    frames: list[bytes] = []
    start = data.find(FLAG)
    n = len(data)
    while start >= 0:
        end = data.find(FLAG, start + 1)
        if end < 0:
            tail = data[start:]
            # nothing longer than the largest escaped frame can still become one
            return frames, tail if len(tail) <= MAX_FRAME_BYTES else b""
        if end == start + 1:
            # two flags in a row: the first closed something we never saw open
            start = end
            continue
        frames.append(data[start : end + 1])
        start = data.find(FLAG, end + 1) if end + 1 < n else -1
    return frames, b""


def escape(raw: bytes) -> bytes:
    """Escape 0x7d and 0x7e inside a frame (applied after the check code is added)."""
    return raw.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes, *, strict: bool = True) -> bytes:
    """Undo :func:`escape`. A 0x7d not followed by 01/02 raises in strict mode and is
    kept as it is otherwise."""
    if b"\x7d" not in data:
        return data
    if _BAD_ESCAPE.search(data) is not None:
        if strict:
            raise JT808Error("bad escape", "0x7d not followed by 0x01 or 0x02")
        out = bytearray()
        i = 0
        while i < len(data):
            b = data[i]
            if b == ESCAPE and i + 1 < len(data) and data[i + 1] in (1, 2):
                out.append(ESCAPE if data[i + 1] == 1 else FLAG)
                i += 2
            else:
                out.append(b)
                i += 1
        return bytes(out)
    # 7d 02 first: its product (7e) can never form a new 7d 01 pair
    return data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def check_code(data: bytes) -> int:
    """XOR of all bytes (the JT/T 808 check code of header + body)."""
    return reduce(xor, data, 0)


def _bcd_digits(raw: bytes) -> str:
    return raw.hex()


def _phone_bytes(phone: str, n_bytes: int) -> bytes:
    digits = str(phone).strip()
    if len(digits) > 2 * n_bytes or not re.fullmatch(r"[0-9a-fA-F]*", digits):
        raise ValueError(f"terminal phone {phone!r} is not up to {2 * n_bytes} BCD digits")
    return bytes.fromhex(digits.rjust(2 * n_bytes, "0"))


def encode_frame(
    msg_id: int,
    phone: str,
    serial: int,
    body: bytes,
    *,
    version_2019: bool = False,
    protocol_version: int = 1,
    packet: tuple[int, int] | None = None,
) -> bytes:
    """Build one escaped, checksummed frame with both 0x7e flags.

    ``phone`` is left-padded with zeros to 12 BCD digits (2013) or 20 (2019, which also
    sets properties bit 14 and writes ``protocol_version``). ``packet=(total, index)``
    (index from 1) marks one sub-package of a longer body. No encryption.
    """
    if len(body) > 0x3FF:
        raise ValueError(f"JT/T 808 body of {len(body)} bytes exceeds 1023")
    props = len(body) | (0x4000 if version_2019 else 0) | (0x2000 if packet else 0)
    head = msg_id.to_bytes(2, "big") + props.to_bytes(2, "big")
    if version_2019:
        head += bytes([protocol_version & 0xFF]) + _phone_bytes(phone, 10)
    else:
        head += _phone_bytes(phone, 6)
    raw = head + (serial & 0xFFFF).to_bytes(2, "big")
    if packet:
        raw += packet[0].to_bytes(2, "big") + packet[1].to_bytes(2, "big")
    raw += body
    raw += bytes([check_code(raw)])
    return b"\x7e" + escape(raw) + b"\x7e"


# ---------------------------------------------------------------------------- parsing


def parse_frame(frame: bytes, *, strict: bool = True) -> Message:
    """Parse one frame (with or without its 0x7e flags) into a :class:`Message`.

    The outer flags are stripped; an unescaped 0x7e between them is read as data.
    Strict mode (default) rejects a bad escape, a wrong check code and a body length
    that differs from the header's, raising :class:`JT808Error` with the reason.
    Lenient mode records ``checksum_ok`` / ``length_ok`` and decodes the bytes that
    are there (the body is everything between header and check code). Both modes
    raise on frames too short for a header and on location bodies with no position.
    """
    data = bytes(frame)
    if data[:1] == b"\x7e":
        data = data[1:]
    if data[-1:] == b"\x7e":
        data = data[:-1]
    # An 0x7e left inside a frame the caller delimited is taken as data: captures
    # quoted in other projects' tests (traccar's) are often written unescaped, and
    # split_frames never yields one.
    data = unescape(data, strict=strict)
    if len(data) < 13:
        raise JT808Error("frame too short", f"{len(data)} bytes unescaped")
    checksum_ok = check_code(data[:-1]) == data[-1]
    if strict and not checksum_ok:
        raise JT808Error(
            "bad check code", f"got 0x{data[-1]:02x}, computed 0x{check_code(data[:-1]):02x}"
        )
    msg_id = int.from_bytes(data[0:2], "big")
    props = int.from_bytes(data[2:4], "big")
    body_len = props & 0x3FF
    version_2019 = bool(props & 0x4000)
    pos = 4
    protocol_version = None
    if version_2019:
        protocol_version = data[4]
        phone_raw = data[5:15]
        pos = 15
    else:
        phone_raw = data[4:10]
        pos = 10
    serial = int.from_bytes(data[pos : pos + 2], "big")
    pos += 2
    total = index = None
    if props & 0x2000:
        total = int.from_bytes(data[pos : pos + 2], "big")
        index = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 4
    if pos + 1 > len(data):
        raise JT808Error("frame too short", f"header needs {pos} bytes, frame has {len(data) - 1}")
    body = data[pos:-1]
    length_ok = len(body) == body_len
    if strict and not length_ok:
        raise JT808Error("length mismatch", f"header says {body_len} bytes, body has {len(body)}")
    msg = Message(
        msg_id=msg_id,
        phone=_bcd_digits(phone_raw),
        serial=serial,
        body=body,
        version_2019=version_2019,
        protocol_version=protocol_version,
        encryption=(props >> 10) & 0x7,
        packet_total=total,
        packet_index=index,
        declared_body_len=body_len,
        checksum_ok=checksum_ok,
        length_ok=length_ok,
    )
    if msg.encryption == 0 and not msg.subpackaged:
        _decode_body(msg)
    return msg


def _decode_body(msg: Message) -> None:
    body = msg.body
    mid = msg.msg_id
    if mid == MSG_LOCATION:
        msg.locations.append(decode_location(body))
    elif mid == MSG_LOCATION_QUERY_RESPONSE:
        if len(body) < 2:
            raise JT808Error("location body too short", f"{len(body)} bytes")
        msg.fields["reply_serial"] = int.from_bytes(body[:2], "big")
        msg.locations.append(decode_location(body[2:]))
    elif mid == MSG_LOCATION_BATCH:
        _decode_batch(msg)
    elif mid == MSG_TERMINAL_RESPONSE and len(body) >= 5:
        msg.fields.update(
            reply_serial=int.from_bytes(body[0:2], "big"),
            reply_id=int.from_bytes(body[2:4], "big"),
            result=body[4],
        )
    elif mid == MSG_REGISTER:
        msg.fields.update(_decode_register(body, msg.version_2019))
    elif mid == MSG_AUTH:
        msg.fields.update(_decode_auth(body, msg.version_2019))


def _decode_batch(msg: Message) -> None:
    body = msg.body
    if len(body) < 3:
        raise JT808Error("batch body too short", f"{len(body)} bytes")
    count = int.from_bytes(body[0:2], "big")
    batch_type = body[2]
    msg.fields.update(count=count, batch_type=batch_type)
    pos = 3
    for _ in range(count):
        if pos + 2 > len(body):
            msg.item_errors.append("batch truncated")
            break
        n = int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
        if pos + n > len(body):
            msg.item_errors.append("batch truncated")
            break
        try:
            loc = decode_location(body[pos : pos + n])
        except JT808Error as exc:
            msg.item_errors.append(exc.reason)
        else:
            loc["batch_type"] = batch_type
            msg.locations.append(loc)
        pos += n


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("gbk", errors="replace").strip()


def _decode_register(body: bytes, v2019: bool) -> dict[str, Any]:
    # 2013: province, city, maker[5], model[20], terminal id[7], colour, plate;
    # 2019: maker[11], model[30], terminal id[30]. Anything else is kept raw.
    sizes = (11, 30, 30) if v2019 else (5, 20, 7)
    fixed = 4 + sum(sizes) + 1
    if len(body) < fixed:
        return {}
    a, b, c = sizes
    return {
        "province": int.from_bytes(body[0:2], "big"),
        "city": int.from_bytes(body[2:4], "big"),
        "maker": _text(body[4 : 4 + a]),
        "model": _text(body[4 + a : 4 + a + b]),
        "terminal_id": _text(body[4 + a + b : 4 + a + b + c]),
        "plate_colour": body[fixed - 1],
        "plate": _text(body[fixed:]),
    }


def _decode_auth(body: bytes, v2019: bool) -> dict[str, Any]:
    if v2019 and body:
        n = body[0]
        if 1 + n + 35 <= len(body):
            return {
                "auth_code": _text(body[1 : 1 + n]),
                "imei": _text(body[1 + n : 16 + n]),
                "software_version": _text(body[16 + n : 36 + n]),
            }
    return {"auth_code": _text(body)}


def _bcd_time_utc_ns(raw: bytes) -> int:
    digits = raw.hex()
    if not digits.isdigit():
        raise JT808Error("bad time", f"BCD time {digits!r} has non-decimal digits")
    yy, mo, dd, hh, mi, ss = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    if not (1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60 and ss < 60):
        raise JT808Error("bad time", f"BCD time {digits!r} out of range")
    try:
        t = calendar.timegm((2000 + yy, mo, dd, hh, mi, ss, 0, 0, 0))
    except (ValueError, OverflowError) as exc:  # pragma: no cover - timegm is lenient
        raise JT808Error("bad time", digits) from exc
    if dd > calendar.monthrange(2000 + yy, mo)[1]:
        raise JT808Error("bad time", f"BCD time {digits!r} out of range")
    return (t - _GMT8_S) * 1_000_000_000


def decode_location(body: bytes) -> dict[str, Any]:
    """Decode a location information body (the 28-byte base plus additional items).

    Returns a dict keyed like the report columns (SI units, degrees for lat/lon/track,
    ``time_utc`` as int ns). Raises :class:`JT808Error` if the base is incomplete or the
    time is not a valid BCD date.
    """
    if len(body) < 28:
        raise JT808Error("location body too short", f"{len(body)} bytes, need 28")
    # altitude: the standard says WORD; read signed so places below sea level stay sane
    alarm, status, lat_raw, lon_raw, alt, speed_raw, direction = _BASE.unpack_from(body)
    t_ns = _bcd_time_utc_ns(body[22:28])
    lat: float | None = lat_raw * 1e-6
    lon: float | None = lon_raw * 1e-6
    if status >> STATUS_SOUTH & 1:
        lat = -lat_raw * 1e-6
    if status >> STATUS_WEST & 1:
        lon = -lon_raw * 1e-6
    if lat_raw == 0 and lon_raw == 0:
        lat = lon = None  # no fix yet: 0,0 is a placeholder, not a place
    elif lat_raw > 90_000_000 or lon_raw > 180_000_000:
        lat = lon = None
    rec: dict[str, Any] = {
        "time_utc": t_ns,
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_m": float(alt),
        "alt_ref": "msl",
        "speed_m_s": speed_raw * 0.1 * _KMH_TO_M_S,
        "track_deg": float(direction) if direction < 360 else None,
        "vrate_m_s": None,
        "alarm_flags": alarm,
        "status_flags": status,
        "acc_on": bool(status >> STATUS_ACC_ON & 1),
        "located": bool(status >> STATUS_LOCATED & 1),
    }
    for name, bit in ALARM_BITS.items():
        rec[name] = bool(alarm >> bit & 1)
    extra: list[dict[str, Any]] = []
    truncated = False
    pos = 28
    n = len(body)
    while pos < n:
        if pos + 2 > n:
            truncated = True
            break
        item_id, length = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + length]
        if len(value) < length:
            truncated = True
            extra.append({"id": item_id, "data": body[pos + 2 :]})
            break
        pos += 2 + length
        if not _decode_item(rec, item_id, value):
            extra.append({"id": item_id, "data": value})
    rec["items_truncated"] = truncated
    rec["extra_items"] = extra
    return rec


def _decode_item(rec: dict[str, Any], item_id: int, value: bytes) -> bool:
    """Store a standard additional item; False if it is not one (kept raw then)."""
    n = len(value)
    v = int.from_bytes(value, "big")
    if item_id == 0x01 and n == 4:
        rec["mileage_m"] = v * 100.0
    elif item_id == 0x02 and n == 2:
        rec["fuel_l"] = v * 0.1
    elif item_id == 0x03 and n == 2:
        rec["recorder_speed_m_s"] = v * 0.1 * _KMH_TO_M_S
    elif item_id == 0x14 and n == 4:  # JT/T 1078 video alarm word
        rec["video_alarm"] = v
    elif item_id == 0x25 and n == 4:
        rec["ext_status"] = v
    elif item_id == 0x2A and n == 2:
        rec["io_status"] = v
    elif item_id == 0x2B and n == 4:
        rec["analog"] = v
    elif item_id == 0x30 and n == 1:
        rec["signal_strength"] = v
    elif item_id == 0x31 and n == 1:
        rec["satellites"] = v
    else:
        return False
    return True


# ---------------------------------------------------------------------------- batches


def read_frames(
    frames: Iterable[bytes], *, strict: bool = True
) -> tuple[pa.Table, DecodeErrors, list[Message]]:
    """Parse frames and gather their positions into one report table.

    Every 0x0200 / 0x0201 message and every item of a 0x0704 batch becomes a row
    (``object_id`` ``jt808:<phone digits>``, ``source`` ``jt808``, times converted from
    GMT+8 to UTC). Sub-packaged messages are joined when all their packets (same
    phone, id and count, consecutive serials) are in ``frames``; a message still
    missing packets at the end counts as ``sub-package incomplete``. Bad frames and
    bad batch items are counted in the returned :class:`DecodeErrors` (kind
    ``jt808``) with the raw frame kept; nothing raises. ``messages`` holds every
    frame that parsed (each packet separately), for :func:`reply_for`.
    """
    errors = DecodeErrors()
    messages: list[Message] = []
    rows: list[dict[str, Any]] = []
    pending: dict[tuple[str, int, int, int], dict[int, Message]] = {}
    for msg, frame in _parsed(frames, errors, strict):
        messages.append(msg)
        if msg.subpackaged and msg.encryption == 0:
            joined = _collect(pending, msg, errors, frame)
            if joined is None:
                continue
            msg = joined
        _add_rows(msg, frame, rows, errors)
    for parts in pending.values():
        errors.add(KIND, "sub-package incomplete", b"".join(m.body for m in parts.values()))
    return _table(rows), errors, messages


def _parsed(
    frames: Iterable[bytes], errors: DecodeErrors, strict: bool
) -> Iterable[tuple[Message, bytes]]:
    for frame in frames:
        try:
            msg = parse_frame(frame, strict=strict)
        except JT808Error as exc:
            errors.add(KIND, exc.reason, bytes(frame))
            continue
        except Exception as exc:  # noqa: BLE001 - a decoder never raises on input
            errors.add(KIND, f"internal: {type(exc).__name__}", bytes(frame))
            continue
        yield msg, bytes(frame)


def _collect(
    pending: dict[tuple[str, int, int, int], dict[int, Message]],
    msg: Message,
    errors: DecodeErrors,
    frame: bytes,
) -> Message | None:
    total, index = msg.packet_total or 0, msg.packet_index or 0
    if not 1 <= index <= total:
        errors.add(KIND, "bad sub-package index", frame)
        return None
    key = (msg.phone, msg.msg_id, total, (msg.serial - index + 1) & 0xFFFF)
    parts = pending.setdefault(key, {})
    parts[index] = msg
    if len(parts) < total:
        return None
    del pending[key]
    first = parts[1]
    whole = dataclasses.replace(
        first,
        body=b"".join(parts[i].body for i in range(1, total + 1)),
        packet_total=None,
        packet_index=None,
        fields={},
        locations=[],
        item_errors=[],
    )
    try:
        _decode_body(whole)
    except JT808Error as exc:
        errors.add(KIND, exc.reason, frame)
        return None
    return whole


def _add_rows(msg: Message, frame: bytes, rows: list[dict[str, Any]], errors: DecodeErrors) -> None:
    for reason in msg.item_errors:
        errors.add(KIND, reason, frame)
    if msg.encryption and msg.msg_id in (MSG_LOCATION, MSG_LOCATION_BATCH):
        errors.add(KIND, "encrypted body", frame)
    oid = object_id(KIND, msg.phone)
    for loc in msg.locations:
        rows.append(
            {
                **loc,
                "object_id": oid,
                "source": SOURCE,
                "msg_id": msg.msg_id,
                "serial": msg.serial,
                "protocol_version": msg.protocol_version,
            }
        )


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    core = (
        "object_id",
        "source",
        "time_utc",
        "lat_deg",
        "lon_deg",
        "alt_m",
        "alt_ref",
        "speed_m_s",
        "track_deg",
        "vrate_m_s",
    )
    columns: dict[str, Any] = {}
    for name in core:
        values = [r.get(name) for r in rows]
        columns[name] = values if name != "time_utc" else pa.array(values, pa.int64())
    columns["object_id"] = pa.array(columns["object_id"], pa.string())
    columns["source"] = pa.array(columns["source"], pa.string())
    columns["alt_ref"] = pa.array(columns["alt_ref"], pa.string())
    columns["vrate_m_s"] = pa.array(columns["vrate_m_s"], pa.float64())
    extras = {
        name: pa.array([r.get(name) for r in rows], typ) for name, typ in _REPORT_EXTRAS.items()
    }
    return report_table(columns, extras)


# ---------------------------------------------------------------------------- replies


def default_auth_code(phone: str) -> str:
    """The auth code issued when none is given: the phone digits without leading zeros."""
    return phone.lstrip("0") or "0"


def reply_for(
    msg: Message, *, serial: int = 0, result: int | None = None, auth_code: str | None = None
) -> bytes | None:
    """The platform's answer to a terminal message, as a ready-to-send frame.

    - 0x0100 registration -> 0x8100 (request serial, ``result``, and on success the
      auth code: ``auth_code``, or :func:`default_auth_code` of the phone);
    - 0x0102 authentication -> 0x8001 whose result, unless given, is 0 when the code
      the terminal sent equals that same auth code and 1 (failure) otherwise;
    - any other terminal message (0x0002 heartbeat, 0x0200, 0x0704, ...) -> 0x8001
      general response (request serial, request id, ``result``: 0 ok / 1 failure /
      2 message error / 3 not supported / 4 alarm confirmed; default 0);
    - 0x0001 (the terminal's own general response) and platform ids (0x8xxx) -> None.

    The reply uses the request's protocol version (2019 header with its version byte,
    or 2013) and phone, and ``serial`` as the platform's own serial number.
    """
    if msg.msg_id == MSG_TERMINAL_RESPONSE or msg.msg_id >= 0x8000:
        return None
    code = default_auth_code(msg.phone) if auth_code is None else auth_code
    if msg.msg_id == MSG_REGISTER:
        res = 0 if result is None else result
        body = msg.serial.to_bytes(2, "big") + bytes([res & 0xFF])
        if res == 0:
            body += code.encode("gbk")
        reply_id = MSG_REGISTER_RESPONSE
    else:
        if result is None:
            result = 0
            if msg.msg_id == MSG_AUTH and msg.fields.get("auth_code") != code:
                result = 1
        body = (
            msg.serial.to_bytes(2, "big") + msg.msg_id.to_bytes(2, "big") + bytes([result & 0xFF])
        )
        reply_id = MSG_PLATFORM_RESPONSE
    return encode_frame(
        reply_id,
        msg.phone,
        serial,
        body,
        version_2019=msg.version_2019,
        protocol_version=msg.protocol_version if msg.protocol_version is not None else 1,
    )
