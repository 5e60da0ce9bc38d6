"""GNSS systems, bands, carrier frequencies and RINEX observation-code normalisation.

Observation codes follow RINEX 3.03+ (``<type><band><attribute>``, e.g. ``C2I`` = BeiDou
B1I pseudorange). Two older conventions are mapped onto it by :func:`normalise_code`
(decision record ``docs/decisions/0014-rinex.md``):

- **RINEX 3.00-3.02 BeiDou**: B1I was labelled band ``1`` (``C1I``/``L1I``/``C1Q``/
  ``C1X``); RINEX 3.03 moved it to band ``2`` once B1C took band 1. For files of version
  < 3.03 every BeiDou band-1 code becomes band 2.
- **RINEX 2** two-letter codes, per system (the attribute is the tracking mode the
  typical receiver of that era used; RINEX 2 does not say):

  ====== ======================== =========================================================
  system RINEX 2                  RINEX 3 code
  ====== ======================== =========================================================
  G, J   C1 P1 L1 D1 S1           C1C C1W L1C D1C S1C
  G, J   P2 L2 D2 S2              C2W L2W D2W S2W (semi-codeless P(Y))
  G, J   C2 (and L2/D2/S2 if no   C2X L2X D2X S2X (L2C M+L), used when P2 is absent
         P2 in the file)
  G, J   C5 L5 D5 S5              C5X L5X D5X S5X
  R      C1 P1 L1 D1 S1           C1C C1P L1C D1C S1C
  R      C2 P2 L2 D2 S2           C2C C2P L2P D2P S2P (L2/D2/S2 -> C attribute if no P2)
  E      C1 L1 D1 S1 (and 5 7 8   C1X L1X D1X S1X (C5X, C7X, C8X, C6X ...)
         6)
  S      C1 L1 D1 S1, C5 ...      C1C L1C D1C S1C, C5I L5I D5I S5I
  C      C1 / C2 L2 ... (2.12)    band 1 -> 2 (B1I), attribute I; C7 -> C7I, C6 -> C6I
  ====== ======================== =========================================================

Frequencies (Hz) are per system and band (GLONASS FDMA bands 1/2 depend on the
channel number k: 1602 + 0.5625 k MHz and 1246 + 0.4375 k MHz).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "SYSTEMS",
    "SYSTEM_NAMES",
    "frequency_hz",
    "normalise_code",
    "normalise_codes",
    "wavelength_m",
]

C_LIGHT_M_S = 299_792_458.0

SYSTEMS = "GRECJIS"
SYSTEM_NAMES = {"G": "GPS", "R": "GLONASS", "E": "Galileo", "C": "BeiDou", "J": "QZSS",
                "I": "NavIC", "S": "SBAS"}  # fmt: skip

_F0 = 10.23e6
#: Carrier frequency per (system, RINEX 3.03+ band digit), Hz.
FREQUENCIES_HZ: dict[tuple[str, str], float] = {
    ("G", "1"): 154 * _F0, ("G", "2"): 120 * _F0, ("G", "5"): 115 * _F0,
    ("J", "1"): 154 * _F0, ("J", "2"): 120 * _F0, ("J", "5"): 115 * _F0,
    ("J", "6"): 125 * _F0,
    ("S", "1"): 154 * _F0, ("S", "5"): 115 * _F0,
    ("E", "1"): 154 * _F0, ("E", "5"): 115 * _F0, ("E", "7"): 118 * _F0,
    ("E", "8"): 116.5 * _F0, ("E", "6"): 125 * _F0,
    ("C", "2"): 1561.098e6,  # B1I
    ("C", "1"): 154 * _F0,  # B1C
    ("C", "5"): 115 * _F0,  # B2a
    ("C", "7"): 118 * _F0,  # B2I / B2b
    ("C", "8"): 116.5 * _F0,  # B2a+b
    ("C", "6"): 1268.52e6,  # B3I
    ("I", "5"): 115 * _F0, ("I", "9"): 2492.028e6,
    ("R", "4"): 1600.995e6, ("R", "6"): 1248.06e6, ("R", "3"): 1202.025e6,
}  # fmt: skip

_GLO_FDMA = {"1": (1602.0e6, 0.5625e6), "2": (1246.0e6, 0.4375e6)}


def frequency_hz(system: str, band: str, glonass_k: int | None = None) -> float:
    """Carrier frequency (Hz) of ``band`` (RINEX 3.03+ digit) of ``system``.

    GLONASS FDMA bands 1 and 2 need the frequency channel ``glonass_k`` (-7..+6).
    Raises ``KeyError`` for an unknown (system, band).
    """
    if system == "R" and band in _GLO_FDMA:
        if glonass_k is None:
            raise KeyError(f"GLONASS band {band} needs the frequency channel number")
        base, step = _GLO_FDMA[band]
        return base + step * glonass_k
    return FREQUENCIES_HZ[(system, band)]


def wavelength_m(system: str, band: str, glonass_k: int | None = None) -> float:
    """Carrier wavelength (m); see :func:`frequency_hz`."""
    return C_LIGHT_M_S / frequency_hz(system, band, glonass_k)


_V2_GPS = {"C1": "C1C", "P1": "C1W", "L1": "L1C", "D1": "D1C", "S1": "S1C",
           "P2": "C2W", "L2": "L2W", "D2": "D2W", "S2": "S2W", "C2": "C2X",
           "C5": "C5X", "L5": "L5X", "D5": "D5X", "S5": "S5X"}  # fmt: skip
_V2_GLO = {"C1": "C1C", "P1": "C1P", "L1": "L1C", "D1": "D1C", "S1": "S1C",
           "C2": "C2C", "P2": "C2P", "L2": "L2P", "D2": "D2P", "S2": "S2P"}  # fmt: skip
_V2_SBAS = {"C1": "C1C", "L1": "L1C", "D1": "D1C", "S1": "S1C",
            "C5": "C5I", "L5": "L5I", "D5": "D5I", "S5": "S5I"}  # fmt: skip


def normalise_codes(system: str, codes: Sequence[str], version: float) -> list[str]:
    """Map one system's observation codes, as listed in a header, to RINEX 3.03+ codes.

    The whole list is needed for RINEX 2 (``L2`` of GPS means ``L2W`` when ``P2`` is
    listed, ``L2X`` otherwise).
    """
    codes = [c.strip() for c in codes]
    if version >= 3.0:
        if system == "C" and version < 3.03:
            return [c[0] + "2" + c[2:] if len(c) == 3 and c[1] == "1" else c for c in codes]
        return list(codes)
    has_p2 = "P2" in codes
    out = []
    for c in codes:
        out.append(_v2_code(system, c, has_p2))
    return out


def normalise_code(system: str, code: str, version: float, header_codes: Sequence[str] = ()) -> str:
    """Map one code; ``header_codes`` (the system's full RINEX 2 list) decides L2 for GPS."""
    if version >= 3.0:
        return normalise_codes(system, [code], version)[0]
    return _v2_code(system, code.strip(), "P2" in header_codes)


def _v2_code(system: str, c: str, has_p2: bool) -> str:
    if len(c) != 2:
        return c
    kind, band = c[0], c[1]
    if system in "GJ":
        if kind in "LDS" and band == "2" and not has_p2:
            return f"{kind}2X"
        return _V2_GPS.get(c, f"{kind}{band}X")
    if system == "R":
        if kind in "LDS" and band == "2" and not has_p2:
            return f"{kind}2C"
        return _V2_GLO.get(c, f"{kind}{band}C")
    if system == "S":
        return _V2_SBAS.get(c, f"{kind}{band}C")
    if system == "C":
        b = "2" if band == "1" else band
        return f"{'C' if kind == 'P' else kind}{b}I"
    # Galileo, NavIC and anything else: the combined/pilot-data "X" attribute
    return f"{'C' if kind == 'P' else kind}{band}X"
