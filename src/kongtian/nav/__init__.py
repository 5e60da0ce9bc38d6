"""GNSS navigation engine (issue 6): RINEX reading, broadcast ephemerides, positioning.

Public API (this package's modules import only the kernel: ``kongtian.geo``,
``kongtian.model``, ``kongtian.errors``):

- :func:`read_obs` / :class:`ObsData` (:mod:`kongtian.nav.rinex_obs`): RINEX 2.10-4.0x
  observation files (plain, ``.gz``, ``.Z``, Hatanaka ``.crx``/``.??d``) into an
  ``xarray.Dataset`` with dims ``(time, sv)``; codes normalised to RINEX >= 3.03.
- :func:`read_nav` / :class:`NavData` (:mod:`kongtian.nav.rinex_nav`): broadcast
  navigation records per system as ``pandas.DataFrame``.
- :mod:`kongtian.nav.signals`: systems, bands, carrier frequencies, code normalisation.
- :mod:`kongtian.nav.ephemeris`, :mod:`kongtian.nav.constants`,
  :mod:`kongtian.nav.gnss_time`: broadcast orbit/clock evaluation and system times.
- :mod:`kongtian.nav.spp` (with :mod:`~kongtian.nav.iono`, :mod:`~kongtian.nav.troposphere`):
  single-point positioning; :mod:`kongtian.nav.pos_io`: RTKLIB ``.pos``, CSV, GeoJSON.
"""

from kongtian.nav.ephemeris import (
    SatStates,
    eval_records,
    record_times,
    sat_pos_clk,
    select_ephemeris,
    tgd_s,
)
from kongtian.nav.pos_io import read_pos, write_pos, write_solution
from kongtian.nav.rinex_nav import NavData, read_nav
from kongtian.nav.rinex_obs import ObsData, ObsHeader, read_obs
from kongtian.nav.spp import SppConfig, SppSolution, solve_spp

__all__ = [
    "NavData",
    "ObsData",
    "ObsHeader",
    "SatStates",
    "SppConfig",
    "SppSolution",
    "eval_records",
    "read_nav",
    "read_obs",
    "read_pos",
    "record_times",
    "sat_pos_clk",
    "select_ephemeris",
    "solve_spp",
    "tgd_s",
    "write_pos",
    "write_solution",
]
