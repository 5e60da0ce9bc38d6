"""``kongtian ingest mqtt|nats|tcp``: a standalone ingest worker writing to a store.

Used for scale-out: several workers (``nats`` sharing one durable consumer) commit
into one PostgreSQL store while ``kongtian serve`` answers the API. Each worker runs the
same :class:`~kongtian.platform.service.Service` as the server (zones and conflict checks
included; it loads zones and intents from the store at start).

The worker prints one JSON line when ready (``{"event": "ready", ...}``), one per
committed batch with ``--stats``, and a summary at exit; it stops on SIGTERM or SIGINT
after committing and acknowledging what it holds. Imports of paho/nats/duckdb/psycopg
happen inside the commands: every ``kongtian`` invocation imports this module.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Annotated, Any

import typer

from kongtian.errors import ConfigError

ingest_app = typer.Typer(
    help="Run a standalone ingest worker (MQTT, NATS JetStream or TCP) into a store.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL: duckdb:///path.db or postgresql://user@host:port/db?schema=name "
        "(env KONGTIAN_STORE_URL).",
    ),
]
BatchMaxOpt = Annotated[int, typer.Option("--batch-max", help="Messages per commit at most.")]
BatchWaitOpt = Annotated[
    float, typer.Option("--batch-wait-ms", help="Wait this long for a batch to fill (ms).")
]
StatsOpt = Annotated[bool, typer.Option("--stats", help="Print one JSON line per committed batch.")]
RefOpt = Annotated[
    str | None,
    typer.Option("--ref", help="Receiver position LAT,LON (deg) for ADS-B local CPR decoding."),
]
OwnerOpt = Annotated[
    str | None, typer.Option("--owner", help="Owner recorded on the reports (operator fleet).")
]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _ref(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"expected LAT,LON in degrees, got {text!r}", option="--ref") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"LAT,LON out of range: {text!r}", option="--ref")
    return lat, lon


def _open_service(store_url: str | None) -> Any:
    url = store_url or os.environ.get("KONGTIAN_STORE_URL")
    if not url:
        raise ConfigError("give a store URL (or set KONGTIAN_STORE_URL)", option="--store")
    from kongtian.platform.service import Service
    from kongtian.platform.store import open_store

    return Service(open_store(url))


def _close(service: Any) -> None:
    service.close()
    service.store.close()  # the service leaves its store to the caller


def _run(
    kind: str,
    store: str | None,
    stats: bool,
    make: Callable[[Any, Callable[[dict[str, Any]], None] | None], Any],
    info: Callable[[Any], dict[str, Any]],
) -> None:
    service = _open_service(store)
    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    on_batch = (lambda b: _emit({"event": "batch", "pid": os.getpid(), **b})) if stats else None
    try:
        adapter = make(service, on_batch)
        adapter.start()
    except BaseException:
        _close(service)
        raise
    try:
        _emit({"event": "ready", "adapter": kind, "pid": os.getpid(), **info(adapter)})
        while not done.wait(0.5):
            pass
    finally:
        adapter.stop()
        _emit({"event": "stopped", "adapter": kind, "pid": os.getpid(), **adapter.stats.to_dict()})
        _close(service)


@ingest_app.command("mqtt")
def ingest_mqtt(
    store: StoreOpt = None,
    url: Annotated[str, typer.Option("--url", help="Broker, mqtt://host[:port].")] = (
        "mqtt://127.0.0.1:1883"
    ),
    prefix: Annotated[
        str, typer.Option("--prefix", help="Topic prefix: <prefix>/<format>[/...].")
    ] = "kongtian/ingest",
    client_id: Annotated[
        str,
        typer.Option("--client-id", help="Fixed client id: the broker keeps its session."),
    ] = "kongtian-ingest",
    batch_max: BatchMaxOpt = 2000,
    batch_wait_ms: BatchWaitOpt = 50.0,
    ref: RefOpt = None,
    owner: OwnerOpt = None,
    stats: StatsOpt = False,
) -> None:
    """Subscribe to <prefix>/# (QoS 1, persistent session) and commit to the store."""
    from kongtian.platform.ingest.mqtt import MqttIngest, parse_mqtt_url

    parse_mqtt_url(url)
    ref_ll = _ref(ref)

    def make(service: Any, on_batch: Any) -> Any:
        return MqttIngest(
            service,
            url=url,
            topics=(prefix.rstrip("/") + "/#",),
            client_id=client_id,
            batch_max=batch_max,
            batch_wait_s=batch_wait_ms / 1000.0,
            prefix=prefix,
            ref=ref_ll,
            owner=owner,
            on_batch=on_batch,
        )

    _run(
        "mqtt", store, stats, make, lambda a: {"url": url, "prefix": prefix, "client_id": client_id}
    )


@ingest_app.command("nats")
def ingest_nats(
    store: StoreOpt = None,
    url: Annotated[str, typer.Option("--url", help="NATS server, nats://host[:port].")] = (
        "nats://127.0.0.1:4222"
    ),
    stream: Annotated[str, typer.Option("--stream", help="JetStream stream name.")] = (
        "KONGTIAN_INGEST"
    ),
    durable: Annotated[
        str, typer.Option("--durable", help="Durable consumer name, shared by all workers.")
    ] = "kongtian-ingest",
    prefix: Annotated[
        str, typer.Option("--prefix", help="Subject prefix: <prefix>.<format>[.anything].")
    ] = "kongtian.ingest",
    batch_max: BatchMaxOpt = 2000,
    batch_wait_ms: BatchWaitOpt = 50.0,
    max_ack_pending: Annotated[
        int, typer.Option("--max-ack-pending", help="Unacked messages over all workers, at most.")
    ] = 20_000,
    ref: RefOpt = None,
    owner: OwnerOpt = None,
    stats: StatsOpt = False,
) -> None:
    """Pull from a JetStream durable consumer (shared by all workers) and commit."""
    from kongtian.platform.ingest.nats import NatsIngest

    ref_ll = _ref(ref)

    def make(service: Any, on_batch: Any) -> Any:
        return NatsIngest(
            service,
            url=url,
            stream=stream,
            durable=durable,
            batch_max=batch_max,
            batch_wait_s=batch_wait_ms / 1000.0,
            prefix=prefix,
            max_ack_pending=max_ack_pending,
            ref=ref_ll,
            owner=owner,
            on_batch=on_batch,
        )

    _run("nats", store, stats, make, lambda a: {"url": url, "stream": stream, "durable": durable})


@ingest_app.command("tcp")
def ingest_tcp(
    protocol: Annotated[str, typer.Argument(help="jt808, beast, avr or ais.")],
    store: StoreOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 = any free one).")] = 0,
    ref: RefOpt = None,
    owner: OwnerOpt = None,
    stats: StatsOpt = False,
) -> None:
    """Listen for JT/T 808 terminals or Beast/AVR/AIS NMEA feeds and commit."""
    from kongtian.platform.ingest.tcp import PROTOCOLS, TcpIngest

    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"must be one of {', '.join(PROTOCOLS)}, got {protocol!r}", option="PROTOCOL"
        )
    if not 0 <= port <= 65535:
        raise ConfigError(f"must be 0..65535, got {port}", option="--port")
    ref_ll = _ref(ref)

    def make(service: Any, on_batch: Any) -> Any:
        return TcpIngest(service, protocol, host, port, ref=ref_ll, owner=owner, on_batch=on_batch)

    # the bound port (for --port 0) is known only once the listener started
    _run("tcp", store, stats, make, lambda a: {"protocol": protocol, "host": host, "port": a.port})
