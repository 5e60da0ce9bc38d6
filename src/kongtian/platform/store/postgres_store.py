"""The server store: PostgreSQL through psycopg 3 and a psycopg_pool connection pool.

URL: ``postgresql://user@host:port/db?schema=name`` (``schema`` default ``public``; it is
created if missing, and every connection of the pool works inside it, so tests and
scale-out deployments can isolate themselves). Other query parameters go to libpq.

Reports: ``reports`` is declaratively partitioned by range of ``time_ns`` (int64
nanoseconds UTC, see :mod:`.sql`), one partition per UTC day named ``reports_YYYYMMDD``,
created on demand before a batch that needs it (any day between 1677 and 2262, the int64
nanosecond range) under a transaction-level advisory lock so concurrent writers do not
race on the DDL. A batch goes in as CSV through ``COPY`` into a session temporary table,
then ``INSERT ... SELECT ... ORDER BY key ON CONFLICT DO NOTHING`` into ``reports``: the
primary key (object_id, source, time_ns) is the de-duplication key, so two writers
inserting overlapping batches never store a row twice (the second waits for the first and
skips); inserting in key order keeps two such writers from deadlocking. Key columns use
the "C" collation: byte order, like DuckDB (same ``ORDER BY object_id`` in both
backends), and the cheapest comparisons for the primary-key btree. Retention drops a
whole day partition when every row in it is past its source's age (else ``DELETE``).
Time windows prune partitions and use a BRIN index on time_ns; bounding boxes use a
btree on (lat_deg, lon_deg). That index costs about a fifth of the ingest rate (random
inserts into a growing index, docs/decisions/0009-store.md); ``?position_index=false``
leaves it out for ingest-only workers whose queries are all time-bounded. PostGIS is not
needed (and not used).
"""

from __future__ import annotations

import io
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg_pool import ConnectionPool

from kongtian.errors import ConfigError
from kongtian.platform.store.base import InsertResult
from kongtian.platform.store.batch import (
    REPORT_COLUMNS,
    extras_json,
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
    check_identifier,
    split_statements,
)

DAY_NS = 86_400 * 10**9
_EPOCH_DAY = date(1970, 1, 1)

DDL = (
    DDL_COMMON
    + """
CREATE TABLE IF NOT EXISTS reports (
    object_id TEXT COLLATE "C" NOT NULL, source TEXT COLLATE "C" NOT NULL,
    time_ns BIGINT NOT NULL,
    lat_deg DOUBLE PRECISION, lon_deg DOUBLE PRECISION, alt_m DOUBLE PRECISION,
    alt_ref TEXT, speed_m_s DOUBLE PRECISION, track_deg DOUBLE PRECISION,
    vrate_m_s DOUBLE PRECISION, owner TEXT, received_ns BIGINT NOT NULL, extras TEXT,
    PRIMARY KEY (object_id, source, time_ns)) PARTITION BY RANGE (time_ns);
CREATE INDEX IF NOT EXISTS reports_time ON reports USING brin (time_ns);
CREATE TABLE IF NOT EXISTS quarantine (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, received_ns BIGINT NOT NULL,
    source TEXT, reason TEXT NOT NULL, raw BYTEA, origin TEXT);
CREATE TABLE IF NOT EXISTS audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at_ns BIGINT NOT NULL,
    key_id TEXT, role TEXT, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
"""
)

_TEMP = (
    'CREATE TEMP TABLE IF NOT EXISTS kt_reports_in (object_id TEXT COLLATE "C", '
    'source TEXT COLLATE "C", '
    "time_ns BIGINT, lat_deg DOUBLE PRECISION, lon_deg DOUBLE PRECISION, "
    "alt_m DOUBLE PRECISION, alt_ref TEXT, speed_m_s DOUBLE PRECISION, "
    "track_deg DOUBLE PRECISION, vrate_m_s DOUBLE PRECISION, extras TEXT) "
    "ON COMMIT DELETE ROWS"
)
_IN_COLUMNS = (*REPORT_COLUMNS[:10], "extras")
_CSV_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
_READ_TYPES = {
    "object_id": pa.string(),
    "source": pa.string(),
    "time_ns": pa.int64(),
    "lat_deg": pa.float64(),
    "lon_deg": pa.float64(),
    "alt_m": pa.float64(),
    "alt_ref": pa.string(),
    "speed_m_s": pa.float64(),
    "track_deg": pa.float64(),
    "vrate_m_s": pa.float64(),
    "owner": pa.string(),
    "received_ns": pa.int64(),
    "extras": pa.string(),
}
_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


_OURS = ("schema", "position_index")


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """(libpq conninfo URL without our parameters, our parameters); ConfigError if bad.

    Ours: ``schema`` (default ``public``), ``position_index`` (``true``/``false``,
    default true).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"not a PostgreSQL URL: {url!r}", option="store_url")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OURS}
    rest = [(k, v) for k, v in query if k not in _OURS]
    ours.setdefault("schema", "public")
    check_identifier(ours["schema"], "schema")
    flag = ours.setdefault("position_index", "true").lower()
    if flag not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"position_index={flag!r} is not true or false", option="store_url")
    ours["position_index"] = "true" if flag in ("true", "1", "yes") else "false"
    return urlunsplit(parts._replace(query=urlencode(rest))), ours


def _redact(url: str) -> str:
    p = urlsplit(url)
    if p.password:
        p = p._replace(netloc=p.netloc.replace(f":{p.password}@", ":***@"))
    return urlunsplit(p)


def _day_name(day: int) -> str:
    return "reports_" + (_EPOCH_DAY + timedelta(days=int(day))).strftime("%Y%m%d")


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Per new pooled connection: the session's staging table for report batches."""
    conn.execute(_TEMP)
    conn.commit()


class _PgCursor:
    """Adapts a psycopg cursor to the shared ``?``-placeholder ``Cursor`` protocol."""

    _cache: dict[str, str] = {}

    def __init__(self, cur: psycopg.Cursor[Any]):
        self.cur = cur

    @classmethod
    def _sql(cls, sql: str) -> str:
        out = cls._cache.get(sql)
        if out is None:
            out = cls._cache[sql] = sql.replace("?", "%s")
        return out

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.cur.execute(self._sql(sql), list(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cur.executemany(self._sql(sql), rows)

    def fetchone(self) -> Any:
        return self.cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self.cur.fetchall()


class PostgresStore(SQLStore):
    """Store in a PostgreSQL schema (see the module docstring for the URL)."""

    def __init__(self, url: str, *, max_connections: int = 4, timeout_s: float = 10.0):
        self.conninfo, opts = parse_url(url)
        self.schema = opts["schema"]
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        except psycopg.errors.UniqueViolation:
            pass  # created concurrently by another worker
        except psycopg.Error as exc:
            raise ConfigError(
                f"cannot open PostgreSQL store {_redact(url)}: {exc}".strip(),
                option="store_url",
            ) from None
        self._lock_key = zlib.crc32(f"kongtian:{self.schema}".encode())
        self._pool = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=max_connections,
            kwargs={"options": f"-c search_path={self.schema}"},
            timeout=timeout_s,
            # One empty round trip per checkout: a connection broken by a server restart
            # is replaced instead of failing the caller's transaction.
            check=ConnectionPool.check_connection,
            configure=_configure,
            open=False,
            name=f"kongtian-{self.schema}",
        )
        self._pool.open(wait=True, timeout=timeout_s)
        self._parts: set[int] = set()
        self._parts_lock = threading.Lock()
        with self._tx() as c:
            c.execute("SELECT pg_advisory_xact_lock(?)", [self._lock_key])
            for stmt in split_statements(DDL):
                c.execute(stmt)
            if opts["position_index"] == "true":
                c.execute(
                    "CREATE INDEX IF NOT EXISTS reports_position ON reports (lat_deg, lon_deg)"
                )
            c.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
            row = c.fetchone()
        #: PostGIS version if the extension is installed in this database, else None
        #: (rectangles need no geometry, so nothing here depends on it yet).
        self.postgis: str | None = None if row is None else str(row[0])
        self._load_partitions()

    @contextmanager
    def _tx(self) -> Iterator[_PgCursor]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            yield _PgCursor(cur)

    def _executemany(self, c: Any, sql: str, rows: list[list[Any]]) -> None:
        c.executemany(sql, rows)

    # -- partitions --------------------------------------------------------------------
    def _partitions(self, c: _PgCursor) -> dict[int, str]:
        c.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'reports'::regclass"
        )
        out = {}
        for (name,) in c.fetchall():
            try:
                d = date.fromisoformat(name[len("reports_") :])
            except ValueError:
                continue  # a partition somebody else attached; leave it alone
            out[(d - _EPOCH_DAY).days] = name
        return out

    def _load_partitions(self) -> None:
        with self._tx() as c:
            parts = self._partitions(c)
        with self._parts_lock:
            self._parts = set(parts)

    def _ensure_partitions(self, days: np.ndarray) -> None:
        with self._parts_lock:
            missing = [int(d) for d in days if int(d) not in self._parts]
        if not missing:
            return
        with self._tx() as c:
            c.execute("SELECT pg_advisory_xact_lock(?)", [self._lock_key])
            have = self._partitions(c)
            for d in missing:
                if d not in have:
                    c.execute(
                        f"CREATE TABLE {_day_name(d)} PARTITION OF reports "
                        f"FOR VALUES FROM ({d * DAY_NS}) TO ({(d + 1) * DAY_NS})"
                    )
        with self._parts_lock:
            self._parts.update(have)
            self._parts.update(missing)

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
        ej = extras_json(extras) if extras is not None else pa.nulls(n, pa.string())
        batch = core.append_column("extras", ej)
        rows = None
        if return_new_mask:
            batch, rows = first_rows(batch)
        t = batch.column("time_ns").to_numpy()
        days = np.unique(np.floor_divide(t, DAY_NS))
        buf = io.BytesIO()
        pacsv.write_csv(batch.select(list(_IN_COLUMNS)), buf, _CSV_WRITE)
        data = buf.getvalue()
        sql = (
            f"INSERT INTO reports ({', '.join(REPORT_COLUMNS)}) "
            f"SELECT {', '.join(REPORT_COLUMNS[:10])}, %s, %s, extras FROM kt_reports_in "
            "ORDER BY object_id, source, time_ns ON CONFLICT DO NOTHING"
        )
        if return_new_mask:
            sql += " RETURNING object_id, source, time_ns"
        for attempt in range(5):
            self._ensure_partitions(days)
            try:
                with self._pool.connection() as conn, conn.cursor() as cur:
                    with cur.copy(
                        f"COPY kt_reports_in ({', '.join(_IN_COLUMNS)}) FROM STDIN (FORMAT csv)"
                    ) as cp:
                        cp.write(data)
                    cur.execute(sql, [owner, rec])
                    inserted = cur.rowcount
                    returned = cur.fetchall() if return_new_mask else None
                break
            except psycopg.errors.CheckViolation as exc:
                # A partition this process thought existed was dropped (retention
                # elsewhere): reload and retry.
                if "no partition" not in str(exc) or attempt == 4:
                    raise
                self._load_partitions()
            except _RETRY:
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))
        mask = None
        if return_new_mask:
            assert rows is not None and returned is not None
            ret = pa.table(
                {
                    "object_id": pa.array([r[0] for r in returned], pa.string()),
                    "source": pa.array([r[1] for r in returned], pa.string()),
                    "time_ns": pa.array([r[2] for r in returned], pa.int64()),
                }
            )
            mask = new_mask(n, batch, rows, ret)
        return InsertResult(inserted=inserted, duplicates=n - inserted, new_mask=mask)

    def _select(self, sql: str, params: list[Any]) -> pa.Table:
        q = _PgCursor._sql(sql)
        with self._pool.connection() as conn, conn.cursor() as cur:
            with cur.copy(f"COPY ({q}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)", params) as cp:
                data = b"".join(bytes(block) for block in cp)
        if not data:
            cols = {n: pa.array([], t) for n, t in _READ_TYPES.items()}
            return stored_table(cols)
        t = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=list(REPORT_COLUMNS)),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=_READ_TYPES,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        return stored_table({n: t.column(n) for n in REPORT_COLUMNS})

    def apply_retention(self, now: datetime, max_age_s: Mapping[str, float]) -> dict[str, int]:
        named, default = self.retention_rules(now, max_age_s)
        counts: dict[str, int] = {}
        conds: list[str] = []
        params: list[Any] = []
        for s, cut in named.items():
            conds.append("(source = ? AND time_ns < ?)")
            params += [s, cut]
        if default is not None:
            if named:
                conds.append("(source <> ALL(?) AND time_ns < ?)")
                params += [list(named), default]
            else:
                conds.append("time_ns < ?")
                params.append(default)
        if not conds:
            return {}
        dropped: list[int] = []
        with self._tx() as c:
            if default is not None:
                # Whole days older than every cut-off: count and drop the partition.
                oldest_cut = min([default, *named.values()])
                c.execute("SELECT pg_advisory_xact_lock(?)", [self._lock_key])
                for day, name in sorted(self._partitions(c).items()):
                    if (day + 1) * DAY_NS > oldest_cut:
                        continue
                    c.execute(f"SELECT source, count(*) FROM {name} GROUP BY source")
                    for s, k in c.fetchall():
                        counts[s] = counts.get(s, 0) + int(k)
                    c.execute(f"DROP TABLE {name}")
                    dropped.append(day)
            c.execute(
                f"WITH d AS (DELETE FROM reports WHERE {' OR '.join(conds)} RETURNING source) "
                "SELECT source, count(*) FROM d GROUP BY source",
                params,
            )
            for s, k in c.fetchall():
                counts[s] = counts.get(s, 0) + int(k)
        with self._parts_lock:
            self._parts.difference_update(dropped)
        return {s: k for s, k in sorted(counts.items()) if k}

    def close(self) -> None:
        self._pool.close()
