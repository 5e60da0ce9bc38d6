"""Physical constants of the GNSS broadcast models, per system (SI units).

Each constellation's interface control document fixes the gravitational parameter GM
and the Earth rotation rate used to *evaluate* its broadcast ephemeris. They differ in
the 7th-10th digit, and mixing them up is a classic source of metre-level orbit errors
(see ``docs/decisions/0015-ephemeris.md``):

=======  ====================  ====================  ====================================
system   GM (m^3/s^2)          Earth rate (rad/s)    source
=======  ====================  ====================  ====================================
GPS      3.9860050e14          7.2921151467e-5       IS-GPS-200 (WGS 84)
QZSS     3.9860050e14          7.2921151467e-5       IS-QZSS-PNT (same as GPS)
Galileo  3.986004418e14        7.2921151467e-5       OS SIS ICD 2.0 (GTRF)
BeiDou   3.986004418e14        7.2921150e-5          BDS-SIS-ICD-B1I 3.0 (CGCS2000)
GLONASS  3.9860044e14          7.292115e-5           GLONASS ICD 5.1 (PZ-90)
NavIC    3.9860050e14          7.2921151467e-5       IRNSS SIS ICD (WGS 84)
SBAS     (state vector)        -                     RTCA DO-229 (WGS 84)
=======  ====================  ====================  ====================================

The relativistic clock constant is ``F = -2 sqrt(GM) / c^2`` with the system's own GM:
-4.442807633e-10 s/m^0.5 for GPS, -4.442807309e-10 for Galileo and BeiDou (the values
printed in the ICDs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

C_LIGHT_M_S = 299_792_458.0


@dataclass(frozen=True)
class OrbitConstants:
    """Constants one system's broadcast orbit model is evaluated with.

    ``max_dtoe_s`` is the largest ``|t - toe|`` for which an ephemeris of that system is
    used (the RTKLIB ``MAXDTOE*`` values; see ADR 0015 for why).
    """

    system: str
    gm_m3_s2: float
    omega_e_rad_s: float
    max_dtoe_s: float
    frame: str

    @property
    def f_rel_s_sqrtm(self) -> float:
        """Relativistic clock constant F = -2 sqrt(GM)/c^2 (s/m^0.5)."""
        return -2.0 * math.sqrt(self.gm_m3_s2) / C_LIGHT_M_S**2


GPS = OrbitConstants("G", 3.9860050e14, 7.2921151467e-5, 7200.0, "WGS84")
QZSS = OrbitConstants("J", 3.9860050e14, 7.2921151467e-5, 7200.0, "WGS84")
GALILEO = OrbitConstants("E", 3.986004418e14, 7.2921151467e-5, 14400.0, "GTRF")
BEIDOU = OrbitConstants("C", 3.986004418e14, 7.2921150e-5, 21600.0, "CGCS2000")
NAVIC = OrbitConstants("I", 3.9860050e14, 7.2921151467e-5, 7200.0, "WGS84")
GLONASS = OrbitConstants("R", 3.9860044e14, 7.292115e-5, 1800.0, "PZ-90")
# SBAS GEO messages carry a state vector (no orbit model: GM unused); 6-min validity.
SBAS = OrbitConstants("S", 3.9860050e14, 7.2921151467e-5, 360.0, "WGS84")

ORBIT_CONSTANTS: dict[str, OrbitConstants] = {
    c.system: c for c in (GPS, QZSS, GALILEO, BEIDOU, NAVIC, GLONASS, SBAS)
}

# PZ-90 figure of the Earth used by the GLONASS equations of motion (ICD 5.1, A.3.1.2).
GLONASS_A_M = 6_378_136.0
GLONASS_J2 = 1.0826257e-3

# BeiDou GEO: the broadcast elements of C01-C05 and C59-C63 describe the orbit in a frame
# tilted by +5 deg about X (keeps the tiny inclination away from the singular zero);
# the user rotates back by -5 deg (BDS-SIS-ICD-B1I 3.0, section 5.2.4.12).
BDS_GEO_TILT_RAD = math.radians(-5.0)
BDS_GEO_PRNS: frozenset[int] = frozenset((1, 2, 3, 4, 5, 59, 60, 61, 62, 63))
