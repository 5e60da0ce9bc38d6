"""Live streams end to end: a real uvicorn server on a free port, reports posted over HTTP,
tracks and zone alerts received over WebSocket (``websockets`` client) and SSE (httpx).

What each socket must and must not receive is decided by hand from the scenario: the
bbox covers the no-fly square and the aircraft, not the far drone; the kind filter keeps
drones only; the operator key sees its own fleet only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from kongtian.platform.api.app import create_app
from kongtian.platform.auth import create_key
from kongtian.platform.config import Settings
from kongtian.platform.service import Service
from kongtian.platform.store import Store, open_store

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
NOFLY = {
    "type": "Feature",
    "id": "nofly-yuzhong",
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[106.5, 29.5], [106.6, 29.5], [106.6, 29.6], [106.5, 29.6], [106.5, 29.5]]
        ],
    },
    "properties": {"kind": "no-fly"},
}
BBOX = "106.4,29.4,106.7,29.8"
RECV_S = 10.0  # generous wait for one message (not a timing assertion)


@dataclass
class Srv:
    http: str
    ws: str
    service: Service
    store: Store
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Srv]:
    store = open_store(f"duckdb://{tmp_path / 'kt.duckdb'}")
    store.put_zone(NOFLY)
    service = Service(store)
    settings = Settings.load(env={}, data_dir=str(tmp_path), rate_per_s=1000.0, rate_burst=1000.0)
    app = create_app(service, settings, start_adapters=False)
    keys = {
        "admin": create_key(store, "admin")[1],
        "regulator": create_key(store, "regulator")[1],
        "public": create_key(store, "public")[1],
        "fleet-a": create_key(store, "operator", owner="fleet-a")[1],
        "fleet-b": create_key(store, "operator", owner="fleet-b")[1],
    }
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not th.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Srv(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", service, store, keys)
    finally:
        server.should_exit = True
        th.join(15)
        service.close()
        store.close()


def report(
    oid: str, t_s: float, lat: float, lon: float, alt: float = 100.0, src: str = "remoteid-net"
) -> dict:
    return {
        "object_id": oid,
        "source": src,
        "time_utc": (T0 + timedelta(seconds=t_s)).isoformat().replace("+00:00", "Z"),
        "lat_deg": lat,
        "lon_deg": lon,
        "alt_m": alt,
        "alt_ref": "wgs84",
        "speed_m_s": 10.0,
        "track_deg": 0.0,
    }


def drone_into_zone(oid: str) -> list[dict]:
    """Northbound along lon 106.55 from lat 29.455: inside the square from t = 5 s."""
    return [report(oid, i, 29.455 + 0.01 * i, 106.55) for i in range(8)]


async def post(srv: Srv, key: str, body: Any) -> dict:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{srv.http}/v1/traffic/reports", json=body, headers={"X-API-Key": key}
        )
    assert r.status_code == 200, r.text
    out: dict = r.json()
    return out


async def recv_until(ws: Any, done: Any, limit: int = 200) -> list[dict]:
    """Messages until ``done(msg)`` is true (included), skipping pings."""
    out: list[dict] = []
    for _ in range(limit):
        msg = json.loads(await asyncio.wait_for(ws.recv(), RECV_S))
        if msg["topic"] == "ping":
            continue
        out.append(msg)
        if done(msg):
            return out
    pytest.fail(f"condition not met in {limit} messages: {out[-5:]}")


def is_alert(oid: str) -> Any:
    return lambda m: m["topic"] == "alerts" and m["data"]["object_id"] == oid


def test_ws_tracks_and_zone_alert_filtered_by_bbox_and_kind(srv: Srv) -> None:
    async def main() -> tuple[list[dict], list[dict], dict]:
        k = srv.keys["regulator"]
        url = f"{srv.ws}/v1/stream/ws?bbox={BBOX}&kinds=uas&key={k}"
        async with (
            websockets.connect(url) as filtered,
            websockets.connect(f"{srv.ws}/v1/stream/ws?key={srv.keys['admin']}") as everything,
        ):
            hello = json.loads(await asyncio.wait_for(filtered.recv(), RECV_S))
            await asyncio.wait_for(everything.recv(), RECV_S)
            body = (
                [
                    report("icao24:780abc", i, 29.7, 106.45 + 0.001 * i, 900.0, "adsb")
                    for i in range(3)
                ]
                + [report("uas:far", i, 31.0, 106.55) for i in range(3)]
                + drone_into_zone("uas:d1")
            )
            res = await post(srv, srv.keys["fleet-a"], body)
            assert (res["accepted"], res["alerts"]) == (14, 1)
            got = await recv_until(filtered, is_alert("uas:d1"))
            # the unfiltered socket shows the other objects were published
            all_msgs: list[dict] = []
            want = {"icao24:780abc", "uas:far", "uas:d1"}
            while not want <= {m["data"]["object_id"] for m in all_msgs if m["topic"] == "tracks"}:
                all_msgs += await recv_until(everything, lambda m: True)
            return got, all_msgs, hello

    got, all_msgs, hello = asyncio.run(main())
    assert hello["topic"] == "hello"
    assert hello["data"]["filters"]["bbox"] == [106.4, 29.4, 106.7, 29.8]
    assert hello["data"]["filters"]["kinds"] == ["uas"]
    assert hello["data"]["role"] == "regulator"
    tracks = [m["data"] for m in got if m["topic"] == "tracks"]
    alerts = [m["data"] for m in got if m["topic"] == "alerts"]
    assert {t["object_id"] for t in tracks} == {"uas:d1"}
    assert tracks[0]["lat_deg"] == pytest.approx(29.525)  # newest of the batch
    assert tracks[0]["owner"] == "fleet-a" and tracks[0]["kind"] == "uas"
    (al,) = alerts
    assert (al["kind"], al["other_id"], al["state"], al["severity"]) == (
        "zone_violation",
        "nofly-yuzhong",
        "raised",
        "critical",
    )
    assert al["first_time_utc"] == "2026-03-01T06:00:05.000Z"
    # The same alert is in the store (the stream is not the only copy).
    assert srv.store.get_alert(al["alert_id"])["state"] == "raised"
    assert {m["data"]["object_id"] for m in all_msgs if m["topic"] == "tracks"} == {
        "icao24:780abc",
        "uas:far",
        "uas:d1",
    }


def test_ws_operator_sees_only_its_fleet(srv: Srv) -> None:
    async def main() -> tuple[dict, list[dict]]:
        url = f"{srv.ws}/v1/stream/ws?key={srv.keys['fleet-b']}"
        async with websockets.connect(url) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), RECV_S))
            await post(srv, srv.keys["fleet-a"], drone_into_zone("uas:a1"))
            await post(srv, srv.keys["fleet-b"], drone_into_zone("uas:b1"))
            return hello, await recv_until(ws, is_alert("uas:b1"))

    hello, got = asyncio.run(main())
    assert hello["data"]["filters"]["owner"] == "fleet-b"
    assert {m["data"]["object_id"] for m in got} == {"uas:b1"}
    assert [m["data"]["owners"] for m in got if m["topic"] == "alerts"] == [["fleet-b"]]


def test_ws_refusals_and_keepalive(srv: Srv) -> None:
    async def refused(url: str) -> tuple[dict, int]:
        async with websockets.connect(url) as ws:
            msg = json.loads(await asyncio.wait_for(ws.recv(), RECV_S))
            with pytest.raises(websockets.ConnectionClosed) as exc:
                await asyncio.wait_for(ws.recv(), RECV_S)
            assert exc.value.rcvd is not None
            return msg, exc.value.rcvd.code

    async def main() -> None:
        msg, code = await refused(f"{srv.ws}/v1/stream/ws")
        assert (msg["topic"], msg["data"]["status"], code) == ("error", 401, 4401)
        msg, code = await refused(f"{srv.ws}/v1/stream/ws?key=kt_not-a-key")
        assert (msg["data"]["status"], code) == (401, 4401)
        k = srv.keys["public"]
        msg, code = await refused(f"{srv.ws}/v1/stream/ws?key={k}&bbox=106,31,107,30")
        assert (msg["data"]["status"], code) == (422, 4422) and "bbox" in msg["data"]["detail"]
        msg, code = await refused(f"{srv.ws}/v1/stream/ws?key={k}&topics=positions")
        assert code == 4422
        # keepalive: an idle public connection gets pings
        async with websockets.connect(f"{srv.ws}/v1/stream/ws?key={k}&ping_s=1") as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), RECV_S))
            assert hello["data"]["filters"]["public"] is True
            ping = json.loads(await asyncio.wait_for(ws.recv(), RECV_S))
            assert ping["topic"] == "ping" and ping["data"]["dropped"] == 0

    asyncio.run(main())


def test_ws_disconnect_unsubscribes(srv: Srv) -> None:
    async def main() -> None:
        async with websockets.connect(f"{srv.ws}/v1/stream/ws?key={srv.keys['admin']}") as ws:
            await asyncio.wait_for(ws.recv(), RECV_S)
            assert len(srv.service.hub.subscriptions) == 1
        for _ in range(100):
            if not srv.service.hub.subscriptions:
                break
            await asyncio.sleep(0.05)
        assert srv.service.hub.subscriptions == []

    asyncio.run(main())


def test_sse_tracks_and_alert(srv: Srv) -> None:
    async def main() -> list[tuple[str, dict]]:
        events: list[tuple[str, dict]] = []
        url = f"{srv.http}/v1/stream/sse?kinds=uas&alert_kinds=zone_violation"
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(url)
            assert r.status_code == 401 and "API key" in r.json()["detail"]
            headers = {"X-API-Key": srv.keys["regulator"]}
            async with client.stream("GET", url, headers=headers) as resp:
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                lines = resp.aiter_lines()
                posted = False
                event = None
                while True:
                    line = await asyncio.wait_for(lines.__anext__(), RECV_S)
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        msg = json.loads(line.split(":", 1)[1])
                        assert msg["topic"] == event
                        events.append((event, msg["data"]))
                        if event == "hello" and not posted:
                            posted = True
                            body = drone_into_zone("uas:s1") + [
                                report("icao24:780abc", 0, 29.55, 106.55, 900.0, "adsb")
                            ]
                            await post(srv, srv.keys["admin"], body)
                        if event == "alerts":
                            return events

    events = asyncio.run(main())
    for _ in range(100):  # the client went away: the server side unsubscribes
        if not srv.service.hub.subscriptions:
            break
        time.sleep(0.05)
    assert srv.service.hub.subscriptions == []
    assert events[0][0] == "hello"
    assert events[0][1]["filters"]["alert_kinds"] == ["zone_violation"]
    assert {d["object_id"] for e, d in events if e == "tracks"} == {"uas:s1"}
    assert [(d["object_id"], d["kind"]) for e, d in events if e == "alerts"] == [
        ("uas:s1", "zone_violation")
    ]
