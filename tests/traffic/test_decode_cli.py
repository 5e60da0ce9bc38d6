"""`kongtian traffic decode`: contracts of the CLI over the real sample files."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from ..conftest import DATA

T = DATA / "traffic"


def run(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kongtian.cli", "traffic", "decode", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)  # fmt: skip


def test_ais_sample_counts_errors_and_writes_jsonl(tmp_path):
    out = tmp_path / "ais.jsonl"
    p = run(str(T / "ais" / "pyais_nmea_data_sample.txt"), "--format", "ais", "--out", str(out),
            "--ref-time", "2025-01-01T00:00:00Z")  # fmt: skip
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout.strip().splitlines()[-1])
    # pyais's sample: 100 empty payloads and 20 orphan fragments (see its SOURCES row)
    assert s["errors_by_kind"] == {"ais: empty payload": 100, "ais: orphan fragment": 20}
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == s["reports"] and all(r["object_id"].startswith("mmsi:") for r in rows)
    assert all(r["time_utc"].endswith("Z") for r in rows)


def test_jt808_strict_and_lenient(tmp_path):
    frames = json.loads((T / "jt808" / "jt808_frames_traccar.json").read_text())["frames"]
    hexfile = tmp_path / "frames.hex"
    hexfile.write_text("\n".join(f["hex"] for f in frames))
    p = run(str(hexfile), "--format", "jt808", "--out", str(tmp_path / "a.parquet"))
    s = json.loads(p.stdout)
    assert p.returncode == 0 and s["errors"] == 19  # the 19 frames with bad check code/length
    p2 = run(str(hexfile), "--format", "jt808", "--out", str(tmp_path / "b.parquet"), "--lenient")
    s2 = json.loads(p2.stdout)
    assert s2["errors"] == 0 and s2["reports"] > s["reports"]
    t = pq.read_table(tmp_path / "b.parquet")
    assert t.num_rows == s2["reports"] and t.column_names[:3] == ["object_id", "source", "time_utc"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["missing.bin", "--format", "beast", "--out", "x.jsonl"], "missing.bin"),
        ([str(T / "ais" / "pyais_sample.ais"), "--format", "nmea", "--out", "x.jsonl"], "--format"),
        ([str(T / "ais" / "pyais_sample.ais"), "--format", "ais", "--out", "x.csv"], "--out"),
        ([str(T / "ais" / "pyais_sample.ais"), "--format", "jt808", "--out", "x.jsonl"], "pyais_sample.ais:"),
        ([str(T / "adsb" / "traffic_sample_dump1090_beast.bin"), "--format", "beast", "--out", "x.jsonl", "--ref", "91,0"], "--ref"),
    ],
)  # fmt: skip
def test_bad_input_exit_2_one_line(args, needle, tmp_path):
    p = run(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr
