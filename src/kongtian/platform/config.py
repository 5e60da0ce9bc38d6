"""Settings of the platform service: where data lives, how to bind, limits, ingest feeds.

:class:`Settings` is filled from command-line options (highest priority), then
``KONGTIAN_*`` environment variables, then defaults; :meth:`Settings.load` does that
merge and checks every value, raising :class:`~kongtian.errors.ConfigError` naming the
option (``--port``) or variable (``KONGTIAN_PORT``) at fault.

Environment variables (all optional; default in brackets):

- ``KONGTIAN_DATA_DIR``: folder of the embedded store and job results [``./kongtian-data``];
- ``KONGTIAN_STORE_URL``: ``duckdb:///x.db`` or ``postgresql://...`` [DuckDB file
  ``<data dir>/kongtian.duckdb``];
- ``KONGTIAN_HOST``, ``KONGTIAN_PORT``: bind address [127.0.0.1, 8080];
- ``KONGTIAN_DEV``: ``1`` = dev mode, one printed key per role [off];
- ``KONGTIAN_RATE_PER_S``, ``KONGTIAN_RATE_BURST``: token bucket per API key, requests
  per second and bucket size [50, 200];
- ``KONGTIAN_RETENTION``: ``source=age,...`` with ``*`` for every other source, ages in
  s/m/h/d [``remoteid-bcast=24h,remoteid-net=24h,*=90d``, the store's default];
- ``KONGTIAN_MQTT_URL``, ``KONGTIAN_MQTT_TOPICS``, ``KONGTIAN_MQTT_CLIENT_ID``: MQTT
  broker to subscribe to, comma-separated topic filters, client id [none,
  ``kongtian/ingest/#``, ``kongtian-serve``];
- ``KONGTIAN_NATS_URL``, ``KONGTIAN_NATS_STREAM``, ``KONGTIAN_NATS_DURABLE``,
  ``KONGTIAN_NATS_PREFIX``: NATS JetStream consumer [none, ``KONGTIAN_INGEST``,
  ``kongtian-ingest``, ``kongtian.ingest``];
- ``KONGTIAN_INGEST_OWNER``: owner recorded on reports arriving by MQTT/NATS [none];
- ``KONGTIAN_JOB_WORKERS``: background job threads [1].

Default retention (decision 0009): Remote ID data (``remoteid-bcast``, ``remoteid-net``)
24 h, as F3411 asks of display providers; every other source 90 days.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kongtian.errors import ConfigError

DAY_S = 86_400.0


def default_retention() -> dict[str, float]:
    """The store's default retention (:data:`kongtian.platform.store.DEFAULT_RETENTION_S`)."""
    from kongtian.platform.store.base import DEFAULT_RETENTION_S

    return dict(DEFAULT_RETENTION_S)


DEFAULT_MQTT_TOPICS = ("kongtian/ingest/#",)


def parse_retention(text: str, *, option: str = "KONGTIAN_RETENTION") -> dict[str, float]:
    """``"remoteid=86400,*=15552000"`` -> ``{"remoteid": 86400.0, "*": 15552000.0}`` (seconds).

    A value may end in ``s``, ``m``, ``h`` or ``d`` (``remoteid=24h``).
    """
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S}
    out: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sep or not name or not value:
            raise ConfigError(f"expected source=seconds, got {part!r}", option=option)
        scale = 1.0
        if value[-1] in units:
            scale, value = units[value[-1]], value[:-1]
        try:
            seconds = float(value) * scale
        except ValueError:
            raise ConfigError(f"not a duration: {part!r}", option=option) from None
        if not seconds > 0:
            raise ConfigError(f"retention must be > 0, got {part!r}", option=option)
        out[name] = seconds
    return out


def _as_bool(text: str, option: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"expected 1/0/true/false, got {text!r}", option=option)


def _as_num(text: str, option: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"expected a number, got {text!r}", option=option) from None


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start; immutable once loaded.

    ``mqtt_*`` / ``nats_*``: the broker feeds the server subscribes to itself (topic
    ``<prefix>/<format>``, subject ``<prefix>.<format>``); ``ingest_owner``: the owner
    (operator fleet) recorded on reports arriving that way.
    ``rate_per_s`` / ``rate_burst``: token bucket per API key (``rate_per_s <= 0``
    disables limiting). ``retention_s``: source -> maximum report age in seconds
    (``"*"`` = every other source). ``job_max_elements``: the largest satellite x time
    (x site or grid point) product a background job may compute, to keep one request
    from occupying the server for hours.
    """

    data_dir: Path = Path("kongtian-data")
    store_url: str | None = None
    dev: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    rate_per_s: float = 50.0
    rate_burst: float = 200.0
    retention_s: Mapping[str, float] = field(default_factory=default_retention)
    retention_interval_s: float = 600.0
    mqtt_url: str | None = None
    mqtt_topics: tuple[str, ...] = DEFAULT_MQTT_TOPICS
    mqtt_client_id: str = "kongtian-serve"
    nats_url: str | None = None
    nats_stream: str = "KONGTIAN_INGEST"
    nats_durable: str = "kongtian-ingest"
    nats_prefix: str = "kongtian.ingest"
    ingest_owner: str | None = None
    job_workers: int = 1
    job_max_elements: int = 20_000_000
    max_batch_reports: int = 100_000
    max_body_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "mqtt_topics", tuple(self.mqtt_topics))
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"must be 0..65535, got {self.port!r}", option="--port")
        if not self.host:
            raise ConfigError("must not be empty", option="--host")
        if self.rate_per_s > 0 and not self.rate_burst >= 1:
            raise ConfigError(f"must be >= 1, got {self.rate_burst!r}", option="rate_burst")
        if self.job_workers < 1:
            raise ConfigError(f"must be >= 1, got {self.job_workers}", option="job_workers")
        if self.job_max_elements < 1:
            raise ConfigError("must be >= 1", option="job_max_elements")
        if self.max_body_bytes < 1024:
            raise ConfigError("must be >= 1024", option="max_body_bytes")
        if self.max_batch_reports < 1:
            raise ConfigError("must be >= 1", option="max_batch_reports")
        if not self.retention_interval_s > 0:
            raise ConfigError("must be > 0", option="retention_interval_s")
        for src, age in self.retention_s.items():
            if not age > 0:
                raise ConfigError(f"{src}: must be > 0 s, got {age!r}", option="retention")
        if self.store_url is not None and not self.store_url.startswith(
            ("duckdb://", "postgresql://", "postgres://")
        ):
            raise ConfigError(
                f"expected duckdb:///path.db, duckdb://:memory: or postgresql://..., "
                f"got {self.store_url!r}",
                option="--store",
            )
        if self.mqtt_url is not None and not self.mqtt_url.startswith(("mqtt://", "tcp://")):
            raise ConfigError(f"expected mqtt://host:port, got {self.mqtt_url!r}", option="--mqtt")
        if self.nats_url is not None and not self.nats_url.startswith(("nats://", "tls://")):
            raise ConfigError(f"expected nats://host:port, got {self.nats_url!r}", option="--nats")

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to the DuckDB file ``<data_dir>/kongtian.duckdb``."""
        if self.store_url:
            return self.store_url
        return f"duckdb://{(self.data_dir / 'kongtian.duckdb').resolve()}"

    @property
    def jobs_dir(self) -> Path:
        """Folder of background job results: ``<data_dir>/jobs/<job id>/``."""
        return self.data_dir / "jobs"

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **options: Any) -> Settings:
        """Merge ``options`` (None = not given) over ``KONGTIAN_*`` variables over defaults."""
        env = os.environ if env is None else env
        kw: dict[str, Any] = {}

        def pick(name: str, var: str, conv: Any) -> None:
            if options.get(name) is not None:
                kw[name] = options[name]
            elif env.get(var, "") != "":
                kw[name] = conv(env[var], var)

        pick("data_dir", "KONGTIAN_DATA_DIR", lambda s, v: Path(s))
        pick("store_url", "KONGTIAN_STORE_URL", lambda s, v: s)
        pick("dev", "KONGTIAN_DEV", _as_bool)
        pick("host", "KONGTIAN_HOST", lambda s, v: s)
        pick("port", "KONGTIAN_PORT", lambda s, v: _as_num(s, v, int))
        pick("rate_per_s", "KONGTIAN_RATE_PER_S", lambda s, v: _as_num(s, v, float))
        pick("rate_burst", "KONGTIAN_RATE_BURST", lambda s, v: _as_num(s, v, float))
        pick("retention_s", "KONGTIAN_RETENTION", lambda s, v: parse_retention(s, option=v))
        pick("mqtt_url", "KONGTIAN_MQTT_URL", lambda s, v: s)
        pick(
            "mqtt_topics",
            "KONGTIAN_MQTT_TOPICS",
            lambda s, v: tuple(t.strip() for t in s.split(",") if t.strip()),
        )
        pick("nats_url", "KONGTIAN_NATS_URL", lambda s, v: s)
        pick("mqtt_client_id", "KONGTIAN_MQTT_CLIENT_ID", lambda s, v: s)
        pick("nats_stream", "KONGTIAN_NATS_STREAM", lambda s, v: s)
        pick("nats_durable", "KONGTIAN_NATS_DURABLE", lambda s, v: s)
        pick("nats_prefix", "KONGTIAN_NATS_PREFIX", lambda s, v: s)
        pick("ingest_owner", "KONGTIAN_INGEST_OWNER", lambda s, v: s)
        pick("job_workers", "KONGTIAN_JOB_WORKERS", lambda s, v: _as_num(s, v, int))
        for name, value in options.items():
            if name not in kw and value is not None:
                kw[name] = value
        if "data_dir" in kw:
            kw["data_dir"] = Path(kw["data_dir"])
        if "mqtt_topics" in kw:
            kw["mqtt_topics"] = tuple(kw["mqtt_topics"]) or DEFAULT_MQTT_TOPICS
        try:
            return cls(**kw)
        except TypeError as exc:  # an unknown option name: a programming error upstream
            raise ConfigError(str(exc), option="settings") from None
