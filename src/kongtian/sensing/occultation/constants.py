"""Physical constants of the radio-occultation chain (SI unless stated)."""

from __future__ import annotations

#: Dry refractivity constant of the Smith-Weintraub formula: N = K1 * P / T with P in Pa,
#: T in K and N in N-units (77.6 K/hPa = 0.776 K/Pa).
K1_K_PER_PA = 0.776
#: Specific gas constant of dry air (J kg^-1 K^-1), as in the US Standard Atmosphere 1976.
RD_J_KG_K = 287.05287
#: Standard gravity (m s^-2).
G0_M_S2 = 9.80665
#: Effective Earth radius of the US Standard Atmosphere 1976 gravity law
#: g(z) = G0 * (R / (R + z))**2 (m).
GRAVITY_RADIUS_M = 6_356_766.0
#: Default local radius of curvature used when none is given (m).
DEFAULT_RC_M = 6_371_000.0
#: Speed of light in vacuum (m s^-1).
SPEED_OF_LIGHT_M_S = 299_792_458.0
#: GPS carrier frequencies (Hz).
GPS_L1_HZ = 1_575.42e6
GPS_L2_HZ = 1_227.60e6
