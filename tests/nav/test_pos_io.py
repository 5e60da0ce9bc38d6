"""RTKLIB ``.pos`` reading/writing, CSV and GeoJSON output.

Oracles: lines of an RTKLIB 2.4.3 b34 output file quoted verbatim, pyproj (PROJ) for
geodetic <-> ECEF conversions.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kongtian.errors import FormatError
from kongtian.nav.pos_io import read_pos, write_csv, write_geojson, write_pos, write_solution
from kongtian.nav.rinex_nav import read_nav
from kongtian.nav.rinex_obs import read_obs
from kongtian.nav.spp import SppConfig, solve_spp

pyproj = pytest.importorskip("pyproj")

GNSS = Path(__file__).resolve().parents[1] / "data" / "gnss"
RTK_POS = GNSS / "reference" / "geonet_spp_brdciono_saas_tt.pos"
_TO_ECEF = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


@pytest.fixture(scope="module")
def sol():
    d = GNSS / "rtklib_geonet_2005092"
    return solve_spp(read_obs(d / "07590920.05o"), read_nav(d / "30400920.05n"),
                     SppConfig(systems="G"))  # fmt: skip


def test_read_rtklib_file():
    p = read_pos(RTK_POS)
    assert len(p.time_gpst) == 115
    # first data line of the file:
    # 2005/04/02 00:00:00.000  -3976219.2244   3382373.3920   3652513.1662   5   7   4.1000 ...
    assert p.time_gpst[0] == np.datetime64("2005-04-02T00:00:00", "ns")
    np.testing.assert_array_equal(p.pos_ecef_m[0], [-3976219.2244, 3382373.3920, 3652513.1662])
    assert p.q[0] == 5 and p.ns[0] == 7
    np.testing.assert_array_equal(p.sd_m[0], [4.1000, 5.0915, 4.0601, -4.0491, 3.5339, -3.0379])
    assert p.header[0] == "% program   : RTKLIB ver.2.4.3"
    assert np.all(p.q == 5)


def test_round_trip_and_rtklib_layout(sol, tmp_path):
    f = tmp_path / "g.pos"
    n = write_pos(f, sol, inputs=["07590920.05o", "30400920.05n"])
    assert n == sol.valid.sum() == 115
    p = read_pos(f)
    np.testing.assert_array_equal(p.time_gpst, sol.time_gpst[sol.valid])
    np.testing.assert_allclose(p.pos_ecef_m, sol.pos_ecef_m[sol.valid], atol=5e-5, rtol=0)
    assert "% elevation mask: 15 deg" in p.header
    assert any(h.startswith("% obs start : 2005/04/02 00:00:00.0 GPST (week1316 518400.0s)")
               for h in p.header)  # fmt: skip
    # column layout identical to RTKLIB's (same character positions of the fields)
    ours = [ln for ln in f.read_text().splitlines() if not ln.startswith("%")][0]
    theirs = [ln for ln in RTK_POS.read_text().splitlines() if not ln.startswith("%")][0]
    assert len(ours) == len(theirs)
    assert [i for i, c in enumerate(ours) if c == "."] == [
        i for i, c in enumerate(theirs) if c == "."
    ]
    sd = np.sqrt(np.diagonal(sol.cov_ecef_m2[sol.valid], axis1=1, axis2=2))
    np.testing.assert_allclose(p.sd_m[:, :3], sd, atol=5e-5)


def test_read_geodetic_and_week_tow(tmp_path):
    lat, lon, h = 35.160867766, 139.613844940, 68.4545
    f = tmp_path / "llh.pos"
    f.write_text(
        "% program   : RTKLIB ver.2.4.3\n"
        "%  GPST          latitude(deg) longitude(deg)  height(m)   Q  ns   sdn(m)   sde(m)"
        "   sdu(m)  sdne(m)  sdeu(m)  sdun(m) age(s)  ratio\n"
        f"1316 518430.000   {lat:.9f}  {lon:.9f}    {h:.4f}   5   8   1.0000   1.0000"
        "   2.0000   0.0000   0.0000   0.0000   0.00    0.0\n"
    )
    p = read_pos(f)
    assert p.time_gpst[0] == np.datetime64("2005-04-02T00:00:30", "ns")
    want = np.array(_TO_ECEF.transform(lon, lat, h))
    np.testing.assert_allclose(p.pos_ecef_m[0], want, atol=1e-4, rtol=0)


def test_bad_line_names_file_and_line(tmp_path):
    f = tmp_path / "bad.pos"
    lines = RTK_POS.read_text().splitlines()[:12]
    lines[10] = lines[10][:30] + "x" + lines[10][31:]
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError) as exc:
        read_pos(f)
    assert exc.value.line == 11 and str(f) in str(exc.value)


def test_csv_and_geojson(sol, tmp_path):
    c, g = tmp_path / "s.csv", tmp_path / "s.geojson"
    assert write_solution(c, sol) == write_solution(g, sol) == 115
    with open(c) as fh:
        rows = list(csv.DictReader(ln for ln in fh if not ln.startswith("#")))
    assert len(rows) == 115
    doc = json.loads(g.read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 115
    assert "elevation mask: 15 deg" in doc["properties"]["notes"]
    xyz = sol.pos_ecef_m[sol.valid]
    for k in (0, 57, 114):
        lon, lat, h = doc["features"][k]["geometry"]["coordinates"]
        np.testing.assert_allclose(_TO_ECEF.transform(lon, lat, h), xyz[k], atol=2e-3)
        r = rows[k]
        np.testing.assert_allclose(
            _TO_ECEF.transform(float(r["lon_deg"]), float(r["lat_deg"]), float(r["height_m"])),
            [float(r["x_m"]), float(r["y_m"]), float(r["z_m"])], atol=2e-3)  # fmt: skip
    assert write_csv(c, sol) == write_geojson(g, sol) == 115
