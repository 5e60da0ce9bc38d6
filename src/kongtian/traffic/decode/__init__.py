"""One module per feed: ``adsb`` (Mode S / ADS-B), ``remoteid`` (ASTM F3411 / ASD-STAN),
``ais`` (NMEA AIVDM/AIVDO), ``jt808`` (JT/T 808 terminals). Each returns report batches
(:func:`kongtian.model.report.report_table`) and a :class:`~kongtian.model.report.DecodeErrors`.
"""
