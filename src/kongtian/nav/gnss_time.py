"""GNSS system times as ``datetime64[ns]`` clock readings: GPST, GST, BDT (and UTC).

:mod:`kongtian.geo.time` converts *from UTC*; navigation messages instead carry times
in their own system scale and need conversions between system scales, and
week / second-of-week arithmetic:

- GPST and GST are the same clock (Galileo steers GST to GPST; the residual offset,
  a few ns, is the ``GAGP`` broadcast term, which is the receiver clock's business).
  GST week 0 starts at GPS week 1024; RINEX 3/4 writes Galileo weeks as GPS weeks.
- BDT = GPST - 14 s exactly (both are leap-second free; BDT started 2006-01-01 00:00:00
  UTC when TAI - UTC was 33 s). BDT week 0 = GPS week 1356.
- GLONASS time is UTC(SU) + 3 h; RINEX writes GLONASS epochs in UTC, so UTC is the
  only GLONASS-related scale handled here.

All functions are vectorised and exact to the nanosecond (integer arithmetic on
``datetime64[ns]``); seconds of week come back as float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError
from kongtian.geo.time import (
    BDS_EPOCH,
    BDS_WEEK_OFFSET,
    GPS_EPOCH,
    GST_EPOCH,
    WEEK_S,
    scale_to_utc,
    utc_to_scale,
)

DT64 = npt.NDArray[np.datetime64]
HALF_WEEK_S = WEEK_S / 2.0
BDT_OFFSET = np.timedelta64(14, "s").astype("timedelta64[ns]")  # GPST - BDT
GST_WEEK_OFFSET = 1024  # GST week 0 == GPS week 1024
_WEEK_NS = np.int64(604_800) * np.int64(1_000_000_000)
_EPOCHS = {"GPST": GPS_EPOCH, "GST": GST_EPOCH, "BDT": BDS_EPOCH}
GPS_EPOCH_2000 = np.datetime64("2000-01-01T00:00:00", "ns")  # a harmless placeholder time

# System letter -> time scale of its navigation message epochs (toc) in RINEX.
SYSTEM_SCALE: dict[str, str] = {
    "G": "GPST",
    "J": "GPST",  # QZSST is aligned to GPST
    "I": "GPST",  # IRNSS system time is aligned to GPST weeks/seconds in RINEX
    "S": "GPST",
    "E": "GST",
    "C": "BDT",
    "R": "UTC",
}


def _dt64(t: Any) -> DT64:
    return np.asarray(t).astype("datetime64[ns]")


def gpst_to_bdt(t_gpst: Any) -> DT64:
    """BeiDou time reading at GPST instants (BDT = GPST - 14 s)."""
    return _dt64(t_gpst) - BDT_OFFSET


def bdt_to_gpst(t_bdt: Any) -> DT64:
    """GPST reading at BDT instants (GPST = BDT + 14 s)."""
    return _dt64(t_bdt) + BDT_OFFSET


def to_gpst(t: Any, scale: str) -> DT64:
    """Convert clock readings in ``scale`` (GPST, GST, BDT, UTC, TAI) to GPST."""
    scale = scale.upper()
    if scale in ("GPST", "GST"):
        return _dt64(t)
    if scale == "BDT":
        return bdt_to_gpst(t)
    if scale in ("UTC", "TAI"):
        utc = _dt64(t) if scale == "UTC" else scale_to_utc(_dt64(t), "TAI")
        return utc_to_scale(utc, "GPST")
    raise ConfigError(f"unknown time scale {scale!r}", option="scale")


def from_gpst(t_gpst: Any, scale: str) -> DT64:
    """Inverse of :func:`to_gpst`."""
    scale = scale.upper()
    if scale in ("GPST", "GST"):
        return _dt64(t_gpst)
    if scale == "BDT":
        return gpst_to_bdt(t_gpst)
    if scale in ("UTC", "TAI"):
        utc = scale_to_utc(_dt64(t_gpst), "GPST")
        return utc if scale == "UTC" else utc_to_scale(utc, "TAI")
    raise ConfigError(f"unknown time scale {scale!r}", option="scale")


def week_sow(t: Any, scale: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(week, seconds of week) of clock readings already expressed in ``scale``.

    ``scale`` is GPST, GST or BDT; weeks count from that scale's own epoch (GST weeks
    are GPS week - 1024, BDT weeks GPS week - 1356).
    """
    epoch = _EPOCHS.get(scale.upper())
    if epoch is None:
        raise ConfigError(f"no week count for scale {scale!r}", option="scale")
    ns = (_dt64(t) - epoch).astype(np.int64)
    week = ns // _WEEK_NS
    sow = (ns - week * _WEEK_NS) / 1e9
    return np.asarray(week), np.asarray(sow, dtype=np.float64)


def from_week_sow(week: Any, sow: Any, scale: str) -> DT64:
    """Clock reading in ``scale`` for (week, seconds of week) counted from its epoch."""
    epoch = _EPOCHS.get(scale.upper())
    if epoch is None:
        raise ConfigError(f"no week count for scale {scale!r}", option="scale")
    w = np.asarray(week, dtype=np.int64)
    ns = np.round(np.asarray(sow, dtype=np.float64) * 1e9).astype(np.int64)
    return epoch + (w * _WEEK_NS + ns).astype("timedelta64[ns]")


def gps_week_to_bdt_week(week: Any) -> npt.NDArray[np.int64]:
    return np.asarray(week, dtype=np.int64) - BDS_WEEK_OFFSET


def bdt_week_to_gps_week(week: Any) -> npt.NDArray[np.int64]:
    return np.asarray(week, dtype=np.int64) + BDS_WEEK_OFFSET


def wrap_half_week(dt_s: Any) -> npt.NDArray[np.float64]:
    """Reduce a time difference built from seconds-of-week to [-302400, 302400) s.

    This is the ICD rule for ``tk = t - toe`` when only seconds of week are known (a
    user at the start of week N+1 with an ephemeris whose toe lies in week N).
    """
    dt = np.asarray(dt_s, dtype=np.float64)
    return dt - WEEK_S * np.floor((dt + HALF_WEEK_S) / WEEK_S)
