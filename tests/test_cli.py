"""The CLI's contracts: exit code 2 and one line on bad input, clean stdout."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import DATA

QIANFAN = str(DATA / "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kongtian.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["space", "propagate", "--catalog", QIANFAN, "--start", "2026-02-20T00:00:00Z", "--hours", "0"], "--hours"),
        (["space", "propagate", "--catalog", QIANFAN, "--start", "2026-02-20T00:00:00Z", "--hours", "1", "--step-s", "-5"], "--step-s"),
        (["space", "propagate", "--catalog", QIANFAN, "--start", "yesterday", "--hours", "1"], "--start"),
        (["space", "propagate", "--catalog", "missing.tle", "--start", "2026-02-20T00:00:00Z", "--hours", "1"], "missing.tle"),
        (["space", "propagate", "--catalog", QIANFAN, "--start", "2026-02-20T00:00:00Z", "--hours", "abc"], "--hours"),
        (["space", "passes", "--catalog", QIANFAN, "--site", "29.5", "--start", "2026-02-20T00:00:00Z"], "--site"),
        (["space", "coverage", "--catalog", QIANFAN, "--region", "atlantis", "--start", "2026-02-20T00:00:00Z", "--hours", "1", "--out", "x.nc"], "--region"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(args, needle, tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "kongtian.cli", *args], capture_output=True, text=True,
        timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0]
    assert "Traceback" not in p.stderr


def test_bad_checksum_names_file_and_line(tmp_path):
    text = (DATA / "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle").read_text().splitlines()
    # Break the checksum digit of the second satellite's line 1 (file line 5).
    bad = text[4][:-1] + str((int(text[4][-1]) + 1) % 10)
    text[4] = bad
    f = tmp_path / "bad.tle"
    f.write_text("\n".join(text) + "\n")
    p = run(
        "space", "propagate", "--catalog", str(f), "--start", "2026-02-20T00:00:00Z", "--hours", "1"
    )
    assert p.returncode == 2
    assert f"{f}:5" in p.stderr and "checksum" in p.stderr


def test_propagate_csv_contract(tmp_path):
    out = tmp_path / "eph.csv"
    p = run("space", "propagate", "--catalog", QIANFAN, "--start", "2026-02-20T00:00:00Z",
            "--hours", "0.5", "--step-s", "600", "--frame", "teme", "--out", str(out))  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == [
        "time_utc",
        "norad_id",
        "x_m",
        "y_m",
        "z_m",
        "vx_m_s",
        "vy_m_s",
        "vz_m_s",
        "error",
    ]
    assert len(rows) == 1 + 108 * 4
    # Independent check of one row with python-sgp4 directly (TEME, km -> m).
    from sgp4.api import Satrec, jday

    lines = (DATA / "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle").read_text().splitlines()
    sat = Satrec.twoline2rv(lines[1], lines[2])
    e, r, v = sat.sgp4(*jday(2026, 2, 20, 0, 10, 0))
    row = next(x for x in rows[1:] if x[0].startswith("2026-02-20T00:10:00") and x[1] == "60379")
    assert np.allclose([float(x) for x in row[2:5]], np.array(r) * 1e3, atol=1e-6)
    assert np.allclose([float(x) for x in row[5:8]], np.array(v) * 1e3, atol=1e-9)
    assert json.loads(p.stderr.strip().splitlines()[-1])["satellites"] == 108
