"""Run the demo: the platform service on its embedded defaults with live demo traffic.

What :func:`run_demo_service` does, in order:

1. opens the embedded store, the DuckDB file ``<data-dir>/kongtian.duckdb`` (never the
   ``KONGTIAN_STORE_URL`` of a real deployment), and a :class:`~kongtian.platform.service.Service`
   with its in-process live hub: no PostgreSQL, MQTT or NATS;
2. writes the Chongqing demo zones into the store (overwriting earlier versions);
3. creates dev-mode keys, one per role (the operator key owns the simulated fleet,
   :data:`FLEET_OWNER`), prints them with the URL and an example ``curl``, and writes
   them to ``<data-dir>/dev-keys.json``;
4. serves the API (:func:`~kongtian.platform.api.app.create_app` + uvicorn) while a
   feeder thread pushes, once per wall-clock second, everything that fell due on the
   demo clock (``speed`` x wall time since the start): the simulated fleet's 1 Hz
   reports through ``Service.ingest_reports`` and the recorded ADS-B / AIS through
   ``Service.ingest_reports`` / ``Service.ingest_raw`` (the calls the HTTP and broker
   ingest paths make);
5. stops on Ctrl-C or after ``duration`` seconds, then prints what was ingested.

The shipped constellation catalogs (Qianfan, Starlink, OneWeb) are served by the space
API as built-in catalogs; the demo does not copy them into the store.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kongtian.errors import ConfigError

log = logging.getLogger("kongtian.demo")

#: Owner of the simulated fleet's reports; the dev operator key owns this fleet.
FLEET_OWNER = "sim-fleet"
DEFAULT_DATA_DIR = Path("kongtian-demo-data")


class Feeder(threading.Thread):
    """Pushes the fleet and the recordings into the service once per wall second."""

    def __init__(self, service: Any, *, start_utc: datetime, speed: float, seed: int,
                 n_delivery: int, out: TextIO | None = None, status_every_s: float = 10.0
                 ) -> None:  # fmt: skip
        super().__init__(name="kongtian-demo-feeder", daemon=True)
        from kongtian.platform.demo.fleet import Fleet
        from kongtian.platform.demo.recorded import Replayer, load_recordings

        self.service = service
        self.start_utc = start_utc
        self.speed = speed
        self.fleet = Fleet.chongqing(n_delivery=n_delivery, seed=seed)
        self.replayer = Replayer(load_recordings(), start_utc)
        self.stop_event = threading.Event()
        self.out = out
        self.status_every_s = status_every_s
        self.fed_to_s = 0.0  # demo time (s) fed so far (exclusive)
        self.counts: dict[str, int] = {"fleet": 0, "recorded": 0, "raw_payloads": 0, "alerts": 0}
        self.errors = 0

    def run(self) -> None:
        wall0 = time.monotonic()
        next_status = self.status_every_s
        while not self.stop_event.is_set():
            demo_s = (time.monotonic() - wall0) * self.speed
            # Feed up to and including the current demo second.
            self.feed_until(float(int(demo_s) + 1))
            if self.out is not None and demo_s / self.speed >= next_status:
                next_status += self.status_every_s
                self._status(demo_s)
            wait = 1.0 - ((time.monotonic() - wall0) % 1.0)
            self.stop_event.wait(wait)

    def feed_until(self, t1_s: float) -> None:
        """Ingest everything due on the demo clock in ``[fed_to_s, t1_s)``."""
        t0_s = self.fed_to_s
        if t1_s <= t0_s:
            return
        try:
            fleet = self.fleet.reports(self.start_utc, t0_s, t1_s)
            res = self.service.ingest_reports(fleet, owner=FLEET_OWNER, origin="demo:fleet")
            self.counts["fleet"] += res.accepted
            self.counts["alerts"] += res.alerts
        except Exception:  # noqa: BLE001 - the demo keeps running; the service logged why
            log.exception("demo: feeding the simulated fleet failed")
            self.errors += 1
        for b in self.replayer.due(t0_s, t1_s):
            try:
                origin = f"demo:{b.recording}"
                if b.reports is not None:
                    res = self.service.ingest_reports(b.reports, owner=None, origin=origin)
                    self.counts["recorded"] += res.accepted
                else:
                    assert b.fmt is not None
                    res = self.service.ingest_raw(b.fmt, list(b.payloads),
                                                  received_utc=b.received_utc, origin=origin,
                                                  ref=b.ref)  # fmt: skip
                    self.counts["recorded"] += res.accepted
                    self.counts["raw_payloads"] += len(b.payloads)
                self.counts["alerts"] += res.alerts
            except Exception:  # noqa: BLE001
                log.exception("demo: replaying %s failed", b.recording)
                self.errors += 1
        self.fed_to_s = t1_s

    def _status(self, demo_s: float) -> None:
        m = self.service.metrics
        c = self.counts
        print(f"demo t+{demo_s:5.0f} s: {c['fleet']} simulated + {c['recorded']} recorded "
              f"reports, {m.get('tracks', 0)} tracks, {m.get('active_alerts', 0)} active "
              f"alerts", file=self.out, flush=True)  # fmt: skip


def _open_store(data_dir: Path) -> Any:
    from kongtian.platform.store import open_store

    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / "kongtian.duckdb").resolve()
    try:
        return open_store(f"duckdb://{path}")
    except Exception as exc:  # noqa: BLE001 - DuckDB's lock error names no option
        raise ConfigError(
            f"cannot open the demo store {path} ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); is another demo or "
            "server using this folder?",
            option="--data-dir",
        ) from None


def _check_port(host: str, port: int) -> None:
    """Fail early, as one option error, if ``host:port`` cannot be bound (uvicorn would
    only log it after the banner was printed)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"cannot resolve {host!r}: {exc}", option="--host") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", option="--port"
            ) from None


def _banner(url: str, keys: dict[str, str], keys_path: Path, out: TextIO) -> None:
    line = "=" * 78
    reg = keys.get("regulator", next(iter(keys.values()), ""))
    print(line, file=out)
    print(f"kongtian demo: serving {url}   (OpenAPI docs: {url}/docs)", file=out)
    print("Chongqing scenario: demo zones, a SIMULATED UAV fleet (uas:sim-*, simulated=true),",
          file=out)  # fmt: skip
    print("recorded ADS-B (Zurich, Toulouse) and AIS (Greek waters) replayed where recorded.",
          file=out)  # fmt: skip
    print("DEV MODE: one API key per role, for trying the service out only:", file=out)
    for role, key in keys.items():
        print(f"  {role:<10} {key}", file=out)
    print(f"  (also in {keys_path})", file=out)
    print("Try:", file=out)
    print(f'  curl -H "X-API-Key: {reg}" "{url}/v1/traffic/tracks?kinds=uas"', file=out)
    print(f'  curl -H "X-API-Key: {reg}" "{url}/v1/traffic/alerts"', file=out)
    print("Stop with Ctrl-C.", file=out)
    print(line, file=out, flush=True)


def run_demo_service(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    data_dir: Path = DEFAULT_DATA_DIR,
    speed: float = 1.0,
    duration_s: float | None = None,
    seed: int = 20260501,
    n_delivery: int = 90,
    out: TextIO | None = None,
    log_level: str = "warning",
) -> dict[str, Any]:
    """Run the demo service until Ctrl-C or ``duration_s``; returns the final counters."""
    out = out or sys.stdout
    if not (speed > 0 and speed <= 1000):
        raise ConfigError(f"must be in (0, 1000], got {speed:g}", option="--speed")
    if duration_s is not None and not duration_s > 0:
        raise ConfigError(f"must be > 0 s, got {duration_s:g}", option="--duration")
    if not 0 <= n_delivery <= 10_000:
        raise ConfigError(f"must be in [0, 10000], got {n_delivery}", option="--uavs")
    from kongtian.platform.config import Settings

    _check_port(host, port)
    data_dir = Path(data_dir)
    store_path = (data_dir / "kongtian.duckdb").resolve()
    settings = Settings.load(host=host, port=port, data_dir=data_dir, dev=True,
                             store_url=f"duckdb://{store_path}")  # fmt: skip

    import uvicorn

    from kongtian.platform.api.app import create_app
    from kongtian.platform.auth import create_dev_keys
    from kongtian.platform.demo.zones import demo_features
    from kongtian.platform.service import Service

    store = _open_store(data_dir)
    service = None
    feeder = None
    try:
        for f in demo_features():
            store.put_zone(f)
        service = Service(store, settings=settings)
        service.reload_zones()
        keys = create_dev_keys(store, owner=FLEET_OWNER)
        keys_path = data_dir / "dev-keys.json"
        keys_path.write_text(json.dumps(keys, indent=2) + "\n", encoding="utf-8")
        os.chmod(keys_path, 0o600)
        app = create_app(service, settings, start_adapters=False)
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level)
        server = uvicorn.Server(config)
        start = datetime.now(UTC).replace(microsecond=0)
        feeder = Feeder(service, start_utc=start, speed=speed, seed=seed,
                        n_delivery=n_delivery, out=out)  # fmt: skip
        url = f"http://{host}:{port}"
        _banner(url, keys, keys_path, out)
        feeder.start()
        timer = None
        if duration_s is not None:
            timer = threading.Timer(duration_s, lambda: setattr(server, "should_exit", True))
            timer.daemon = True
            timer.start()
        server.run()  # handles Ctrl-C (SIGINT) and SIGTERM itself
        if timer is not None:
            timer.cancel()
    finally:
        if feeder is not None:
            feeder.stop_event.set()
            feeder.join(timeout=30)
        metrics = dict(service.metrics) if service is not None else {}
        if service is not None:
            service.close()
        store.close()
    result = {"fed_demo_s": feeder.fed_to_s if feeder else 0.0,
              **(feeder.counts if feeder else {}), "feeder_errors": feeder.errors if feeder else 0,
              "reports_ingested": metrics.get("reports_ingested", 0),
              "alerts_raised": metrics.get("alerts_raised", 0)}  # fmt: skip
    print("kongtian demo stopped: " + json.dumps(result), file=out, flush=True)
    return result
