"""Shared test fixtures: paths to the copied real-data files (see tests/data/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def skyfield_timescale():
    """A skyfield timescale using the same IERS finals2000A.all as our shipped table.

    The file comes from the PyPI package ``astropy-iers-data`` (an install dependency),
    so the comparison is offline and both sides use identical UT1 - UTC.
    """
    import shutil
    import tempfile

    import astropy_iers_data
    from skyfield.api import Loader

    src = Path(astropy_iers_data.__file__).parent / "data" / "finals2000A.all"
    tmp = Path(tempfile.mkdtemp(prefix="kt-skyfield-"))
    shutil.copy(src, tmp / "finals2000A.all")
    return Loader(str(tmp), verbose=False).timescale(builtin=False)
