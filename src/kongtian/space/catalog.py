"""Satellite catalogs: mean elements read from TLE or OMM, kept as one array-friendly type.

A :class:`Catalog` holds N element sets as structure-of-arrays (names, NORAD ids,
epochs, Brouwer mean elements in SGP4's conventions) plus the initialised
``sgp4.api.Satrec`` objects the propagator uses. Element sets come from

- TLE text (2- or 3-line; checksums verified unless ``strict=False``),
- OMM in CCSDS XML, JSON or CSV as CelesTrak serves them,
- :func:`Catalog.from_elements` (Walker designs, tests).

Angles are stored in degrees and mean motion in rev/day at this edge because that is
what the formats carry; the propagator converts once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sgp4.api import WGS72, Satrec, SatrecArray

from kongtian.errors import ConfigError, FormatError
from kongtian.geo.time import as_utc

_SGP4_EPOCH_JD = 2433281.5  # 1949-12-31 00:00 UT, SGP4's epoch origin for sgp4init
_UNIX_JD = 2440587.5
_SGP4_EPOCH = np.datetime64("1949-12-31T00:00:00", "ns")
_DAY_NS = 86_400 * 10**9
_MAX_SATNUM = 339_999  # Alpha-5 'Z9999': the largest number a Satrec can carry


@dataclass
class Catalog:
    """N satellites' mean element sets (SGP4 / WGS72 conventions).

    Arrays all have length N. ``epoch_utc`` is ``datetime64[ns]``; angles in degrees;
    ``mean_motion_rev_day`` in rev/day; ``bstar_per_earth_radii`` in 1/Earth radii;
    ``group`` is a free label (file stem, shell name) used by :meth:`select`.
    """

    name: npt.NDArray[np.str_]
    norad_id: npt.NDArray[np.int64]
    epoch_utc: npt.NDArray[np.datetime64]
    inclination_deg: npt.NDArray[np.float64]
    raan_deg: npt.NDArray[np.float64]
    eccentricity: npt.NDArray[np.float64]
    arg_perigee_deg: npt.NDArray[np.float64]
    mean_anomaly_deg: npt.NDArray[np.float64]
    mean_motion_rev_day: npt.NDArray[np.float64]
    bstar_per_earth_radii: npt.NDArray[np.float64]
    ndot_rev_day2: npt.NDArray[np.float64]
    nddot_rev_day3: npt.NDArray[np.float64]
    intl_designator: npt.NDArray[np.str_]
    classification: npt.NDArray[np.str_]
    element_set_no: npt.NDArray[np.int64]
    rev_at_epoch: npt.NDArray[np.int64]
    group: npt.NDArray[np.str_]
    satrecs: list[Satrec] = field(repr=False, default_factory=list)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # Satrec objects do not pickle; their sgp4init arguments do, and rebuild them
        # bit for bit (worker processes, Dask).
        state = {f: getattr(self, f) for f in _ARRAY_FIELDS}
        state["satrecs"] = [satrec_state(s) for s in self.satrecs]
        state["satrec_meta"] = [_satrec_meta(s) for s in self.satrecs]
        state["satrec_epoch"] = [_sgp4init_epoch(s) for s in self.satrecs]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for f in _ARRAY_FIELDS:
            setattr(self, f, state[f])
        epochs = state.get("satrec_epoch") or [None] * len(state["satrecs"])
        self.satrecs = [
            satrec_from_state(x, e) for x, e in zip(state["satrecs"], epochs, strict=True)
        ]
        for s, meta in zip(self.satrecs, state.get("satrec_meta", ()), strict=False):
            _set_satrec_meta(s, meta)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.norad_id.size)

    def __repr__(self) -> str:
        groups = ", ".join(sorted(set(self.group.tolist()))[:4])
        if len(self) == 0:
            return "Catalog(0 satellites)"
        return (
            f"Catalog({len(self)} satellites, groups: {groups}, epochs "
            f"{np.datetime_as_string(self.epoch_utc.min(), 's')}Z.."
            f"{np.datetime_as_string(self.epoch_utc.max(), 's')}Z)"
        )

    def __getitem__(self, idx: Any) -> Catalog:
        """Subset by index array, slice or boolean mask; returns a new catalog."""
        ii = np.arange(len(self))[idx]
        ii = np.atleast_1d(ii)
        kw = {f: getattr(self, f)[ii] for f in _ARRAY_FIELDS}
        return Catalog(**kw, satrecs=[self.satrecs[i] for i in ii])

    def select(
        self,
        *,
        name: str | None = None,
        norad_id: Iterable[int] | int | None = None,
        group: str | None = None,
    ) -> Catalog:
        """Satellites matching every given criterion, in catalog order.

        ``name``: case-insensitive; a pattern with ``*``, ``?`` or ``[...]`` must match
        the whole name (``"STARLINK-1*"``), anything else matches as a substring.
        ``norad_id``: one id or any iterable of ids. ``group``: exact label, or a
        wildcard pattern as for ``name`` (case-sensitive).
        """
        import fnmatch

        keep = np.ones(len(self), dtype=bool)
        if name is not None:
            pat = name.upper() if any(c in name for c in "*?[") else f"*{name.upper()}*"
            keep &= np.array([fnmatch.fnmatchcase(n.upper(), pat) for n in self.name], bool)
        if norad_id is not None:
            if isinstance(norad_id, Iterable) and not isinstance(norad_id, (str, bytes)):
                ids = np.asarray(list(norad_id), dtype=np.int64)
            else:
                ids = np.asarray([norad_id], dtype=np.int64)
            keep &= np.isin(self.norad_id, ids)
        if group is not None:
            if any(c in group for c in "*?["):
                keep &= np.array([fnmatch.fnmatchcase(g, group) for g in self.group], bool)
            else:
                keep &= self.group == group
        return self[keep]

    @staticmethod
    def concat(parts: Sequence[Catalog]) -> Catalog:
        """One catalog holding ``parts`` in order (no de-duplication of NORAD ids)."""
        if len(parts) == 0:
            return _empty_catalog()
        kw = {f: np.concatenate([getattr(p, f) for p in parts]) for f in _ARRAY_FIELDS}
        return Catalog(**kw, satrecs=[s for p in parts for s in p.satrecs])

    @property
    def semi_major_axis_m(self) -> npt.NDArray[np.float64]:
        """Semi-major axis from the Kozai mean motion with WGS72 GM (m)."""
        n_rad_s = self.mean_motion_rev_day * 2 * np.pi / 86400.0
        return np.asarray((398600.8e9 / n_rad_s**2) ** (1.0 / 3.0))

    @property
    def mean_altitude_m(self) -> npt.NDArray[np.float64]:
        """Semi-major axis minus the WGS72 equatorial radius (m): a rough shell altitude."""
        return self.semi_major_axis_m - 6_378_135.0

    # ------------------------------------------------------------ construction
    @classmethod
    def from_elements(
        cls,
        *,
        epoch_utc: Any,
        inclination_deg: Any,
        raan_deg: Any,
        eccentricity: Any,
        arg_perigee_deg: Any,
        mean_anomaly_deg: Any,
        mean_motion_rev_day: Any,
        bstar_per_earth_radii: Any = 0.0,
        ndot_rev_day2: Any = 0.0,
        nddot_rev_day3: Any = 0.0,
        norad_id: Any = None,
        name: Any = None,
        group: str | Any = "",
        intl_designator: Any = "",
    ) -> Catalog:
        """Build a catalog from element arrays, all broadcast to a common length N.

        Every argument (elements, epoch, ids, names, labels) may be a scalar or a
        length-N array. NORAD ids default to 1..N and names to ``SAT-<id>``.
        """
        elems = [
            np.atleast_1d(np.asarray(a, float))
            for a in (
                inclination_deg, raan_deg, eccentricity, arg_perigee_deg, mean_anomaly_deg,
                mean_motion_rev_day, bstar_per_earth_radii, ndot_rev_day2, nddot_rev_day3,
            )
        ]  # fmt: skip
        epoch_in = np.atleast_1d(as_utc(epoch_utc))
        others = [np.shape(x) for x in (norad_id, name, intl_designator, group) if x is not None]
        shape = np.broadcast_shapes(*(a.shape for a in elems), epoch_in.shape, *others)
        if len(shape) != 1:
            raise ConfigError(
                f"elements must be scalars or 1-D, got shape {shape}", option="elements"
            )
        n = shape[0]
        arrs = [np.broadcast_to(a, (n,)).copy() for a in elems]
        epoch = np.broadcast_to(epoch_in, (n,)).copy()
        ids = np.arange(1, n + 1) if norad_id is None else np.broadcast_to(norad_id, (n,))
        names = np.array([f"SAT-{i}" for i in ids]) if name is None else np.broadcast_to(name, (n,))
        cat = cls(
            name=np.asarray(names, dtype=str),
            norad_id=np.asarray(ids, dtype=np.int64),
            epoch_utc=epoch,
            inclination_deg=arrs[0], raan_deg=arrs[1], eccentricity=arrs[2],
            arg_perigee_deg=arrs[3], mean_anomaly_deg=arrs[4], mean_motion_rev_day=arrs[5],
            bstar_per_earth_radii=arrs[6], ndot_rev_day2=arrs[7], nddot_rev_day3=arrs[8],
            intl_designator=np.broadcast_to(np.asarray(intl_designator, dtype=str), (n,)).copy(),
            classification=np.full(n, "U"),
            element_set_no=np.full(n, 999, dtype=np.int64),
            rev_at_epoch=np.zeros(n, dtype=np.int64),
            group=np.broadcast_to(np.asarray(group, dtype=str), (n,)).copy(),
        )  # fmt: skip
        cat.satrecs = [cat._init_satrec(i) for i in range(n)]
        return cat

    def _init_satrec(self, i: int) -> Satrec:
        """sgp4init from the stored elements (angles to radians, rev/day to rad/min)."""
        # Days since SGP4's 1949-12-31 origin from integer nanoseconds, whole days and
        # fraction apart (~2e-12 day) rather than via a ~2.4e6 Julian date (~4e-10 day).
        # An epoch on the 1e-8 day grid of a TLE then gets twoline2rv's split date, and
        # the unit conversions below are twoline2rv's, so a TLE rebuilt from its own
        # elements propagates like the TLE.
        ns = int((self.epoch_utc[i].astype("datetime64[ns]") - _SGP4_EPOCH).astype(np.int64))
        whole, rem = divmod(ns, _DAY_NS)
        ep_days = whole + rem / 86_400e9
        xpdotp = 1440.0 / (2.0 * math.pi)  # rev/day per rad/min
        norad = int(self.norad_id[i])
        s = Satrec()
        s.sgp4init(
            WGS72, "i", norad if 0 <= norad <= _MAX_SATNUM else 0,
            ep_days,
            float(self.bstar_per_earth_radii[i]),
            float(self.ndot_rev_day2[i]) / (xpdotp * 1440.0),
            float(self.nddot_rev_day3[i]) / (xpdotp * 1440.0 * 1440.0),
            float(self.eccentricity[i]),
            math.radians(self.arg_perigee_deg[i]),
            math.radians(self.inclination_deg[i]),
            math.radians(self.mean_anomaly_deg[i]),
            float(self.mean_motion_rev_day[i]) / xpdotp,
            math.radians(self.raan_deg[i]),
        )  # fmt: skip
        return s


def satrec_state(s: Satrec) -> tuple[Any, ...]:
    """The sgp4init arguments and split epoch that rebuild ``s`` exactly."""
    return (
        s.satnum, s.jdsatepoch, s.jdsatepochF, s.bstar, s.ndot, s.nddot, s.ecco,
        s.argpo, s.inclo, s.mo, s.no_kozai, s.nodeo, s.operationmode,
    )  # fmt: skip


def satrec_from_state(st: tuple[Any, ...], epoch_days: float | None = None) -> Satrec:
    """Rebuild a ``Satrec`` from :func:`satrec_state`.

    ``epoch_days`` is the sgp4init epoch (days since 1949-12-31); by default
    ``(jd + jf) - 2433281.5``, the value ``twoline2rv`` uses, so TLE-born records come
    back bit for bit. Other origins (OMM, :meth:`Catalog.from_elements`) may have used
    an epoch a few ulps away, which only deep-space terms notice; pickling a
    :class:`Catalog` finds and stores the exact value for those (see
    :func:`_sgp4init_epoch`).
    """
    satnum, jd, jf, bstar, ndot, nddot, ecco, argpo, inclo, mo, no, nodeo, opsmode = st
    epoch = jd + jf - _SGP4_EPOCH_JD if epoch_days is None else epoch_days
    s = Satrec()
    s.sgp4init(WGS72, opsmode, satnum, epoch, bstar, ndot, nddot, ecco,
               argpo, inclo, mo, no, nodeo)  # fmt: skip
    s.jdsatepoch, s.jdsatepochF = jd, jf
    return s


_PROBE_MIN = (0.0, 14_933.0, -4_464.0, 144_432.0)  # tsince probes: 0, ~10 d, -3 d, ~100 d


def _sgp4init_epoch(s: Satrec) -> float | None:
    """The sgp4init epoch that rebuilds ``s`` bit for bit (None: the default does).

    A Satrec does not keep the epoch it was initialised with, only its split Julian
    date; the candidates are the ways twoline2rv, sgp4.omm and we form that epoch. For
    near-Earth records the one reproducing ``gsto`` wins; for deep-space ones (whose
    lunar-solar terms also read the epoch) the one that also propagates identically
    at a few probe times.
    """
    import decimal

    st = satrec_state(s)
    jd, jf = s.jdsatepoch, s.jdsatepochF
    whole = jd - _SGP4_EPOCH_JD
    fine = whole + jf
    cands = [
        jd + jf - _SGP4_EPOCH_JD,  # twoline2rv
        float(decimal.Decimal(int(whole)) + decimal.Decimal(f"{jf:.8f}")),  # 8-decimal epochs
        fine,
        float(np.nextafter(fine, -np.inf)),
        float(np.nextafter(fine, np.inf)),
    ]
    if s.method != "d":
        # Near-Earth SGP4 keeps only gsto = gstime(epoch + 2433281.5) from the epoch;
        # python-sgp4's Python gstime pre-screens, sgp4init confirms.
        from sgp4.propagation import gstime

        for k, e in enumerate(cands):
            if gstime(e + _SGP4_EPOCH_JD) == s.gsto:
                if k == 0:
                    return None
                if satrec_from_state(st, e).gsto == s.gsto:
                    return e
        return None
    # SatrecArray propagates a copy, leaving s (its error code, resonance integrator
    # state) untouched.
    jd = np.full(len(_PROBE_MIN), s.jdsatepoch)
    fr = s.jdsatepochF + np.asarray(_PROBE_MIN) / 1440.0
    want = SatrecArray([s]).sgp4(jd, fr)
    for k, e in enumerate(cands):
        r = satrec_from_state(st, e)
        got = SatrecArray([r]).sgp4(jd, fr)
        if r.gsto == s.gsto and all(
            np.array_equal(a, b, equal_nan=True) for a, b in zip(got, want, strict=True)
        ):
            return None if k == 0 else e
    return None


_META = ("classification", "intldesg", "ephtype", "elnum", "revnum", "epochyr", "epochdays")


def _satrec_meta(s: Satrec) -> tuple[Any, ...]:
    # Descriptive fields sgp4init does not set (or sets from the rebuilt epoch).
    return tuple(getattr(s, a) for a in _META)


def _set_satrec_meta(s: Satrec, meta: tuple[Any, ...]) -> None:
    for a, v in zip(_META, meta, strict=True):
        setattr(s, a, v)


_ARRAY_FIELDS = (
    "name", "norad_id", "epoch_utc", "inclination_deg", "raan_deg", "eccentricity",
    "arg_perigee_deg", "mean_anomaly_deg", "mean_motion_rev_day", "bstar_per_earth_radii",
    "ndot_rev_day2", "nddot_rev_day3", "intl_designator", "classification",
    "element_set_no", "rev_at_epoch", "group",
)  # fmt: skip


def _empty_catalog() -> Catalog:
    f = np.zeros(0, dtype=float)
    i = np.zeros(0, dtype=np.int64)
    u = np.zeros(0, dtype=str)
    return Catalog(
        name=u, norad_id=i, epoch_utc=np.zeros(0, dtype="datetime64[ns]"),
        inclination_deg=f, raan_deg=f.copy(), eccentricity=f.copy(), arg_perigee_deg=f.copy(),
        mean_anomaly_deg=f.copy(), mean_motion_rev_day=f.copy(), bstar_per_earth_radii=f.copy(),
        ndot_rev_day2=f.copy(), nddot_rev_day3=f.copy(), intl_designator=u.copy(),
        classification=u.copy(), element_set_no=i.copy(), rev_at_epoch=i.copy(), group=u.copy(),
    )  # fmt: skip


def load_catalog(path: str | Path, *, strict: bool = True, group: str | None = None) -> Catalog:
    """Read a TLE or OMM (XML/JSON/CSV/KVN) file, detecting the format from its content.

    ``strict`` applies to TLE (see :mod:`kongtian.space.tle`); ``group`` defaults to
    the file stem. Raises :class:`FormatError` naming ``file:line``.
    """
    from kongtian.space import tle as _tle

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FormatError("no such file", path=str(p)) from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"not a text file ({exc.reason})", path=str(p)) from None
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=str(p)) from None
    grp = group if group is not None else p.stem
    from kongtian.space import omm as _omm

    # OMM starts with '[', '{', '<', a CSV header naming OMM keywords, or
    # 'CCSDS_OMM_VERS ='; TLE text never does.
    if _omm.detect_format(text) is not None:
        return _omm.parse_omm(text, path=str(p), group=grp)
    return _tle.parse_tle(text, path=str(p), strict=strict, group=grp)


_TLE_SUFFIXES = {".tle": True, ".txt": True, ".3le": True, ".2le": False}
_OMM_SUFFIXES = {".json": "json", ".xml": "xml", ".csv": "csv", ".kvn": "kvn"}


def save_catalog(cat: Catalog, path: str | Path) -> Path:
    """Write ``cat`` in the format its extension names; returns the path written.

    ``.tle``, ``.txt``, ``.3le``: 3-line TLE; ``.2le``: 2-line TLE; ``.json``, ``.xml``,
    ``.csv``, ``.kvn``: OMM as CelesTrak serves it. Any other extension raises
    :class:`ConfigError` naming the path.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext in _TLE_SUFFIXES:
        from kongtian.space.tle import format_tle

        text = format_tle(cat, three_line=_TLE_SUFFIXES[ext])
    elif ext in _OMM_SUFFIXES:
        from kongtian.space.omm import format_omm

        text = format_omm(cat, _OMM_SUFFIXES[ext])  # type: ignore[arg-type]
    else:
        known = ", ".join(sorted([*_TLE_SUFFIXES, *_OMM_SUFFIXES]))
        raise ConfigError(
            f"cannot tell the catalog format of {str(p)!r} from its extension (use {known})",
            option="path",
        )
    with p.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return p
