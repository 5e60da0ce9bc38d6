"""MOD14-style contextual fire test on thermal brightness temperatures.

For sensors with a ~4 um and an ~11 um channel (MODIS bands 21/22 and 31, VIIRS I4/I5,
SLSTR S7/S8): Giglio et al. (2003), collection 6 in Giglio, Schroeder & Justice (2016).
``t4``, ``t11``, ``t12`` brightness temperatures (K), ``r065``/``r086`` reflectances,
``dT = t4 - t11``:

1. Cloud: day ``r065 + r086 > 0.9`` or ``t12 < 265`` or ``(r065 + r086 > 0.7 and
   t12 < 285)``; night ``t12 < 265`` (``t11`` when ``t12`` is not given).
2. Potential fire: day ``t4 > 310 and dT > 10 and r086 < 0.3``; night ``t4 > 305 and
   dT > 10``. Absolute fire: ``t4 > 360`` (day), ``t4 > 320`` (night).
3. Background: windows of 3x3, 5x5, ... 21x21 around each potential fire (centre
   excluded) until at least 25 % and at least 8 of the window pixels are valid: not
   cloud, not water, not a background fire (day ``t4 > 325 and dT > 20``; night
   ``t4 > 310 and dT > 10``). Means and mean absolute deviations (delta) of t4, t11, dT;
   delta'4 = mean absolute deviation of t4 over the rejected background fires.
4. Contextual: (a) ``dT > dTb + 3.5 delta_dT``, (b) ``dT > dTb + 6``,
   (c) ``t4 > t4b + 3 delta_4``, (d) ``t11 > t11b + delta_11 - 4``, (e) ``delta'4 > 5``.
   Day fire = absolute or (a and b and c and (d or e)); night = absolute or (a and b and c).
5. Coastal rejection (when ``water`` is given): a non-absolute detection with water in
   its background window is rejected.
6. Confidence: geometric mean of S(t4; 310, 340), S(z4; 2.5, 6), S(zdT; 3, 6),
   1 - S(adjacent cloud; 0, 6), 1 - S(adjacent water; 0, 6) (night: the first three).

Not implemented: sun-glint, desert-boundary and the collection-6 small-fire, Amazon and
gas-flare refinements, and the 501x501 median threshold of VIIRS. The window statistics
are computed only at potential fires, by gathering all window offsets for all
candidates at once (no per-pixel Python loop); candidates are sparse in thermal data.
No real thermal scene is among the fixtures; the tests use synthetic fields.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .result import TEST_ABSOLUTE, TEST_CONTEXTUAL, FireResult, ramp
from .window import neighbours_at

BoolArray = npt.NDArray[np.bool_]
SIZES = tuple(range(3, 23, 2))


def _gather(a: Any, rows: Any, cols: Any, half: int, fill: Any) -> Any:
    """Window values (K, (2 half + 1)^2) around each (row, col), centre included."""
    p = np.pad(a, half, mode="constant", constant_values=fill)
    off = np.arange(-half, half + 1)
    dr, dc = np.meshgrid(off, off, indexing="ij")
    return p[rows[:, None] + half + dr.ravel()[None, :], cols[:, None] + half + dc.ravel()[None, :]]


def _mad(x: Any, m: Any) -> Any:
    """Mean and mean absolute deviation along axis 1 over ``m`` (NaN where empty)."""
    n = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(m, x, 0.0).sum(axis=1) / n
        dev = np.where(m, np.abs(x - mean[:, None]), 0.0).sum(axis=1) / n
    return mean, dev


def mod14(
    t4: Any,
    t11: Any,
    *,
    t12: Any | None = None,
    r065: Any | None = None,
    r086: Any | None = None,
    water: Any | None = None,
    day: bool = True,
    sensor: str = "thermal",
) -> FireResult:
    """Run the contextual algorithm on brightness temperatures (K) of one grid."""
    a4 = np.asarray(t4, dtype=np.float64)
    a11 = np.asarray(t11, dtype=np.float64)
    a12 = a11 if t12 is None else np.asarray(t12, dtype=np.float64)
    shape = a4.shape
    valid = np.isfinite(a4) & np.isfinite(a11)
    wa = np.zeros(shape, dtype=bool) if water is None else np.asarray(water, dtype=bool)
    vis = None
    if r065 is not None and r086 is not None:
        vis = np.asarray(r065, dtype=np.float64) + np.asarray(r086, dtype=np.float64)
    dt = a4 - a11
    with np.errstate(invalid="ignore"):
        if day:
            cloud = a12 < 265.0
            if vis is not None:
                cloud |= (vis > 0.9) | ((vis > 0.7) & (a12 < 285.0))
            potential = (a4 > 310.0) & (dt > 10.0)
            if r086 is not None:
                potential &= np.asarray(r086, dtype=np.float64) < 0.3
            absolute = a4 > 360.0
            bg_fire = (a4 > 325.0) & (dt > 20.0)
        else:
            cloud = a12 < 265.0
            potential = (a4 > 305.0) & (dt > 10.0)
            absolute = a4 > 320.0
            bg_fire = (a4 > 310.0) & (dt > 10.0)
    cloud &= valid
    potential &= valid & ~cloud & ~wa
    absolute &= potential
    ok_bg = valid & ~cloud & ~wa & ~bg_fire
    rows, cols = np.nonzero(potential)
    k = rows.size
    contextual = np.zeros(shape, dtype=bool)
    unknown = np.zeros(shape, dtype=bool)
    conf = np.full(shape, np.nan, dtype=np.float32)
    fire = absolute.copy()
    z4 = np.full(k, np.inf)
    zdt = np.full(k, np.inf)
    if k:
        done = np.zeros(k, dtype=bool)
        stats = np.full((k, 7), np.nan)  # t4b, d4, t11b, d11, dtb, ddt, d4'
        coastal = np.zeros(k, dtype=bool)
        for size in SIZES:
            h = size // 2
            centre = np.zeros(size * size, dtype=bool)
            centre[(size * size) // 2] = True
            m = _gather(ok_bg, rows, cols, h, False) & ~centre[None, :]
            need = ~done & (m.sum(axis=1) >= np.maximum(8, 0.25 * (size * size - 1)))
            if not need.any():
                continue
            idx = np.flatnonzero(need)
            mm = m[idx]
            g4 = _gather(a4, rows[idx], cols[idx], h, np.nan)
            g11 = _gather(a11, rows[idx], cols[idx], h, np.nan)
            stats[idx, 0], stats[idx, 1] = _mad(g4, mm)
            stats[idx, 2], stats[idx, 3] = _mad(g11, mm)
            stats[idx, 4], stats[idx, 5] = _mad(g4 - g11, mm)
            rej = _gather(bg_fire & valid, rows[idx], cols[idx], h, False) & ~centre[None, :]
            stats[idx, 6] = _mad(g4, rej)[1]
            coastal[idx] = _gather(wa, rows[idx], cols[idx], h, False).any(axis=1)
            done[idx] = True
        p4, p11, pdt = a4[rows, cols], a11[rows, cols], dt[rows, cols]
        t4b, d4, t11b, d11, dtb, ddt, d4r = stats.T
        with np.errstate(invalid="ignore"):
            a_ = pdt > dtb + 3.5 * ddt
            b_ = pdt > dtb + 6.0
            c_ = p4 > t4b + 3.0 * d4
            d_ = p11 > t11b + d11 - 4.0
            e_ = d4r > 5.0
            ctx = a_ & b_ & c_ & ((d_ | e_) if day else True)
            z4 = np.where(done, (p4 - t4b) / np.maximum(d4, 1e-6), np.inf)
            zdt = np.where(done, (pdt - dtb) / np.maximum(ddt, 1e-6), np.inf)
        ctx &= done & ~coastal
        contextual[rows, cols] = ctx
        unknown[rows, cols] = ~done
        fire[rows, cols] |= ctx
    test = np.zeros(shape, dtype=np.uint8)
    test[fire & contextual] = TEST_CONTEXTUAL
    test[fire & absolute] = TEST_ABSOLUTE
    if k:
        p4 = a4[rows, cols]
        parts = [ramp(p4, 310.0, 340.0), ramp(z4, 2.5, 6.0), ramp(zdt, 3.0, 6.0)]
        if day:
            parts.append(1.0 - ramp(neighbours_at(cloud, rows, cols), 0.0, 6.0))
            parts.append(1.0 - ramp(neighbours_at(wa, rows, cols), 0.0, 6.0))
        c = 100.0 * np.prod(parts, axis=0) ** (1.0 / len(parts))
        sel = fire[rows, cols]
        conf[rows[sel], cols[sel]] = c[sel]
    return FireResult(
        sensor=sensor,
        algorithm="mod14-contextual" + ("-day" if day else "-night"),
        fire=fire,
        test=test,
        confidence=conf,
        valid=valid,
        cloud=cloud,
        water=wa & valid,
        candidates=potential,
        unknown=unknown & ~absolute,
        extra={"t4": a4},
    )
