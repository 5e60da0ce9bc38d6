"""Time scales: UTC, TAI, GPST, BDT, GST and UT1.

Records, files and APIs carry ``numpy.datetime64[ns]`` in UTC. Kernels take float64
seconds since a stated epoch in a named scale, or a Julian date split in two floats
(``jd``, ``fr``) where sub-microsecond resolution matters (SGP4).

Offsets:
- TAI - UTC: the IERS leap-second table below (last change 2017-01-01, 37 s).
- GPST = TAI - 19 s; GPS week 0 starts 1980-01-06T00:00:00 GPST.
- BDT = GPST - 14 s; BDS week 0 starts 2006-01-01T00:00:00 BDT (GPS week 1356).
- GST (Galileo) is steered to GPST; GST week 0 starts 1999-08-22 (GPS week 1024).
- UT1 - UTC comes from :mod:`kongtian.geo.eop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError

NS = np.int64(1_000_000_000)
DAY_S = 86_400.0

# IERS Bulletin C leap seconds: UTC date from which TAI - UTC takes the value.
_LEAP_TABLE: tuple[tuple[str, int], ...] = (
    ("1972-01-01", 10), ("1972-07-01", 11), ("1973-01-01", 12), ("1974-01-01", 13),
    ("1975-01-01", 14), ("1976-01-01", 15), ("1977-01-01", 16), ("1978-01-01", 17),
    ("1979-01-01", 18), ("1980-01-01", 19), ("1981-07-01", 20), ("1982-07-01", 21),
    ("1983-07-01", 22), ("1985-07-01", 23), ("1988-01-01", 24), ("1990-01-01", 25),
    ("1991-01-01", 26), ("1992-07-01", 27), ("1993-07-01", 28), ("1994-07-01", 29),
    ("1996-01-01", 30), ("1997-07-01", 31), ("1999-01-01", 32), ("2006-01-01", 33),
    ("2009-01-01", 34), ("2012-07-01", 35), ("2015-07-01", 36), ("2017-01-01", 37),
)  # fmt: skip
LEAP_SECONDS_VINTAGE = "IERS Bulletin C 72 (no leap second before 2027-06-30)"

_LEAP_UTC_NS = np.array([np.datetime64(d, "ns").astype(np.int64) for d, _ in _LEAP_TABLE])
_LEAP_VALUE = np.array([v for _, v in _LEAP_TABLE], dtype=np.float64)

GPST_MINUS_TAI_S = -19.0
BDT_MINUS_GPST_S = -14.0
GPS_EPOCH = np.datetime64("1980-01-06T00:00:00", "ns")  # in GPST
BDS_EPOCH = np.datetime64("2006-01-01T00:00:00", "ns")  # in BDT
GST_EPOCH = np.datetime64("1999-08-22T00:00:00", "ns")  # in GST (= GPST)
BDS_WEEK_OFFSET = 1356  # BDS week 0 == GPS week 1356
WEEK_S = 604_800.0

J2000_UTC = np.datetime64("2000-01-01T12:00:00", "ns")
JD_UNIX_EPOCH = 2_440_587.5


def as_utc(times: Any) -> npt.NDArray[np.datetime64]:
    """Coerce ISO strings, datetimes or datetime64 values to ``datetime64[ns]`` (UTC).

    Strings may end in ``Z``; timezone-aware datetimes are converted to UTC; naive
    datetimes are taken as UTC. Raises :class:`ConfigError` on unparseable input.
    """
    if isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[ns]")
    scalar = isinstance(times, str | datetime | np.datetime64)
    seq: Sequence[Any] = [times] if scalar else list(times)
    out = np.empty(len(seq), dtype="datetime64[ns]")
    for i, t in enumerate(seq):
        out[i] = _one_utc(t)
    return out[0] if scalar else out  # type: ignore[return-value]


def _one_utc(t: Any) -> np.datetime64:
    if isinstance(t, np.datetime64):
        return t.astype("datetime64[ns]")
    if isinstance(t, datetime):
        if t.tzinfo is not None:
            t = t.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(t, "ns")
    if isinstance(t, str):
        s = t.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1]
        elif s.endswith("+00:00"):
            s = s[:-6]
        try:
            return np.datetime64(s, "ns")
        except ValueError as exc:
            raise ConfigError(f"not an ISO-8601 UTC time: {t!r}") from exc
    raise ConfigError(f"not a time: {t!r}")


def parse_utc(text: str, *, option: str = "time") -> np.datetime64:
    """Parse one ISO-8601 UTC time (``2025-01-23T00:00:00Z``); errors name ``option``."""
    try:
        return _one_utc(text)
    except ConfigError as exc:
        raise ConfigError(str(exc), option=option) from None


def time_grid(start_utc: Any, duration_s: float, step_s: float) -> npt.NDArray[np.datetime64]:
    """Regular UTC grid ``start, start+step, ...`` up to and including ``start+duration``."""
    if step_s <= 0:
        raise ConfigError("must be positive", option="step")
    if duration_s <= 0:
        raise ConfigError("must be positive", option="duration")
    start = as_utc(start_utc)
    n = int(np.floor(duration_s / step_s + 1e-9)) + 1
    offs = np.round(np.arange(n) * step_s * 1e9).astype("timedelta64[ns]")
    return start + offs


def tai_minus_utc(t_utc: Any) -> npt.NDArray[np.float64]:
    """TAI - UTC in seconds at each UTC instant (0 before 1972 is not supported)."""
    ns = as_utc(t_utc).astype(np.int64)
    idx = np.searchsorted(_LEAP_UTC_NS, ns, side="right") - 1
    if np.any(idx < 0):
        raise ConfigError("times before 1972-01-01 UTC are not supported", option="time")
    return _LEAP_VALUE[idx]


def utc_to_scale(t_utc: Any, scale: str) -> npt.NDArray[np.datetime64]:
    """Express UTC instants as clock readings in ``scale`` (TAI, GPST, BDT, GST, UTC)."""
    t = as_utc(t_utc)
    scale = scale.upper()
    if scale == "UTC":
        return t
    dt = tai_minus_utc(t)
    if scale == "TAI":
        off = dt
    elif scale in ("GPST", "GST"):
        off = dt + GPST_MINUS_TAI_S
    elif scale == "BDT":
        off = dt + GPST_MINUS_TAI_S + BDT_MINUS_GPST_S
    else:
        raise ConfigError(f"unknown time scale {scale!r}", option="scale")
    return t + np.round(off * 1e9).astype("timedelta64[ns]")


def scale_to_utc(t: Any, scale: str) -> npt.NDArray[np.datetime64]:
    """Inverse of :func:`utc_to_scale` (exact except inside a leap second)."""
    t = as_utc(t)
    scale = scale.upper()
    if scale == "UTC":
        return t
    base = {"TAI": 0.0, "GPST": GPST_MINUS_TAI_S, "GST": GPST_MINUS_TAI_S,
            "BDT": GPST_MINUS_TAI_S + BDT_MINUS_GPST_S}.get(scale)  # fmt: skip
    if base is None:
        raise ConfigError(f"unknown time scale {scale!r}", option="scale")
    guess = t - np.round((37.0 + base) * 1e9).astype("timedelta64[ns]")
    # Two fixed-point passes settle the leap-second count near a boundary.
    for _ in range(2):
        guess = t - np.round((tai_minus_utc(guess) + base) * 1e9).astype("timedelta64[ns]")
    return guess


def week_seconds(
    t_utc: Any, scale: str = "GPST"
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(week, seconds of week) in GPST, BDT or GST for UTC instants."""
    epoch = {"GPST": GPS_EPOCH, "BDT": BDS_EPOCH, "GST": GST_EPOCH}.get(scale.upper())
    if epoch is None:
        raise ConfigError(f"no week count for scale {scale!r}", option="scale")
    local = utc_to_scale(t_utc, scale)
    ns = (local - epoch).astype(np.int64)
    week = ns // (604_800 * NS)
    sow = (ns - week * 604_800 * NS) / 1e9
    return np.asarray(week), np.asarray(sow)


def jd_split_utc(t_utc: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """UTC Julian date as (whole day at midnight + 0.5 convention, fraction), as SGP4 wants.

    ``jd`` holds the Julian date of the preceding 0h UTC (…​.5) and ``fr`` the day
    fraction, so their sum keeps nanosecond resolution.
    """
    ns = as_utc(t_utc).astype(np.int64)
    day = ns // (86_400 * NS)
    frac = (ns - day * 86_400 * NS) / (86_400.0 * 1e9)
    return day.astype(np.float64) + JD_UNIX_EPOCH, frac


def seconds_since(t_utc: Any, epoch_utc: Any) -> npt.NDArray[np.float64]:
    """UTC seconds elapsed since ``epoch_utc`` (ignores leap seconds in between; UTC clock)."""
    return (as_utc(t_utc) - as_utc(epoch_utc)).astype(np.int64) / 1e9


def iso_utc(t: Any, decimals: int = 1) -> npt.NDArray[np.str_]:
    """Format as ISO-8601 with ``Z`` and ``decimals`` fractional digits; NaT becomes ''."""
    t = np.atleast_1d(as_utc(t))
    unit = {0: "s", 1: "ms", 2: "ms", 3: "ms", 6: "us", 9: "ns"}.get(decimals, "ms")
    rounded = t + np.timedelta64(5 * 10 ** (8 - decimals), "ns") if decimals < 9 else t
    s = np.datetime_as_string(rounded.astype(f"datetime64[{unit}]"), unit=unit)  # type: ignore[call-overload]
    keep = 19 + (decimals + 1 if decimals else 0)
    out = np.array([x[:keep] + "Z" if x != "NaT" else "" for x in s])
    return out
