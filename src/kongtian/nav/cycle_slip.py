"""Cycle-slip detection on dual-frequency carrier phases, vectorised over satellites.

Four independent indicators, any of which marks a slip at (epoch, satellite):

- **LLI**: the receiver's loss-of-lock indicator, bit 0 of the RINEX LLI digit (bit 1 is
  the half-cycle/anti-spoofing flag and is *not* a slip; -1 means "absent").
- **Geometry-free** (GF): ``gf = lambda1 L1 - lambda2 L2`` (m) cancels geometry and
  clocks and changes only with the ionosphere (slowly, mm to cm per 30 s) and with
  slips; a jump ``|gf_k - gf_{k-1}| > gf_threshold_m`` (default 5 cm, as RTKLIB's
  ``thresslip``) is a slip. GF is blind to slips with ``lambda1 n1 = lambda2 n2``
  (e.g. 77/60 cycles) and weak for (1, 1) (5.4 cm).
- **Melbourne-Wuebbena** (MW): the wide-lane phase minus the narrow-lane code,
  ``mw = (f1 Phi1 - f2 Phi2)/(f1 - f2) - (f1 P1 + f2 P2)/(f1 + f2)`` (m, Phi = lambda L),
  expressed in wide-lane cycles (``lambda_WL = c/(f1 - f2)``, 86 cm for GPS L1/L2), is
  the wide-lane ambiguity plus code noise. A running mean and variance (Welford) per
  satellite is kept over the slip-free arc; a slip is declared when the new value is
  further than ``max(mw_sigma_factor * sigma, mw_min_cycles)`` from the mean. MW sees
  any slip with ``n1 != n2`` whatever the ionosphere, and is blind to ``n1 = n2``.
- **Gap**: a satellite unobserved for more than ``max_gap_s`` restarts its arc (flagged
  as a slip, since nothing guarantees continuity).

:class:`SlipDetector` is the epoch-by-epoch form for a filter; :func:`detect_slips`
runs it over (time, sv) arrays. Phases are in cycles, codes in metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.nav.constants import C_LIGHT_M_S

__all__ = ["SlipConfig", "SlipDetector", "SlipFlags", "detect_slips", "lli_slip"]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SlipConfig:
    """Thresholds of the slip tests (see the module docstring)."""

    gf_threshold_m: float = 0.05
    mw_sigma_factor: float = 5.0
    mw_min_cycles: float = 1.0
    mw_min_count: int = 2  # MW tested once the arc holds this many values
    max_gap_s: float = 300.0
    use_lli: bool = True
    use_gf: bool = True
    use_mw: bool = True


@dataclass(frozen=True)
class SlipFlags:
    """Per-indicator slip flags (same shape); ``any`` is their union."""

    lli: B
    gf: B
    mw: B
    gap: B

    @property
    def any(self) -> B:
        return np.asarray(self.lli | self.gf | self.mw | self.gap, dtype=np.bool_)


def lli_slip(lli: Any) -> B:
    """True where the RINEX loss-of-lock indicator has bit 0 set (-1/NaN: absent)."""
    a = np.asarray(lli)
    ai = np.where(a >= 0, a, 0).astype(np.int64)
    return np.asarray((ai & 1) == 1, dtype=np.bool_)


class SlipDetector:
    """Stateful slip detector for a fixed satellite list and one frequency pair.

    ``f1_hz``/``f2_hz`` are scalars or per-satellite arrays (GLONASS FDMA). Call
    :meth:`update` once per epoch in time order with arrays over the satellite list
    (NaN where absent); it returns the flags of that epoch and advances the state.
    Satellites without a phase pair at an epoch keep their state (subject to the gap
    test at their next observation).
    """

    def __init__(
        self, sv: Sequence[str], f1_hz: Any, f2_hz: Any, config: SlipConfig | None = None
    ) -> None:
        self.sv = list(sv)
        n = len(self.sv)
        self.cfg = config or SlipConfig()
        self.f1 = np.broadcast_to(np.asarray(f1_hz, dtype=np.float64), (n,)).copy()
        self.f2 = np.broadcast_to(np.asarray(f2_hz, dtype=np.float64), (n,)).copy()
        self.lam1 = C_LIGHT_M_S / self.f1
        self.lam2 = C_LIGHT_M_S / self.f2
        self.lam_wl = C_LIGHT_M_S / (self.f1 - self.f2)
        self.last_t_ns = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        self.gf_prev = np.full(n, np.nan)
        self.mw_count = np.zeros(n, dtype=np.int64)
        self.mw_mean = np.zeros(n)
        self.mw_m2 = np.zeros(n)

    def mw_cycles(self, l1: F64, l2: F64, p1: F64, p2: F64) -> F64:
        """Melbourne-Wuebbena combination in wide-lane cycles."""
        f1, f2 = self.f1, self.f2
        phase_wl = (f1 * l1 * self.lam1 - f2 * l2 * self.lam2) / (f1 - f2)
        code_nl = (f1 * p1 + f2 * p2) / (f1 + f2)
        return np.asarray((phase_wl - code_nl) / self.lam_wl, dtype=np.float64)

    def update(
        self,
        t: Any,
        l1_cyc: Any,
        l2_cyc: Any,
        p1_m: Any = None,
        p2_m: Any = None,
        lli1: Any = None,
        lli2: Any = None,
    ) -> SlipFlags:
        """Flags for one epoch ``t`` (datetime64) and advance the per-satellite state."""
        cfg = self.cfg
        n = len(self.sv)
        t_ns = np.datetime64(t, "ns").astype(np.int64)
        l1 = np.asarray(l1_cyc, dtype=np.float64)
        l2 = np.asarray(l2_cyc, dtype=np.float64)
        have = np.isfinite(l1) & np.isfinite(l2)
        zeros = np.zeros(n, dtype=bool)
        f_lli = zeros.copy()
        if cfg.use_lli:
            for x in (lli1, lli2):
                if x is not None:
                    f_lli |= lli_slip(x)
            f_lli &= have
        seen = self.last_t_ns != np.iinfo(np.int64).min
        dt_s = np.where(seen, (t_ns - self.last_t_ns) / 1e9, 0.0)
        f_gap = have & seen & (dt_s > cfg.max_gap_s)
        gf = self.lam1 * l1 - self.lam2 * l2
        f_gf = zeros.copy()
        if cfg.use_gf:
            prev_ok = have & np.isfinite(self.gf_prev) & ~f_gap
            f_gf = prev_ok & (
                np.abs(gf - np.where(prev_ok, self.gf_prev, 0.0)) > cfg.gf_threshold_m
            )
        f_mw = zeros.copy()
        mw = np.full(n, np.nan)
        if cfg.use_mw and p1_m is not None and p2_m is not None:
            p1 = np.asarray(p1_m, dtype=np.float64)
            p2 = np.asarray(p2_m, dtype=np.float64)
            mw = self.mw_cycles(l1, l2, p1, p2)
            test = have & np.isfinite(mw) & (self.mw_count >= cfg.mw_min_count) & ~f_gap
            cnt = np.maximum(self.mw_count - 1, 1)
            sigma = np.sqrt(self.mw_m2 / cnt)
            thr = np.maximum(cfg.mw_sigma_factor * sigma, cfg.mw_min_cycles)
            f_mw = test & (np.abs(mw - self.mw_mean) > thr)
        flags = SlipFlags(f_lli, f_gf, f_mw, f_gap)
        slip = flags.any
        # State update: restart the MW arc where a slip was found, else accumulate.
        upd = have & np.isfinite(mw)
        restart = upd & (slip | (self.mw_count == 0))
        self.mw_count[restart] = 0
        self.mw_mean[restart] = 0.0
        self.mw_m2[restart] = 0.0
        k = self.mw_count[upd] + 1
        delta = mw[upd] - self.mw_mean[upd]
        self.mw_mean[upd] += delta / k
        self.mw_m2[upd] += delta * (mw[upd] - self.mw_mean[upd])
        self.mw_count[upd] = k
        self.gf_prev = np.where(have, gf, self.gf_prev)
        self.last_t_ns = np.where(have, t_ns, self.last_t_ns)
        return flags


def detect_slips(
    times: Any,
    sv: Sequence[str],
    l1_cyc: Any,
    l2_cyc: Any,
    f1_hz: Any,
    f2_hz: Any,
    *,
    p1_m: Any = None,
    p2_m: Any = None,
    lli1: Any = None,
    lli2: Any = None,
    config: SlipConfig | None = None,
) -> SlipFlags:
    """Run :class:`SlipDetector` over arrays of shape (time, sv); flags of that shape."""
    l1 = np.asarray(l1_cyc, dtype=np.float64)
    l2 = np.asarray(l2_cyc, dtype=np.float64)
    nt = l1.shape[0]
    det = SlipDetector(sv, f1_hz, f2_hz, config)
    out = {k: np.zeros(l1.shape, dtype=bool) for k in ("lli", "gf", "mw", "gap")}
    tt = np.asarray(times, dtype="datetime64[ns]")

    def row(x: Any, i: int) -> Any:
        return None if x is None else np.asarray(x)[i]

    for i in range(nt):
        f = det.update(tt[i], l1[i], l2[i], row(p1_m, i), row(p2_m, i), row(lli1, i),
                       row(lli2, i))  # fmt: skip
        out["lli"][i], out["gf"][i], out["mw"][i], out["gap"][i] = f.lli, f.gf, f.mw, f.gap
    return SlipFlags(out["lli"], out["gf"], out["mw"], out["gap"])
