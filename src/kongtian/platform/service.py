"""The service core: ingest -> store -> traffic pipeline -> alerts -> live hub.

:class:`Service` owns one :class:`~kongtian.traffic.pipeline.Pipeline` fed with the zones
and operational intents kept in the :class:`~kongtian.platform.store.base.Store`. Every
ingest path (HTTP, MQTT, NATS, TCP) ends in :meth:`Service.ingest_reports`:

1. the batch is committed to the store (one transaction, idempotent on
   :data:`~kongtian.model.report.DEDUP_KEY`) *before anything else*: when the call
   returns, the caller may acknowledge the messages to its transport;
2. only the rows this call inserted (not duplicates, e.g. an MQTT redelivery) go
   through the pipeline, so a redelivered report cannot raise an alert twice;
3. the alert events are upserted into the store;
4. the latest state of every object that changed is published on the hub's ``tracks``
   topic and the alert events on ``alerts`` (see :mod:`kongtian.platform.live`).

Step 1 runs under a commit lock and steps 2-4 under the pipeline lock; each commit
takes a ticket and batches enter the pipeline in ticket order, so they reach it in
commit order (the pipeline is stateful and not thread-safe) while one caller's commit
overlaps the previous caller's pipeline run. A failure after step 1 (a pipeline bug on
odd data) is logged and counted (``pipeline_errors``), not raised: the reports are
stored and must be acknowledged, or the transport would redeliver them for ever.

Zones and intents are (re)loaded from the store at start, by :meth:`reload_zones` /
:meth:`reload_intents`, and automatically when their versions in the store change
(checked at most every ``reload_every_s`` during ingest, which also picks up changes
made by other processes sharing the store). At start the alerts still active in the
store are handed back to the pipeline's alert manager, so a restart neither duplicates
nor strands them. Reports stamped more than ``future_tolerance_s`` ahead of the wall
clock are stored but not processed (they would move the pipeline's clock).

Times: feed time (report ``time_utc``) drives the pipeline; ISO 8601 ``Z`` strings with
millisecond precision at the edges (hub items, :meth:`tracks`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kongtian.errors import ConfigError, FormatError, KongtianError
from kongtian.model.report import CORE_FIELDS, CORE_SCHEMA, report_table

if TYPE_CHECKING:
    from kongtian.platform.live import Hub
    from kongtian.platform.store.base import Store
    from kongtian.traffic.intents import OperationalIntent
    from kongtian.traffic.pipeline import Pipeline

log = logging.getLogger("kongtian.service")

#: Remote ID fields withheld from the ``public`` role (F3411: operator data is for
#: authorised users only): operator identity, operator position, self-ID text, and the
#: service's own ``owner`` / ``owners`` (the operator fleet that ingested the data).
REDACTED_FIELDS = frozenset(
    {
        "owner",
        "owners",
        "operator_id",
        "operator_id_type",
        "operator_lat_deg",
        "operator_lon_deg",
        "operator_alt_m",
        "operator_location_type",
        "self_id",
        "self_id_desc",
        "description",
    }
)
#: Intent states that hold airspace for strategic deconfliction.
BLOCKING_STATES = ("Accepted", "Activated", "Nonconforming", "Contingent")
#: Allowed intent state changes (F3548 life cycle; "Rejected" intents are kept for audit).
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "Accepted": ("Activated", "Ended"),
    "Activated": ("Nonconforming", "Contingent", "Ended"),
    "Nonconforming": ("Activated", "Contingent", "Ended"),
    "Contingent": ("Ended",),
    "Ended": (),
    "Rejected": (),
}
_NEVER = np.iinfo(np.int64).min
_GROUPS: dict[str, tuple[str, ...]] = {
    "pos": ("lat_deg", "lon_deg"),
    "alt": ("alt_m", "alt_ref"),
    "speed": ("speed_m_s",),
    "track": ("track_deg",),
    "vrate": ("vrate_m_s",),
}
_NUM_FIELDS = ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s")
_STATE_FIELDS = ("lat_deg", "lon_deg", "alt_m", "alt_ref", "speed_m_s", "track_deg", "vrate_m_s")


def redact_public(item: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``item`` without the Remote ID operator fields (:data:`REDACTED_FIELDS`),
    also inside an ``extras`` dict or JSON text. Used by the API for the ``public`` role
    and by the streams for public subscriptions."""
    out = {k: v for k, v in item.items() if k not in REDACTED_FIELDS}
    extras = out.get("extras")
    if isinstance(extras, Mapping):
        out["extras"] = {k: v for k, v in extras.items() if k not in REDACTED_FIELDS}
    elif isinstance(extras, str) and extras:
        try:
            parsed = json.loads(extras)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            out["extras"] = json.dumps(
                {k: v for k, v in parsed.items() if k not in REDACTED_FIELDS}, ensure_ascii=False
            )
    return out


@dataclass
class IngestResult:
    """Outcome of one ingest call: reports ``accepted`` (newly stored), ``duplicates``
    (already stored), ``rejected`` (malformed messages, quarantined) and ``alerts``
    (alert events produced: raised, updated or cleared)."""

    accepted: int
    duplicates: int
    rejected: int
    alerts: int

    def to_dict(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "alerts": self.alerts,
        }


# --------------------------------------------------------------------------- intents
def intent_from_dict(d: Mapping[str, Any]) -> OperationalIntent:
    """An :class:`~kongtian.traffic.intents.OperationalIntent` from its JSON form.

    Keys: ``id``, ``state`` (default ``Accepted``), ``priority`` (int, default 0),
    ``owner``, ``volumes``: each ``outline`` (GeoJSON Polygon in lon/lat degrees, or
    Point with ``radius_m``), ``alt_lower_m``, ``alt_upper_m`` (m), ``alt_ref`` (default
    ``wgs84``, as F3548), ``t_start_utc``, ``t_end_utc`` (ISO 8601 UTC). The optional
    ``object_id`` (the aircraft flying it) is used for conformance monitoring.
    Raises :class:`ConfigError` naming the bad field.
    """
    import shapely
    from shapely.geometry import shape

    from kongtian.traffic.intents import Circle, OperationalIntent, Volume4D

    if not isinstance(d, Mapping):
        raise ConfigError("an intent must be a JSON object", option="intent")
    vols_in = d.get("volumes")
    if not isinstance(vols_in, list) or not vols_in:
        raise ConfigError("'volumes' must be a non-empty list", option="volumes")
    vols = []
    for k, v in enumerate(vols_in):
        where = f"volumes[{k}]"
        try:
            g = v["outline"]
            if not isinstance(g, Mapping):
                raise ValueError("'outline' must be a GeoJSON geometry object")
            if g.get("type") == "Point":
                lon, lat = g["coordinates"][:2]
                outline: Any = Circle(float(lat), float(lon), float(v["radius_m"]))
            else:
                outline = shape(g)
                if not isinstance(outline, shapely.Polygon):
                    raise ValueError(f"outline must be a Polygon or Point, not {g.get('type')}")
            vols.append(
                Volume4D(
                    outline,
                    float(v["alt_lower_m"]),
                    float(v["alt_upper_m"]),
                    str(v.get("alt_ref", "wgs84")),
                    v["t_start_utc"],
                    v["t_end_utc"],
                )
            )
        except KeyError as exc:
            raise ConfigError(f"{where}: missing field {exc}", option="volumes") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}", option=exc.option or "volumes") from None
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise ConfigError(f"{where}: {exc}", option="volumes") from None
        except shapely.errors.GEOSException as exc:
            raise ConfigError(f"{where}: outline: {exc}", option="volumes") from None
    try:
        priority = int(d.get("priority", 0))
    except (TypeError, ValueError):
        raise ConfigError("'priority' must be an integer", option="priority") from None
    return OperationalIntent(
        id=str(d.get("id") or ""),
        volumes=vols,
        state=str(d.get("state", "Accepted")),
        priority=priority,
        owner=str(d.get("owner") or ""),
    )


# ---------------------------------------------------------------------------- helpers
def _iso(ns: npt.NDArray[np.int64] | Sequence[int]) -> list[str | None]:
    """Int64 ns since 1970 (UTC) -> ISO 8601 ``Z`` strings (ms); ``_NEVER`` -> None."""
    a = np.asarray(ns, dtype=np.int64)
    s = np.datetime_as_string(a.astype("datetime64[ns]").astype("datetime64[ms]"), unit="ms")
    return [None if v == _NEVER else t + "Z" for v, t in zip(a.tolist(), s.tolist(), strict=True)]


def _f64(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    return np.asarray(
        table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64
    )


def _ns(table: pa.Table, name: str = "time_utc") -> npt.NDArray[np.int64]:
    col = table.column(name).cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    return np.asarray(col.fill_null(_NEVER).to_numpy(zero_copy_only=False), np.int64)


def _num_or_none(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _last_rows(codes: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Positions (in rows sorted by code, then time) of the last ``ok`` row of each code."""
    rows = np.flatnonzero(ok)
    c = codes[rows]
    last = np.ones(len(rows), bool)
    last[:-1] = c[1:] != c[:-1]
    out: npt.NDArray[np.int64] = rows[last]
    return out


def normalise_reports(reports: pa.Table) -> pa.Table:
    """Check and cast a report batch: core columns present and typed as
    :data:`CORE_SCHEMA`, no null ``object_id``/``source``/``time_utc``; extra columns kept.
    Raises :class:`FormatError` naming the problem."""
    missing = [f for f in CORE_FIELDS if f not in reports.column_names]
    if missing:
        raise FormatError(f"report batch lacks core columns {missing}")
    cols = []
    for f in CORE_SCHEMA:
        col = reports.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise FormatError(f"column {f.name!r} cannot be read as {f.type}: {exc}") from None
        if not f.nullable and col.null_count:
            raise FormatError(f"column {f.name!r} has {col.null_count} null values")
        cols.append(col)
    names = list(CORE_FIELDS)
    for name in reports.column_names:
        if name not in CORE_FIELDS:
            cols.append(reports.column(name))
            names.append(name)
    return pa.Table.from_arrays(cols, names=names)


def _warm_up(conflict_config: Any, opts: Mapping[str, Any]) -> None:
    """Run a throwaway pipeline once so the JIT-compiled kernels (zones, conflicts) are
    built at start-up, not inside the first live batch (~1 s on this machine)."""
    from kongtian.traffic.pipeline import Pipeline
    from kongtian.traffic.zones import ZoneSet

    square = [[0.0, 0.0], [0.01, 0.0], [0.01, 0.01], [0.0, 0.01], [0.0, 0.0]]
    zs = ZoneSet.from_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": "warm-up",
                    "geometry": {"type": "Polygon", "coordinates": [square]},
                    "properties": {"kind": "no-fly"},
                }
            ],
        }
    )
    p = Pipeline(zs, None, conflict_config, **opts)
    t0 = 10**18
    for k in range(2):
        t = t0 + k * 2 * 10**9
        batch = report_table(
            {
                "object_id": ["warm:a", "warm:b"],
                "source": ["warm-up", "warm-up"],
                "time_utc": np.asarray([t, t + 1], np.int64),
                "lat_deg": [0.005, 0.00501],
                "lon_deg": [0.005, 0.005],
                "alt_m": [100.0, 100.0],
                "alt_ref": ["wgs84", "wgs84"],
                "speed_m_s": [1.0, 1.0],
                "track_deg": [0.0, 180.0],
                "vrate_m_s": [0.0, 0.0],
            }
        )
        p.process(batch)


class _LiveState:
    """Latest state per object, structure-of-arrays, updated a batch at a time.

    Each field group (position, altitude + reference, speed, track, vertical rate) holds
    the values of the newest report carrying it (ties: the later row), so the state does
    not depend on arrival order, as in :class:`~kongtian.traffic.tracks.TrackStore`.
    """

    def __init__(self) -> None:
        self.slot: dict[str, int] = {}
        self.ids: list[str] = []
        self.cap = 0
        self.t_last = np.empty(0, np.int64)
        self.gt = {g: np.empty(0, np.int64) for g in _GROUPS}
        self.num = {f: np.empty(0, np.float64) for f in _NUM_FIELDS}
        self.alt_ref = np.empty(0, object)
        self.owner = np.empty(0, object)
        self.kinds: list[str] = []
        self.sources: list[list[str]] = []  # sorted, per slot

    def __len__(self) -> int:
        return len(self.ids)

    def _grow(self, n: int) -> None:
        if n <= self.cap:
            return
        cap = max(2 * self.cap, n, 1024)

        def grow(a: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
            out = np.full(cap, fill, dtype=a.dtype)
            out[: len(a)] = a
            return out

        self.t_last = grow(self.t_last, _NEVER)
        self.gt = {g: grow(a, _NEVER) for g, a in self.gt.items()}
        self.num = {f: grow(a, np.nan) for f, a in self.num.items()}
        self.alt_ref = grow(self.alt_ref, None)
        self.owner = grow(self.owner, None)
        self.cap = cap

    def _slots(self, ids: list[str]) -> npt.NDArray[np.int64]:
        out = np.empty(len(ids), np.int64)
        slot = self.slot
        for k, i in enumerate(ids):
            s_ = slot.get(i)
            if s_ is None:
                s_ = slot[i] = len(self.ids)
                self.ids.append(i)
                self.kinds.append(i.split(":", 1)[0])
                self.sources.append([])
            out[k] = s_
        self._grow(len(self.ids))
        return out

    def slots_of(self, core: pa.Table) -> npt.NDArray[np.int64]:
        """Slots of the (known) objects of a batch, once each."""
        ids = pc.unique(core.column("object_id")).to_pylist()
        return np.asarray([self.slot[i] for i in ids if i in self.slot], np.int64)

    def all_slots(self) -> npt.NDArray[np.int64]:
        return np.arange(len(self.ids), dtype=np.int64)

    def update(self, core: pa.Table, owner: str | None) -> npt.NDArray[np.int64]:
        """Fold a batch in; returns the slots of the objects it touched."""
        oid = np.asarray(core.column("object_id").to_numpy(zero_copy_only=False), object)
        t = _ns(core)
        codes, uniq = pd.factorize(oid, sort=False)
        codes = codes.astype(np.int64)
        s = self._slots(uniq.tolist())
        order = np.lexsort((t, codes))
        c = codes[order]
        ts = t[order]
        num = {f: _f64(core, f)[order] for f in _NUM_FIELDS}
        aref = np.asarray(core.column("alt_ref").to_numpy(zero_copy_only=False), object)[order]
        last_any = _last_rows(c, np.ones(len(c), bool))
        self.t_last[s[c[last_any]]] = np.maximum(self.t_last[s[c[last_any]]], ts[last_any])
        for g, fs in _GROUPS.items():
            nums = [f for f in fs if f != "alt_ref"]
            ok = np.logical_and.reduce([np.isfinite(num[f]) for f in nums])
            rows_g = _last_rows(c, ok)
            sg = s[c[rows_g]]
            tg = ts[rows_g]
            newer = tg >= self.gt[g][sg]
            sg, rows_g = sg[newer], rows_g[newer]
            self.gt[g][sg] = tg[newer]
            for f in fs:
                if f == "alt_ref":
                    self.alt_ref[sg] = aref[rows_g]
                else:
                    self.num[f][sg] = num[f][rows_g]
        if owner is not None:
            self.owner[s] = owner
        src = pc.unique(core.column("source")).to_pylist()
        sources = self.sources
        if len(src) == 1:
            one = src[0]
            for k in s.tolist():
                if one not in sources[k]:
                    sources[k] = sorted([*sources[k], one])
        else:
            srcs = np.asarray(core.column("source").to_numpy(zero_copy_only=False), object)
            for k, name in zip(s[codes].tolist(), srcs.tolist(), strict=True):
                if name not in sources[k]:
                    sources[k] = sorted([*sources[k], name])
        return s

    def t_ns(self, object_id: str) -> int:
        return int(self.t_last[self.slot[object_id]])

    def get(self, object_id: str | None) -> dict[str, Any] | None:
        """``lat_deg``, ``lon_deg``, ``owner`` of one object (or None if unknown)."""
        k = self.slot.get(object_id) if object_id else None
        if k is None:
            return None
        lat, lon = float(self.num["lat_deg"][k]), float(self.num["lon_deg"][k])
        return {
            "lat_deg": None if lat != lat else lat,
            "lon_deg": None if lon != lon else lon,
            "owner": self.owner[k],
        }

    def items(self, slots: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
        """Hub items (:mod:`kongtian.platform.live`, topic ``tracks``) of these slots."""
        if len(slots) == 0:
            return []
        sl = slots.tolist()
        t_iso = _iso(self.t_last[slots])
        p_iso = _iso(self.gt["pos"][slots])
        cols: dict[str, list[Any]] = {
            f: [None if x != x else x for x in self.num[f][slots].tolist()] for f in _NUM_FIELDS
        }
        cols["alt_ref"] = self.alt_ref[slots].tolist()
        owners = self.owner[slots].tolist()
        out = []
        for j, k in enumerate(sl):
            item: dict[str, Any] = {
                "object_id": self.ids[k],
                "kind": self.kinds[k],
                "sources": list(self.sources[k]),
                "time_utc": t_iso[j],
                "position_time_utc": p_iso[j],
            }
            for f in _STATE_FIELDS:
                item[f] = cols[f][j]
            item["owner"] = owners[j]
            out.append(item)
        return out

    def forget(self, limit_ns: int) -> None:
        """Drop objects whose newest report is older than ``limit_ns`` (compacts)."""
        n = len(self.ids)
        keep = np.flatnonzero(self.t_last[:n] >= limit_ns)
        if len(keep) == n:
            return
        kl = keep.tolist()
        self.ids = [self.ids[k] for k in kl]
        self.kinds = [self.kinds[k] for k in kl]
        self.sources = [self.sources[k] for k in kl]
        self.slot = {o: j for j, o in enumerate(self.ids)}
        self.t_last = self.t_last[keep]
        self.gt = {g: a[keep] for g, a in self.gt.items()}
        self.num = {f: a[keep] for f, a in self.num.items()}
        self.alt_ref = self.alt_ref[keep]
        self.owner = self.owner[keep]
        self.cap = len(keep)


# ---------------------------------------------------------------------------- service
class Service:
    """The platform core (see the module docstring).

    ``store``: where everything persists. ``settings``: the server settings (only
    ``getattr`` is used, so any object works). ``hub``: the live fan-out (default: a
    new :class:`~kongtian.platform.live.Hub`). ``pipeline_options``: keyword arguments
    of :class:`~kongtian.traffic.pipeline.Pipeline` (``recent_s``, ``clear_after_s``,
    ``zone_clear_s``, ...; ``conflict_config`` defaults to ``ConflictConfig()``, and
    ``None`` turns conflict detection off) plus these service options:

    - ``reload_every_s`` (default 5 s): how often ingest checks the store for zones and
      intents changed by other processes (0 = every batch);
    - ``forget_after_s`` (default 3600 s of feed time): objects silent for longer leave
      the live state;
    - ``warm_up`` (default True): compile the pipeline's JIT kernels at start-up (~1 s,
      once per process) instead of in the first live batch;
    - ``future_tolerance_s`` (default 300 s; None = off): reports stamped later than
      wall-clock now + this are stored but kept out of the pipeline (counted in
      ``reports_future_skipped``), since the pipeline's clock is its newest report time.
    """

    def __init__(
        self,
        store: Store,
        *,
        settings: Any = None,
        hub: Hub | None = None,
        pipeline_options: Mapping[str, Any] | None = None,
    ) -> None:
        from kongtian.platform.live import Hub as _Hub
        from kongtian.traffic.conflicts import ConflictConfig
        from kongtian.traffic.pipeline import Pipeline

        self.store = store
        self.settings = settings
        self.hub: Hub = hub if hub is not None else _Hub(redact=redact_public)
        opts = dict(pipeline_options or {})
        self.reload_every_s = float(opts.pop("reload_every_s", 5.0))
        self.forget_after_ns = int(float(opts.pop("forget_after_s", 3600.0)) * 1e9)
        warm_up = bool(opts.pop("warm_up", True))
        tol = opts.pop("future_tolerance_s", 300.0)
        self.future_tolerance_ns = None if tol is None else int(float(tol) * 1e9)
        opts.setdefault("conflict_config", ConflictConfig())
        conflict_config = opts.pop("conflict_config")
        self.pipeline: Pipeline = Pipeline(None, None, conflict_config, **opts)
        self._lock = threading.RLock()
        # Commits and processing are two stages: a batch's commit may overlap the
        # pipeline run of the batch before it (the store mostly waits on its server),
        # while tickets keep the pipeline in commit order.
        self._commit_lock = threading.Lock()
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._intent_lock = threading.Lock()
        self._counters: dict[str, int | float] = {
            "ingest_calls": 0,
            "reports_received": 0,
            "reports_ingested": 0,
            "duplicates": 0,
            "quarantined": 0,
            "alert_events": 0,
            "alerts_raised": 0,
            "alerts_cleared": 0,
            "pipeline_errors": 0,
            "reports_future_skipped": 0,
            "zone_reloads": 0,
            "intent_reloads": 0,
            "intents_skipped": 0,
            "zones_skipped": 0,
            "ingest_seconds_total": 0.0,
            "last_ingest_utc_s": 0.0,
        }
        self._live = _LiveState()
        self._last_forget = time.monotonic()
        self._zone_sig: dict[str, int] | None = None
        self._intent_sig: dict[str, int] | None = None
        self._last_reload_check = 0.0
        self._closed = False
        self.reload_zones()
        self.reload_intents()
        self._last_reload_check = time.monotonic()  # just loaded
        self._restore_alerts()
        if warm_up:
            _warm_up(conflict_config, opts)

    def _restore_alerts(self) -> None:
        """Put the store's active alerts back into the pipeline's alert manager, so that
        after a restart the same condition continues its alert (same id) and alerts
        whose condition ended while the service was down are cleared by the first tick
        (not observed for ``clear_after_s`` of feed time), instead of staying raised."""
        from kongtian.traffic.alerts import Alert

        try:
            rows = self.store.list_alerts(states=["raised", "updated"], limit=1_000_000)
        except Exception:  # noqa: BLE001 - a store without alerts yet must not stop start-up
            log.exception("reading active alerts failed; starting without them")
            return
        mgr = self.pipeline.alerts
        # AlertManager has no public restore; its two maps are filled as observe() does.
        for r in rows:
            try:
                det = json.loads(r["details"]) if isinstance(r["details"], str) else {}
                first = np.datetime64(int(r["first_time_utc"].timestamp() * 1e6), "us")
                last = np.datetime64(int(r["last_time_utc"].timestamp() * 1e6), "us")
                a = Alert(
                    alert_id=str(r["alert_id"]),
                    kind=str(r["kind"]),
                    object_id=str(r["object_id"]),
                    other_id=r["other_id"],
                    severity=str(r["severity"]),
                    state=str(r["state"]),
                    first_time_utc=first.astype("datetime64[ns]"),
                    last_time_utc=last.astype("datetime64[ns]"),
                    count=int(r["count"]),
                    details=det if isinstance(det, dict) else {},
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            mgr._active[a.key] = a
            mgr._emitted[a.key] = (int(a.last_time_utc.astype(np.int64)), a.severity, a.details)
        self._counters["alerts_restored"] = len(mgr._active)

    # ----------------------------------------------------------------- metrics
    @property
    def metrics(self) -> dict[str, int | float]:
        """Counters since start (plus live gauges: tracks, zones, intents, subscribers)."""
        with self._lock:
            out: dict[str, int | float] = dict(self._counters)
            out["tracks"] = self.pipeline.n_tracks
            out["objects_live"] = len(self._live)
            out["zones"] = len(self.pipeline.zones) if self.pipeline.zones is not None else 0
            out["intents"] = len(self.pipeline.intents) if self.pipeline.intents else 0
            out["active_alerts"] = len(self.pipeline.alerts.active())
        out.update(self.hub.metrics())
        return out

    def _count(self, **inc: int | float) -> None:
        for k, v in inc.items():
            self._counters[k] = self._counters.get(k, 0) + v

    # ------------------------------------------------------------------ ingest
    def ingest_reports(
        self, reports: pa.Table, *, owner: str | None = None, origin: str = "http"
    ) -> IngestResult:
        """Commit, then process only the newly stored rows (module docstring, steps 1-4).

        ``reports``: core columns (:data:`CORE_SCHEMA`, castable) plus any extras.
        ``owner``: the ingesting key's owner, stored with every row. Raises
        :class:`FormatError` for a malformed table (nothing stored then); store errors
        propagate (nothing acknowledged, the caller retries).
        """
        t0 = time.perf_counter()
        reports = normalise_reports(reports)
        if reports.num_rows == 0:
            return IngestResult(0, 0, 0, 0)
        with self._commit_lock:
            if self._closed:
                raise KongtianError("service is closed")
            received = datetime.now(UTC)
            res = self.store.insert_reports(
                reports, owner=owner, received_utc=received, return_new_mask=True
            )
            ticket = self._next_ticket
            self._next_ticket += 1
        # -- committed: from here on nothing may raise to the caller ------------------
        mask = None if res.new_mask is None else np.asarray(res.new_mask, dtype=bool)
        n_alerts = 0
        with self._turn:
            while self._serving != ticket:
                self._turn.wait()
        try:
            with self._lock:
                try:
                    new = self._new_rows(reports, res.inserted, res.duplicates, mask)
                    n_alerts = self._process(new, owner)
                except Exception:  # noqa: BLE001 - stored data must be acknowledged regardless
                    log.exception("pipeline failed on a committed batch (origin %s)", origin)
                    self._count(pipeline_errors=1)
                self._count(
                    ingest_calls=1,
                    reports_received=reports.num_rows,
                    reports_ingested=res.inserted,
                    duplicates=res.duplicates,
                    ingest_seconds_total=time.perf_counter() - t0,
                )
                self._counters["last_ingest_utc_s"] = time.time()
        finally:
            with self._turn:
                self._serving += 1
                self._turn.notify_all()
        return IngestResult(res.inserted, res.duplicates, 0, n_alerts)

    def ingest_raw(
        self,
        fmt: str,
        payloads: Sequence[bytes],
        *,
        received_utc: datetime | None = None,
        owner: str | None = None,
        origin: str = "http",
        ref: tuple[float, float] | None = None,
        strict: bool = True,
    ) -> IngestResult:
        """Decode raw payloads (:func:`kongtian.platform.ingest.decode.decode_payloads`),
        quarantine the malformed ones with their reason, ingest the reports. Both the
        quarantine and the reports are committed when this returns. ``rejected`` =
        quarantined entries. Raises :class:`ConfigError` for an unknown ``fmt``."""
        from kongtian.platform.ingest.decode import decode_payloads
        from kongtian.platform.store.base import Quarantined

        received = received_utc or datetime.now(UTC)
        table, errors = decode_payloads(
            fmt, payloads, received_utc=received, ref=ref, strict=strict
        )
        if errors:
            self.store.quarantine(
                [
                    Quarantined(
                        received_utc=received, source=fmt, reason=reason, raw=raw, origin=origin
                    )
                    for raw, reason in errors
                ]
            )
            with self._lock:
                self._count(quarantined=len(errors))
        res = self.ingest_reports(table, owner=owner, origin=origin)
        return IngestResult(res.accepted, res.duplicates, len(errors), res.alerts)

    def _new_rows(
        self,
        reports: pa.Table,
        inserted: int,
        duplicates: int,
        mask: npt.NDArray[np.bool_] | None,
    ) -> pa.Table:
        if mask is not None and len(mask) == reports.num_rows:
            pass
        elif duplicates == 0:
            mask = np.ones(reports.num_rows, bool)
        elif inserted == 0:
            mask = np.zeros(reports.num_rows, bool)
        else:
            # A store that cannot say which rows it inserted: process all of them (the
            # track store still drops duplicates of its retained history) and count it.
            self._count(new_rows_uncertain=reports.num_rows)
            mask = np.ones(reports.num_rows, bool)
        if mask.all():
            return reports
        return reports.filter(pa.array(mask))

    def _process(self, new: pa.Table, owner: str | None) -> int:
        """Pipeline + alert store + hub for the newly stored rows; returns alert events."""
        self._maybe_reload()
        if new.num_rows == 0:
            return 0
        core = new.select(list(CORE_FIELDS))
        if self.future_tolerance_ns is not None:
            # The pipeline's clock is the newest report time: one report stamped far in
            # the future (a wrong clock, a bad client) would clear every alert and
            # dead-reckon every track to that time. Such rows stay stored, unprocessed.
            limit = time.time_ns() + self.future_tolerance_ns
            ok = pc.less_equal(core.column("time_utc").cast(pa.int64()), limit)
            n_ok = pc.sum(ok.cast(pa.int64())).as_py() or 0
            if n_ok < core.num_rows:
                self._count(reports_future_skipped=core.num_rows - n_ok)
                core = core.filter(ok)
                if core.num_rows == 0:
                    return 0
        events = self.pipeline.process(core)
        tracks = self._update_latest(core, owner)
        alerts: list[dict[str, Any]] = []
        if events.num_rows:
            self.store.upsert_alerts(events)
            alerts = self._alert_items(events)
            st = events.column("state").to_pylist()
            self._count(
                alert_events=len(st),
                alerts_raised=st.count("raised"),
                alerts_cleared=st.count("cleared"),
            )
        try:
            self.hub.publish("tracks", tracks)
            if alerts:
                self.hub.publish("alerts", alerts)
        except Exception:  # noqa: BLE001 - live fan-out must never fail ingest
            log.exception("hub publish failed")
        return events.num_rows

    # ------------------------------------------------------------- live state
    def _update_latest(self, core: pa.Table, owner: str | None) -> list[dict[str, Any]]:
        """Fold the batch into the live state; returns the changed objects as hub items
        (none when no subscriber takes ``tracks``: building them is the costly part)."""
        slots = self._live.update(core, owner)
        now = time.monotonic()
        if now - self._last_forget > 60.0 and self.pipeline.now_ns is not None:
            self._last_forget = now
            if self.forget_after_ns > 0:
                self._live.forget(self.pipeline.now_ns - self.forget_after_ns)
                slots = self._live.slots_of(core)
        if not self.hub.wants("tracks"):
            return []
        return self._live.items(slots)

    def _alert_items(self, events: pa.Table) -> list[dict[str, Any]]:
        rows = events.to_pylist()
        first = _iso(_ns(events, "first_time_utc"))
        last = _iso(_ns(events, "last_time_utc"))
        out = []
        for r, a, b in zip(rows, first, last, strict=True):
            r["first_time_utc"], r["last_time_utc"] = a, b
            try:
                r["details"] = json.loads(r["details"]) if r["details"] else {}
            except ValueError:
                pass
            st = self._live.get(r["object_id"])
            other = self._live.get(r["other_id"]) if r["other_id"] else None
            r["object_kind"] = r["object_id"].split(":", 1)[0]
            r["lat_deg"] = st["lat_deg"] if st else None
            r["lon_deg"] = st["lon_deg"] if st else None
            r["owners"] = sorted(
                {s["owner"] for s in (st, other) if s is not None and s["owner"] is not None}
            )
            out.append(r)
        return out

    # ------------------------------------------------------------------ reads
    def tracks(
        self,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        kinds: Iterable[str] | None = None,
        owner: str | None = None,
        stale_s: float | None = None,
    ) -> list[dict[str, Any]]:
        """Live fused tracks (from the pipeline's track store), by ``object_id``.

        ``bbox`` = (lon_min, lat_min, lon_max, lat_max) degrees; ``kinds`` = object kinds;
        ``owner``: only that owner's objects; ``stale_s``: leave out tracks with no report
        for longer than this before the newest report time the service has seen (feed
        time, so replayed recordings behave like live feeds). Each dict: ``object_id``
        (the track id), ``object_ids``, ``kind``, ``sources``, ``time_utc``,
        ``position_time_utc``, ``lat_deg``, ``lon_deg``, ``alt_m``, ``alt_ref``,
        ``speed_m_s``, ``track_deg``, ``vrate_m_s``, ``n_reports``, ``owner``.
        """
        from kongtian.platform.live import in_bbox, object_kind

        kset = {k.lower() for k in kinds} if kinds else None
        with self._lock:
            ts = self.pipeline.tracks
            now = self.pipeline.now_ns
            if ts is None:
                items = self._live.items(self._live.all_slots())
                t_ns = {it["object_id"]: self._live.t_ns(it["object_id"]) for it in items}
            else:
                snap = ts.snapshot()
                t_last = _ns(snap)
                t_pos = _ns(snap, "position_time_utc")
                rows = snap.drop_columns(["time_utc", "position_time_utc", "stale"]).to_pylist()
                iso_last, iso_pos = _iso(t_last), _iso(t_pos)
                items, t_ns = [], {}
                for r, a, b, tl in zip(rows, iso_last, iso_pos, t_last.tolist(), strict=True):
                    oid = r.pop("track_id")
                    st = self._live.get(oid)
                    item = {"object_id": oid, **r}
                    item.update(
                        kind=object_kind(oid),
                        time_utc=a,
                        position_time_utc=b,
                        owner=st["owner"] if st else None,
                    )
                    for f in ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s"):
                        item[f] = _num_or_none(item[f])
                    items.append(item)
                    t_ns[oid] = tl
        out = []
        for it in items:
            if kset is not None and it["kind"] not in kset:
                continue
            if owner is not None and it["owner"] != owner:
                continue
            if bbox is not None and not in_bbox(it["lat_deg"], it["lon_deg"], bbox):
                continue
            if (
                stale_s is not None
                and now is not None
                and now - t_ns[it["object_id"]] > stale_s * 1e9
            ):
                continue
            out.append(it)
        out.sort(key=lambda it: it["object_id"])
        return out

    def track_history(
        self,
        object_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        owner: str | None = None,
        limit: int = 10_000,
    ) -> pa.Table:
        """Stored reports of ``object_id`` (``start`` inclusive, ``end`` exclusive), by time."""
        return self.store.query_reports(
            object_ids=[object_id], start=start, end=end, owner=owner, limit=limit
        )

    # ----------------------------------------------------------- zones/intents
    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._last_reload_check < self.reload_every_s:
            return
        self._last_reload_check = now
        try:
            # Cheap version maps when the store has them; else the full lists.
            zv = getattr(self.store, "zone_versions", None)
            if zv is not None:
                if dict(zv()) != self._zone_sig:
                    self._load_zones(self.store.list_zones())
            else:
                zones = self.store.list_zones()
                if {str(f.get("id")): v for f, v in zones} != self._zone_sig:
                    self._load_zones(zones)
            iv = getattr(self.store, "intent_versions", None)
            if iv is not None:
                if dict(iv()) != self._intent_sig:
                    self._load_intents(self.store.list_intents())
            else:
                intents = self.store.list_intents()
                if {str(i.get("id")): v for i, v in intents} != self._intent_sig:
                    self._load_intents(intents)
        except Exception:  # noqa: BLE001 - a reload problem must not fail a committed batch
            log.exception("reloading zones/intents failed")

    def reload_zones(self) -> None:
        """Reload the zones from the store into the pipeline (call after a change)."""
        zones = self.store.list_zones()
        with self._lock:
            self._load_zones(zones)

    def _load_zones(self, zones: list[tuple[dict[str, Any], int]]) -> None:
        from kongtian.traffic.zones import ZoneMonitor, ZoneSet

        feats = [f for f, _ in zones]
        try:
            zs: ZoneSet | None = (
                ZoneSet.from_geojson({"type": "FeatureCollection", "features": feats})
                if feats
                else None
            )
            skipped = 0
        except KongtianError:
            # One bad stored feature must not disable every zone: keep the good ones.
            good = []
            for f in feats:
                try:
                    ZoneSet.from_geojson({"type": "FeatureCollection", "features": [f]})
                    good.append(f)
                except KongtianError as exc:
                    log.warning("zone %r skipped: %s", f.get("id"), exc)
            skipped = len(feats) - len(good)
            zs = (
                ZoneSet.from_geojson({"type": "FeatureCollection", "features": good})
                if good
                else None
            )
        p = self.pipeline
        p.zones = zs
        p.monitor = ZoneMonitor(zs) if zs is not None else None
        self._zone_sig = {str(f.get("id")): v for f, v in zones}
        self._counters["zones_skipped"] = skipped
        self._count(zone_reloads=1)

    def reload_intents(self) -> None:
        """Reload the operational intents from the store into the pipeline."""
        intents = self.store.list_intents()
        with self._lock:
            self._load_intents(intents)

    def _load_intents(self, intents: list[tuple[dict[str, Any], int]]) -> None:
        from kongtian.traffic.intents import IntentIndex
        from kongtian.traffic.pipeline import CONFORMANCE_STATES

        index = IntentIndex()
        intent_of: dict[str, str] = {}
        skipped = 0
        for d, _v in intents:
            if d.get("state") not in BLOCKING_STATES:
                continue
            try:
                index.add(intent_from_dict(d))
            except KongtianError as exc:
                skipped += 1
                log.warning("intent %r skipped: %s", d.get("id"), exc)
                continue
            oid = d.get("object_id")
            if oid and d.get("state") in CONFORMANCE_STATES:
                intent_of[str(oid)] = str(d["id"])
        p = self.pipeline
        p.intents = index if len(index) else None
        p.intent_of = intent_of
        self._intent_sig = {str(i.get("id")): v for i, v in intents}
        self._counters["intents_skipped"] = skipped
        self._count(intent_reloads=1)

    def submit_intent(
        self, intent: Mapping[str, Any], *, owner: str
    ) -> tuple[dict[str, Any], list[str]]:
        """Strategic deconfliction (F3548) of a new operational intent.

        The intent (JSON form of :func:`intent_from_dict`; ``id`` generated when absent;
        ``owner`` set to ``owner``) is checked against every stored intent holding
        airspace (:data:`BLOCKING_STATES`) with
        :meth:`~kongtian.traffic.intents.IntentIndex.conflicts` (equal or higher priority
        blocks). Stored with ``state`` ``Accepted`` and ``conflicts`` ``[]`` if none
        conflicts, else ``Rejected`` with the conflicting ids. Returns (stored intent with
        ``version``, conflicting ids). Raises :class:`ConfigError` for a malformed intent
        and ``VersionConflict`` if the id already exists.
        """
        from kongtian.traffic.intents import IntentIndex

        d = dict(intent)
        d["id"] = str(d.get("id") or f"op-{uuid.uuid4().hex[:12]}")
        d["owner"] = owner
        d["state"] = "Accepted"
        candidate = intent_from_dict(d)
        with self._intent_lock:
            index = IntentIndex()
            for other, _v in self.store.list_intents(states=list(BLOCKING_STATES)):
                if other.get("id") == d["id"]:
                    continue
                try:
                    oi = intent_from_dict(other)
                except KongtianError:
                    continue
                if candidate.volumes[0].alt_ref != oi.volumes[0].alt_ref:
                    # Different altitude references cannot be compared; F3548 is WGS84.
                    continue
                index.add(oi)
            conflicts = index.conflicts(candidate)
            d["state"] = "Rejected" if conflicts else "Accepted"
            d["conflicts"] = conflicts
            d["submitted_utc"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            version = self.store.put_intent(d, expected_version=0)
        d["version"] = version
        if not conflicts:
            self.reload_intents()
        return d, conflicts

    def set_intent_state(
        self, intent_id: str, state: str, *, expected_version: int | None, by: str
    ) -> dict[str, Any]:
        """Move an intent along its life cycle (:data:`TRANSITIONS`); ``expected_version``
        guards against a stale client (``VersionConflict``). Returns the stored intent
        with its new ``version``. ``NotFound`` if absent; :class:`ConfigError` for a
        transition that is not allowed."""
        with self._intent_lock:
            d, version = self.store.get_intent(intent_id)
            if expected_version is not None and expected_version != version:
                from kongtian.platform.store.base import VersionConflict

                raise VersionConflict(
                    f"intent {intent_id!r} is at version {version}, not {expected_version}",
                    current=version,
                )
            cur = str(d.get("state"))
            if state not in TRANSITIONS.get(cur, ()):
                raise ConfigError(
                    f"intent {intent_id!r} is {cur}; allowed next states: "
                    f"{list(TRANSITIONS.get(cur, ())) or 'none'}",
                    option="state",
                )
            d = dict(d)
            d["state"] = state
            d["updated_by"] = by
            d["updated_utc"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            d.pop("version", None)
            new_version = self.store.put_intent(d, expected_version=version)
        d["version"] = new_version
        self.reload_intents()
        return d

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Close the hub's subscriptions (the store is the caller's to close)."""
        with self._lock:
            self._closed = True
        self.hub.close()


__all__ = [
    "BLOCKING_STATES",
    "REDACTED_FIELDS",
    "IngestResult",
    "Service",
    "intent_from_dict",
    "normalise_reports",
    "redact_public",
]
