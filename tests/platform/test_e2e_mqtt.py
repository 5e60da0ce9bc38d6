"""Acceptance: recorded AIS and ADS-B published through Mosquitto to a running
``kongtian serve --mqtt ...`` (real uvicorn); the tracks and the zone alert arrive on
the WebSocket ``/v1/stream/ws``.

Data: pyModeS's ``sample_data_adsb.csv`` (aircraft 406b90 crossing the Netherlands at
FL360, 2016-03-14) as ``modes-csv`` payloads, and pyais's ``nmea_data_sample.txt`` (real
AIS traffic) as ``ais`` payloads. The no-fly zone is a 0.1-degree box around the
aircraft's position half-way through the recording, so the track enters it. A private
Mosquitto is used so the server's fixed MQTT client id and persistent session cannot
collide with other tests on the shared broker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from tests.platform._ingest_helpers import free_port, private_mosquitto, unique

DATA = Path(__file__).parents[1] / "data" / "traffic"
ADSB_CSV = DATA / "adsb" / "pymodes_sample_data_adsb.csv"
AIS_NMEA = DATA / "ais" / "pyais_nmea_data_sample.txt"
AIRCRAFT = "icao24:406b90"


def _zone_around_midpoint() -> dict[str, Any]:
    from kongtian.traffic.decode.io import decode_file

    table, _ = decode_file(ADSB_CSV, "modes-csv")
    table = table.filter(pc.is_valid(table.column("lat_deg"))).sort_by("time_utc")
    mid = table.slice(table.num_rows // 2, 1).to_pylist()[0]
    lat, lon, d = mid["lat_deg"], mid["lon_deg"], 0.05
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {
        "type": "Feature",
        "id": "e2e-no-fly",
        "properties": {"kind": "no-fly", "name": "e2e box on the 406b90 track"},
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }


def _http(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("X-API-Key", key)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def _wait_health(base: str, proc: subprocess.Popen[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kongtian serve exited {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("kongtian serve did not answer /health")


def _chunks(lines: list[str], n: int) -> list[bytes]:
    return ["\n".join(lines[i : i + n]).encode() for i in range(0, len(lines), n)]


def test_recorded_ais_and_adsb_through_mosquitto_to_websocket(tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt
    from websockets.sync.client import connect

    zone = _zone_around_midpoint()
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    with private_mosquitto(tmp_path) as mqtt_port:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kongtian",
                "serve",
                "--dev",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(http_port),
                "--mqtt",
                f"mqtt://127.0.0.1:{mqtt_port}",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_health(base, server)
            keys = json.loads((tmp_path / "data" / "dev-keys.json").read_text())
            status, _ = _http("POST", base + "/v1/traffic/zones", keys["regulator"], zone)
            assert status == 201

            received: list[dict[str, Any]] = []
            done = threading.Event()
            ws_url = f"ws://127.0.0.1:{http_port}/v1/stream/ws?key={keys['regulator']}"

            def listen() -> None:
                with connect(ws_url, open_timeout=10) as ws:
                    received.append(json.loads(ws.recv(timeout=10)))  # hello
                    listening.set()
                    while not done.is_set():
                        try:
                            received.append(json.loads(ws.recv(timeout=0.5)))
                        except TimeoutError:
                            continue

            listening = threading.Event()
            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            assert listening.wait(15), "WebSocket hello not received"

            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("pub"))
            pub.connect("127.0.0.1", mqtt_port)
            pub.loop_start()
            adsb_lines = ADSB_CSV.read_text().splitlines()
            ais_lines = AIS_NMEA.read_text(encoding="latin-1").splitlines()
            infos = [
                pub.publish("kongtian/ingest/modes-csv/pymodes", p, qos=1)
                for p in _chunks(adsb_lines, 100)
            ]
            infos += [
                pub.publish("kongtian/ingest/ais/pyais", p, qos=1) for p in _chunks(ais_lines, 50)
            ]
            for info in infos:
                info.wait_for_publish(10)

            def seen() -> tuple[set[str], list[dict[str, Any]]]:
                tracks = {
                    str(m["data"].get("object_id"))
                    for m in list(received)
                    if m.get("topic") == "tracks"
                }
                alerts = [m["data"] for m in list(received) if m.get("topic") == "alerts"]
                return tracks, alerts

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                tracks, alerts = seen()
                ours = [a for a in alerts if a.get("object_id") == AIRCRAFT]
                if AIRCRAFT in tracks and any(t.startswith("mmsi:") for t in tracks) and ours:
                    break
                time.sleep(0.2)
            done.set()
            listener.join(5)
            pub.disconnect()
            pub.loop_stop()
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
    tracks, alerts = seen()
    ours = [a for a in alerts if a.get("object_id") == AIRCRAFT]
    ships = sorted(t for t in tracks if t.startswith("mmsi:"))
    print(
        f"\ne2e MQTT->WebSocket: {len(adsb_lines)} ADS-B frames + {len(ais_lines)} AIS lines "
        f"published; WebSocket got {len(received)} messages: tracks of {len(tracks)} objects "
        f"({len(ships)} ships, aircraft {AIRCRAFT in tracks}), {len(alerts)} alerts, "
        f"{len(ours)} for {AIRCRAFT}: {[(a.get('kind'), a.get('state')) for a in ours][:4]}"
    )
    assert AIRCRAFT in tracks
    assert ships, "no AIS track on the WebSocket"
    assert ours, "no alert for the aircraft entering the no-fly zone"
    assert any("e2e-no-fly" in json.dumps(a) for a in ours)
