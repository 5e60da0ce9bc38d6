"""The normalised position report: one record per decoded position or state.

Every decoder (ADS-B, Remote ID, AIS, JT/T 808, later satellite-IoT and others) emits
batches of these as an Arrow table whose first columns are :data:`CORE_SCHEMA`; any
source-specific fields follow as extra columns (prefixed by nothing; names in SI units
with unit suffixes like every other column). Decided once here, used by every later
issue (tracks, zones, conflicts, storage, API):

- ``object_id``: ``kind:id`` in lower case, e.g. ``icao24:3c6444``, ``mmsi:413000000``,
  ``uas:<serial>`` (Remote ID serial number; ``uas-caa:<reg>`` for a CAA registration,
  ``uas-session:<id>`` for a session id), ``jt808:<terminal phone>`` (digits as sent).
- ``source``: the feed the report came from: ``adsb`` (Mode S extended squitter),
  ``modes`` (other Mode S), ``remoteid-bcast``, ``remoteid-net``, ``ais``, ``jt808``;
  reserved for feeds to come: ``satiot`` (satellite-IoT trackers, e.g. BeiDou short
  message), ``radar``, ``mlat``. The set is open: consumers must accept other strings.
- ``time_utc``: absolute UTC, ``timestamp[ns, UTC]``. Inputs with no absolute time (AVR,
  Beast, Remote ID seconds after the hour) take receiver timestamps or a stated
  reference time; the reader says which in its docstring.
- ``lat_deg``, ``lon_deg``: WGS84 degrees; ``alt_m`` metres with ``alt_ref`` one of
  :data:`ALT_REFS` (``baro`` pressure altitude re 1013.25 hPa; ``wgs84`` ellipsoidal
  height; ``msl`` above mean sea level; ``agl`` above ground / take-off).
- ``speed_m_s`` (over ground), ``track_deg`` (true, clockwise from north, [0, 360)),
  ``vrate_m_s`` (positive up).
- Any value the source marks "not available" (AIS lat 91 / lon 181, speed 102.3 kn,
  heading 511, Remote ID sentinels, ...) is null, never a magic number.
- De-duplication key: :data:`DEDUP_KEY` = (``object_id``, ``source``, ``time_utc``).

Malformed input never raises out of a decoder: it is counted per kind and reason in a
:class:`DecodeErrors` and a sample of the raw bytes is kept for quarantine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

ALT_REFS = ("baro", "wgs84", "msl", "agl")
SOURCES = (
    "adsb",
    "modes",
    "remoteid-bcast",
    "remoteid-net",
    "ais",
    "jt808",
    "satiot",
    "radar",
    "mlat",
)
DEDUP_KEY = ("object_id", "source", "time_utc")

CORE_SCHEMA = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("time_utc", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("lat_deg", pa.float64()),
        pa.field("lon_deg", pa.float64()),
        pa.field("alt_m", pa.float64()),
        pa.field("alt_ref", pa.string()),
        pa.field("speed_m_s", pa.float64()),
        pa.field("track_deg", pa.float64()),
        pa.field("vrate_m_s", pa.float64()),
    ]
)
CORE_FIELDS = tuple(CORE_SCHEMA.names)


def object_id(kind: str, ident: str | int) -> str:
    """``kind:id`` in lower case (``object_id("icao24", "3C6444") == "icao24:3c6444"``)."""
    return f"{kind.lower()}:{str(ident).strip().lower()}"


def report_table(columns: Mapping[str, Any], extras: Mapping[str, Any] | None = None) -> pa.Table:
    """Build a report batch from column arrays (NaN and None become null).

    ``columns`` must hold every core field; ``time_utc`` may be ``datetime64[ns]``
    (taken as UTC) or int64 nanoseconds since 1970. ``extras`` are appended after the
    core columns in the given order.
    """
    missing = [f for f in CORE_FIELDS if f not in columns]
    if missing:
        raise KeyError(f"report columns missing: {', '.join(missing)}")
    arrays = []
    for f in CORE_SCHEMA:
        arrays.append(_array(columns[f.name], f.type))
    names = list(CORE_FIELDS)
    for name, values in (extras or {}).items():
        arrays.append(_array(values, None))
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names)
    bad = [r for r in ("alt_ref",) if r in names]
    if bad:
        refs = set(table.column("alt_ref").drop_null().unique().to_pylist())
        if not refs <= set(ALT_REFS):
            raise ValueError(f"alt_ref values {sorted(refs - set(ALT_REFS))} not in {ALT_REFS}")
    return table


def empty_reports() -> pa.Table:
    """A zero-row report batch with the core schema."""
    return CORE_SCHEMA.empty_table()


def _array(values: Any, typ: pa.DataType | None) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(typ) if typ is not None and values.type != typ else values
    if typ is not None and pa.types.is_timestamp(typ):
        v = np.asarray(values)
        if np.issubdtype(v.dtype, np.datetime64):
            v = v.astype("datetime64[ns]").astype(np.int64)
        return pa.array(v.astype(np.int64), type=pa.int64()).cast(typ)
    if typ is not None and pa.types.is_floating(typ):
        v = np.asarray(values, dtype=object)
        f = (
            np.array([np.nan if x is None else x for x in v], dtype=np.float64)
            if v.dtype == object
            else v
        )
        return pa.array(f, type=typ, from_pandas=True)
    return pa.array(values, type=typ, from_pandas=True)


@dataclass
class DecodeErrors:
    """Per-kind error counters with a bounded quarantine sample of the raw input."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: list[tuple[str, str, bytes | str]] = field(default_factory=list)
    max_samples: int = 1000

    def add(self, kind: str, reason: str, raw: bytes | str = b"") -> None:
        self.counts[(kind, reason)] += 1
        if len(self.samples) < self.max_samples:
            self.samples.append((kind, reason, raw))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_kind(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (kind, _), n in self.counts.items():
            out[kind] += n
        return dict(out)

    def merge(self, other: DecodeErrors) -> None:
        self.counts.update(other.counts)
        room = self.max_samples - len(self.samples)
        self.samples.extend(other.samples[: max(room, 0)])
