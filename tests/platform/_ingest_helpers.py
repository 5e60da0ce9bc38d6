"""Helpers for the ingest tests: real brokers, worker subprocesses, unique names.

Nothing here fakes a service: the brokers are the ones running on 127.0.0.1 (or a
private ``mosquitto`` process started from the installed binary), the workers are
``python -m kongtian ingest ...`` processes.
"""

from __future__ import annotations

import getpass
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"


def unique(prefix: str = "h4") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def require_service(name: str, host: str, port: int) -> None:
    """Fail (not skip) with a clear message when a service the test needs is down."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(f"{name} is not reachable on {host}:{port} ({exc}); start it (CI: .ci/run)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Any, timeout_s: float, what: str, step_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def report_json(i: int, *, base: datetime | None = None, objects: int = 50) -> bytes:
    """One normalised report (reports-json) with a dedup key distinct for each ``i``."""
    t0 = base or datetime(2026, 1, 1, tzinfo=UTC)
    t = t0 + timedelta(seconds=i // objects, microseconds=(i % objects))
    rec = {
        "object_id": f"icao24:{0xA00000 + i % objects:06x}",
        "source": "adsb",
        "time_utc": t.isoformat().replace("+00:00", "Z"),
        "lat_deg": 29.5 + (i % 1000) * 1e-4,
        "lon_deg": 106.5 + (i % 997) * 1e-4,
        "alt_m": 1000.0,
        "alt_ref": "baro",
        "speed_m_s": 80.0,
        "track_deg": 90.0,
        "vrate_m_s": 0.0,
    }
    return json.dumps(rec).encode()


# ---------------------------------------------------------------------------- mosquitto
class Mosquitto:
    """A mosquitto process of our own (the installed binary) on a free port.

    ``max_queued_messages 0`` (no limit) so a persistent session keeps every QoS 1
    message while the worker is down; the shared broker's default (1000) would drop
    some and a test would measure the broker's configuration, not ours. Persistence is
    on: :meth:`restart` (SIGTERM, which saves the database, then start again on the same
    port) keeps sessions and queued messages.
    """

    def __init__(self, tmp: Path, *, max_queued: int = 0) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(self.binary).exists():
            pytest.fail("the mosquitto binary is not installed (apt-get install mosquitto)")
        self.port = free_port()
        (tmp / "mq").mkdir(exist_ok=True)
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {tmp / 'mq'}/\n"
            f"max_queued_messages {max_queued}\n"
            "max_inflight_messages 0\n"
            "log_dest none\n"
            # started as root mosquitto drops to user "mosquitto", who cannot write the
            # persistence file under our private tmp dir; stay the user we are
            f"user {getpass.getuser()}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"private mosquitto did not start on port {self.port}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@contextmanager
def private_mosquitto(tmp: Path, *, max_queued: int = 0) -> Iterator[int]:
    """:class:`Mosquitto` for the duration of a ``with`` block; yields its port."""
    broker = Mosquitto(tmp, max_queued=max_queued)
    try:
        yield broker.port
    finally:
        broker.stop()


# ---------------------------------------------------------------------------- workers
class Worker:
    """A ``kongtian ingest ...`` subprocess whose JSON stdout lines are collected."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.events: list[dict[str, Any]] = []
        self._ready: queue.Queue[dict[str, Any]] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kongtian", "ingest", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self.events.append(ev)
            if ev.get("event") == "ready":
                self._ready.put(ev)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr += line

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, Any]:
        try:
            return self._ready.get(timeout=timeout_s)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(
                f"worker {self.args[0]} not ready after {timeout_s} s; exit "
                f"{self.proc.poll()}; stderr: {self.stderr[-2000:]}"
            ) from None

    def batches(self) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == "batch"]

    def total(self, key: str) -> int:
        return sum(int(b.get(key, 0)) for b in self.batches())

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout_s: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("worker did not stop on SIGTERM") from None

    def idle_for(self, seconds: float) -> bool:
        """True when no batch was committed in the last ``seconds``."""
        n = len(self.batches())
        time.sleep(seconds)
        return len(self.batches()) == n
