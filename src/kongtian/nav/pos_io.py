"""Position-solution files: RTKLIB-compatible ``.pos`` (write and read), CSV, GeoJSON.

``.pos`` follows the layout of RTKLIB's ``rnx2rtkp``/``rtkpost`` solution files with
ECEF output (``out-solformat=xyz``), so the same tools (``rtkplot``, ``pos2kml``, our
:func:`read_pos`) read both: ``%``-prefixed header lines, then one line per epoch::

    2020/06/25 00:00:00.000   3582103.9970    532589.7469   5232754.8294   5   7 \
  3.1953   2.4538   6.1677   1.7793   2.5659   3.6339   0.00    0.0

time (GPST), x/y/z (m), Q (1 fix, 2 float, 4 DGNSS, 5 single, ...), number of
satellites, standard deviations sdx/sdy/sdz (m) and the signed square roots of the
covariances xy/yz/zx (m, ``sign(c) sqrt(|c|)``), age of differential (s) and AR ratio.

Every writer takes an :class:`~kongtian.nav.spp.SppSolution` (valid epochs, Q = 5, age
and ratio 0) or an :class:`~kongtian.nav.rtk.RtkSolution` (each epoch with its own Q
1/2/4, satellites, covariance, age and ratio; the header carries the solution's notes,
among them ``% ref pos   :`` with the base position, as RTKLIB writes it). Our epoch
time is the rover's receiver time tag; RTKLIB stamps the receiver-clock-corrected time,
so the two differ by the receiver's clock steering (milliseconds): match epochs to the
nearest, not exactly.

:func:`read_pos` also reads RTKLIB's geodetic layout (``latitude(deg) longitude(deg)
height(m)``, degrees as decimals) and ``week tow`` time columns, and converts UTC-time
files to GPST. Positions are returned ECEF (WGS 84).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from kongtian.errors import FormatError
from kongtian.geo.frames import ecef_to_geodetic, enu_matrix, geodetic_to_ecef
from kongtian.nav import gnss_time

if TYPE_CHECKING:
    from typing import TypeAlias

    from kongtian.nav.rtk import RtkSolution
    from kongtian.nav.spp import SppSolution

    Solution: TypeAlias = SppSolution | RtkSolution

F64 = npt.NDArray[np.float64]

__all__ = ["PosFile", "read_pos", "write_csv", "write_geojson", "write_pos", "write_solution"]

Q_SINGLE = 5


@dataclass
class PosFile:
    """Content of a ``.pos`` file: GPST epochs, ECEF positions (m), quality, counts.

    ``sd_m`` columns: sdx, sdy, sdz, sdxy, sdyz, sdzx as written (signed roots for the
    covariances; for geodetic files sdn, sde, sdu, sdne, sdeu, sdun). ``age_s`` (age of
    differential, s) and ``ratio`` (AR ratio) are NaN where a file lacks the columns.
    """

    time_gpst: npt.NDArray[np.datetime64]
    pos_ecef_m: F64
    q: npt.NDArray[np.int64]
    ns: npt.NDArray[np.int64]
    sd_m: F64
    header: list[str] = field(default_factory=list)
    path: str = ""
    age_s: F64 = field(default_factory=lambda: np.zeros(0))
    ratio: F64 = field(default_factory=lambda: np.zeros(0))

    def fix_rate(self) -> float:
        """Fraction of the epochs with Q = 1 (fixed)."""
        return float(np.mean(self.q == 1)) if len(self.q) else 0.0


def _signed_sqrt(c: F64) -> F64:
    return np.sign(c) * np.sqrt(np.abs(c))


def _time_strings(t: npt.NDArray[np.datetime64]) -> list[str]:
    ms = np.round(t.astype("datetime64[ns]").astype(np.int64) / 1e6).astype(np.int64)
    tt = ms.astype("datetime64[ms]")
    iso = np.datetime_as_string(tt, unit="ms")
    return [s[:10].replace("-", "/") + " " + s[11:] for s in iso.tolist()]


@dataclass(frozen=True)
class _Rows:
    """The epochs to write, from either solution type (valid epochs only)."""

    time_gpst: npt.NDArray[np.datetime64]
    pos_ecef_m: F64
    q: npt.NDArray[np.int64]
    ns: npt.NDArray[np.int64]
    cov_m2: F64
    age_s: F64
    ratio: F64
    notes: list[str]


def _is_rtk(sol: Solution) -> bool:
    return hasattr(sol, "quality")


def _rows(sol: Solution, q: int | None = None) -> _Rows:
    if _is_rtk(sol):
        r = cast("RtkSolution", sol)
        nt = len(r.time_gpst)
        age = r.age_s if len(r.age_s) == nt else np.zeros(nt)
        qq = r.quality.astype(np.int64) if q is None else np.full(nt, q, dtype=np.int64)
        return _Rows(r.time_gpst, r.pos_ecef_m, qq, r.n_sats.astype(np.int64), r.cov_m2,
                     np.asarray(age, dtype=np.float64), r.ratio, list(r.notes))  # fmt: skip
    s = cast("SppSolution", sol)
    idx = np.flatnonzero(s.valid)
    n = len(idx)
    return _Rows(s.time_gpst[idx], s.pos_ecef_m[idx],
                 np.full(n, Q_SINGLE if q is None else q, dtype=np.int64),
                 s.n_used[idx].astype(np.int64), s.cov_ecef_m2[idx], np.zeros(n), np.zeros(n),
                 list(s.notes))  # fmt: skip


def _header_lines(rows: _Rows, inputs: Sequence[str], program: str) -> list[str]:
    t = rows.time_gpst
    lines = [f"% program   : {program}"]
    lines += [f"% inp file  : {p}" for p in inputs]
    if t.size:
        for tag, ti in (("obs start", t[0]), ("obs end  ", t[-1])):
            week, sow = gnss_time.week_sow(ti, "GPST")
            stamp = _time_strings(np.array([ti]))[0][:-2]
            lines.append(f"% {tag} : {stamp} GPST (week{int(week)} {float(sow):.1f}s)")
    lines += [f"% {n}" for n in rows.notes]
    lines.append("%")
    return lines


def write_pos(
    path: str | os.PathLike[str],
    sol: Solution,
    *,
    inputs: Sequence[str] = (),
    program: str | None = None,
    q: int | None = None,
) -> int:
    """Write ``sol`` as an RTKLIB ``.pos`` (ECEF); returns the number of epochs written.

    ``sol`` is an :class:`~kongtian.nav.spp.SppSolution` (its valid epochs, quality 5
    unless ``q`` says otherwise, age and ratio 0) or an
    :class:`~kongtian.nav.rtk.RtkSolution` (every epoch, its own quality 1/2/4, number of
    satellites, covariance, age of differential and AR ratio). The solution's notes
    (mask, mode, signals, ``ref pos`` of the base) go into the ``%`` header.
    """
    rows = _rows(sol, q)
    if program is None:
        program = "kongtian nav solve" if _is_rtk(sol) else "kongtian nav spp"
    lines = _header_lines(rows, inputs, program)
    lines.append(
        "% (x/y/z-ecef=WGS84,Q=1:fix,2:float,3:sbas,4:dgps,5:single,6:ppp,ns=# of satellites)"
    )
    lines.append(
        "%  GPST                      x-ecef(m)      y-ecef(m)      z-ecef(m)   Q  ns"
        "   sdx(m)   sdy(m)   sdz(m)  sdxy(m)  sdyz(m)  sdzx(m) age(s)  ratio"
    )
    ts = _time_strings(rows.time_gpst)
    cov = rows.cov_m2
    sd = np.sqrt(np.abs(np.stack([cov[:, 0, 0], cov[:, 1, 1], cov[:, 2, 2]], axis=1)))
    cr = _signed_sqrt(np.stack([cov[:, 0, 1], cov[:, 1, 2], cov[:, 2, 0]], axis=1))
    p = rows.pos_ecef_m
    for k in range(len(ts)):
        lines.append(
            f"{ts[k]} {p[k, 0]:14.4f} {p[k, 1]:14.4f} {p[k, 2]:14.4f} {int(rows.q[k]):3d} "
            f"{int(rows.ns[k]):3d} {sd[k, 0]:8.4f} {sd[k, 1]:8.4f} {sd[k, 2]:8.4f} "
            f"{cr[k, 0]:8.4f} {cr[k, 1]:8.4f} {cr[k, 2]:8.4f} {rows.age_s[k]:6.2f} "
            f"{min(float(rows.ratio[k]), 999.9):6.1f}"
        )
    with open(path, "w", encoding="ascii") as fh:
        fh.write("\n".join(lines) + "\n")
    return len(ts)


def read_pos(path: str | os.PathLike[str]) -> PosFile:
    """Read an RTKLIB ``.pos`` solution file (ECEF or geodetic, calendar or week/tow time)."""
    spath = str(path)
    header: list[str] = []
    times: list[Any] = []
    rows: list[list[float]] = []
    geodetic = False
    scale = "GPST"
    with open(spath, encoding="ascii", errors="replace") as fh:
        for no, line in enumerate(fh, start=1):
            s = line.rstrip("\n")
            if not s.strip():
                continue
            if s.startswith("%"):
                header.append(s)
                if "latitude(" in s:
                    geodetic = True
                if s.startswith("%  UTC") or s.startswith("% UTC"):
                    scale = "UTC"
                continue
            f = s.split()
            try:
                t: Any
                if "/" in f[0]:
                    t = np.datetime64(f[0].replace("/", "-") + "T" + f[1], "ns")
                else:
                    t = gnss_time.from_week_sow(int(f[0]), float(f[1]), "GPST")[()]
                vals = [float(v) for v in f[2:]]
            except (ValueError, IndexError) as exc:
                raise FormatError(f"bad solution line ({exc})", path=spath, line=no) from None
            if len(vals) < 5:
                raise FormatError(
                    "solution line has fewer than 5 fields after the time", path=spath, line=no
                )
            times.append(t)
            rows.append((vals + [np.nan] * 13)[:13])
    arr = np.array(rows, dtype=np.float64).reshape(-1, 13)
    tg = np.array(times, dtype="datetime64[ns]")
    if scale == "UTC":
        tg = gnss_time.to_gpst(tg, "UTC")
    xyz = arr[:, :3]
    if geodetic:
        xyz = geodetic_to_ecef(np.radians(arr[:, 0]), np.radians(arr[:, 1]), arr[:, 2])
    return PosFile(
        time_gpst=tg, pos_ecef_m=xyz, q=arr[:, 3].astype(np.int64), ns=arr[:, 4].astype(np.int64),
        sd_m=arr[:, 5:11], header=header, path=spath, age_s=arr[:, 11], ratio=arr[:, 12],
    )  # fmt: skip


def _records(sol: Solution) -> tuple[npt.NDArray[np.int64], F64, F64, F64]:
    """Indices of the epochs to write, with their geodetic latitude/longitude (deg), h (m)."""
    if _is_rtk(sol):
        idx = np.arange(len(sol.time_gpst))
    else:
        idx = np.flatnonzero(cast("SppSolution", sol).valid)
    p = sol.pos_ecef_m[idx]
    lat, lon, h = ecef_to_geodetic(p)
    return idx, np.degrees(lat), np.degrees(lon), h


def _enu_sd(cov_ecef: F64, lat_deg: F64, lon_deg: F64) -> F64:
    """Standard deviations east/north/up (m) of ECEF covariances (T, 3, 3)."""
    out = np.empty((len(cov_ecef), 3))
    for k in range(len(cov_ecef)):
        r = enu_matrix(np.radians(lat_deg[k]), np.radians(lon_deg[k]))
        out[k] = np.sqrt(np.abs(np.diag(r @ cov_ecef[k] @ r.T)))
    return out


def write_csv(path: str | os.PathLike[str], sol: Solution) -> int:
    """CSV with a ``#`` comment header (the model notes); one row per written epoch.

    SPP: positions, velocities, DOPs and receiver clocks; RTK: positions, quality ``q``
    (1 fix, 2 float, 4 DGNSS), satellites, ECEF and ENU standard deviations, age of
    differential, AR ratio and the number of fixed ambiguities.
    """
    if _is_rtk(sol):
        return _write_csv_rtk(path, cast("RtkSolution", sol))
    sol = cast("SppSolution", sol)
    idx, lat, lon, h = _records(sol)
    systems = list(sol.clock_m)
    cols = ["time_gpst", "x_m", "y_m", "z_m", "lat_deg", "lon_deg", "height_m",
            "vx_m_s", "vy_m_s", "vz_m_s", "n_sat", "sdx_m", "sdy_m", "sdz_m",
            "gdop", "pdop", "hdop", "vdop"] + [f"clock_{g}_m" for g in systems]  # fmt: skip
    ts = np.datetime_as_string(sol.time_gpst[idx], unit="ms")
    out = [f"# {n}" for n in sol.notes] + [",".join(cols)]
    for k, i in enumerate(idx):
        p, v = sol.pos_ecef_m[i], sol.vel_ecef_m_s[i]
        sd = np.sqrt(np.abs(np.diag(sol.cov_ecef_m2[i])))
        vals: list[Any] = [ts[k], *(f"{c:.4f}" for c in p), f"{lat[k]:.9f}", f"{lon[k]:.9f}",
                           f"{h[k]:.4f}", *(f"{c:.4f}" for c in v), int(sol.n_used[i]),
                           *(f"{c:.4f}" for c in sd), *(f"{c:.3f}" for c in sol.dop[i]),
                           *(f"{sol.clock_m[g][i]:.4f}" for g in systems)]  # fmt: skip
        out.append(",".join(str(x) for x in vals))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    return len(idx)


def _write_csv_rtk(path: str | os.PathLike[str], sol: RtkSolution) -> int:
    idx, lat, lon, h = _records(sol)
    rows = _rows(sol)
    cols = ["time_gpst", "x_m", "y_m", "z_m", "lat_deg", "lon_deg", "height_m", "q", "n_sat",
            "sdx_m", "sdy_m", "sdz_m", "sde_m", "sdn_m", "sdu_m", "age_s", "ratio",
            "n_fixed"]  # fmt: skip
    ts = np.datetime_as_string(sol.time_gpst, unit="ms")
    sd_enu = _enu_sd(sol.cov_m2, lat, lon)
    out = [f"# {n}" for n in sol.notes] + [",".join(cols)]
    for k in idx:
        p = sol.pos_ecef_m[k]
        sd = np.sqrt(np.abs(np.diag(sol.cov_m2[k])))
        vals: list[Any] = [ts[k], *(f"{c:.4f}" for c in p), f"{lat[k]:.9f}", f"{lon[k]:.9f}",
                           f"{h[k]:.4f}", int(rows.q[k]), int(rows.ns[k]),
                           *(f"{c:.4f}" for c in sd), *(f"{c:.4f}" for c in sd_enu[k]),
                           f"{rows.age_s[k]:.2f}", f"{rows.ratio[k]:.1f}",
                           int(sol.n_fixed[k])]  # fmt: skip
        out.append(",".join(str(x) for x in vals))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    return len(idx)


def write_geojson(path: str | os.PathLike[str], sol: Solution) -> int:
    """GeoJSON FeatureCollection of Points (lon, lat, ellipsoidal height; WGS 84).

    Properties per point: ``time_gpst``, ``q`` (RTKLIB quality), ``n_sat``; SPP adds
    ``hdop``/``vdop``, RTK ``ratio``, ``age_s`` and ``n_fixed``.
    """
    idx, lat, lon, h = _records(sol)
    rows = _rows(sol)
    rtk = _is_rtk(sol)
    ts = np.datetime_as_string(sol.time_gpst[idx], unit="ms")
    feats = []
    for k, i in enumerate(idx):
        props: dict[str, Any] = {"time_gpst": str(ts[k]), "q": int(rows.q[k]),
                                 "n_sat": int(rows.ns[k])}  # fmt: skip
        if rtk:
            r = cast("RtkSolution", sol)
            props.update(ratio=round(float(rows.ratio[k]), 1),
                         age_s=round(float(rows.age_s[k]), 2), n_fixed=int(r.n_fixed[i]))  # fmt: skip
        else:
            s = cast("SppSolution", sol)
            props.update(hdop=round(float(s.dop[i, 2]), 3), vdop=round(float(s.dop[i, 3]), 3))
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point",
                         "coordinates": [round(float(lon[k]), 9), round(float(lat[k]), 9),
                                         round(float(h[k]), 4)]},
            "properties": props,
        })  # fmt: skip
    doc = {"type": "FeatureCollection", "features": feats,
           "properties": {"notes": rows.notes, "time_scale": "GPST"}}  # fmt: skip
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    return len(idx)


def write_solution(
    path: str | os.PathLike[str], sol: Solution, *, inputs: Sequence[str] = ()
) -> int:
    """Write by extension: ``.pos`` (RTKLIB), ``.csv``, ``.geojson``/``.json``."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".csv":
        return write_csv(path, sol)
    if ext in (".geojson", ".json"):
        return write_geojson(path, sol)
    return write_pos(path, sol, inputs=inputs)
