import numpy as np
import pytest

from kongtian.errors import ConfigError
from kongtian.geo import time as kt


def test_leap_seconds_known_values():
    # IERS Bulletin C: 32 s through 2005, 33 s in 2006, 37 s since 2017-01-01.
    t = kt.as_utc(["2005-12-31T23:59:59Z", "2006-01-01T00:00:00Z", "2016-12-31T23:59:59Z",
                   "2017-01-01T00:00:00Z", "2026-11-22T00:00:00Z"])  # fmt: skip
    assert kt.tai_minus_utc(t).tolist() == [32, 33, 36, 37, 37]


def test_gps_and_bds_weeks():
    # GPS week 2048 (the 2019 week-number rollover) began 2019-04-07T00:00:00 GPST,
    # i.e. 2019-04-06T23:59:42 UTC (GPST - UTC = 18 s).
    w, s = kt.week_seconds("2019-04-06T23:59:42Z", "GPST")
    assert int(w) == 2048 and float(s) == 0.0
    # BDT = GPST - 14 s; BDS week = GPS week - 1356.
    w_b, s_b = kt.week_seconds("2019-04-06T23:59:56Z", "BDT")
    assert int(w_b) == 2048 - 1356 and float(s_b) == 0.0


def test_scale_round_trip():
    t = kt.as_utc(["2016-12-31T23:59:50Z", "2020-06-25T12:00:00.123456789Z"])
    for scale in ("TAI", "GPST", "BDT", "GST", "UTC"):
        assert np.array_equal(kt.scale_to_utc(kt.utc_to_scale(t, scale), scale), t)
    gpst = kt.utc_to_scale(t[1], "GPST")
    assert (gpst - t[1]).astype(np.int64) == 18 * 10**9


def test_jd_split_matches_sgp4_jday():
    from sgp4.api import jday

    jd, fr = jday(2025, 1, 23, 5, 6, 7.25)
    a, b = kt.jd_split_utc("2025-01-23T05:06:07.25Z")
    assert a == jd and abs(b - fr) < 1e-15


def test_iso_and_grid():
    g = kt.time_grid("2025-01-23T00:00:00Z", 60, 30)
    assert kt.iso_utc(g, 1).tolist() == ["2025-01-23T00:00:00.0Z", "2025-01-23T00:00:30.0Z",
                                         "2025-01-23T00:01:00.0Z"]  # fmt: skip
    assert kt.iso_utc(np.array(["NaT"], dtype="datetime64[ns]"))[0] == ""
    assert kt.iso_utc(kt.as_utc("2025-01-23T00:00:00.96Z"), 1)[0] == "2025-01-23T00:00:01.0Z"


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-01T00:00:00Z"])
def test_bad_time_names_option(bad):
    with pytest.raises(ConfigError, match="--start"):
        kt.parse_utc(bad, option="--start")


def test_grid_rejects_bad_step():
    with pytest.raises(ConfigError, match="step"):
        kt.time_grid("2025-01-23T00:00:00Z", 60, 0)
