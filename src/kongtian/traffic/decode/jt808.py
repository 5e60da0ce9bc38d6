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
other item is kept raw in ``extra_items`` and, where its id and length match a
layout traccar's decoder has met in the field, also read into vendor columns
(``power_v``, ``battery_v``, ``battery_level_pct``, ``charging``, ``motion``,
``temperatures_c``, ``iccid``, ``imei``, lock states, driver ids, ``vendor_alarms``,
...; see :func:`_decode_vendor_item`). Some layouts depend on the terminal model
(``model=``, traccar's model names). A vendor item whose length runs past the body
ends the item list (``items_truncated``) but never costs the base position (traccar
issue #5331). Coordinates 0,0 (no fix yet) or beyond +-90/180 become null.

Vendor messages read: 0x5501/0x5502 location reports (one-byte serial in the header,
JT600 binary position; rows), 0x0210 batches (rows) and its 7-byte battery form,
0x0900 pass-through types 0x40 (text, GTSL driver id), 0x41 ($OBD-RT), 0xF0 and
0x53/0x54 (rows), 0x0107 terminal attributes (ICCID), 0x0702 driver identity,
0x0701/0x1300/0x6006 text results and 0x2070 acceleration samples (``fields``).

What it answers: :func:`reply_for` builds the platform general response 0x8001 and the
registration response 0x8100 in the same protocol version as the request, so a real
terminal can register, authenticate and report.

Sub-packaged messages: :func:`parse_frame` keeps each packet's body raw;
:func:`read_frames` joins the packets it is given and decodes the whole body.

Not done here: decryption of RSA bodies (bits 10-12); vendor layouts not listed above
(kept raw).
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
MSG_DRIVER_IDENTITY = 0x0702
MSG_TERMINAL_ATTRIBUTES = 0x0107
MSG_VENDOR_LOCATION = 0x5501
MSG_VENDOR_LOCATION_BLIND = 0x5502
MSG_TRANSPARENT = 0x0900
MSG_LOCATION_BATCH_2 = 0x0210
MSG_ACCELERATION = 0x2070
MSG_COMMAND_RESPONSE = 0x0701
MSG_TEXT_RESPONSE = 0x1300
MSG_REPORT_TEXT = 0x6006
MSG_PLATFORM_RESPONSE = 0x8001
MSG_REGISTER_RESPONSE = 0x8100

_KMH_TO_M_S = 1.0 / 3.6
_KNOT_TO_M_S = 1852.0 / 3600.0
_SHORT_SERIAL_IDS = frozenset({0x5501, 0x5502})
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
    # vendor items (see _decode_vendor_item), null where the frame has none
    "power_v": pa.float64(),
    "battery_v": pa.float64(),
    "battery_level_pct": pa.float64(),
    "charging": pa.bool_(),
    "motion": pa.bool_(),
    "temperatures_c": pa.list_(pa.float64()),
    "iccid": pa.string(),
    "imei": pa.string(),
    "event_code": pa.uint16(),
    "driver_id": pa.string(),
    "driver_name": pa.string(),
    "timezone": pa.string(),
    "unlock_result": pa.uint8(),
    "lock_battery_v": pa.list_(pa.float64()),
    "lock_locked": pa.list_(pa.bool_()),
    "vendor_alarms": pa.list_(pa.string()),
    "tilt_raw": pa.list_(pa.int16()),
    "device_temp_c": pa.float64(),
    "engine_rpm": pa.float64(),
    "steps": pa.uint16(),
    "dtcs": pa.list_(pa.string()),
    "adas_alarm": pa.uint8(),
    "dms_alarm": pa.uint8(),
    "alarm_label": pa.string(),
    "ble_tag_mac": pa.list_(pa.string()),
    "fuel_used_l": pa.float64(),
    # fuel sensors 1 and 2 (0xEB sub-items 0x0001, 0x0023): level in the unit the
    # sensor is configured for (litres, % or mm), so no unit is claimed
    "fuel_sensor_level": pa.list_(pa.float64()),
    # tyre pressure monitoring (item 0x77), one entry per tyre index
    "tire_sensor_id": pa.list_(pa.string()),
    "tire_pressure_bar": pa.list_(pa.float64()),
    "tire_temp_c": pa.list_(pa.float64()),
    "tire_status": pa.list_(pa.uint8()),
    "archived": pa.bool_(),
    "vendor_status": pa.uint16(),
    "vendor_alarm": pa.uint16(),
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


def _length_matches(data: bytes) -> bool:
    """Whether an unescaped frame's body length equals its header's declaration."""
    if len(data) < 13:
        return False
    props = int.from_bytes(data[2:4], "big")
    head = 4 + (11 if props & 0x4000 else 6)
    head += 1 if int.from_bytes(data[0:2], "big") in _SHORT_SERIAL_IDS else 2
    head += 4 if props & 0x2000 else 0
    return len(data) - head - 1 == props & 0x3FF


def parse_frame(frame: bytes, *, strict: bool = True, model: str | None = None) -> Message:
    """Parse one frame (with or without its 0x7e flags) into a :class:`Message`.

    The outer flags are stripped; an unescaped 0x7e between them is read as data.
    Strict mode (default) rejects a bad escape, a wrong check code, a body length
    that differs from the header's and the vendor header of 0x5501/0x5502 (one-byte
    serial), raising :class:`JT808Error` with the reason. Lenient mode records
    ``checksum_ok`` / ``length_ok`` and decodes the bytes that are there (the body is
    everything between header and check code); it reads 0x5501/0x5502 with their
    one-byte serial, and a frame whose 7d 01 / 7d 02 pairs are data (a capture never
    escaped: only the raw bytes match the declared length) without unescaping. Both modes
    raise on frames too short for a header and on location bodies with no position.
    ``model`` names the terminal model where vendor items depend on it (traccar's
    model names, e.g. ``GL100``, ``MV710G``).
    """
    data = bytes(frame)
    if data[:1] == b"\x7e":
        data = data[1:]
    if data[-1:] == b"\x7e":
        data = data[:-1]
    # An 0x7e left inside a frame the caller delimited is taken as data: captures
    # quoted in other projects' tests (traccar's) are often written unescaped, and
    # split_frames never yields one.
    unescaped = unescape(data, strict=strict)
    if (
        not strict
        and unescaped != data
        and _length_matches(data)
        and not _length_matches(unescaped)
    ):
        # lenient: a capture whose 7d 01 / 7d 02 are data bytes (never escaped), as
        # the declared body length shows
        unescaped = data
    data = unescaped
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
    # the vendor location reports 0x5501/0x5502 carry a one-byte serial number: a
    # header the standard does not know, so only lenient mode reads them
    if msg_id in _SHORT_SERIAL_IDS and strict:
        raise JT808Error("vendor header", f"0x{msg_id:04x} (one-byte serial): lenient mode only")
    serial_len = 1 if msg_id in _SHORT_SERIAL_IDS else 2
    serial = int.from_bytes(data[pos : pos + serial_len], "big")
    pos += serial_len
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
        # 0x5501/0x5502 use the upper property bits as vendor flags, not encryption
        encryption=0 if serial_len == 1 else (props >> 10) & 0x7,
        packet_total=total,
        packet_index=index,
        declared_body_len=body_len,
        checksum_ok=checksum_ok,
        length_ok=length_ok,
    )
    if msg.encryption == 0 and not msg.subpackaged:
        _decode_body(msg, model)
    return msg


def _decode_body(msg: Message, model: str | None = None) -> None:
    body = msg.body
    mid = msg.msg_id
    if mid == MSG_LOCATION:
        msg.locations.append(decode_location(body, model=model))
    elif mid == MSG_LOCATION_QUERY_RESPONSE:
        if len(body) < 2:
            raise JT808Error("location body too short", f"{len(body)} bytes")
        msg.fields["reply_serial"] = int.from_bytes(body[:2], "big")
        msg.locations.append(decode_location(body[2:], model=model))
    elif mid == MSG_LOCATION_BATCH:
        _decode_batch(msg, model)
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
    elif mid == MSG_TERMINAL_ATTRIBUTES and not msg.version_2019 and len(body) >= 44:
        # terminal type, maker[5], model[20], terminal id[7], then the SIM's ICCID in BCD
        msg.fields["iccid"] = body[34:44].hex()
    elif mid in (MSG_VENDOR_LOCATION, MSG_VENDOR_LOCATION_BLIND):
        msg.locations.append(decode_vendor_location(body, blind=mid == MSG_VENDOR_LOCATION_BLIND))
    elif mid == MSG_TRANSPARENT and body:
        _decode_transparent(msg)
    elif mid == MSG_ACCELERATION:
        # samples of BCD time[6] + x, y, z in sign-magnitude words (vendor units)
        samples = []
        for k in range(0, len(body) - 11, 12):
            xyz = [_u(body, k + 6 + 2 * j, 2) for j in range(3)]
            samples.append([-(w & 0x7FFF) if w & 0x8000 else w for w in xyz])
        msg.fields["accel_raw"] = samples
    elif mid == MSG_LOCATION_BATCH_2:
        _decode_batch_2(msg, model)
    elif mid == MSG_REPORT_TEXT and body:
        msg.fields["result"] = body[1:].decode("gbk", errors="replace")
    elif mid == MSG_TEXT_RESPONSE and len(body) >= 2:
        msg.fields["result"] = (
            body[2 : len(body) & ~1].decode("utf-16-be", errors="replace").strip()
        )
    elif mid == MSG_COMMAND_RESPONSE and len(body) >= 4:
        n = int.from_bytes(body[:4], "big")
        msg.fields["result"] = body[4 : 4 + n].decode("ascii", errors="replace")
    elif mid == MSG_DRIVER_IDENTITY:
        msg.fields.update(_decode_driver_identity(body))


def _decode_driver_identity(body: bytes) -> dict[str, Any]:
    # status, BCD time, IC card result, name (length-prefixed), qualification code[20],
    # issuing agency (length-prefixed), validity date BCD[4]; kept to what is there
    if len(body) < 9:
        return {}
    out: dict[str, Any] = {"card_status": body[0], "card_result": body[7]}
    n = body[8]
    pos = 9 + n
    if pos > len(body):
        return out
    out["driver_name"] = _text(body[9:pos])
    if pos + 20 <= len(body):
        out["card_code"] = _ascii_trim(body[pos : pos + 20])
    return out


def _decode_batch_2(msg: Message, model: str | None) -> None:
    # vendor batch 0x0210: a 7-byte body is battery percent + BCD time (no position);
    # otherwise location bodies, each after a one-byte length
    body = msg.body
    if len(body) == 7:
        msg.fields["battery_level_pct"] = float(body[0])
        msg.fields["time_utc"] = _bcd_time_utc_ns(body[1:7])
        return
    pos = 0
    while pos < len(body):
        n = body[pos]
        pos += 1
        if pos + n > len(body):
            msg.item_errors.append("batch truncated")
            break
        try:
            msg.locations.append(decode_location(body[pos : pos + n], model=model))
        except JT808Error as exc:
            msg.item_errors.append(exc.reason)
        pos += n


def _decode_batch(msg: Message, model: str | None) -> None:
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
            loc = decode_location(body[pos : pos + n], model=model)
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


def decode_location(body: bytes, *, model: str | None = None) -> dict[str, Any]:
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
    obd = False
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
        if item_id == 0x80 and length == 1:
            obd = True  # vendor OBD block: the items after it use the OBD id table
        if obd and item_id > 0x80:
            extra.append({"id": item_id, "data": value})
            _decode_obd_item(rec, item_id, value)
        elif not _decode_item(rec, item_id, value):
            extra.append({"id": item_id, "data": value})
            try:
                _decode_vendor_item(rec, item_id, value, model)
            except (IndexError, ValueError):  # pragma: no cover - lengths are checked
                pass  # a vendor guess never costs the position; the raw item is kept
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


def _bcd_int(raw: bytes) -> int:
    digits = raw.hex()
    if not digits.isdigit():
        raise JT808Error("bad BCD", f"{digits!r} has non-decimal digits")
    return int(digits)


def decode_vendor_location(body: bytes, *, blind: bool = False) -> dict[str, Any]:
    """Decode the body of the vendor location reports 0x5501 (live) / 0x5502 (stored).

    Locks and trackers that reuse the JT/T 808 framing send the older JT600 binary
    position here: BCD time DDMMYY hhmmss (UTC), latitude ddmm.mmmm and longitude
    dddmm.mmmm in BCD sharing a nibble with a flag byte (bit 0 fix, bit 1 north, bit 2
    east), speed (1 BCD byte, knots, as traccar reads it), course in 2-degree steps,
    then signal, satellites, odometer (km), battery (percent; 0xAA/0xAB charging),
    cell id/LAC, product, status and alarm words and optional id/length items
    (0x02 altitude m, 0x0B lock command result, 0x0C tilt x/y/z).
    """
    if len(body) < 35:
        raise JT808Error("location body too short", f"{len(body)} bytes, need 35")
    d = body[0:6].hex()
    if not d.isdigit():
        raise JT808Error("bad time", f"BCD time {d!r} has non-decimal digits")
    t_ns = _bcd_time_utc_ns(bytes.fromhex(d[4:6] + d[2:4] + d[0:2]) + body[3:6]) + _GMT8_S * 10**9
    lat_raw = _bcd_int(body[6:10])
    # nine longitude digits: the flag byte's high nibble is the last one
    lon_digits = body[10:15].hex()[:9]
    if not lon_digits.isdigit():
        raise JT808Error("bad BCD", f"longitude {lon_digits!r} has non-decimal digits")
    lon_raw = int(lon_digits)
    flags = body[14]
    lat = lat_raw // 1_000_000 + (lat_raw % 1_000_000) / 10_000 / 60.0
    lon = lon_raw // 1_000_000 + (lon_raw % 1_000_000) / 10_000 / 60.0
    if not flags & 0x2:
        lat = -lat
    if not flags & 0x4:
        lon = -lon
    battery = body[23]
    rec: dict[str, Any] = {
        "time_utc": t_ns,
        "lat_deg": lat if abs(lat) <= 90 and abs(lon) <= 180 else None,
        "lon_deg": lon if abs(lat) <= 90 and abs(lon) <= 180 else None,
        "alt_m": None,
        "alt_ref": None,
        "speed_m_s": _bcd_int(body[15:16]) * _KNOT_TO_M_S,
        "track_deg": float(body[16] * 2) if body[16] * 2 < 360 else None,
        "vrate_m_s": None,
        "located": bool(flags & 0x1) and not blind,
        "signal_strength": body[17],
        "satellites": body[18],
        "mileage_m": int.from_bytes(body[19:23], "big") * 1000.0,
        "battery_level_pct": float(battery) if battery <= 100 else None,
        "charging": True if battery in (0xAA, 0xAB) else None,
        # product-specific words, not the JT/T 808 status/alarm words
        "vendor_status": int.from_bytes(body[31:33], "big"),
        "vendor_alarm": int.from_bytes(body[33:35], "big"),
    }
    extra: list[dict[str, Any]] = []
    pos, n = 35, len(body)
    truncated = False
    while pos + 2 <= n:
        item_id, length = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + length]
        if len(value) < length:
            truncated = True
            break
        pos += 2 + length
        extra.append({"id": item_id, "data": value})
        if item_id == 0x02 and length == 2:
            rec["alt_m"] = float(int.from_bytes(value, "big", signed=True))
            rec["alt_ref"] = "msl"
        elif item_id == 0x0B:
            _lock_item(rec, value)
        elif item_id == 0x0C and length == 6:
            rec["tilt_raw"] = [
                int.from_bytes(value[k : k + 2], "big", signed=True) for k in (0, 2, 4)
            ]
    rec["items_truncated"] = truncated
    rec["extra_items"] = extra
    return rec


def _status_position(raw: bytes) -> dict[str, Any]:
    """Status word, latitude and longitude (1e-6 degree) as in the 0x0200 base."""
    status, lat_raw, lon_raw = struct.unpack_from(">III", raw)
    lat: float | None = lat_raw * (-1e-6 if status >> STATUS_SOUTH & 1 else 1e-6)
    lon: float | None = lon_raw * (-1e-6 if status >> STATUS_WEST & 1 else 1e-6)
    if (lat_raw == 0 and lon_raw == 0) or lat_raw > 90_000_000 or lon_raw > 180_000_000:
        lat = lon = None
    return {
        "lat_deg": lat,
        "lon_deg": lon,
        "status_flags": status,
        "acc_on": bool(status >> STATUS_ACC_ON & 1),
        "located": bool(status >> STATUS_LOCATED & 1),
        "alt_ref": None,
        "vrate_m_s": None,
        "extra_items": [],
        "items_truncated": False,
    }


def _obd_rt(out: dict[str, Any], text: str) -> None:
    """Read a "$OBD-RT" line: power V, rpm, speed, throttle, load, coolant, fuel rate
    x2, trip km, odometer km, trip fuel, total fuel used (l); empty fields are absent."""
    values = text.split(",")
    for index, key in ((1, "power_v"), (2, "engine_rpm"), (12, "fuel_used_l")):
        if len(values) > index and values[index].strip():
            try:
                out[key] = float(values[index])
            except ValueError:
                pass  # the text stays raw


def _decode_transparent(msg: Message) -> None:
    """0x0900 pass-through: the first byte names the payload type. Payloads read:
    0x40 text (``GTSL|...`` driver cards: the driver id in field 5), 0xF0 vehicle
    data with a position at the end (sub-types 0x01 OBD values, 0x03 events; the
    items are skipped by their lengths), 0x53/0x54 sensor reports after a position
    (0x54: device temperature). Other payloads stay raw in ``body``."""
    body = msg.body
    kind = body[0]
    msg.fields["transparent_type"] = kind
    if kind == 0x40:
        text = _ascii_trim(body[1:])
        msg.fields["text"] = text
        parts = text.split("|")
        if text.startswith("GTSL") and len(parts) > 4:
            msg.fields["driver_id"] = parts[4]
    elif kind == 0x41:
        # "$OBD-RT,power V,rpm,speed,throttle,load,coolant,fuel rate x2,trip km,
        # odometer km,trip fuel,total fuel used,..."
        text = _ascii_trim(body[1:])
        msg.fields["text"] = text
        _obd_rt(msg.fields, text)
    elif kind == 0xF0 and len(body) >= 10:
        t_ns = _bcd_time_utc_ns(body[1:7])
        sub = body[9]
        extra_fields: dict[str, Any] = {}
        pos = 10
        if sub == 0x01 and pos < len(body):
            count = body[pos]
            pos += 1
            for _ in range(count):
                if pos + 3 > len(body):
                    break
                pos += 3 + body[pos + 2]
        elif sub == 0x02 and pos + 2 <= len(body):
            # u16 system count; per system: id u32, u16 code count; per code:
            # dtc u32, status u32, u16 text length, text
            dtcs = []
            systems = _u(body, pos, 2)
            pos += 2
            for _ in range(systems):
                if pos + 6 > len(body):
                    break
                codes = _u(body, pos + 4, 2)
                pos += 6
                for _ in range(codes):
                    if pos + 10 > len(body):
                        break
                    k = _u(body, pos + 8, 2)
                    dtcs.append(_ascii_trim(body[pos + 10 : pos + 10 + k]))
                    pos += 10 + k
            extra_fields["dtcs"] = dtcs
        elif sub == 0x03 and pos < len(body):
            count = body[pos]
            pos += 1
            for _ in range(count):
                if pos + 2 > len(body):
                    break
                pos += 2 + body[pos + 1]
        else:
            return
        if pos + 12 > len(body):
            raise JT808Error("location body too short", "0x0900/0xF0 position missing")
        loc = _status_position(body[pos : pos + 12])
        loc.update(time_utc=t_ns, alt_m=None, speed_m_s=None, track_deg=None)
        loc["archived"] = body[7] > 0
        loc.update(extra_fields)
        msg.locations.append(loc)
    elif kind in (0x53, 0x54) and len(body) >= 25:
        loc = _status_position(body[1:13])
        alt, speed_raw, direction = struct.unpack_from(">hHH", body, 13)
        loc.update(
            time_utc=_bcd_time_utc_ns(body[19:25]),
            alt_m=float(alt),
            alt_ref="msl",
            speed_m_s=speed_raw * 0.1 * _KMH_TO_M_S,
            track_deg=float(direction) if direction < 360 else None,
        )
        pos = 25
        if kind == 0x53:
            pos += 1  # node count over all sub-packages
            while pos + 9 <= len(body):
                index = body[pos] + 1
                _set_list(loc, "ble_tag_mac", index, body[pos + 1 : pos + 7].hex())
                pos += 9 + body[pos + 8]
        while kind == 0x54 and pos + 8 <= len(body):
            mask = _u(body, pos, 2)
            pos += 8  # mask, sample time
            if mask & 1:
                pos += 2  # light sensor
            if mask >> 1 & 1 and pos + 4 <= len(body):
                loc["device_temp_c"] = _s16(body, pos) / 10.0
                pos += 4  # temperature, humidity
            if mask >> 2 & 1:
                pos += 2
            if mask >> 3 & 1:
                pos += 6
            if mask >> 4 & 1:
                pos += 2
        msg.locations.append(loc)


# ------------------------------------------------------------------- vendor items
#
# Ids 0xE0-0xFF are reserved for vendors by the standard, and trackers also reuse
# 0x04-0x0F, 0x33, 0x51-0x69, 0x77-0x9F. What each means depends on the maker, so the
# readings below follow the layouts traccar's Jt808ProtocolDecoder has met in the
# field (its test frames are our oracle). Every such item also stays raw in
# ``extra_items``: a vendor reading is a best guess, the bytes are the fact.

# traccar's device models whose items use a different layout
AOVX_MODELS = frozenset({"AL300", "GL100", "VL300"})
_DOOR_MODELS = frozenset({"MV710G", "MV810G"})
JC_MODELS = frozenset({"JC371", "JC181", "JC182", "JC450", "JC451"})
# JC dash cameras, item 0xE8: event code -> alarm
_JC_ALARMS = {
    0x0001: "fault",
    0x0400: "acceleration",
    0x0412: "acceleration",
    0x0401: "braking",
    0x0413: "braking",
    0x0402: "cornering",
    0x0414: "cornering",
    0x0403: "overspeed",
    0x0405: "accident",
    0x0416: "accident",
    0x0417: "accident",
    0x0406: "vibration",
    0x0407: "tow",
    0x0408: "geofence_enter",
    0x0409: "geofence_exit",
    0x040C: "door",
    0x0415: "lane_change",
    0x0C01: "sos",
    0x0C02: "low_power",
    0x0C05: "general",
    0x0C0E: "power_cut",
    0x0C0F: "low_battery",
    0x0C10: "power_off",
    0x0C12: "tampering",
}


def _lock_item(rec: dict[str, Any], value: bytes) -> None:
    # lock command, then a card number (4 bytes, item of 5-6) or password (6, item
    # of 7+), then the unlock result when the item length is even
    n = len(value)
    if n >= 2 and n % 2 == 0:
        at = 1 + (4 if 5 <= n <= 6 else 6 if n >= 7 else 0)
        if at < n:
            rec["unlock_result"] = value[at]


def _add_alarm(rec: dict[str, Any], name: str) -> None:
    alarms = rec.setdefault("vendor_alarms", [])
    if name not in alarms:
        alarms.append(name)


def _set_list(rec: dict[str, Any], key: str, index: int, value: Any) -> None:
    """Store ``value`` at 1-based ``index`` of the list column ``key`` (gaps are null)."""
    values = rec.setdefault(key, [])
    while len(values) < index:
        values.append(None)
    values[index - 1] = value


def _custom_double(b1: int, b2: int) -> float:
    # signed whole part, fraction in 1/255 carrying the whole part's sign
    whole = b1 - 256 if b1 > 127 else b1
    sign = -1.0 if whole < 0 else 1.0
    return sign * (abs(whole) + b2 / 255.0)


def _ascii_trim(raw: bytes) -> str:
    # Java's trim(): padding is NULs as often as spaces
    return raw.decode("latin-1").strip("".join(map(chr, range(33))))


def _u(value: bytes, start: int, n: int) -> int:
    return int.from_bytes(value[start : start + n], "big")


def _s16(value: bytes, start: int) -> int:
    return int.from_bytes(value[start : start + 2], "big", signed=True)


def _decode_vendor_item(rec: dict[str, Any], item_id: int, value: bytes, model: str | None) -> None:
    """Read a vendor additional item into the vendor report columns (SI units)."""
    n = len(value)
    if item_id == 0x06 and n == 1:
        rec["battery_level_pct"] = float(value[0])
    elif item_id == 0x0B:
        _lock_item(rec, value)
    elif item_id == 0x33 and n > 1:
        text = value.decode("latin-1")
        if text.startswith("*M00") and len(text) >= 13 and text[10:13].isdigit():
            rec["battery_v"] = int(text[10:13]) / 100.0
    elif item_id == 0x51 and n in (2, 16):
        for i in range(n // 2):
            raw = _u(value, 2 * i, 2)
            if raw != 0xFFFF:
                temp = (raw & 0x7FFF) / 10.0
                _set_list(rec, "temperatures_c", i + 1, -temp if raw & 0x8000 else temp)
    elif item_id == 0x56 and n == 2:
        rec["battery_level_pct"] = float(value[0] * 10)
    elif item_id == 0x57 and n == 8:
        word = _u(value, 0, 2)
        for bit, name in ((8, "acceleration"), (9, "braking"), (10, "cornering")):
            if word >> bit & 1:
                _add_alarm(rec, name)
        if model in _DOOR_MODELS and _u(value, 4, 4) >> 16 & 1:
            _add_alarm(rec, "door")
    elif item_id == 0x60 and n >= 2:
        event = _u(value, 0, 2)
        rec["event_code"] = event
        if 0x61 <= event <= 0x66 and n >= 16:
            rec["driver_id"] = value[8:16].decode("latin-1")
    elif item_id == 0x61 and n == 2:
        rec["power_v"] = _u(value, 0, 2) / 100.0
    elif item_id == 0x63 and n >= 11:
        for i in range(n // 11):
            chunk = value[11 * i : 11 * i + 11]
            _set_list(rec, "lock_battery_v", i + 1, _u(chunk, 6, 2) / 1000.0)
    elif item_id in (0x64, 0x65) and n >= 6:
        # JT/T 1078-era ADAS (0x64) / driver-monitoring (0x65) alarm: serial, status, type
        rec["adas_alarm" if item_id == 0x64 else "dms_alarm"] = value[5]
        if n >= 47:
            rec["alarm_label"] = value[-16:].hex()
    elif item_id == 0x68 and n >= 2:
        rec["battery_level_pct"] = _u(value, 0, 2) / 100.0
    elif item_id == 0x69 and n == 2:
        rec["battery_v"] = _u(value, 0, 2) / 100.0
    elif item_id in (0x82, 0xD3) and n == 2:
        rec["power_v"] = _u(value, 0, 2) / 10.0
    elif item_id == 0xBC:
        rec["driver_name"] = _ascii_trim(value)
    elif item_id == 0xBD:
        rec["driver_id"] = value.decode("latin-1")
    elif item_id == 0xD0 and n == 4:
        if _u(value, 0, 4) >> 3 & 1:
            _add_alarm(rec, "vibration")
    elif item_id in (0xD4, 0xE1, 0xE9):
        if n == 1:
            if value[0] == 0xFF:
                rec["charging"] = True
            else:
                rec["battery_level_pct"] = float(value[0])
        elif item_id == 0xE1 and n == 2:
            rec["power_v"] = _u(value, 0, 2) / 10.0
        elif n == 4:
            rec["driver_id"] = str(_u(value, 0, 4))
    elif item_id == 0xD5:
        if n == 2:
            rec["battery_v"] = _u(value, 0, 2) / 100.0
        elif n >= 1:
            for i in range(min(value[0], (n - 1) // 13)):
                status = _u(value, 1 + 13 * i + 11, 2)
                _set_list(rec, "lock_locked", i + 1, not status >> 5 & 1)
    elif item_id == 0xDA and n >= 3:
        rec["motion"] = bool(value[2] >> 2 & 1)
    elif item_id == 0xE3 and n >= 4:
        rec["battery_level_pct"] = float(value[1])
        rec["battery_v"] = _u(value, 2, 2) / 100.0
    elif item_id == 0xE4 and n == 2:
        if value[0] == 0:
            rec["charging"] = True
        rec["battery_level_pct"] = float(value[1])
    elif item_id == 0xE5 and n == 1:
        rec["motion"] = value[0] == 1
    elif item_id == 0xE6 and value.startswith(b"$OBD-RT"):
        _obd_rt(rec, value.decode("latin-1"))
    elif item_id == 0xE6 and n >= 11 and n % 11 == 0:
        for i in range(n // 11):
            chunk = value[11 * i : 11 * i + 11]
            _set_list(rec, "temperatures_c", chunk[0], _custom_double(chunk[7], chunk[8]))
    elif item_id == 0xE7 and n == 8:
        word = _u(value, 0, 2)
        if word & 1:
            _add_alarm(rec, "vibration")
        if word >> 1 & 0x7:
            _add_alarm(rec, "sos")
    elif item_id == 0xE8 and model in JC_MODELS and n >= 2:
        _decode_jc_e8(rec, value)
    elif item_id == 0xEB:
        _decode_eb(rec, value)
    elif item_id == 0x77 and n >= 8 and n % 8 == 0:
        _decode_tpms(rec, value)
    elif item_id == 0xEE and n == 6:
        rec["power_v"] = _u(value, 1, 2) / 1000.0
        rec["battery_v"] = _u(value, 3, 2) / 1000.0
    elif item_id == 0xF1 and n == 4:
        rec["power_v"] = _u(value, 0, 4) / 1000.0
    elif item_id == 0xF6:
        _decode_f6(rec, value, model)
    elif item_id == 0xF7 and n >= 4:
        rec["battery_v"] = _u(value, 0, 4) / 1000.0
        if n >= 5 and value[4] in (2, 3):
            rec["charging"] = True
        if n >= 6:
            rec["battery_level_pct"] = float(value[5])
    elif item_id == 0xF8 and n >= 2:
        if model in AOVX_MODELS:
            if n >= 19:
                rec["iccid"] = value[9:19].hex()
        elif model in ("C5", "C5L"):
            rec["steps"] = _u(value, 0, 2)
        else:
            _set_list(rec, "temperatures_c", 2, _u(value, 0, 2) / 10.0 - 50.0)
    elif item_id == 0xF9 and n >= 2:
        _decode_f9(rec, value)
    elif item_id == 0xFE:
        if n == 1:
            rec["battery_level_pct"] = float(value[0])
        elif n == 2:
            rec["power_v"] = _u(value, 0, 2) / 10.0
        elif n > 4 and value[0] == 0x7C:
            # (type, length, data) list; type 0x01 is a driving-event word
            pos = 1
            while pos + 2 <= n:
                sub, k = value[pos], value[pos + 1]
                if sub == 0x01 and k >= 4 and pos + 6 <= n:
                    word = _u(value, pos + 2, 4)
                    names = ("acceleration", "braking", "cornering", "accident", "tampering")
                    for bit, name in enumerate(names):
                        if word >> bit & 1:
                            _add_alarm(rec, name)
                pos += 2 + k


def _decode_obd_item(rec: dict[str, Any], item_id: int, value: bytes) -> None:
    """Items after a one-byte 0x80 item: a vendor OBD table (ids 0x81-0x8E, 0xA0, 0xCC)."""
    n = len(value)
    if item_id == 0x81 and n == 2:
        rec["engine_rpm"] = float(_u(value, 0, 2))
    elif item_id == 0x82 and n == 2:
        rec["power_v"] = _u(value, 0, 2) / 10.0
    elif item_id == 0xA0:
        rec["dtcs"] = [c for c in value.decode("latin-1").replace(",", " ").split() if c]
    elif item_id == 0xCC and n == 20:
        rec["iccid"] = value.decode("latin-1")


def _decode_jc_e8(rec: dict[str, Any], value: bytes) -> None:
    code = _u(value, 0, 2)
    n = len(value)
    if code == 0x2003 and n >= 10:
        # packet length, charging, battery state 1-6, battery mV/10, rssi, power V/100
        rec["charging"] = value[3] == 1
        if 1 <= value[4] <= 6:
            rec["battery_level_pct"] = float(value[4] * 100 // 6)
        rec["battery_v"] = _u(value, 5, 2) / 100.0
        rec["power_v"] = _u(value, 8, 2) / 100.0
    elif code == 0x2005:
        pos = 3  # code, packet length; then (u16 id, u8 length, data) status items
        while pos + 3 <= n:
            sid, k = _u(value, pos, 2), value[pos + 2]
            data = value[pos + 3 : pos + 3 + k]
            if len(data) < k:
                break
            if sid == 0x0001 and k >= 2:
                rec["battery_v"] = _u(data, 0, 2) / 100.0
            elif sid == 0x0003 and k >= 1:
                rec["battery_level_pct"] = float(data[0])
            elif sid == 0x0004 and k >= 1:
                rec["charging"] = data[0] == 0
            elif sid == 0x0005 and k >= 10:
                rec["iccid"] = data[:10].hex()[:19]
            elif sid == 0x2001 and k >= 2:
                rec["power_v"] = _u(data, 0, 2) / 10.0
            pos += 3 + k
    elif code in _JC_ALARMS:
        _add_alarm(rec, _JC_ALARMS[code])


def _decode_eb(rec: dict[str, Any], value: bytes) -> None:
    n = len(value)
    if n >= 3 and _u(value, 0, 2) > 200 and (n - 3) % 5 == 0:
        return  # cell towers
    if n and all(0x20 <= b < 0x7F for b in value):
        rec["timezone"] = value.decode("ascii")
        return
    # sub-items: u16 length (of type + data), u16 type, data
    pos = 0
    while pos + 4 <= n:
        length = _u(value, pos, 2)
        end = pos + 2 + length
        if length < 2 or end > n:
            break
        sub = _u(value, pos + 2, 2)
        data = value[pos + 4 : end]
        k = len(data)
        if sub == 0x002D and k >= 2:
            if length == 6 and k == 4:
                rec["power_v"] = _u(data, 0, 4) / 1000.0
            else:
                rec["battery_v"] = _u(data, 0, 2) / 1000.0
        elif sub == 0x0089 and k >= 4:
            word = _u(data, 0, 4)
            if not word & 1:
                _add_alarm(rec, "power_off")
            if not word >> 12 & 1:
                _add_alarm(rec, "removing")
        elif sub == 0x00B2 and k >= 10:
            rec["iccid"] = data[:10].hex().rstrip("f")
        elif sub == 0x00C5 and k >= 4:
            word = _u(data, 0, 4)
            if not word >> 6 & 1:
                _add_alarm(rec, "vibration")
            state = word >> 23 & 0x3
            if state in (0, 1):
                rec["motion"] = state == 0
        elif sub == 0x00C6 and k >= 1:
            if data[0] in (3, 4):
                _add_alarm(rec, "low_battery")
        elif sub == 0x0001 and k >= 2:
            _set_list(rec, "fuel_sensor_level", 1, _u(data, 0, 2) / 10.0)
        elif sub == 0x0023 and k >= 6:
            try:
                _set_list(rec, "fuel_sensor_level", 2, float(data[:6].decode("ascii")))
            except (UnicodeDecodeError, ValueError):
                pass  # not the ASCII reading this layout carries; the raw item stays
        elif sub == 0x00CE and k >= 2:
            rec["power_v"] = _u(data, 0, 2) / 100.0
        elif sub in (0x00A8, 0x00E1) and k >= 1:
            rec["battery_level_pct"] = float(data[0])
        pos = end


def _decode_tpms(rec: dict[str, Any], value: bytes) -> None:
    # 8 bytes per tyre: index, 3-byte sensor id, u16 whose low 10 bits are the
    # pressure in 1/40 bar, temperature + 50 degC, status byte
    for pos in range(0, len(value), 8):
        index = value[pos]
        if index == 0:
            continue  # tyre positions count from 1; the raw item keeps it
        _set_list(rec, "tire_sensor_id", index, value[pos + 1 : pos + 4].hex())
        _set_list(rec, "tire_pressure_bar", index, (_u(value, pos + 4, 2) & 0x3FF) / 40.0)
        _set_list(rec, "tire_temp_c", index, float(value[pos + 6] - 50))
        _set_list(rec, "tire_status", index, value[pos + 7])


def _decode_f6(rec: dict[str, Any], value: bytes, model: str | None) -> None:
    n = len(value)
    aovx = model in AOVX_MODELS
    if not aovx and n == 2:
        return  # air pressure
    if not aovx and n == 8:
        rec["imei"] = value.hex()[1:]
        return
    if n < 2:
        return
    rec["event_code"] = value[0]
    if value[0] == 2:
        rec["motion"] = True
    mask = value[1]
    pos = 2
    if mask & 1:
        pos += 2  # light sensor
    if mask >> 1 & 1 and pos + 2 <= n:
        _set_list(rec, "temperatures_c", 1, _s16(value, pos) / 10.0)


def _decode_f9(rec: dict[str, Any], value: bytes) -> None:
    mask = _u(value, 0, 2)
    pos = 2
    for bit, size in ((0, 4), (1, 4), (2, 2), (3, 6), (5, 8)):
        if mask >> bit & 1:
            pos += size
    if mask >> 6 & 1 and pos + 2 <= len(value):
        _set_list(rec, "temperatures_c", 3, _s16(value, pos) / 10.0)


# ---------------------------------------------------------------------------- batches


def read_frames(
    frames: Iterable[bytes], *, strict: bool = True, model: str | None = None
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
    for msg, frame in _parsed(frames, errors, strict, model):
        messages.append(msg)
        if msg.subpackaged and msg.encryption == 0:
            joined = _collect(pending, msg, errors, frame, model)
            if joined is None:
                continue
            msg = joined
        _add_rows(msg, frame, rows, errors)
    for parts in pending.values():
        errors.add(KIND, "sub-package incomplete", b"".join(m.body for m in parts.values()))
    return _table(rows), errors, messages


def _parsed(
    frames: Iterable[bytes], errors: DecodeErrors, strict: bool, model: str | None
) -> Iterable[tuple[Message, bytes]]:
    for frame in frames:
        try:
            msg = parse_frame(frame, strict=strict, model=model)
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
    model: str | None,
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
        _decode_body(whole, model)
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
