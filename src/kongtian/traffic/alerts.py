"""Alerts with a lifecycle (raised, updated, cleared) and de-duplication, plus detectors.

An :class:`AlertManager` turns a stream of *conditions* (``kind``, ``object_id``,
``other_id``, time, severity, details) into alert *events*. One alert exists per
de-duplication key (``kind``, ``object_id``, ``other_id``) at a time:

- the first observation of a key **raises** an alert;
- repeated observations update its ``last_time_utc`` and ``count`` silently and emit
  **updated** only when the severity changes, the details change materially (a key
  appears or goes, a non-numeric value changes, or a number moves by more than
  ``rel_tol`` of its magnitude since the last emitted event), or when
  ``update_interval_s`` has passed since the last emitted event;
- :meth:`AlertManager.clear` or :meth:`AlertManager.tick` (no observation for more than
  ``clear_after_s``) **clears** it; a later observation raises a new alert.

The detectors at the end are small, independent of the zone and conflict modules, and
return condition tables that :meth:`AlertManager.observe_many` accepts directly. Their
geometry is lon/lat degrees (shapely x = lon, y = lat); distances in metres.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from kongtian.errors import ConfigError, FormatError
from kongtian.geo.time import as_utc

KINDS = (
    "zone_violation",
    "predicted_los",
    "loss_of_separation",
    "non_conformance",
    "no_remote_id",
    "ais_silence",
    "anchored_in_fairway",
    "overspeed",
    "off_corridor",
    "long_dwell",
)
"""Alert kinds: zone violation, predicted and actual loss of separation, non-conformance
with an operational intent, aircraft without Remote ID, AIS silence in a channel, vessel
anchored in a fairway, over-speed, vehicle off its corridor, long dwell."""

SEVERITIES = ("info", "advisory", "warning", "critical")
STATES = ("raised", "updated", "cleared")
RID_SOURCES = ("remoteid-bcast", "remoteid-net")
KNOT_M_S = 1852.0 / 3600.0

CONDITION_COLUMNS = ("kind", "object_id", "other_id", "time_utc", "severity")


@dataclass
class Alert:
    """One alert; events returned by :class:`AlertManager` are snapshots of it.

    ``other_id``: the zone, other object, operational intent or channel involved
    (``None`` if the condition concerns the object alone). Times UTC ``datetime64[ns]``.
    """

    alert_id: str
    kind: str
    object_id: str
    other_id: str | None
    severity: str
    state: str
    first_time_utc: np.datetime64
    last_time_utc: np.datetime64
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.kind, self.object_id, self.other_id)


_ALERT_SCHEMA = pa.schema(
    [
        pa.field("alert_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("object_id", pa.string()),
        pa.field("other_id", pa.string()),
        pa.field("severity", pa.string()),
        pa.field("state", pa.string()),
        pa.field("first_time_utc", pa.timestamp("ns", tz="UTC")),
        pa.field("last_time_utc", pa.timestamp("ns", tz="UTC")),
        pa.field("count", pa.int64()),
        pa.field("details", pa.string()),
    ]
)


def _dt64(t: Any) -> np.datetime64:
    """One UTC time as ``datetime64[ns]``."""
    v = np.asarray(as_utc(t)).astype("datetime64[ns]")
    if v.size != 1:
        raise ConfigError(f"expected one time, got {v.size}", option="time_utc")
    out: np.datetime64 = v.reshape(-1)[0]
    return out


class AlertManager:
    """Lifecycle and de-duplication of alerts (see the module docstring).

    ``clear_after_s``: an alert not re-observed for longer than this is cleared by
    :meth:`tick`. ``update_interval_s``: if set, an active alert re-observed this long
    after its last emitted event emits ``updated`` even without a material change.
    ``rel_tol``: relative change of a numeric detail that counts as material.
    """

    def __init__(
        self,
        clear_after_s: float = 60.0,
        update_interval_s: float | None = None,
        rel_tol: float = 0.1,
    ) -> None:
        if not clear_after_s > 0:
            raise ConfigError(f"must be > 0 s, got {clear_after_s}", option="clear_after_s")
        if update_interval_s is not None and not update_interval_s > 0:
            raise ConfigError(
                f"must be > 0 s or None, got {update_interval_s}", option="update_interval_s"
            )
        if not rel_tol >= 0:
            raise ConfigError(f"must be >= 0, got {rel_tol}", option="rel_tol")
        self.clear_after_ns = int(round(clear_after_s * 1e9))
        self.update_interval_ns = (
            None if update_interval_s is None else int(round(update_interval_s * 1e9))
        )
        self.rel_tol = float(rel_tol)
        self._active: dict[tuple[str, str, str | None], Alert] = {}
        # Per key: (time, severity, details) of the last emitted event.
        self._emitted: dict[tuple[str, str, str | None], tuple[int, str, dict[str, Any]]] = {}

    def observe(
        self,
        kind: str,
        object_id: str,
        other_id: str | None,
        time_utc: Any,
        severity: str = "warning",
        details: Mapping[str, Any] | None = None,
    ) -> Alert | None:
        """Record one observation of a condition; returns the event emitted, if any."""
        if kind not in KINDS:
            raise ConfigError(
                f"unknown alert kind {kind!r}; expected one of {KINDS}", option="kind"
            )
        if severity not in SEVERITIES:
            raise ConfigError(
                f"unknown severity {severity!r}; expected one of {SEVERITIES}", option="severity"
            )
        t = _dt64(time_utc)
        t_ns = int(t.astype(np.int64))
        det = dict(details or {})
        key = (kind, object_id, other_id)
        alert = self._active.get(key)
        if alert is None:
            alert = Alert(
                alert_id=f"{kind}:{object_id}:{other_id or '-'}@{t_ns}",
                kind=kind,
                object_id=object_id,
                other_id=other_id,
                severity=severity,
                state="raised",
                first_time_utc=t,
                last_time_utc=t,
                count=1,
                details=det,
            )
            self._active[key] = alert
            self._emitted[key] = (t_ns, severity, det)
            return copy.deepcopy(alert)
        alert.count += 1
        alert.last_time_utc = max(alert.last_time_utc, t)
        alert.severity = severity
        alert.details = det
        last_ns, last_sev, last_det = self._emitted[key]
        due = self.update_interval_ns is not None and t_ns - last_ns >= self.update_interval_ns
        if severity != last_sev or due or self._material(last_det, det):
            alert.state = "updated"
            self._emitted[key] = (t_ns, severity, det)
            return copy.deepcopy(alert)
        return None

    def _material(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        if old.keys() != new.keys():
            return True
        for k, a in old.items():
            b = new[k]
            num = (int, float, np.integer, np.floating)
            if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool):
                a_f, b_f = float(a), float(b)
                if np.isnan(a_f) and np.isnan(b_f):
                    continue
                if not abs(a_f - b_f) <= self.rel_tol * max(abs(a_f), abs(b_f)):
                    return True
            elif a != b:
                return True
        return False

    def clear(
        self, kind: str, object_id: str, other_id: str | None, time_utc: Any = None
    ) -> Alert | None:
        """Clear an active alert (event ``cleared``); ``None`` if it was not active.

        ``time_utc`` (default: the alert's last observation) becomes its ``last_time_utc``.
        """
        alert = self._active.pop((kind, object_id, other_id), None)
        if alert is None:
            return None
        self._emitted.pop(alert.key, None)
        if time_utc is not None:
            alert.last_time_utc = max(alert.last_time_utc, _dt64(time_utc))
        alert.state = "cleared"
        return alert

    def tick(self, now_utc: Any) -> list[Alert]:
        """Clear every alert not observed for more than ``clear_after_s`` before ``now_utc``."""
        now = int(_dt64(now_utc).astype(np.int64))
        expired = [
            k
            for k, a in self._active.items()
            if now - int(a.last_time_utc.astype(np.int64)) > self.clear_after_ns
        ]
        out = []
        for k in expired:
            ev = self.clear(*k)
            if ev is not None:
                out.append(ev)
        return out

    def observe_many(self, conditions: pa.Table) -> list[Alert]:
        """Observe each row of a condition table, in time order; returns the events.

        Columns: ``kind``, ``object_id``, ``time_utc`` (required), ``other_id`` and
        ``severity`` (optional; default null and ``warning``); every other column goes
        into ``details`` under its own name (nulls left out).
        """
        missing = [c for c in ("kind", "object_id", "time_utc") if c not in conditions.column_names]
        if missing:
            raise FormatError(f"condition table lacks columns {missing}")
        rows = conditions.to_pylist()
        t_ns = _time_ns(conditions, "condition")
        events = []
        for i in np.argsort(t_ns, kind="stable"):
            r = rows[i]
            det = {k: v for k, v in r.items() if k not in CONDITION_COLUMNS and v is not None}
            ev = self.observe(
                r["kind"],
                r["object_id"],
                r.get("other_id"),
                np.datetime64(int(t_ns[i]), "ns"),
                r.get("severity") or "warning",
                det,
            )
            if ev is not None:
                events.append(ev)
        return events

    def active(self) -> list[Alert]:
        """Snapshots of the active alerts, oldest first."""
        return sorted(
            (copy.deepcopy(a) for a in self._active.values()),
            key=lambda a: (a.first_time_utc, a.alert_id),
        )

    def to_table(self, alerts: list[Alert] | None = None) -> pa.Table:
        """Alerts (default: the active ones) as an Arrow table; details as JSON text."""
        alerts = self.active() if alerts is None else alerts

        def ts(vals: list[np.datetime64]) -> pa.Array:
            ns = np.array([v.astype("datetime64[ns]").astype(np.int64) for v in vals], np.int64)
            return pa.array(ns, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))

        return pa.Table.from_arrays(
            [
                pa.array([a.alert_id for a in alerts], pa.string()),
                pa.array([a.kind for a in alerts], pa.string()),
                pa.array([a.object_id for a in alerts], pa.string()),
                pa.array([a.other_id for a in alerts], pa.string()),
                pa.array([a.severity for a in alerts], pa.string()),
                pa.array([a.state for a in alerts], pa.string()),
                ts([a.first_time_utc for a in alerts]),
                ts([a.last_time_utc for a in alerts]),
                pa.array([a.count for a in alerts], pa.int64()),
                pa.array([json.dumps(a.details, default=str) for a in alerts], pa.string()),
            ],
            schema=_ALERT_SCHEMA,
        )


# ---------------------------------------------------------------- detectors


def _conditions(
    kind: str,
    object_id: list[str],
    other_id: str | list[str | None] | None,
    time_ns: npt.ArrayLike,
    severity: str,
    **details: npt.ArrayLike,
) -> pa.Table:
    n = len(object_id)
    others = other_id if isinstance(other_id, list) else [other_id] * n
    cols: dict[str, pa.Array] = {
        "kind": pa.array([kind] * n, pa.string()),
        "object_id": pa.array(object_id, pa.string()),
        "other_id": pa.array(others, pa.string()),
        "time_utc": pa.array(np.asarray(time_ns, np.int64), pa.int64()).cast(
            pa.timestamp("ns", tz="UTC")
        ),
        "severity": pa.array([severity] * n, pa.string()),
    }
    for k, v in details.items():
        cols[k] = pa.array(np.asarray(v), from_pandas=True)
    return pa.table(cols)


def _col(table: pa.Table, name: str, what: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise FormatError(f"{what} table lacks column {name!r}")
    return table.column(name)


def _f64(table: pa.Table, name: str, what: str) -> npt.NDArray[np.float64]:
    return np.asarray(
        _col(table, name, what).cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64
    )


def _time_ns(table: pa.Table, what: str) -> npt.NDArray[np.int64]:
    t = _col(table, "time_utc", what)
    return np.asarray(
        t.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False),
        np.int64,
    )


def _ids(table: pa.Table, id_col: str, what: str) -> npt.NDArray[np.object_]:
    return np.array(_col(table, id_col, what).to_pylist(), dtype=object)


def _now_ns(now_utc: Any) -> int:
    return int(_dt64(now_utc).astype(np.int64))


def no_remote_id(
    tracks: pa.Table,
    is_uav: str | npt.ArrayLike = "is_uav",
    *,
    id_col: str = "track_id",
    severity: str = "warning",
) -> pa.Table:
    """UAV tracks seen only by non-Remote-ID sources (no RID report associated).

    ``tracks``: a track table (:data:`kongtian.traffic.tracks.TRACK_SCHEMA`: ``sources``
    list column, ``time_utc``). ``is_uav``: a boolean column name or array saying which
    tracks are UAV-category (e.g. ADS-B emitter category B6, radar classification).
    """
    uav = (
        np.asarray(_col(tracks, is_uav, "tracks").fill_null(False).to_pylist(), bool)
        if isinstance(is_uav, str)
        else np.asarray(is_uav, bool)
    )
    if uav.shape != (tracks.num_rows,):
        raise ConfigError(f"needs {tracks.num_rows} flags, got shape {uav.shape}", option="is_uav")
    sources = _col(tracks, "sources", "tracks").to_pylist()
    has_rid = np.array([any(s in RID_SOURCES for s in (srcs or ())) for srcs in sources], bool)
    hit = np.flatnonzero(uav & ~has_rid)
    ids = _ids(tracks, id_col, "tracks")
    return _conditions(
        "no_remote_id",
        [str(i) for i in ids[hit]],
        None,
        _time_ns(tracks, "tracks")[hit],
        severity,
        sources=np.array([",".join(sources[i] or ()) for i in hit], dtype=object),
    )


def ais_silence(
    last_seen: pa.Table,
    now_utc: Any,
    area: BaseGeometry,
    channel: str,
    max_gap_s: float,
    *,
    id_col: str = "track_id",
    severity: str = "warning",
) -> pa.Table:
    """Vessels whose last position lies in ``area`` (a channel) and that have been silent
    for more than ``max_gap_s`` at ``now_utc``.

    ``last_seen``: one row per vessel with ``id_col``, ``time_utc`` (last report),
    ``lat_deg``, ``lon_deg`` (e.g. a track snapshot filtered to AIS tracks).
    """
    now = _now_ns(now_utc)
    t = _time_ns(last_seen, "last_seen")
    inside = shapely.contains_xy(
        area, _f64(last_seen, "lon_deg", "last_seen"), _f64(last_seen, "lat_deg", "last_seen")
    )
    gap_s = (now - t) / 1e9
    hit = np.flatnonzero(inside & (gap_s > max_gap_s))
    ids = _ids(last_seen, id_col, "last_seen")
    return _conditions(
        "ais_silence",
        [str(i) for i in ids[hit]],
        channel,
        np.full(hit.size, now),
        severity,
        gap_s=gap_s[hit],
        last_time_utc_ns=t[hit],
    )


def _trailing_runs(
    ids: npt.NDArray[np.object_], t_ns: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per object whose latest report satisfies ``mask``: (id, run start, run end) times
    of the unbroken run of satisfying reports that ends with that latest report."""
    if ids.size == 0:
        e = np.empty(0, np.int64)
        return np.empty(0, object), e, e
    _, code = np.unique(ids, return_inverse=True)
    order = np.lexsort((t_ns, code))
    code, t, m, ids = code[order], t_ns[order], mask[order], ids[order]
    idx = np.arange(code.size)
    new_group = np.ones(code.size, bool)
    new_group[1:] = code[1:] != code[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, idx, 0))
    # Index one past the latest failing row, never before the group's first row;
    # earlier groups' values are all <= this group's start, so a running max works.
    run_start = np.maximum.accumulate(np.where(~m, idx + 1, group_start))
    last = np.append(np.flatnonzero(new_group[1:]), code.size - 1)
    last = last[m[last]]
    return ids[last], t[run_start[last]], t[last]


def _dwell(
    kind: str,
    reports: pa.Table,
    mask: npt.NDArray[np.bool_],
    other_id: str,
    min_duration_s: float,
    id_col: str,
    severity: str,
) -> pa.Table:
    ids = _ids(reports, id_col, "reports")
    obj, t0, t1 = _trailing_runs(ids, _time_ns(reports, "reports"), mask)
    dur_s = (t1 - t0) / 1e9
    hit = dur_s >= min_duration_s
    return _conditions(
        kind,
        [str(i) for i in obj[hit]],
        other_id,
        t1[hit],
        severity,
        duration_s=dur_s[hit],
        since_utc_ns=t0[hit],
    )


def anchored_in_fairway(
    reports: pa.Table,
    fairway: BaseGeometry,
    fairway_id: str,
    min_duration_s: float = 600.0,
    max_speed_m_s: float = 0.5 * KNOT_M_S,
    *,
    id_col: str = "object_id",
    severity: str = "warning",
) -> pa.Table:
    """Vessels whose latest reports, unbroken for at least ``min_duration_s``, are all
    inside ``fairway`` at speed below ``max_speed_m_s`` (default 0.5 kn).

    ``reports``: report rows (``id_col``, ``time_utc``, ``lat_deg``, ``lon_deg``,
    ``speed_m_s``), any order. A report with unknown speed breaks the run.
    """
    inside = shapely.contains_xy(
        fairway, _f64(reports, "lon_deg", "reports"), _f64(reports, "lat_deg", "reports")
    )
    speed = _f64(reports, "speed_m_s", "reports")
    slow = np.isfinite(speed) & (speed < max_speed_m_s)
    return _dwell(
        "anchored_in_fairway", reports, inside & slow, fairway_id, min_duration_s, id_col, severity
    )


def long_dwell(
    reports: pa.Table,
    area: BaseGeometry,
    area_id: str,
    min_duration_s: float,
    *,
    id_col: str = "object_id",
    severity: str = "advisory",
) -> pa.Table:
    """Objects whose latest reports, unbroken for at least ``min_duration_s``, are all
    inside ``area``. ``reports`` as for :func:`anchored_in_fairway` (no speed needed)."""
    inside = shapely.contains_xy(
        area, _f64(reports, "lon_deg", "reports"), _f64(reports, "lat_deg", "reports")
    )
    return _dwell("long_dwell", reports, inside, area_id, min_duration_s, id_col, severity)


def overspeed(
    tracks: pa.Table,
    max_speed_m_s: float | npt.ArrayLike,
    *,
    limit_id: str | None = None,
    area: BaseGeometry | None = None,
    id_col: str = "track_id",
    severity: str = "warning",
) -> pa.Table:
    """Tracks faster than ``max_speed_m_s`` (scalar or one limit per row), optionally
    only inside ``area``; ``limit_id`` names the limit (zone, road, class) as other_id."""
    speed = _f64(tracks, "speed_m_s", "tracks")
    limit = np.broadcast_to(np.asarray(max_speed_m_s, np.float64), speed.shape)
    hit = np.isfinite(speed) & (speed > limit)
    if area is not None:
        hit &= shapely.contains_xy(
            area, _f64(tracks, "lon_deg", "tracks"), _f64(tracks, "lat_deg", "tracks")
        )
    i = np.flatnonzero(hit)
    ids = _ids(tracks, id_col, "tracks")
    return _conditions(
        "overspeed",
        [str(x) for x in ids[i]],
        limit_id,
        _time_ns(tracks, "tracks")[i],
        severity,
        speed_m_s=speed[i],
        limit_m_s=limit[i],
    )


def off_corridor(
    tracks: pa.Table,
    corridor: BaseGeometry,
    corridor_id: str,
    half_width_m: float,
    *,
    id_col: str = "track_id",
    severity: str = "warning",
) -> pa.Table:
    """Tracks farther than ``half_width_m`` from the ``corridor`` centre line (lon/lat).

    Distances are computed in an azimuthal equidistant projection centred on the
    corridor (shapely ``distance``), exact at the centre and good to a fraction of a
    percent within a few hundred kilometres of it.
    """
    if not half_width_m > 0:
        raise ConfigError(f"must be > 0 m, got {half_width_m}", option="half_width_m")
    c = corridor.centroid
    fwd = Transformer.from_crs(
        "EPSG:4326",
        f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m",
        always_xy=True,
    )
    line_m = shapely.transform(corridor, lambda xy: np.column_stack(fwd.transform(*xy.T)))
    lat = _f64(tracks, "lat_deg", "tracks")
    lon = _f64(tracks, "lon_deg", "tracks")
    x, y = fwd.transform(lon, lat)
    dist = shapely.distance(shapely.points(x, y), line_m)
    hit = np.flatnonzero(np.isfinite(dist) & (dist > half_width_m))
    ids = _ids(tracks, id_col, "tracks")
    return _conditions(
        "off_corridor",
        [str(i) for i in ids[hit]],
        corridor_id,
        _time_ns(tracks, "tracks")[hit],
        severity,
        distance_m=dist[hit],
        half_width_m=np.full(hit.size, float(half_width_m)),
    )
