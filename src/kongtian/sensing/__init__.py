"""Remote sensing: imagery indices, water/flood mapping and GNSS radio occultation.

Subpackages and modules are imported explicitly (``kongtian.sensing.occultation``);
this package imports nothing at import time.
"""
