"""Real recorded ADS-B and AIS, replayed where they were recorded with times shifted to now.

The recordings ship in ``data/`` (provenance and licences in ``data/SOURCES.md``):

- ADS-B state vectors (OpenSky-derived samples of the MIT ``traffic`` package): two Rega
  rescue helicopters over Zurich and St. Gallen, an airliner landing at Zurich, a SAMU
  helicopter over Toulouse. Columns are converted to normalised reports (feet -> m
  ``baro``, knots -> m/s, ft/min -> m/s) and go to ``Service.ingest_reports``;
- a raw Beast capture of a dump1090 receiver (Toulouse area), cut at record boundaries
  into one chunk per second of its 12 MHz receiver clock and fed to
  ``Service.ingest_raw("beast", ...)`` when due (so no frame is stamped in the future);
- raw AIS NMEA sentences (pyais sample, Greek waters), fed line by line to
  ``Service.ingest_raw("ais", ...)`` with the receive time of their replay second.

Each recording keeps its own relative timing: its first report lands at the replay start
and the others follow at their recorded offsets. The AIS file carries no dates; its
pacing is estimated from the UTC-second field of the position reports (a straight-line
fit of second-of-minute, unwrapped, against line number: about 0.29 s per line). A
recording that ends starts again after ``gap_s`` (a lap), with times shifted by the
lap; positions are never moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from kongtian.model.report import object_id, report_table

DATA_DIR = Path(__file__).resolve().parent / "data"
FT_M = 0.3048
KT_M_S = 1852.0 / 3600.0
FPM_M_S = FT_M / 60.0

#: ADS-B state-vector recordings (pandas JSON, gzip) shipped in ``data/adsb``.
ADSB_STATE_FILES = (
    "traffic_ambulances_rega_zh.json.gz",
    "traffic_ambulances_rega_sg.json.gz",
    "traffic_noisy_noisy_landing.json.gz",
    "traffic_ambulances_samu31.json.gz",
)
BEAST_FILE = "traffic_sample_dump1090_beast.bin"
#: Reference position (lat, lon) for local CPR decoding of the Beast capture, whose
#: receiver position is not recorded: Toulouse-Blagnac (LFBO); the capture's positions lie
#: within 15 km of it, well inside the 180 NM where local decoding is unambiguous.
BEAST_REF = (43.6293, 1.3638)
AIS_FILE = "pyais_nmea_data_sample.txt"


@dataclass(frozen=True)
class Batch:
    """One thing to ingest: a report table, or raw payloads of one format."""

    reports: pa.Table | None = None
    fmt: str | None = None
    payloads: tuple[bytes, ...] = ()
    received_utc: datetime | None = None
    recording: str = ""
    ref: tuple[float, float] | None = None


@dataclass(frozen=True)
class Recording:
    """A recording: reports (with ``rel_ns`` offsets) or raw items (``rel_s``, payload)."""

    name: str
    duration_s: float
    reports: pa.Table | None = None  # normalised reports; time_utc holds the offset
    fmt: str | None = None
    raw_rel_s: npt.NDArray[np.float64] | None = None
    raw: tuple[bytes, ...] = ()
    ref: tuple[float, float] | None = None  # receiver (lat, lon) for ADS-B CPR decoding


def adsb_states(path: Path) -> pa.Table:
    """Normalised reports (``source = "adsb"``, ``alt_ref = "baro"``) from a ``traffic``
    state-vector file; ``time_utc`` as recorded. Extras: ``callsign``, ``squawk``,
    ``recorded`` (``True``) and ``recording`` (the file name)."""
    import pandas as pd

    df = pd.read_json(path)
    df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    n = len(df)

    def col(name: str, scale: float = 1.0) -> npt.NDArray[np.float64]:
        if name not in df:
            return np.full(n, np.nan)
        return np.asarray(pd.to_numeric(df[name], errors="coerce"), dtype=np.float64) * scale

    t = pd.to_datetime(df["timestamp"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    squawk = [None if pd.isna(s) else str(int(s)).zfill(4) for s in df.get("squawk", [None] * n)]
    callsign = [None if pd.isna(c) else str(c).strip() for c in df.get("callsign", [None] * n)]
    return report_table(
        {
            "object_id": [object_id("icao24", x) for x in df["icao24"]],
            "source": ["adsb"] * n,
            "time_utc": t,
            "lat_deg": col("latitude"),
            "lon_deg": col("longitude"),
            "alt_m": col("altitude", FT_M),
            "alt_ref": ["baro"] * n,
            "speed_m_s": col("groundspeed", KT_M_S),
            "track_deg": np.mod(col("track"), 360.0),
            "vrate_m_s": col("vertical_rate", FPM_M_S),
        },
        {
            "callsign": pa.array(callsign, pa.string()),
            "squawk": pa.array(squawk, pa.string()),
            "recorded": pa.array(np.ones(n, dtype=bool)),
            "recording": pa.array([path.name] * n, pa.string()),
        },
    )


def ais_line_offsets(lines: list[bytes]) -> npt.NDArray[np.float64]:
    """Relative time (s) of each NMEA line, from the UTC-second field of its position.

    The sentences carry no date. Every position report has the second of the minute of
    its fix; unwrapping those seconds along the file and fitting a straight line against
    the line number gives the receive rate. Returns ``slope * line_index`` (>= 0).
    """
    from kongtian.traffic.decode.ais import read_nmea

    table, _ = read_nmea(b"\n".join(lines).decode("ascii", "replace"),
                         ref_time_utc=np.datetime64("2000-01-01T00:00:00"))  # fmt: skip
    sec = np.asarray(table.column("second").to_numpy(zero_copy_only=False), dtype=np.float64)
    line = np.asarray(table.column("line").to_numpy(zero_copy_only=False), dtype=np.float64)
    ok = np.isfinite(sec) & (sec < 60)
    sec, line = sec[ok], line[ok]
    if len(sec) < 10:
        return np.arange(len(lines), dtype=np.float64)  # no pacing information: 1 line/s
    unwrapped = np.empty_like(sec)
    ref = sec[0]
    for i, s in enumerate(sec):  # nearest 60 s wrap to the running reference
        c = s + 60.0 * np.round((ref - s) / 60.0)
        unwrapped[i] = c
        if abs(c - ref) < 20.0:
            ref = max(ref, c)
    slope = float(np.polyfit(line, unwrapped, 1)[0])
    if not 0.01 <= slope <= 60.0:
        slope = 1.0
    return np.arange(len(lines), dtype=np.float64) * slope


BEAST_CLOCK_HZ = 12e6
_BEAST_BODY = {0x31: 2, 0x32: 7, 0x33: 14, 0x34: 14}  # type byte -> payload bytes


def beast_chunks(data: bytes) -> tuple[list[bytes], npt.NDArray[np.float64]]:
    """Cut a Beast stream at record boundaries into one chunk per second of its 12 MHz
    receiver counter; returns the chunks (original bytes, escapes kept) and each chunk's
    start time in seconds after the first record. Bytes that break the framing stay
    attached to the chunk they follow (the decoder counts them)."""
    starts: list[int] = []
    counters: list[int] = []
    i, n = data.find(0x1A), len(data)
    while 0 <= i < n - 1:
        size = _BEAST_BODY.get(data[i + 1])
        if size is None:
            i = data.find(0x1A, i + 1)
            continue
        body = bytearray()
        j = i + 2
        while len(body) < 7 + size and j < n:
            if data[j] == 0x1A:
                if j + 1 < n and data[j + 1] == 0x1A:
                    j += 1
                else:
                    break
            body.append(data[j])
            j += 1
        if len(body) == 7 + size:
            starts.append(i)
            counters.append(int.from_bytes(body[:6], "big"))
        i = j if j < n and data[j] == 0x1A else data.find(0x1A, j)
    if not starts:
        return [data], np.zeros(1)
    rel = (np.asarray(counters, dtype=np.float64) - counters[0]) / BEAST_CLOCK_HZ
    sec = np.floor(np.maximum(rel, 0.0))
    cuts = [0] + [k for k in range(1, len(starts)) if sec[k] != sec[k - 1]]
    bounds = [starts[k] for k in cuts] + [n]
    bounds[0] = 0
    chunks = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return chunks, sec[cuts]


def load_recordings(data_dir: Path = DATA_DIR) -> list[Recording]:
    """The shipped recordings, ready to replay."""
    out: list[Recording] = []
    for name in ADSB_STATE_FILES:
        t = adsb_states(data_dir / "adsb" / name)
        ns = t.column("time_utc").cast(pa.int64()).to_numpy()
        rel = ns - ns.min()
        t = t.set_column(2, "time_utc", pa.array(rel, pa.int64()))
        out.append(Recording(name, float(rel.max()) / 1e9, reports=t))
    chunks, rel = beast_chunks((data_dir / "adsb" / BEAST_FILE).read_bytes())
    out.append(Recording(BEAST_FILE, float(rel[-1]) + 1.0, fmt="beast", raw_rel_s=rel,
                         raw=tuple(chunks), ref=BEAST_REF))  # fmt: skip
    lines = [ln for ln in (data_dir / "ais" / AIS_FILE).read_bytes().splitlines() if ln.strip()]
    rel_s = ais_line_offsets(lines)
    out.append(Recording(AIS_FILE, float(rel_s[-1]) + 1.0, fmt="ais", raw_rel_s=rel_s,
                         raw=tuple(lines)))  # fmt: skip
    return out


class Replayer:
    """Replays recordings in laps from ``start_utc`` (the demo clock's zero).

    :meth:`due` returns what falls in ``[t0_s, t1_s)`` of demo time (seconds since
    ``start_utc``): report tables with ``time_utc = start + lap offset + recorded
    offset``, and raw payload groups, one per replay second, stamped with that second.
    """

    def __init__(
        self, recordings: list[Recording], start_utc: datetime, *, gap_s: float = 30.0
    ) -> None:
        self.recordings = recordings
        self.start_ns = int(start_utc.timestamp() * 1e9)
        self.gap_s = float(gap_s)

    def period_s(self, rec: Recording) -> float:
        """Lap length of ``rec``: its duration plus the gap (s)."""
        return rec.duration_s + self.gap_s

    def due(self, t0_s: float, t1_s: float) -> list[Batch]:
        out: list[Batch] = []
        for rec in self.recordings:
            out += list(self._due_one(rec, t0_s, t1_s))
        return out

    def _due_one(self, rec: Recording, t0_s: float, t1_s: float) -> Iterator[Batch]:
        period = self.period_s(rec)
        for lap in range(int(np.floor(t0_s / period)), int(np.floor(t1_s / period)) + 1):
            a, b = t0_s - lap * period, t1_s - lap * period
            lap_ns = self.start_ns + int(round(lap * period * 1e9))
            if rec.reports is not None:
                rel = rec.reports.column("time_utc").to_numpy()
                sel = (rel >= int(a * 1e9)) & (rel < int(b * 1e9))
                if sel.any():
                    t = rec.reports.filter(pa.array(sel))
                    abs_ns = t.column("time_utc").to_numpy() + lap_ns
                    t = t.set_column(2, "time_utc", pa.array(abs_ns, pa.int64()).cast(
                        pa.timestamp("ns", tz="UTC")))  # fmt: skip
                    yield Batch(reports=t, recording=rec.name)
            elif rec.raw_rel_s is not None:
                rel_s = rec.raw_rel_s
                idx = np.flatnonzero((rel_s >= a) & (rel_s < b))
                if not len(idx):
                    continue
                sec = np.floor(rel_s[idx])
                for s in np.unique(sec):
                    group = idx[sec == s]
                    when = _utc(lap_ns + int(s * 1e9))
                    yield Batch(fmt=rec.fmt, payloads=tuple(rec.raw[i] for i in group),
                                received_utc=when, recording=rec.name, ref=rec.ref)  # fmt: skip


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def summary(recordings: list[Recording]) -> list[dict[str, Any]]:
    """Per recording: name, duration (s), number of reports or payloads."""
    return [
        {
            "recording": r.name,
            "duration_s": round(r.duration_s, 1),
            "items": r.reports.num_rows if r.reports is not None else len(r.raw),
        }
        for r in recordings
    ]
