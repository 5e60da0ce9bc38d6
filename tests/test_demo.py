"""`kongtian demo --quick` end to end: files written, contracts kept, physical invariants hold."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_quick(tmp_path):
    out = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "kongtian.cli", "demo", "space", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    for f in s["qianfan"]["files"] + s["starlink"]["files"] + s["what_if"]["files"]:
        assert (out / f).stat().st_size > 1000, f
    with open(out / s["qianfan"]["passes"]["file"]) as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:5] == ["norad_id", "rise_utc", "culminate_utc", "set_utc", "max_elev_deg"]
    assert all(float(r[4]) >= 25.0 for r in rows[1:])
    # Adding satellites can only add coverage.
    assert s["what_if"]["mean_coverage_fraction"] >= s["qianfan"]["mean_coverage_fraction"]
    assert s["what_if"]["max_gap_s"] <= s["qianfan"]["max_gap_s"]
    # Keeping the satellite while it is visible never switches more often than re-picking.
    pol = s["handover"]["policies"]
    for a, b in zip(
        pol["longest_visibility"]["terminals"], pol["max_elevation"]["terminals"], strict=True
    ):
        assert a["handover_count"] <= b["handover_count"]
    assert "Qianfan" in p.stdout and "report:" in p.stdout
