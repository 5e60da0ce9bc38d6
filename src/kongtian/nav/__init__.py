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
  single-point positioning; :mod:`kongtian.nav.pos_io`: RTKLIB ``.pos``, CSV, GeoJSON
  (SPP and RTK solutions).
- :func:`solve_rtk` / :class:`RtkConfig` / :class:`RtkSolution` (:mod:`kongtian.nav.rtk`):
  DGNSS and RTK (kinematic/static) with double differences in an EKF, built from
  :mod:`~kongtian.nav.double_diff` (:func:`dd_operator`), :mod:`~kongtian.nav.cycle_slip`
  (:class:`SlipDetector`, :func:`detect_slips`) and :mod:`~kongtian.nav.lambda_ils`
  (:func:`lambda_ils`, :func:`partial_fix`: integer least squares, ratio test).
- :mod:`kongtian.nav.plots`: ENU error, skyplot, DOP/satellite counts, fix status (PNG);
  imported on demand (it loads matplotlib).
"""

from kongtian.nav.cycle_slip import SlipConfig, SlipDetector, SlipFlags, detect_slips
from kongtian.nav.double_diff import DDOperator, dd_covariance, dd_operator
from kongtian.nav.ephemeris import (
    SatStates,
    eval_records,
    record_times,
    sat_pos_clk,
    select_ephemeris,
    tgd_s,
)
from kongtian.nav.lambda_ils import (
    IlsResult,
    NotPositiveDefiniteError,
    PartialFix,
    lambda_ils,
    partial_fix,
    ratio_test,
)
from kongtian.nav.pos_io import PosFile, read_pos, write_pos, write_solution
from kongtian.nav.rinex_nav import NavData, read_nav
from kongtian.nav.rinex_obs import ObsData, ObsHeader, read_obs
from kongtian.nav.rtk import RtkConfig, RtkSolution, solve_rtk
from kongtian.nav.spp import SppConfig, SppSolution, solve_spp

__all__ = [
    "DDOperator",
    "IlsResult",
    "NavData",
    "NotPositiveDefiniteError",
    "ObsData",
    "ObsHeader",
    "PartialFix",
    "PosFile",
    "RtkConfig",
    "RtkSolution",
    "SatStates",
    "SlipConfig",
    "SlipDetector",
    "SlipFlags",
    "SppConfig",
    "SppSolution",
    "dd_covariance",
    "dd_operator",
    "detect_slips",
    "eval_records",
    "lambda_ils",
    "partial_fix",
    "ratio_test",
    "read_nav",
    "read_obs",
    "read_pos",
    "record_times",
    "sat_pos_clk",
    "select_ephemeris",
    "solve_rtk",
    "solve_spp",
    "tgd_s",
    "write_pos",
    "write_solution",
]
