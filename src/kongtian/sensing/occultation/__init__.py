"""GNSS radio occultation: bending angle to dry refractivity, pressure and temperature.

Chain (each step its own module, SI units inside):

- :mod:`.geometry` excess phase and orbits -> bending angle (geometric optics);
- :mod:`.ionosphere` dual-frequency linear combination at equal impact parameter;
- :mod:`.climatology` + :mod:`.optimisation` statistical optimisation with a background;
- :mod:`.abel` inverse (and forward) Abel transform;
- :mod:`.hydrostatic` dry pressure and temperature;
- :mod:`.retrieval` the whole chain, :class:`RoProfile`, :mod:`.quality` flags;
- :mod:`.atmprf` netCDF in the CDAAC atmPrf-like layout, :mod:`.files` CSV I/O.
"""

from __future__ import annotations

from .abel import forward_abel, inverse_abel
from .hydrostatic import dry_pressure_temperature
from .ionosphere import ionosphere_free_bending
from .optimisation import estimate_noise, statistical_optimisation
from .retrieval import RoProfile, retrieve

__all__ = [
    "RoProfile",
    "dry_pressure_temperature",
    "estimate_noise",
    "forward_abel",
    "inverse_abel",
    "ionosphere_free_bending",
    "retrieve",
    "statistical_optimisation",
]
