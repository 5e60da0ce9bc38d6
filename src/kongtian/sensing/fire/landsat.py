"""Landsat-8/9 OLI active fires: Schroeder et al. (2016), RSE 185:210-220.

Inputs are reflectances ``rho1..rho7`` (OLI bands 1-7; top-of-atmosphere reflectance
``(M * DN + A) / sin(sun elevation)`` as in the paper, from
:func:`kongtian.sensing.scaling.landsat_reflectance`; Collection-2 surface reflectance is
accepted as an approximation and flagged by the caller). ``R75 = rho7/rho5``,
``R76 = rho7/rho6``; a ratio whose denominator is not > 0 is undefined (NaN) and fails
every test.

Tests (daytime), all strict inequalities:

1. Unambiguous fire: ``R75 > 2.5 and rho7 - rho5 > 0.3 and rho7 > 0.5``; or, for the
   folded digital numbers of saturated fire pixels, ``rho6 > 0.8 and rho1 < 0.2 and
   (rho5 > 0.4 or rho7 < 0.1)``.
2. Potential fire: ``R75 > 1.8 and rho7 - rho5 > 0.17 and R76 > 1.6``.
3. Contextual test of potential fires against the valid background of the
   ``61 x 61`` window centred on the pixel: ``R75 > mean(R75) + max(3 sd(R75), 0.8)``
   and ``rho7 > mean(rho7) + max(3 sd(rho7), 0.08)``. Background = valid pixels that are
   neither unambiguous nor potential fire, nor water, with ``rho7 > 0``.
4. Water: ``rho4 > rho5 > rho6 > rho7 and rho1 - rho7 < 0.2 and (rho3 > rho2 or
   rho1 > rho2 > rho3 > rho4)``. Fire = (unambiguous or contextual) and not water.

Our additions (not in the paper, documented in decision 0021):

- a potential fire needs at least ``min_background`` (25) background pixels in its
  window, otherwise it is "unknown" and not a fire (the paper gives no minimum);
- clouds: the product's QA cloud mask (``cloud``) does not remove background pixels
  (the paper excludes only fires and water), but a pixel flagged cloud can only be a
  fire through the unambiguous test;
- confidence (:func:`.result.confidence`): strength 1 for unambiguous fires,
  ``0.5 + 0.5 S(R75; 1.8, 2.5)`` for contextual ones, reduced by adjacent cloud/water.

The window statistics use :func:`.window.window_mean_std` (three ``uniform_filter``
passes per quantity) on the bounding box of the potential fires, or, when the potential
fires are few, :func:`.window.window_mean_std_at` at those pixels only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .result import TEST_ABSOLUTE, TEST_CONTEXTUAL, FireResult, confidence, ramp
from .window import bounding_window, window_mean_std, window_ratio_stats_at

BoolArray = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]

WINDOW = 61
MIN_BACKGROUND = 25
#: OLI band number -> common name (kongtian.sensing.bands)
OLI_BANDS = {
    1: "coastal",
    2: "blue",
    3: "green",
    4: "red",
    5: "nir",
    6: "swir16",
    7: "swir22",
}


def ratio(num: Any, den: Any) -> F32:
    """``num / den`` (float32) where ``den > 0``, NaN elsewhere (no divide warnings)."""
    n = np.asarray(num, dtype=np.float32)
    d = np.asarray(den, dtype=np.float32)
    out = np.full(np.broadcast_shapes(n.shape, d.shape), np.nan, dtype=np.float32)
    np.divide(n, d, out=out, where=d > 0)
    return out


def water_test(r: Mapping[int, F32]) -> BoolArray:
    """Schroeder 2016 water test on OLI reflectances keyed by band number."""
    r1, r2, r3, r4, r5, r6, r7 = (r[i] for i in range(1, 8))
    order = (r4 > r5) & (r5 > r6) & (r6 > r7) & (r1 - r7 < 0.2)
    return np.asarray(order & ((r3 > r2) | ((r1 > r2) & (r2 > r3) & (r3 > r4))))


def unambiguous_test(r: Mapping[int, F32]) -> BoolArray:
    """Unambiguous fire, including the DN-folding test for saturated pixels.

    ``R75 > 2.5`` is evaluated as ``rho5 > 0 and rho7 > 2.5 rho5`` (no division).
    """
    r1, r5, r6, r7 = r[1], r[5], r[6], r[7]
    hot = (r5 > 0) & (r7 > np.float32(2.5) * r5) & (r7 - r5 > 0.3) & (r7 > 0.5)
    folded = (r6 > 0.8) & (r1 < 0.2) & ((r5 > 0.4) | (r7 < 0.1))
    return np.asarray(hot | folded)


def potential_test(r: Mapping[int, F32]) -> BoolArray:
    """Potential (candidate) fire; the ratios as products (``rho7 > 1.8 rho5`` ...)."""
    r5, r6, r7 = r[5], r[6], r[7]
    ratios = (r5 > 0) & (r6 > 0) & (r7 > np.float32(1.8) * r5) & (r7 > np.float32(1.6) * r6)
    return np.asarray(ratios & (r7 - r5 > 0.17))


def background_thresholds(
    r75: Any,
    r7: Any,
    background: BoolArray,
    window: int = WINDOW,
    at: tuple[Any, Any] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Contextual thresholds ``(t_R75, t_rho7, n_background)`` for every pixel (or ``at``).

    ``t_R75 = mean + max(3 sd, 0.8)`` and ``t_rho7 = mean + max(3 sd, 0.08)`` over the
    background pixels of the window (NaN where there are none).
    """
    m_r, s_r, n = window_mean_std(r75, background, window, at)
    m_7, s_7, _ = window_mean_std(r7, background, window, at)
    return m_r + np.maximum(3.0 * s_r, 0.8), m_7 + np.maximum(3.0 * s_7, 0.08), n


def background_thresholds_at(
    r5: F32, r7: F32, background: BoolArray, rows: Any, cols: Any, window: int = WINDOW
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """:func:`background_thresholds` at ``(rows, cols)`` only (R75 formed in the windows)."""
    m_r, s_r, n, m_7, s_7 = window_ratio_stats_at(r7, r5, background, window, rows, cols)
    return m_r + np.maximum(3.0 * s_r, 0.8), m_7 + np.maximum(3.0 * s_7, 0.08), n


def schroeder2016(
    bands: Mapping[Any, Any],
    cloud: Any | None = None,
    *,
    window: int = WINDOW,
    min_background: int = MIN_BACKGROUND,
    sensor: str = "landsat-oli",
    method: str = "auto",
) -> FireResult:
    """Run the Schroeder et al. (2016) daytime algorithm.

    ``bands`` maps OLI band numbers 1-7 (or their common names ``coastal`` ...
    ``swir22``) to reflectance arrays of one shape (NaN = no data). ``cloud`` is an
    optional boolean cloud mask (product QA). ``method`` chooses how the window
    statistics are computed: ``"filter"`` (whole-image ``uniform_filter`` over the
    candidates' bounding box), ``"gather"`` (only at the candidates) or ``"auto"`` (the
    cheaper one: gather when candidates x window area < 10 x bounding-box pixels, as
    measured by ``bench/bench_fire.py``).
    """
    if method not in ("auto", "filter", "gather"):
        raise ValueError(f"method must be 'auto', 'filter' or 'gather', got {method!r}")
    r: dict[int, F32] = {}
    for num, name in OLI_BANDS.items():
        arr = bands.get(num, bands.get(name))
        if arr is None:
            raise KeyError(f"Schroeder 2016 needs OLI band {num} ({name})")
        r[num] = np.asarray(arr, dtype=np.float32)
    shape = r[7].shape
    valid = np.isfinite(r[1])
    for i in range(2, 8):
        valid &= np.isfinite(r[i])
    cl = np.zeros(shape, dtype=bool) if cloud is None else np.asarray(cloud, dtype=bool)
    with np.errstate(invalid="ignore"):
        water = water_test(r) & valid
        unamb = unambiguous_test(r) & valid
        potential = potential_test(r) & valid & ~unamb
        background = valid & ~water & ~unamb & ~potential & (r[7] > 0) & (r[5] > 0)
    contextual = np.zeros(shape, dtype=bool)
    unknown = np.zeros(shape, dtype=bool)
    tested = potential & ~water & ~(cl & ~unamb)
    box = bounding_window(tested, window // 2)
    if box is not None:
        rows, cols = np.nonzero(tested)
        n_box = (box[0].stop - box[0].start) * (box[1].stop - box[1].start)
        use = method
        if method == "auto":
            use = "gather" if rows.size * window**2 < 10 * n_box else "filter"
        if use == "gather":
            t_r, t_7, n = background_thresholds_at(r[5], r[7], background, rows, cols, window)
        else:
            b5 = r[5][box].astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                r75_box = np.where(b5 > 0, r[7][box] / b5, np.nan)
            local = (rows - box[0].start, cols - box[1].start)
            t_r, t_7, n = background_thresholds(
                r75_box, r[7][box], background[box], window, at=local
            )
        enough = n >= min_background
        p7, p5 = r[7][rows, cols], r[5][rows, cols]
        contextual[rows, cols] = enough & (p7 / p5 > t_r) & (p7 > t_7)
        unknown[rows, cols] = ~enough
    fire = (unamb | contextual) & ~water
    fr, fc = np.nonzero(fire)
    test = np.zeros(shape, dtype=np.uint8)
    test[fr, fc] = np.where(unamb[fr, fc], TEST_ABSOLUTE, TEST_CONTEXTUAL)
    r75_fire = ratio(r[7][fr, fc], r[5][fr, fc])
    strength = np.where(unamb[fr, fc], 1.0, 0.5 + 0.5 * ramp(r75_fire, 1.8, 2.5))
    return FireResult(
        sensor=sensor,
        algorithm="schroeder2016",
        fire=fire,
        test=test,
        confidence=confidence(fire, strength, cl & valid, water, rows=fr, cols=fc),
        valid=valid,
        cloud=cl & valid,
        water=water,
        candidates=potential,
        unknown=unknown,
        extra={"swir22": r[7]},
    )
