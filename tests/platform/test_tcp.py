"""TCP listeners with real sockets: JT/T 808 terminals answered per protocol, Beast,
AVR and AIS NMEA feeds, every stream cut at random byte positions across reads."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kongtian.platform.ingest.tcp import TcpIngest
from kongtian.traffic.decode.jt808 import parse_frame, read_frames, split_frames
from tests.platform._ingest_helpers import wait_until

DATA = Path(__file__).parents[1] / "data" / "traffic"
VECTORS = json.loads((DATA / "jt808" / "jt808_reply_vectors.json").read_text())["go_jt808"]["pairs"]
TRACCAR = json.loads((DATA / "jt808" / "jt808_frames_traccar.json").read_text())["frames"]


@pytest.fixture
def service() -> Iterator[object]:
    from kongtian.platform.service import Service
    from kongtian.platform.store import open_store

    svc = Service(open_store("duckdb://:memory:"))
    yield svc
    svc.close()
    svc.store.close()


def _send_in_pieces(sock: socket.socket, data: bytes, rng: random.Random, most: int) -> None:
    i = 0
    while i < len(data):
        k = rng.randint(1, most)
        sock.sendall(data[i : i + k])
        i += k
        if rng.random() < 0.3:
            time.sleep(0.002)  # let the listener read a partial unit


def _recv_all(sock: socket.socket, until: float) -> bytes:
    out = b""
    sock.settimeout(0.2)
    while time.monotonic() < until:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        out += chunk
    return out


def _distinct_keys(table) -> int:  # type: ignore[no-untyped-def]
    cols = ["object_id", "source", "time_utc"]
    return table.select(cols).group_by(cols).aggregate([]).num_rows


@pytest.mark.parametrize("pair", VECTORS, ids=[p["name"] for p in VECTORS])
def test_jt808_reply_equals_other_implementations(service, pair) -> None:  # type: ignore[no-untyped-def]
    """Each request (cut in two reads) gets the reply frame go-jt808 expects, byte for byte."""
    req = bytes.fromhex(pair["request"])
    with TcpIngest(service, "jt808") as tcp, socket.create_connection(("127.0.0.1", tcp.port)) as s:
        s.sendall(req[:5])
        time.sleep(0.02)
        s.sendall(req[5:])
        s.settimeout(10)
        reply = s.recv(4096)
    assert reply.hex() == pair["reply"]
    expected_rows = _distinct_keys(read_frames([req])[0])
    assert service.store.count_reports() == expected_rows  # type: ignore[attr-defined]


def test_jt808_stream_cut_anywhere_is_answered_and_stored(service) -> None:  # type: ignore[no-untyped-def]
    """112 recorded traccar frames on one connection, cut at random byte positions."""
    stream = b"".join(bytes.fromhex(f["hex"]) for f in TRACCAR)
    frames = split_frames(stream)[0]
    answerable = []
    for fr in frames:
        try:
            m = parse_frame(fr, strict=False)
        except Exception:  # noqa: BLE001 - unparseable: quarantined, not answered
            continue
        if m.checksum_ok and m.msg_id != 0x0001 and m.msg_id < 0x8000:
            answerable.append((m.serial, m.msg_id))
    rng = random.Random(808)
    with TcpIngest(service, "jt808") as tcp, socket.create_connection(("127.0.0.1", tcp.port)) as s:
        got: list[bytes] = []
        reader = threading.Thread(
            target=lambda: got.append(_recv_all(s, time.monotonic() + 8)), daemon=True
        )
        reader.start()
        _send_in_pieces(s, stream, rng, 90)
        wait_until(lambda: tcp.stats.messages >= len(frames), 20, "all frames committed")
        reader.join()
        stats = tcp.stats.to_dict()
    replies = [parse_frame(r) for r in split_frames(b"".join(got))[0]]
    answered = []
    for r in replies:
        assert r.msg_id in (0x8001, 0x8100)
        if r.msg_id == 0x8001:
            answered.append(
                (int.from_bytes(r.body[0:2], "big"), int.from_bytes(r.body[2:4], "big"))
            )
    assert sorted(answered) == sorted(a for a in answerable if a[1] != 0x0100)
    table, errors, _ = read_frames(frames)
    store = service.store  # type: ignore[attr-defined]
    assert store.count_reports() == _distinct_keys(table)
    assert stats["messages"] == len(frames)
    assert store.count_quarantine() >= 1  # the frames with a bad check code or length
    print(
        f"\njt808 over TCP: {len(frames)} frames, {len(answered)} answered 0x8001, "
        f"{store.count_reports()} reports stored, {store.count_quarantine()} quarantined"
    )


def test_jt808_garbage_does_not_break_the_connection(service) -> None:  # type: ignore[no-untyped-def]
    heartbeat = next(p for p in VECTORS if p["name"] == "0x0002 heartbeat 2013")
    junk = bytes(range(256)) + b"\x7e\x01\x02\x03\x7e" + b"\x7e" + bytes(range(1, 41)) + b"\x7e"
    # junk: whatever frames it holds have a wrong check code (so none may be answered)
    assert not any(parse_frame(f, strict=False).checksum_ok for f in split_frames(junk)[0])
    with TcpIngest(service, "jt808") as tcp, socket.create_connection(("127.0.0.1", tcp.port)) as s:
        s.sendall(junk)
        s.sendall(bytes.fromhex(heartbeat["request"]))
        s.settimeout(10)
        reply = s.recv(4096)
        assert reply.hex() == heartbeat["reply"]
    assert service.store.count_quarantine() >= 1  # type: ignore[attr-defined]


def test_beast_stream_cut_anywhere(service) -> None:  # type: ignore[no-untyped-def]
    """The 4,218-byte dump1090 capture (239 Mode S frames, 16 escaped 0x1a pairs)."""
    data = (DATA / "adsb" / "traffic_sample_dump1090_beast.bin").read_bytes()
    with TcpIngest(service, "beast", ref=(43.6, 1.35)) as tcp:
        with socket.create_connection(("127.0.0.1", tcp.port)) as s:
            _send_in_pieces(s, data, random.Random(5), 40)
        wait_until(lambda: tcp.stats.messages >= 239, 20, "239 Beast records")
        time.sleep(0.2)
        stats = tcp.stats.to_dict()
    assert stats["messages"] == 239
    assert stats["rejected"] == 0
    store = service.store  # type: ignore[attr-defined]
    ids = set(store.query_reports(limit=10_000).column("object_id").to_pylist())
    assert ids <= {"icao24:3981e4", "icao24:48520a", "icao24:440062", "icao24:44ce69"}
    assert ids


def test_ais_multi_sentence_messages_across_reads(service) -> None:  # type: ignore[no-untyped-def]
    """Tag-blocked AIS with a two-sentence type 5 interleaved with other sentences."""
    from kongtian.traffic.decode.ais import read_nmea

    data = (DATA / "ais" / "libais_tagblock.nmea").read_bytes()
    expected = read_nmea(data)[0]
    with TcpIngest(service, "ais") as tcp:
        with socket.create_connection(("127.0.0.1", tcp.port)) as s:
            _send_in_pieces(s, data, random.Random(7), 17)
        wait_until(lambda: tcp.stats.messages >= 4, 20, "4 AIS messages")
        time.sleep(0.2)
        stats = tcp.stats.to_dict()
    store = service.store  # type: ignore[attr-defined]
    assert stats["messages"] == 4  # 5 lines, one message in two sentences
    assert store.count_quarantine() == 0
    got = store.query_reports(limit=100)
    assert sorted(got.column("object_id").to_pylist()) == sorted(
        expected.column("object_id").to_pylist()
    )


def test_avr_lines_across_reads(service) -> None:  # type: ignore[no-untyped-def]
    rows = (DATA / "adsb" / "pymodes_sample_data_adsb.csv").read_text().splitlines()[:400]
    lines = ["*" + r.split(",")[1].strip('"') + ";" for r in rows]
    data = "\r\n".join(lines).encode()  # the last line has no newline: used at EOF
    with TcpIngest(service, "avr", ref=(51.99, 4.37)) as tcp:
        with socket.create_connection(("127.0.0.1", tcp.port)) as s:
            _send_in_pieces(s, data, random.Random(3), 33)
        wait_until(lambda: tcp.stats.messages >= len(lines), 20, "all AVR lines")
        time.sleep(0.2)
        stats = tcp.stats.to_dict()
    assert stats["messages"] == len(lines)
    assert service.store.count_reports() > 0  # type: ignore[attr-defined]


def test_cli_worker_answers_a_terminal(tmp_path: Path) -> None:
    """``kongtian ingest tcp jt808 --port 0`` as a process: ready line, replies, exit 0."""
    from tests.platform._ingest_helpers import Worker

    location = next(p for p in VECTORS if p["name"] == "0x0200 location 2013")
    worker = Worker(["tcp", "jt808", "--store", f"duckdb://{tmp_path / 'tcp.duckdb'}", "--stats"])
    ready = worker.wait_ready()
    with socket.create_connection(("127.0.0.1", ready["port"])) as s:
        s.sendall(bytes.fromhex(location["request"]))
        s.settimeout(10)
        reply = s.recv(4096)
    assert reply.hex() == location["reply"]
    assert worker.terminate() == 0, worker.stderr[-2000:]
    assert worker.total("accepted") == 1
    stopped = [e for e in worker.events if e.get("event") == "stopped"]
    assert stopped and stopped[0]["messages"] == 1


def test_cli_bad_protocol_exits_2() -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "kongtian",
            "ingest",
            "tcp",
            "gps103",
            "--store",
            "duckdb://:memory:",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "PROTOCOL" in r.stderr and "gps103" in r.stderr
    assert "Traceback" not in r.stderr


def test_jt808_subpackaged_message_across_reads(service) -> None:  # type: ignore[no-untyped-def]
    """A 0x0704 batch sent as two sub-packages in separate TCP segments is joined and
    stored (the decoder alone counts one packet as 'sub-package incomplete')."""
    from kongtian.traffic.decode.jt808 import encode_frame

    src = next(
        f for f in TRACCAR if f["decoded"]["msg_id"] == "0x0704" and f["decoded"]["checksum_ok"]
    )
    msg = parse_frame(bytes.fromhex(src["hex"]))
    half = len(msg.body) // 2
    p1 = encode_frame(0x0704, msg.phone, 10, msg.body[:half], packet=(2, 1))
    p2 = encode_frame(0x0704, msg.phone, 11, msg.body[half:], packet=(2, 2))
    assert read_frames([p1])[0].num_rows == 0
    expected = read_frames([p1, p2])[0].num_rows
    assert expected >= 1
    with TcpIngest(service, "jt808") as tcp, socket.create_connection(("127.0.0.1", tcp.port)) as s:
        s.settimeout(10)
        s.sendall(p1)
        first = s.recv(4096)  # the first packet is answered on arrival
        s.sendall(p2)
        second = s.recv(4096)
    answered = [int.from_bytes(parse_frame(r).body[0:2], "big") for r in (first, second)]
    assert answered == [10, 11]
    store = service.store
    assert store.count_reports() == expected
    assert store.count_quarantine() == 0


class _Flaky:
    """The real service behind a wrapper that fails like a broken dependency would:
    ``fail_first`` calls raise (a store outage), and any batch holding ``poison`` raises
    (a payload that crashes something the decoder did not guard)."""

    def __init__(self, inner: Any, *, fail_first: int = 0, poison: bytes | None = None) -> None:
        self.inner, self.store = inner, inner.store
        self.fail_first, self.poison, self.calls = fail_first, poison, 0

    def ingest_raw(self, fmt: str, payloads: Any, **kw: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise ConnectionError("store unavailable")
        if self.poison is not None and any(self.poison in p for p in payloads):
            raise RuntimeError("boom")
        return self.inner.ingest_raw(fmt, payloads, **kw)


def _ais_lines() -> list[bytes]:
    from kongtian.traffic.decode.ais import read_nmea

    lines = (DATA / "ais" / "libais_tagblock.nmea").read_bytes().splitlines()
    singles = [ln for ln in lines if b"!AIVDM,1,1" in ln]
    assert read_nmea(b"\n".join(singles))[0].num_rows == len(singles) == 3
    return singles


def test_store_outage_is_retried_before_anything_is_answered(service) -> None:  # type: ignore[no-untyped-def]
    flaky = _Flaky(service, fail_first=2)
    with TcpIngest(flaky, "ais") as tcp:
        with socket.create_connection(("127.0.0.1", tcp.port)) as s:
            s.sendall(b"\n".join(_ais_lines()) + b"\n")
        wait_until(lambda: tcp.stats.messages >= 3, 20, "the retried commit")
        stats = tcp.stats.to_dict()
    assert stats["commit_retries"] == 2
    assert service.store.count_reports() == 3


def test_poison_message_is_quarantined_and_the_feed_goes_on(service) -> None:  # type: ignore[no-untyped-def]
    lines = _ais_lines()
    flaky = _Flaky(service, poison=b"POISON")
    with TcpIngest(flaky, "ais") as tcp:
        with socket.create_connection(("127.0.0.1", tcp.port)) as s:
            s.sendall(lines[0] + b"\n!AIVDM,POISON\n" + b"\n".join(lines[1:]) + b"\n")
        wait_until(lambda: tcp.stats.messages >= 4, 30, "isolation of the poison message")
        stats = tcp.stats.to_dict()
    assert stats["poison"] == 1
    assert service.store.count_reports() == 3
    reasons = [q["reason"] for q in service.store.list_quarantine()]
    assert any("RuntimeError: boom" in r for r in reasons)
