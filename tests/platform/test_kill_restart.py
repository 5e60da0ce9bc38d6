"""Acceptance: kill the ingest worker mid-stream (SIGKILL), restart it, lose nothing.

N normalised reports (reports-json, each with its own dedup key) are published with
QoS 1 to a real Mosquitto (a private instance, so its offline queue is unlimited and
the test measures our delivery, not the broker's ``max_queued_messages``) while the
worker ``kongtian ingest mqtt --store duckdb:///...`` is SIGKILLed at random moments
at least three times and restarted each time. At the end the store must hold exactly
N reports, each dedup key once. A second test does the same to ``kongtian serve --mqtt``
(the API server with its MQTT adapter). Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyarrow.compute as pc

from tests.platform._ingest_helpers import (
    Worker,
    free_port,
    private_mosquitto,
    report_json,
    unique,
    wait_until,
)

N = int(os.environ.get("KT_KILL_N", "3000"))
KILLS = int(os.environ.get("KT_KILL_COUNT", "4"))
RATE = 400.0  # messages/s while the stream flows


class Publisher(threading.Thread):
    """Publishes ``n`` reports with QoS 1 at ``RATE`` messages/s, but never beyond
    :attr:`allowed`: the test releases the stream in chunks, one per worker life, so
    every kill lands while messages are still flowing however slow a restart is."""

    def __init__(self, port: int, topic: str, n: int) -> None:
        super().__init__(daemon=True)
        self.port, self.topic, self.n = port, topic, n
        self.allowed = 0
        self.acked: list[int] = []
        self.error: BaseException | None = None

    def allow(self, more: int) -> None:
        self.allowed = min(self.n, self.allowed + more)

    def run(self) -> None:
        import paho.mqtt.client as mqtt

        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("pub"))
        pub.max_inflight_messages_set(200)
        pub.max_queued_messages_set(0)
        pub.on_publish = lambda c, u, mid, rc, props: self.acked.append(mid)
        pub.connect("127.0.0.1", self.port)
        pub.loop_start()
        try:
            for i in range(self.n):
                while i >= self.allowed:
                    time.sleep(0.005)
                pub.publish(self.topic, report_json(i), qos=1)
                time.sleep(1.0 / RATE)
            wait_until(lambda: len(self.acked) >= self.n, 60, "the broker's PUBACKs")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            pub.disconnect()
            pub.loop_stop()


def _count(db: Path) -> tuple[int, int, int]:
    """(rows, distinct dedup keys, rows of our generated objects) in the DuckDB file."""
    from kongtian.platform.store import open_store

    store = open_store(f"duckdb://{db}")
    try:
        rows = store.count_reports()
        table = store.query_reports(limit=10 * N)
    finally:
        store.close()
    cols = ["object_id", "source", "time_utc"]
    distinct = table.select(cols).group_by(cols).aggregate([]).num_rows
    ours = pc.starts_with(table.column("object_id"), "icao24:a").to_numpy(zero_copy_only=False)
    return rows, distinct, int(ours.sum())


def test_kill_and_restart_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    prefix = f"{unique('kt')}/ingest"
    client_id = unique("worker")
    rng = random.Random(int(os.environ.get("KT_KILL_SEED", str(time.time_ns()))))
    with private_mosquitto(tmp_path) as port:
        args = [
            "mqtt",
            "--store",
            f"duckdb://{db}",
            "--url",
            f"mqtt://127.0.0.1:{port}",
            "--prefix",
            prefix,
            "--client-id",
            client_id,
            "--batch-max",
            "200",
            "--stats",
        ]
        workers = [Worker(args)]
        workers[0].wait_ready()
        pub = Publisher(port, f"{prefix}/reports-json/test", N)
        chunk = N // (KILLS + 1)
        pub.allow(chunk)
        t0 = time.monotonic()
        pub.start()
        kills = []
        for _ in range(KILLS):
            # a random moment in this worker's life, while its chunk of the stream flows
            time.sleep(rng.uniform(0.3, chunk / RATE))
            w = workers[-1]
            committed = w.total("messages")
            w.kill()
            kills.append((round(time.monotonic() - t0, 2), len(pub.acked), committed))
            workers.append(Worker(args))
            workers[-1].wait_ready()
            pub.allow(chunk if len(kills) < KILLS else N)
        pub.join()
        assert pub.error is None, pub.error
        assert len(pub.acked) >= N, "the broker did not acknowledge every publish"
        last = workers[-1]
        # drain: the last worker commits what the broker still holds for its session
        wait_until(lambda: last.idle_for(2.0), 120, "the last worker to go idle", step_s=0)
        assert last.terminate() == 0, last.stderr[-2000:]

    rows, distinct, ours = _count(db)
    redelivered = sum(w.total("redelivered") for w in workers)
    duplicates = sum(w.total("duplicates") for w in workers)
    messages = sum(w.total("messages") for w in workers)
    print(
        f"\nkill-restart: N={N} published (QoS 1, {RATE:.0f}/s), {len(kills)} SIGKILLs at "
        f"(t s, publishes acked by broker, messages committed by the killed worker) = {kills}"
    )
    print(
        f"kill-restart: stored rows={rows}, distinct dedup keys={distinct}; messages "
        f"committed over all runs={messages}; MQTT redeliveries seen (DUP flag)={redelivered}; "
        f"duplicates absorbed by the store={duplicates}"
    )
    assert len(kills) >= 3
    assert ours == N
    assert rows == N, f"stored {rows} reports, published {N}"
    assert distinct == N, f"{rows - distinct} reports stored twice"


def _serve(db: Path, data_dir: Path, http_port: int, mqtt_port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kongtian",
            "serve",
            "--dev",
            "--store",
            f"duckdb://{db}",
            "--data-dir",
            str(data_dir),
            "--port",
            str(http_port),
            "--mqtt",
            f"mqtt://127.0.0.1:{mqtt_port}",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _health(http_port: int) -> dict | None:  # type: ignore[type-arg]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=2) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def test_kill_and_restart_the_server_loses_nothing(tmp_path: Path) -> None:
    """The same with ``kongtian serve --mqtt`` (API server with its MQTT adapter) as the
    process killed; its adapter counters come from ``GET /health`` while it lives."""
    n = int(os.environ.get("KT_KILL_SERVE_N", "2000"))
    db = tmp_path / "serve.duckdb"
    rng = random.Random(int(os.environ.get("KT_KILL_SEED", str(time.time_ns()))))
    http_port = free_port()
    last_stats: list[dict] = []  # type: ignore[type-arg]

    def start() -> subprocess.Popen[str]:
        proc = _serve(db, tmp_path / "data", http_port, port)
        wait_until(lambda: _health(http_port) is not None, 90, "kongtian serve /health")
        last_stats.append({})
        return proc

    def remember() -> None:
        h = _health(http_port)
        if h is not None:
            last_stats[-1] = (h.get("ingest") or {}).get("mqtt", {})

    with private_mosquitto(tmp_path) as port:
        server = start()
        pub = Publisher(port, "kongtian/ingest/reports-json/t", n)
        chunk = n // 4
        pub.allow(chunk)
        t0 = time.monotonic()
        pub.start()
        kills = []
        try:
            for k in range(3):
                until = time.monotonic() + rng.uniform(0.3, chunk / RATE)
                while time.monotonic() < until:
                    remember()
                    time.sleep(0.1)
                server.kill()
                server.wait(30)
                kills.append((round(time.monotonic() - t0, 2), len(pub.acked)))
                server = start()
                pub.allow(chunk if k < 2 else n)
            pub.join()
            assert pub.error is None, pub.error
            previous = -1
            while True:  # drain: until the server's counters stop moving
                time.sleep(1.5)
                remember()
                now = int(last_stats[-1].get("messages", 0))
                if now == previous:
                    break
                previous = now
        finally:
            server.terminate()
            server.wait(30)
    rows, distinct, ours = _count(db)
    redelivered = sum(int(s.get("redelivered", 0)) for s in last_stats)
    duplicates = sum(int(s.get("duplicates", 0)) for s in last_stats)
    print(
        f"\nkill-restart (kongtian serve --mqtt): N={n}, SIGKILLs at (t s, publishes acked) = "
        f"{kills}; stored rows={rows}, distinct dedup keys={distinct}; redeliveries seen "
        f"(DUP, as last read from /health)={redelivered}, duplicates absorbed={duplicates}"
    )
    assert len(kills) == 3
    assert ours == n
    assert rows == n
    assert distinct == n
