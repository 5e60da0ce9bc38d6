"""``kongtian serve`` and ``kongtian keys create|list|revoke``.

``serve`` opens the store (the DuckDB file ``<data-dir>/kongtian.duckdb`` unless
``--store`` names another), starts the ingest adapters the options ask for (MQTT, NATS
JetStream) and runs the API with uvicorn. Without ``--dev`` no key exists until an admin
creates one: ``kongtian keys create --role admin --data-dir DIR`` prints it once. With
``--dev`` the server creates one key per role at start, prints them and writes them to
``<data-dir>/dev-keys.json``: for trying the service out, never for a deployment.

The embedded DuckDB file admits one process at a time: create keys before starting the
server, or through ``POST /v1/admin/keys`` while it runs (PostgreSQL has no such limit).

Module-level imports stay light (typer, stdlib): every ``kongtian`` invocation imports
this module. FastAPI, uvicorn and the store backends are imported inside the commands.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kongtian.errors import ConfigError

if TYPE_CHECKING:
    from kongtian.platform.config import Settings
    from kongtian.platform.store.base import Store

keys_app = typer.Typer(
    help="Manage API keys in a store (keys are stored hashed; shown once).",
    no_args_is_help=True,
)

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder of the embedded store and job results (env KONGTIAN_DATA_DIR)."
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL: duckdb:///path.db or postgresql://user@host:port/db?schema=name "
        "(env KONGTIAN_STORE_URL; default: <data-dir>/kongtian.duckdb).",
    ),
]


def _open(settings: Settings) -> Store:
    from kongtian.platform.store import open_store

    url = settings.resolved_store_url
    path = url[len("duckdb://") :] if url.startswith("duckdb://") else ":memory:"
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open_store(url)


def _settings(**options: Any) -> Settings:
    from kongtian.platform.config import Settings

    return Settings.load(**options)


def _safe_url(url: str) -> str:
    """The URL with any password masked (it is printed)."""
    import re

    return re.sub(r"(//[^/:@]+):[^/@]*@", r"\1:***@", url)


def _iso(v: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return v


def _dev_banner(keys: dict[str, str], path: Path) -> None:
    line = "!" * 72
    err = sys.stderr
    print(line, file=err)
    print("!! DEV MODE: one API key per role was created for trying the service out.", file=err)
    print("!! Anyone holding these keys has that role. Never use --dev in production.", file=err)
    for role, key in keys.items():
        print(f"!!   {role:<10} {key}", file=err)
    print(f"!! (also written to {path})", file=err)
    print(line, file=err)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (env KONGTIAN_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (env KONGTIAN_PORT; default 8080).")
    ] = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Dev mode: create and print one key per role.")
    ] = False,
    mqtt: Annotated[
        str | None,
        typer.Option("--mqtt", help="Subscribe to this MQTT broker, mqtt://host:port (QoS 1)."),
    ] = None,
    mqtt_topic: Annotated[
        list[str] | None,
        typer.Option("--mqtt-topic", help="Topic filter (repeatable; default kongtian/ingest/#)."),
    ] = None,
    mqtt_client_id: Annotated[
        str | None,
        typer.Option("--mqtt-client-id", help="MQTT client id (default kongtian-serve)."),
    ] = None,
    nats: Annotated[
        str | None,
        typer.Option("--nats", help="Consume the KONGTIAN_INGEST JetStream stream at nats://..."),
    ] = None,
    ingest_owner: Annotated[
        str | None,
        typer.Option("--ingest-owner", help="Owner (fleet) recorded on MQTT/NATS reports."),
    ] = None,
    rate_per_s: Annotated[
        float | None,
        typer.Option("--rate-per-s", help="Requests per second per key (0 = unlimited)."),
    ] = None,
    rate_burst: Annotated[
        float | None, typer.Option("--rate-burst", help="Burst size per key (requests).")
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option(help="Report retention per source, e.g. 'remoteid=24h,*=180d'."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Run the platform service (HTTP API, live streams, ingest) until interrupted."""
    from kongtian.platform.config import parse_retention

    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise ConfigError(f"unknown level {log_level!r}", option="--log-level")
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        store_url=store,
        dev=dev or None,
        mqtt_url=mqtt,
        mqtt_topics=tuple(mqtt_topic) if mqtt_topic else None,
        mqtt_client_id=mqtt_client_id,
        nats_url=nats,
        ingest_owner=ingest_owner,
        rate_per_s=rate_per_s,
        rate_burst=rate_burst,
        retention_s=parse_retention(retention, option="--retention") if retention else None,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    import uvicorn

    from kongtian.platform.api.app import create_app
    from kongtian.platform.service import Service

    st = _open(settings)
    service = Service(st, settings=settings)
    app = None
    try:
        if settings.dev:
            from kongtian.platform.auth import create_dev_keys

            keys = create_dev_keys(st)
            path = settings.data_dir / "dev-keys.json"
            path.write_text(json.dumps(keys, indent=2) + "\n", encoding="utf-8")
            os.chmod(path, 0o600)
            _dev_banner(keys, path)
        else:
            from kongtian.platform.auth import revoke_dev_keys

            if n := revoke_dev_keys(st):
                print(f"kongtian: revoked {n} key(s) left by an earlier --dev run", file=sys.stderr)
            (settings.data_dir / "dev-keys.json").unlink(missing_ok=True)
        if not settings.dev and not any(
            k.get("role") == "admin" and not k.get("revoked_utc") for k in st.list_keys()
        ):
            print(
                "kongtian: no admin key yet; create one with "
                f"`kongtian keys create --role admin --data-dir {settings.data_dir}` "
                "(before starting the server when the store is the embedded DuckDB file)",
                file=sys.stderr,
            )
        app = create_app(service, settings, start_adapters=False)
        # Start the adapters here so a broker that is down is one clear error line (exit 2).
        app.state.adapters.start(service, settings)
        print(
            f"kongtian: serving on http://{settings.host}:{settings.port} "
            f"(docs: /docs, store: {_safe_url(settings.resolved_store_url)})",
            file=sys.stderr,
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
    finally:
        if app is not None:
            app.state.adapters.stop()
        service.close()
        st.close()


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="public, operator, regulator or admin.")],
    owner: Annotated[
        str | None, typer.Option(help="Fleet the key owns (required for operator).")
    ] = None,
    label: Annotated[str, typer.Option(help="Free text to recognise the key.")] = "",
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Create a key and print it once (JSON on stdout); only its SHA-256 is stored."""
    from kongtian.platform.auth import check_role, create_key

    check_role(role, owner)
    settings = _settings(data_dir=data_dir, store_url=store)
    st = _open(settings)
    try:
        rec, key = create_key(st, role, owner=owner, label=label)
    finally:
        st.close()
    out = {**{k: _iso(v) for k, v in rec.items()}, "key": key}
    typer.echo(json.dumps(out))
    print("kongtian: store this key now; it cannot be shown again", file=sys.stderr)


@keys_app.command("list")
def keys_list(data_dir: DataDirOpt = None, store: StoreOpt = None) -> None:
    """List keys (id, role, owner, label, created, revoked) as JSON lines."""
    settings = _settings(data_dir=data_dir, store_url=store)
    st = _open(settings)
    try:
        for rec in st.list_keys():
            rec = {k: _iso(v) for k, v in rec.items() if k != "key_hash"}
            typer.echo(json.dumps(rec, default=str))
    finally:
        st.close()


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (key_...), not the key text.")],
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Revoke a key; a running server notices within a few seconds."""
    settings = _settings(data_dir=data_dir, store_url=store)
    st = _open(settings)
    try:
        st.revoke_key(key_id)
    finally:
        st.close()
    typer.echo(json.dumps({"key_id": key_id, "revoked": True}))
