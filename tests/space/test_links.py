"""Link geometry against published closed-form figures and skyfield's range rate."""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.geo.frames import geodetic_to_ecef
from kongtian.space.catalog import load_catalog
from kongtian.space.links import (
    SPEED_OF_LIGHT_M_S,
    doppler_hz,
    footprint_half_angle_rad,
    footprint_radius_m,
    free_space_path_loss_db,
    one_way_delay_s,
    range_rate_m_s,
    slant_range_at_elevation_m,
    slant_range_m,
)
from kongtian.space.propagate import propagate_zipped

from ..conftest import DATA, skyfield_timescale

R_EQ = 6_378_137.0  # the sizing table in the team notes (and Hypatia's 940.7 km cone) uses a


@pytest.mark.parametrize(
    ("alt_km", "elev_deg", "slant_km", "footprint_km"),
    [
        (550, 25, 1123, 941),  # Starlink shell 1, Hypatia's GSL cone 940.7 km
        (550, 40, 812, 573),
        (1200, 10, 3132, 2674),  # OneWeb
    ],
)
def test_slant_range_and_footprint_closed_forms(alt_km, elev_deg, slant_km, footprint_km):
    e = np.radians(elev_deg)
    assert slant_range_at_elevation_m(alt_km * 1e3, e, R_EQ) / 1e3 == pytest.approx(
        slant_km, abs=1.0
    )
    assert footprint_radius_m(alt_km * 1e3, e, R_EQ) / 1e3 == pytest.approx(footprint_km, abs=1.0)


def test_delay_doppler_and_path_loss_figures():
    # 550 km: 1.83 ms at nadir, 3.75 ms at the 25 deg edge (team notes sec. 5)
    assert one_way_delay_s(550e3) * 1e3 == pytest.approx(1.83, abs=0.01)
    edge = slant_range_at_elevation_m(550e3, np.radians(25), R_EQ)
    assert one_way_delay_s(edge) * 1e3 == pytest.approx(3.75, abs=0.01)
    # max Doppler at 7.6 km/s: ~304 kHz at 12 GHz, 507 kHz at 20 GHz, 40 kHz at GPS L1
    assert abs(doppler_hz(12e9, 7.6e3)) == pytest.approx(304e3, abs=1e3)
    assert abs(doppler_hz(20e9, 7.6e3)) == pytest.approx(507e3, abs=1e3)
    assert abs(doppler_hz(1575.42e6, 7.6e3)) == pytest.approx(40e3, abs=0.5e3)
    assert doppler_hz(12e9, 100.0) < 0  # receding lowers the received frequency
    # Friis: 92.45 dB at 1 km and 1 GHz (the textbook constant)
    assert free_space_path_loss_db(1e3, 1e9) == pytest.approx(92.45, abs=0.01)
    assert free_space_path_loss_db(2e3, 1e9) - free_space_path_loss_db(1e3, 1e9) == pytest.approx(
        6.0206, abs=1e-3
    )


def test_overhead_range_and_footprint_edge_geometry():
    site = geodetic_to_ecef(0.0, 0.0, 0.0)
    sat = np.array([R_EQ + 550e3, 0.0, 0.0])
    assert slant_range_m(sat, site) == pytest.approx(550e3)
    # At the footprint edge the spherical elevation equals the mask: check by trigonometry.
    lam = footprint_half_angle_rad(R_EQ + 550e3, np.radians(25), R_EQ)
    sat_edge = (R_EQ + 550e3) * np.array([np.cos(lam), np.sin(lam), 0.0])
    d = sat_edge - site
    elev = np.degrees(np.arcsin(d[0] / np.linalg.norm(d)))
    assert elev == pytest.approx(25.0, abs=1e-9)
    assert np.linalg.norm(d) == pytest.approx(
        slant_range_at_elevation_m(550e3, np.radians(25), R_EQ), rel=1e-12
    )


def test_range_rate_matches_skyfield_and_finite_differences():
    from skyfield.api import EarthSatellite, wgs84

    cat = load_catalog(DATA / "starlink_tle_2025-01-23_celestrak_via_pioet.txt")[:40:4]
    ts = skyfield_timescale()
    lat, lon, alt = 29.56, 106.55, 300.0
    site_sf = wgs84.latlon(lat, lon, elevation_m=alt)
    site = geodetic_to_ecef(np.radians(lat), np.radians(lon), alt)
    t0 = np.datetime64("2025-01-23T06:00:00", "ns")
    secs = np.arange(0, 3600, 97.0)
    worst_sf, worst_fd = 0.0, 0.0
    for i in range(len(cat)):
        t = t0 + (secs * 1e9).astype("timedelta64[ns]")
        r, v, err = propagate_zipped(cat, np.full(t.size, i), t, frame="itrf")
        assert not err.any()
        ours = range_rate_m_s(r, v, site)
        sat = EarthSatellite.from_satrec(cat.satrecs[i], ts)
        tt = ts.utc(2025, 1, 23, 6, 0, secs)
        *_, rate = (sat - site_sf).at(tt).frame_latlon_and_rates(site_sf)
        worst_sf = max(worst_sf, float(np.max(np.abs(ours - rate.m_per_s))))
        # Central finite difference of our own ranges (h = 0.1 s: truncation ~1e-4 m/s).
        h = np.timedelta64(100_000_000, "ns")
        rp, *_ = propagate_zipped(cat, np.full(t.size, i), t + h, frame="itrf")
        rm, *_ = propagate_zipped(cat, np.full(t.size, i), t - h, frame="itrf")
        fd = (slant_range_m(rp, site) - slant_range_m(rm, site)) / 0.2
        worst_fd = max(worst_fd, float(np.max(np.abs(ours - fd))))
    print(
        f"\nrange rate: max |ours - skyfield| = {worst_sf:.2e} m/s, vs finite difference {worst_fd:.2e} m/s"
    )
    assert worst_sf < 1e-4  # 0.1 mm/s = 0.004 Hz at 12 GHz
    # SGP4's analytic velocity is not exactly the derivative of its positions (cm/s level),
    # so the finite difference bounds the rate only to a few cm/s (~1 Hz at 12 GHz).
    assert worst_fd < 0.05


def test_delay_uses_vacuum_speed():
    assert one_way_delay_s(SPEED_OF_LIGHT_M_S) == pytest.approx(1.0)
    assert one_way_delay_s(np.array([0.0, 299_792.458]))[1] == pytest.approx(1e-3)
