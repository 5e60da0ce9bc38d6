"""``ro-invert`` command and the atmPrf-like netCDF layout."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from kongtian.errors import FormatError
from kongtian.sensing.occultation.atmprf import read_atmprf, write_atmprf
from kongtian.sensing.occultation.files import read_bending_csv
from kongtian.sensing.occultation.retrieval import retrieve

from ..conftest import DATA
from .us76 import us76

REF = DATA / "sensing" / "ro_reference" / "us76_dry_refractivity_bending.csv"


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kongtian.sensing.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


def test_ro_invert_reference_file(tmp_path):
    out = tmp_path / "profile.csv"
    nc = tmp_path / "profile.nc"
    p = run("ro-invert", "--bending", str(REF), "--out", str(out), "--netcdf", str(nc))
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["altitude_m", "refractivity", "pressure_hpa", "temperature_k"]
    z = np.array([float(r["altitude_m"]) for r in rows])
    t = np.array([float(r["temperature_k"]) for r in rows])
    pr = np.array([float(r["pressure_hpa"]) for r in rows])
    t_true, p_true = us76(z)
    m = (z >= 5e3) & (z <= 25e3)
    assert np.max(np.abs(t - t_true)[m]) < 0.5
    assert np.max(np.abs(pr / (p_true / 100) - 1)[m]) < 1e-3
    ds = read_atmprf(nc)
    assert ds["Temp"].attrs["units"] == "degC" and ds["Pres"].attrs["units"] == "hPa"
    assert ds.attrs["bad"] == "0" and ds.attrs["rfict"] == pytest.approx(6371.0)


def bad_file(tmp_path, text):
    f = tmp_path / "bending.csv"
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    "text,needle",
    [
        ("impact_m,bending_rad\n6372000,0.01\n6372200,abc\n6372400,0.009\n", ":3: column 'bending_rad'"),
        ("impact,bending\n6372000,0.01\n", ":1: missing column 'impact_m'"),
        ("impact_m,bending_rad\n6372000,0.01\n6372200\n6372400,0.009\n", ":3: column 'bending_rad' missing"),
        ("impact_m,bending_rad\n6372000,0.01\n6372200,0.009\n6372100,0.008\n", ":4: column 'impact_m': not monotonic"),
        ("impact_m,bending_rad\n6372000,0.01\n6372000,0.009\n", ":3: column 'impact_m': repeated"),
        ("impact_m,bending_rad\n6372000,nan\n", ":2: column 'bending_rad': not finite"),
        ("", ":1: empty file"),
        ("impact_m,bending_rad\n6372000,0.01\n", "needs at least 3 levels"),
        ("impact_m,bending_rad\n6372.0,0.01\n6372.2,0.009\n6372.4,0.008\n", "--rc-m"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(tmp_path, text, needle):
    f = bad_file(tmp_path, text)
    p = run("ro-invert", "--bending", str(f), "--out", str(tmp_path / "o.csv"))
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0]
    if needle.startswith(":"):
        assert str(f) in lines[0]
    assert "Traceback" not in p.stderr


def test_missing_file_and_bad_rc(tmp_path):
    p = run("ro-invert", "--bending", "nope.csv", "--out", "o.csv", cwd=tmp_path)
    assert p.returncode == 2 and "nope.csv" in p.stderr and len(p.stderr.splitlines()) == 1
    p = run("ro-invert", "--bending", str(REF), "--out", "o.csv", "--rc-m", "-5", cwd=tmp_path)
    assert p.returncode == 2 and "--rc-m" in p.stderr and len(p.stderr.splitlines()) == 1


def test_decreasing_impact_is_reversed(tmp_path):
    d = np.loadtxt(REF, delimiter=",", skiprows=1)
    f = tmp_path / "setting.csv"
    with f.open("w") as fh:
        fh.write("time_s,bending_rad,impact_m\n")
        for i, row in enumerate(d[::-1]):
            fh.write(f"{i * 0.02:.2f},{row[5]:.6e},{row[4]:.3f}\n")
    a, alpha = read_bending_csv(f)
    assert np.all(np.diff(a) > 0) and alpha[0] == pytest.approx(d[0, 5])


def test_read_atmprf_rejects_other_netcdf(tmp_path):
    import xarray as xr

    f = tmp_path / "other.nc"
    xr.Dataset({"foo": ("x", [1.0, 2.0])}).to_netcdf(f)
    with pytest.raises(FormatError, match="missing"):
        read_atmprf(f)


def test_netcdf_round_trip_keeps_values(tmp_path):
    d = np.loadtxt(REF, delimiter=",", skiprows=1)
    pr = retrieve(d[:, 4], d[:, 5])
    ds = read_atmprf(write_atmprf(pr, tmp_path / "p.nc", lat=45.0, lon=0.0))
    assert np.allclose(ds["Ref"].values, pr.refractivity)
    assert np.allclose(ds["MSL_alt"].values * 1e3, pr.altitude_m)
    assert np.allclose(ds["Temp"].values + 273.15, pr.temperature_k, equal_nan=True)
    assert ds.attrs["lat"] == 45.0
    assert "background_dominated" in ds["Qual_flag"].attrs["flag_meanings"]
