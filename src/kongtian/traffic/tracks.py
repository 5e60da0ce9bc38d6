"""Tracks: per-object state with source history, fusion across sources, prediction.

A :class:`TrackStore` takes report batches (:mod:`kongtian.model.report`) and keeps one
track per physical object. Association is explicit, never blind nearest-neighbour:

1. the same ``object_id`` from any source is the same track (broadcast and network
   Remote ID both report ``uas:<serial>``, so they fuse by construction);
2. :attr:`AssociationRules.aliases` maps an ``object_id`` onto another one that names the
   same object (e.g. ``icao24:3c6444`` -> ``reg:d-eabc`` from a registration table, or a
   satellite-IoT terminal id onto the aircraft it is fitted to); chains are followed;
3. optionally, a report carrying a declared link in the extra column
   :attr:`AssociationRules.link_key` (its value is another ``object_id``) joins that
   object's track only if it passes a gate: within ``gate_s`` of the track's last
   position and within ``gate_m`` of the track's dead-reckoned position at the report
   time. Once joined, the object id stays with the track (until the track expires);
   a report that fails the gate starts a track of its own.

The track id is the canonical (alias-resolved) id of the object that founded the track.

Ordering: each state field (position, altitude, speed, track, vertical rate) holds the
value of the newest report by ``time_utc`` that carries it, so the state does not depend
on arrival order; a late (out-of-order) report goes into the history at its place but
cannot move the state back. Ties in time are broken by (source, object_id) in string
order. Duplicates on :data:`~kongtian.model.report.DEDUP_KEY` are dropped and counted,
within a batch and against the retained history (``history`` newest reports per
track); a duplicate of a report already pushed out of the history is not recognised.

Units: SI (m, m/s, s) with lat/lon/track in degrees at the edges, times UTC
``datetime64[ns]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kongtian.errors import ConfigError, FormatError
from kongtian.geo.ellipsoid import WGS84
from kongtian.geo.time import as_utc
from kongtian.model.report import CORE_FIELDS, CORE_SCHEMA

FloatArray = npt.NDArray[np.float64]

_NUM = ("lat_deg", "lon_deg", "alt_m", "speed_m_s", "track_deg", "vrate_m_s")
_STR = ("object_id", "source", "alt_ref")
# State groups: fields updated together from one report (position needs both lat and lon).
_GROUPS: dict[str, tuple[str, ...]] = {
    "pos": ("lat_deg", "lon_deg"),
    "alt": ("alt_m", "alt_ref"),
    "speed": ("speed_m_s",),
    "track": ("track_deg",),
    "vrate": ("vrate_m_s",),
}

TRACK_SCHEMA = pa.schema(
    [
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("object_ids", pa.list_(pa.string())),
        pa.field("sources", pa.list_(pa.string())),
        pa.field("time_utc", pa.timestamp("ns", tz="UTC")),
        pa.field("position_time_utc", pa.timestamp("ns", tz="UTC")),
        pa.field("lat_deg", pa.float64()),
        pa.field("lon_deg", pa.float64()),
        pa.field("alt_m", pa.float64()),
        pa.field("alt_ref", pa.string()),
        pa.field("speed_m_s", pa.float64()),
        pa.field("track_deg", pa.float64()),
        pa.field("vrate_m_s", pa.float64()),
        pa.field("n_reports", pa.int64()),
        pa.field("stale", pa.bool_()),
    ]
)
"""Schema of the track tables returned by :meth:`TrackStore.update` and ``snapshot``.

``time_utc`` is the time of the newest report of any kind; ``position_time_utc`` the
time of the newest report with a position (the epoch prediction starts from)."""


@dataclass(frozen=True)
class AssociationRules:
    """Explicit rules that put reports of different ``object_id`` on one track.

    ``aliases``: ``object_id`` -> ``object_id`` naming the same object (followed to the
    end of the chain). ``link_key``: name of an extra column whose value declares the
    ``object_id`` a report belongs with; accepted only within ``gate_m`` metres of that
    track's dead-reckoned position and ``gate_s`` seconds of its last position.
    """

    aliases: Mapping[str, str] = field(default_factory=dict)
    link_key: str | None = None
    gate_m: float = 2_000.0
    gate_s: float = 30.0

    def __post_init__(self) -> None:
        if self.gate_m < 0 or not np.isfinite(self.gate_m):
            raise ConfigError(
                f"must be a finite distance >= 0 m, got {self.gate_m}", option="gate_m"
            )
        if self.gate_s < 0 or not np.isfinite(self.gate_s):
            raise ConfigError(f"must be a finite time >= 0 s, got {self.gate_s}", option="gate_s")
        for start in self.aliases:
            seen = {start}
            cur = start
            while cur in self.aliases:
                cur = self.aliases[cur]
                if cur in seen:
                    raise ConfigError(f"alias cycle through {start!r}", option="aliases")
                seen.add(cur)

    def canonical(self, object_id: str) -> str:
        """The id at the end of ``object_id``'s alias chain (itself if none)."""
        cur = object_id
        while cur in self.aliases:
            cur = self.aliases[cur]
        return cur


_NO_T = int(np.iinfo(np.int64).min)
_HFIELDS = ("time_ns", *_NUM, *_STR)
# Per-track key prefixes: "last" (newest report of any kind) and one per state group; each
# key is (time, source, object_id) compared in that order, as in the module docstring.
_KEYS = ("last", *_GROUPS)
_ROW_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "track_id": (object, None),
    "member1": (object, None),
    "source1": (object, None),
    "n_members": (np.int64, 0),
    "n_sources": (np.int64, 0),
    "n_reports": (np.int64, 0),
    "max_t": (np.int64, _NO_T),
    "n_hist": (np.int64, 0),
    "alt_ref": (object, None),
    **{f: (np.float64, np.nan) for f in _NUM},
    **{f"{p}_t": (np.int64, _NO_T) for p in _KEYS},
    **{f"{p}_src": (object, "") for p in _KEYS},
    **{f"{p}_oid": (object, "") for p in _KEYS},
}
_HIST_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "track": (np.int64, -1),
    "valid": (np.bool_, False),
    "time_ns": (np.int64, 0),
    **{f: (np.float64, np.nan) for f in _NUM},
    **{f: (object, None) for f in _STR},
}


def _alloc(spec: dict[str, tuple[Any, Any]], cap: int) -> dict[str, np.ndarray]:
    return {k: np.full(cap, v, dtype=dt) for k, (dt, v) in spec.items()}


def _grow(
    cols: dict[str, np.ndarray], spec: dict[str, tuple[Any, Any]], used: int, need: int
) -> dict[str, np.ndarray]:
    cap = next(iter(cols.values())).size
    if need <= cap:
        return cols
    out = _alloc(spec, max(need, 2 * cap, 64))
    for k, v in cols.items():
        out[k][:used] = v[:used]
    return out


class TrackStore:
    """Tracks fused from report batches; see the module docstring for the rules.

    ``stale_after_s``: a track with no report for longer than this is stale.
    ``history``: number of newest reports kept per track (sorted by time).
    """

    # Layout (for speed; the semantics are those of the module docstring): one row per
    # track in structure-of-arrays columns ``_c``; a batch is grouped by (track, time)
    # with vectorised sorts and reductions. Reports newer than everything a track has
    # accepted cannot be duplicates of its history, so they are appended to one shared
    # history store ``_h`` (a track's valid rows there are in key order and its retained
    # history is the last ``history`` of them); a track that receives an older or equal
    # time takes the exact merge path against its retained history.

    _compact_slack = 65_536  # history rows tolerated beyond twice the retained ones

    def __init__(
        self,
        stale_after_s: float = 60.0,
        history: int = 1000,
        association: AssociationRules | None = None,
    ) -> None:
        if not stale_after_s > 0:
            raise ConfigError(f"must be > 0 s, got {stale_after_s}", option="stale_after_s")
        if int(history) < 0:
            raise ConfigError(f"must be >= 0, got {history}", option="history")
        self.stale_after_s = float(stale_after_s)
        self.history_len = int(history)
        self.rules = association or AssociationRules()
        self._ids: dict[str, int] = {}  # track id -> row
        self._owner: dict[str, int] = {}  # canonical object id -> track row
        self._n = 0
        self._c = _alloc(_ROW_DEFAULTS, 0)
        self._members: list[set[str]] = []
        self._sources: list[set[str]] = []
        self._members_sorted: list[list[str]] = []
        self._sources_sorted: list[list[str]] = []
        self._rank: npt.NDArray[np.int64] | None = None  # row -> rank of its id (str order)
        self._h = _alloc(_HIST_DEFAULTS, 0)
        self._hn = 0
        self.clock_ns: int | None = None  # newest report time seen
        self.n_duplicates = 0
        self.n_out_of_order = 0
        self.n_reports = 0

    # ------------------------------------------------------------------ update
    def update(self, reports: pa.Table) -> pa.Table:
        """Fold a report batch into the tracks; returns the tracks it changed.

        Rows whose dedup key was already seen are dropped and counted in
        :attr:`n_duplicates`; rows older than their track's newest report are counted in
        :attr:`n_out_of_order` (kept in history, no effect on the state).
        """
        missing = [f for f in CORE_FIELDS if f not in reports.column_names]
        if missing:
            raise FormatError(f"report batch lacks core columns {missing}")
        if reports.num_rows == 0:
            return TRACK_SCHEMA.empty_table()
        cols = _columns(reports)
        link_col = self.rules.link_key
        link = None
        if link_col is not None and link_col in reports.column_names:
            link = _strings(reports.column(link_col).cast(pa.string()))
        codes, uniq = pd.factorize(cols["object_id"])
        codes = codes.astype(np.int64)
        if self.rules.aliases:
            canon = np.array([self.rules.canonical(u) for u in uniq.tolist()], dtype=object)
        else:
            canon = np.asarray(uniq, dtype=object)
        get = self._owner.get
        own = np.fromiter((get(c, -1) for c in canon.tolist()), np.int64, canon.size)
        owned = own >= 0
        # Pass 1: objects already owned, or with no declared link, get their track directly.
        pending = np.zeros(canon.size, bool)
        present = None
        if link is not None:
            present = _present(link)
            has_link = np.bincount(codes, weights=present, minlength=canon.size) > 0
            pending = has_link & ~owned
        changed = self._apply(cols, np.flatnonzero(~pending[codes]), codes, own, owned, canon)
        # Pass 2: declared links, gated against the (now updated) target track.
        if pending.any():
            assert link is not None and present is not None
            for k in np.flatnonzero(pending).tolist():
                rows = np.flatnonzero((codes == k) & present)
                r = int(rows[np.argmin(cols["time_ns"][rows])])
                target = self._owner.get(self.rules.canonical(str(link[r])))
                if target is not None and self._gate(target, cols, r):
                    own[k] = target
            more = self._apply(cols, np.flatnonzero(pending[codes]), codes, own, owned, canon)
            changed = np.concatenate([changed, more[~np.isin(more, changed)]])
        self.n_reports += reports.num_rows
        return self._table(changed)

    def _gate(self, row: int, cols: dict[str, np.ndarray], r: int) -> bool:
        lat, lon = cols["lat_deg"][r], cols["lon_deg"][r]
        if np.isnan(self._c["lat_deg"][row]) or not np.isfinite(lat + lon):
            return False
        dt_s = (cols["time_ns"][r] - self._c["pos_t"][row]) / 1e9
        if abs(dt_s) > self.rules.gate_s:
            return False
        p = _predict_rows(self._c, np.array([row]), np.array([dt_s]))
        d = haversine_m(p[0], p[1], np.array([lat]), np.array([lon]))
        return bool(d[0] <= self.rules.gate_m)

    def _new_rows(self, ids: list[str]) -> npt.NDArray[np.int64]:
        n0, n1 = self._n, self._n + len(ids)
        self._c = _grow(self._c, _ROW_DEFAULTS, n0, n1)
        self._c["track_id"][n0:n1] = ids
        for i, tid in enumerate(ids):
            self._ids[tid] = n0 + i
            self._members.append(set())
            self._sources.append(set())
            self._members_sorted.append([])
            self._sources_sorted.append([])
        self._n = n1
        self._rank = None
        return np.arange(n0, n1, dtype=np.int64)

    def _ranks(self) -> npt.NDArray[np.int64]:
        if self._rank is None:
            order = np.argsort(self._c["track_id"][: self._n], kind="stable")
            rank = np.empty(self._n, np.int64)
            rank[order] = np.arange(self._n)
            self._rank = rank
        return self._rank

    def _apply(
        self,
        cols: dict[str, np.ndarray],
        idx: npt.NDArray[np.int64],
        codes: npt.NDArray[np.int64],
        own: npt.NDArray[np.int64],
        owned: npt.NDArray[np.bool_],
        canon: np.ndarray,
    ) -> npt.NDArray[np.int64]:
        """Fold rows ``idx`` in; returns the changed track rows in track-id order."""
        none = np.empty(0, np.int64)
        if idx.size == 0:
            return none
        tr = own[codes[idx]]
        new = tr < 0
        if new.any():
            nid, ninv = np.unique(canon[codes[idx[new]]], return_inverse=True)
            rows_of = np.array([self._ids.get(s, -1) for s in nid.tolist()], np.int64)
            absent = rows_of < 0
            if absent.any():
                rows_of[absent] = self._new_rows(nid[absent].tolist())
            tr[new] = rows_of[np.ravel(ninv)]
        # Group by track, then time order with deterministic (source, object) tie-break.
        t_all = cols["time_ns"][idx]
        order = np.lexsort((t_all, tr))
        idx, tr, t = idx[order], tr[order], t_all[order]
        src, oid = cols["source"][idx], cols["object_id"][idx]
        m = idx.size
        dup = np.zeros(m, bool)
        tie = (tr[1:] == tr[:-1]) & (t[1:] == t[:-1])
        if tie.any():
            starts = np.flatnonzero(np.r_[True, ~tie])
            ends = np.r_[starts[1:], m]
            multi = np.flatnonzero(ends - starts > 1)
            for s, e in zip(starts[multi].tolist(), ends[multi].tolist(), strict=True):
                key = list(zip(src[s:e].tolist(), oid[s:e].tolist(), strict=True))
                perm = s + np.array(sorted(range(e - s), key=key.__getitem__), np.int64)
                idx[s:e], src[s:e], oid[s:e] = idx[perm], src[perm], oid[perm]
                dup[s + 1 : e] = (src[s + 1 : e] == src[s : e - 1]) & (
                    oid[s + 1 : e] == oid[s : e - 1]
                )
        c = self._c
        late = t <= c["max_t"][tr]
        acc = ~dup
        slow_kept: dict[int, dict[str, np.ndarray]] = {}
        if late.any():
            slow = np.unique(tr[late])
            in_slow = np.isin(tr, slow)
            self.n_duplicates += int(np.count_nonzero(dup & ~in_slow))
            slow_kept = self._merge_slow(slow, tr, idx, cols, acc)
            fast_acc = acc & ~in_slow
        else:
            self.n_duplicates += int(np.count_nonzero(dup))
            fast_acc = acc
        if self.history_len > 0:
            self._store(cols, tr, idx, fast_acc, slow_kept)
        a = np.flatnonzero(acc)
        if a.size == 0:
            return none
        a_tr, a_t, a_idx, a_src, a_oid = tr[a], t[a], idx[a], src[a], oid[a]
        starts = np.flatnonzero(np.r_[True, a_tr[1:] != a_tr[:-1]])
        last = np.r_[starts[1:], a.size] - 1
        rows = a_tr[starts]
        # Owners: objects not owned before this batch now belong to their track.
        ks = codes[a_idx]
        need = ~owned[ks]
        if need.any():
            # In track-id order: when two objects with one canonical id land on different
            # tracks, the later track keeps it.
            rank = self._ranks()
            pairs = set(zip(ks[need].tolist(), a_tr[need].tolist(), strict=True))
            for k, r in sorted(pairs, key=lambda kr: rank[kr[1]]):
                self._owner[str(canon[k])] = r
        self._add_names(a_tr, a_oid, "member1", "n_members", self._members, self._members_sorted)
        self._add_names(a_tr, a_src, "source1", "n_sources", self._sources, self._sources_sorted)
        n_acc = last - starts + 1
        c["n_reports"][rows] += n_acc
        c["max_t"][rows] = np.maximum(c["max_t"][rows], a_t[last])
        self.n_out_of_order += int(np.count_nonzero(a_t < c["last_t"][a_tr]))
        self._set_newer("last", rows, last, a_t, a_src, a_oid)
        t_max = int(a_t[last].max())
        if self.clock_ns is None or t_max > self.clock_ns:
            self.clock_ns = t_max
        pos = np.arange(a.size)
        for g, fields in _GROUPS.items():
            ok = np.ones(a.size, bool)
            for f in fields:
                if f in _NUM:
                    ok &= np.isfinite(cols[f][a_idx])
            if g == "alt":
                ok &= _present(cols["alt_ref"][a_idx])
            hit = np.maximum.reduceat(np.where(ok, pos, -1), starts)
            has = hit >= starts
            r_g, h_g = rows[has], hit[has]
            newer = self._set_newer(g, r_g, h_g, a_t, a_src, a_oid)
            for f in fields:
                c[f][r_g[newer]] = cols[f][a_idx[h_g[newer]]]
        return rows[np.argsort(self._ranks()[rows], kind="stable")]

    def _set_newer(
        self,
        prefix: str,
        rows: npt.NDArray[np.int64],
        at: npt.NDArray[np.int64],
        t: npt.NDArray[np.int64],
        src: np.ndarray,
        oid: np.ndarray,
    ) -> npt.NDArray[np.bool_]:
        """Replace key ``prefix`` of ``rows`` by the report keys at ``at`` where newer."""
        c = self._c
        ct, cs, co = c[f"{prefix}_t"], c[f"{prefix}_src"], c[f"{prefix}_oid"]
        old_t, new_t = ct[rows], t[at]
        newer = new_t > old_t
        for j in np.flatnonzero(new_t == old_t).tolist():
            r, i = rows[j], at[j]
            newer[j] = (src[i], oid[i]) > (cs[r], co[r])
        r, i = rows[newer], at[newer]
        ct[r], cs[r], co[r] = t[i], src[i], oid[i]
        return newer

    def _add_names(
        self,
        tr: npt.NDArray[np.int64],
        names: np.ndarray,
        first: str,
        count: str,
        sets: list[set[str]],
        sorted_lists: list[list[str]],
    ) -> None:
        c = self._c
        # Nearly every report repeats a name its track already has (compared elementwise).
        miss = np.flatnonzero(names != c[first][tr])
        dirty: set[int] = set()
        for r, name in zip(tr[miss].tolist(), names[miss].tolist(), strict=True):
            s = sets[r]
            if name not in s:
                s.add(name)
                dirty.add(r)
                if c[first][r] is None:
                    c[first][r] = name
        for r in dirty:
            sorted_lists[r] = sorted(sets[r])
            c[count][r] = len(sets[r])

    def _merge_slow(
        self,
        slow: npt.NDArray[np.int64],
        tr: npt.NDArray[np.int64],
        idx: npt.NDArray[np.int64],
        cols: dict[str, np.ndarray],
        acc: npt.NDArray[np.bool_],
    ) -> dict[int, dict[str, np.ndarray]]:
        """Exact merge for tracks with reports not newer than all they hold; sets ``acc``."""
        h, hn, k_hist = self._h, self._hn, self.history_len
        hp = np.flatnonzero(h["valid"][:hn] & np.isin(h["track"][:hn], slow))
        htr = h["track"][hp]
        o = np.argsort(htr, kind="stable")
        hp, htr = hp[o], htr[o]
        out: dict[int, dict[str, np.ndarray]] = {}
        for s in slow.tolist():
            a, b = np.searchsorted(tr, s, "left"), np.searchsorted(tr, s, "right")
            ha, hb = np.searchsorted(htr, s, "left"), np.searchsorted(htr, s, "right")
            mine = hp[ha:hb]
            h["valid"][mine] = False
            kept = mine[max(mine.size - k_hist, 0) :]
            old = {f: h[f][kept] for f in _HFIELDS}
            new = {f: cols[f][idx[a:b]] for f in _HFIELDS}
            accepted, out[s] = _merge_history(old, new, k_hist)
            acc[a:b] = accepted
            self.n_duplicates += int(accepted.size - np.count_nonzero(accepted))
        return out

    def _store(
        self,
        cols: dict[str, np.ndarray],
        tr: npt.NDArray[np.int64],
        idx: npt.NDArray[np.int64],
        fast_acc: npt.NDArray[np.bool_],
        slow_kept: dict[int, dict[str, np.ndarray]],
    ) -> None:
        c, k_hist = self._c, self.history_len
        f_pos = np.flatnonzero(fast_acc)
        f_tr = tr[f_pos]  # sorted
        if f_tr.size:
            seg = np.flatnonzero(np.r_[True, f_tr[1:] != f_tr[:-1]])
            c["n_hist"][f_tr[seg]] += np.diff(np.r_[seg, f_tr.size])
        parts_tr = [f_tr]
        parts = [{f: cols[f][idx[f_pos]] for f in _HFIELDS}]
        for s, kept in slow_kept.items():
            n_s = kept["time_ns"].size
            c["n_hist"][s] = n_s
            parts_tr.append(np.full(n_s, s, np.int64))
            parts.append(kept)
        add_tr = np.concatenate(parts_tr)
        n0, n1 = self._hn, self._hn + add_tr.size
        self._h = _grow(self._h, _HIST_DEFAULTS, n0, n1)
        h = self._h
        h["track"][n0:n1] = add_tr
        h["valid"][n0:n1] = True
        for f in _HFIELDS:
            h[f][n0:n1] = np.concatenate([p[f] for p in parts])
        self._hn = n1
        live = int(np.minimum(c["n_hist"][: self._n], k_hist).sum())
        if self._hn > 2 * live + self._compact_slack:
            self._compact_history()

    def _compact_history(self) -> None:
        """Drop history rows that are invalid or beyond the newest ``history`` per track."""
        h, k_hist = self._h, self.history_len
        v = np.flatnonzero(h["valid"][: self._hn])
        o = np.argsort(h["track"][v], kind="stable")
        grp = h["track"][v][o]
        n_per = np.bincount(grp, minlength=self._n)
        end = np.cumsum(n_per)[grp]
        keep = np.sort(v[o[end - 1 - np.arange(grp.size) < k_hist]])
        self._h = _alloc(_HIST_DEFAULTS, max(2 * keep.size, 64))
        for f, col in h.items():
            self._h[f][: keep.size] = col[keep]
        self._hn = keep.size
        self._c["n_hist"][: self._n] = np.minimum(self._c["n_hist"][: self._n], k_hist)

    # ----------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._ids

    def track_of(self, object_id: str) -> str | None:
        """Track id currently holding ``object_id`` (after aliases), or ``None``."""
        row = self._owner.get(self.rules.canonical(object_id))
        return None if row is None else str(self._c["track_id"][row])

    def snapshot(self) -> pa.Table:
        """Every track, in :data:`TRACK_SCHEMA`."""
        return self._table(np.arange(self._n, dtype=np.int64))

    def history(self, track_id: str) -> pa.Table:
        """The retained reports of a track, sorted by time, in the core report schema."""
        row = self._ids[track_id]
        h, hn = self._h, self._hn
        pos = np.flatnonzero(h["valid"][:hn] & (h["track"][:hn] == row))
        pos = pos[max(pos.size - self.history_len, 0) :]
        arrays = [
            pa.array(h["object_id"][pos], pa.string()),
            pa.array(h["source"][pos], pa.string()),
            pa.array(h["time_ns"][pos], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        ]
        for f in CORE_FIELDS[3:]:
            if f == "alt_ref":
                arrays.append(pa.array(h[f][pos], pa.string()))
            else:
                arrays.append(pa.array(h[f][pos], pa.float64(), from_pandas=True))
        return pa.Table.from_arrays(arrays, schema=CORE_SCHEMA)

    def stale(self, now_utc: Any) -> npt.NDArray[np.str_]:
        """Track ids with no report for more than ``stale_after_s`` before ``now_utc``."""
        now = int(as_utc(now_utc).astype(np.int64))
        limit = now - int(self.stale_after_s * 1e9)
        old = self._c["last_t"][: self._n] < limit
        return np.array(sorted(self._c["track_id"][: self._n][old].tolist()), dtype=str)

    def expire(self, now_utc: Any) -> npt.NDArray[np.str_]:
        """Remove the stale tracks (and release their object ids); returns their ids."""
        gone = self.stale(now_utc)
        if gone.size == 0:
            return gone
        keep = np.ones(self._n, bool)
        keep[[self._ids[t] for t in gone.tolist()]] = False
        remap = np.cumsum(keep) - 1
        kept_rows = np.flatnonzero(keep)
        n_new = kept_rows.size
        for k, col in self._c.items():
            col[:n_new] = col[kept_rows]
            col[n_new : self._n] = _ROW_DEFAULTS[k][1]
        kr = kept_rows.tolist()
        self._members = [self._members[r] for r in kr]
        self._sources = [self._sources[r] for r in kr]
        self._members_sorted = [self._members_sorted[r] for r in kr]
        self._sources_sorted = [self._sources_sorted[r] for r in kr]
        self._owner = {o: int(remap[r]) for o, r in self._owner.items() if keep[r]}
        self._ids = {str(self._c["track_id"][r]): r for r in range(n_new)}
        h, hn = self._h, self._hn
        valid = h["valid"][:hn] & keep[np.maximum(h["track"][:hn], 0)]
        h["valid"][:hn] = valid
        h["track"][:hn] = np.where(valid, remap[np.maximum(h["track"][:hn], 0)], -1)
        self._n = n_new
        self._rank = None
        return gone

    def predict(self, when: Any) -> pa.Table:
        """Dead-reckoned position of every track.

        ``when``: an absolute UTC time (``datetime64``/``datetime``/ISO string; each track
        is propagated from its own ``position_time_utc``) or a horizon in seconds
        (float or ``timedelta64``) after each track's position time. See
        :func:`dead_reckon`. Tracks with no position, speed or track give NaN.
        """
        n = self._n
        rows = np.arange(n)
        pos_t = self._c["pos_t"][:n].copy()
        if isinstance(when, np.timedelta64):
            dt_s = np.full(n, when / np.timedelta64(1, "s"))
            t_out = pos_t + np.int64(dt_s[0] * 1e9) if n else pos_t
        elif isinstance(when, int | float | np.floating | np.integer):
            dt_s = np.full(n, float(when))
            t_out = pos_t + np.int64(round(float(when) * 1e9))
        else:
            now = np.int64(as_utc(when).astype(np.int64))
            dt_s = (now - pos_t) / 1e9
            t_out = np.full(n, now)
        c = self._c
        lat, lon, _ = dead_reckon(
            c["lat_deg"][rows],
            c["lon_deg"][rows],
            np.zeros(n),
            c["speed_m_s"][rows],
            c["track_deg"][rows],
            np.zeros(n),
            dt_s,
        )
        alt = c["alt_m"][rows] + np.nan_to_num(c["vrate_m_s"][rows], nan=0.0) * dt_s
        no_pos = pos_t == _NO_T
        t_arr = pa.array(t_out, pa.int64(), mask=no_pos).cast(pa.timestamp("ns", tz="UTC"))
        return pa.table(
            {
                "track_id": pa.array(c["track_id"][rows], pa.string()),
                "time_utc": t_arr,
                "lat_deg": pa.array(lat, pa.float64(), from_pandas=True),
                "lon_deg": pa.array(lon, pa.float64(), from_pandas=True),
                "alt_m": pa.array(alt, pa.float64(), from_pandas=True),
            }
        )

    def _table(self, rows: npt.NDArray[np.int64]) -> pa.Table:
        c = self._c
        clock = self.clock_ns if self.clock_ns is not None else 0
        limit = clock - int(self.stale_after_s * 1e9)

        def num(f: str) -> pa.Array:
            return pa.array(c[f][rows], pa.float64(), from_pandas=True)

        def ts(vals: npt.NDArray[np.int64]) -> pa.Array:
            return pa.array(vals, pa.int64(), mask=vals == _NO_T).cast(pa.timestamp("ns", tz="UTC"))

        def names(first: str, count: str, sorted_lists: list[list[str]]) -> pa.Array:
            n = c[count][rows]
            if np.all(n == 1):
                values = pa.array(c[first][rows], pa.string())
            else:
                flat = list(chain.from_iterable(sorted_lists[r] for r in rows.tolist()))
                values = pa.array(flat, pa.string())
            offsets = np.zeros(rows.size + 1, np.int32)
            np.cumsum(n, out=offsets[1:])
            return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)

        last_t = c["last_t"][rows]
        return pa.Table.from_arrays(
            [
                pa.array(c["track_id"][rows], pa.string()),
                names("member1", "n_members", self._members_sorted),
                names("source1", "n_sources", self._sources_sorted),
                ts(last_t),
                ts(c["pos_t"][rows]),
                num("lat_deg"),
                num("lon_deg"),
                num("alt_m"),
                pa.array(c["alt_ref"][rows], pa.string()),
                num("speed_m_s"),
                num("track_deg"),
                num("vrate_m_s"),
                pa.array(c["n_reports"][rows], pa.int64()),
                pa.array(last_t < limit, pa.bool_()),
            ],
            schema=TRACK_SCHEMA,
        )


def _merge_history(
    old: dict[str, np.ndarray], new: dict[str, np.ndarray], k_hist: int
) -> tuple[npt.NDArray[np.bool_], dict[str, np.ndarray]]:
    """Merge ``new`` rows into the sorted ``old`` history; (non-duplicate mask, kept rows)."""
    n_old = old["time_ns"].size
    allh = {f: np.concatenate([old[f], new[f]]) for f in old}
    _, s_rank = np.unique(allh["source"], return_inverse=True)
    _, o_rank = np.unique(allh["object_id"], return_inverse=True)
    # Stable sort keeps the earlier arrival first among equal keys; old rows come first.
    order = np.lexsort((np.ravel(o_rank), np.ravel(s_rank), allh["time_ns"]))
    t, s, o = allh["time_ns"][order], np.ravel(s_rank)[order], np.ravel(o_rank)[order]
    dup_sorted = np.zeros(order.size, bool)
    dup_sorted[1:] = (t[1:] == t[:-1]) & (s[1:] == s[:-1]) & (o[1:] == o[:-1])
    dup = np.zeros(order.size, bool)
    dup[order] = dup_sorted
    keep = order[~dup_sorted]
    if k_hist < keep.size:
        keep = keep[keep.size - k_hist :]
    return ~dup[n_old:], {f: v[keep] for f, v in allh.items()}


def _present(values: np.ndarray) -> npt.NDArray[np.bool_]:
    """Non-null mask of an object array."""
    return np.array([v is not None for v in values.tolist()], dtype=bool)


def _strings(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Object array of ``str`` (``None`` for null) from an Arrow string column."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _columns(reports: pa.Table) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    t = reports.column("time_utc")
    if t.null_count:
        raise FormatError(f"time_utc has {t.null_count} null values")
    if not pa.types.is_timestamp(t.type):
        raise FormatError(f"time_utc must be a timestamp column, got {t.type}")
    out["time_ns"] = pc.cast(t.cast(pa.timestamp("ns", tz="UTC")), pa.int64()).to_numpy()
    for f in _NUM:
        c = reports.column(f).cast(pa.float64())
        out[f] = c.to_numpy(zero_copy_only=False).astype(np.float64)
    for f in _STR:
        c = reports.column(f)
        if f != "alt_ref" and c.null_count:
            raise FormatError(f"{f} has {c.null_count} null values")
        out[f] = _strings(c)
    return out


def _predict_rows(
    c: dict[str, np.ndarray], rows: npt.NDArray[np.int64], dt_s: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Dead-reckon track ``rows`` by ``dt_s`` (missing altitude/vertical rate read as 0)."""
    return dead_reckon(
        c["lat_deg"][rows],
        c["lon_deg"][rows],
        np.nan_to_num(c["alt_m"][rows], nan=0.0),
        c["speed_m_s"][rows],
        c["track_deg"][rows],
        np.nan_to_num(c["vrate_m_s"][rows], nan=0.0),
        dt_s,
    )


def dead_reckon(
    lat_deg: npt.ArrayLike,
    lon_deg: npt.ArrayLike,
    alt_m: npt.ArrayLike,
    speed_m_s: npt.ArrayLike,
    track_deg: npt.ArrayLike,
    vrate_m_s: npt.ArrayLike,
    dt_s: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Constant-velocity prediction along a great circle; returns (lat_deg, lon_deg, alt_m).

    Horizontal: distance ``speed_m_s * dt_s`` along the great circle leaving at
    ``track_deg`` (true) on a local sphere fitted to WGS84 at the start (see the
    comment in the body); agrees with the WGS84 geodesic (pyproj.Geod) to 3 cm at 10 km
    and 3 m at 100 km (error grows with distance squared). The ground distance ignores ``alt_m`` (ADS-B,
    AIS and Remote ID speeds are over ground). Vertical: ``alt_m + vrate_m_s * dt_s``. Arrays broadcast; negative ``dt_s`` runs back.
    """
    lat = np.radians(np.asarray(lat_deg, np.float64))
    lon = np.radians(np.asarray(lon_deg, np.float64))
    az = np.radians(np.asarray(track_deg, np.float64))
    dt = np.asarray(dt_s, np.float64)
    dist = np.asarray(speed_m_s, np.float64) * dt
    e2 = WGS84.e2
    n_m = WGS84.a_m / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    d = dist / n_m
    # Great circle on the sphere of radius N (prime vertical), whose latitude steps are
    # then rescaled by N/M (meridian radius, taken at mid-path) so north and east
    # displacements both match the ellipsoid to first order.
    sin_lat2 = np.sin(lat) * np.cos(d) + np.cos(lat) * np.sin(d) * np.cos(az)
    lat_s = np.arcsin(np.clip(sin_lat2, -1.0, 1.0))
    dlon = np.arctan2(np.sin(az) * np.sin(d) * np.cos(lat), np.cos(d) - np.sin(lat) * sin_lat2)
    lat_mid = lat + 0.5 * (lat_s - lat) * _n_over_m(lat)
    lat2 = lat + (lat_s - lat) * _n_over_m(lat_mid)
    lon2 = (lon + dlon + np.pi) % (2.0 * np.pi) - np.pi
    alt2 = np.asarray(alt_m, np.float64) + np.asarray(vrate_m_s, np.float64) * dt
    return np.degrees(lat2), np.degrees(lon2), alt2


def _n_over_m(lat_rad: FloatArray) -> FloatArray:
    """Prime-vertical over meridian radius of curvature of WGS84 at ``lat_rad``."""
    return (1.0 - WGS84.e2 * np.sin(lat_rad) ** 2) / (1.0 - WGS84.e2)


def haversine_m(
    lat1_deg: npt.ArrayLike,
    lon1_deg: npt.ArrayLike,
    lat2_deg: npt.ArrayLike,
    lon2_deg: npt.ArrayLike,
) -> FloatArray:
    """Great-circle distance in metres on the mean sphere (R = 6371008.8 m), for gating."""
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dl = np.radians(np.asarray(lon2_deg, np.float64) - np.asarray(lon1_deg, np.float64))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
