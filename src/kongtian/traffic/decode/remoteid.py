"""Drone Remote ID: ASTM F3411 / ASD-STAN EN 4709-002 broadcast messages and F3411 network JSON.

Broadcast
---------
Every broadcast message is 25 bytes; byte 0 is ``type << 4 | protocol version``. Types:
0 Basic ID, 1 Location/Vector, 2 Authentication (one page), 3 Self-ID, 4 System,
5 Operator ID, 0xF Message Pack (``F? 19 nn`` followed by ``nn`` x 25-byte messages).
Layouts and encodings are written here from the standard's field tables (little-endian;
lat/lon int32 x 1e-7 deg; altitudes uint16 x 0.5 m - 1000 m; horizontal speed
``v x 0.25`` or, with the multiplier flag, ``v x 0.75 + 63.75`` m/s; vertical speed
int8 x 0.5 m/s; direction 0..179 plus 180 when the E/W flag is set).

"Not available" values become null: lat = lon = 0, altitude/height -1000 m (encoded 0),
speed 255 m/s, vertical speed 63 m/s, direction 361 deg, timestamp 0xFFFF, accuracy
code 0. Values outside the coded range (latitude beyond 90 deg, direction code above 180,
timestamp >= 3600 s, reserved ID types, wrong size, unknown type or protocol version
> 2) make the message malformed: :func:`decode_message` raises
:class:`RemoteIdMessageError`, and the batch readers count it in
:class:`~kongtian.model.report.DecodeErrors` and carry on.

Identity: the Location message carries no id. Readers keep, per transmitter (the Wi-Fi
source MAC in captures, or the ``transmitter`` argument), the last Basic ID, System,
Self-ID and Operator ID seen; within a Message Pack the static messages are applied
before the pack's Location, so a pack is self-contained. Locations received before any
Basic ID of their transmitter are held and emitted once it arrives. Object ids:
``uas:<serial>`` (ID type 1), ``uas-caa:<registration>`` (2), ``uas-utm:<uuid>`` (3),
``uas-session:<id>`` (4), ``uas-undeclared:<id>`` (type 0 "none" but an id is sent,
as early test transmitters do); with several Basic IDs the serial number wins. A
transmitter that never sends a Basic ID is named by its address, ``uas-mac:<12 hex>``
(``id_type='transmitter_mac'``); without an address such Locations are counted errors.
The identical Location repeated within 1 s by the same transmitter (the same message
sent over NAN and in a beacon) is reported once.

Time: the Location timestamp is tenths of a second after the full UTC hour. It is placed
in the hour that puts it nearest to the reference time (the packet capture time, or
``ref_time_utc``), i.e. within +-30 min of the reference. When per-message receive times
are the reference (captures, ``times_ns``) and the placed time is more than
``max_skew_s`` (60 s) from the receive time, the transmitter clock is taken as unset or
wrong and the receive time is used instead; when the timestamp is unknown (0xFFFF) the
reference is used too. The ``time_source`` column says ``message``, ``receiver`` or
``reference`` (a fixed ``ref_time_utc``).

Altitude: ``alt_m`` is the geodetic (WGS84 ellipsoidal, ``alt_ref='wgs84'``) altitude,
else the pressure altitude (``'baro'``); ``alt_baro_m`` and the height above take-off
or ground (``height_m``, ``height_ref`` ``takeoff``/``agl``) are extra columns.

Network
-------
:func:`read_network_flights` reads an F3411-22a USS ``GET /uss/flights`` response
(``GetFlightsResponse``: ``timestamp``, ``flights: [RIDFlight]``), one row per
``current_state`` and per ``recent_positions`` entry, with the same sentinels.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kongtian.errors import ConfigError, FormatError
from kongtian.geo.time import as_utc
from kongtian.model.report import DecodeErrors, object_id, report_table
from kongtian.traffic.decode.pcap import (
    LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_RADIOTAP,
    read_pcap_file,
)

__all__ = [
    "RemoteIdMessageError",
    "decode_message",
    "decode_pack",
    "split_pack",
    "resolve_hour",
    "odid_payloads_80211",
    "read_messages",
    "read_pcap",
    "read_network_flights",
]

MSG_SIZE = 25
MAX_PROTO_VERSION = 2
MAX_PACK_MESSAGES = 9
_NS = 1_000_000_000
_HOUR_NS = 3600 * _NS
# System-message timestamps count seconds from 2019-01-01T00:00:00Z (F3411-19 onwards).
_EPOCH_2019_NS = int(np.datetime64("2019-01-01T00:00:00", "ns").astype(np.int64))

# Wi-Fi transports (F3411 / ASD-STAN): beacon vendor IE with the ASD-STAN OUI, and NAN
# service discovery frames carrying the "org.opendroneid.remoteid" service.
_BEACON_OUI = b"\xfa\x0b\xbc"
_BEACON_OUI_TYPE = 0x0D
_WFA_OUI = b"\x50\x6f\x9a"
_NAN_OUI_TYPE = 0x13
# First 6 bytes of SHA-256("org.opendroneid.remoteid"), the NAN service id.
_NAN_SERVICE_ID = bytes.fromhex("8869199d9209")

MSG_TYPES = {
    0: "basic_id",
    1: "location",
    2: "auth",
    3: "self_id",
    4: "system",
    5: "operator_id",
    15: "pack",
}
UA_TYPES = (
    "not_declared",
    "aeroplane",
    "helicopter",  # includes multirotor
    "gyroplane",
    "hybrid_lift",
    "ornithopter",
    "glider",
    "kite",
    "free_balloon",
    "captive_balloon",
    "airship",
    "free_fall_or_parachute",
    "rocket",
    "tethered_powered_aircraft",
    "ground_obstacle",
    "other",
)
ID_KINDS = {1: "uas", 2: "uas-caa", 3: "uas-utm", 4: "uas-session", 0: "uas-undeclared"}
# Which Basic ID names the object when a transmitter sends several (serial first).
_ID_PREFERENCE = {1: 0, 2: 1, 3: 2, 4: 3, 0: 4}
ID_TYPE_NAMES = {0: "none", 1: "serial", 2: "caa_registration", 3: "utm_uuid", 4: "session_id"}
STATUSES = ("undeclared", "ground", "airborne", "emergency", "system_failure")
HEIGHT_REFS = ("takeoff", "agl")
OPERATOR_LOCATION_TYPES = ("takeoff", "live_gnss", "fixed")
CLASSIFICATION_TYPES = ("undeclared", "eu")
EU_CATEGORIES = ("undeclared", "open", "specific", "certified")
EU_CLASSES = ("undeclared", "class0", "class1", "class2", "class3", "class4", "class5", "class6")
AUTH_TYPES = {
    0: "none",
    1: "uas_id_signature",
    2: "operator_id_signature",
    3: "message_set_signature",
    4: "network_remote_id",
    5: "specific_method",
}
# Accuracy codes -> 95 % bound in SI units; code 0 is "unknown" (null), codes beyond the
# tables are reserved (null).
_H_ACC_M = (
    None,
    18520.0,
    7408.0,
    3704.0,
    1852.0,
    926.0,
    555.6,
    185.2,
    92.6,
    30.0,
    10.0,
    3.0,
    1.0,
)
_V_ACC_M = (None, 150.0, 45.0, 25.0, 10.0, 3.0, 1.0)
_SPEED_ACC_M_S = (None, 10.0, 3.0, 1.0, 0.3)

_LOC = struct.Struct("<BBBBbiiHHHBBHBB")
_SYS = struct.Struct("<BBiiHBHHBHIB")
_AUTH0 = struct.Struct("<BBBBI17s")


class RemoteIdMessageError(ValueError):
    """One malformed broadcast message (or pack); ``kind`` and ``reason`` name the defect."""

    def __init__(self, kind: str, reason: str):
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


# ---------------------------------------------------------------------------------------
# Single messages


def decode_message(b: bytes) -> dict[str, Any]:
    """Decode one 25-byte broadcast message into a dict (SI units, sentinels -> None).

    Every dict has ``msg_type`` (``basic_id``, ``location``, ``auth``, ``self_id``,
    ``system``, ``operator_id``) and ``proto_version``. A Message Pack is decoded with
    :func:`decode_pack`. Raises :class:`RemoteIdMessageError` on malformed input.
    """
    b = bytes(b)
    if len(b) == 0:
        raise RemoteIdMessageError("message", "empty")
    mtype, version = b[0] >> 4, b[0] & 0x0F
    if mtype not in MSG_TYPES:
        raise RemoteIdMessageError("message", f"unknown message type {mtype}")
    name = MSG_TYPES[mtype]
    if mtype == 0xF:
        raise RemoteIdMessageError("pack", "message pack given to decode_message")
    if len(b) != MSG_SIZE:
        raise RemoteIdMessageError(name, f"length {len(b)} != 25")
    if version > MAX_PROTO_VERSION:
        raise RemoteIdMessageError(name, f"unsupported protocol version {version}")
    out: dict[str, Any] = {"msg_type": name, "proto_version": version}
    out.update(_DECODERS[mtype](b))
    return out


def decode_pack(b: bytes) -> list[dict[str, Any]]:
    """Split and decode a Message Pack; raises on a malformed pack or any bad message."""
    msgs = split_pack(b)
    return [decode_message(m) for m in msgs]


def split_pack(b: bytes) -> list[bytes]:
    """The 25-byte messages of a Message Pack (header ``F?``, size 25, count 1..9)."""
    b = bytes(b)
    if len(b) < 3:
        raise RemoteIdMessageError("pack", f"length {len(b)} < 3-byte header")
    if b[0] >> 4 != 0xF:
        raise RemoteIdMessageError("pack", f"not a message pack (type {b[0] >> 4})")
    if b[0] & 0x0F > MAX_PROTO_VERSION:
        raise RemoteIdMessageError("pack", f"unsupported protocol version {b[0] & 0x0F}")
    size, count = b[1], b[2]
    if size != MSG_SIZE:
        raise RemoteIdMessageError("pack", f"single message size {size} != 25")
    if not 1 <= count <= MAX_PACK_MESSAGES:
        raise RemoteIdMessageError("pack", f"message count {count} not in 1..9")
    if len(b) < 3 + MSG_SIZE * count:
        raise RemoteIdMessageError("pack", f"truncated: {len(b)} bytes for {count} messages")
    return [b[3 + MSG_SIZE * i : 3 + MSG_SIZE * (i + 1)] for i in range(count)]


def _text(raw: bytes, kind: str, what: str) -> str:
    s = raw.rstrip(b"\x00")
    if any(c < 0x20 or c > 0x7E for c in s):
        raise RemoteIdMessageError(kind, f"{what} is not printable ASCII")
    return s.decode("ascii")


def _basic_id(b: bytes) -> dict[str, Any]:
    id_type, ua_type = b[1] >> 4, b[1] & 0x0F
    if id_type not in ID_TYPE_NAMES:
        raise RemoteIdMessageError("basic_id", f"reserved ID type {id_type}")
    raw = b[2:22]
    if id_type == 3 and any(c < 0x20 or c > 0x7E for c in raw[:16].rstrip(b"\x00")):
        # F3411: the UTM-assigned id is a binary 128-bit UUID.
        uas_id: str | None = str(uuid.UUID(bytes=raw[:16]))
    elif (
        id_type == 4
        and raw[:1] != b"\x00"
        and any(c < 0x20 or c > 0x7E for c in raw.rstrip(b"\x00"))
    ):
        # Specific session id: binary (type byte + 19 bytes), written as hex.
        uas_id = raw.rstrip(b"\x00").hex()
    else:
        uas_id = _text(raw, "basic_id", "UAS ID")
    if not uas_id or id_type == 0:
        uas_id = uas_id or None
    return {
        "id_type": ID_TYPE_NAMES[id_type],
        "id_type_code": id_type,
        "ua_type": UA_TYPES[ua_type],
        "ua_type_code": ua_type,
        "uas_id": uas_id,
    }


def _alt(v: int) -> float | None:
    return None if v == 0 else v * 0.5 - 1000.0


def _code(table: Sequence[float | None], code: int) -> float | None:
    return table[code] if code < len(table) else None


def _latlon(lat_i: int, lon_i: int, kind: str) -> tuple[float | None, float | None]:
    if lat_i == 0 and lon_i == 0:
        return None, None
    lat, lon = lat_i / 1e7, lon_i / 1e7
    if abs(lat) > 90.0:
        raise RemoteIdMessageError(kind, f"latitude {lat:.7f} out of range")
    if abs(lon) > 180.0:
        raise RemoteIdMessageError(kind, f"longitude {lon:.7f} out of range")
    return lat, lon


def _location(b: bytes) -> dict[str, Any]:
    (
        _,
        flags,
        dir_enc,
        spd_enc,
        vs_enc,
        lat_i,
        lon_i,
        baro,
        geo,
        hgt,
        acc_hv,
        acc_bs,
        ts,
        ts_acc,
        _r,
    ) = _LOC.unpack(b)
    status = flags >> 4
    if status >= len(STATUSES):
        raise RemoteIdMessageError("location", f"reserved status {status}")
    direction = dir_enc + (180 if flags & 0x02 else 0)
    track: float | None
    if dir_enc > 181 or (dir_enc > 180 and not flags & 0x02):
        raise RemoteIdMessageError("location", f"direction code {dir_enc} out of range 0..180")
    if direction == 361:
        track = None
    elif direction > 360:
        raise RemoteIdMessageError("location", f"direction {direction} out of range")
    else:
        track = float(direction % 360)
    speed: float | None
    speed = spd_enc * 0.75 + 255 * 0.25 if flags & 0x01 else spd_enc * 0.25
    if speed >= 255.0:
        speed = None
    vrate: float | None = vs_enc * 0.5
    if vrate == 63.0:
        vrate = None
    elif abs(vrate) > 62.0:  # type: ignore[arg-type]
        raise RemoteIdMessageError("location", f"vertical speed {vrate} out of range")
    lat, lon = _latlon(lat_i, lon_i, "location")
    if ts != 0xFFFF and ts >= 36000:
        raise RemoteIdMessageError("location", f"timestamp {ts / 10} s not within the hour")
    ts_acc_code = ts_acc & 0x0F
    return {
        "status": STATUSES[status],
        "height_ref": HEIGHT_REFS[(flags >> 2) & 1],
        "track_deg": track,
        "speed_m_s": speed,
        "vrate_m_s": vrate,
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_baro_m": _alt(baro),
        "alt_geo_m": _alt(geo),
        "height_m": _alt(hgt),
        "h_accuracy_m": _code(_H_ACC_M, acc_hv & 0x0F),
        "v_accuracy_m": _code(_V_ACC_M, acc_hv >> 4),
        "baro_accuracy_m": _code(_V_ACC_M, acc_bs >> 4),
        "speed_accuracy_m_s": _code(_SPEED_ACC_M_S, acc_bs & 0x0F),
        "time_after_hour_s": None if ts == 0xFFFF else ts / 10.0,
        "time_accuracy_s": None if ts_acc_code == 0 else ts_acc_code / 10.0,
    }


def _auth(b: bytes) -> dict[str, Any]:
    auth_type, page = b[1] >> 4, b[1] & 0x0F
    out: dict[str, Any] = {
        "auth_type": AUTH_TYPES.get(auth_type, "private" if auth_type >= 10 else "reserved"),
        "page": page,
    }
    if page == 0:
        _, _, last_page, length, ts, data = _AUTH0.unpack(b)
        if last_page > 15:
            raise RemoteIdMessageError("auth", f"last page index {last_page} > 15")
        out.update(
            last_page=last_page,
            length=length,
            time_utc=np.datetime64(_EPOCH_2019_NS + ts * _NS, "ns") if ts else None,
            data=data,
        )
    else:
        out["data"] = b[2:25]
    return out


def _self_id(b: bytes) -> dict[str, Any]:
    return {"desc_type": b[1], "description": _text(b[2:25], "self_id", "description") or None}


def _system(b: bytes) -> dict[str, Any]:
    (_, flags, lat_i, lon_i, area_count, area_radius, ceiling, floor, eu, op_alt, ts, _r) = (
        _SYS.unpack(b)
    )
    op_type, cls_type = flags & 0x03, (flags >> 2) & 0x07
    if op_type >= len(OPERATOR_LOCATION_TYPES):
        raise RemoteIdMessageError("system", f"reserved operator location type {op_type}")
    lat, lon = _latlon(lat_i, lon_i, "system")
    eu_cat, eu_cls = eu >> 4, eu & 0x0F
    is_eu = cls_type == 1
    return {
        "operator_location_type": OPERATOR_LOCATION_TYPES[op_type],
        "classification_type": CLASSIFICATION_TYPES[cls_type] if cls_type < 2 else "reserved",
        "operator_lat_deg": lat,
        "operator_lon_deg": lon,
        "operator_alt_m": _alt(op_alt),
        "area_count": area_count,
        "area_radius_m": area_radius * 10.0,
        "area_ceiling_m": _alt(ceiling),
        "area_floor_m": _alt(floor),
        "eu_category": EU_CATEGORIES[eu_cat] if is_eu and eu_cat < len(EU_CATEGORIES) else None,
        "eu_class": EU_CLASSES[eu_cls] if is_eu and eu_cls < len(EU_CLASSES) else None,
        "time_utc": np.datetime64(_EPOCH_2019_NS + ts * _NS, "ns") if ts else None,
    }


def _operator_id(b: bytes) -> dict[str, Any]:
    return {
        "operator_id_type": b[1],
        "operator_id": _text(b[2:22], "operator_id", "operator ID") or None,
    }


_DECODERS = {0: _basic_id, 1: _location, 2: _auth, 3: _self_id, 4: _system, 5: _operator_id}


# ---------------------------------------------------------------------------------------
# Streams: association per transmitter, time resolution, table building

_EXTRA_LOC = (
    "status",
    "alt_baro_m",
    "height_m",
    "height_ref",
    "h_accuracy_m",
    "v_accuracy_m",
    "baro_accuracy_m",
    "speed_accuracy_m_s",
    "time_accuracy_s",
)
_EXTRA_SYS = (
    "operator_lat_deg",
    "operator_lon_deg",
    "operator_alt_m",
    "operator_location_type",
    "eu_category",
    "eu_class",
)
EXTRA_COLUMNS = (
    "uas_id",
    "id_type",
    "ua_type",
    *_EXTRA_LOC,
    *_EXTRA_SYS,
    "self_id",
    "operator_id",
    "transmitter",
    "time_source",
)


@dataclass
class _TxState:
    ids: dict[int, dict[str, Any]] = field(default_factory=dict)
    system: dict[str, Any] | None = None
    self_id: str | None = None
    operator_id: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    last_loc: tuple[bytes, int] | None = None


class _Assembler:
    """Collects Location rows with the static data of their transmitter."""

    def __init__(self, source: str, receiver_times: bool, max_skew_ns: int | None) -> None:
        self.source = source
        self.ref_label = "receiver" if receiver_times else "reference"
        self.max_skew_ns = max_skew_ns if receiver_times else None
        self.states: dict[str | None, _TxState] = {}
        self.rows: list[dict[str, Any]] = []
        self.errors = DecodeErrors()

    def feed(self, messages: Sequence[bytes], tx: str | None, ref_ns: int | None) -> None:
        """One unit from one transmitter: a single message or the messages of a pack."""
        st = self.states.setdefault(tx, _TxState())
        decoded: list[dict[str, Any]] = []
        for raw in messages:
            if raw[:1] and raw[0] >> 4 == 1 and ref_ns is not None:
                # The same Location repeated by another transport (NAN + beacon) or
                # re-sent unchanged within a second is one report.
                if (
                    st.last_loc is not None
                    and st.last_loc[0] == raw
                    and abs(ref_ns - st.last_loc[1]) <= _NS
                ):
                    continue
                st.last_loc = (bytes(raw), ref_ns)
            try:
                decoded.append(decode_message(raw))
            except RemoteIdMessageError as exc:
                self.errors.add(exc.kind, exc.reason, bytes(raw))
        # Static messages first so a pack's Location gets the pack's own Basic ID.
        for d in decoded:
            t = d["msg_type"]
            if t == "basic_id" and d["uas_id"] is not None:
                st.ids[d["id_type_code"]] = d
            elif t == "system":
                st.system = d
            elif t == "self_id":
                st.self_id = d["description"]
            elif t == "operator_id":
                st.operator_id = d["operator_id"]
        for d in decoded:
            if d["msg_type"] == "location":
                st.pending.append(self._row(d, tx, ref_ns))
        if st.ids and st.pending:
            self._flush(st)

    def _row(self, d: dict[str, Any], tx: str | None, ref_ns: int | None) -> dict[str, Any]:
        if ref_ns is None:
            raise ConfigError(
                "a reference time is needed to place Remote ID times", option="ref_time_utc"
            )
        after = d["time_after_hour_s"]
        if after is None:
            t_ns, src = ref_ns, self.ref_label
        else:
            t_ns, src = resolve_hour(int(round(after * 10)) * (_NS // 10), ref_ns), "message"
            if self.max_skew_ns is not None and abs(t_ns - ref_ns) > self.max_skew_ns:
                # Transmitter clock unset or wrong (test beacons send 0 s): trust the receiver.
                t_ns, src = ref_ns, self.ref_label
        row = dict(d)
        row["time_ns"] = t_ns
        row["time_source"] = src
        row["transmitter"] = tx
        return row

    def _flush(self, st: _TxState, tx: str | None = None) -> None:
        if st.ids:
            bid = st.ids[min(st.ids, key=_ID_PREFERENCE.__getitem__)]
            oid = object_id(ID_KINDS[bid["id_type_code"]], bid["uas_id"])
            uas_id, id_type, ua_type = bid["uas_id"], bid["id_type"], bid["ua_type"]
        else:  # no Basic ID ever heard: the transmitter address is the only identity
            uas_id = re.sub("[:-]", "", tx or "")
            oid, id_type, ua_type = object_id("uas-mac", uas_id), "transmitter_mac", None
        sysd = st.system or {}
        for row in st.pending:
            row["object_id"] = oid
            row["uas_id"] = uas_id
            row["id_type"] = id_type
            row["ua_type"] = ua_type
            for k in _EXTRA_SYS:
                row[k] = sysd.get(k)
            row["self_id"] = st.self_id
            row["operator_id"] = st.operator_id
            self.rows.append(row)
        st.pending = []

    def finish(self) -> tuple[pa.Table, DecodeErrors]:
        for tx, st in self.states.items():
            if tx and st.pending and _MAC_RE.fullmatch(tx):
                self._flush(st, tx)
            for _row in st.pending:
                self.errors.add("location", "no Basic ID and transmitter is not a MAC address", b"")
            st.pending = []
        return _table(self.rows, self.source, EXTRA_COLUMNS), self.errors


_MAC_RE = re.compile(r"[0-9a-fA-F]{2}([:-]?[0-9a-fA-F]{2}){5}")


def resolve_hour(after_hour_ns: int, ref_ns: int) -> int:
    """UTC ns of "``after_hour_ns`` past some full hour", the hour chosen nearest ``ref_ns``."""
    base = (ref_ns // _HOUR_NS) * _HOUR_NS + after_hour_ns
    cands = (base - _HOUR_NS, base, base + _HOUR_NS)
    return min(cands, key=lambda t: abs(t - ref_ns))


_BOOL_COLUMNS = frozenset({"extrapolated", "simulated", "current"})


def _table(rows: list[dict[str, Any]], source: str, extra_columns: Sequence[str]) -> pa.Table:
    rows.sort(key=lambda r: (r["time_ns"], r["object_id"]))
    n = len(rows)

    def col(k: str) -> list[Any]:
        return [r.get(k) for r in rows]

    alt_ref: list[str | None] = []
    alt: list[float | None] = []
    for r in rows:
        if r.get("alt_geo_m") is not None:
            alt.append(r["alt_geo_m"])
            alt_ref.append("wgs84")
        elif r.get("alt_baro_m") is not None:
            alt.append(r["alt_baro_m"])
            alt_ref.append("baro")
        else:
            alt.append(None)
            alt_ref.append(None)
    core = {
        "object_id": pa.array(col("object_id"), pa.string()),
        "source": pa.array([source] * n, pa.string()),
        "time_utc": np.array(col("time_ns"), dtype=np.int64),
        "lat_deg": col("lat_deg"),
        "lon_deg": col("lon_deg"),
        "alt_m": alt,
        "alt_ref": pa.array(alt_ref, pa.string()),
        "speed_m_s": col("speed_m_s"),
        "track_deg": col("track_deg"),
        "vrate_m_s": col("vrate_m_s"),
    }
    extras = {}
    for k in extra_columns:
        if k in _BOOL_COLUMNS:
            typ = pa.bool_()
        elif k.endswith(("_m", "_deg", "_s")):
            typ = pa.float64()
        else:
            typ = pa.string()
        extras[k] = pa.array(col(k), typ)
    return report_table(core, extras)


def _ref_ns(t: Any) -> int:
    return int(as_utc(t).astype("datetime64[ns]").astype(np.int64))


def read_messages(
    messages: Iterable[bytes],
    *,
    times_ns: Sequence[int] | np.ndarray | None = None,
    ref_time_utc: Any = None,
    transmitter: str | Sequence[str | None] | None = None,
    max_skew_s: float | None = 60.0,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode broadcast messages (25-byte singles or whole Message Packs) into reports.

    ``times_ns`` (receive time per item, UTC ns since 1970 or datetime64) is the reference
    for placing each Location timestamp in its hour; without it ``ref_time_utc`` is the
    reference for all. ``transmitter`` (one id for all, or one per item) groups
    consecutive messages of one sender so a Location takes the sender's last Basic ID.
    One row per Location message; bad items are counted in the returned errors.
    """
    items = [bytes(m) for m in messages]
    if times_ns is None and ref_time_utc is None:
        raise ConfigError("give times_ns (receive times) or ref_time_utc", option="ref_time_utc")
    refs: list[int]
    if times_ns is not None:
        tn = np.asarray(times_ns)
        if np.issubdtype(tn.dtype, np.datetime64):
            tn = tn.astype("datetime64[ns]").astype(np.int64)
        if len(tn) != len(items):
            raise ConfigError(f"{len(tn)} times for {len(items)} messages", option="times_ns")
        refs = [int(x) for x in tn]
    else:
        refs = [_ref_ns(ref_time_utc)] * len(items)
    if transmitter is None or isinstance(transmitter, str):
        txs: list[str | None] = [transmitter] * len(items)
    else:
        txs = list(transmitter)
        if len(txs) != len(items):
            raise ConfigError(
                f"{len(txs)} transmitters for {len(items)} messages", option="transmitter"
            )
    skew = None if max_skew_s is None else int(max_skew_s * _NS)
    asm = _Assembler("remoteid-bcast", times_ns is not None, skew)
    for raw, ref, tx in zip(items, refs, txs, strict=True):
        if raw and raw[0] >> 4 == 0xF:
            try:
                parts = split_pack(raw)
            except RemoteIdMessageError as exc:
                asm.errors.add(exc.kind, exc.reason, raw)
                continue
        else:
            parts = [raw]
        asm.feed(parts, tx, ref)
    return asm.finish()


# ---------------------------------------------------------------------------------------
# Wi-Fi captures


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _radiotap_strip(frame: bytes) -> bytes | None:
    """802.11 frame inside a radiotap header, FCS removed when the Flags field says so."""
    if len(frame) < 8 or frame[0] != 0:
        return None
    hlen = int.from_bytes(frame[2:4], "little")
    if hlen < 8 or hlen > len(frame):
        return None
    off = 4
    present = int.from_bytes(frame[4:8], "little")
    first = present
    while present & 0x80000000:
        off += 4
        if off + 4 > hlen:
            return None
        present = int.from_bytes(frame[off : off + 4], "little")
    data_off = off + 4
    has_fcs = False
    if first & 0x02:  # Flags field, after the 8-byte TSFT aligned to 8 if present
        p = data_off
        if first & 0x01:
            p = (p + 7) & ~7
            p += 8
        if p < hlen:
            has_fcs = bool(frame[p] & 0x10)
    body = frame[hlen:]
    return body[:-4] if has_fcs and len(body) >= 4 else body


def odid_payloads_80211(frame: bytes) -> list[tuple[str, bytes]]:
    """(transmitter MAC, message pack) pairs carried by one 802.11 management frame.

    Beacons (and probe responses): vendor IE 221 with OUI FA-0B-BC, type 0x0D, then a
    message counter byte and the pack. NAN service discovery (public action, vendor
    specific, WFA OUI type 0x13): Service Descriptor Attributes with the Open Drone ID
    service id, whose service info is a counter byte and the pack.
    """
    if len(frame) < 24:
        return []
    fc = frame[0]
    ftype, subtype = (fc >> 2) & 0x3, fc >> 4
    if ftype != 0:
        return []
    tx = _mac(frame[10:16])
    out: list[tuple[str, bytes]] = []
    if subtype in (5, 8):  # probe response, beacon
        off = 24 + 12
        while off + 2 <= len(frame):
            eid, elen = frame[off], frame[off + 1]
            body = frame[off + 2 : off + 2 + elen]
            if len(body) < elen:
                break
            if eid == 221 and elen >= 5 and body[:3] == _BEACON_OUI and body[3] == _BEACON_OUI_TYPE:
                out.append((tx, body[5:]))
            off += 2 + elen
    elif subtype in (13, 14):  # action, action no-ack
        body = frame[24:]
        if (
            len(body) < 6
            or body[0] != 4
            or body[1] != 9
            or body[2:5] != _WFA_OUI
            or body[5] != _NAN_OUI_TYPE
        ):
            return []
        off = 6
        while off + 3 <= len(body):
            aid = body[off]
            alen = int.from_bytes(body[off + 1 : off + 3], "little")
            attr = body[off + 3 : off + 3 + alen]
            if len(attr) < alen:
                break
            if aid == 0x03 and len(attr) >= 9 and attr[:6] == _NAN_SERVICE_ID:
                info = _nan_service_info(attr)
                if info is not None and len(info) >= 1:
                    out.append((tx, info[1:]))
            off += 3 + alen
    return out


def _nan_service_info(attr: bytes) -> bytes | None:
    ctrl = attr[8]
    p = 9
    if ctrl & 0x20:  # binding bitmap
        p += 2
    if ctrl & 0x04:  # matching filter
        if p >= len(attr):
            return None
        p += 1 + attr[p]
    if ctrl & 0x08:  # service response filter
        if p >= len(attr):
            return None
        p += 1 + attr[p]
    if not ctrl & 0x10 or p >= len(attr):
        return None
    n = attr[p]
    info = attr[p + 1 : p + 1 + n]
    return info if len(info) == n else None


def read_pcap(
    path: str | Path, *, ref_time_utc: Any = None, max_skew_s: float | None = 60.0
) -> tuple[pa.Table, DecodeErrors, int]:
    """Extract and decode Open Drone ID message packs from a Wi-Fi capture (libpcap).

    Link types 105 (raw 802.11) and 127 (radiotap). The packet capture time is the
    reference for placing Location timestamps unless ``ref_time_utc`` is given (use it
    when the capturing clock was wrong). The transmitter is the frame's source MAC.
    Returns (reports, errors, number of message packs found).
    """
    cap = read_pcap_file(path)
    if cap.linktype not in (LINKTYPE_IEEE802_11, LINKTYPE_IEEE802_11_RADIOTAP):
        raise FormatError(
            f"link type {cap.linktype} is not 802.11 (105) or radiotap (127)", path=str(path)
        )
    fixed_ref = _ref_ns(ref_time_utc) if ref_time_utc is not None else None
    skew = None if max_skew_s is None else int(max_skew_s * _NS)
    asm = _Assembler("remoteid-bcast", fixed_ref is None, skew)
    packs = 0
    if cap.truncated_tail:
        asm.errors.add("pcap", "truncated last record", b"")
    for t_ns, pkt in zip(cap.time_ns, cap.data, strict=True):
        frame = _radiotap_strip(pkt) if cap.linktype == LINKTYPE_IEEE802_11_RADIOTAP else pkt
        if frame is None:
            asm.errors.add("pcap", "bad radiotap header", pkt[:64])
            continue
        for tx, pack in odid_payloads_80211(frame):
            packs += 1
            try:
                parts = split_pack(pack)
            except RemoteIdMessageError as exc:
                asm.errors.add(exc.kind, exc.reason, pack)
                continue
            asm.feed(parts, tx, fixed_ref if fixed_ref is not None else t_ns)
    table, errors = asm.finish()
    return table, errors, packs


# ---------------------------------------------------------------------------------------
# Network Remote ID (F3411-22a USS /flights JSON)

_NET_UA_TYPES = {
    "NotDeclared": "not_declared",
    "Aeroplane": "aeroplane",
    "Helicopter": "helicopter",
    "Gyroplane": "gyroplane",
    "HybridLift": "hybrid_lift",
    "Ornithopter": "ornithopter",
    "Glider": "glider",
    "Kite": "kite",
    "FreeBalloon": "free_balloon",
    "CaptiveBalloon": "captive_balloon",
    "Airship": "airship",
    "FreeFallOrParachute": "free_fall_or_parachute",
    "Rocket": "rocket",
    "TetheredPoweredAircraft": "tethered_powered_aircraft",
    "GroundObstacle": "ground_obstacle",
    "Other": "other",
}
_NET_STATUS = {
    "Undeclared": "undeclared",
    "Ground": "ground",
    "Airborne": "airborne",
    "Emergency": "emergency",
    "RemoteIDSystemFailure": "system_failure",
}
_NET_H_ACC = {
    "HAUnknown": None,
    "HA10NMPlus": None,
    "HA10NM": 18520.0,
    "HA4NM": 7408.0,
    "HA2NM": 3704.0,
    "HA1NM": 1852.0,
    "HA05NM": 926.0,
    "HA03NM": 555.6,
    "HA01NM": 185.2,
    "HA005NM": 92.6,
    "HA30m": 30.0,
    "HA10m": 10.0,
    "HA3m": 3.0,
    "HA1m": 1.0,
}
_NET_V_ACC = {
    "VAUnknown": None,
    "VA150mPlus": None,
    "VA150m": 150.0,
    "VA45m": 45.0,
    "VA25m": 25.0,
    "VA10m": 10.0,
    "VA3m": 3.0,
    "VA1m": 1.0,
}
_NET_S_ACC = {
    "SAUnknown": None,
    "SA10mpsPlus": None,
    "SA10mps": 10.0,
    "SA3mps": 3.0,
    "SA1mps": 1.0,
    "SA03mps": 0.3,
}
_NET_HEIGHT_REF = {"TakeoffLocation": "takeoff", "GroundLevel": "agl"}
NET_EXTRA_COLUMNS = (
    "flight_id",
    "ua_type",
    "status",
    "alt_baro_m",
    "height_m",
    "height_ref",
    "h_accuracy_m",
    "v_accuracy_m",
    "speed_accuracy_m_s",
    "time_accuracy_s",
    "extrapolated",
    "simulated",
    "current",
)


class _NetBad(Exception):
    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason


def _num(x: Any, what: str, kind: str = "position") -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _NetBad(kind, f"{what} is not a number")
    try:
        v = float(x)
    except OverflowError:
        raise _NetBad(kind, f"{what} is out of range") from None
    if not np.isfinite(v):
        raise _NetBad(kind, f"{what} is not finite")
    return v


def _net_time(t: Any, kind: str) -> int:
    if isinstance(t, Mapping):
        t = t.get("value")
    if not isinstance(t, str):
        raise _NetBad(kind, "time missing or not a string")
    s = t.strip()
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise _NetBad(kind, f"time {s[:40]!r} is not RFC 3339")
    try:
        ns = int(np.datetime64(m.group(1), "ns").astype(np.int64))
    except ValueError as exc:
        raise _NetBad(kind, f"time {s[:40]!r} is not a valid date") from exc
    if m.group(2) != "Z":
        sign = 1 if m.group(2)[0] == "+" else -1
        hh, mm = int(m.group(2)[1:3]), int(m.group(2)[4:6])
        ns -= sign * (hh * 3600 + mm * 60) * _NS
    return ns


def _net_position(pos: Any) -> dict[str, Any]:
    if not isinstance(pos, Mapping):
        raise _NetBad("position", "position is not an object")
    lat = _num(pos.get("lat"), "lat")
    lon = _num(pos.get("lng"), "lng")
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        lat = lon = None
    elif abs(lat) > 90.0 or abs(lon) > 180.0:
        raise _NetBad("position", f"lat/lng {lat}, {lon} out of range")
    alt = _num(pos.get("alt"), "alt")
    baro = _num(pos.get("pressure_altitude"), "pressure_altitude")
    height = pos.get("height")
    h_m: float | None = None
    h_ref: str | None = None
    if isinstance(height, Mapping):
        h_m = _num(height.get("distance"), "height.distance")
        h_ref = _NET_HEIGHT_REF.get(str(height.get("reference")))
    return {
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_geo_m": None if alt is None or alt <= -1000.0 else alt,
        "alt_baro_m": None if baro is None or baro <= -1000.0 else baro,
        "height_m": None if h_m is None or h_m <= -1000.0 else h_m,
        "height_ref": h_ref if h_m is not None and h_m > -1000.0 else None,
        "h_accuracy_m": _NET_H_ACC.get(str(pos.get("accuracy_h"))),
        "v_accuracy_m": _NET_V_ACC.get(str(pos.get("accuracy_v"))),
        "extrapolated": bool(pos.get("extrapolated")),
    }


def read_network_flights(
    obj: Any,
    *,
    now_utc: Any = None,
    details: Mapping[str, Any] | None = None,
) -> tuple[pa.Table, DecodeErrors]:
    """Reports from an F3411-22a ``GET /uss/flights`` response (dict, list or JSON text).

    Accepts a ``GetFlightsResponse`` object, a bare list of ``RIDFlight`` or JSON text of
    either. One row per ``current_state`` (``current=True``) and per
    ``recent_positions`` entry (speed/track unknown there); duplicates on the same time
    are dropped. ``current_state`` without a timestamp takes ``now_utc`` (else the
    response ``timestamp``; else it is an error). The flight summary has no UAS id:
    ``object_id`` is ``uas-flight:<flight id>`` unless ``details`` maps the flight id to
    its ``/flights/{id}/details`` ``RIDFlightDetails``, whose ``uas_id`` then gives
    ``uas:``/``uas-caa:``/``uas-utm:``/``uas-session:`` in that order of preference.
    Raises :class:`FormatError` only for text that is not JSON or a top level that is
    neither; every bad flight or state is counted.
    """
    if isinstance(obj, bytes | str):
        try:
            obj = json.loads(obj)
        except ValueError as exc:
            raise FormatError(f"/flights response is not JSON: {exc}") from exc
    errors = DecodeErrors()
    fallback_ns: int | None = _ref_ns(now_utc) if now_utc is not None else None
    if isinstance(obj, Mapping):
        if fallback_ns is None and obj.get("timestamp") is not None:
            try:
                fallback_ns = _net_time(obj["timestamp"], "response")
            except _NetBad as exc:
                errors.add(exc.kind, exc.reason, json.dumps(obj["timestamp"])[:200])
        flights = obj.get("flights") or []
    elif isinstance(obj, list):
        flights = obj
    else:
        raise FormatError(f"/flights response is a {type(obj).__name__}, not an object or list")
    if not isinstance(flights, list):
        raise FormatError("/flights response: 'flights' is not a list")
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for fl in flights:
        try:
            rows_f = _net_flight(fl, fallback_ns, details or {}, errors)
        except _NetBad as exc:
            errors.add(exc.kind, exc.reason, _dump(fl))
            continue
        for r in rows_f:
            key = (r["object_id"], r["time_ns"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return _net_table(rows), errors


def _dump(x: Any) -> str:
    try:
        return json.dumps(x)[:500]
    except (TypeError, ValueError):
        return repr(x)[:500]


def _net_object_id(fid: str, det: Any) -> str:
    if isinstance(det, Mapping):
        det = det.get("details", det)
        uid = det.get("uas_id") if isinstance(det, Mapping) else None
        if isinstance(uid, Mapping):
            for key, kind in (
                ("serial_number", "uas"),
                ("registration_id", "uas-caa"),
                ("utm_id", "uas-utm"),
                ("specific_session_id", "uas-session"),
            ):
                v = uid.get(key)
                if isinstance(v, str) and v.strip():
                    return object_id(kind, v)
    return object_id("uas-flight", fid)


def _net_flight(
    fl: Any, fallback_ns: int | None, details: Mapping[str, Any], errors: DecodeErrors
) -> list[dict[str, Any]]:
    if not isinstance(fl, Mapping):
        raise _NetBad("flight", "flight is not an object")
    fid = fl.get("id")
    if not isinstance(fid, str) or not fid.strip():
        raise _NetBad("flight", "missing flight id")
    oid = _net_object_id(fid, details.get(fid))
    base: dict[str, Any] = {
        "object_id": oid,
        "flight_id": fid,
        "ua_type": _NET_UA_TYPES.get(str(fl.get("aircraft_type"))),
        "simulated": bool(fl.get("simulated")),
    }
    rows: list[dict[str, Any]] = []
    cs = fl.get("current_state")
    if cs is not None:
        try:
            rows.append(_net_state(cs, base, fallback_ns))
        except _NetBad as exc:
            errors.add(exc.kind, exc.reason, _dump(cs))
    recent = fl.get("recent_positions") or []
    if not isinstance(recent, list):
        errors.add("flight", "recent_positions is not a list", _dump(recent))
        recent = []
    for rp in recent:
        try:
            if not isinstance(rp, Mapping):
                raise _NetBad("recent_position", "not an object")
            r = dict(base)
            r.update(_net_position(rp.get("position")))
            r.update(time_ns=_net_time(rp.get("time"), "recent_position"), current=False)
            rows.append(r)
        except _NetBad as exc:
            errors.add(exc.kind, exc.reason, _dump(rp))
    return rows


def _net_state(cs: Any, base: dict[str, Any], fallback_ns: int | None) -> dict[str, Any]:
    if not isinstance(cs, Mapping):
        raise _NetBad("state", "current_state is not an object")
    r = dict(base)
    if cs.get("timestamp") is None:
        if fallback_ns is None:
            raise _NetBad("state", "current_state has no timestamp")
        r["time_ns"] = fallback_ns
    else:
        r["time_ns"] = _net_time(cs.get("timestamp"), "state")
    r.update(_net_position(cs.get("position")))
    track = _num(cs.get("track"), "track", "state")
    if track is not None and (track == 361.0 or track < -360.0 or track > 360.0):
        if track != 361.0:
            raise _NetBad("state", f"track {track} out of range")
        track = None
    speed = _num(cs.get("speed"), "speed", "state")
    if speed is not None and (speed >= 255.0 or speed < 0.0):
        if speed < 0.0:
            raise _NetBad("state", f"speed {speed} negative")
        speed = None
    vs = _num(cs.get("vertical_speed"), "vertical_speed", "state")
    r.update(
        track_deg=None if track is None else track % 360.0,
        speed_m_s=speed,
        vrate_m_s=None if vs is None or vs == 63.0 else vs,
        status=_NET_STATUS.get(str(cs.get("operational_status"))),
        speed_accuracy_m_s=_NET_S_ACC.get(str(cs.get("speed_accuracy"))),
        time_accuracy_s=_num(cs.get("timestamp_accuracy"), "timestamp_accuracy", "state") or None,
        current=True,
    )
    return r


def _net_table(rows: list[dict[str, Any]]) -> pa.Table:
    return _table(rows, "remoteid-net", NET_EXTRA_COLUMNS)
