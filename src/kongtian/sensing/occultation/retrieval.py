"""The retrieval chain from neutral bending angle to dry refractivity, pressure, temperature.

``retrieve`` runs: noise estimate -> background (climatology scaled to the observations)
-> statistical optimisation -> Abel inversion -> altitude ``r - Rc`` -> hydrostatic
integration -> quality flags. Every step is also a public function of its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.errors import ConfigError

from . import quality as q
from .abel import inverse_abel
from .climatology import climatology_bending, climatology_profile
from .constants import DEFAULT_RC_M
from .hydrostatic import dry_pressure_temperature, scale_height_temperature
from .optimisation import (
    estimate_noise,
    fit_background_scale,
    statistical_optimisation,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoProfile:
    """One retrieved dry profile; arrays share the impact-parameter levels (SI units).

    Attributes
    ----------
    impact_m : impact parameter (m), increasing.
    bending_obs_rad : input (neutral) bending angle (rad).
    bending_rad : bending angle actually inverted (rad): optimised, or the input.
    bending_background_rad : scaled climatology bending (rad), NaN without optimisation.
    altitude_m : altitude above the sphere of radius ``rc_m`` (m).
    refractivity : N-units.
    pressure_pa, temperature_k : dry pressure (Pa) and temperature (K); NaN where unusable.
    flags : per-level bit mask, see :mod:`kongtian.sensing.occultation.quality`.
    rc_m : local radius of curvature (m); t_top_k: temperature used at the top (K);
    background_scale : factor applied to the climatology (1.0 without optimisation).
    """

    impact_m: FloatArray
    bending_obs_rad: FloatArray
    bending_rad: FloatArray
    bending_background_rad: FloatArray
    altitude_m: FloatArray
    refractivity: FloatArray
    pressure_pa: FloatArray
    temperature_k: FloatArray
    flags: npt.NDArray[np.uint16]
    rc_m: float
    t_top_k: float
    background_scale: float

    @property
    def bad(self) -> bool:
        """True when a level between 5 and 25 km carries a flag in :data:`quality.BAD`."""
        core = (self.altitude_m >= 5e3) & (self.altitude_m <= 25e3)
        return bool(np.any(self.flags[core] & q.BAD)) or not core.any()


def retrieve(
    impact_m: Any,
    bending_rad: Any,
    rc_m: float = DEFAULT_RC_M,
    *,
    optimise: bool = True,
    sigma_obs_rad: Any = None,
    background_error: float = 0.15,
    correlation_length_m: float = 6_000.0,
    fit_window_m: tuple[float, float] | None = (40e3, 60e3),
    t_top_k: float | None = None,
) -> RoProfile:
    """Dry profile from a neutral (ionosphere-corrected) bending-angle profile.

    Parameters
    ----------
    impact_m, bending_rad : arrays (n,)
        Impact parameter (m, strictly increasing) and bending angle (rad).
    rc_m : float
        Local radius of curvature (m); altitudes are ``r - rc_m``.
    optimise : bool
        Blend with the climatology (:mod:`.optimisation`) before the Abel inversion.
    sigma_obs_rad : array or float, optional
        Observation noise (rad); estimated from the profile when omitted.
    background_error, correlation_length_m : float
        Relative background error and its correlation length (m).
    fit_window_m : (float, float) or None
        Impact heights ``a - rc_m`` (m) where the climatology is scaled to the data;
        None uses the climatology as it is.
    t_top_k : float, optional
        Temperature at the top level (K): default the climatology's when optimising, else
        the refractivity scale-height temperature of the top 10 km.
    """
    a = np.asarray(impact_m, dtype=np.float64)
    ao = np.asarray(bending_rad, dtype=np.float64)
    if a.ndim != 1 or a.shape != ao.shape or a.size < 3:
        raise ConfigError("impact and bending must be 1-D of equal length >= 3")
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(ao)):
        raise ConfigError("impact and bending must be finite")
    if not np.all(np.diff(a) > 0):
        raise ConfigError("must be strictly increasing", option="impact_m")
    if not rc_m > 0 or not np.all(a > rc_m * 0.9):
        raise ConfigError("impact parameters must be radii (m) close to rc_m", option="rc_m")
    flags = np.zeros(a.size, dtype=np.uint16)
    flags[ao <= 0] |= q.NONPOSITIVE_BENDING

    background = np.full_like(a, np.nan)
    scale = 1.0
    used = ao
    if optimise:
        sigma = estimate_noise(ao) if sigma_obs_rad is None else sigma_obs_rad
        sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), a.shape)
        clim = climatology_bending(a, rc_m)
        clim = np.where(np.isfinite(clim), clim, ao)  # below the climatology's floor
        if fit_window_m is not None:
            scale = fit_background_scale(
                a, ao, clim, sigma, (rc_m + fit_window_m[0], rc_m + fit_window_m[1])
            )
        background = scale * clim
        used = statistical_optimisation(
            a, ao, background, sigma, background_error, correlation_length_m
        )
        sb = background_error * np.abs(background)
        flags[sb**2 < sigma**2] |= q.BACKGROUND_DOMINATED

    x, n = inverse_abel(a, used)
    radius = x / (1.0 + n * 1e-6)
    alt = radius - rc_m
    flags[n <= 0] |= q.NONPOSITIVE_REFRACTIVITY
    # Keep levels whose altitude rises above every level below them.
    rising = alt > np.concatenate([[-np.inf], np.maximum.accumulate(alt)[:-1]])
    flags[~rising] |= q.NONMONOTONIC_ALTITUDE
    ok = rising & (n > 0)
    p = np.full_like(a, np.nan)
    t = np.full_like(a, np.nan)
    if t_top_k is None:
        top_alt = float(alt[ok][-1]) if ok.any() else float(alt[-1])
        t_top_k = float(climatology_profile(top_alt)[0])
        if not optimise:
            try:
                t_top_k = scale_height_temperature(alt[ok], n[ok])
            except ConfigError:  # noisy top: fall back on the climatology
                pass
    if ok.sum() >= 2:
        p[ok], t[ok] = dry_pressure_temperature(alt[ok], n[ok], t_top_k=t_top_k)
    flags[~((t >= 150.0) & (t <= 350.0))] |= q.TEMPERATURE_OUT_OF_RANGE
    if ok.any():
        flags[alt > alt[ok][-1] - 14e3] |= q.TOP_INITIALISATION
    return RoProfile(
        impact_m=a,
        bending_obs_rad=ao,
        bending_rad=np.asarray(used),
        bending_background_rad=background,
        altitude_m=alt,
        refractivity=n,
        pressure_pa=p,
        temperature_k=t,
        flags=flags,
        rc_m=float(rc_m),
        t_top_k=float(t_top_k),
        background_scale=float(scale),
    )
