"""Remote ID decoder against opendroneid-core-c vectors, real Wi-Fi captures and F3411 JSON."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import CORE_FIELDS
from kongtian.traffic.decode.pcap import read_pcap_file
from kongtian.traffic.decode.remoteid import (
    RemoteIdMessageError,
    decode_message,
    odid_payloads_80211,
    read_messages,
    read_network_flights,
    read_pcap,
    resolve_hour,
    split_pack,
)

DATA = Path(__file__).parent.parent / "data" / "traffic" / "remoteid"
VECTORS = json.loads((DATA / "odid_core_c_vectors.json").read_text())
BCN = DATA / "odid_wifi_bcn_sample.pcap"
NAN = DATA / "odid_wifi_sample.pcap"

# opendroneid-core-c enum codes -> the bound each names (its opendroneid.h enum names).
HOR_ACC_M = {11: 3.0}  # ODID_HOR_ACC_3_METER
VER_ACC_M = {6: 1.0, 5: 3.0}  # ODID_VER_ACC_1_METER, ODID_VER_ACC_3_METER
SPEED_ACC_M_S = {3: 1.0}  # ODID_SPEED_ACC_1_METERS_PER_SECOND
UA_TYPE = {1: "aeroplane", 2: "helicopter", 4: "hybrid_lift"}  # ODID_UATYPE_*
ID_TYPE = {1: "serial", 2: "caa_registration", 4: "session_id"}  # ODID_IDTYPE_*
STATUS = {1: "ground", 2: "airborne"}  # ODID_STATUS_*


def _vec(kind: str) -> list[dict]:
    return [v for v in VECTORS if v["msg"] == kind]


def _approx(a: float | None, b: float, tol: float = 1e-9) -> bool:
    return a is not None and abs(a - b) <= tol


# --------------------------------------------------------------------------- core-c vectors


def test_all_27_vectors_decode_to_core_c_values() -> None:
    assert len(VECTORS) == 27
    checked = 0
    for v in VECTORS:
        d = decode_message(bytes.fromhex(v["hex"]))
        e = v["decoded"]
        if v["msg"] == "BasicID":
            assert d["msg_type"] == "basic_id"
            assert d["uas_id"] == e["UASID"]
            assert d["ua_type"] == UA_TYPE[e["UAType"]]
            assert d["id_type"] == ID_TYPE[e["IDType"]]
        elif v["msg"] == "Location":
            assert d["msg_type"] == "location"
            assert d["status"] == STATUS[e["Status"]]
            assert _approx(d["track_deg"], e["Direction"])
            assert _approx(d["speed_m_s"], e["SpeedHorizontal"])
            assert _approx(d["vrate_m_s"], e["SpeedVertical"])
            assert _approx(d["lat_deg"], e["Latitude"], 1e-12)
            assert _approx(d["lon_deg"], e["Longitude"], 1e-12)
            assert _approx(d["alt_baro_m"], e["AltitudeBaro"])
            assert _approx(d["alt_geo_m"], e["AltitudeGeo"])
            assert _approx(d["height_m"], e["Height"])
            assert d["height_ref"] == ("takeoff", "agl")[e["HeightType"]]
            assert d["h_accuracy_m"] == HOR_ACC_M[e["HorizAccuracy"]]
            assert d["v_accuracy_m"] == VER_ACC_M[e["VertAccuracy"]]
            assert d["baro_accuracy_m"] == VER_ACC_M[e["BaroAccuracy"]]
            assert d["speed_accuracy_m_s"] == SPEED_ACC_M_S[e["SpeedAccuracy"]]
            assert _approx(d["time_after_hour_s"], e["TimeStamp"])
            assert _approx(d["time_accuracy_s"], e["TSAccuracy"] / 10)
        elif v["msg"] == "SelfID":
            assert d["description"] == e["Desc"] and d["desc_type"] == e["DescType"]
        elif v["msg"] == "System":
            assert _approx(d["operator_lat_deg"], e["OperatorLatitude"], 1e-12)
            assert _approx(d["operator_lon_deg"], e["OperatorLongitude"], 1e-12)
            assert _approx(d["operator_alt_m"], e["OperatorAltitudeGeo"])
            assert d["operator_location_type"] == "takeoff"  # ODID_OPERATOR_LOCATION_TYPE_TAKEOFF
            assert d["classification_type"] == "eu" and e["ClassificationType"] == 1
            assert d["eu_category"] == "open" and e["CategoryEU"] == 1  # ODID_CATEGORY_EU_OPEN
            assert d["eu_class"] == "class1" and e["ClassEU"] == 2  # ODID_CLASS_EU_CLASS_1
            assert d["area_count"] == e["AreaCount"] and d["area_radius_m"] == e["AreaRadius"]
            assert d["area_ceiling_m"] is None and e["AreaCeiling"] == -1000.0
            assert d["area_floor_m"] is None and e["AreaFloor"] == -1000.0
            assert d["time_utc"] == np.datetime64("2019-01-01T00:00:00") + np.timedelta64(
                e["Timestamp"], "s"
            )
        elif v["msg"] == "OperatorID":
            assert (
                d["operator_id"] == e["OperatorId"] and d["operator_id_type"] == e["OperatorIdType"]
            )
        checked += 1
    assert checked == 27


def _loc_with(**changes: int) -> bytes:
    """First Location vector with raw bytes overwritten (offset -> byte value)."""
    b = bytearray.fromhex(_vec("Location")[0]["hex"])
    for off, val in changes.items():
        b[int(off[1:])] = val
    return bytes(b)


def test_sentinels_become_null() -> None:
    # Invalid encodings per F3411: direction 361 (181 + E/W), speed 255 m/s (255 with the
    # multiplier flag), vertical 63 m/s (126), lat = lon = 0, altitude 0 raw (-1000 m),
    # timestamp 0xFFFF, accuracy code 0.
    b = bytearray.fromhex(_vec("Location")[0]["hex"])
    b[1] = (b[1] & 0xF0) | 0x02 | 0x01
    b[2], b[3], b[4] = 181, 255, 126
    b[5:13] = bytes(8)
    b[13:19] = bytes(6)
    b[19], b[20] = 0, 0
    b[21:23] = b"\xff\xff"
    b[23] = 0
    d = decode_message(bytes(b))
    for k in (
        "track_deg",
        "speed_m_s",
        "vrate_m_s",
        "lat_deg",
        "lon_deg",
        "alt_baro_m",
        "alt_geo_m",
        "height_m",
        "h_accuracy_m",
        "v_accuracy_m",
        "speed_accuracy_m_s",
        "time_after_hour_s",
        "time_accuracy_s",
    ):
        assert d[k] is None, k
    # Largest encodable speed with the multiplier: 254 * 0.75 + 63.75 = 254.25 m/s.
    b[3] = 254
    assert decode_message(bytes(b))["speed_m_s"] == 254.25


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"b5": 0xFF, "b6": 0xFF, "b7": 0xFF, "b8": 0x7F}, "latitude"),
        ({"b2": 200}, "direction"),
        ({"b21": 0x40, "b22": 0x9C}, "timestamp"),  # 40000 tenths > one hour
        ({"b4": 127}, "vertical speed"),
        ({"b0": 0x13}, "protocol version"),
        ({"b1": 0xF0}, "status"),
    ],
)
def test_out_of_range_fields_are_malformed(changes: dict[str, int], reason: str) -> None:
    with pytest.raises(RemoteIdMessageError, match=reason):
        decode_message(_loc_with(**changes))


def test_malformed_messages_raise_the_internal_error() -> None:
    for bad in (
        b"",
        b"\x12" * 24,
        b"\x12" * 26,
        b"\x60" + bytes(24),
        bytes.fromhex("02f0") + bytes(23),
    ):
        with pytest.raises(RemoteIdMessageError):
            decode_message(bad)


# --------------------------------------------------------------------------- streams


def _pack(*hexes: str) -> bytes:
    return bytes([0xF2, 25, len(hexes)]) + b"".join(bytes.fromhex(h) for h in hexes)


def test_pack_associates_basic_id_system_and_resolves_the_hour() -> None:
    basic = _vec("BasicID")[0]["hex"]
    loc = _vec("Location")[0]["hex"]  # 1800.0 s after the hour
    pack = _pack(
        loc, _vec("System")[0]["hex"], basic, _vec("SelfID")[0]["hex"], _vec("OperatorID")[0]["hex"]
    )
    tab, err = read_messages([pack], ref_time_utc="2026-11-22T02:10:00Z")
    assert err.total == 0 and tab.num_rows == 1
    assert tab.column_names[: len(CORE_FIELDS)] == list(CORE_FIELDS)
    r = tab.to_pylist()[0]
    assert r["object_id"] == "uas:1596f3ab7c12345678"
    assert r["source"] == "remoteid-bcast"
    assert str(r["time_utc"]) == "2026-11-22 02:30:00+00:00"
    assert (r["alt_m"], r["alt_ref"], r["alt_baro_m"], r["height_m"]) == (12.0, "wgs84", 20.0, 0.0)
    assert r["operator_lat_deg"] == pytest.approx(30.58001) and r["eu_class"] == "class1"
    assert r["self_id"] == "DronesRUS: Real Estate" and r["operator_id"] == "98765432100123456789"
    assert r["ua_type"] == "helicopter" and r["time_source"] == "message"


def test_hour_resolution_nearest_to_reference() -> None:
    hour = int(np.datetime64("2026-11-22T02:00:00", "ns").astype(np.int64))
    m = 60 * 10**9
    half = 30 * m
    assert resolve_hour(half, hour + 10 * m) == hour + half
    assert resolve_hour(half, hour + 55 * m) == hour + half  # 02:30 is 25 min from 02:55
    assert resolve_hour(half, hour + 70 * m) == hour + 60 * m + half  # 03:30 is 20 min from 03:10
    assert resolve_hour(59 * m, hour + m) == hour - m  # 01:59 belongs to the previous hour


def test_stream_association_across_messages_and_transmitters() -> None:
    locs = [v["hex"] for v in _vec("Location")]
    b1, b2 = _vec("BasicID")[0]["hex"], _vec("BasicID")[2]["hex"]
    msgs = [locs[1], b1, locs[2], b2, locs[3], locs[4]]
    tx = ["a", "a", "a", "b", "b", "c"]
    tab, err = read_messages(
        [bytes.fromhex(h) for h in msgs], ref_time_utc="2026-11-22T02:10:00Z", transmitter=tx
    )
    ids = sorted(tab.column("object_id").to_pylist())
    # "a": one held before its Basic ID + one after; "b": session id; "c": never identified
    assert ids == ["uas-session:uas-cn-0001", "uas:1596f3ab7c12345678", "uas:1596f3ab7c12345678"]
    assert tab.num_rows == 3
    assert err.counts[("location", "no Basic ID and transmitter is not a MAC address")] == 1  # "c"
    # A transmitter that is a MAC address names a UA that never sent a Basic ID.
    tab2, err2 = read_messages(
        [bytes.fromhex(locs[4])],
        ref_time_utc="2026-11-22T02:10:00Z",
        transmitter="84:CC:A8:60:43:24",
    )
    assert tab2.column("object_id").to_pylist() == ["uas-mac:84cca8604324"] and err2.total == 0


def test_reference_time_is_required() -> None:
    with pytest.raises(ConfigError, match="ref_time_utc"):
        read_messages([bytes.fromhex(_vec("Location")[0]["hex"])])


# --------------------------------------------------------------------------- captures


def _packs_by_subtype(path: Path) -> dict[int, list[bytes]]:
    cap = read_pcap_file(path)
    out: dict[int, list[bytes]] = {}
    for pkt in cap.data:
        frame = pkt[int.from_bytes(pkt[2:4], "little") :]  # radiotap, no FCS in these captures
        for _tx, pack in odid_payloads_80211(frame):
            out.setdefault(frame[0] >> 4, []).append(pack)
    return out


def test_captures_yield_21_packs_each_all_decoding() -> None:
    bcn = _packs_by_subtype(BCN)
    nan = _packs_by_subtype(NAN)
    assert {k: len(v) for k, v in bcn.items()} == {8: 21}  # beacons
    assert len(nan[13]) == 21  # NAN service discovery (action) frames
    assert len(nan[8]) == 21  # the same messages repeated in beacons
    for packs in (bcn[8], nan[13], nan[8]):
        for pack in packs:
            n = pack[2]
            assert pack[0] >> 4 == 0xF and pack[1] == 25
            for i in range(n):
                decode_message(pack[3 + 25 * i : 28 + 25 * i])  # raises if malformed


def test_beacon_capture_reports() -> None:
    tab, err, packs = read_pcap(BCN)
    assert packs == 21 and err.total == 0
    rows = tab.to_pylist()
    # 21 packs, 5 of which repeat the previous pack's Location within 1 s
    assert len(rows) == 16
    assert {r["object_id"] for r in rows} == {"uas-undeclared:mfg1a0123456789"}
    assert {r["operator_id"] for r in rows} == {"GBR-OP-123ABCD"}
    assert {r["self_id"] for r in rows} == {"Recreational"}
    # The test transmitter sends timestamp 0 s; capture time (2021-05-21 21:52) is used.
    assert {r["time_source"] for r in rows} == {"receiver"}
    assert str(rows[0]["time_utc"]).startswith("2021-05-21 21:52:11.16")
    # Independent physical check: distance between successive fixes over the capture-time
    # step matches the broadcast ground speed (20.5 m/s).
    lat = np.radians([r["lat_deg"] for r in rows])
    lon = np.radians([r["lon_deg"] for r in rows])
    t = np.array([r["time_utc"].value for r in rows]) / 1e9
    d = 6371e3 * np.hypot(np.diff(lat), np.cos(lat[1:]) * np.diff(lon))
    assert {r["speed_m_s"] for r in rows} == {20.5}
    assert np.median(d / np.diff(t)) == pytest.approx(20.5, rel=0.05)


def test_nan_capture_reports() -> None:
    tab, err, packs = read_pcap(NAN)
    assert packs == 42 and err.total == 0
    rows = tab.to_pylist()
    # No Basic ID is ever sent in this capture: the transmitter address names the UA.
    assert {r["object_id"] for r in rows} == {"uas-mac:84cca8604324"}
    assert len(rows) == 17  # 16 Locations sent over NAN + beacon, one over beacon only
    assert {r["operator_id"] for r in rows} - {None} == {"GBR-OP-123ABCD"}
    assert all(44 < r["lat_deg"] < 46 and -124 < r["lon_deg"] < -122 for r in rows)


def test_ref_time_overrides_capture_time() -> None:
    tab, _, _ = read_pcap(BCN, ref_time_utc="2026-11-22T02:10:00Z")
    assert {str(t) for t in tab.column("time_utc").to_pylist()} == {"2026-11-22 02:00:00+00:00"}
    assert set(tab.column("time_source").to_pylist()) == {"message"}


def test_bad_files_raise_format_error(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    p.write_bytes(b"not a capture at all, no")
    with pytest.raises(FormatError, match="x.pcap"):
        read_pcap(p)
    p.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(FormatError, match="pcapng"):
        read_pcap(p)
    raw = BCN.read_bytes()
    p.write_bytes(raw[:20] + b"\x01\x00\x00\x00" + raw[24:])  # Ethernet link type
    with pytest.raises(FormatError, match="link type"):
        read_pcap(p)
    p.write_bytes(raw[:-30])  # truncated last record: counted, the rest kept
    tab, err, packs = read_pcap(p)
    assert packs == 20 and err.counts[("pcap", "truncated last record")] == 1 and tab.num_rows > 10


# --------------------------------------------------------------------------- fuzz

GOOD = [bytes.fromhex(v["hex"]) for v in VECTORS]
GOOD_LOCS = [bytes.fromhex(v["hex"]) for v in _vec("Location")]


def _mutate(rng: random.Random, kind: int) -> bytes:
    base = rng.choice(GOOD)
    if kind == 0:
        return rng.randbytes(rng.choice([0, 1, 3, 24, 25, 26, 53, 128]))
    if kind == 1:
        return base[: rng.randrange(0, 25)]
    b = bytearray(base)
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(25)] ^= 1 << rng.randrange(8)
    return bytes(b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_fuzz_bad_messages_are_counted_and_good_ones_survive(seed: int, n: int) -> None:
    rng = random.Random(seed)
    msgs: list[bytes] = []
    tx: list[str] = []
    expected_bad = 0
    basic = bytes.fromhex(_vec("BasicID")[0]["hex"])
    msgs.append(basic)
    tx.append("good")
    good_locs = 0
    for i in range(n):
        fuzzed = _mutate(rng, rng.randrange(3))
        try:
            parts = split_pack(fuzzed) if fuzzed[:1] and fuzzed[0] >> 4 == 0xF else [fuzzed]
        except RemoteIdMessageError:
            parts, expected_bad = [], expected_bad + 1
        for part in parts:
            try:
                decode_message(part)
            except RemoteIdMessageError as exc:
                assert exc.reason
                expected_bad += 1
            except Exception as exc:  # noqa: BLE001 - any other exception is the failure we look for
                pytest.fail(f"decode_message raised {type(exc).__name__}: {exc} on {fuzzed.hex()}")
        msgs.append(fuzzed)
        tx.append("fuzz")
        loc = GOOD_LOCS[i % len(GOOD_LOCS)]
        msgs.append(loc)
        tx.append("good")
        good_locs += 1
    times = np.arange(len(msgs), dtype=np.int64) * 5 * 10**9 + int(
        np.datetime64("2026-11-22T02:29:00", "ns").astype(np.int64)
    )
    tab, err = read_messages(msgs, times_ns=times, transmitter=tx)
    unidentified = err.counts[("location", "no Basic ID and transmitter is not a MAC address")]
    assert err.total - unidentified == expected_bad
    assert all(reason for (_kind, reason) in err.counts)
    good = [r for r in tab.to_pylist() if r["transmitter"] == "good"]
    assert len(good) == good_locs
    assert {r["object_id"] for r in good} == {"uas:1596f3ab7c12345678"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(flight=_json, state=_json, pos=_json)
def test_fuzz_network_json_never_raises(flight: object, state: object, pos: object) -> None:
    good = _network_example()["flights"][0]
    flights = [good, flight]
    if isinstance(flight, dict):
        flights.append({**good, "id": "f2", "current_state": state})
        flights.append(
            {**good, "id": "f3", "current_state": {**good["current_state"], "position": pos}}
        )
    tab, err = read_network_flights(
        {"timestamp": {"value": "2026-11-22T02:00:01Z"}, "flights": flights}
    )
    assert "uas-flight:flight-1" in tab.column("object_id").to_pylist()
    assert all(reason for (_kind, reason) in err.counts)


# --------------------------------------------------------------------------- network


def _network_example() -> dict:
    """A GetFlightsResponse built field by field from the F3411-22a USS API schema."""
    return {
        "timestamp": {"value": "2026-11-22T02:00:01.5Z", "format": "RFC3339"},
        "no_isas_present": False,
        "flights": [
            {
                "id": "flight-1",
                "aircraft_type": "Helicopter",
                "simulated": False,
                "current_state": {
                    "timestamp": {"value": "2026-11-22T02:00:00.3Z", "format": "RFC3339"},
                    "timestamp_accuracy": 0.2,
                    "operational_status": "Airborne",
                    "position": {
                        "lat": 30.58,
                        "lng": 114.3,
                        "alt": 52.0,
                        "accuracy_h": "HA3m",
                        "accuracy_v": "VA1m",
                        "extrapolated": False,
                        "pressure_altitude": 60.0,
                        "height": {"distance": 40.0, "reference": "TakeoffLocation"},
                    },
                    "track": 189.0,
                    "speed": 11.5,
                    "speed_accuracy": "SA1mps",
                    "vertical_speed": -1.0,
                },
                "recent_positions": [
                    {
                        "time": {"value": "2026-11-22T01:59:59.3Z", "format": "RFC3339"},
                        "position": {"lat": 30.5799, "lng": 114.3, "alt": 53.0},
                    },
                    {
                        "time": {"value": "2026-11-22T02:00:00.3Z", "format": "RFC3339"},
                        "position": {"lat": 30.58, "lng": 114.3, "alt": 52.0},
                    },
                ],
            },
            {
                "id": "flight-2",
                "aircraft_type": "Aeroplane",
                "current_state": {
                    "timestamp": {"value": "2026-11-22T10:00:00+08:00", "format": "RFC3339"},
                    "timestamp_accuracy": 0,
                    "position": {"lat": 0, "lng": 0, "alt": -1000, "pressure_altitude": 120.5},
                    "track": 361,
                    "speed": 255,
                    "speed_accuracy": "SAUnknown",
                    "vertical_speed": 63,
                },
            },
            {
                "id": "flight-3",
                "aircraft_type": "Other",
                "current_state": {"position": {"lat": 95, "lng": 0}},
            },
            {"aircraft_type": "Other"},
        ],
    }


def test_network_flights_decode() -> None:
    details = {
        "flight-1": {
            "details": {"id": "flight-1", "uas_id": {"serial_number": "1596F3AB7C12345678"}}
        }
    }
    tab, err = read_network_flights(json.dumps(_network_example()), details=details)
    rows = {(r["object_id"], r["current"]): r for r in tab.to_pylist()}
    assert set(tab.column("source").to_pylist()) == {"remoteid-net"}
    cur = rows[("uas:1596f3ab7c12345678", True)]
    assert str(cur["time_utc"]) == "2026-11-22 02:00:00.300000+00:00"
    assert (cur["lat_deg"], cur["lon_deg"], cur["alt_m"], cur["alt_ref"]) == (
        30.58,
        114.3,
        52.0,
        "wgs84",
    )
    assert (cur["speed_m_s"], cur["track_deg"], cur["vrate_m_s"]) == (11.5, 189.0, -1.0)
    assert (cur["alt_baro_m"], cur["height_m"], cur["height_ref"]) == (60.0, 40.0, "takeoff")
    assert (cur["h_accuracy_m"], cur["v_accuracy_m"], cur["speed_accuracy_m_s"]) == (3.0, 1.0, 1.0)
    assert (cur["status"], cur["ua_type"], cur["time_accuracy_s"]) == (
        "airborne",
        "helicopter",
        0.2,
    )
    # recent position at the same time as current_state is a duplicate; the earlier one stays
    assert tab.num_rows == 3
    unk = rows[("uas-flight:flight-2", True)]
    assert str(unk["time_utc"]) == "2026-11-22 02:00:00+00:00"  # +08:00 offset applied
    for k in ("lat_deg", "lon_deg", "speed_m_s", "track_deg", "vrate_m_s"):
        assert unk[k] is None, k
    assert (unk["alt_m"], unk["alt_ref"]) == (120.5, "baro")
    assert err.counts[("flight", "missing flight id")] == 1
    assert sum(n for (k, r), n in err.counts.items() if "out of range" in r) == 1


def test_network_bad_top_level() -> None:
    with pytest.raises(FormatError, match="not JSON"):
        read_network_flights("{nope")
    with pytest.raises(FormatError):
        read_network_flights("42")
    tab, err = read_network_flights([])
    assert tab.num_rows == 0 and err.total == 0


def test_network_missing_timestamp_uses_now() -> None:
    ex = _network_example()
    del ex["flights"][0]["current_state"]["timestamp"]
    ex["flights"][0]["recent_positions"] = []
    tab, _ = read_network_flights(ex["flights"][:1], now_utc="2026-11-22T03:00:00Z")
    assert str(tab.column("time_utc")[0].as_py()) == "2026-11-22 03:00:00+00:00"
    assert not math.isnan(tab.column("lat_deg")[0].as_py())


def test_receive_times_and_clock_skew() -> None:
    basic = bytes.fromhex(_vec("BasicID")[0]["hex"])
    loc = bytes.fromhex(_vec("Location")[0]["hex"])  # 1800.0 s after the hour
    no_ts = bytearray(loc)
    no_ts[21:23] = b"\xff\xff"
    t0 = int(np.datetime64("2026-11-22T02:30:00.4", "ns").astype(np.int64))
    far = t0 + 600 * 10**9  # receiver 10 min later than the message claims
    tab, err = read_messages(
        [basic, loc, bytes(no_ts), loc], times_ns=[t0, t0, t0 + 2 * 10**9, far]
    )
    rows = tab.to_pylist()
    assert err.total == 0 and len(rows) == 3
    assert [r["time_source"] for r in rows] == ["message", "receiver", "receiver"]
    assert [r["time_utc"].value for r in rows] == [t0 - 400_000_000, t0 + 2 * 10**9, far]
    tab2, _ = read_messages([basic, loc], times_ns=[far, far], max_skew_s=None)
    assert tab2.column("time_source").to_pylist() == ["message"]


def test_binary_utm_uuid_and_session_ids() -> None:
    u = bytes.fromhex("0b7e2f5c94b34f3c9a2a6f2a1d3e4c5f")
    d = decode_message(bytes([0x02, 0x32]) + u + bytes(7))
    assert d["uas_id"] == "0b7e2f5c-94b3-4f3c-9a2a-6f2a1d3e4c5f" and d["id_type"] == "utm_uuid"
    sess = bytes([0x01]) + bytes(range(0x80, 0x93))  # DRIP entity id: type 1 + 19 bytes
    d = decode_message(bytes([0x02, 0x42]) + sess + bytes(3))
    assert d["uas_id"] == sess.hex() and d["id_type"] == "session_id"
    tab, _ = read_messages(
        [bytes([0x02, 0x32]) + u + bytes(7), bytes.fromhex(_vec("Location")[0]["hex"])],
        ref_time_utc="2026-11-22T02:10:00Z",
    )
    assert tab.column("object_id").to_pylist() == ["uas-utm:0b7e2f5c-94b3-4f3c-9a2a-6f2a1d3e4c5f"]
    with pytest.raises(RemoteIdMessageError, match="reserved ID type"):
        decode_message(bytes([0x02, 0x52]) + bytes(23))
