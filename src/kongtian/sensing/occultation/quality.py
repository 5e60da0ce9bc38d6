"""Per-level quality flags of a retrieved profile (bit mask, ``uint16``).

A level is usable when its flag is 0, or only :data:`BACKGROUND_DOMINATED` /
:data:`TOP_INITIALISATION` are set (those say the value leans on the climatology).
"""

from __future__ import annotations

#: Input bending angle was not positive.
NONPOSITIVE_BENDING = 1
#: Retrieved refractivity was not positive.
NONPOSITIVE_REFRACTIVITY = 2
#: Radius ``r = x / n`` does not increase with impact parameter (super-refraction or noise).
NONMONOTONIC_ALTITUDE = 4
#: Statistical optimisation gave the observation less than half the weight.
BACKGROUND_DOMINATED = 8
#: Dry temperature outside 150-350 K.
TEMPERATURE_OUT_OF_RANGE = 16
#: Within 2 scale heights (14 km) of the top: pressure still depends on the top guess.
TOP_INITIALISATION = 32

FLAG_MEANINGS = {
    NONPOSITIVE_BENDING: "nonpositive_bending",
    NONPOSITIVE_REFRACTIVITY: "nonpositive_refractivity",
    NONMONOTONIC_ALTITUDE: "nonmonotonic_altitude",
    BACKGROUND_DOMINATED: "background_dominated",
    TEMPERATURE_OUT_OF_RANGE: "temperature_out_of_range",
    TOP_INITIALISATION: "top_initialisation",
}

#: Flags that make a level unusable.
BAD = NONPOSITIVE_REFRACTIVITY | NONMONOTONIC_ALTITUDE | TEMPERATURE_OUT_OF_RANGE
