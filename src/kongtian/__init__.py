"""Kongtian (空天): space-air-ground information services.

Subpackages: ``geo`` and ``model`` (shared kernel), ``space`` (constellations,
propagation, passes, coverage). Later issues add ``nav``, ``sensing``,
``traffic``, ``platform`` and ``console``.
"""

__version__ = "0.1.0"
