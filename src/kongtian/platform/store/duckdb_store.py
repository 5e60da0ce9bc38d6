"""The embedded store: one DuckDB file (or ``:memory:``), the zero-setup default.

DuckDB allows one writing process per file, so a :class:`DuckDBStore` keeps one
connection and serialises every call with a lock (calls from many threads are safe;
a second process opening the same file gets DuckDB's lock error, turned into a
ConfigError naming the file). Reports are inserted in bulk: the Arrow batch is
registered as a relation and copied with ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``
on the primary key (object_id, source, time_ns), which is the de-duplication key, so a
duplicate is never stored twice, also after a restart. Time pruning uses DuckDB's
per-row-group min/max statistics on ``time_ns`` (rows arrive roughly in time order).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from kongtian.errors import ConfigError
from kongtian.platform.store.base import InsertResult
from kongtian.platform.store.batch import (
    REPORT_COLUMNS,
    extras_expr,
    first_rows,
    new_mask,
    now_ns,
    prepare_batch,
    stored_table,
    to_ns,
)
from kongtian.platform.store.sql import (
    DDL_COMMON,
    SQLStore,
    split_statements,
)

DDL = (
    DDL_COMMON
    + """
CREATE TABLE IF NOT EXISTS reports (
    object_id VARCHAR NOT NULL, source VARCHAR NOT NULL, time_ns BIGINT NOT NULL,
    lat_deg DOUBLE, lon_deg DOUBLE, alt_m DOUBLE, alt_ref VARCHAR, speed_m_s DOUBLE,
    track_deg DOUBLE, vrate_m_s DOUBLE, owner VARCHAR, received_ns BIGINT NOT NULL,
    extras VARCHAR, PRIMARY KEY (object_id, source, time_ns));
CREATE SEQUENCE IF NOT EXISTS quarantine_id;
CREATE TABLE IF NOT EXISTS quarantine (
    id BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id'), received_ns BIGINT NOT NULL,
    source VARCHAR, reason VARCHAR NOT NULL, raw BLOB, origin VARCHAR);
CREATE SEQUENCE IF NOT EXISTS audit_id;
CREATE TABLE IF NOT EXISTS audit (
    id BIGINT PRIMARY KEY DEFAULT nextval('audit_id'), at_ns BIGINT NOT NULL,
    key_id VARCHAR, role VARCHAR, action VARCHAR NOT NULL, target VARCHAR NOT NULL,
    detail VARCHAR);
"""
)


class _Cursor:
    """Adapts a DuckDB connection to the shared ``Cursor`` protocol."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.con.execute(sql, list(params))

    def fetchone(self) -> Any:
        row = self.con.fetchone()
        self.con.complete()  # DuckDB 2 keeps a result open until it is read to its end
        return row

    def fetchall(self) -> list[Any]:
        return self.con.fetchall()


class DuckDBStore(SQLStore):
    """Store in a DuckDB database file (``path``) or in memory (``":memory:"``)."""

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.IOException as exc:
            raise ConfigError(
                f"cannot open DuckDB file {self.path}: {exc}", option="store_url"
            ) from None
        self._lock = threading.RLock()
        self._closed = False
        with self._tx() as c:
            for stmt in split_statements(DDL):
                c.execute(stmt)

    @contextmanager
    def _tx(self) -> Iterator[_Cursor]:
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield _Cursor(self._con)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def _executemany(self, c: Any, sql: str, rows: list[list[Any]]) -> None:
        # DuckDB pays several milliseconds per statement, so a parameterised
        # ``INSERT ... VALUES (?, ...) <tail>`` over many rows runs once, as
        # ``INSERT ... SELECT`` from the rows held in an Arrow table.
        head, sep, rest = sql.partition(" VALUES (")
        if len(rows) < 4 or not sep or "(" not in head:
            super()._executemany(c, sql, rows)
            return
        tail = rest.partition(")")[2]
        names = [n.strip() for n in head[head.index("(") + 1 : head.rindex(")")].split(",")]
        table = pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})
        self._con.register("_kt_rows", table)
        try:
            c.execute(f"{head} SELECT {', '.join(names)} FROM _kt_rows{tail}")
        finally:
            self._con.unregister("_kt_rows")

    # -- reports -----------------------------------------------------------------------
    def insert_reports(
        self,
        reports: pa.Table,
        *,
        owner: str | None = None,
        received_utc: datetime | None = None,
        return_new_mask: bool = False,
    ) -> InsertResult:
        n = reports.num_rows
        if n == 0:
            return InsertResult(0, 0, np.zeros(0, bool) if return_new_mask else None)
        core, extras = prepare_batch(reports)
        rec = now_ns() if received_utc is None else to_ns(received_utc)
        # One statement (auto-committed, atomic): the extras JSON is computed inside the
        # INSERT; DuckDB's per-statement cost dominates small batches.
        batch = core
        if extras is not None:
            for i, name in enumerate(extras.column_names):
                batch = batch.append_column(extras.schema.field(i), extras.column(name))
        ej = "NULL" if extras is None else extras_expr(extras.schema)
        rows = None
        if return_new_mask:
            batch, rows = first_rows(batch)
        sql = (
            f"INSERT INTO reports ({', '.join(REPORT_COLUMNS)}) "
            f"SELECT {', '.join(REPORT_COLUMNS[:10])}, ?, ?, {ej} "
            "FROM kt_batch ON CONFLICT DO NOTHING"
        )
        mask = None
        with self._lock:
            if self._closed:
                raise RuntimeError("store is closed")
            self._con.register("kt_batch", batch)
            try:
                if rows is None:
                    self._con.execute(sql, [owner, rec])
                    inserted = int(_Cursor(self._con).fetchone()[0])
                else:
                    ret = self._con.sql(
                        sql + " RETURNING object_id, source, time_ns", params=[owner, rec]
                    ).to_arrow_table()
                    inserted = ret.num_rows
                    mask = new_mask(n, batch, rows, ret)
            finally:
                self._con.unregister("kt_batch")
        return InsertResult(inserted=inserted, duplicates=n - inserted, new_mask=mask)

    def _select(self, sql: str, params: list[Any]) -> pa.Table:
        with self._lock:  # one statement: no explicit transaction needed
            if self._closed:
                raise RuntimeError("store is closed")
            t = self._con.sql(sql, params=params).to_arrow_table()
        return stored_table({n: t.column(n) for n in REPORT_COLUMNS})

    def apply_retention(self, now: datetime, max_age_s: Mapping[str, float]) -> dict[str, int]:
        named, default = self.retention_rules(now, max_age_s)
        conds: list[str] = []
        params: list[Any] = []
        for s, cut in named.items():
            conds.append("(source = ? AND time_ns < ?)")
            params += [s, cut]
        if default is not None:
            if named:
                conds.append(f"(source NOT IN ({', '.join('?' * len(named))}) AND time_ns < ?)")
                params += [*named, default]
            else:
                conds.append("time_ns < ?")
                params.append(default)
        if not conds:
            return {}
        where = " OR ".join(conds)
        with self._tx() as c:
            c.execute(f"SELECT source, count(*) FROM reports WHERE {where} GROUP BY source", params)
            counts = {s: int(k) for s, k in c.fetchall()}
            if counts:
                c.execute(f"DELETE FROM reports WHERE {where}", params)
        return counts

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()
