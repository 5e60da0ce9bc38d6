"""Opening RINEX files: compression layers, Hatanaka (Compact RINEX) and version sniffing.

A RINEX file may arrive plain (``.rnx``, ``.05o``, ``.05n``), gzip- or Unix-compress-
wrapped (``.gz``, ``.Z``), Hatanaka-compressed (``.crx``, ``.05d``) or both
(``.crx.gz``, ``.05d.Z``). :func:`read_rinex_bytes` undoes every layer and returns the
plain RINEX text as bytes; the layers are recognised from the *content* (magic numbers,
the ``CRINEX VERS`` header line), not from the file name, so a renamed file still opens.

Gzip is undone with the standard library; Unix compress (LZW, ``.Z``) and the Hatanaka
layer with the ``hatanaka`` package (a wrapper of GSI's RNXCMP, which also brings
``ncompress``). Any failure becomes a :class:`~kongtian.errors.FormatError` naming the
file.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kongtian.errors import FormatError

__all__ = ["RinexVersion", "read_rinex_bytes", "sniff_version", "DecompressTiming"]

_GZIP_MAGIC = b"\x1f\x8b"
_LZW_MAGIC = b"\x1f\x9d"


@dataclass
class DecompressTiming:
    """Wall time spent in each layer by the last :func:`read_rinex_bytes` call (s)."""

    gzip_s: float = 0.0
    lzw_s: float = 0.0
    hatanaka_s: float = 0.0


#: Timing of the most recent call (for the benchmark; not thread-safe, informative only).
LAST_TIMING = DecompressTiming()


def read_rinex_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return the plain RINEX content of ``path`` with every compression layer removed."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read file: {exc.strerror}", path=str(p)) from exc
    timing = DecompressTiming()
    if raw[:2] == _GZIP_MAGIC:
        t0 = time.perf_counter()
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError(f"corrupt gzip stream: {exc}", path=str(p)) from exc
        timing.gzip_s = time.perf_counter() - t0
    elif raw[:2] == _LZW_MAGIC:
        t0 = time.perf_counter()
        raw = _hatanaka(raw, p)  # hatanaka undoes .Z (and any CRX inside) in one call
        timing.lzw_s = time.perf_counter() - t0
    if raw[:80].find(b"CRINEX VERS") >= 0 or raw[60:80].startswith(b"CRINEX VERS"):
        t0 = time.perf_counter()
        raw = _hatanaka(raw, p)
        timing.hatanaka_s = time.perf_counter() - t0
    LAST_TIMING.gzip_s, LAST_TIMING.lzw_s, LAST_TIMING.hatanaka_s = (
        timing.gzip_s,
        timing.lzw_s,
        timing.hatanaka_s,
    )
    return raw


def _hatanaka(raw: bytes, p: Path) -> bytes:
    import hatanaka  # local import: only needed for compressed inputs

    try:
        out = hatanaka.decompress(raw)
    except Exception as exc:  # HatanakaException, ValueError, RuntimeError from RNXCMP
        raise FormatError(f"Hatanaka/compress decoding failed: {exc}", path=str(p)) from exc
    return bytes(out)


@dataclass(frozen=True)
class RinexVersion:
    """What the ``RINEX VERSION / TYPE`` line says.

    ``file_type`` is the letter in column 21 ("O" observation, "N" navigation, "G" RINEX 2
    GLONASS navigation, "H" RINEX 2 SBAS navigation, ...); ``system`` the letter in
    column 41 ("G", "R", "E", "C", "J", "I", "S", "M" mixed, " " when blank).
    """

    version: float
    file_type: str
    system: str


SUPPORTED_VERSIONS = (2.10, 2.11, 2.12, 3.00, 3.01, 3.02, 3.03, 3.04, 3.05, 4.00, 4.01, 4.02)


def sniff_version(first_line: str, path: str) -> RinexVersion:
    """Parse the first header line; FormatError for anything that is not RINEX 2/3/4."""
    if "RINEX VERSION / TYPE" not in first_line[60:]:
        raise FormatError(
            "first line is not a 'RINEX VERSION / TYPE' header line", path=path, line=1
        )
    try:
        version = float(first_line[:9])
    except ValueError:
        raise FormatError(
            f"unreadable RINEX version {first_line[:9].strip()!r}", path=path, line=1
        ) from None
    if round(version, 2) not in SUPPORTED_VERSIONS:
        raise FormatError(
            f"unsupported RINEX version {version:.2f} (supported: 2.10-2.12, 3.00-3.05, 4.0x)",
            path=path,
            line=1,
        )
    file_type = first_line[20:21].upper()
    system = first_line[40:41].upper() or " "
    return RinexVersion(round(version, 2), file_type, system)


def fixed_floats(cells: np.ndarray) -> np.ndarray:
    """Convert fixed-width numeric cells to float64, blank cells to NaN.

    ``cells`` is a uint8 array of shape ``(..., width)`` holding ASCII text (one cell per
    last-axis row). Fortran ``D`` exponents are accepted. Raises ``ValueError`` (with the
    flat index of the first bad cell in ``args[1]``) if a non-blank cell is not a number.
    """

    shape = cells.shape[:-1]
    width = cells.shape[-1]
    flat = np.ascontiguousarray(cells.reshape(-1, width))
    blank = (flat == 32).all(axis=1) | (flat == 0).all(axis=1)
    if not flat.size:
        return np.empty(shape, dtype=np.float64)
    flat = flat.copy()
    flat[(flat == 68) | (flat == 100)] = 69  # D/d -> E
    flat[flat == 0] = 32
    text = flat.view(f"S{width}").ravel()
    out = np.full(text.shape, np.nan)
    ok = ~blank
    try:
        out[ok] = text[ok].astype(np.float64)
    except ValueError:
        for i in np.flatnonzero(ok):
            try:
                float(text[i])
            except ValueError:
                bad = text[i].decode("ascii", "replace")
                raise ValueError(f"not a number: {bad!r}", int(i)) from None
        raise
    return out.reshape(shape)
