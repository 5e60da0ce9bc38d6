"""``kongtian demo``: the platform service with a live Chongqing scenario.

- :mod:`~kongtian.platform.demo.zones`: Chongqing zones (GeoJSON shipped in ``data/``);
- :mod:`~kongtian.platform.demo.fleet`: a simulated UAV fleet (labelled ``simulated``);
- :mod:`~kongtian.platform.demo.recorded`: real recorded ADS-B and AIS, replayed at the
  places where they were recorded with their times shifted to now;
- :mod:`~kongtian.platform.demo.runner`: the service on its embedded defaults, fed by
  the above through the same ``Service.ingest_reports`` / ``ingest_raw`` as the API.
"""
