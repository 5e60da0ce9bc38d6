"""RINEX observation files (2.10-2.12, 3.00-3.05, 4.0x) into an ``xarray.Dataset``.

:func:`read_obs` returns :class:`ObsData`: the parsed header and a dataset with dims
``("time", "sv")``:

- coordinate ``time``: ``datetime64[ns]`` epochs as printed, i.e. in the file's time
  system (``attrs["time_scale"]``: ``GPST`` for "GPS", ``UTC`` for "GLO", ``GST``,
  ``BDT``, ...); ``sv``: "G05", "C01" ... (zero-padded, sorted);
  ``epoch_flag(time)`` (int8: 0 OK, 1 power failure before the epoch).
- one float64 variable per observation code, normalised to RINEX 3.03+ codes
  (:mod:`kongtian.nav.signals`): pseudoranges in m, phases in cycles, Doppler in Hz,
  signal strength as printed (dB-Hz in RINEX 3). NaN where absent.
- for phase codes, ``<code>_lli`` and ``<code>_ssi`` (int8; -1 where the digit is blank).

Speed: the body is read as one ``bytes`` object; epoch lines are found by a cheap
per-line scan, the observation lines are padded to one width and stacked into a
``uint8`` matrix, and the 14.3 numeric fields are decoded with integer arithmetic on the
digit columns (exact: the decoded integer has at most 13 digits and one float division by
1000 is correctly rounded, so values equal ``float(text)``). Fields that are not plain
``F14.3`` fall back to NumPy's string-to-float conversion.

Epochs with flags 2-5 (events: header lines follow) are skipped with their records;
flag 6 (cycle-slip records) likewise. Malformed input raises
:class:`~kongtian.errors.FormatError` with the file and line number.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from kongtian.errors import FormatError
from kongtian.nav.rinex_io import fixed_floats, read_rinex_bytes, sniff_version
from kongtian.nav.signals import normalise_codes

__all__ = ["ObsData", "ObsHeader", "read_obs"]

_TIME_SCALES = {"GPS": "GPST", "GLO": "UTC", "GAL": "GST", "BDT": "BDT", "QZS": "GPST",
                "IRN": "GPST", "UTC": "UTC"}  # fmt: skip


@dataclass
class ObsHeader:
    """Header of an observation file (SI units; positions ECEF, m).

    ``obs_types`` maps system letter to the normalised codes (RINEX 3.03+) in file order;
    ``original_obs_types`` to the codes as printed. ``time_system`` is the RINEX name
    ("GPS", "GLO", "GAL", "BDT"); ``time_scale`` the kongtian name (GPST, UTC, GST, BDT).
    ``glonass_slots`` maps "R05" to the frequency channel number.
    """

    version: float
    file_type: str = "O"
    system: str = "M"
    marker_name: str = ""
    receiver: str = ""
    antenna: str = ""
    approx_xyz_m: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    antenna_delta_hen_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    interval_s: float | None = None
    time_system: str = "GPS"
    time_scale: str = "GPST"
    obs_types: dict[str, list[str]] = field(default_factory=dict)
    original_obs_types: dict[str, list[str]] = field(default_factory=dict)
    glonass_slots: dict[str, int] = field(default_factory=dict)
    leap_seconds: int | None = None
    scale_factors: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class ObsData:
    """Observation header and data (see the module docstring for the dataset layout)."""

    header: ObsHeader
    data: xr.Dataset
    path: str = ""

    def summary(self, gap_factor: float = 1.5) -> dict[str, Any]:
        """What the file holds (for ``kongtian nav info``): epochs, span, gaps, signals.

        A gap is a step between consecutive epochs longer than ``gap_factor`` times the
        sampling interval (the header ``INTERVAL``, else the median step); returned as
        ``(last epoch before, first epoch after)`` ISO strings. ``systems`` maps each letter
        to its satellites and, per normalised code, the number of non-empty values.
        """
        ds = self.data
        t = ds["time"].values
        steps = np.diff(t).astype("timedelta64[ns]").astype(np.int64) / 1e9
        interval = self.header.interval_s
        if interval is None or not np.isfinite(interval):
            interval = float(np.median(steps)) if steps.size else None
        gaps: list[tuple[str, str]] = []
        if interval and steps.size:
            for k in np.flatnonzero(steps > gap_factor * interval):
                gaps.append((str(t[k]), str(t[k + 1])))
        svs = ds["sv"].values.astype(str)
        systems: dict[str, dict[str, Any]] = {}
        for sysl, codes in self.header.obs_types.items():
            cols = np.char.startswith(svs, sysl)
            if not cols.any():
                continue
            counts = {
                c: int(np.isfinite(ds[c].values[:, cols]).sum())
                for c in dict.fromkeys(codes)
                if c in ds
            }
            systems[sysl] = {"satellites": svs[cols].tolist(), "codes": counts}
        return {
            "path": self.path,
            "version": self.header.version,
            "marker": self.header.marker_name,
            "time_scale": self.header.time_scale,
            "epochs": int(t.size),
            "first": str(t[0]) if t.size else None,
            "last": str(t[-1]) if t.size else None,
            "interval_s": interval,
            "gaps": gaps,
            "systems": systems,
        }


def read_obs(
    path: str | os.PathLike[str],
    *,
    systems: str | None = None,
    codes: Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
) -> ObsData:
    """Read a RINEX 2/3/4 observation file (plain, .gz, .Z, Hatanaka .crx / .??d).

    ``systems``: letters to keep (e.g. ``"GC"``); ``codes``: normalised codes to keep
    (e.g. ``["C2I", "L2I"]``); ``start``/``end``: inclusive epoch window in the file's time
    system (anything ``numpy.datetime64`` accepts).
    """
    spath = str(path)
    raw = read_rinex_bytes(path)
    eoh = raw.find(b"END OF HEADER")
    if eoh < 0:
        raise FormatError("no END OF HEADER line (truncated header?)", path=spath)
    body_start = raw.find(b"\n", eoh)
    body_start = len(raw) if body_start < 0 else body_start + 1
    head_lines = raw[:body_start].decode("ascii", "replace").splitlines()
    ver = sniff_version(head_lines[0] if head_lines else "", spath)
    if ver.file_type != "O":
        raise FormatError(
            f"not an observation file (type {ver.file_type!r} in RINEX VERSION / TYPE)",
            path=spath,
            line=1,
        )
    hdr = _read_header(head_lines, ver.version, ver.file_type, ver.system, spath)
    body = raw[body_start:]
    lines = body.splitlines()
    first_line_no = len(head_lines) + 1  # 1-based line number of lines[0]
    t_start = None if start is None else np.datetime64(start, "ns")
    t_end = None if end is None else np.datetime64(end, "ns")
    if ver.version >= 3:
        parsed = _body_v3(lines, hdr, first_line_no, spath, systems, t_start, t_end)
    else:
        parsed = _body_v2(lines, hdr, first_line_no, spath, systems, t_start, t_end)
    ds = _to_dataset(parsed, hdr, codes, spath)
    return ObsData(header=hdr, data=ds, path=spath)


# --------------------------------------------------------------------------- header


def _f(s: str) -> float:
    s = s.strip()
    return float(s) if s else float("nan")


def _read_header(lines: list[str], version: float, ftype: str, fsys: str, path: str) -> ObsHeader:
    hdr = ObsHeader(version=version, file_type=ftype, system=fsys)
    pending_sys = ""
    pending_n = 0
    v2_codes: list[str] = []
    v2_n = 0
    tsys = ""
    for i, line in enumerate(lines):
        label = line[60:].strip()
        try:
            if label == "MARKER NAME":
                hdr.marker_name = line[:60].strip()
            elif label == "REC # / TYPE / VERS":
                hdr.receiver = line[20:40].strip()
            elif label == "ANT # / TYPE":
                hdr.antenna = line[20:40].strip()
            elif label == "APPROX POSITION XYZ":
                hdr.approx_xyz_m = np.array([_f(line[14 * k : 14 * k + 14]) for k in range(3)])
            elif label == "ANTENNA: DELTA H/E/N":
                hdr.antenna_delta_hen_m = np.array(
                    [_f(line[14 * k : 14 * k + 14]) for k in range(3)]
                )
            elif label == "INTERVAL":
                hdr.interval_s = _f(line[:10])
            elif label == "TIME OF FIRST OBS":
                tsys = line[48:51].strip()
            elif label == "LEAP SECONDS":
                hdr.leap_seconds = int(line[:6])
            elif label == "SYS / # / OBS TYPES":
                if line[0] != " ":
                    pending_sys = line[0]
                    pending_n = int(line[3:6])
                    hdr.original_obs_types[pending_sys] = []
                elif not pending_sys:
                    raise ValueError("continuation without a system")
                lst = hdr.original_obs_types[pending_sys]
                take = min(13, pending_n - len(lst))
                lst.extend(line[7 + 4 * k : 10 + 4 * k].strip() for k in range(take))
            elif label == "# / TYPES OF OBSERV":
                if line[:6].strip():
                    v2_n = int(line[:6])
                take = min(9, v2_n - len(v2_codes))
                v2_codes.extend(line[10 + 6 * k : 12 + 6 * k].strip() for k in range(take))
            elif label == "GLONASS SLOT / FRQ #":
                for k in range(8):
                    sv = line[4 + 7 * k : 7 + 7 * k].strip()
                    if sv:
                        hdr.glonass_slots[f"R{int(sv[1:]):02d}"] = int(line[8 + 7 * k : 11 + 7 * k])
            elif label == "SYS / SCALE FACTOR":
                if line[0] != " ":
                    factor = float(line[2:6])
                    n = int(line[8:10] or 0)
                    names = line[10:60].split()[: n or None]
                    sf = hdr.scale_factors.setdefault(line[0], {})
                    for c in names or hdr.original_obs_types.get(line[0], []):
                        sf[c] = factor
        except (ValueError, IndexError):
            raise FormatError(f"unreadable {label!r} header line", path=path, line=i + 1) from None
    for s, lst in hdr.original_obs_types.items():
        if any(len(c) != 3 for c in lst):
            raise FormatError(f"bad observation code list for system {s}", path=path)
    if version < 3:
        if not v2_codes:
            raise FormatError("no '# / TYPES OF OBSERV' header line", path=path)
        sys_list = "GRESJC" if fsys in ("M", " ") else fsys
        for s in sys_list:
            hdr.original_obs_types[s] = list(v2_codes)
    elif not hdr.original_obs_types:
        raise FormatError("no 'SYS / # / OBS TYPES' header line", path=path)
    for s, lst in hdr.original_obs_types.items():
        hdr.obs_types[s] = normalise_codes(s, lst, version)
    if not tsys:
        tsys = {"R": "GLO", "E": "GAL", "C": "BDT"}.get(fsys, "GPS")
    hdr.time_system = tsys
    hdr.time_scale = _TIME_SCALES.get(tsys, tsys)
    return hdr


# --------------------------------------------------------------------------- body


@dataclass
class _Parsed:
    times: np.ndarray  # datetime64[ns], per kept epoch
    flags: np.ndarray  # int8
    rows: np.ndarray  # uint8 (n_rows, width): "SNN" + 16-char cells
    row_epoch: np.ndarray  # int64 epoch index of each row
    row_line: np.ndarray  # int64 1-based line number of each row (first line for v2)


_SYS_BYTES = set(b"GRECJIS")


def _epoch_v3(line: bytes) -> tuple[np.datetime64 | None, int, int]:
    flag = int(line[29:32])
    n = int(line[32:35])
    if flag in (2, 3, 4, 5) and not line[2:29].strip():
        return None, flag, n  # event record without an epoch
    y, mo, d = int(line[2:6]), int(line[7:9]), int(line[10:12])
    h, mi, sec = int(line[13:15]), int(line[16:18]), float(line[18:29])
    t = np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}", "ns") + np.timedelta64(
        (h * 3600 + mi * 60) * 1_000_000_000 + round(sec * 1e9), "ns"
    )
    return t, flag, n


def _in_window(t: np.datetime64, t0: np.datetime64 | None, t1: np.datetime64 | None) -> bool:
    return bool((t0 is None or t >= t0) and (t1 is None or t <= t1))


def _body_v3(
    lines: list[bytes],
    hdr: ObsHeader,
    line0: int,
    path: str,
    systems: str | None,
    t0: np.datetime64 | None,
    t1: np.datetime64 | None,
) -> _Parsed:
    nmax = max(len(v) for v in hdr.original_obs_types.values())
    width = 3 + 16 * nmax
    keep_sys = None if systems is None else {ord(s) for s in systems}
    known = {ord(s) for s in hdr.original_obs_types}
    times: list[np.datetime64] = []
    flags: list[int] = []
    data_idx: list[int] = []
    row_epoch: list[int] = []
    n_lines = len(lines)
    i = 0
    while i < n_lines:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line[:1] != b">":
            raise FormatError(
                f"expected an epoch line starting with '>', got {line[:20]!r}",
                path=path,
                line=line0 + i,
            )
        try:
            t, flag, n = _epoch_v3(line)
        except ValueError:
            raise FormatError(
                f"bad epoch line {line[:35].decode('ascii', 'replace')!r}",
                path=path,
                line=line0 + i,
            ) from None
        if n < 0:
            raise FormatError("negative record count in epoch line", path=path, line=line0 + i)
        if i + n > n_lines - 1:
            raise FormatError(
                f"truncated file: epoch announces {n} records, {n_lines - 1 - i} follow",
                path=path,
                line=line0 + n_lines - 1,
            )
        if flag in (0, 1) and t is not None and _in_window(t, t0, t1):
            k = len(times)
            times.append(t)
            flags.append(flag)
            for j in range(i + 1, i + 1 + n):
                sv0 = lines[j][:1]
                if not sv0 or sv0[0] not in known:
                    what = (
                        "bad satellite field"
                        if not sv0 or sv0[0] not in _SYS_BYTES
                        else ("satellite of a system without SYS / # / OBS TYPES")
                    )
                    raise FormatError(f"{what} {lines[j][:3]!r}", path=path, line=line0 + j)
                if keep_sys is None or sv0[0] in keep_sys:
                    data_idx.append(j)
                    row_epoch.append(k)
        elif flag > 6:
            raise FormatError(f"bad epoch flag {flag}", path=path, line=line0 + i)
        i += 1 + n
    rows = np.frombuffer(
        b"".join(lines[j][:width].ljust(width) for j in data_idx), dtype=np.uint8
    ).reshape(len(data_idx), width)
    return _Parsed(
        times=np.array(times, dtype="datetime64[ns]"),
        flags=np.array(flags, dtype=np.int8),
        rows=rows,
        row_epoch=np.array(row_epoch, dtype=np.int64),
        row_line=np.array(data_idx, dtype=np.int64) + line0,
    )


def _epoch_v2(line: bytes) -> tuple[np.datetime64 | None, int, int]:
    flag = int(line[26:29])
    n = int(line[29:32] or b"0")
    if flag in (2, 3, 4, 5) and not line[:26].strip():
        return None, flag, n  # event record without an epoch
    yy, mo, d, h, mi = (int(line[k : k + 3]) for k in (0, 3, 6, 9, 12))
    sec = float(line[15:26])
    year = yy + (2000 if yy < 80 else 1900) if yy < 100 else yy
    t = np.datetime64(f"{year:04d}-{mo:02d}-{d:02d}", "ns") + np.timedelta64(
        (h * 3600 + mi * 60) * 1_000_000_000 + round(sec * 1e9), "ns"
    )
    return t, flag, n


def _body_v2(
    lines: list[bytes],
    hdr: ObsHeader,
    line0: int,
    path: str,
    systems: str | None,
    t0: np.datetime64 | None,
    t1: np.datetime64 | None,
) -> _Parsed:
    nobs = len(next(iter(hdr.original_obs_types.values())))
    per_sat = max(1, -(-nobs // 5))
    width = 3 + 16 * nobs
    default_sys = hdr.system if hdr.system not in ("M", " ") else "G"
    keep = None if systems is None else set(systems)
    times: list[np.datetime64] = []
    flags: list[int] = []
    chunks: list[bytes] = []
    row_epoch: list[int] = []
    row_line: list[int] = []
    n_lines = len(lines)
    i = 0
    while i < n_lines:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        try:
            t, flag, n = _epoch_v2(line)
        except ValueError:
            raise FormatError(
                f"bad epoch line {line[:32].decode('ascii', 'replace')!r}",
                path=path,
                line=line0 + i,
            ) from None
        if flag > 6 or n < 0:
            raise FormatError(f"bad epoch flag {flag} or count {n}", path=path, line=line0 + i)
        if flag in (2, 3, 4, 5):  # event: n header/comment lines follow
            i += 1 + n
            continue
        # satellite list: 12 per line, continuation lines for more
        n_list_lines = max(1, -(-n // 12))
        svs: list[str] = []
        for k in range(n_list_lines):
            if i + k >= n_lines:
                raise FormatError("truncated satellite list", path=path, line=line0 + n_lines - 1)
            seg = lines[i + k][32:68].decode("ascii", "replace").ljust(36)
            for m in range(min(12, n - 12 * k)):
                cell = seg[3 * m : 3 * m + 3]
                sysc = cell[0] if cell[0] != " " else default_sys
                try:
                    svs.append(f"{sysc}{int(cell[1:]):02d}")
                except ValueError:
                    raise FormatError(
                        f"bad satellite {cell!r} in epoch line", path=path, line=line0 + i + k
                    ) from None
        j = i + n_list_lines
        if j + n * per_sat > n_lines:
            raise FormatError(
                f"truncated file: epoch announces {n} satellites",
                path=path,
                line=line0 + n_lines - 1,
            )
        if flag == 6 or t is None or not _in_window(t, t0, t1):
            i = j + n * per_sat
            continue
        kidx = len(times)
        times.append(t)
        flags.append(flag)
        for s, sv in enumerate(svs):
            a = j + s * per_sat
            if sv[0] not in hdr.original_obs_types:
                raise FormatError(
                    f"satellite {sv} of a system without observation types",
                    path=path,
                    line=line0 + i,
                )
            if keep is not None and sv[0] not in keep:
                continue
            rec = b"".join(lines[a + m][:80].ljust(80) for m in range(per_sat))
            chunks.append(sv.encode() + rec[: 16 * nobs].ljust(16 * nobs))
            row_epoch.append(kidx)
            row_line.append(line0 + a)
        i = j + n * per_sat
    rows = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(chunks), width)
    return _Parsed(
        times=np.array(times, dtype="datetime64[ns]"),
        flags=np.array(flags, dtype=np.int8),
        rows=rows,
        row_epoch=np.array(row_epoch, dtype=np.int64),
        row_line=np.array(row_line, dtype=np.int64),
    )


# --------------------------------------------------------------------------- decoding


def _decode_values(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode ASCII cells of F14.3 numbers, shape ``(..., 14)``; returns (values, bad mask).

    Blank cells give NaN. Cells that are not strict F14.3 (digits, blanks and one leading
    minus before the point in column 11, three decimals) are flagged in the mask for the
    slow path. Works column by column so temporaries stay the size of one column.
    """
    shape = cells.shape[:-1]
    acc = np.zeros(shape, dtype=np.int64)
    blank = np.ones(shape, dtype=bool)
    strict = cells[..., 10] == 46
    neg = np.zeros(shape, dtype=bool)
    seen_digit = np.zeros(shape, dtype=bool)
    for p in range(14):
        col = cells[..., p]
        if p != 10:
            blank &= col == 32
        if p == 10:
            continue
        d = col - np.uint8(48)  # wraps for bytes below '0', so d < 10 tests for a digit
        digit = d < 10
        if p < 10:
            minus = col == 45
            # before the point: blanks, then at most one minus, then digits
            strict &= digit | ((col == 32) & ~neg | minus & ~neg) & ~seen_digit
            neg |= minus
            seen_digit |= digit
        else:
            strict &= digit
        acc *= 10
        acc += np.where(digit, d, 0)
    strict &= seen_digit
    vals = acc / 1000.0
    np.negative(vals, out=vals, where=neg)
    vals[blank] = np.nan
    bad = ~blank & ~strict
    return vals, bad


def _decode_flags(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LLI/SSI digit column -> int8 (-1 blank) and a mask of non-digit, non-blank bytes."""
    out = col.astype(np.int8) - 48
    blank = (col == 32) | (col == 0)
    out[blank] = -1
    bad = ~blank & ((col < 48) | (col > 57))
    return out, bad


def _to_dataset(p: _Parsed, hdr: ObsHeader, codes: Sequence[str] | None, path: str) -> xr.Dataset:
    rows = p.rows
    sys_b = rows[:, 0]
    tens = rows[:, 1].astype(np.int64) - 48
    ones = rows[:, 2].astype(np.int64) - 48
    tens[rows[:, 1] == 32] = 0
    badprn = (tens < 0) | (tens > 9) | (ones < 0) | (ones > 9)
    if badprn.any():
        r = int(np.flatnonzero(badprn)[0])
        raise FormatError(
            f"bad satellite number {bytes(rows[r, :3])!r}", path=path, line=int(p.row_line[r])
        )
    prn = tens * 10 + ones
    sv_key = sys_b.astype(np.int64) * 100 + prn
    uniq, sv_idx = np.unique(sv_key, return_inverse=True)
    sv_names = np.array([f"{chr(k // 100)}{k % 100:02d}" for k in uniq])
    n_t = len(p.times)
    n_sv = len(uniq)
    want = None if codes is None else set(codes)
    data_vars: dict[str, Any] = {}
    for s, names in hdr.obs_types.items():
        sel = np.flatnonzero(sys_b == ord(s))
        if sel.size == 0:
            continue
        t_i = p.row_epoch[sel]
        s_i = sv_idx[sel]
        sub = rows[sel]
        block = sub[:, 3 : 3 + 16 * len(names)].reshape(len(sel), len(names), 16)
        vals_all, bad_all = _decode_values(block[:, :, :14])
        for k, code in enumerate(names):
            if want is not None and code not in want:
                continue
            c0 = 3 + 16 * k
            vals, bad = vals_all[:, k], bad_all[:, k]
            if bad.any():
                idx = np.flatnonzero(bad)
                try:
                    vals[idx] = fixed_floats(sub[idx, c0 : c0 + 14][:, None, :])[:, 0]
                except ValueError as exc:
                    r = sel[idx[int(exc.args[1]) if len(exc.args) > 1 else 0]]
                    raise FormatError(
                        f"bad {code} value: {exc.args[0]}", path=path, line=int(p.row_line[r])
                    ) from None
            factor = hdr.scale_factors.get(s, {}).get(hdr.original_obs_types[s][k])
            if factor:
                vals = vals / factor
            arr = data_vars.get(code)
            if arr is None:
                arr = np.full((n_t, n_sv), np.nan)
                data_vars[code] = arr
            arr[t_i, s_i] = vals
            if code[0] == "L":
                for suffix, col in (("_lli", c0 + 14), ("_ssi", c0 + 15)):
                    fl, badf = _decode_flags(sub[:, col])
                    if badf.any():
                        r = sel[int(np.flatnonzero(badf)[0])]
                        raise FormatError(
                            f"bad {code}{suffix} flag", path=path, line=int(p.row_line[r])
                        )
                    name = code + suffix
                    farr = data_vars.get(name)
                    if farr is None:
                        farr = np.full((n_t, n_sv), -1, dtype=np.int8)
                        data_vars[name] = farr
                    farr[t_i, s_i] = fl
    ds = xr.Dataset(
        {k: (("time", "sv"), v) for k, v in data_vars.items()},
        coords={"time": p.times, "sv": sv_names, "epoch_flag": ("time", p.flags)},
    )
    ds["time"].attrs["time_scale"] = hdr.time_scale
    ds.attrs.update(
        rinex_version=hdr.version,
        marker_name=hdr.marker_name,
        time_system=hdr.time_system,
        time_scale=hdr.time_scale,
    )
    return ds
