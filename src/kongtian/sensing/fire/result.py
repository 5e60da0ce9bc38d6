"""The result every fire algorithm returns, and the shared confidence ramps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .window import neighbours_at

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]

#: values of :attr:`FireResult.test` (which test made the detection)
TEST_NONE, TEST_ABSOLUTE, TEST_CONTEXTUAL = 0, 1, 2
TEST_NAMES = {TEST_ABSOLUTE: "absolute", TEST_CONTEXTUAL: "contextual"}


@dataclass
class FireResult:
    """Per-pixel fire detection on one grid.

    - ``fire``: final fire pixels;
    - ``test``: :data:`TEST_ABSOLUTE` (Schroeder unambiguous / Murphy alpha / MOD14
      absolute), :data:`TEST_CONTEXTUAL` (Schroeder potential + contextual / Murphy beta
      next to alpha / MOD14 contextual), 0 elsewhere;
    - ``confidence``: 0-100 at fire pixels, NaN elsewhere (see :func:`confidence`);
    - ``valid``, ``cloud``, ``water``: the masks the algorithm used;
    - ``candidates``: pixels that reached the contextual stage; ``unknown``: candidates
      whose window had too few background pixels to be tested.
    """

    sensor: str
    algorithm: str
    fire: BoolArray
    test: npt.NDArray[np.uint8]
    confidence: FloatArray
    valid: BoolArray
    cloud: BoolArray
    water: BoolArray
    candidates: BoolArray
    unknown: BoolArray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_fire(self) -> int:
        return int(self.fire.sum())

    def summary(self) -> dict[str, Any]:
        """Counts for logs and the CLI."""
        return {
            "sensor": self.sensor,
            "algorithm": self.algorithm,
            "pixels": int(self.fire.size),
            "valid_pixels": int(self.valid.sum()),
            "cloud_pixels": int((self.cloud & self.valid).sum()),
            "water_pixels": int((self.water & self.valid).sum()),
            "candidate_pixels": int(self.candidates.sum()),
            "unknown_pixels": int(self.unknown.sum()),
            "fire_pixels": self.n_fire,
            "absolute_fire_pixels": int((self.test == TEST_ABSOLUTE).sum()),
            "contextual_fire_pixels": int((self.test == TEST_CONTEXTUAL).sum()),
        }


def ramp(x: Any, lo: float, hi: float) -> npt.NDArray[np.float64]:
    """MOD14's linear ramp S(x; lo, hi): 0 below ``lo``, 1 above ``hi``."""
    return np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def confidence(
    fire: BoolArray,
    strength: Any,
    cloud: BoolArray,
    water: BoolArray,
    rows: Any | None = None,
    cols: Any | None = None,
) -> FloatArray:
    """Confidence 0-100 at ``fire`` pixels (NaN elsewhere).

    Geometric mean of three factors in the style of MOD14 collection 6 (Giglio et al.
    2016): ``strength`` in [0, 1] (each algorithm's own signal ramp), and
    ``1 - S(n; 0, 6)`` for the number ``n`` of adjacent cloud and adjacent water pixels
    (8-neighbours). ``strength`` is either an image or one value per fire pixel in
    row-major order (``np.nonzero(fire)``, or ``rows``/``cols`` when given). The published Landsat and Sentinel-2 algorithms give no numeric
    confidence; this is our documented adaptation.
    """
    if rows is None or cols is None:
        rows, cols = np.nonzero(fire)
    out = np.full(np.shape(fire), np.nan, dtype=np.float32)
    c_cloud = 1.0 - ramp(neighbours_at(cloud, rows, cols), 0.0, 6.0)
    c_water = 1.0 - ramp(neighbours_at(water, rows, cols), 0.0, 6.0)
    st = np.asarray(strength, dtype=np.float64)
    if st.ndim == 2:
        st = st[rows, cols]
    s = np.clip(st, 0.0, 1.0)
    out[rows, cols] = 100.0 * np.cbrt(s * c_cloud * c_water)
    return out


def confidence_class(conf: Any) -> npt.NDArray[np.str_]:
    """``low`` (< 30), ``nominal`` (30-80), ``high`` (>= 80), as in MOD14 (Giglio 2016)."""
    c = np.asarray(conf, dtype=np.float64)
    return np.where(c >= 80.0, "high", np.where(c >= 30.0, "nominal", "low"))
