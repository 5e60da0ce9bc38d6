"""Walker constellations as SGP4 element sets, published shells, and shells found in real data.

Three things live here:

- **Walker patterns** ``i:T/P/F`` (Walker 1984): ``T`` satellites in ``P`` circular planes
  of inclination ``i``, ``S = T/P`` per plane, phasing factor ``F`` in ``0..P-1``.
  Plane ``p`` (0-based) has RAAN ``raan0 + p * spread / P`` (spread 360 deg for a *delta*
  pattern, 180 deg for a *star* pattern) and slot ``s`` (0-based) of that plane has
  argument of latitude ``s * 360/S + p * F * 360/T`` at the epoch. :func:`walker_catalog`
  emits them as a :class:`~kongtian.space.catalog.Catalog` of mean elements, so they go
  through the same SGP4 propagation path as real element sets.
- **Published shells** (:data:`SHELLS`, :func:`shell_spec`, :func:`shell_catalog`): the
  package table ``data/constellation_shells.csv`` (Starlink, Kuiper, OneWeb, Telesat,
  Guowang), each row with its source repository, commit and cited filing. No row
  publishes a phasing factor F.
- **Derived shells** (:func:`derive_shells`): shells, planes and raising satellites
  found by clustering real element sets. For constellations with no published shell
  table (Qianfan) this is the only source, and the result is *derived from observed
  TLEs, not a published design*.

Default phasing. Where F is not given (every table row, ``"i:T/P"`` strings, derived
shells) we use :func:`best_phasing`: the F that maximises the smallest distance between
any two satellites over an orbit (circular two-body orbits, in closed form), ties to
the smallest F. An operator has to keep satellites apart where planes cross; F = 1, the
usual convention, lets Starlink shell 1 (53:1584/72) satellites pass 0.8 km apart every
orbit under SGP4, the chosen F = 65 keeps them 64 km apart. See
``docs/decisions/0003-walker-phasing.md``.

Altitude convention. ``altitude`` of a Walker shell is the time average over one orbit of
``|r| - R`` where ``r`` is the SGP4 (WGS72) position and ``R`` = 6378.135 km is the WGS72
equatorial radius, i.e. the mean orbital radius minus the equatorial radius. The Kozai
mean motion written into the elements is chosen so that SGP4 reproduces that mean
(:func:`kozai_mean_motion`): SGP4 un-Kozais the mean motion and adds J2 short-period
terms, which together move the mean radius by up to 3 km from the Keplerian ``a`` of
the same mean motion. Geodetic height along the orbit is not constant: about +-7 km of
radial oscillation (J2 short-period terms, J3-driven eccentricity) plus up to ~21 km
from the Earth's flattening at high latitude.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sgp4.earth_gravity import wgs72

from kongtian.errors import ConfigError, FormatError, NotFound
from kongtian.geo.time import as_utc
from kongtian.space.catalog import Catalog

FloatArray = npt.NDArray[np.float64]

#: First NORAD id of synthetic satellites: above Alpha-5's 339999, so no TLE catalog
#: number (real or analyst) can ever equal it; see :func:`walker_catalog`.
SYNTHETIC_NORAD_BASE = 900_000
#: WGS72 equatorial radius (m), SGP4's Earth; the reference for ``altitude``.
EARTH_RADIUS_M = wgs72.radiusearthkm * 1e3

_J2 = wgs72.j2
_XKE = wgs72.xke  # sqrt(GM) in Earth radii^1.5 per minute
_MAX_NORAD_ID = 999_999_999  # OMM NORAD_CAT_ID holds 9 digits
_KINDS = {"delta": 360.0, "star": 180.0}
_FORM = "expected i:T/P/F or i:T/P (inclination deg : total / planes / phasing), e.g. 53:1584/72/17"
_SPEC_RE = re.compile(
    r"^\s*(?P<i>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*:\s*(?P<t>\d+)\s*/\s*(?P<p>\d+)"
    r"\s*(?:/\s*(?P<f>\d+)\s*)?$"
)


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class WalkerSpec:
    """A Walker pattern ``inclination_deg:total/planes/phasing``.

    ``altitude_m`` is the mean altitude (see the module docstring; None until given),
    ``kind`` "delta" (planes over 360 deg of RAAN) or "star" (over 180 deg),
    ``raan0_deg`` the RAAN of plane 0, ``eccentricity`` of every orbit (0 = circular;
    perigee at the ascending node). Invalid values raise :class:`ConfigError` naming
    ``--walker`` (or ``--alt-km`` for the altitude).
    """

    inclination_deg: float
    total: int
    planes: int
    phasing: int
    altitude_m: float | None = None
    kind: str = "delta"
    raan0_deg: float = 0.0
    eccentricity: float = 0.0

    def __post_init__(self) -> None:
        opt = "--walker"
        if not (math.isfinite(self.inclination_deg) and 0.0 <= self.inclination_deg <= 180.0):
            raise ConfigError(
                f"inclination must be within 0..180 deg, got {self.inclination_deg}", option=opt
            )
        if self.total < 1 or self.planes < 1:
            raise ConfigError(
                f"total and planes must be >= 1, got T={self.total} P={self.planes}", option=opt
            )
        if self.total % self.planes:
            raise ConfigError(
                f"total T={self.total} is not divisible by planes P={self.planes} ({_FORM})",
                option=opt,
            )
        if not 0 <= self.phasing < self.planes:
            raise ConfigError(
                f"phasing F={self.phasing} must satisfy 0 <= F < P={self.planes} ({_FORM})",
                option=opt,
            )
        if self.kind not in _KINDS:
            raise ConfigError(f"kind must be 'delta' or 'star', got {self.kind!r}", option=opt)
        if not (math.isfinite(self.eccentricity) and 0.0 <= self.eccentricity < 0.1):
            raise ConfigError(
                f"eccentricity must be within 0..0.1, got {self.eccentricity}", option=opt
            )
        if not math.isfinite(self.raan0_deg):
            raise ConfigError(f"raan0 must be finite, got {self.raan0_deg}", option=opt)
        if self.altitude_m is not None and not (
            math.isfinite(self.altitude_m) and 100e3 <= self.altitude_m <= 100_000e3
        ):
            raise ConfigError(
                f"altitude must be within 100..100000 km, got {self.altitude_m / 1e3:g} km",
                option="--alt-km",
            )

    @property
    def sats_per_plane(self) -> int:
        return self.total // self.planes

    @property
    def notation(self) -> str:
        """``i:T/P/F`` with the inclination in degrees."""
        return f"{self.inclination_deg:g}:{self.total}/{self.planes}/{self.phasing}"

    @property
    def raan_spacing_deg(self) -> float:
        return _KINDS[self.kind] / self.planes

    def label(self) -> str:
        """A readable shell label, e.g. ``53:1584/72/1 delta 550km``."""
        alt = "" if self.altitude_m is None else f" {self.altitude_m / 1e3:g}km"
        return f"{self.notation} {self.kind}{alt}"

    def pattern(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]:
        """``(plane, slot, raan_deg, arg_latitude_deg)`` of all T satellites, plane-major."""
        s_per = self.sats_per_plane
        plane = np.repeat(np.arange(self.planes, dtype=np.int64), s_per)
        slot = np.tile(np.arange(s_per, dtype=np.int64), self.planes)
        raan = np.mod(self.raan0_deg + plane * self.raan_spacing_deg, 360.0)
        u = np.mod(slot * (360.0 / s_per) + plane * (self.phasing * 360.0 / self.total), 360.0)
        return plane, slot, raan, u


def min_separation_m(spec: WalkerSpec) -> float:
    """Smallest distance (m) between any two satellites of ``spec`` at any time.

    Circular two-body orbits of radius ``R + altitude`` (no J2: under SGP4 the value
    moves by up to ~16 km because of the J3-driven eccentricity, but the ordering of
    phasings holds; see the decision record). ``inf`` for a single satellite.
    """
    if spec.altitude_m is None:
        raise ConfigError(f"no altitude for Walker pattern {spec.notation}", option="--alt-km")
    chord = _min_chord(spec.inclination_deg, spec.total, spec.planes, spec.phasing, spec.kind)
    return chord * (EARTH_RADIUS_M + spec.altitude_m)


def _min_chord(inc_deg: float, total: int, planes: int, phasing: int, kind: str) -> float:
    """Minimum over satellite pairs and time of the chord between them on a unit sphere."""
    s_per = total // planes
    if total < 2:
        return math.inf
    q = np.repeat(np.arange(planes), s_per)
    slot = np.tile(np.arange(s_per), planes)
    om = np.radians(q * (_KINDS[kind] / planes))
    ci, si = math.cos(math.radians(inc_deg)), math.sin(math.radians(inc_deg))
    node = np.stack([np.cos(om), np.sin(om), np.zeros_like(om)], axis=-1)
    perp = np.stack([-ci * np.sin(om), ci * np.cos(om), np.full_like(om, si)], axis=-1)
    # Slot shifts are time shifts, so pairs with a slot-0 satellite cover every pair; a
    # delta pattern is also symmetric under plane shifts (rotation + time shift), a star
    # pattern is not.
    best = math.inf
    for p in [0] if kind == "delta" else range(planes):
        a = p * s_per
        # With r = cos(u) N + sin(u) M and u_B = u_A + d, r_A . r_B is
        # c0 + amp * cos(2 u_A + phase): its maximum over time is c0 + amp.
        d = np.radians(slot * (360.0 / s_per) + (q - p) * (phasing * 360.0 / total))
        pnn, pmm = node @ node[a], perp @ perp[a]
        pnm, pmn = perp @ node[a], node @ perp[a]  # N_A.M_B, M_A.N_B
        c0 = 0.5 * (np.cos(d) * (pnn + pmm) + np.sin(d) * (pnm - pmn))
        amp = 0.5 * np.hypot(pnn - pmm, pnm + pmn)
        chord = np.sqrt(2.0 * (1.0 - np.minimum(c0 + amp, 1.0)))
        chord[a] = np.inf
        best = min(best, float(chord.min()))
    return best


@functools.lru_cache(maxsize=256)
def best_phasing(inclination_deg: float, total: int, planes: int, kind: str = "delta") -> int:
    """The phasing factor F (0..P-1) that keeps the satellites of ``i:T/P`` farthest apart.

    Maximises :func:`min_separation_m` (two-body, so independent of altitude); among
    phasings within 1 mm at Earth-radius scale of the best, the smallest F. This is the
    package's default F wherever none is given or published.
    """
    if planes < 1 or total % planes:
        raise ConfigError(
            f"total T={total} is not divisible by planes P={planes}", option="--walker"
        )
    chords = np.array([_min_chord(inclination_deg, total, planes, f, kind) for f in range(planes)])
    if not np.isfinite(chords).any():
        return 0
    return int(np.flatnonzero(chords >= chords.max() - 1.5e-10)[0])


def parse_walker(spec: str) -> WalkerSpec:
    """Parse ``"i:T/P/F"`` (e.g. ``"53:1584/72/17"``) or ``"i:T/P"`` (F defaults).

    The inclination is in degrees; T must be divisible by P and ``0 <= F < P``. When F
    is omitted it is :func:`best_phasing` for a delta pattern (65 for 53:1584/72).
    Errors are :class:`ConfigError` with option ``--walker`` and the expected form.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"{_FORM}; got {spec!r}", option="--walker")
    m = _SPEC_RE.match(spec)
    if m is None:
        raise ConfigError(f"{_FORM}; got {spec!r}", option="--walker")
    inc, total, planes = float(m["i"]), int(m["t"]), int(m["p"])
    if m["f"] is not None:
        return WalkerSpec(inc, total, planes, int(m["f"]))
    WalkerSpec(inc, total, planes, 0)  # validates before the phasing search
    return WalkerSpec(inc, total, planes, best_phasing(inc, total, planes))


# --------------------------------------------------------------------------- mean motion
def _d1(inclination_deg: Any, eccentricity: Any) -> FloatArray:
    c = np.cos(np.radians(np.asarray(inclination_deg, dtype=float)))
    e2 = np.asarray(eccentricity, dtype=float) ** 2
    return np.asarray(0.75 * _J2 * (3.0 * c * c - 1.0) / (np.sqrt(1.0 - e2) * (1.0 - e2)))


def _brouwer_from_kozai(n_kozai: FloatArray, d1: FloatArray) -> FloatArray:
    # SGP4's initl: recover the Brouwer mean motion from the Kozai one in the TLE.
    a1 = (_XKE / n_kozai) ** (2.0 / 3.0)
    del1 = d1 / (a1 * a1)
    ao = a1 * (1.0 - del1 * (1.0 / 3.0 + del1 * (1.0 + 134.0 / 81.0 * del1)))
    delo = d1 / (ao * ao)
    return np.asarray(n_kozai / (1.0 + delo))


def _radius_factor(inclination_deg: Any, eccentricity: Any) -> tuple[FloatArray, FloatArray]:
    # Time-mean of SGP4's radius over one orbit is  a(1+e^2/2) (1 - k / a^2): the Kepler
    # average times the constant part of the J2 short-period radius term.
    c = np.cos(np.radians(np.asarray(inclination_deg, dtype=float)))
    e2 = np.asarray(eccentricity, dtype=float) ** 2
    k = 0.75 * _J2 * (3.0 * c * c - 1.0) * np.sqrt(1.0 - e2) / (1.0 - e2) ** 2
    return np.asarray(1.0 + 0.5 * e2), np.asarray(k)


def kozai_mean_motion(altitude_m: Any, inclination_deg: Any, eccentricity: Any = 0.0) -> FloatArray:
    """Kozai mean motion (rev/day, as in a TLE) whose SGP4 orbit has the given mean altitude.

    ``altitude_m``: time-mean of ``|r| - 6378.135 km`` over one orbit (WGS72). Inverts
    SGP4's own Kozai -> Brouwer recovery and the constant part of its J2 short-period
    radius term; valid for near-circular orbits (e below ~0.01). Propagated with SGP4,
    the mean altitude matches within 10 m (tests/space/test_walker.py). The Keplerian
    ``n = sqrt(GM/(R+h)^3)`` used by other simulators misses by up to 3 km.
    """
    rbar = (EARTH_RADIUS_M + np.asarray(altitude_m, dtype=float)) / EARTH_RADIUS_M
    f, k = _radius_factor(inclination_deg, eccentricity)
    a = rbar / f
    for _ in range(20):  # contraction factor ~2k/a^2 ~ 1e-3
        a = rbar / (f * (1.0 - k / (a * a)))
    n_brouwer = _XKE / a**1.5
    d1 = _d1(inclination_deg, eccentricity)
    n = n_brouwer
    for _ in range(20):
        n = n_brouwer * n / _brouwer_from_kozai(n, d1)
    return np.asarray(n * 1440.0 / (2.0 * math.pi))


def mean_altitude_from_kozai(
    mean_motion_rev_day: Any, inclination_deg: Any, eccentricity: Any = 0.0
) -> FloatArray:
    """Time-mean SGP4 altitude (m, above the WGS72 equatorial radius) of mean elements.

    The inverse of :func:`kozai_mean_motion`; near-circular orbits.
    """
    n = np.asarray(mean_motion_rev_day, dtype=float) * 2.0 * math.pi / 1440.0
    n_b = _brouwer_from_kozai(n, _d1(inclination_deg, eccentricity))
    a = (_XKE / n_b) ** (2.0 / 3.0)
    f, k = _radius_factor(inclination_deg, eccentricity)
    return np.asarray((a * f * (1.0 - k / (a * a)) - 1.0) * EARTH_RADIUS_M)


# --------------------------------------------------------------------------- emit
def walker_catalog(
    spec: WalkerSpec | str,
    *,
    altitude_km: float | None = None,
    epoch_utc: Any,
    kind: str | None = None,
    raan0_deg: float | None = None,
    name_prefix: str = "WALKER",
    group: str | None = None,
    first_norad_id: int = SYNTHETIC_NORAD_BASE,
) -> Catalog:
    """The satellites of a Walker pattern as a :class:`Catalog` of SGP4 mean elements.

    ``spec``: a :class:`WalkerSpec` or an ``"i:T/P/F"`` string. ``altitude_km``, ``kind``
    and ``raan0_deg`` override the spec's values (a string spec defaults to a delta
    pattern with plane 0 at RAAN 0; if it omits F, F is :func:`best_phasing` for the
    final kind). The altitude is the orbit-mean altitude of the module
    docstring; the Kozai mean motion comes from :func:`kozai_mean_motion`. Elements:
    eccentricity from the spec, argument of perigee 0, mean anomaly = argument of latitude
    of the pattern, B* = 0 (no drag, so the shell keeps its altitude), epoch
    ``epoch_utc`` (UTC).

    Satellites are plane-major, named ``<prefix>-P{plane:02d}-S{slot:02d}`` (0-based);
    ``group`` defaults to :meth:`WalkerSpec.label`. NORAD ids run from
    ``first_norad_id`` (default 900000). The default range lies above 339999, the
    largest number a TLE (Alpha-5) or ``Satrec.sgp4init`` accepts, so it cannot equal
    any object in TLE data, real or from the reserved analyst (80000-89999,
    270000-339999) and uncorrelated-track ranges; the public catalog is near 70000 (2026)
    and grows sequentially. Such catalogs export as OMM (9-digit ``NORAD_CAT_ID``), not
    TLE, and their ``Satrec.satnum`` is 0. Pass an id below 339999 for TLE-writable
    numbers (at the risk of clashing).
    """
    ws = parse_walker(spec) if isinstance(spec, str) else spec
    if not isinstance(ws, WalkerSpec):
        raise ConfigError(f"{_FORM}; got {spec!r}", option="--walker")
    changes: dict[str, Any] = {}
    if isinstance(spec, str) and kind not in (None, ws.kind):
        m = _SPEC_RE.match(spec)
        if m is not None and m["f"] is None:  # default F depends on the kind
            changes["phasing"] = best_phasing(ws.inclination_deg, ws.total, ws.planes, kind)
    if altitude_km is not None:
        changes["altitude_m"] = float(altitude_km) * 1e3
    if kind is not None:
        changes["kind"] = kind
    if raan0_deg is not None:
        changes["raan0_deg"] = float(raan0_deg)
    if changes:
        ws = dataclasses.replace(ws, **changes)
    if ws.altitude_m is None:
        raise ConfigError(f"no altitude for Walker pattern {ws.notation}", option="--alt-km")
    first = int(first_norad_id)
    if not 1 <= first <= _MAX_NORAD_ID - ws.total + 1:
        raise ConfigError(f"first NORAD id out of range: {first_norad_id}", option="first_norad_id")
    plane, slot, raan, u = ws.pattern()
    names = np.array([f"{name_prefix}-P{p:02d}-S{s:02d}" for p, s in zip(plane, slot, strict=True)])
    return Catalog.from_elements(
        epoch_utc=np.atleast_1d(as_utc(epoch_utc))[0],
        inclination_deg=ws.inclination_deg,
        raan_deg=raan,
        eccentricity=ws.eccentricity,
        arg_perigee_deg=0.0,
        mean_anomaly_deg=u,
        mean_motion_rev_day=kozai_mean_motion(ws.altitude_m, ws.inclination_deg, ws.eccentricity),
        norad_id=np.arange(first, first + ws.total, dtype=np.int64),
        name=names,
        group=ws.label() if group is None else group,
    )


# --------------------------------------------------------------------------- shell table
@dataclass(frozen=True)
class ShellRecord:
    """One row of the published-shell table (``space/data/constellation_shells.csv``).

    ``phasing`` is None where no F is published (every current row); ``source_*`` are
    ``;``-separated lists (repository, path, commit) and ``cited_filing`` the filing the
    source quotes.
    """

    key: str
    constellation_key: str
    constellation: str
    shell: str
    altitude_km: float
    inclination_deg: float
    planes: int
    sats_per_plane: int
    total: int
    phasing: int | None
    kind: str
    note: str
    source_repo: str
    source_path: str
    source_commit: str
    cited_filing: str

    @property
    def spec(self) -> WalkerSpec:
        """The Walker pattern; F = :func:`best_phasing` when none is published."""
        f = (
            self.phasing
            if self.phasing is not None
            else best_phasing(self.inclination_deg, self.total, self.planes, self.kind)
        )
        return WalkerSpec(
            self.inclination_deg, self.total, self.planes, f, self.altitude_km * 1e3, self.kind
        )


_COLUMNS = tuple(
    "phasing_f" if f.name == "phasing" else f.name for f in dataclasses.fields(ShellRecord)
)


def load_shells(path: str | Path | None = None) -> dict[str, ShellRecord]:
    """Read a shell table (default: the packaged one) into records keyed by ``key``.

    Every row must parse, have ``total == planes * sats_per_plane``, a valid Walker
    pattern and a source repository; otherwise :class:`FormatError` with file and line.
    """
    if path is None:
        where = "kongtian/space/data/constellation_shells.csv"
        text = files("kongtian.space").joinpath("data/constellation_shells.csv").read_text("utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FormatError("no such file", path=where) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise FormatError(f"missing columns {missing}", path=where, line=1)
    out: dict[str, ShellRecord] = {}
    for row in reader:
        line = reader.line_num
        try:
            f_txt = (row["phasing_f"] or "").strip()
            rec = ShellRecord(
                key=row["key"].strip(),
                constellation_key=row["constellation_key"].strip(),
                constellation=row["constellation"].strip(),
                shell=row["shell"].strip(),
                altitude_km=float(row["altitude_km"]),
                inclination_deg=float(row["inclination_deg"]),
                planes=int(row["planes"]),
                sats_per_plane=int(row["sats_per_plane"]),
                total=int(row["total"]),
                phasing=int(f_txt) if f_txt else None,
                kind=row["kind"].strip(),
                note=(row["note"] or "").strip(),
                source_repo=(row["source_repo"] or "").strip(),
                source_path=(row["source_path"] or "").strip(),
                source_commit=(row["source_commit"] or "").strip(),
                cited_filing=(row["cited_filing"] or "").strip(),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"bad shell row: {exc}", path=where, line=line) from None
        if not rec.key or rec.key in out:
            raise FormatError(f"empty or duplicate key {rec.key!r}", path=where, line=line)
        if rec.total != rec.planes * rec.sats_per_plane:
            raise FormatError(
                f"{rec.key}: total {rec.total} != planes {rec.planes} x sats_per_plane "
                f"{rec.sats_per_plane}",
                path=where,
                line=line,
            )
        if not rec.source_repo or not rec.source_commit:
            raise FormatError(f"{rec.key}: no source repository/commit", path=where, line=line)
        try:  # validate the pattern; the phasing search waits until a shell is used
            WalkerSpec(
                rec.inclination_deg, rec.total, rec.planes, rec.phasing or 0,
                rec.altitude_km * 1e3, rec.kind,
            )  # fmt: skip
        except ConfigError as exc:
            raise FormatError(f"{rec.key}: {exc}", path=where, line=line) from None
        out[rec.key] = rec
    return out


#: The packaged published-shell table, keyed like ``"starlink-gen1-1"``.
SHELLS: dict[str, ShellRecord] = load_shells()


def list_shells() -> list[str]:
    """Keys of the packaged shells, in table order (``starlink-gen1-1``, ``kuiper-1``, ...)."""
    return list(SHELLS)


def shell_spec(key: str) -> WalkerSpec:
    """Walker pattern of a packaged shell.

    No shell publishes F, so F = :func:`best_phasing` (the phasing with the largest
    minimum inter-satellite distance), e.g. 65 for ``starlink-gen1-1``.
    """
    try:
        return SHELLS[key.lower()].spec
    except KeyError:
        raise NotFound(f"no shell {key!r}; known: {', '.join(list_shells())}") from None


def _expand_keys(keys: str | Sequence[str]) -> list[str]:
    out: list[str] = []
    for k in [keys] if isinstance(keys, str) else list(keys):
        kk = k.lower()
        if kk in SHELLS:
            out.append(kk)
            continue
        members = [r.key for r in SHELLS.values() if r.constellation_key == kk]
        if not members:
            known = sorted({r.constellation_key for r in SHELLS.values()})
            raise NotFound(f"no shell or constellation {k!r}; constellations: {', '.join(known)}")
        out.extend(members)
    return out


def shell_catalog(
    keys: str | Sequence[str], epoch_utc: Any, *, first_norad_id: int = SYNTHETIC_NORAD_BASE
) -> Catalog:
    """Catalog of one or more packaged shells (a constellation key such as ``"kuiper"``
    expands to all its shells), concatenated in order with consecutive synthetic NORAD
    ids; each satellite's ``group`` is its shell key and its name ``<KEY>-Ppp-Sss``."""
    parts = []
    nid = int(first_norad_id)
    for k in _expand_keys(keys):
        cat = walker_catalog(
            shell_spec(k), epoch_utc=epoch_utc, name_prefix=k.upper(), group=k, first_norad_id=nid
        )
        nid += len(cat)
        parts.append(cat)
    if not parts:
        raise ConfigError("no shells given", option="--shells")
    return parts[0] if len(parts) == 1 else Catalog.concat(parts)


# --------------------------------------------------------------------------- derive
@dataclass(frozen=True)
class DerivedShell:
    """A shell found in real element sets by :func:`derive_shells`.

    ``altitude_km`` (orbit-mean, as in the module docstring) and ``inclination_deg`` are
    medians over the members; planes are ordered by RAAN; ``plane_raan_deg`` are RAANs
    (TEME, deg) propagated to ``reference_epoch_utc`` with SGP4's secular node rate;
    ``member_index`` indexes the input catalog (in-shell satellites, by plane then
    argument of latitude) and ``member_plane`` gives each one's plane; ``raising_index``
    lists satellites of the same inclination below the shell (orbit raising, or lowering:
    one snapshot cannot tell). ``spec`` is an idealised equivalent Walker pattern: the
    observed planes spread evenly, ``max(sats_per_plane)`` slots each, F from
    :func:`best_phasing` (real planes are not regular enough to read F from).
    """

    label: str
    altitude_km: float
    inclination_deg: float
    n_planes: int
    sats_per_plane: tuple[int, ...]
    plane_raan_deg: tuple[float, ...]
    member_index: npt.NDArray[np.int64]
    member_plane: npt.NDArray[np.int64]
    raising_index: npt.NDArray[np.int64]
    off_plane_index: npt.NDArray[np.int64]
    reference_epoch_utc: np.datetime64
    spec: WalkerSpec
    source: str = "derived from observed element sets, not a published design"

    @property
    def n_sats(self) -> int:
        return int(self.member_index.size)


def _neighbour_counts(
    alt: FloatArray, inc: FloatArray, alt_tol: float, inc_tol: float
) -> npt.NDArray[np.int64]:
    counts = np.empty(alt.size, dtype=np.int64)
    for a in range(0, alt.size, 512):
        b = min(alt.size, a + 512)
        near = (np.abs(alt[a:b, None] - alt[None, :]) <= alt_tol) & (
            np.abs(inc[a:b, None] - inc[None, :]) <= inc_tol
        )
        counts[a:b] = near.sum(axis=1)
    return counts


def circular_clusters(angles_deg: Any, gap_deg: float) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Cluster angles on the circle: split wherever sorted neighbours are > ``gap_deg`` apart.

    Returns ``(labels, centres_deg)``: clusters numbered by ascending circular-mean
    centre in [0, 360); with no gap wider than ``gap_deg`` everything is one cluster.
    """
    ang = np.mod(np.asarray(angles_deg, dtype=float), 360.0)
    n = ang.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    order = np.argsort(ang, kind="stable")
    s = ang[order]
    gaps = np.diff(np.r_[s, s[0] + 360.0])  # gaps[k]: from s[k] to the next (wrapping)
    cuts = np.flatnonzero(gaps > gap_deg)
    lab_sorted = np.zeros(n, dtype=np.int64)
    if cuts.size:
        start = (cuts[-1] + 1) % n  # begin just after a gap so no cluster straddles it
        rolled = np.roll(np.arange(n), -start)
        bounds = np.zeros(n, dtype=np.int64)
        after_cut = (cuts + 1 - start) % n
        bounds[after_cut[after_cut > 0]] = 1
        lab_sorted[rolled] = np.cumsum(bounds)
    labels = np.empty(n, dtype=np.int64)
    labels[order] = lab_sorted
    k = int(labels.max()) + 1
    rad = np.radians(ang)
    centres = (
        np.degrees(
            np.arctan2(np.bincount(labels, np.sin(rad), k), np.bincount(labels, np.cos(rad), k))
        )
        % 360.0
    )
    rank = np.argsort(np.argsort(centres, kind="stable"), kind="stable")
    return rank[labels], np.sort(centres)


def derive_shells(
    catalog: Catalog,
    *,
    min_sats: int = 30,
    alt_tol_km: float = 10.0,
    inc_tol_deg: float = 0.05,
    raan_gap_deg: float = 1.5,
    min_plane_sats: int = 2,
    max_eccentricity: float = 0.02,
    reference_epoch_utc: Any = None,
) -> list[DerivedShell]:
    """Find shells, their planes and the satellites still raising orbit in real element sets.

    1. Each near-circular satellite (e < ``max_eccentricity``) gets its orbit-mean altitude
       (:func:`mean_altitude_from_kozai`) and inclination.
    2. Shells, densest first: the satellite with most neighbours within ``alt_tol_km`` and
       ``inc_tol_deg`` seeds a shell at its neighbours' median (alt, inc); all remaining
       satellites within the tolerances of that centre join it. Stops when the densest
       group has fewer than ``min_sats``. (A snapshot cannot tell a populated shell from a
       large batch parked mid-raise; both appear as shells.)
    3. Satellites left over that match a shell's inclination and sit more than
       ``alt_tol_km`` below it are reported as raising toward the nearest such shell.
    4. Planes: member RAANs, brought to one reference epoch (default: the median element
       epoch) with SGP4's secular node rate, are clustered *on the circle*, splitting at
       gaps wider than ``raan_gap_deg``. Raising satellites are left out of the planes:
       their node drifts at a different rate than their final plane's.

    For Qianfan, which publishes no shell table, this is how the package describes the
    constellation: the result is derived from observed TLEs, not a published design.
    Returns shells sorted by inclination then altitude.
    """
    if (
        min_sats < 1
        or min_plane_sats < 1
        or alt_tol_km <= 0
        or inc_tol_deg <= 0
        or raan_gap_deg <= 0
    ):
        raise ConfigError("min_sats and the tolerances must be positive", option="derive_shells")
    n = len(catalog)
    if n == 0:
        return []
    alt = (
        mean_altitude_from_kozai(
            catalog.mean_motion_rev_day, catalog.inclination_deg, catalog.eccentricity
        )
        / 1e3
    )
    inc = np.asarray(catalog.inclination_deg, dtype=float)
    usable = (catalog.eccentricity < max_eccentricity) & np.isfinite(alt) & np.isfinite(inc)
    t_ref = (
        _median_epoch(catalog.epoch_utc)
        if reference_epoch_utc is None
        else np.atleast_1d(as_utc(reference_epoch_utc))[0]
    )
    dt_min = (t_ref - catalog.epoch_utc).astype("timedelta64[ns]").astype(np.float64) / 60e9
    nodedot = np.array([s.nodedot for s in catalog.satrecs])  # rad/min, SGP4 secular
    udot = np.array([s.mdot + s.argpdot for s in catalog.satrecs])
    raan = np.mod(catalog.raan_deg + np.degrees(nodedot * dt_min), 360.0)
    arglat = np.mod(
        catalog.arg_perigee_deg + catalog.mean_anomaly_deg + np.degrees(udot * dt_min), 360.0
    )

    remaining = np.flatnonzero(usable)
    seedable = np.ones(n, dtype=bool)
    found: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]] = []
    while remaining.size >= min_sats:
        a, i = alt[remaining], inc[remaining]
        counts = _neighbour_counts(a, i, alt_tol_km, inc_tol_deg)
        counts[~seedable[remaining]] = -1
        best = int(np.argmax(counts))
        if counts[best] < min_sats:
            break
        # Median shift: a seed on the flank of a shell (where the box also catches the
        # raising satellites below) moves to the shell's core.
        c_alt, c_inc = float(a[best]), float(i[best])
        for _ in range(50):
            near = (np.abs(a - c_alt) <= alt_tol_km) & (np.abs(i - c_inc) <= inc_tol_deg)
            new_alt, new_inc = float(np.median(a[near])), float(np.median(i[near]))
            if new_alt == c_alt and new_inc == c_inc:
                break
            c_alt, c_inc = new_alt, new_inc
        take = (np.abs(a - c_alt) <= alt_tol_km) & (np.abs(i - c_inc) <= inc_tol_deg)
        band = remaining[take]
        labels, centres = _planes(raan[band], raan_gap_deg, min_plane_sats)
        if np.count_nonzero(labels >= 0) < min_sats:
            # No plane structure (e.g. satellites decaying one by one through this
            # altitude with scattered nodes): not a shell.
            seedable[band] = False
            continue
        found.append((band, labels, centres))
        remaining = remaining[~take]

    centre = [
        (float(np.median(alt[b[lab >= 0]])), float(np.median(inc[b[lab >= 0]])))
        for b, lab, _ in found
    ]
    raising: list[list[int]] = [[] for _ in found]
    for j in remaining:
        below = [
            (s_alt, k)
            for k, (s_alt, s_inc) in enumerate(centre)
            if abs(inc[j] - s_inc) <= inc_tol_deg and alt[j] < s_alt - alt_tol_km
        ]
        if below:
            raising[min(below)[1]].append(int(j))

    shells = []
    for (band, labels, centres), (s_alt, s_inc), rais in zip(found, centre, raising, strict=True):
        in_plane = labels >= 0
        members, labels = band[in_plane], labels[in_plane]
        order = np.lexsort((arglat[members], labels))
        members, labels = members[order], labels[order]
        per_plane = np.bincount(labels, minlength=centres.size)
        shells.append(
            DerivedShell(
                label=f"derived {s_inc:.2f}deg {s_alt:.0f}km",
                altitude_km=s_alt,
                inclination_deg=s_inc,
                n_planes=int(centres.size),
                sats_per_plane=tuple(int(x) for x in per_plane),
                plane_raan_deg=tuple(float(x) for x in centres),
                member_index=members.astype(np.int64),
                member_plane=labels,
                raising_index=np.array(sorted(rais), dtype=np.int64),
                off_plane_index=np.sort(band[~in_plane]).astype(np.int64),
                reference_epoch_utc=t_ref,
                spec=_equivalent_spec(s_inc, s_alt, centres, per_plane),
            )
        )
    shells.sort(key=lambda s: (s.inclination_deg, s.altitude_km))
    return shells


def _planes(
    raan_deg: FloatArray, gap_deg: float, min_plane_sats: int
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Plane label per satellite (-1: alone in RAAN, off-plane) and plane RAANs."""
    labels, centres = circular_clusters(raan_deg, gap_deg)
    sizes = np.bincount(labels, minlength=centres.size)
    keep = sizes >= min_plane_sats
    new = np.full(centres.size, -1, dtype=np.int64)
    new[keep] = np.arange(int(keep.sum()))
    return new[labels], centres[keep]


def _median_epoch(epochs: npt.NDArray[np.datetime64]) -> np.datetime64:
    ns = np.sort(epochs.astype("datetime64[ns]").astype(np.int64))
    return np.datetime64(int(ns[ns.size // 2]), "ns")


def _equivalent_spec(
    inc: float, alt_km: float, centres: FloatArray, per_plane: npt.NDArray[np.int64]
) -> WalkerSpec:
    p = int(centres.size)
    s = int(per_plane.max())
    # Planes that fit in a half circle (largest gap between neighbours >= 180 deg) are
    # modelled as a star pattern; plane 0 is the one after the largest gap.
    gaps = np.diff(np.r_[centres, centres[0] + 360.0])
    k = int(np.argmax(gaps))
    raan0 = float(centres[(k + 1) % p])
    kind = "star" if p >= 3 and gaps[k] >= 180.0 else "delta"
    return WalkerSpec(
        inclination_deg=round(inc, 4),
        total=p * s,
        planes=p,
        phasing=best_phasing(round(inc, 4), p * s, p, kind),
        altitude_m=alt_km * 1e3,
        kind=kind,
        raan0_deg=raan0,
    )
