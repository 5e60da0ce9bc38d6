"""Sentinel-2 active fires: the HOTMAP tests of Murphy et al. (2016), RSE 176:296-306.

Murphy et al. define the tests on Landsat-8 OLI bands 5/6/7 and apply the same tests to
Sentinel-2's B8A (0.865 um), B11 (1.61 um), B12 (2.19 um). With ``r8a``, ``r11``,
``r12`` the reflectances:

- alpha (hot pixel): ``r12/r11 >= 1.4 and r12/r8a >= 1.4 and r12 >= 0.15``;
- beta (very hot or saturated pixel): ``(r11/r8a >= 2 and r11 >= 0.5 and r12 >= 0.5)``
  or ``r11``/``r12`` saturated; a beta pixel is a fire only when one of its 8
  neighbours (or itself) is an alpha pixel.

A ratio whose denominator is not > 0 is undefined and fails. There is no contextual
test in HOTMAP. Our additions (decision 0021): a pixel the product flags as cloud (SCL
classes 3, 8, 9, 10) can only be a fire through alpha, never through beta; confidence
strength ``0.5 + 0.5 S(min(r12/r11, r12/r8a); 1.4, 2.8)`` for alpha, 0.5 for beta.

The same tests run on MODIS NBAR (band 2 0.86 um, 6 1.64 um, 7 2.13 um) through
:func:`murphy2016` with ``sensor="modis"``: a spectral analogue, not a MODIS fire
product (MOD14 needs the thermal bands; :mod:`.contextual`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.ndimage import binary_dilation

from .landsat import ratio
from .result import TEST_ABSOLUTE, TEST_CONTEXTUAL, FireResult, confidence, ramp

BoolArray = npt.NDArray[np.bool_]


def alpha_test(r8a: Any, r11: Any, r12: Any) -> BoolArray:
    """Murphy alpha: hot pixel."""
    b12 = np.asarray(r12, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        out = (ratio(b12, r11) >= 1.4) & (ratio(b12, r8a) >= 1.4) & (b12 >= 0.15)
    return np.asarray(out)


def beta_test(r8a: Any, r11: Any, r12: Any, saturated: Any | None = None) -> BoolArray:
    """Murphy beta: very hot pixel (before the adjacency-to-alpha condition)."""
    b11 = np.asarray(r11, dtype=np.float32)
    b12 = np.asarray(r12, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        out = (ratio(b11, r8a) >= 2.0) & (b11 >= 0.5) & (b12 >= 0.5)
    if saturated is not None:
        out |= np.asarray(saturated, dtype=bool)
    return np.asarray(out)


def murphy2016(
    r8a: Any,
    r11: Any,
    r12: Any,
    cloud: Any | None = None,
    *,
    saturated: Any | None = None,
    water: Any | None = None,
    sensor: str = "sentinel-2",
) -> FireResult:
    """Run the Murphy et al. (2016) tests; arrays of one shape, NaN = no data."""
    a8 = np.asarray(r8a, dtype=np.float32)
    a11 = np.asarray(r11, dtype=np.float32)
    a12 = np.asarray(r12, dtype=np.float32)
    valid = np.isfinite(a8) & np.isfinite(a11) & np.isfinite(a12)
    cl = np.zeros(valid.shape, dtype=bool) if cloud is None else np.asarray(cloud, dtype=bool)
    wa = np.zeros(valid.shape, dtype=bool) if water is None else np.asarray(water, dtype=bool)
    sat = None if saturated is None else np.asarray(saturated, dtype=bool)
    alpha = alpha_test(a8, a11, a12) & (valid if sat is None else (valid | sat))
    beta = beta_test(a8, a11, a12, sat) & ~alpha & ~cl
    near_alpha = binary_dilation(alpha, structure=np.ones((3, 3), dtype=bool))
    beta_fire = beta & near_alpha
    fire = (alpha | beta_fire) & ~wa
    test = np.zeros(valid.shape, dtype=np.uint8)
    test[fire & alpha] = TEST_ABSOLUTE
    test[fire & beta_fire] = TEST_CONTEXTUAL
    fr, fc = np.nonzero(fire)
    with np.errstate(invalid="ignore"):
        rmin = np.fmin(ratio(a12[fr, fc], a11[fr, fc]), ratio(a12[fr, fc], a8[fr, fc]))
    strength = np.where(alpha[fr, fc], 0.5 + 0.5 * ramp(np.nan_to_num(rmin), 1.4, 2.8), 0.5)
    return FireResult(
        sensor=sensor,
        algorithm="murphy2016",
        fire=fire,
        test=test,
        confidence=confidence(fire, strength, cl & valid, wa & valid, rows=fr, cols=fc),
        valid=valid,
        cloud=cl & valid,
        water=wa & valid,
        candidates=alpha | beta,
        unknown=np.zeros(valid.shape, dtype=bool),
        extra={"swir22": a12},
    )
