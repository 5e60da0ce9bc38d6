"""What the DuckDB and PostgreSQL stores share: everything but report writing.

Zones, intents, alerts, quarantine, audit, keys, jobs and catalogs are written once in
:class:`SQLStore` with SQL that both dialects accept (``INSERT ... ON CONFLICT ... DO
UPDATE ... RETURNING``, ``UPDATE ... RETURNING``; ``?`` placeholders). Backends supply a
transaction (:meth:`SQLStore._tx`), a report reader (:meth:`SQLStore._select`) and the
report writer (see :mod:`.batch`); the report queries themselves are shared.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from kongtian.errors import FormatError, NotFound
from kongtian.platform.store.base import BBox, Quarantined, Store, VersionConflict
from kongtian.platform.store.batch import (
    SELECT_REPORT,
    bbox_where,
    check_limit,
    from_ns,
    now_ns,
    report_where,
    to_ns,
)

ALERT_COLUMNS = (
    "alert_id",
    "kind",
    "object_id",
    "other_id",
    "severity",
    "state",
    "first_time_utc",
    "last_time_utc",
    "count",
    "details",
)


class Cursor(Protocol):
    """The part of a DB-API cursor the shared code uses (``?`` placeholders)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


def _json_default(x: Any) -> Any:
    if isinstance(x, datetime):
        return x.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def dumps(obj: Any) -> str:
    """JSON text of a dict (datetimes as ISO 8601 Z, bytes as hex)."""
    return json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(",", ":"))


# -- the shared non-report part ----------------------------------------------------------
class SQLStore(Store):
    """Zones, intents, alerts, quarantine, audit, keys, jobs, catalogs in portable SQL."""

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Cursor]:
        """A cursor inside one transaction, committed on exit (rolled back on error)."""

    @abstractmethod
    def _select(self, sql: str, params: list[Any]) -> pa.Table:
        """Run a query returning the stored-report columns (``SELECT_REPORT``)."""

    # -- report queries (one SQL text for both dialects) -----------------------------
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
        where, params = report_where(
            object_ids=object_ids,
            kinds=kinds,
            sources=sources,
            bbox=bbox,
            start=start,
            end=end,
            owner=owner,
        )
        return self._select(
            f"SELECT {SELECT_REPORT} FROM reports WHERE {where} "
            "ORDER BY time_ns, object_id, source LIMIT ?",
            [*params, check_limit(limit)],
        )

    def latest_reports(
        self,
        *,
        kinds: Sequence[str] | None = None,
        bbox: BBox | None = None,
        since: datetime | None = None,
        owner: str | None = None,
        limit: int = 10_000,
    ) -> pa.Table:
        where, params = report_where(kinds=kinds, start=since, owner=owner)
        outer, oparams = ("TRUE", []) if bbox is None else bbox_where(bbox)
        return self._select(
            f"SELECT {SELECT_REPORT} FROM (SELECT DISTINCT ON (object_id) {SELECT_REPORT} "
            f"FROM reports WHERE {where} ORDER BY object_id, time_ns DESC, source) AS latest "
            f"WHERE {outer} ORDER BY object_id LIMIT ?",
            [*params, *oparams, check_limit(limit)],
        )

    def count_reports(self) -> int:
        with self._tx() as c:
            c.execute("SELECT count(*) FROM reports")
            return int(c.fetchone()[0])

    # -- versioned documents (zones, intents) ---------------------------------------
    def _put_versioned(
        self,
        table: str,
        doc_id: str,
        body: dict[str, Any],
        expected_version: int | None,
        extra: Mapping[str, Any],
    ) -> int:
        cols = ["id", "version", "body", *extra]
        vals = [doc_id, 1, dumps(body), *extra.values()]
        holes = ", ".join("?" * len(cols))
        sets = ", ".join(f"{c} = excluded.{c}" for c in ["body", *extra])
        with self._tx() as c:
            if expected_version is None:
                c.execute(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({holes}) "
                    f"ON CONFLICT (id) DO UPDATE SET version = {table}.version + 1, {sets} "
                    "RETURNING version",
                    vals,
                )
                return int(c.fetchone()[0])
            if expected_version == 0:
                c.execute(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({holes}) "
                    "ON CONFLICT (id) DO NOTHING RETURNING version",
                    vals,
                )
                row = c.fetchone()
                if row is None:
                    current = self._version(c, table, doc_id)
                    raise VersionConflict(
                        f"{table[:-1]} {doc_id!r} already exists (version {current})",
                        current=current,
                    )
                return int(row[0])
            upd = ", ".join(f"{c2} = ?" for c2 in ["body", *extra])
            c.execute(
                f"UPDATE {table} SET version = version + 1, {upd} "
                "WHERE id = ? AND version = ? RETURNING version",
                [dumps(body), *extra.values(), doc_id, expected_version],
            )
            row = c.fetchone()
            if row is None:
                current = self._version(c, table, doc_id)
                if current is None:
                    raise NotFound(f"no {table[:-1]} {doc_id!r}")
                raise VersionConflict(
                    f"{table[:-1]} {doc_id!r} is at version {current}, not {expected_version}",
                    current=current,
                )
            return int(row[0])

    @staticmethod
    def _version(c: Cursor, table: str, doc_id: str) -> int | None:
        c.execute(f"SELECT version FROM {table} WHERE id = ?", [doc_id])
        row = c.fetchone()
        return None if row is None else int(row[0])

    def _get_versioned(self, table: str, doc_id: str) -> tuple[dict[str, Any], int]:
        with self._tx() as c:
            c.execute(f"SELECT body, version FROM {table} WHERE id = ?", [doc_id])
            row = c.fetchone()
        if row is None:
            raise NotFound(f"no {table[:-1]} {doc_id!r}")
        return json.loads(row[0]), int(row[1])

    @staticmethod
    def _doc_id(doc: dict[str, Any], what: str) -> str:
        doc_id = doc.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise FormatError(f"{what} needs a non-empty string 'id'")
        return doc_id

    def put_zone(self, feature: dict[str, Any], *, expected_version: int | None = None) -> int:
        zid = self._doc_id(feature, "zone feature")
        return self._put_versioned("zones", zid, feature, expected_version, {})

    def get_zone(self, zone_id: str) -> tuple[dict[str, Any], int]:
        return self._get_versioned("zones", zone_id)

    def list_zones(self) -> list[tuple[dict[str, Any], int]]:
        with self._tx() as c:
            c.execute("SELECT body, version FROM zones ORDER BY id")
            return [(json.loads(b), int(v)) for b, v in c.fetchall()]

    def delete_zone(self, zone_id: str, *, expected_version: int | None = None) -> None:
        with self._tx() as c:
            current = self._version(c, "zones", zone_id)
            if current is None:
                raise NotFound(f"no zone {zone_id!r}")
            if expected_version is not None and expected_version != current:
                raise VersionConflict(
                    f"zone {zone_id!r} is at version {current}, not {expected_version}",
                    current=current,
                )
            c.execute("DELETE FROM zones WHERE id = ? AND version = ?", [zone_id, current])

    def put_intent(self, intent: dict[str, Any], *, expected_version: int | None = None) -> int:
        iid = self._doc_id(intent, "intent")
        body = {k: v for k, v in intent.items() if k != "version"}
        extra = {"state": intent.get("state"), "owner": intent.get("owner")}
        return self._put_versioned("intents", iid, body, expected_version, extra)

    def get_intent(self, intent_id: str) -> tuple[dict[str, Any], int]:
        body, version = self._get_versioned("intents", intent_id)
        body["version"] = version
        return body, version

    def list_intents(
        self, *, states: Sequence[str] | None = None, owner: str | None = None
    ) -> list[tuple[dict[str, Any], int]]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if states is not None:
            where.append(f"state IN ({', '.join('?' * len(states))})" if states else "FALSE")
            params += list(states)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        with self._tx() as c:
            c.execute(
                f"SELECT body, version FROM intents WHERE {' AND '.join(where)} ORDER BY id",
                params,
            )
            rows = c.fetchall()
        out = []
        for b, v in rows:
            body = json.loads(b)
            body["version"] = int(v)
            out.append((body, int(v)))
        return out

    # -- alerts ------------------------------------------------------------------------
    def upsert_alerts(self, events: pa.Table) -> None:
        if events.num_rows == 0:
            return
        missing = [c for c in ALERT_COLUMNS if c not in events.column_names]
        if missing:
            raise FormatError(f"alert events lack columns {missing}")
        t = events.select(list(ALERT_COLUMNS))
        for name in ("first_time_utc", "last_time_utc"):
            i = t.column_names.index(name)
            t = t.set_column(i, name, t.column(name).cast(pa.timestamp("ns", tz="UTC")))
        latest: dict[str, list[Any]] = {}
        cols = {
            n: t.column(n).cast(pa.int64()) if n.endswith("_utc") else t.column(n)
            for n in ALERT_COLUMNS
        }
        for row in zip(*(cols[n].to_pylist() for n in ALERT_COLUMNS), strict=True):
            latest[row[0]] = list(row)  # the last event of an alert in the batch wins
        sets = ", ".join(f"{c} = excluded.{c}" for c in ALERT_COLUMNS[1:])
        sql = (
            f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(ALERT_COLUMNS))}) "
            f"ON CONFLICT (alert_id) DO UPDATE SET {sets}"
        )
        with self._tx() as c:
            self._executemany(c, sql, list(latest.values()))

    def _executemany(self, c: Cursor, sql: str, rows: list[list[Any]]) -> None:
        for r in rows:
            c.execute(sql, r)

    _ALERT_SELECT = ", ".join(ALERT_COLUMNS) + ", acked_by, acked_utc"

    @staticmethod
    def _alert_dict(row: Sequence[Any]) -> dict[str, Any]:
        d = dict(zip([*ALERT_COLUMNS, "acked_by", "acked_utc"], row, strict=True))
        for k in ("first_time_utc", "last_time_utc", "acked_utc"):
            d[k] = from_ns(d[k])
        d["count"] = int(d["count"]) if d["count"] is not None else None
        return d

    def list_alerts(
        self,
        *,
        states: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        acknowledged: bool | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if states is not None:
            where.append(f"state IN ({', '.join('?' * len(states))})" if states else "FALSE")
            params += list(states)
        if kinds is not None:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})" if kinds else "FALSE")
            params += list(kinds)
        if since is not None:
            where.append("last_time_utc >= ?")
            params.append(to_ns(since))
        if acknowledged is not None:
            where.append("acked_utc IS NOT NULL" if acknowledged else "acked_utc IS NULL")
        with self._tx() as c:
            c.execute(
                f"SELECT {self._ALERT_SELECT} FROM alerts WHERE {' AND '.join(where)} "
                "ORDER BY last_time_utc DESC, alert_id LIMIT ?",
                [*params, check_limit(limit)],
            )
            return [self._alert_dict(r) for r in c.fetchall()]

    def get_alert(self, alert_id: str) -> dict[str, Any]:
        with self._tx() as c:
            c.execute(f"SELECT {self._ALERT_SELECT} FROM alerts WHERE alert_id = ?", [alert_id])
            row = c.fetchone()
        if row is None:
            raise NotFound(f"no alert {alert_id!r}")
        return self._alert_dict(row)

    def ack_alert(self, alert_id: str, *, by: str, at: datetime) -> dict[str, Any]:
        with self._tx() as c:
            c.execute(
                "UPDATE alerts SET acked_by = ?, acked_utc = ? WHERE alert_id = ? "
                f"RETURNING {self._ALERT_SELECT}",
                [by, to_ns(at), alert_id],
            )
            row = c.fetchone()
        if row is None:
            raise NotFound(f"no alert {alert_id!r}")
        return self._alert_dict(row)

    # -- quarantine --------------------------------------------------------------------
    def quarantine(self, items: Sequence[Quarantined]) -> None:
        if not items:
            return
        rows = [[to_ns(q.received_utc), q.source, q.reason, bytes(q.raw), q.origin] for q in items]
        with self._tx() as c:
            self._executemany(
                c,
                "INSERT INTO quarantine (received_ns, source, reason, raw, origin) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def list_quarantine(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self._tx() as c:
            c.execute(
                "SELECT id, received_ns, source, reason, raw, origin FROM quarantine "
                "ORDER BY id DESC LIMIT ?",
                [check_limit(limit)],
            )
            rows = c.fetchall()
        return [
            {
                "id": int(i),
                "received_utc": from_ns(t),
                "source": s,
                "reason": r,
                "raw": bytes(raw),
                "origin": o,
            }
            for i, t, s, r, raw, o in rows
        ]

    def count_quarantine(self) -> int:
        with self._tx() as c:
            c.execute("SELECT count(*) FROM quarantine")
            return int(c.fetchone()[0])

    # -- audit -------------------------------------------------------------------------
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
        with self._tx() as c:
            c.execute(
                "INSERT INTO audit (at_ns, key_id, role, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    to_ns(at),
                    key_id,
                    role,
                    action,
                    target,
                    None if detail is None else dumps(detail),
                ],
            )

    def list_audit(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self._tx() as c:
            c.execute(
                "SELECT id, at_ns, key_id, role, action, target, detail FROM audit "
                "ORDER BY id DESC LIMIT ?",
                [check_limit(limit)],
            )
            rows = c.fetchall()
        return [
            {
                "id": int(i),
                "at": from_ns(at),
                "key_id": k,
                "role": r,
                "action": a,
                "target": t,
                "detail": None if d is None else json.loads(d),
            }
            for i, at, k, r, a, t, d in rows
        ]

    # -- keys --------------------------------------------------------------------------
    _KEY_SELECT = "key_id, role, owner, label, created_ns, revoked_ns"

    @staticmethod
    def _key_dict(row: Sequence[Any]) -> dict[str, Any]:
        k, role, owner, label, created, revoked = row
        return {
            "key_id": k,
            "role": role,
            "owner": owner,
            "label": label,
            "created_utc": from_ns(created),
            "revoked_utc": from_ns(revoked),
        }

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
        with self._tx() as c:
            c.execute(
                "INSERT INTO api_keys (key_id, key_hash, role, owner, label, created_ns) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [key_id, key_hash, role, owner, label, to_ns(created_utc)],
            )

    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        with self._tx() as c:
            c.execute(
                f"SELECT {self._KEY_SELECT} FROM api_keys "
                "WHERE key_hash = ? AND revoked_ns IS NULL",
                [key_hash],
            )
            row = c.fetchone()
        return None if row is None else self._key_dict(row)

    def list_keys(self) -> list[dict[str, Any]]:
        with self._tx() as c:
            c.execute(f"SELECT {self._KEY_SELECT} FROM api_keys ORDER BY created_ns, key_id")
            return [self._key_dict(r) for r in c.fetchall()]

    def revoke_key(self, key_id: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE api_keys SET revoked_ns = coalesce(revoked_ns, ?) WHERE key_id = ? "
                "RETURNING key_id",
                [now_ns(), key_id],
            )
            if c.fetchone() is None:
                raise NotFound(f"no key {key_id!r}")

    # -- jobs --------------------------------------------------------------------------
    def put_job(self, job: dict[str, Any]) -> None:
        jid = self._doc_id(job, "job")
        with self._tx() as c:
            c.execute(
                "INSERT INTO jobs (id, updated_ns, body) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET updated_ns = excluded.updated_ns, "
                "body = excluded.body",
                [jid, now_ns(), dumps(job)],
            )

    def get_job(self, job_id: str) -> dict[str, Any]:
        with self._tx() as c:
            c.execute("SELECT body FROM jobs WHERE id = ?", [job_id])
            row = c.fetchone()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return dict(json.loads(row[0]))

    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._tx() as c:
            c.execute(
                "SELECT body FROM jobs ORDER BY updated_ns DESC, id LIMIT ?", [check_limit(limit)]
            )
            return [json.loads(b) for (b,) in c.fetchall()]

    # -- catalogs ----------------------------------------------------------------------
    def put_catalog(self, name: str, text: str, *, fmt: str) -> None:
        if not name:
            raise FormatError("catalog needs a non-empty name")
        with self._tx() as c:
            c.execute(
                "INSERT INTO catalogs (name, fmt, body, updated_ns) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET fmt = excluded.fmt, body = excluded.body, "
                "updated_ns = excluded.updated_ns",
                [name, fmt, text, now_ns()],
            )

    def get_catalog(self, name: str) -> tuple[str, str]:
        with self._tx() as c:
            c.execute("SELECT body, fmt FROM catalogs WHERE name = ?", [name])
            row = c.fetchone()
        if row is None:
            raise NotFound(f"no catalog {name!r}")
        return str(row[0]), str(row[1])

    def list_catalogs(self) -> list[dict[str, Any]]:
        with self._tx() as c:
            c.execute("SELECT name, fmt, length(body), updated_ns FROM catalogs ORDER BY name")
            rows = c.fetchall()
        return [
            {"name": n, "fmt": f, "size": int(s), "updated_utc": from_ns(u)} for n, f, s, u in rows
        ]

    # -- retention ---------------------------------------------------------------------
    @staticmethod
    def retention_rules(
        now: datetime, max_age_s: Mapping[str, float]
    ) -> tuple[dict[str, int], int | None]:
        """(source -> cutoff ns, cutoff ns for every other source or None)."""
        t = to_ns(now)
        named = {s: t - int(round(float(a) * 1e9)) for s, a in max_age_s.items() if s != "*"}
        default = max_age_s.get("*")
        for s, a in max_age_s.items():
            if not float(a) >= 0:
                raise FormatError(f"retention for {s!r} must be >= 0 seconds, got {a}")
        return named, None if default is None else t - int(round(float(default) * 1e9))


DDL_COMMON = """
CREATE TABLE IF NOT EXISTS zones (
    id VARCHAR PRIMARY KEY, version BIGINT NOT NULL, body VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS intents (
    id VARCHAR PRIMARY KEY, version BIGINT NOT NULL, state VARCHAR, owner VARCHAR,
    body VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id VARCHAR PRIMARY KEY, kind VARCHAR, object_id VARCHAR, other_id VARCHAR,
    severity VARCHAR, state VARCHAR, first_time_utc BIGINT, last_time_utc BIGINT,
    count BIGINT, details VARCHAR, acked_by VARCHAR, acked_utc BIGINT);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id VARCHAR PRIMARY KEY, key_hash VARCHAR NOT NULL UNIQUE, role VARCHAR NOT NULL,
    owner VARCHAR, label VARCHAR NOT NULL, created_ns BIGINT NOT NULL, revoked_ns BIGINT);
CREATE TABLE IF NOT EXISTS jobs (
    id VARCHAR PRIMARY KEY, updated_ns BIGINT NOT NULL, body VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS catalogs (
    name VARCHAR PRIMARY KEY, fmt VARCHAR NOT NULL, body VARCHAR NOT NULL,
    updated_ns BIGINT NOT NULL);
"""
"""Tables both dialects create the same way (``VARCHAR`` is ``text`` in PostgreSQL)."""


def split_statements(ddl: str) -> Iterator[str]:
    for stmt in ddl.split(";"):
        if stmt.strip():
            yield stmt.strip()


def check_identifier(name: str, what: str) -> str:
    """``name`` if it is a plain lower-case SQL identifier, else ConfigError."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        from kongtian.errors import ConfigError

        raise ConfigError(
            f"{what} {name!r} must be lower-case letters, digits and _", option="store_url"
        )
    return name
