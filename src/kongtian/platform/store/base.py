"""The storage interface of the platform service and its small value types.

One :class:`Store` holds everything the service persists: the report history (the
normalised reports of :mod:`kongtian.model.report` plus ``owner``, ``received_utc`` and
the source-specific columns as ``extras`` JSON text), zones and operational intents with
optimistic versions, alert states, the quarantine of malformed messages, the audit log,
API keys (hashes only), background jobs and uploaded satellite catalogs.

Two backends implement it with the same behaviour (one shared test suite):
:mod:`.duckdb_store` (embedded, the zero-setup default) and :mod:`.postgres_store`.

Times: every ``datetime`` argument must be timezone-aware (naive ones are taken as UTC);
report times are ``timestamp[ns, UTC]`` end to end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from kongtian.errors import KongtianError, NotFound
from kongtian.model.report import CORE_SCHEMA

__all__ = [
    "BBox",
    "DEFAULT_RETENTION_S",
    "InsertResult",
    "NotFound",
    "Quarantined",
    "STORED_REPORT_SCHEMA",
    "Store",
    "VersionConflict",
]

BBox = tuple[float, float, float, float]
"""(lon_min, lat_min, lon_max, lat_max) in WGS84 degrees."""

STORED_REPORT_SCHEMA = pa.schema(
    [
        *CORE_SCHEMA,
        pa.field("owner", pa.string()),
        pa.field("received_utc", pa.timestamp("ns", tz="UTC")),
        pa.field("extras", pa.string()),
    ]
)
"""Schema of the tables :meth:`Store.query_reports` and :meth:`Store.latest_reports` return:
the core report columns, the ingesting key's ``owner``, the time the platform received the
report and ``extras``: JSON object text of the non-null source-specific columns (null
when none; floats as shortest round-trip decimals, timestamps ISO 8601 Z, bytes hex)."""


DEFAULT_RETENTION_S: dict[str, float] = {
    "remoteid-bcast": 86_400.0,
    "remoteid-net": 86_400.0,
    "*": 90 * 86_400.0,
}
"""Default report retention per source, seconds (``"*"``: every other source).

Remote ID display data 24 h (ASTM F3411, as issue 4 reads it); vehicle, vessel and
aircraft tracks 90 days. See docs/decisions/0009-store.md."""


@dataclass(frozen=True)
class InsertResult:
    """Outcome of one :meth:`Store.insert_reports` call (rows, not messages).

    ``new_mask`` (only with ``return_new_mask=True``): one bool per input row, True for
    the rows this call stored (the first row of a key repeated in the batch), False for
    duplicates of stored rows or of earlier rows of the batch.
    """

    inserted: int
    duplicates: int
    new_mask: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Quarantined:
    """A malformed message kept with the reason it was refused.

    ``origin`` says where it came from: ``"http"``, ``"mqtt:<topic>"``,
    ``"nats:<subject>"``, ``"tcp:<peer>"``.
    """

    received_utc: datetime
    source: str
    reason: str
    raw: bytes
    origin: str


class VersionConflict(KongtianError):
    """An update named a version that is no longer current (HTTP 409)."""

    def __init__(self, message: str, *, current: int | None = None):
        self.current = current
        super().__init__(message)


class Store(ABC):
    """Persistent state of the platform service; thread-safe."""

    # -- reports ---------------------------------------------------------------------
    @abstractmethod
    def insert_reports(
        self,
        reports: pa.Table,
        *,
        owner: str | None = None,
        received_utc: datetime | None = None,
        return_new_mask: bool = False,
    ) -> InsertResult:
        """Store a report batch in one transaction, idempotent on ``DEDUP_KEY``.

        Rows whose (object_id, source, time_utc) is already stored, or repeated within
        the batch, are counted as duplicates and not stored again (also across restarts
        and concurrent writers). Columns beyond the core ones go into ``extras`` JSON.
        ``received_utc`` defaults to now. With ``return_new_mask`` the result says which
        input rows were stored (:attr:`InsertResult.new_mask`; costs a little more).
        """

    @abstractmethod
    def query_reports(
        self,
        *,
        object_ids: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        bbox: BBox | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        owner: str | None = None,
        limit: int = 10_000,
    ) -> pa.Table:
        """Stored reports matching every given filter, ordered by ``time_utc``.

        ``kinds`` are object-id prefixes (``icao24``, ``mmsi``, ``uas`` ...); ``start`` is
        inclusive and ``end`` exclusive; ``bbox`` is inclusive on its edges and excludes
        rows without a position. Columns: core, ``owner``, ``received_utc``, ``extras``.
        """

    @abstractmethod
    def latest_reports(
        self,
        *,
        kinds: Sequence[str] | None = None,
        bbox: BBox | None = None,
        since: datetime | None = None,
        owner: str | None = None,
        limit: int = 10_000,
    ) -> pa.Table:
        """The newest stored report per object_id (after the filters), by object_id."""

    @abstractmethod
    def count_reports(self) -> int:
        """Number of stored reports."""

    # -- zones -----------------------------------------------------------------------
    @abstractmethod
    def put_zone(self, feature: dict[str, Any], *, expected_version: int | None = None) -> int:
        """Create or replace zone ``feature["id"]``; returns its new version (1 on create).

        With ``expected_version`` the write happens only if it equals the current version
        (0 = must not exist yet), else :class:`VersionConflict`.
        """

    @abstractmethod
    def get_zone(self, zone_id: str) -> tuple[dict[str, Any], int]:
        """(feature, version); :class:`NotFound` if absent."""

    @abstractmethod
    def list_zones(self) -> list[tuple[dict[str, Any], int]]:
        """Every zone with its version, by id."""

    @abstractmethod
    def delete_zone(self, zone_id: str, *, expected_version: int | None = None) -> None:
        """Remove a zone; :class:`NotFound` if absent, :class:`VersionConflict` if stale."""

    # -- operational intents ---------------------------------------------------------
    @abstractmethod
    def put_intent(self, intent: dict[str, Any], *, expected_version: int | None = None) -> int:
        """Create or replace intent ``intent["id"]``; versioned like :meth:`put_zone`."""

    @abstractmethod
    def get_intent(self, intent_id: str) -> tuple[dict[str, Any], int]:
        """(intent, version); :class:`NotFound` if absent."""

    @abstractmethod
    def list_intents(
        self, *, states: Sequence[str] | None = None, owner: str | None = None
    ) -> list[tuple[dict[str, Any], int]]:
        """Intents filtered by ``state`` and ``owner``, by id."""

    # -- alerts ----------------------------------------------------------------------
    @abstractmethod
    def upsert_alerts(self, events: pa.Table) -> None:
        """Insert or update alert rows (``pipeline.ALERT_EVENT_SCHEMA``) by ``alert_id``.

        The latest state wins; an acknowledgement survives later updates.
        """

    @abstractmethod
    def list_alerts(
        self,
        *,
        states: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        acknowledged: bool | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Alerts, newest ``last_time_utc`` first; ``since`` filters on ``last_time_utc``."""

    @abstractmethod
    def get_alert(self, alert_id: str) -> dict[str, Any]:
        """One alert; :class:`NotFound` if absent."""

    @abstractmethod
    def ack_alert(self, alert_id: str, *, by: str, at: datetime) -> dict[str, Any]:
        """Mark an alert acknowledged (``acked_by``, ``acked_utc``); returns it."""

    # -- quarantine ------------------------------------------------------------------
    @abstractmethod
    def quarantine(self, items: Sequence[Quarantined]) -> None:
        """Keep malformed messages with their reason."""

    @abstractmethod
    def list_quarantine(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Newest quarantined messages first (keys as :class:`Quarantined` + ``id``)."""

    @abstractmethod
    def count_quarantine(self) -> int:
        """Number of quarantined messages."""

    # -- audit -----------------------------------------------------------------------
    @abstractmethod
    def audit(
        self,
        *,
        at: datetime,
        key_id: str | None,
        role: str | None,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one audit record."""

    @abstractmethod
    def list_audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Newest audit records first."""

    # -- API keys --------------------------------------------------------------------
    @abstractmethod
    def put_key(
        self,
        *,
        key_id: str,
        key_hash: str,
        role: str,
        owner: str | None,
        created_utc: datetime,
        label: str = "",
    ) -> None:
        """Store an API key record (only its hash)."""

    @abstractmethod
    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """The key record with this hash, or None (also when revoked)."""

    @abstractmethod
    def list_keys(self) -> list[dict[str, Any]]:
        """Every key record (revoked ones with ``revoked_utc`` set), by creation time."""

    @abstractmethod
    def revoke_key(self, key_id: str) -> None:
        """Revoke a key; :class:`NotFound` if absent."""

    # -- jobs ------------------------------------------------------------------------
    @abstractmethod
    def put_job(self, job: dict[str, Any]) -> None:
        """Create or replace job ``job["id"]`` (a JSON-able dict)."""

    @abstractmethod
    def get_job(self, job_id: str) -> dict[str, Any]:
        """One job; :class:`NotFound` if absent."""

    @abstractmethod
    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        """Most recently written jobs first."""

    # -- catalogs --------------------------------------------------------------------
    @abstractmethod
    def put_catalog(self, name: str, text: str, *, fmt: str) -> None:
        """Create or replace a satellite catalog (``fmt``: ``tle``, ``omm-json`` ...)."""

    @abstractmethod
    def get_catalog(self, name: str) -> tuple[str, str]:
        """(text, fmt); :class:`NotFound` if absent."""

    @abstractmethod
    def list_catalogs(self) -> list[dict[str, Any]]:
        """``{"name", "fmt", "size", "updated_utc"}`` per catalog, by name."""

    # -- housekeeping ----------------------------------------------------------------
    @abstractmethod
    def apply_retention(self, now: datetime, max_age_s: Mapping[str, float]) -> dict[str, int]:
        """Delete reports older than their source's maximum age (seconds before ``now``).

        ``max_age_s`` maps source -> age; ``"*"`` applies to every other source (absent:
        those are kept). Returns source -> rows deleted (sources with deletions only).
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
