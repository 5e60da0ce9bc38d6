"""Vallado's SGP4 verification set (AIAA 2006-6753) through kongtian's API.

Truth is ``tcppver.out``, the output of Vallado's C++ for the 33 element sets of
``SGP4-VER.TLE`` (both copied from the PyPI ``sgp4`` 2.27 package; see
tests/data/SOURCES.md). Each element set's line 2 carries start, stop and step minutes
after column 69; the C++ test driver prints a line at tsince 0 and then at every step,
stopping at the first SGP4 error. As in python-sgp4's own test, the first seven fields
(tsince, r km, v km/s) must agree within 2e-7 and the sequence of errors met must be
[1, 1, 6, 6, 4, 3, 6].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from sgp4.api import SatrecArray

from kongtian.space.catalog import load_catalog
from kongtian.space.propagate import propagate
from kongtian.space.sgp4_kernel import FastSatArray

from ..conftest import DATA

TOL = 2e-7  # python-sgp4's tolerance on the printed fields (km, km/s, min)
EXPECTED_ERRORS = [1, 1, 6, 6, 4, 3, 6]
_UNIX_JD = 2440587.5


@dataclass
class Case:
    satnum: int
    tsince_min: np.ndarray  # the driver's time list, tsince 0 first
    lines: list[list[float]]  # expected first-7 fields of each printed line


def _driver_times(start: float, stop: float, step: float) -> list[float]:
    """The times the C++ test driver visits (testcpp.cpp's loop, incl. its last-line rule)."""
    out = [0.0]
    t = start
    while t <= stop:
        if not (t == start == 0.0):
            out.append(t)
        t += step
    if t - stop < step - 1e-6:
        out.append(stop)
    return out


def _cases() -> list[Case]:
    tle = (DATA / "SGP4-VER.TLE").read_text().splitlines()
    pairs = [
        (a, b)
        for a, b in zip(tle, tle[1:], strict=False)
        if a.startswith("1 ") and b.startswith("2 ")
    ]
    blocks: list[tuple[int, list[list[float]]]] = []
    for line in (DATA / "tcppver.out").read_text().replace("\r", "").splitlines():
        if line.rstrip().endswith("xx"):
            blocks.append((int(line.split()[0]), []))
        elif line.strip():
            blocks[-1][1].append([float(x) for x in line.split()[:7]])
    assert len(pairs) == len(blocks) == 33
    cases = []
    for (_, l2), (satnum, lines) in zip(pairs, blocks, strict=True):
        assert int(l2[2:7]) == satnum
        start, stop, step = (float(x) for x in l2[69:].split())
        cases.append(Case(satnum, np.array(_driver_times(start, stop, step)), lines))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def catalog():
    cat = load_catalog(DATA / "SGP4-VER.TLE", strict=False)
    assert [int(x) for x in cat.norad_id] == [c.satnum for c in CASES]
    return cat


def _walk(case: Case, e: np.ndarray, r: np.ndarray, v: np.ndarray, errors: list[int]) -> int:
    """Compare one case like the C++ driver prints it; append errors met; return #lines checked."""
    if np.isnan(r[0]).all():
        # the driver found an error at epoch and repeated the previous satellite's line
        assert e[0] != 0
        assert len(case.lines) == 1 and case.lines[0][0] == 0.0
        errors.append(int(e[0]))
        return 0
    checked = 0
    for j, ts in enumerate(case.tsince_min):
        if j > 0 and e[j] != 0:
            errors.append(int(e[j]))
            break
        got = [ts, *r[j], *v[j]]
        want = case.lines[checked]
        bad = [k for k in range(7) if not abs(got[k] - want[k]) < TOL]
        assert not bad, f"{case.satnum} tsince {ts}: got {got}, expected {want}"
        checked += 1
    assert checked == len(case.lines), f"{case.satnum}: {checked} of {len(case.lines)} lines"
    return checked


def _split(satrec, tsince_min):
    """UTC Julian date as python-sgp4 splits it: whole days onto jd, the rest onto fr."""
    whole, frac = np.divmod(np.asarray(tsince_min) / 1440.0, 1.0)
    return satrec.jdsatepoch + whole, satrec.jdsatepochF + frac


ENGINES = {
    "numba": FastSatArray,
    "numba-exact": lambda sats: FastSatArray(sats, exact=True),
    "sgp4": SatrecArray,
}


@pytest.mark.parametrize("engine", ENGINES.values(), ids=ENGINES.keys())
def test_kernel_reproduces_tcppver(catalog, engine):
    errors: list[int] = []
    checked = 0
    for case, sat in zip(CASES, catalog.satrecs, strict=True):
        jd, fr = _split(sat, case.tsince_min)
        e, r, v = engine([sat]).sgp4(jd, fr)
        checked += _walk(case, e[0], r[0], v[0], errors)
    assert errors == EXPECTED_ERRORS
    assert checked == sum(len(c.lines) for c in CASES) - 1  # all but the repeated line


def test_kernel_handles_the_near_earth_cases_itself(catalog):
    fast = FastSatArray(catalog.satrecs)
    near = [c.satnum for c, s in zip(CASES, catalog.satrecs, strict=True) if s.method == "n"]
    # the kernel (not the delegation to the C++) must have run the near-Earth cases:
    # normal and simplified drag (perigee < 220 km), e = 0.186, decaying ones
    assert set(near) == {5, 6251, 22312, 28057, 28350, 28872, 29141, 29238, 88888}
    assert fast.delegated.size == len(CASES) - len(near)


def test_kernel_bit_identical_to_cpp_on_verification_set(catalog):
    """Stronger than the 2e-7 print tolerance: the same doubles as Vallado's C++."""
    for case, sat in zip(CASES, catalog.satrecs, strict=True):
        jd, fr = _split(sat, case.tsince_min)
        a = FastSatArray([sat], exact=True).sgp4(jd, fr)
        b = SatrecArray([sat]).sgp4(jd, fr)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_max_ulp(np.nan_to_num(a[1]), np.nan_to_num(b[1]), maxulp=0)
        np.testing.assert_array_max_ulp(np.nan_to_num(a[2]), np.nan_to_num(b[2]), maxulp=0)
        np.testing.assert_array_equal(np.isnan(a[1]), np.isnan(b[1]))


@pytest.mark.parametrize("engine", ["numba", "sgp4"])
def test_public_propagate_reproduces_tcppver(catalog, engine):
    """Same check through ``propagate()`` with UTC datetime64 times (metres, TEME)."""
    errors: list[int] = []
    checked = 0
    for i, case in enumerate(CASES):
        sat = catalog.satrecs[i]
        # the element set's epoch as UTC nanoseconds, then tsince on top (exact in ns
        # for every time in the file)
        epoch_ns = round((sat.jdsatepoch - _UNIX_JD) * 86_400e9) + round(sat.jdsatepochF * 86_400e9)
        t = np.datetime64(epoch_ns, "ns") + np.round(case.tsince_min * 60e9).astype(
            "timedelta64[ns]"
        )
        eph = propagate(catalog[i], t, frame="teme", engine=engine)
        checked += _walk(case, eph.error[0], eph.r_m[0] / 1e3, eph.v_m_s[0] / 1e3, errors)
    assert errors == EXPECTED_ERRORS
    assert checked == sum(len(c.lines) for c in CASES) - 1


def test_driver_times_follow_the_file():
    # a sanity check of the parsing: the time columns of tcppver.out are the driver's
    for case in CASES:
        printed = [ln[0] for ln in case.lines]
        n = len(printed)
        if n > 1:
            assert np.allclose(printed, case.tsince_min[:n], atol=1e-8), case.satnum
    assert math.isclose(CASES[0].tsince_min[-1], 4320.0)
