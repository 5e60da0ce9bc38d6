"""Compact Position Reporting (CPR) for Mode S extended squitter, and our pairing rules.

CPR (DO-260B / ICAO Doc 9871 §C.2.6) sends 17-bit fractions of a latitude/longitude zone;
a position needs either a pair of one *even* and one *odd* message (global decoding) or one
message plus a reference position within half a zone (local decoding). Airborne zones are
360/60 and 360/59 degrees of latitude, surface zones a quarter of that (so a surface
position always needs a reference). Written from the specification; checked in the tests
against pyModeS and against rs1090's own decoding.

:class:`CprTracker` applies the rules that keep bogus positions from moving a track:

- **pair window** ``window_s``: an even/odd pair is used for global decoding only if the two
  messages are at most ``window_s`` apart (DO-260B's 10 s rule for airborne pairs: at
  600 kt an aircraft moves ~3 km in 10 s, far below the ~360 km half-zone, and stale
  pairs straddling a zone boundary are the classic source of jumps).
- **local decoding** relative to the aircraft's own last accepted position (if younger than
  ``local_max_age_s``), otherwise relative to the stated reference (receiver or airport);
  surface messages use the same chain with the surface zone size.
- **speed gate**: a candidate position that implies a ground speed above ``speed_gate_m_s``
  from the track's last accepted position (distance > gate x (dt + ``time_slack_s``)) is
  rejected and reported as such. Two consecutive rejected *global* fixes that agree with
  each other re-seed the track, so one bogus early fix cannot lock a track forever.

Units: degrees at this edge (positions go straight into the report record), seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

NZ = 15
_CPR_SCALE = 131072.0  # 2**17
EARTH_RADIUS_M = 6371008.8  # mean radius; the gate is a plausibility test, not geodesy


def _nl_transitions() -> list[float]:
    """Latitudes (ascending) where NL drops from n to n-1, n = 59..2 (DO-260B A.1.7.2.d)."""
    k = 1.0 - math.cos(math.pi / (2.0 * NZ))
    return [
        math.degrees(math.acos(math.sqrt(k / (1.0 - math.cos(2.0 * math.pi / n)))))
        for n in range(59, 1, -1)
    ]


_NL_LAT = _nl_transitions()


def nl(lat_deg: float) -> int:
    """Number of longitude zones at ``lat_deg`` (1..59): a table look-up of the transition
    latitudes, which is what the closed form evaluates to, at a fraction of the cost."""
    a = abs(lat_deg)
    if a == 87.0:  # the spec's table puts the 2 -> 1 transition just above 87 deg
        return 2
    return 59 - bisect_right(_NL_LAT, a)


def _mod(a: float, b: float) -> float:
    return a - b * math.floor(a / b)


def global_airborne(
    lat_even: int, lon_even: int, lat_odd: int, lon_odd: int, want_odd: bool
) -> tuple[float, float] | None:
    """Global decoding of an airborne even/odd pair; the position of the ``want_odd`` message.

    Returns ``None`` when the two latitudes fall in different NL zones (the pair straddles a
    zone boundary and cannot be decoded).
    """
    ye = lat_even / _CPR_SCALE
    yo = lat_odd / _CPR_SCALE
    j = math.floor(59.0 * ye - 60.0 * yo + 0.5)
    lat_e = 6.0 * (_mod(j, 60) + ye)
    lat_o = (360.0 / 59.0) * (_mod(j, 59) + yo)
    if lat_e >= 270.0:
        lat_e -= 360.0
    if lat_o >= 270.0:
        lat_o -= 360.0
    if abs(lat_e) > 90.0 or abs(lat_o) > 90.0:
        return None
    nl_e = nl(lat_e)
    if nl_e != nl(lat_o):
        return None
    xe = lon_even / _CPR_SCALE
    xo = lon_odd / _CPR_SCALE
    m = math.floor(xe * (nl_e - 1) - xo * nl_e + 0.5)
    if want_odd:
        lat = lat_o
        ni = max(nl_e - 1, 1)
        lon = (360.0 / ni) * (_mod(m, ni) + xo)
    else:
        lat = lat_e
        ni = max(nl_e, 1)
        lon = (360.0 / ni) * (_mod(m, ni) + xe)
    if lon >= 180.0:
        lon -= 360.0
    return lat, lon


def local(
    lat_cpr: int, lon_cpr: int, odd: bool, ref_lat_deg: float, ref_lon_deg: float, surface: bool
) -> tuple[float, float]:
    """Local decoding of one message relative to a reference within half a zone.

    Valid within 180 NM (airborne) or 45 NM (surface) of the reference; the result always
    lies within half a zone of it, so the caller decides whether the reference is good.
    """
    span = 90.0 if surface else 360.0
    dlat = span / (59.0 if odd else 60.0)
    y = lat_cpr / _CPR_SCALE
    j = math.floor(ref_lat_deg / dlat) + math.floor(0.5 + _mod(ref_lat_deg, dlat) / dlat - y)
    lat = dlat * (j + y)
    ni = max(nl(lat) - (1 if odd else 0), 1)
    dlon = span / ni
    x = lon_cpr / _CPR_SCALE
    m = math.floor(ref_lon_deg / dlon) + math.floor(0.5 + _mod(ref_lon_deg, dlon) / dlon - x)
    lon = dlon * (m + x)
    if lon >= 180.0:
        lon -= 360.0
    elif lon < -180.0:
        lon += 360.0
    return lat, lon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance on the mean sphere, metres."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# Outcome codes of CprTracker.update
OK = 0
NO_PAIR = 1  # waiting for the other parity / no reference yet (not an error)
STRADDLE = 2  # pair in different NL zones
GATED = 3  # rejected by the speed gate


@dataclass
class _Track:
    even: tuple[float, int, int] | None = None  # (t_s, lat_cpr, lon_cpr), airborne only
    odd: tuple[float, int, int] | None = None
    pos: tuple[float, float, float] | None = None  # (t_s, lat, lon) last accepted
    pending: tuple[float, float, float] | None = None  # last rejected global fix


@dataclass
class CprTracker:
    """Per-aircraft CPR state; feed messages in time order with :meth:`update`."""

    window_s: float = 10.0
    speed_gate_m_s: float = 400.0
    time_slack_s: float = 1.0
    local_max_age_s: float = 60.0
    ref: tuple[float, float] | None = None
    tracks: dict[str, _Track] = field(default_factory=dict)

    def update(
        self, icao: str, t_s: float, lat_cpr: int, lon_cpr: int, odd: bool, surface: bool
    ) -> tuple[int, float, float]:
        """Decode one position message; returns ``(status, lat_deg, lon_deg)`` (nan if not OK)."""
        tr = self.tracks.get(icao)
        if tr is None:
            tr = self.tracks[icao] = _Track()
        cand: tuple[float, float] | None = None
        from_global = False
        status = NO_PAIR
        if surface:
            # A surface pair from before a gap is no use for the next airborne pair.
            tr.even = tr.odd = None
        else:
            entry = (t_s, lat_cpr, lon_cpr)
            other = tr.even if odd else tr.odd
            if odd:
                tr.odd = entry
            else:
                tr.even = entry
            if other is not None and abs(t_s - other[0]) <= self.window_s:
                if odd:
                    cand = global_airborne(other[1], other[2], lat_cpr, lon_cpr, True)
                else:
                    cand = global_airborne(lat_cpr, lon_cpr, other[1], other[2], False)
                if cand is None:
                    status = STRADDLE
                else:
                    from_global = True
        if cand is None:
            if tr.pos is not None and t_s - tr.pos[0] <= self.local_max_age_s:
                cand = local(lat_cpr, lon_cpr, odd, tr.pos[1], tr.pos[2], surface)
            elif surface and self.ref is not None:
                cand = local(lat_cpr, lon_cpr, odd, self.ref[0], self.ref[1], True)
            elif surface and tr.pos is not None:
                # stale own position is still a better surface reference than none
                cand = local(lat_cpr, lon_cpr, odd, tr.pos[1], tr.pos[2], True)
            elif not surface and self.ref is not None and status != STRADDLE:
                cand = local(lat_cpr, lon_cpr, odd, self.ref[0], self.ref[1], False)
        if cand is None:
            return status, math.nan, math.nan
        lat, lon = cand
        if tr.pos is not None and not self._plausible(tr.pos, t_s, lat, lon):
            pend = tr.pending
            if from_global and pend is not None and self._plausible(pend, t_s, lat, lon):
                tr.pos = (t_s, lat, lon)
                tr.pending = None
                return OK, lat, lon
            if from_global:
                tr.pending = (t_s, lat, lon)
            return GATED, math.nan, math.nan
        tr.pos = (t_s, lat, lon)
        tr.pending = None
        return OK, lat, lon

    def _plausible(
        self, prev: tuple[float, float, float], t_s: float, lat: float, lon: float
    ) -> bool:
        dt = abs(t_s - prev[0])
        return distance_m(prev[1], prev[2], lat, lon) <= self.speed_gate_m_s * (
            dt + self.time_slack_s
        )
