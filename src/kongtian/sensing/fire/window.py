"""Masked moving-window statistics with ``scipy.ndimage.uniform_filter``.

The mean and standard deviation of the pixels where ``mask`` is True inside a
``size x size`` window centred on every pixel, computed from three box sums (count, sum,
sum of squares): O(N) in the number of pixels whatever the window size, no per-pixel
loop. Windows are truncated at the image edge (the count only includes pixels inside the
image). The standard deviation is the population one (``ddof=0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def window_mean_std(
    values: Any, mask: Any, size: int, at: tuple[Any, Any] | None = None
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """``(mean, std, count)`` of ``values[mask]`` in a ``size x size`` window (float64).

    ``mean``/``std`` are NaN where the window holds no masked pixel. ``size`` must be odd.
    With ``at = (rows, cols)`` the results are returned at those pixels only (1-D), which
    skips the whole-image arithmetic after the three filters.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be odd and positive, got {size}")
    m = np.asarray(mask, dtype=bool)
    v = np.where(m, np.asarray(values, dtype=np.float64), 0.0)
    area = float(size * size)
    kw: dict[str, Any] = {"size": size, "mode": "constant", "cval": 0.0}
    count = uniform_filter(m.astype(np.float64), **kw)
    s1 = uniform_filter(v, **kw)
    s2 = uniform_filter(v * v, **kw)
    if at is not None:
        count, s1, s2 = count[at], s1[at], s2[at]
    count = np.rint(count * area)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 * area / count
        var = s2 * area / count - mean * mean
    var = np.maximum(var, 0.0)  # round-off can make a constant window slightly negative
    empty = count == 0
    mean[empty] = np.nan
    var[empty] = np.nan
    return mean, np.sqrt(var), count.astype(np.int64)


def count_neighbours(mask: Any) -> npt.NDArray[np.int64]:
    """Number of True pixels among the 8 neighbours of every pixel."""
    m = np.asarray(mask, dtype=np.float64)
    box = uniform_filter(m, 3, mode="constant", cval=0.0) * 9.0
    return np.rint(box - m).astype(np.int64)


def bounding_window(mask: Any, half: int) -> tuple[slice, slice] | None:
    """Slices of the bounding box of ``mask`` grown by ``half`` pixels (None if empty)."""
    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    r0, r1 = max(0, int(rows[0]) - half), min(m.shape[0], int(rows[-1]) + half + 1)
    c0, c1 = max(0, int(cols[0]) - half), min(m.shape[1], int(cols[-1]) + half + 1)
    return slice(r0, r1), slice(c0, c1)


def neighbours_at(mask: Any, rows: Any, cols: Any) -> npt.NDArray[np.int64]:
    """Number of True pixels among the 8 neighbours of each ``(rows, cols)`` pixel."""
    m = np.asarray(mask, dtype=bool)
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    h, w = m.shape
    out = np.zeros(r.size, dtype=np.int64)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                rr, cc = r + dr, c + dc
                ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                out += ok & m[np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)]
    return out


def _window_flat_index(rows: Any, cols: Any, shape: tuple[int, int], size: int) -> tuple[Any, Any]:
    """Flat indices (K, size^2) of the windows around (rows, cols), and inside-image flags."""
    h, w = shape
    half = size // 2
    off = np.arange(-half, half + 1)
    rr = np.asarray(rows, dtype=np.int64)[:, None] + np.repeat(off, size)[None, :]
    cc = np.asarray(cols, dtype=np.int64)[:, None] + np.tile(off, size)[None, :]
    inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    flat = np.clip(rr, 0, h - 1) * w + np.clip(cc, 0, w - 1)
    return flat, inside


def _mean_std(x: Any, sel: Any, n: Any) -> tuple[Any, Any]:
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(sel, x, 0.0).sum(axis=1) / n
        var = np.where(sel, (x - mu[:, None]) ** 2, 0.0).sum(axis=1) / n
    return mu, np.sqrt(var)


def window_ratio_stats_at(
    num: Any, den: Any, mask: Any, size: int, rows: Any, cols: Any, chunk: int = 256
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Window mean/std of ``num/den`` and of ``num`` over ``mask`` at ``(rows, cols)``.

    Returns ``(mean_ratio, std_ratio, count, mean_num, std_num)``; ``mask`` must imply
    ``den > 0``. The windows of a chunk of pixels are copied at once, from a
    ``sliding_window_view`` for pixels at least ``size // 2`` from the edge and by flat
    indices (with the edge truncation) for the others; two-pass mean and standard
    deviation in float64.
    """
    m2 = np.asarray(mask, dtype=bool)
    a2 = np.asarray(num)
    b2 = np.asarray(den)
    h, w = m2.shape
    half = size // 2
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    k = r.size
    out = [np.full(k, np.nan) for _ in range(4)]
    count = np.zeros(k, dtype=np.int64)
    interior = (r >= half) & (r < h - half) & (c >= half) & (c < w - half)
    views = None
    if interior.any():
        from numpy.lib.stride_tricks import sliding_window_view

        views = tuple(sliding_window_view(x, (size, size)) for x in (m2, a2, b2))
    m, a, b = m2.ravel(), a2.ravel(), b2.ravel()
    for part in (np.flatnonzero(interior), np.flatnonzero(~interior)):
        for s in range(0, part.size, chunk):
            idx = part[s : s + chunk]
            if views is not None and interior[idx[0]]:
                rr, cc = r[idx] - half, c[idx] - half
                sel = views[0][rr, cc].reshape(idx.size, -1)
                x = views[1][rr, cc].reshape(idx.size, -1).astype(np.float64)
                y = views[2][rr, cc].reshape(idx.size, -1)
            else:
                flat, inside = _window_flat_index(r[idx], c[idx], (h, w), size)
                sel = m[flat] & inside
                x = a[flat].astype(np.float64)
                y = b[flat]
            n = sel.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                q = x / y
            out[0][idx], out[1][idx] = _mean_std(q, sel, n)
            out[2][idx], out[3][idx] = _mean_std(x, sel, n)
            count[idx] = n
    return out[0], out[1], count, out[2], out[3]
