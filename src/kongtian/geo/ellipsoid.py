"""Reference ellipsoids. Semi-major axis ``a_m`` in metres, flattening ``f``."""

from __future__ import annotations

from dataclasses import dataclass

from kongtian.errors import NotFound


@dataclass(frozen=True)
class Ellipsoid:
    name: str
    a_m: float
    f: float
    gm_m3_s2: float
    omega_rad_s: float

    @property
    def b_m(self) -> float:
        return self.a_m * (1.0 - self.f)

    @property
    def e2(self) -> float:
        return self.f * (2.0 - self.f)


WGS84 = Ellipsoid("WGS84", 6_378_137.0, 1.0 / 298.257223563, 3.986004418e14, 7.2921151467e-5)
# CGCS2000 shares a with WGS84; f differs in the 11th digit (b differs by ~0.1 mm).
CGCS2000 = Ellipsoid("CGCS2000", 6_378_137.0, 1.0 / 298.257222101, 3.986004418e14, 7.292115e-5)
# WGS72 is what SGP4 element sets are fitted with (radius and GM used by the propagator).
WGS72 = Ellipsoid("WGS72", 6_378_135.0, 1.0 / 298.26, 3.986008e14, 7.292115147e-5)

ELLIPSOIDS = {e.name: e for e in (WGS84, CGCS2000, WGS72)}


def ellipsoid(name: str | Ellipsoid) -> Ellipsoid:
    if isinstance(name, Ellipsoid):
        return name
    try:
        return ELLIPSOIDS[name.upper()]
    except KeyError:
        raise NotFound(f"unknown ellipsoid {name!r}; known: {', '.join(ELLIPSOIDS)}") from None
