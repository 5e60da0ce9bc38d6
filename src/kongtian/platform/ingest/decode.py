"""Raw payloads (HTTP, MQTT, NATS, TCP) -> one report batch + the payloads that failed.

:func:`decode_payloads` decodes a batch of payloads of one format with the
:mod:`kongtian.traffic.decode` readers and returns the reports (core columns, then the
source-specific ones) and, for every payload that produced a decode error, the raw
payload with the reason(s). Good payloads of the batch still decode; nothing raises
for bad input. Payload conventions (one transport message = one payload):

- ``avr``: AVR text, one or more lines ``*<hex>;`` or ``@<12 hex counter><hex>;``;
- ``beast``: a chunk of a Beast binary stream (whole records);
- ``modes-csv``: CSV lines ``<unix seconds>,...,<hex frame>,...``;
- ``ais``: NMEA text, one or more sentences (all fragments of a multi-sentence
  message should be in one payload or in the same batch);
- ``remoteid``: one ASTM F3411 broadcast message (25 bytes) or Message Pack, binary or
  as hex text. Each payload is its own transmitter: a Location is named by the Basic ID
  of the same payload (a Message Pack is self-contained); one without it is an error;
- ``remoteid-net``: an F3411 ``GET /uss/flights`` JSON response;
- ``jt808``: one or more JT/T 808 frames (``0x7e`` ... ``0x7e``), binary or hex text;
- ``reports-json``: normalised reports as JSON: one object, a list of objects, or JSON
  Lines. Keys: ``object_id``, ``source`` (non-empty strings), ``time_utc`` (ISO 8601,
  ``Z`` or offset; naive = UTC; or Unix seconds), optional ``lat_deg``, ``lon_deg``
  (WGS84 degrees, both or neither), ``alt_m`` (m) with ``alt_ref`` (one of
  :data:`kongtian.model.report.ALT_REFS`), ``speed_m_s`` (>= 0), ``track_deg``
  ([0, 360)), ``vrate_m_s``; other scalar keys become extra columns.

Stream formats carry state from message to message (ADS-B even/odd CPR pairs, AIS
fragments, JT/T 808 sub-packages): the payloads of a batch are decoded *together* so
that state spans the batch, and each decoder error is traced back to the payload that
holds the offending line / frame / message. An error that cannot be traced to one
payload (e.g. an AIS message whose fragments came in different payloads) is returned
with the decoder's own sample of the raw input. Decoding starts afresh per call, so
state does not span batches: a lone ADS-B airborne position decodes only with ``ref``
(the receiver position) or with its pair in the same batch.

Not counted as errors: ADS-B CPR positions left unresolved or refused by the speed gate
(``cpr: ...``; the frame is valid, its row has no position).

Times: ``received_utc`` stamps formats without absolute time (AVR, Beast: plus the
receiver counter elapsed since the batch's first frame; AIS without tag-block time;
Remote ID broadcast: reference for placing the seconds-after-the-hour).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from kongtian.errors import ConfigError, KongtianError
from kongtian.model.report import ALT_REFS, CORE_FIELDS, CORE_SCHEMA, DecodeErrors

FORMATS = ("avr", "beast", "modes-csv", "ais", "remoteid", "remoteid-net", "jt808", "reports-json")
#: Decoder reasons that describe a valid message (its row exists, with less in it).
NOT_MALFORMED_PREFIXES = ("cpr:",)
_MAX_REASON = 500

Errors = list[tuple[bytes, str]]


def decode_payloads(
    fmt: str,
    payloads: Sequence[bytes],
    *,
    received_utc: datetime | None = None,
    ref: tuple[float, float] | None = None,
    strict: bool = True,
) -> tuple[pa.Table, Errors]:
    """Decode ``payloads`` (all of format ``fmt``, see the module docstring).

    Returns (reports, errors): reports start with :data:`~kongtian.model.report.CORE_SCHEMA`
    columns; errors hold ``(payload, reason)`` once per failed payload (reasons joined by
    ``"; "``). ``received_utc`` (default now) is the receive time of the batch; ``ref`` =
    (lat_deg, lon_deg) of the receiver, for ADS-B CPR decoding; ``strict`` is passed to
    the JT/T 808 frame parser. Raises :class:`ConfigError` only for an unknown ``fmt``.
    """
    if fmt not in _DECODERS:
        raise ConfigError(f"unknown format {fmt!r}; expected one of {FORMATS}", option="format")
    received = _aware(received_utc)
    items = [bytes(p) for p in payloads]
    ctx = _Ctx(received, ref, strict)
    tables, errs = _decode_group(_DECODERS[fmt], items, list(range(len(items))), ctx)
    return _concat(tables), _merge_errors(items, errs)


# ----------------------------------------------------------------------------- plumbing
class _Ctx:
    def __init__(self, received: datetime, ref: tuple[float, float] | None, strict: bool):
        self.received = received
        self.received_ns = int(received.timestamp() * 1e9)
        self.ref = ref
        self.strict = strict


# A format decoder: (payloads, ctx) -> (tables, [(payload index or None, reason, raw)]),
# where raw is the decoder's sample for errors it cannot trace (index None).
_Traced = list[tuple[int | None, str, bytes]]
_Decoder = Callable[[list[bytes], _Ctx], tuple[list[pa.Table], _Traced, bool]]


def _aware(t: datetime | None) -> datetime:
    if t is None:
        return datetime.now(UTC)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _decode_group(
    dec: _Decoder, items: list[bytes], idx: list[int], ctx: _Ctx
) -> tuple[list[pa.Table], list[tuple[int | None, str, bytes]]]:
    """Decode ``items`` (original indices ``idx``) together; on a decoder exception or an
    overflowing error sample, split the batch in halves and decode each separately."""
    if not items:
        return [], []
    try:
        tables, traced, complete = dec(items, ctx)
    except Exception as exc:  # noqa: BLE001 - a decoder bug on odd input must not stop ingest
        if len(items) == 1:
            if isinstance(exc, KongtianError):
                reason = str(exc)
            else:
                reason = f"decoder failed: {type(exc).__name__}: {exc}"
            return [], [(idx[0], reason[:_MAX_REASON], b"")]
        complete = False
        tables, traced = [], []
    if not complete and len(items) > 1:
        h = len(items) // 2
        t1, e1 = _decode_group(dec, items[:h], idx[:h], ctx)
        t2, e2 = _decode_group(dec, items[h:], idx[h:], ctx)
        return t1 + t2, e1 + e2
    out = [(None if i is None else idx[i], r, raw) for i, r, raw in traced]
    if not complete and len(items) == 1 and not out:
        out = [(idx[0], "decoder reported errors without detail", b"")]
    return tables, out


def _merge_errors(items: list[bytes], errs: list[tuple[int | None, str, bytes]]) -> Errors:
    by_payload: dict[int, list[str]] = {}
    loose: Errors = []
    for i, reason, raw in errs:
        if i is None:
            loose.append((raw, reason))
            continue
        reasons = by_payload.setdefault(i, [])
        if reason not in reasons:
            reasons.append(reason)
    out: Errors = [(items[i], "; ".join(rs)[:_MAX_REASON]) for i, rs in sorted(by_payload.items())]
    return out + loose


def _concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return CORE_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.concat_tables([t.select(list(CORE_FIELDS)).cast(CORE_SCHEMA) for t in tables])


def _raw_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw)
    return str(raw).encode("utf-8", "replace")


class _Locator:
    """Traces a decoder's error sample back to the payload holding it."""

    def __init__(self, items: list[bytes], *, text: bool) -> None:
        self.items = items
        self.text = text
        self.keys: dict[Any, int] = {}
        self._low: list[str] | None = None

    def add(self, key: Any, i: int) -> None:
        self.keys.setdefault(key.lower() if isinstance(key, str) else key, i)

    def find(self, raw: Any) -> int | None:
        if isinstance(raw, bytearray | memoryview):
            raw = bytes(raw)
        k = raw.strip().lower() if isinstance(raw, str) else raw
        if not k:
            return None
        i = self.keys.get(k)
        if i is not None:
            return i
        if len(self.items) == 1:
            return 0
        # Slow path (rare: only errors the exact keys miss): substring search.
        if self.text or isinstance(raw, str):
            if self._low is None:
                self._low = [p.decode("latin-1").lower() for p in self.items]
            s = k if isinstance(k, str) else k.decode("latin-1")
            for probe in (s, s[:32]):
                for j, low in enumerate(self._low):
                    if probe and probe in low:
                        return j
            return None
        for probe_b in (raw, raw[:16]):
            for j, item in enumerate(self.items):
                if probe_b and probe_b in item:
                    return j
        return None


def _trace(errors: DecodeErrors, loc: _Locator) -> tuple[_Traced, bool]:
    """Map decoder errors to payloads; ``complete`` is False if samples were dropped."""
    traced: _Traced = []
    for kind, reason, raw in errors.samples:
        if reason.startswith(NOT_MALFORMED_PREFIXES):
            continue
        traced.append((loc.find(raw), f"{kind}: {reason}", _raw_bytes(raw)))
    return traced, len(errors.samples) >= errors.total


def _lines(p: bytes) -> list[str]:
    return [s.strip() for s in p.decode("latin-1").splitlines() if s.strip()]


def _maybe_hex(p: bytes) -> bytes:
    """Binary payload as is, or the bytes of hex text (spaces and newlines allowed)."""
    s = p.strip()
    if s and len(s) % 2 == 0 or b" " in s or b"\n" in s:
        try:
            return bytes.fromhex(s.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    return p


# ----------------------------------------------------------------------------- formats
def _avr(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.traffic.decode import adsb

    loc = _Locator(items, text=True)
    lines: list[str] = []
    for i, p in enumerate(items):
        for s in _lines(p):
            lines.append(s)
            loc.add(s, i)
            if s.startswith("*") and s.endswith(";"):
                loc.add(s[1:-1], i)
            elif s.startswith("@") and s.endswith(";"):
                loc.add(s[13:-1], i)
    table, errors = adsb.read_avr(lines, ref_time_utc=ctx.received, ref=ctx.ref)
    traced, complete = _trace(errors, loc)
    return [table], traced, complete


def _beast(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.traffic.decode import adsb
    from kongtian.traffic.decode.adsb import BEAST_CLOCK_HZ

    loc = _Locator(items, text=False)
    traced: _Traced = []
    complete = True
    msgs: list[str] = []
    counters: list[int] = []
    for i, p in enumerate(items):
        m, c, errs = adsb.beast_frames(p)
        for _kind, reason, _raw in errs.samples:
            traced.append((i, f"adsb: {reason}", b""))
        complete &= len(errs.samples) >= errs.total
        for frame in m:
            loc.add(frame, i)
        msgs += m
        counters += c
    cnt = np.asarray(counters, dtype=np.int64)
    first = cnt[0] if cnt.size else 0
    times = ctx.received_ns + np.round((cnt - first) * (1e9 / BEAST_CLOCK_HZ)).astype(np.int64)
    table, errors = adsb.decode_messages(msgs, times, ref=ctx.ref)
    t2, c2 = _trace(errors, loc)
    return [table], traced + t2, complete and c2


def _modes_csv(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.traffic.decode import adsb

    loc = _Locator(items, text=True)
    lines: list[str] = []
    for i, p in enumerate(items):
        for s in _lines(p):
            lines.append(s)
            loc.add(s, i)
            for cell in s.split(","):
                c = cell.strip().strip('"')
                if len(c) in (14, 28):
                    loc.add(c, i)
    text = "\n".join(lines) + "\n"
    if "," not in text:  # read_modes_csv would take a comma-free line for a file path
        return [], [(i, "adsb: csv: not CSV (no comma)", b"") for i in range(len(items))], True
    table, errors = adsb.read_modes_csv(text, ref=ctx.ref)
    traced, complete = _trace(errors, loc)
    return [table], traced, complete


def _ais(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.traffic.decode import ais

    loc = _Locator(items, text=True)
    lines: list[str] = []
    for i, p in enumerate(items):
        for s in _lines(p):
            lines.append(s)
            loc.add(s, i)
    table, errors = ais.read_nmea(lines, ref_time_utc=ctx.received)
    traced, complete = _trace(errors, loc)
    return [table], traced, complete


def _remoteid(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.traffic.decode import remoteid

    # One transmitter per payload, so payloads never share state: decode one by one.
    tables: list[pa.Table] = []
    traced: _Traced = []
    complete = True
    for i, p in enumerate(items):
        msg = _maybe_hex(p)
        table, errors = remoteid.read_messages(
            [msg], times_ns=[ctx.received_ns], transmitter=f"payload-{i}"
        )
        tables.append(table)
        for kind, reason, _raw in errors.samples:
            traced.append((i, f"{kind}: {reason}", b""))
        complete &= len(errors.samples) >= errors.total
    return tables, traced, complete


def _remoteid_net(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.errors import FormatError
    from kongtian.traffic.decode import remoteid

    tables: list[pa.Table] = []
    traced: _Traced = []
    complete = True
    for i, p in enumerate(items):
        try:
            table, errors = remoteid.read_network_flights(p, now_utc=ctx.received)
        except FormatError as exc:
            traced.append((i, f"remoteid-net: {exc}", b""))
            continue
        tables.append(table)
        for kind, reason, _raw in errors.samples:
            traced.append((i, f"{kind}: {reason}", b""))
        complete &= len(errors.samples) >= errors.total
    return tables, traced, complete


def _jt808(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    from kongtian.traffic.decode import jt808

    loc = _Locator(items, text=False)
    traced: _Traced = []
    frames: list[bytes] = []
    for i, p in enumerate(items):
        data = p if p[:1] == b"\x7e" else _maybe_hex(p)
        if data[:1] != b"\x7e":
            traced.append((i, "jt808: payload does not start with a 0x7e frame flag", b""))
            continue
        fs, leftover = jt808.split_frames(data)
        if leftover:
            traced.append((i, "jt808: incomplete frame at end of payload", b""))
        for f in fs:
            loc.add(bytes(f), i)
        frames += fs
    table, errors, _msgs = jt808.read_frames(frames, strict=ctx.strict)
    t2, complete = _trace(errors, loc)
    return [table], traced + t2, complete


# ----------------------------------------------------------------------- reports-json
_NUMERIC = ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s")
_REAL = (int, float)
_CORE_SET = frozenset(CORE_FIELDS)
_SCALAR = (str, int, float, bool)


class _Bad(ValueError):
    pass


def _num(obj: dict[str, Any], key: str) -> float:
    v = obj.get(key)
    if v is None:
        return math.nan
    t = type(v)
    if t is float or t is int:
        f = float(v)
        if f - f == 0.0:  # finite (inf - inf and nan - nan are nan)
            return f
        raise _Bad(f"{key!r} must be finite")
    raise _Bad(f"{key!r} must be a number or null, got {t.__name__}")


def _time_ns(v: Any) -> int:
    if isinstance(v, bool) or v is None:
        raise _Bad("'time_utc' is required (ISO 8601 or Unix seconds)")
    if isinstance(v, _REAL):
        if not (math.isfinite(v) and abs(v) < 1e11):
            raise _Bad(f"'time_utc' {v!r} is not a Unix time in seconds")
        return int(round(v * 1e9))
    if not isinstance(v, str):
        raise _Bad(f"'time_utc' must be a string or number, got {type(v).__name__}")
    s = v.strip()
    try:
        dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
    except ValueError:
        raise _Bad(f"'time_utc' {v[:40]!r} is not ISO 8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    frac_ns = 0
    # datetime keeps microseconds; keep nanoseconds written in the text as well.
    if "." in s:
        digits = ""
        for ch in s[s.index(".") + 1 :]:
            if not ch.isdigit():
                break
            digits += ch
        if len(digits) > 6:
            frac_ns = int(digits[6:9].ljust(3, "0"))
    whole = dt.replace(microsecond=0)
    return int(whole.timestamp()) * 1_000_000_000 + dt.microsecond * 1000 + frac_ns


def report_row(obj: Any) -> dict[str, Any]:
    """Validate one normalised report object (``reports-json``); raises ``ValueError``
    naming the bad key. Returns the row with ``time_utc`` as int ns."""
    if type(obj) is not dict:
        raise _Bad(f"a report must be a JSON object, got {type(obj).__name__}")
    row: dict[str, Any] = {}
    for key in ("object_id", "source"):
        v = obj.get(key)
        if type(v) is not str or not (v := v.strip()):
            raise _Bad(f"{key!r} must be a non-empty string")
        row[key] = v
    row["time_utc"] = _time_ns(obj.get("time_utc"))
    for key in _NUMERIC:
        row[key] = _num(obj, key)
    lat, lon = row["lat_deg"], row["lon_deg"]
    if math.isnan(lat) != math.isnan(lon):
        raise _Bad("'lat_deg' and 'lon_deg' go together (both or neither)")
    if not math.isnan(lat) and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _Bad(f"position ({lat}, {lon}) out of range")
    if row["speed_m_s"] < 0:
        raise _Bad("'speed_m_s' must be >= 0")
    if not (math.isnan(row["track_deg"]) or 0 <= row["track_deg"] < 360):
        raise _Bad("'track_deg' must be in [0, 360)")
    ref = obj.get("alt_ref")
    if ref is not None and ref not in ALT_REFS:
        raise _Bad(f"'alt_ref' {ref!r} is not one of {ALT_REFS}")
    if not math.isnan(row["alt_m"]) and ref is None:
        raise _Bad("'alt_m' needs 'alt_ref'")
    row["alt_ref"] = ref
    for k, v in obj.items():
        if k in row or k in CORE_FIELDS:
            continue
        if v is None or isinstance(v, _SCALAR):
            row[k] = v
        else:
            row[k] = json.dumps(v, ensure_ascii=False)
    return row


def reports_from_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Validated rows (:func:`report_row`) -> a report table (core columns, then extras
    in first-seen order; an extra column of mixed types becomes text)."""
    if not rows:
        return CORE_SCHEMA.empty_table()
    cols: list[list[Any]] = [[] for _ in CORE_FIELDS]
    appends = [c.append for c in cols]
    extra: dict[str, None] = {}
    n_core = len(CORE_FIELDS)
    for r in rows:
        for app, name in zip(appends, CORE_FIELDS, strict=True):
            app(r[name])
        if len(r) > n_core:
            for k in r:
                if k not in _CORE_SET:
                    extra.setdefault(k, None)
    arrays: list[pa.Array] = []
    for f, vals in zip(CORE_SCHEMA, cols, strict=True):
        if f.name == "time_utc":
            arrays.append(pa.array(vals, pa.int64()).cast(f.type))
        elif pa.types.is_floating(f.type):
            arrays.append(pa.array(np.asarray(vals, np.float64), f.type, from_pandas=True))
        else:
            arrays.append(pa.array(vals, f.type))
    names = list(CORE_FIELDS)
    for k in extra:
        vals = [r.get(k) for r in rows]
        try:
            arr = pa.array(vals)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arr = pa.array([None if v is None else str(v) for v in vals], pa.string())
        arrays.append(arr)
        names.append(k)
    return pa.Table.from_arrays(arrays, names=names)


def _json_objects(p: bytes) -> list[Any]:
    text = p.decode("utf-8")
    s = text.strip()
    if not s:
        raise _Bad("empty payload")
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as exc:
        if "\n" not in s:
            raise _Bad(f"not JSON: {exc.msg} at char {exc.pos}") from None
        objs = []
        for n, line in enumerate(s.splitlines(), 1):
            if line.strip():
                try:
                    objs.append(json.loads(line))
                except json.JSONDecodeError as e2:
                    raise _Bad(f"JSON Lines line {n}: {e2.msg}") from None
        return objs
    return obj if isinstance(obj, list) else [obj]


def _reports_json(items: list[bytes], ctx: _Ctx) -> tuple[list[pa.Table], _Traced, bool]:
    lines = _reports_json_lines(items)
    if lines is not None:
        return [lines], [], True
    objs: list[Any] = []
    traced: _Traced = []
    parsed: list[tuple[int, list[Any]]] = []
    for i, p in enumerate(items):
        try:
            batch = _json_objects(p)
        except (_Bad, UnicodeDecodeError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, _Bad) else f"{type(exc).__name__}: {exc}"
            traced.append((i, f"reports-json: {reason}"[:_MAX_REASON], b""))
            continue
        parsed.append((i, batch))
        objs += batch
    fast = _reports_fast(objs)
    if fast is not None:
        return [fast], traced, True
    # Something in the batch is off: validate report by report to name it.
    rows: list[dict[str, Any]] = []
    for i, batch in parsed:
        for k, obj in enumerate(batch):
            try:
                rows.append(report_row(obj))
            except _Bad as exc:
                where = f"report {k}: " if len(batch) > 1 else ""
                traced.append((i, f"reports-json: {where}{exc}"[:_MAX_REASON], b""))
    return [reports_from_rows(rows)], traced, True


_STR_FIELDS = ("object_id", "source", "alt_ref")


_JSON_SCHEMA = pa.schema(
    [(f, pa.string()) for f in ("object_id", "source", "time_utc", "alt_ref")]
    + [(f, pa.float64()) for f in _NUMERIC]
)


def _reports_json_lines(items: list[bytes]) -> pa.Table | None:
    """Fastest path: every payload is one or more JSON objects (not lists): parse them all
    at once with Arrow's JSON reader, then validate as :func:`_reports_fast`."""
    import pyarrow.json as pj

    if not items or not all(p.lstrip()[:1] == b"{" for p in items):
        return None
    try:
        table = pj.read_json(
            pa.BufferReader(b"\n".join(items)),
            parse_options=pj.ParseOptions(
                explicit_schema=_JSON_SCHEMA,
                unexpected_field_behavior="infer",
                newlines_in_values=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return _validated(table)


def _reports_fast(objs: list[Any]) -> pa.Table | None:
    """All-or-nothing vectorised path for a clean batch (every object valid, times with a
    zone); ``None`` sends the batch to the exact per-report path."""
    if not objs or not all(type(o) is dict for o in objs):
        return None if objs else CORE_SCHEMA.empty_table()
    try:
        struct = pa.array(objs)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None
    if not pa.types.is_struct(struct.type) or struct.null_count:
        return None
    return _validated(pa.Table.from_struct_array(struct))


def _validated(table: pa.Table) -> pa.Table | None:
    """The report table of parsed JSON objects if every row is valid, else None."""
    import pyarrow.compute as pc

    table = table.combine_chunks()
    names = set(table.column_names)
    if not {"object_id", "source", "time_utc"} <= names:
        return None
    n = table.num_rows
    cols: dict[str, Any] = {}
    try:
        for f in _STR_FIELDS:
            col = table.column(f) if f in names else pa.nulls(n, pa.string())
            if not (pa.types.is_string(col.type) or pa.types.is_null(col.type)):
                return None
            cols[f] = col.cast(pa.string())
        for f in ("object_id", "source"):
            trimmed = pc.utf8_trim_whitespace(cols[f])
            if trimmed.null_count or not pc.all(pc.greater(pc.utf8_length(trimmed), 0)).as_py():
                return None
            cols[f] = trimmed
        t = table.column("time_utc")
        if not pa.types.is_string(t.type) or t.null_count:
            return None
        cols["time_utc"] = t.cast(pa.timestamp("ns", tz="UTC"))
        for f in _NUMERIC:
            col = table.column(f) if f in names else pa.nulls(n, pa.float64())
            if not (
                pa.types.is_floating(col.type)
                or pa.types.is_integer(col.type)
                or pa.types.is_null(col.type)
            ):
                return None
            cols[f] = col.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    v = {f: np.asarray(cols[f].to_numpy(zero_copy_only=False), np.float64) for f in _NUMERIC}
    lat, lon = v["lat_deg"], v["lon_deg"]
    with np.errstate(invalid="ignore"):
        bad = np.isnan(lat) != np.isnan(lon)
        bad |= ~np.isnan(lat) & ~((lat >= -90) & (lat <= 90) & (lon >= -180) & (lon <= 180))
        bad |= v["speed_m_s"] < 0
        bad |= ~np.isnan(v["track_deg"]) & ~((v["track_deg"] >= 0) & (v["track_deg"] < 360))
        bad |= np.isinf(np.stack(list(v.values()))).any(axis=0)
    ref = cols["alt_ref"]
    has_ref = np.asarray(ref.is_valid().to_numpy(zero_copy_only=False), bool)
    bad |= ~np.isnan(v["alt_m"]) & ~has_ref
    refs_ok = pc.all(pc.is_in(ref.drop_null(), pa.array(ALT_REFS))).as_py()
    if bad.any() or refs_ok is False:
        return None
    arrays = [cols[f] for f in CORE_FIELDS]
    out_names = list(CORE_FIELDS)
    for c in table.column_names:
        if c in _CORE_SET:
            continue
        col = table.column(c)
        if pa.types.is_nested(col.type):  # as the per-report path: JSON text
            col = pa.array(
                [None if x is None else json.dumps(x, ensure_ascii=False) for x in col.to_pylist()],
                pa.string(),
            )
        arrays.append(col)
        out_names.append(c)
    return pa.Table.from_arrays(arrays, names=out_names)


_DECODERS: dict[str, _Decoder] = {
    "avr": _avr,
    "beast": _beast,
    "modes-csv": _modes_csv,
    "ais": _ais,
    "remoteid": _remoteid,
    "remoteid-net": _remoteid_net,
    "jt808": _jt808,
    "reports-json": _reports_json,
}
