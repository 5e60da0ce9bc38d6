"""Horizon masks: periodic linear interpolation, CSV reading, combining with a flat limit.

Expected values are worked by hand from the knots (linear interpolation arithmetic).
"""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.errors import ConfigError, FormatError
from kongtian.geo.terrain import HorizonMask, combine

# Ridge to the north-east, open to the south: knots given out of order on purpose.
KNOTS_AZ = [180.0, 350.0, 10.0]
KNOTS_EL = [5.0, 10.0, 20.0]


@pytest.fixture
def mask() -> HorizonMask:
    return HorizonMask(np.array(KNOTS_AZ), np.array(KNOTS_EL))


@pytest.mark.parametrize(
    ("az", "want"),
    [
        (10.0, 20.0),  # knots themselves
        (180.0, 5.0),
        (350.0, 10.0),
        (95.0, 12.5),  # 10 -> 180: 20 - 15 * 85/170
        (270.0, 5.0 + 5.0 * 90.0 / 170.0),  # 180 -> 350
        # across north: 350 -> 10 (+360) spans 20 deg from 10 to 20 deg elevation
        (0.0, 15.0),
        (355.0, 12.5),
        (5.0, 17.5),
        (359.999, 10.0 + 10.0 * 9.999 / 20.0),
        # azimuths outside [0, 360) wrap
        (-5.0, 12.5),
        (365.0, 17.5),
        (720.0, 15.0),
    ],
)
def test_known_values(mask: HorizonMask, az: float, want: float) -> None:
    assert mask.min_elev_deg_at(az) == pytest.approx(want, abs=1e-12)
    assert mask.min_elev_rad(np.radians(az)) == pytest.approx(np.radians(want), abs=1e-12)


def test_vectorised_shape(mask: HorizonMask) -> None:
    az = np.radians(np.array([[0.0, 95.0], [355.0, 180.0]]))
    got = np.degrees(mask.min_elev_rad(az))
    assert got.shape == (2, 2)
    assert np.allclose(got, [[15.0, 12.5], [12.5, 5.0]])


def test_knots_sorted_and_read_only(mask: HorizonMask) -> None:
    assert mask.az_deg.tolist() == [10.0, 180.0, 350.0]
    assert mask.min_elev_deg.tolist() == [20.0, 5.0, 10.0]
    with pytest.raises(ValueError):
        mask.az_deg[0] = 1.0


def test_wrap_is_continuous(mask: HorizonMask) -> None:
    eps = 1e-9
    lo = mask.min_elev_deg_at(360.0 - eps)
    hi = mask.min_elev_deg_at(eps)
    assert abs(lo - hi) < 1e-6


def test_constant() -> None:
    m = HorizonMask.constant(7.5)
    az = np.radians(np.linspace(-400, 400, 81))
    assert np.allclose(m.min_elev_rad(az), np.radians(7.5))


def test_visible(mask: HorizonMask) -> None:
    az = np.radians([0.0, 0.0, 180.0])
    el = np.radians([14.0, 16.0, 5.0])
    assert mask.visible(az, el).tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("az", "el", "fragment"),
    [
        ([360.0], [1.0], "[0, 360)"),
        ([-1.0], [1.0], "[0, 360)"),
        ([10.0], [91.0], "[-90, 90]"),
        ([10.0, 10.0], [1.0, 2.0], "given twice"),
        ([10.0, 20.0], [1.0], "as many"),
        ([], [], "as many"),
    ],
)
def test_constructor_errors(az: list[float], el: list[float], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        HorizonMask(np.array(az), np.array(el))
    assert fragment in str(info.value)


# --- CSV ----------------------------------------------------------------------------


def test_from_csv(tmp_path) -> None:
    p = tmp_path / "wuxi.csv"
    p.write_text(
        "# valley site, ridge line from a survey sketch\n"
        "az_deg,min_elev_deg\n"
        "\n"
        "180,5\n"
        "350, 10\n"
        "10,20\n"
    )
    m = HorizonMask.from_csv(p)
    assert m.az_deg.tolist() == [10.0, 180.0, 350.0]
    assert m.min_elev_deg_at(0.0) == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("az,el\n1,2\n", 1, "header"),
        ("# c\naz_deg,min_elev_deg\n10,x\n", 3, "min_elev_deg is not a number"),
        ("az_deg,min_elev_deg\n10,1\n360,2\n", 3, "outside [0, 360)"),
        ("az_deg,min_elev_deg\n-0.5,2\n", 2, "outside [0, 360)"),
        ("az_deg,min_elev_deg\n10,95\n", 2, "outside [-90, 90]"),
        ("az_deg,min_elev_deg\n10,1\n20,2\n10.0,3\n", 4, "repeats line 2"),
        ("az_deg,min_elev_deg\n10,1,3\n", 2, "2 fields"),
        ("az_deg,min_elev_deg\nnan,1\n", 2, "finite"),
    ],
)
def test_from_csv_errors_name_file_and_line(tmp_path, text: str, line: int, fragment: str) -> None:
    p = tmp_path / "mask.csv"
    p.write_text(text)
    with pytest.raises(FormatError) as info:
        HorizonMask.from_csv(p)
    assert info.value.path == str(p)
    assert info.value.line == line
    assert f"{p}:{line}:" in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "empty"), ("# only\n", "empty"), ("az_deg,min_elev_deg\n", "no data")],
)
def test_from_csv_empty(tmp_path, text: str, fragment: str) -> None:
    p = tmp_path / "mask.csv"
    p.write_text(text)
    with pytest.raises(FormatError, match=fragment):
        HorizonMask.from_csv(p)


def test_from_csv_missing(tmp_path) -> None:
    with pytest.raises(FormatError, match="cannot read"):
        HorizonMask.from_csv(tmp_path / "nope.csv")


# --- combine ------------------------------------------------------------------------


def test_combine_hand_values(mask: HorizonMask) -> None:
    c = combine(mask, 8.0)
    # 10 -> 180 falls from 20 to 5 and crosses 8 at 10 + 170 * 12/15 = 146;
    # 180 -> 350 rises from 5 to 10 and crosses 8 at 180 + 170 * 3/5 = 282.
    assert c.az_deg.tolist() == pytest.approx([10.0, 146.0, 180.0, 282.0, 350.0])
    assert c.min_elev_deg.tolist() == pytest.approx([20.0, 8.0, 8.0, 8.0, 10.0])
    assert c.min_elev_deg_at(95.0) == pytest.approx(12.5)  # above the flat limit: unchanged
    assert c.min_elev_deg_at(230.0) == pytest.approx(8.0)  # below it: lifted


@pytest.mark.parametrize("limit", [-5.0, 0.0, 8.0, 12.5, 15.0, 19.0, 25.0])
def test_combine_is_pointwise_max(mask: HorizonMask, limit: float) -> None:
    az = np.linspace(0.0, 360.0, 7201)
    want = np.maximum(mask.min_elev_deg_at(az), limit)
    got = combine(mask, limit).min_elev_deg_at(az)
    assert np.max(np.abs(got - want)) < 1e-9


def test_combine_crossing_the_wrap_segment() -> None:
    m = HorizonMask(np.array([20.0, 340.0]), np.array([0.0, 10.0]))
    # segment 340 -> 380 (=20) falls from 10 to 0, crosses 4 at 340 + 40 * 6/10 = 364 -> 4
    c = combine(m, 4.0)
    assert 4.0 in c.az_deg.tolist()
    az = np.linspace(0.0, 360.0, 3601)
    assert np.allclose(c.min_elev_deg_at(az), np.maximum(m.min_elev_deg_at(az), 4.0), atol=1e-9)


def test_combine_none_and_errors() -> None:
    assert combine(None, 10.0).min_elev_deg_at(123.0) == pytest.approx(10.0)
    with pytest.raises(ConfigError):
        combine(None, 100.0)
