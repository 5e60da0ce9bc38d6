"""Surveillance pipeline: reports -> tracks -> zones -> conflicts -> intents -> alerts.

:class:`Pipeline` folds batches of normalised reports (:mod:`kongtian.model.report`)
through the traffic modules and returns the alert events (raised / updated / cleared)
of :class:`~kongtian.traffic.alerts.AlertManager`. Per batch, in this order:

1. the batch is sorted by ``time_utc`` (stable, so equal times keep arrival order);
2. tracks: with a :class:`~kongtian.traffic.tracks.TrackStore` (the default) reports are
   fused into tracks and conflicts are computed between *tracks* (aliased ids never
   conflict with themselves); with ``track_store=None`` each ``object_id`` is its own
   track and the latest state is kept in vectorised arrays (no fusion, no history;
   ~20x faster, see ``bench/bench_pipeline.py``). Each state field holds the value of
   the newest report carrying it, as in the track store;
3. zones (if given): :class:`~kongtian.traffic.zones.ZoneMonitor` events on the
   reports. ``enter``/``inside`` a zone whose kind is in ``violation_kinds`` (default
   ``no-fly`` -> ``critical``, ``restricted`` -> ``warning``) observes a
   ``zone_violation`` alert (``object_id``, ``other_id`` = zone id); ``exit`` clears
   it. ``overspeed`` observes an ``overspeed`` alert (other id = zone id), cleared by a
   later report inside the zone at or under the limit, or by the exit. With
   ``zone_clear_s > 0`` (default 0) the ``zone_violation`` clear is debounced: an exit
   starts a wait of ``zone_clear_s`` of feed time, a re-entry (or ``inside``) of the
   same object in the same zone during it cancels the clear (the alert goes on), and
   otherwise the first batch ending at least ``zone_clear_s`` after the exit clears
   the alert with ``last_time_utc`` = the exit time. Runs of
   ``inside`` events of one object in one zone within a batch are observed once (the
   last), so an alert's ``count`` is the number of batches plus enters, not reports;
4. conflicts: every ``conflict_every_s`` of feed time, the tracks with a report within
   ``recent_s`` of the batch end and a known position and altitude are dead-reckoned to
   the batch end (speed/track over ground, vertical rate; missing speed or vertical
   rate taken as 0) and passed to :func:`~kongtian.traffic.conflicts.detect_conflicts`.
   A pair in loss of separation now observes ``loss_of_separation`` (``critical``), a
   predicted one ``predicted_los`` (``warning``); the pair's ids are ordered so
   ``object_id < other_id``. A pair no longer found is cleared (with hysteresis, below);
   an ongoing pair is re-observed every ``clear_after_s / 4`` of feed time (its
   ``count`` is the number of those observations).
   Hysteresis (``conflict_clear_s``, ``conflict_clear_factor``): pairs near the minimum
   flip in and out of detection from one evaluation to the next (position noise,
   dead reckoning), which without it gives one raise/clear per flip. A pair's alert is
   therefore cleared only at an evaluation where (a) it has not been detected at its
   level for at least ``conflict_clear_s`` of feed time, and (b) for
   ``loss_of_separation``, its dead-reckoned separation exceeds the minima times
   ``conflict_clear_factor`` (horizontal distance on the ellipsoid > factor x
   ``h_min_m`` or ``|dalt|`` > factor x ``v_min_m``; a pair whose tracks are no longer
   evaluated, e.g. stale, passes (b)). The levels are ordered ``predicted_los`` <
   ``loss_of_separation``: a pair entering loss of separation clears its
   ``predicted_los`` at once (escalation), and while its ``loss_of_separation`` alert
   is held a ``predicted_los`` detection of the pair raises nothing (it does not
   extend the hold either). Both parameters 0 give the plain rule above (cleared at
   the first evaluation that does not find the pair). The hold is still bounded by
   ``clear_after_s`` (the alert manager's tick), hence ``conflict_clear_s`` must be
   below it.
   Altitudes of different references (``baro``, ``wgs84``, ...) are compared as given;
   tracks without altitude take no part;
5. intents (if given): each report of an object mapped to an ``Activated`` or
   ``Nonconforming`` intent is checked with
   :meth:`~kongtian.traffic.intents.IntentIndex.conformance` (its altitude must be in
   the index's reference; reports without lat, lon and altitude are not judged). Per
   object and batch, the last non-conforming report observes ``non_conformance``
   (other id = intent id); a conforming report after it clears the alert. The object -> intent map is explicit (``intent_of``), or read from
   an intent file by :func:`load_intents` (each intent's ``object_id`` field);
6. :meth:`AlertManager.tick` at the batch end time clears alerts not re-observed for
   ``clear_after_s``.

:func:`replay` reads feed files with :func:`~kongtian.traffic.decode.io.decode_file`,
merges their reports (core columns only), and feeds them in time order in batches of
``batch_s`` seconds of feed time, sleeping to honour a replay ``speed`` factor.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import Geod

from kongtian.errors import ConfigError, FormatError
from kongtian.model.report import CORE_FIELDS, CORE_SCHEMA, DecodeErrors
from kongtian.traffic.alerts import Alert, AlertManager
from kongtian.traffic.conflicts import ConflictConfig, detect_conflicts
from kongtian.traffic.intents import IntentIndex
from kongtian.traffic.tracks import TrackStore, dead_reckon
from kongtian.traffic.zones import ZoneMonitor, ZoneSet

FloatArray = npt.NDArray[np.float64]
_GEOD = Geod(ellps="WGS84")

ALERT_EVENT_SCHEMA = AlertManager().to_table([]).schema
"""Schema of the alert events returned by :meth:`Pipeline.process` (see
:meth:`AlertManager.to_table`): alert_id, kind, object_id, other_id, severity, state,
first_time_utc, last_time_utc, count, details (JSON text)."""

CONFORMANCE_STATES = ("Activated", "Nonconforming")
DEFAULT_VIOLATION_KINDS: Mapping[str, str] = {"no-fly": "critical", "restricted": "warning"}

#: File extensions whose feed format is unambiguous (``replay`` infers only these).
FORMAT_BY_EXTENSION: Mapping[str, str] = {
    ".pcap": "remoteid",
    ".cap": "remoteid",
    ".nmea": "ais",
    ".aivdm": "ais",
    ".ais": "ais",
    ".beast": "beast",
    ".avr": "avr",
}

# State groups kept per track: (time column, value columns).
_GROUPS: dict[str, tuple[str, ...]] = {
    "pos": ("lat_deg", "lon_deg"),
    "alt": ("alt_m",),
    "speed": ("speed_m_s",),
    "track": ("track_deg",),
    "vrate": ("vrate_m_s",),
}
_NEVER = np.iinfo(np.int64).min


class _States:
    """Latest kinematic state per track id, as growable structure-of-arrays."""

    def __init__(self) -> None:
        self.slot: dict[str, int] = {}
        self.ids: list[str] = []
        self.cap = 0
        self.t_last = np.empty(0, np.int64)
        self.t = {g: np.empty(0, np.int64) for g in _GROUPS}
        self.v = {f: np.empty(0, np.float64) for fs in _GROUPS.values() for f in fs}

    def __len__(self) -> int:
        return len(self.ids)

    def _slots(self, ids: Sequence[str]) -> npt.NDArray[np.int64]:
        out = np.empty(len(ids), np.int64)
        for k, i in enumerate(ids):
            s = self.slot.get(i)
            if s is None:
                s = self.slot[i] = len(self.ids)
                self.ids.append(i)
            out[k] = s
        n = len(self.ids)
        if n > self.cap:
            cap = max(2 * self.cap, n, 1024)
            self.t_last = _grow(self.t_last, cap, _NEVER)
            self.t = {g: _grow(a, cap, _NEVER) for g, a in self.t.items()}
            self.v = {f: _grow(a, cap, np.nan) for f, a in self.v.items()}
            self.cap = cap
        return out

    def upsert(
        self,
        ids: Sequence[str],
        t_last: npt.NDArray[np.int64],
        t_group: Mapping[str, npt.NDArray[np.int64]],
        values: Mapping[str, FloatArray],
    ) -> None:
        """Per id: newest time, and per group its value time (``_NEVER``: none) and values;
        a group is replaced only by a value at least as new as the stored one."""
        s = self._slots(ids)
        self.t_last[s] = np.maximum(self.t_last[s], t_last)
        for g, fields in _GROUPS.items():
            tg = t_group[g]
            newer = (tg != _NEVER) & (tg >= self.t[g][s])
            ss = s[newer]
            self.t[g][ss] = tg[newer]
            for f in fields:
                self.v[f][ss] = values[f][newer]


def _grow(a: npt.NDArray[Any], cap: int, fill: Any) -> npt.NDArray[Any]:
    out = np.full(cap, fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


def _f64(table: pa.Table, name: str) -> FloatArray:
    return np.asarray(
        table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64
    )


def _ns(table: pa.Table, name: str = "time_utc") -> npt.NDArray[np.int64]:
    col = table.column(name).cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    return np.asarray(col.fill_null(_NEVER).to_numpy(zero_copy_only=False), np.int64)


def _last_per_group(codes: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_]) -> Any:
    """Rows (of rows sorted by code, then time) that are the last ``ok`` row of their code."""
    rows = np.flatnonzero(ok)
    c = codes[rows]
    last = np.ones(len(rows), bool)
    last[:-1] = c[1:] != c[:-1]
    return rows[last]


@dataclass
class _Held:
    """A conflict pair with an active alert: feed times (ns) of its last ``observe`` and
    last detection at its level, and the minima (details) it was raised with."""

    observed_ns: int
    found_ns: int
    details: dict[str, float]


@dataclass
class PipelineStats:
    """Counters over the life of a :class:`Pipeline`."""

    reports: int = 0
    batches: int = 0
    zone_events: Counter[str] = field(default_factory=Counter)
    alerts_raised: Counter[str] = field(default_factory=Counter)
    alert_events: Counter[str] = field(default_factory=Counter)
    conflict_runs: int = 0
    conformance_reports: int = 0


class Pipeline:
    """Stateful reports -> alerts pipeline (see the module docstring for the rules).

    ``zones``: geofences, or ``None``. ``intents``: operational intents, or ``None``;
    ``intent_of`` maps ``object_id`` -> intent id (objects not in it are not checked).
    ``conflict_config``: categories, minima and look-ahead (``None``: no conflict
    detection); ``category_of`` gives each track's category index into
    ``conflict_config.categories`` from the array of track ids (default: all 0).
    ``track_store``: a :class:`TrackStore` (default: a new one with ``stale_after_s =
    recent_s``), or ``None`` for per-object states without fusion. ``recent_s``: tracks
    with no report for longer than this before the batch end take no part in conflict
    detection. ``conflict_every_s``: feed time between conflict evaluations.
    ``clear_after_s``, ``update_interval_s``: passed to :class:`AlertManager`.
    ``conflict_clear_s`` (s of feed time, default 10, ``< clear_after_s``) and
    ``conflict_clear_factor`` (dimensionless, default 1.1; 0 drops the distance
    condition): conflict alert hysteresis (module docstring, step 4); both 0 clear a
    pair at the first evaluation that does not detect it. ``zone_clear_s`` (s of feed
    time, default 0 = clear at the exit): zone violation debounce (step 3).
    """

    _DEFAULT_STORE = object()

    def __init__(
        self,
        zones: ZoneSet | None = None,
        intents: IntentIndex | None = None,
        conflict_config: ConflictConfig | None = None,
        *,
        intent_of: Mapping[str, str] | None = None,
        category_of: Callable[[npt.NDArray[np.object_]], npt.ArrayLike] | None = None,
        track_store: TrackStore | None | object = _DEFAULT_STORE,
        recent_s: float = 30.0,
        conflict_every_s: float = 1.0,
        clear_after_s: float = 60.0,
        update_interval_s: float | None = None,
        violation_kinds: Mapping[str, str] = DEFAULT_VIOLATION_KINDS,
        conflict_clear_s: float = 10.0,
        conflict_clear_factor: float = 1.1,
        zone_clear_s: float = 0.0,
    ) -> None:
        if not (np.isfinite(recent_s) and recent_s > 0):
            raise ConfigError(f"must be > 0 s, got {recent_s}", option="recent_s")
        if not (np.isfinite(conflict_every_s) and conflict_every_s >= 0):
            raise ConfigError(f"must be >= 0 s, got {conflict_every_s}", option="conflict_every_s")
        if not (np.isfinite(conflict_clear_s) and 0 <= conflict_clear_s < clear_after_s):
            raise ConfigError(
                f"must be >= 0 s and below clear_after_s ({clear_after_s} s), got "
                f"{conflict_clear_s}",
                option="conflict_clear_s",
            )
        if not (np.isfinite(conflict_clear_factor) and conflict_clear_factor >= 0):
            raise ConfigError(
                f"must be >= 0, got {conflict_clear_factor}", option="conflict_clear_factor"
            )
        if not (np.isfinite(zone_clear_s) and 0 <= zone_clear_s < clear_after_s):
            raise ConfigError(
                f"must be >= 0 s and below clear_after_s ({clear_after_s} s), got {zone_clear_s}",
                option="zone_clear_s",
            )
        if intents is not None:
            missing = sorted({i for i in (intent_of or {}).values() if i not in intents})
            if missing:
                raise ConfigError(f"unknown intent ids {missing[:5]}", option="intent_of")
        self.zones = zones
        self.monitor = ZoneMonitor(zones) if zones is not None else None
        self.intents = intents
        self.intent_of = dict(intent_of or {})
        self.conflict_config = conflict_config
        if conflict_config is not None:
            conflict_config.matrices()  # validate now, not at the first batch
        self.category_of = category_of
        if track_store is Pipeline._DEFAULT_STORE:
            track_store = TrackStore(stale_after_s=recent_s)
        assert track_store is None or isinstance(track_store, TrackStore)
        self.tracks: TrackStore | None = track_store
        self.recent_ns = int(round(recent_s * 1e9))
        self.conflict_every_ns = int(round(conflict_every_s * 1e9))
        self.alerts = AlertManager(clear_after_s=clear_after_s, update_interval_s=update_interval_s)
        self.violation_kinds = dict(violation_kinds)
        self.states = _States()
        self.stats = PipelineStats()
        self.now_ns: int | None = None
        self._last_conflict_ns: int | None = None
        self.conflict_clear_ns = int(round(conflict_clear_s * 1e9))
        self.conflict_clear_factor = float(conflict_clear_factor)
        self.zone_clear_ns = int(round(zone_clear_s * 1e9))
        # Active conflict pairs per kind -> their hysteresis state.
        self._pairs: dict[str, dict[tuple[str, str], _Held]] = {
            "predicted_los": {},
            "loss_of_separation": {},
        }
        # Zone violations waiting for their debounced clear: (object, zone) -> exit time.
        self._exits: dict[tuple[str, str], int] = {}
        self.refresh_ns = self.alerts.clear_after_ns // 4
        self._overspeeding: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ process
    def process(self, reports: pa.Table) -> pa.Table:
        """Fold one batch of reports; returns the alert events (:data:`ALERT_EVENT_SCHEMA`)."""
        missing = [f for f in CORE_FIELDS if f not in reports.column_names]
        if missing:
            raise FormatError(f"report batch lacks core columns {missing}")
        if reports.num_rows == 0:
            return ALERT_EVENT_SCHEMA.empty_table()
        if reports.column("time_utc").null_count:
            raise FormatError("report batch has null time_utc values")
        order = pc.sort_indices(reports, sort_keys=[("time_utc", "ascending")])
        reports = reports.take(order)
        t_ns = _ns(reports)
        end_ns = int(t_ns[-1])
        self.now_ns = end_ns if self.now_ns is None else max(self.now_ns, end_ns)
        self.stats.reports += reports.num_rows
        self.stats.batches += 1
        events: list[Alert] = []

        self._update_states(reports, t_ns)
        if self.monitor is not None:
            events += self._zones(self.monitor.update(reports))
            if self._exits:
                events += self._zone_clears(self.now_ns)
        if self.conflict_config is not None and (
            self._last_conflict_ns is None
            or self.now_ns - self._last_conflict_ns >= self.conflict_every_ns
        ):
            events += self._conflicts(self.now_ns)
            self._last_conflict_ns = self.now_ns
        if self.intents is not None and self.intent_of:
            events += self._conformance(reports, t_ns)
        events += self.alerts.tick(np.datetime64(self.now_ns, "ns"))
        for ev in events:
            self.stats.alert_events[f"{ev.kind}:{ev.state}"] += 1
            if ev.state == "raised":
                self.stats.alerts_raised[ev.kind] += 1
        return self.alerts.to_table(events)

    @property
    def n_tracks(self) -> int:
        """Number of tracks (track store) or objects (``track_store=None``) seen."""
        return len(self.tracks) if self.tracks is not None else len(self.states)

    # ------------------------------------------------------------------- tracks
    def _update_states(self, reports: pa.Table, t_ns: npt.NDArray[np.int64]) -> None:
        if self.tracks is not None:
            changed = self.tracks.update(reports)
            if changed.num_rows == 0:
                return
            t_last = _ns(changed)
            t_pos = _ns(changed, "position_time_utc")
            vals_store = {f: _f64(changed, f) for fs in _GROUPS.values() for f in fs}
            # The store exposes the time of the position and of the newest report only.
            # Its state is always its newest, so the other fields are stamped with the
            # newest report time (monotonic per track, so a stored value is replaced by
            # every later one; the vertical-rate extrapolation of altitude then starts
            # from that time, a small underestimate when the altitude is older).
            tg_store = {g: t_pos if g == "pos" else t_last for g in _GROUPS}
            for g, fs in _GROUPS.items():
                ok = np.all([np.isfinite(vals_store[f]) for f in fs], axis=0)
                tg_store[g] = np.where(ok, tg_store[g], _NEVER)
            self.states.upsert(changed.column("track_id").to_pylist(), t_last, tg_store, vals_store)
            return
        oid = np.asarray(reports.column("object_id").to_numpy(zero_copy_only=False), object)
        codes, uniq = pd.factorize(oid, sort=False)
        order = np.lexsort((t_ns, codes))  # by object, then time (stable)
        c = codes[order]
        vals = {f: _f64(reports, f)[order] for fs in _GROUPS.values() for f in fs}
        ts = t_ns[order]
        n_obj = len(uniq)
        t_last = np.full(n_obj, _NEVER, np.int64)
        last_any = _last_per_group(c, np.ones(len(c), bool))
        t_last[c[last_any]] = ts[last_any]
        t_group: dict[str, npt.NDArray[np.int64]] = {}
        values: dict[str, FloatArray] = {}
        for g, fs in _GROUPS.items():
            ok = np.all([np.isfinite(vals[f]) for f in fs], axis=0)
            rows = _last_per_group(c, ok)
            tg = np.full(n_obj, _NEVER, np.int64)
            tg[c[rows]] = ts[rows]
            t_group[g] = tg
            for f in fs:
                v = np.full(n_obj, np.nan)
                v[c[rows]] = vals[f][rows]
                values[f] = v
        self.states.upsert(list(uniq), t_last, t_group, values)

    # -------------------------------------------------------------------- zones
    def _zones(self, ev: pa.Table) -> list[Alert]:
        if ev.num_rows == 0:
            return []
        assert self.zones is not None
        kinds = ev.column("event").to_numpy(zero_copy_only=False)
        for k, n in Counter(kinds.tolist()).items():
            self.stats.zone_events[k] += n
        zone_kind = np.asarray(ev.column("zone_kind").to_numpy(zero_copy_only=False), object)
        limited = np.isin(
            ev.column("zone_id").to_numpy(zero_copy_only=False),
            self.zones.ids[np.isfinite(self.zones.speed_limit_m_s)],
        )
        relevant = np.isin(zone_kind, list(self.violation_kinds)) | limited
        ev = ev.filter(pa.array(relevant))
        if ev.num_rows == 0:
            return []
        oid = ev.column("object_id").to_pylist()
        zid = ev.column("zone_id").to_pylist()
        zkind = ev.column("zone_kind").to_pylist()
        kind = ev.column("event").to_pylist()
        t = _ns(ev)
        lim = np.isin(
            np.asarray(zid, object), self.zones.ids[np.isfinite(self.zones.speed_limit_m_s)]
        )
        # Drop an ``inside`` followed (same object and zone, ignoring overspeed events) by
        # another ``inside``: the later one observes the same alert.
        key, _ = pd.factorize(pd.Series(oid, dtype=object) + "\x00" + pd.Series(zid, dtype=object))
        kind_a = np.asarray(kind, object)
        plain = np.flatnonzero((kind_a != "overspeed") & ~lim)
        o = plain[np.argsort(key[plain], kind="stable")]
        drop = np.zeros(len(oid), bool)
        same_next = key[o[:-1]] == key[o[1:]]
        both_inside = (kind_a[o[:-1]] == "inside") & (kind_a[o[1:]] == "inside")
        drop[o[:-1][same_next & both_inside]] = True
        over_at = {(oid[i], zid[i], int(t[i])) for i in np.flatnonzero(kind_a == "overspeed")}
        out: list[Alert] = []
        am = self.alerts
        for i in np.flatnonzero(~drop).tolist():
            o_i, z_i, k_i = oid[i], zid[i], kind[i]
            when = np.datetime64(int(t[i]), "ns")
            sev = self.violation_kinds.get(zkind[i])
            if k_i == "overspeed":
                ev_o = am.observe("overspeed", o_i, z_i, when, "warning", {"zone_kind": zkind[i]})
                self._overspeeding.add((o_i, z_i))
                if ev_o is not None:
                    out.append(ev_o)
                continue
            if k_i == "exit":
                cleared = []
                if sev and self.zone_clear_ns > 0:
                    self._exits[(o_i, z_i)] = int(t[i])  # debounced: cleared later
                elif sev:
                    cleared.append(am.clear("zone_violation", o_i, z_i, when))
                if (o_i, z_i) in self._overspeeding:
                    self._overspeeding.discard((o_i, z_i))
                    cleared.append(am.clear("overspeed", o_i, z_i, when))
                out += [c for c in cleared if c is not None]
                continue
            if sev is not None:
                t_exit = self._exits.pop((o_i, z_i), None)
                if t_exit is not None and int(t[i]) - t_exit >= self.zone_clear_ns:
                    # Out for longer than the debounce (within one batch): clear, re-raise.
                    ev_x = am.clear("zone_violation", o_i, z_i, np.datetime64(t_exit, "ns"))
                    if ev_x is not None:
                        out.append(ev_x)
                ev_v = am.observe("zone_violation", o_i, z_i, when, sev, {"zone_kind": zkind[i]})
                if ev_v is not None:
                    out.append(ev_v)
            if lim[i] and (o_i, z_i) in self._overspeeding and (o_i, z_i, int(t[i])) not in over_at:
                self._overspeeding.discard((o_i, z_i))
                ev_c = am.clear("overspeed", o_i, z_i, when)
                if ev_c is not None:
                    out.append(ev_c)
        return out

    def _zone_clears(self, now_ns: int) -> list[Alert]:
        """Debounced zone violation clears due at ``now_ns`` (exit + ``zone_clear_s``)."""
        out: list[Alert] = []
        due = sorted(k for k, t in self._exits.items() if now_ns - t >= self.zone_clear_ns)
        for o, z in due:
            t_exit = self._exits.pop((o, z))
            ev = self.alerts.clear("zone_violation", o, z, np.datetime64(t_exit, "ns"))
            if ev is not None:
                out.append(ev)
        return out

    # ---------------------------------------------------------------- conflicts
    def _conflicts(self, now_ns: int) -> list[Alert]:
        assert self.conflict_config is not None
        st = self.states
        n = len(st)
        self.stats.conflict_runs += 1
        sel = np.flatnonzero(
            (st.t_last[:n] >= now_ns - self.recent_ns)
            & (st.t["pos"][:n] != _NEVER)
            & (st.t["alt"][:n] != _NEVER)
        )
        found: dict[str, dict[tuple[str, str], dict[str, float]]] = {
            "predicted_los": {},
            "loss_of_separation": {},
        }
        # Dead-reckoned (lat_deg, lon_deg, alt_m) of the evaluated tracks, for the
        # separation condition of the hysteresis.
        where: dict[str, tuple[float, float, float]] = {}
        if len(sel) >= 2:
            v = {f: a[sel] for f, a in st.v.items()}
            dt_s = (now_ns - st.t["pos"][sel]) / 1e9
            spd = np.nan_to_num(v["speed_m_s"], nan=0.0)
            trk = np.nan_to_num(v["track_deg"], nan=0.0)
            vr = np.nan_to_num(v["vrate_m_s"], nan=0.0)
            lat, lon, _ = dead_reckon(v["lat_deg"], v["lon_deg"], 0.0, spd, trk, 0.0, dt_s)
            dt_alt = (now_ns - st.t["alt"][sel]) / 1e9
            alt = v["alt_m"] + vr * dt_alt
            trk_r = np.radians(trk)
            ids = np.asarray(st.ids, dtype=object)[sel]
            held_los = self._pairs["loss_of_separation"]
            if self.conflict_clear_factor > 0 and held_los:
                need = np.flatnonzero(np.isin(ids, list({i for p in held_los for i in p})))
                for k in need.tolist():
                    where[ids[k]] = (float(lat[k]), float(lon[k]), float(alt[k]))
            cat: Any = 0
            if self.category_of is not None:
                cat = np.asarray(self.category_of(ids), dtype=np.int64)
            res = detect_conflicts(
                lat,
                lon,
                alt,
                spd * np.sin(trk_r),
                spd * np.cos(trk_r),
                vr,
                cat,
                ids=list(ids),
                config=self.conflict_config,
            )
            a = res.column("id_i").to_pylist()
            b = res.column("id_j").to_pylist()
            los = res.column("los_now").to_pylist()
            hmin = res.column("h_min_m").to_pylist()
            vmin = res.column("v_min_m").to_pylist()
            # Details hold the minima only: CPA figures of near-parallel tracks jump from
            # batch to batch and would turn every evaluation into an "updated" event.
            for x, y, lo, h, v_ in zip(a, b, los, hmin, vmin, strict=True):
                pair = (x, y) if x < y else (y, x)
                found["loss_of_separation" if lo else "predicted_los"][pair] = {
                    "h_min_m": h,
                    "v_min_m": v_,
                }
        return self._conflict_alerts(now_ns, found, where)

    def _conflict_alerts(
        self,
        now_ns: int,
        found: Mapping[str, Mapping[tuple[str, str], dict[str, float]]],
        where: Mapping[str, tuple[float, float, float]],
    ) -> list[Alert]:
        """Alert events of one conflict evaluation, with the hysteresis of the module
        docstring (step 4)."""
        when = np.datetime64(now_ns, "ns")
        los_found, pred_found = found["loss_of_separation"], found["predicted_los"]
        los_held, pred_held = self._pairs["loss_of_separation"], self._pairs["predicted_los"]
        expired = [p for p, h in los_held.items() if now_ns - h.found_ns >= self.conflict_clear_ns]
        los_gone = sorted(
            p for p in expired if p not in los_found and self._separated(p, los_held[p], where)
        )
        los_after = (los_held.keys() - set(los_gone)) | los_found.keys()
        out: list[Alert] = []
        # Events in the order predicted (clears, raises), then loss of separation.
        for pair in sorted(pred_held):
            h = pred_held[pair]
            if pair in pred_found and pair not in los_after:
                continue
            if pair not in los_after and now_ns - h.found_ns < self.conflict_clear_ns:
                continue  # hold
            del pred_held[pair]  # escalated, or not detected for conflict_clear_s
            ev = self.alerts.clear("predicted_los", pair[0], pair[1], when)
            if ev is not None:
                out.append(ev)
        out += self._observe_pairs(
            "predicted_los", {p: d for p, d in pred_found.items() if p not in los_after}, now_ns
        )
        for pair in los_gone:
            del los_held[pair]
            ev = self.alerts.clear("loss_of_separation", pair[0], pair[1], when)
            if ev is not None:
                out.append(ev)
        out += self._observe_pairs("loss_of_separation", los_found, now_ns)
        return out

    def _observe_pairs(
        self, kind: str, pairs: Mapping[tuple[str, str], dict[str, float]], now_ns: int
    ) -> list[Alert]:
        sev = "critical" if kind == "loss_of_separation" else "warning"
        held = self._pairs[kind]
        when = np.datetime64(now_ns, "ns")
        out: list[Alert] = []
        for pair in sorted(pairs):
            h = held.get(pair)
            if h is None:
                h = held[pair] = _Held(_NEVER, now_ns, pairs[pair])
            h.found_ns = now_ns
            # An ongoing pair (details constant) is re-observed only every quarter of
            # clear_after_s: enough to keep it alive, and observe() is the cost here.
            if h.observed_ns != _NEVER and now_ns - h.observed_ns < self.refresh_ns:
                continue
            h.observed_ns = now_ns
            h.details = pairs[pair]
            ev = self.alerts.observe(kind, pair[0], pair[1], when, sev, pairs[pair])
            if ev is not None:
                out.append(ev)
        return out

    def _separated(
        self,
        pair: tuple[str, str],
        held: _Held,
        where: Mapping[str, tuple[float, float, float]],
    ) -> bool:
        """Whether a held loss-of-separation pair is beyond its minima x the factor."""
        f = self.conflict_clear_factor
        if f <= 0 or pair[0] not in where or pair[1] not in where:
            return True
        (la0, lo0, z0), (la1, lo1, z1) = where[pair[0]], where[pair[1]]
        _, _, dist_m = _GEOD.inv(lo0, la0, lo1, la1)
        h_min = float(held.details.get("h_min_m", 0.0))
        v_min = float(held.details.get("v_min_m", 0.0))
        return bool(dist_m > f * h_min or abs(z1 - z0) > f * v_min)

    # -------------------------------------------------------------- conformance
    def _conformance(self, reports: pa.Table, t_ns: npt.NDArray[np.int64]) -> list[Alert]:
        assert self.intents is not None
        oid = np.asarray(reports.column("object_id").to_numpy(zero_copy_only=False), object)
        active = {
            o: i
            for o, i in self.intent_of.items()
            if self.intents.get(i).state in CONFORMANCE_STATES
        }
        # Only reports with a full 3D position can be judged (velocity-only or
        # altitude-only messages, e.g. ADS-B, say nothing about conformance).
        full = np.isfinite(_f64(reports, "lat_deg") + _f64(reports, "lon_deg"))
        full &= np.isfinite(_f64(reports, "alt_m"))
        rows = np.flatnonzero(np.isin(oid, list(active)) & full)
        if len(rows) == 0:
            return []
        sub = reports.take(pa.array(rows))
        ids = [active[o] for o in oid[rows].tolist()]
        ok = self.intents.conformance(sub, ids)
        self.stats.conformance_reports += len(rows)
        codes, uniq = pd.factorize(oid[rows], sort=False)
        order = np.lexsort((t_ns[rows], codes))
        c, ok_s, t_s = codes[order], ok[order], t_ns[rows][order]
        bad_last = _last_per_group(c, ~ok_s)
        good_last = _last_per_group(c, ok_s)
        t_bad = np.full(len(uniq), _NEVER, np.int64)
        t_good = np.full(len(uniq), _NEVER, np.int64)
        t_bad[c[bad_last]] = t_s[bad_last]
        t_good[c[good_last]] = t_s[good_last]
        out: list[Alert] = []
        for k, o in enumerate(uniq.tolist()):
            iid = active[o]
            if t_bad[k] != _NEVER:
                ev = self.alerts.observe(
                    "non_conformance", o, iid, np.datetime64(int(t_bad[k]), "ns"), "warning"
                )
                if ev is not None:
                    out.append(ev)
            if t_good[k] > t_bad[k]:
                ev = self.alerts.clear(
                    "non_conformance", o, iid, np.datetime64(int(t_good[k]), "ns")
                )
                if ev is not None:
                    out.append(ev)
        return out


# ------------------------------------------------------------------- replay
def infer_format(path: str | Path) -> str:
    """Feed format of ``path`` from its extension (:data:`FORMAT_BY_EXTENSION`) or raise."""
    ext = Path(path).suffix.lower()
    fmt = FORMAT_BY_EXTENSION.get(ext)
    if fmt is None:
        raise ConfigError(
            f"cannot tell the format of {str(path)!r} from its extension; give FILE:FORMAT "
            f"or --format (unambiguous: {', '.join(sorted(FORMAT_BY_EXTENSION))})",
            option="--format",
        )
    return fmt


def read_feeds(
    files: Iterable[tuple[str | Path, str]],
    *,
    ref: tuple[float, float] | None = None,
    ref_time_utc: Any = None,
) -> tuple[pa.Table, DecodeErrors]:
    """Decode each (path, format) and merge the core columns, sorted by time (stable)."""
    tables = []
    errors = DecodeErrors()
    for path, fmt in files:
        t, e = _decode(path, fmt, ref, ref_time_utc)
        tables.append(t.select(list(CORE_FIELDS)).cast(CORE_SCHEMA))
        errors.merge(e)
    merged = pa.concat_tables(tables) if tables else CORE_SCHEMA.empty_table()
    merged = merged.take(pc.sort_indices(merged, sort_keys=[("time_utc", "ascending")]))
    return merged, errors


def _decode(
    path: str | Path, fmt: str, ref: tuple[float, float] | None, ref_time_utc: Any
) -> tuple[pa.Table, DecodeErrors]:
    from kongtian.traffic.decode.io import decode_file

    return decode_file(path, fmt, ref=ref, ref_time_utc=ref_time_utc)


def batches(reports: pa.Table, batch_s: float) -> Iterator[pa.Table]:
    """Consecutive slices of ``reports`` (sorted by time, stable) covering ``batch_s`` of
    feed time each (aligned to the first report's time; empty intervals are skipped)."""
    if not (np.isfinite(batch_s) and batch_s > 0):
        raise ConfigError(f"must be > 0 s, got {batch_s}", option="batch_s")
    if reports.num_rows == 0:
        return
    reports = reports.take(pc.sort_indices(reports, sort_keys=[("time_utc", "ascending")]))
    t = _ns(reports)
    k = (t - t[0]) // int(round(batch_s * 1e9))
    bounds = np.flatnonzero(np.diff(k)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(t)]])
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield reports.slice(a, b - a)


@dataclass
class ReplaySummary:
    """What :func:`replay` did; ``to_dict`` is the CLI's JSON summary."""

    reports: int
    tracks: int
    alerts_by_kind: dict[str, int]
    errors_by_kind: dict[str, int]
    events_by_kind: dict[str, int]
    alert_events: int
    elapsed_s: float
    decode_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports,
            "tracks": self.tracks,
            "alerts_by_kind": self.alerts_by_kind,
            "errors_by_kind": self.errors_by_kind,
            "events_by_kind": self.events_by_kind,
            "alert_events": self.alert_events,
            "elapsed_s": round(self.elapsed_s, 3),
            "decode_s": round(self.decode_s, 3),
        }


def replay(
    files: Iterable[tuple[str | Path, str]],
    pipeline: Pipeline,
    *,
    batch_s: float = 1.0,
    speed: float = 0.0,
    on_events: Callable[[pa.Table], None] | None = None,
    ref: tuple[float, float] | None = None,
    ref_time_utc: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplaySummary:
    """Decode ``files`` ((path, format) pairs), then feed them through ``pipeline``.

    Batches hold ``batch_s`` seconds of feed time. ``speed``: 0 runs as fast as possible;
    ``s > 0`` paces batches so feed time runs ``s`` times faster than real time (the
    wait before each batch is its feed-time offset from the previous one divided by
    ``s``, minus the time already spent). ``on_events`` receives each batch's alert
    events. Unreadable files raise :class:`FormatError`; malformed messages are counted
    in ``errors_by_kind`` (``"<kind>: <reason>"``, as ``kongtian traffic decode``).
    """
    if not (np.isfinite(speed) and speed >= 0):
        raise ConfigError(f"must be >= 0, got {speed}", option="--speed")
    t0 = time.perf_counter()
    reports, errors = read_feeds(files, ref=ref, ref_time_utc=ref_time_utc)
    decode_s = time.perf_counter() - t0
    n_events = 0
    prev_ns: int | None = None
    wall_prev = time.perf_counter()
    for batch in batches(reports, batch_s):
        first_ns = int(_ns(batch)[0])
        if speed > 0 and prev_ns is not None:
            wait = (first_ns - prev_ns) / 1e9 / speed - (time.perf_counter() - wall_prev)
            if wait > 0:
                sleep(wait)
        wall_prev = time.perf_counter()
        prev_ns = first_ns
        ev = pipeline.process(batch)
        n_events += ev.num_rows
        if on_events is not None and ev.num_rows:
            on_events(ev)
    st = pipeline.stats
    return ReplaySummary(
        reports=reports.num_rows,
        tracks=pipeline.n_tracks,
        alerts_by_kind=dict(sorted(st.alerts_raised.items())),
        errors_by_kind={f"{k}: {r}": n for (k, r), n in sorted(errors.counts.items())},
        events_by_kind=dict(sorted(st.zone_events.items())),
        alert_events=n_events,
        elapsed_s=time.perf_counter() - t0,
        decode_s=decode_s,
    )


def write_alert_events(events: pa.Table, fh: Any) -> None:
    """Append alert events to a text file handle as JSON Lines (times ISO-8601 Z, ns)."""
    from kongtian.geo.time import iso_utc

    rows = events.to_pylist()
    first = iso_utc(_ns(events, "first_time_utc").astype("datetime64[ns]"), 3)
    last = iso_utc(_ns(events, "last_time_utc").astype("datetime64[ns]"), 3)
    for r, a, b in zip(rows, first.tolist(), last.tolist(), strict=True):
        r["first_time_utc"], r["last_time_utc"] = a, b
        r["details"] = json.loads(r["details"]) if r["details"] else {}
        fh.write(json.dumps(r, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------ intents file
def load_intents(path: str | Path) -> tuple[IntentIndex, dict[str, str]]:
    """Operational intents from a JSON file; returns the index and object -> intent map.

    The file is a list (or ``{"intents": [...]}``) of objects with ``id``, ``state``
    (default ``Activated``), ``priority``, ``owner``, ``object_id`` (the normalised
    ``object_id`` flying it; intents without it are indexed but not monitored) and
    ``volumes``: each with ``outline`` (a GeoJSON Polygon in lon/lat degrees, or a
    ``Point`` with ``radius_m``), ``alt_lower_m``, ``alt_upper_m``, ``alt_ref``
    (default ``wgs84``), ``t_start_utc``, ``t_end_utc`` (ISO-8601 UTC). Errors raise
    :class:`FormatError` naming the file and intent index.
    """
    import shapely
    from shapely.geometry import shape

    from kongtian.traffic.intents import Circle, OperationalIntent, Volume4D

    p = str(path)
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=p) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg}", path=p, line=exc.lineno) from None
    items = obj.get("intents") if isinstance(obj, dict) else obj
    if not isinstance(items, list):
        raise FormatError("expected a list of intents or {'intents': [...]}", path=p)
    index = IntentIndex()
    intent_of: dict[str, str] = {}
    for k, it in enumerate(items):
        try:
            vols = []
            for v in it["volumes"]:
                g = v["outline"]
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
                        v.get("alt_ref", "wgs84"),
                        v["t_start_utc"],
                        v["t_end_utc"],
                    )
                )
            intent = OperationalIntent(
                id=str(it["id"]),
                volumes=vols,
                state=it.get("state", "Activated"),
                priority=int(it.get("priority", 0)),
                owner=str(it.get("owner", "")),
            )
            index.add(intent)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise FormatError(f"intent {k}: {what}", path=p) from None
        if it.get("object_id"):
            intent_of[str(it["object_id"])] = intent.id
    return index, intent_of
