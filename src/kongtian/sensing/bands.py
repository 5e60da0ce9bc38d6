"""Sensor band maps: common band names to each product's band identifiers.

Common names follow the STAC ``eo`` extension (``blue``, ``green``, ``red``, ``nir``,
``swir16``, ``swir22``) with the aliases ``swir1`` = ``swir16`` and ``swir2`` = ``swir22``.
Band identifiers are those in the products' file names: ``B3`` (Landsat Collection 1
Level-1), ``SR_B3`` (Collection 2 Level-2), ``B03`` (Sentinel-2), ``B04`` (MODIS MCD43A4,
whose band 4 is green, 545-565 nm).
"""

from __future__ import annotations

from kongtian.errors import NotFound

_LANDSAT_OLI = {
    "coastal": "B1",
    "blue": "B2",
    "green": "B3",
    "red": "B4",
    "nir": "B5",
    "swir16": "B6",
    "swir22": "B7",
}

BAND_MAPS: dict[str, dict[str, str]] = {
    # Landsat 8 and 9 OLI share band numbers.
    "landsat-oli-l1": dict(_LANDSAT_OLI),
    "landsat-oli-l2": {k: "SR_" + v for k, v in _LANDSAT_OLI.items()},
    "sentinel-2": {
        "coastal": "B01",
        "blue": "B02",
        "green": "B03",
        "red": "B04",
        "rededge1": "B05",
        "rededge2": "B06",
        "rededge3": "B07",
        "nir": "B08",
        "nir08": "B8A",
        "swir16": "B11",
        "swir22": "B12",
    },
    # MODIS land bands 1-7 (MOD09 / MCD43A4 numbering)
    "modis": {
        "red": "B01",
        "nir": "B02",
        "blue": "B03",
        "green": "B04",
        "nir12": "B05",
        "swir16": "B06",
        "swir22": "B07",
    },
}

ALIASES = {"swir1": "swir16", "swir2": "swir22"}


def band_id(sensor: str, common_name: str) -> str:
    """Band identifier of ``common_name`` (e.g. ``"green"``) for ``sensor``.

    Raises :class:`~kongtian.errors.NotFound` for an unknown sensor or band.
    """
    try:
        bands = BAND_MAPS[sensor]
    except KeyError:
        raise NotFound(f"unknown sensor {sensor!r}; known: {sorted(BAND_MAPS)}") from None
    name = ALIASES.get(common_name, common_name)
    try:
        return bands[name]
    except KeyError:
        raise NotFound(f"sensor {sensor!r} has no {common_name!r} band") from None
