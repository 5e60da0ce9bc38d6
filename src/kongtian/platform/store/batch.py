"""Report batches in and out of the store: validation, extras JSON, filters, result tables.

Both backends keep report times as ``BIGINT`` nanoseconds since 1970 UTC (``time_ns``,
``received_ns``): PostgreSQL's ``timestamptz`` and DuckDB's Arrow import of zoned
timestamps stop at microseconds, and the de-duplication key and the API round trip need
the full ``timestamp[ns, UTC]``. Everything here is vectorised (Arrow, DuckDB); no
per-row Python on the ingest path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kongtian.errors import FormatError
from kongtian.model.report import CORE_FIELDS, CORE_SCHEMA
from kongtian.platform.store.base import STORED_REPORT_SCHEMA, BBox

# Columns of the reports table, in order (times as int64 ns).
REPORT_COLUMNS = (
    "object_id",
    "source",
    "time_ns",
    "lat_deg",
    "lon_deg",
    "alt_m",
    "alt_ref",
    "speed_m_s",
    "track_deg",
    "vrate_m_s",
    "owner",
    "received_ns",
    "extras",
)
SELECT_REPORT = ", ".join(REPORT_COLUMNS)
_FLOAT_CORE = ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s")


# -- time helpers ------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(t: datetime) -> int:
    """Nanoseconds since 1970 UTC of an aware datetime (naive = UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(ns: int | None) -> datetime | None:
    """Aware UTC datetime (microsecond precision) of int nanoseconds, None stays None."""
    if ns is None:
        return None
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def now_ns() -> int:
    return to_ns(datetime.now(UTC))


# -- report batches ----------------------------------------------------------------------
def prepare_batch(reports: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """Split a report batch into (core columns with ``time_ns``, extra columns or None).

    Validates the core columns (FormatError naming what is wrong), casts them to the core
    types, turns NaN / infinite core floats into null (the report convention) and
    timestamp extras into ISO 8601 Z text (binary extras become hex in
    :func:`extras_expr`). Extra columns named like stored columns (``owner``,
    ``received_utc``, ``received_ns``, ``extras``, ``time_ns``) are dropped: those come
    from the store, not from the batch.
    """
    missing = [f for f in CORE_FIELDS if f not in reports.column_names]
    if missing:
        raise FormatError(f"report batch lacks core columns {missing}")
    cols: dict[str, pa.ChunkedArray] = {}
    for f in CORE_SCHEMA:
        col = reports.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise FormatError(f"report column {f.name}: {col.type} is not {f.type}") from exc
        if not f.nullable and col.null_count:
            raise FormatError(f"report column {f.name} has {col.null_count} null values")
        if f.name in _FLOAT_CORE and col.null_count < len(col):
            col = pc.if_else(pc.is_finite(col), col, None)
        cols[f.name] = col
    cols["time_ns"] = cols.pop("time_utc").cast(pa.int64())
    core = pa.table({c: cols[c] for c in REPORT_COLUMNS[:10]})
    extra_names = [n for n in reports.column_names if n not in CORE_FIELDS]
    reserved = {"owner", "received_utc", "received_ns", "extras", "time_ns"}
    extra_names = [n for n in extra_names if n not in reserved]
    if not extra_names:
        return core, None
    extras = {}
    for n in extra_names:
        col = reports.column(n)
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col.cast(pa.timestamp("ns", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
        extras[n] = col
    return core, pa.table(extras)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def extras_expr(extras: pa.Schema) -> str:
    """DuckDB expression: JSON object text of the non-null ``extras`` columns of a row.

    Only non-null values are written: a sparse object per row keeps the store small
    (most extra columns of a mixed batch are null for most rows). ``concat_ws`` skips the
    null ``"key":value`` pieces, which is about twice as fast as building a map. Null when
    every extra column is null.
    """
    parts = []
    for f in extras:
        v = _ident(f.name)
        if pa.types.is_floating(f.type):
            v = f"CASE WHEN isfinite({v}) THEN {v} END"
        elif pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            v = f"lower(hex({v}))"
        parts.append(f"{_literal(json.dumps(f.name) + ':')} || to_json({v})")
    obj = "'{' || concat_ws(',', " + ", ".join(parts) + ") || '}'"
    return f"nullif({obj}, '{{}}')"


def extras_sql(extras: pa.Table, relation: str) -> str:
    """DuckDB SELECT of :func:`extras_expr` (column ``extras``) for every row of ``relation``."""
    return f"SELECT {extras_expr(extras.schema)} AS extras FROM {relation}"


_EXTRAS_CON: Any = None
_EXTRAS_LOCK = threading.Lock()


def extras_json(extras: pa.Table | None, con: Any = None) -> pa.Array:
    """One JSON text (or null) per row of ``extras``, built vectorised by DuckDB."""
    global _EXTRAS_CON
    if extras is None:
        raise ValueError("no extras")
    import duckdb

    if con is None:
        with _EXTRAS_LOCK:
            if _EXTRAS_CON is None:
                _EXTRAS_CON = duckdb.connect(":memory:")
            con = _EXTRAS_CON.cursor()
        own = True
    else:
        own = False
    try:
        rel = f"kt_extras_{threading.get_ident()}"
        con.register(rel, extras)
        try:
            out = con.sql(extras_sql(extras, rel)).to_arrow_table()
        finally:
            con.unregister(rel)
    finally:
        if own:
            con.close()
    col = out.column(0)
    if len(col) != extras.num_rows:  # pragma: no cover - DuckDB contract
        raise RuntimeError("extras JSON row count mismatch")
    return col.combine_chunks()


_KEY = ["object_id", "source", "time_ns"]


def first_rows(batch: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """(rows of ``batch`` whose key is the first of its kind, their input row numbers)."""
    n = batch.num_rows
    keyed = batch.select(_KEY).append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
    first = keyed.group_by(_KEY, use_threads=False).aggregate([("_row", "min")])
    rows = np.sort(first.column("_row_min").to_numpy())
    if len(rows) == n:
        return batch, np.arange(n, dtype=np.int64)
    return batch.take(pa.array(rows)), rows


def new_mask(n: int, unique: pa.Table, rows: np.ndarray, returned: pa.Table) -> np.ndarray:
    """Bool per input row: True where the row's key is among the ``returned`` (inserted) keys.

    ``unique`` holds one row per key (from :func:`first_rows`), ``rows`` their input row
    numbers; so only the first row of a key repeated in the batch can be True.
    """
    mask = np.zeros(n, dtype=bool)
    if returned.num_rows == 0:
        return mask
    keyed = unique.select(_KEY).append_column("_row", pa.array(rows, pa.int64()))
    hit = keyed.join(returned.select(_KEY), keys=_KEY, join_type="inner", use_threads=False)
    mask[hit.column("_row").to_numpy()] = True
    return mask


def report_where(
    *,
    object_ids: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    bbox: BBox | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    owner: str | None = None,
) -> tuple[str, list[Any]]:
    """SQL WHERE clause (``?`` placeholders) and parameters for report filters."""
    where: list[str] = []
    params: list[Any] = []
    if object_ids is not None:
        if not object_ids:
            where.append("FALSE")
        else:
            where.append(f"object_id IN ({', '.join('?' * len(object_ids))})")
            params += list(object_ids)
    if kinds is not None:
        if not kinds:
            where.append("FALSE")
        else:
            where.append("(" + " OR ".join(["object_id LIKE ? ESCAPE '\\'"] * len(kinds)) + ")")
            params += [_like_prefix(k.lower()) + ":%" for k in kinds]
    if sources is not None:
        if not sources:
            where.append("FALSE")
        else:
            where.append(f"source IN ({', '.join('?' * len(sources))})")
            params += list(sources)
    if bbox is not None:
        w, p = bbox_where(bbox)
        where.append(w)
        params += p
    if start is not None:
        where.append("time_ns >= ?")
        params.append(to_ns(start))
    if end is not None:
        where.append("time_ns < ?")
        params.append(to_ns(end))
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    return (" AND ".join(where) if where else "TRUE"), params


def bbox_where(bbox: BBox) -> tuple[str, list[Any]]:
    """SQL condition for a (lon_min, lat_min, lon_max, lat_max) box, degrees, edges included.

    ``lon_min > lon_max`` is a box across the antimeridian.
    """
    try:
        lon_min, lat_min, lon_max, lat_max = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise FormatError(
            f"bbox must be 4 numbers (lon_min, lat_min, lon_max, lat_max): {bbox!r}"
        ) from None
    if not all(np.isfinite([lon_min, lat_min, lon_max, lat_max])):
        raise FormatError(f"bbox values must be finite: {bbox!r}")
    if not (lat_min <= lat_max):
        raise FormatError(f"bbox lat_min {lat_min} > lat_max {lat_max}")
    if lon_min <= lon_max:
        return "lat_deg BETWEEN ? AND ? AND lon_deg BETWEEN ? AND ?", [
            lat_min,
            lat_max,
            lon_min,
            lon_max,
        ]
    # Crossing the antimeridian: (170, ., -170, .) means 170..180 and -180..-170.
    return "lat_deg BETWEEN ? AND ? AND (lon_deg >= ? OR lon_deg <= ?)", [
        lat_min,
        lat_max,
        lon_min,
        lon_max,
    ]


def check_limit(limit: int) -> int:
    """``limit`` as an int >= 0, else FormatError."""
    n = int(limit)
    if n < 0:
        raise FormatError(f"limit must be >= 0, got {limit}")
    return n


def _like_prefix(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def stored_table(columns: Mapping[str, Any]) -> pa.Table:
    """Build a :data:`STORED_REPORT_SCHEMA` table from int-ns time columns."""
    arrays = []
    for f in STORED_REPORT_SCHEMA:
        if f.name == "time_utc":
            v = columns["time_ns"]
        elif f.name == "received_utc":
            v = columns["received_ns"]
        else:
            v = columns[f.name]
        if isinstance(v, pa.ChunkedArray):
            v = v.combine_chunks()
        if pa.types.is_timestamp(f.type):
            arr = pa.array(v, type=pa.int64()) if not isinstance(v, pa.Array) else v
            arrays.append(arr.cast(pa.int64()).view(f.type))
        else:
            arr = v if isinstance(v, pa.Array) else pa.array(v, type=f.type)
            arrays.append(arr.cast(f.type) if arr.type != f.type else arr)
    return pa.Table.from_arrays(arrays, schema=STORED_REPORT_SCHEMA)
