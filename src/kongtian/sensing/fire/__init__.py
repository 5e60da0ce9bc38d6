"""Active-fire detection from reflective SWIR bands (and thermal bands where they exist).

Modules (imported explicitly; this package imports nothing at import time):

- :mod:`.window`: masked moving-window mean/standard deviation (``uniform_filter``);
- :mod:`.landsat`: Schroeder et al. (2016) Landsat-8/9 OLI algorithm;
- :mod:`.sentinel2`: Murphy et al. (2016) HOTMAP tests on Sentinel-2 B8A/B11/B12 (and the
  MODIS NBAR bands 2/6/7 analogue);
- :mod:`.contextual`: MOD14-style contextual test on 4 and 11 micrometre brightness
  temperatures (Giglio et al. 2003/2016, Schroeder et al. 2014);
- :mod:`.scene`: run the right algorithm on a scene folder or STAC item;
- :mod:`.output`: GeoJSON points/polygons and platform alert conditions.

Decision record: ``docs/decisions/0021-active-fire.md``.
"""
