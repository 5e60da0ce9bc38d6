"""First-order ionospheric correction of bending angles (dual frequency).

To first order the ionospheric bending scales as ``1/f^2``, so at the *same impact
parameter* ``alpha_i(a) = alpha_neutral(a) + C(a) / f_i^2`` and the combination

    alpha(a) = (f1^2 alpha_1(a) - f2^2 alpha_2(a)) / (f1^2 - f2^2)

cancels ``C`` (Vorob'ev & Krasil'nikova 1994; for GPS L1/L2 the weights are 2.5457 and
-1.5457). The two signals are sampled at different impact parameters, so ``alpha_2`` is
interpolated (linearly) onto the impact grid of ``alpha_1``; levels outside the L2 range
come back NaN. Higher-order residuals (the "kappa" term) are not corrected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError

from .constants import GPS_L1_HZ, GPS_L2_HZ

FloatArray = npt.NDArray[np.float64]


def linear_combination_weights(
    f1_hz: float = GPS_L1_HZ, f2_hz: float = GPS_L2_HZ
) -> tuple[float, float]:
    """Weights ``(c1, c2)`` with ``alpha = c1 alpha_1 + c2 alpha_2`` (``c1 + c2 = 1``)."""
    if not f1_hz > f2_hz > 0:
        raise ConfigError(f"needs f1 > f2 > 0, got {f1_hz:g}, {f2_hz:g}", option="frequencies")
    d = f1_hz**2 - f2_hz**2
    return f1_hz**2 / d, -(f2_hz**2) / d


def ionosphere_free_bending(
    impact1_m: Any,
    bending1_rad: Any,
    impact2_m: Any,
    bending2_rad: Any,
    f1_hz: float = GPS_L1_HZ,
    f2_hz: float = GPS_L2_HZ,
) -> FloatArray:
    """Neutral bending angle (rad) on the impact grid ``impact1_m`` (m) of the first signal.

    ``impact2_m`` must be strictly increasing; it may differ from ``impact1_m``.
    """
    a1 = np.asarray(impact1_m, dtype=np.float64)
    al1 = np.asarray(bending1_rad, dtype=np.float64)
    a2 = np.asarray(impact2_m, dtype=np.float64)
    al2 = np.asarray(bending2_rad, dtype=np.float64)
    if a1.shape != al1.shape or a2.shape != al2.shape:
        raise ConfigError("impact and bending arrays must match in length")
    if a2.size < 2 or not np.all(np.diff(a2) > 0):
        raise ConfigError("must be strictly increasing", option="impact2_m")
    c1, c2 = linear_combination_weights(f1_hz, f2_hz)
    al2_on_1 = np.interp(a1, a2, al2, left=np.nan, right=np.nan)
    return np.asarray(c1 * al1 + c2 * al2_on_1)
