"""Single and double differences between a rover and a base receiver.

Conventions (all SI, ECEF metres, the frame of the broadcast ephemerides):

- A *single difference* (SD) of an observable is ``rover - base`` for the same
  satellite and signal: it removes the satellite clock and, on short baselines, most
  of the orbit, ionosphere and troposphere errors.
- A *double difference* (DD) is ``SD(sat) - SD(ref)`` with one reference satellite per
  (system, frequency) group: it removes the receiver clocks too. The reference is the
  highest satellite of the group that has the observable at both receivers
  (:func:`reference_satellites`).
- Geometric ranges include the Sagnac (Earth rotation during the signal travel) term
  ``omega_e (x_s y_r - y_s x_r) / c`` (:func:`geometric_range`).
- Observation variances are elevation dependent, ``sigma^2 = a^2 + b^2 / sin^2(el)``
  per receiver (:func:`elevation_variance`; RTKLIB's default is a = b = 3 mm for phase,
  code 100 times larger), and the DD covariance is ``D diag(var_sd) D^T``, with
  ``var_sd = var_rover + var_base`` (:func:`dd_covariance`): the rows sharing a reference
  are correlated through the reference's variance.

The design rows with respect to the rover position are ``-(e_sat - e_ref)`` with ``e``
the unit line-of-sight vector from the rover to the satellite
(:func:`dd_design_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kongtian.geo.frames import ecef_to_geodetic, enu_matrix
from kongtian.nav.constants import C_LIGHT_M_S
from kongtian.nav.ephemeris import sat_pos_clk

if TYPE_CHECKING:
    from kongtian.nav.rinex_nav import NavData

__all__ = [
    "DDOperator",
    "SatGeometry",
    "dd_covariance",
    "dd_design_rows",
    "dd_operator",
    "elevation_variance",
    "geometric_range",
    "geometry_from_states",
    "reference_satellites",
    "satellite_geometry",
    "single_difference",
]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Earth rotation rate used for the Sagnac term (WGS 84 / IS-GPS-200), rad/s.
OMEGA_E_RAD_S = 7.2921151467e-5


def geometric_range(sat_pos_m: Any, rx_pos_m: Any) -> tuple[F64, F64]:
    """Range (m) from receiver to satellites with the Sagnac correction, and unit LOS.

    ``sat_pos_m`` (n, 3) are Earth-fixed positions at transmission; ``rx_pos_m`` (3,).
    Returns ``(rho (n,), los_unit (n, 3))`` with ``los_unit`` pointing from the receiver
    to the satellite.
    """
    sp = np.asarray(sat_pos_m, dtype=np.float64)
    rp = np.asarray(rx_pos_m, dtype=np.float64)
    diff = sp - rp
    r = np.linalg.norm(diff, axis=-1)
    los = diff / r[..., None]
    sagnac = OMEGA_E_RAD_S * (sp[..., 0] * rp[1] - sp[..., 1] * rp[0]) / C_LIGHT_M_S
    return r + sagnac, los


def elevation_az(los_unit: Any, rx_pos_m: Any, enu_rot: Any = None) -> tuple[F64, F64]:
    """Elevation and azimuth (rad) of unit LOS vectors seen from ``rx_pos_m`` (WGS 84).

    ``enu_rot`` (3, 3), the ECEF-to-ENU rotation at the receiver, may be passed to save
    recomputing it (a few metres of position error change elevations by < 1e-6 rad).
    """
    if enu_rot is None:
        lat, lon, _ = ecef_to_geodetic(np.asarray(rx_pos_m, dtype=np.float64))
        enu_rot = enu_matrix(lat, lon)
    enu = np.asarray(los_unit, dtype=np.float64) @ np.asarray(enu_rot, dtype=np.float64).T
    el = np.arcsin(np.clip(enu[..., 2], -1.0, 1.0))
    az = np.mod(np.arctan2(enu[..., 0], enu[..., 1]), 2 * np.pi)
    return el, az


def elevation_variance(el_rad: Any, a_m: float = 0.003, b_m: float = 0.003) -> F64:
    """Undifferenced observation variance (m^2): ``a^2 + b^2 / sin^2(el)``."""
    s = np.sin(np.maximum(np.asarray(el_rad, dtype=np.float64), np.radians(1.0)))
    return np.asarray(a_m**2 + (b_m / s) ** 2, dtype=np.float64)


@dataclass(frozen=True)
class SatGeometry:
    """Satellite positions and ranges for one receiver at one epoch (n satellites).

    ``pos_ecef_m`` at transmission (Earth-fixed at transmission), ``clk_s`` satellite
    clock offset (s, no group delay), ``range_m`` geometric range with Sagnac term,
    ``los_unit`` receiver-to-satellite unit vectors, ``el_rad``/``az_rad``; ``valid``
    where an ephemeris and a pseudorange were available.
    """

    pos_ecef_m: F64
    clk_s: F64
    range_m: F64
    los_unit: F64
    el_rad: F64
    az_rad: F64
    valid: B


def satellite_geometry(
    nav: NavData, sv: Sequence[str], t_rx_gpst: Any, pseudorange_m: Any, rx_pos_m: Any
) -> SatGeometry:
    """Satellite states at the transmission instants of the signals received at ``t_rx``.

    Transmission time is ``t_rx - P/c`` read on the satellite clock (corrected with the
    broadcast clock, ICD style); the ephemeris is the one valid at ``t_rx``.
    """
    pr = np.asarray(pseudorange_m, dtype=np.float64)
    svs = np.asarray(sv, dtype=str)
    t_rx = np.datetime64(t_rx_gpst, "ns")
    ok = np.isfinite(pr)
    tau_ns = np.where(ok, pr, 2.0e7) / C_LIGHT_M_S * 1e9
    t_tx = t_rx - np.round(tau_ns).astype("timedelta64[ns]")
    st = sat_pos_clk(nav, svs, t_tx, sv_clock_time=True, t_select_gpst=t_rx)
    return geometry_from_states(st.pos_ecef_m, st.clk_s, ok & st.valid, rx_pos_m)


def geometry_from_states(
    pos_ecef_m: Any, clk_s: Any, valid: Any, rx_pos_m: Any, enu_rot: Any = None
) -> SatGeometry:
    """:class:`SatGeometry` for given satellite states (at transmission) and receiver.

    Transmission instants depend on the pseudoranges only, not on the receiver
    position, so a filter can evaluate the ephemerides once per epoch and call this for
    each new position estimate.
    """
    pos = np.asarray(pos_ecef_m, dtype=np.float64)
    rng, los = geometric_range(pos, rx_pos_m)
    el, az = elevation_az(los, rx_pos_m, enu_rot)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(rng)
    return SatGeometry(pos, np.asarray(clk_s, dtype=np.float64), rng, los, el, az, ok)


def single_difference(rover: Any, base: Any) -> F64:
    """Between-receiver single difference ``rover - base`` (NaN propagates)."""
    return np.asarray(rover, dtype=np.float64) - np.asarray(base, dtype=np.float64)


def reference_satellites(sv: Sequence[str], el_rad: Any, valid: Any) -> dict[str, int]:
    """Index of the highest valid satellite of each system letter (the DD reference)."""
    svs = list(sv)
    el = np.where(np.asarray(valid, dtype=bool), np.asarray(el_rad, dtype=np.float64), -np.inf)
    refs: dict[str, int] = {}
    for i, s in enumerate(svs):
        sys_ = s[0]
        if not np.isfinite(el[i]):
            continue
        if sys_ not in refs or el[i] > el[refs[sys_]]:
            refs[sys_] = i
    return refs


@dataclass(frozen=True)
class DDOperator:
    """Linear map from single differences (n,) to double differences (m,).

    ``matrix`` (m, n) has +1 at ``sat[k]`` and -1 at ``ref[k]`` in row k; ``sat`` and
    ``ref`` are indices into the satellite list the operator was built for.
    """

    matrix: F64
    sat: npt.NDArray[np.int64]
    ref: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.sat)

    def apply(self, sd: Any) -> F64:
        """Double differences of the single differences ``sd`` (n,) or (n, k)."""
        x = np.asarray(sd, dtype=np.float64)
        # Gather rather than multiply: NaN at satellites outside the operator stays out.
        return np.asarray(x[self.sat] - x[self.ref], dtype=np.float64)


def dd_operator(
    sv: Sequence[str], el_rad: Any, valid: Any, refs: dict[str, int] | None = None
) -> DDOperator:
    """Double-difference operator over the ``valid`` satellites, one reference per system.

    ``refs`` (system letter -> index) overrides the highest-elevation choice, e.g. to
    keep the previous epoch's reference; a reference that is not valid is replaced.
    """
    ok = np.asarray(valid, dtype=bool)
    auto = reference_satellites(sv, el_rad, ok)
    chosen = dict(auto)
    if refs:
        for s, i in refs.items():
            if s in auto and ok[i]:
                chosen[s] = i
    sat_idx: list[int] = []
    ref_idx: list[int] = []
    for i, s in enumerate(sv):
        r = chosen.get(s[0])
        if r is None or not ok[i] or i == r:
            continue
        sat_idx.append(i)
        ref_idx.append(r)
    m, n = len(sat_idx), len(sv)
    mat = np.zeros((m, n))
    rows = np.arange(m)
    mat[rows, sat_idx] = 1.0
    mat[rows, ref_idx] = -1.0
    return DDOperator(mat, np.asarray(sat_idx, dtype=np.int64), np.asarray(ref_idx, dtype=np.int64))


def dd_design_rows(op: DDOperator, los_unit_rover: Any) -> F64:
    """Partial derivatives (m, 3) of DD ranges with respect to the rover ECEF position."""
    return -op.apply(np.asarray(los_unit_rover, dtype=np.float64))


def dd_covariance(op: DDOperator, var_rover: Any, var_base: Any) -> F64:
    """DD covariance ``D diag(var_rover + var_base) D^T`` (m^2), shape (m, m)."""
    var_sd = np.asarray(var_rover, dtype=np.float64) + np.asarray(var_base, dtype=np.float64)
    var_sd = np.where(np.isfinite(var_sd), var_sd, 0.0)
    return np.asarray((op.matrix * var_sd) @ op.matrix.T, dtype=np.float64)
