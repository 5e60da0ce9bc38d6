"""``kongtian nav solve`` on the GEONET pair (rover 0759, base 3040, GPS L1/L2, 30 s).

Run through :func:`kongtian.cli.main` (the installed entry point, exit codes included).
Truth: the rover reference position of ``RESULTS.md`` (RTKLIB static L1+L2 fixed, last
epoch), the base position of RTKLIB's test makefile, RTKLIB 2.4.3's own ``.pos`` files of
the same data (read with the same reader as ours), pyproj for geodetic conversions.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kongtian.cli import main
from kongtian.geo.frames import ecef_to_geodetic, enu_matrix
from kongtian.nav.pos_io import PosFile, read_pos

GNSS = Path(__file__).resolve().parents[1] / "data" / "gnss"
GEONET = GNSS / "rtklib_geonet_2005092"
ROVER, BASE_OBS, NAV = (GEONET / n for n in ("07590920.05o", "30400920.05o", "30400920.05n"))
BASE = np.array([-3978241.958, 3382840.234, 3649900.853])
REF = np.array([-3976219.1872, 3382371.6049, 3652511.1422])
_LAT, _LON, _ = ecef_to_geodetic(REF)
ENU = enu_matrix(_LAT, _LON)
BASE_ARG = "--base-pos=" + ",".join(f"{v:.3f}" for v in BASE)


def _solve(tmp: Path, mode: str, out_name: str, *extra: str) -> Path:
    out = tmp / out_name
    argv = ["nav", "solve", "--mode", mode, str(ROVER), str(NAV), "--out", str(out)]
    if mode != "spp":
        argv += ["--base", str(BASE_OBS), BASE_ARG]
    main([*argv, *extra])
    return out


def _match(ours: PosFile, theirs: PosFile) -> np.ndarray:
    """Index into ``ours`` of each of ``theirs``' epochs (nearest within 0.5 s, else -1).

    RTKLIB stamps the solution at the receiver-clock-corrected time, we at the rover's
    time tag: they differ by the receiver's few-millisecond clock steering."""
    idx = np.full(len(theirs.time_gpst), -1)
    for k, t in enumerate(theirs.time_gpst):
        d = np.abs((ours.time_gpst - t) / np.timedelta64(1, "ms"))
        j = int(np.argmin(d))
        if d[j] <= 500:
            idx[k] = j
    return idx


def _rms_hu(enu: np.ndarray) -> tuple[float, float]:
    return (
        float(np.sqrt(np.mean(np.sum(enu[:, :2] ** 2, axis=1)))),
        float(np.sqrt(np.mean(enu[:, 2] ** 2))),
    )


@pytest.fixture(scope="module")
def kin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("kin")
    return _solve(tmp, "kinematic", "kin.pos", "--plot", str(tmp / "plots")), tmp / "plots"


def test_kinematic_pos_against_rtklib(kin: tuple[Path, Path]) -> None:
    ours = read_pos(kin[0])
    theirs = read_pos(GNSS / "reference" / "geonet_kin_ar_L1L2_tt.pos")
    assert len(theirs.q) == 115 and np.all(theirs.q == 1)
    idx = _match(ours, theirs)
    assert np.all(idx >= 0)  # every epoch RTKLIB solves, we solve
    q = ours.q[idx]
    fixed = q == 1
    assert fixed.mean() >= 0.95  # issue 6 acceptance
    h, u = _rms_hu((ours.pos_ecef_m[idx][fixed] - REF) @ ENU.T)
    assert h <= 0.010 and u <= 0.020, (h, u)
    # The same columns mean the same things in both files.
    assert np.all(ours.ns[idx] == theirs.ns)
    np.testing.assert_allclose(ours.age_s[idx], theirs.age_s, atol=0.011)
    assert np.all(ours.ratio[idx][fixed] >= 3.0)
    # sdx/sdy/sdz of a fixed solution: RTKLIB's and ours agree within 20 %.
    np.testing.assert_allclose(ours.sd_m[idx][fixed, :3], theirs.sd_m[fixed, :3], rtol=0.2)
    # Epoch by epoch against RTKLIB's fixed positions (same integers): a few mm.
    dh, du = _rms_hu((ours.pos_ecef_m[idx][fixed] - theirs.pos_ecef_m[fixed]) @ ENU.T)
    assert dh <= 0.003 and du <= 0.006, (dh, du)
    assert "% ref pos   : -3978241.9580   3382840.2340   3649900.8530" in ours.header
    assert "% ref pos   : -3978241.9580   3382840.2340   3649900.8530" in theirs.header


def test_kinematic_pos_layout_matches_rtklib(kin: tuple[Path, Path]) -> None:
    ours = [ln for ln in kin[0].read_text().splitlines() if not ln.startswith("%")][0]
    ref = GNSS / "reference" / "geonet_kin_ar_L1L2_tt.pos"
    lines = ref.read_text().splitlines()
    theirs = [ln for ln in lines if not ln.startswith("%")][0]
    assert len(ours) == len(theirs)
    assert [i for i, c in enumerate(ours) if c == "."] == [
        i for i, c in enumerate(theirs) if c == "."
    ]
    col_hdr = [ln for ln in lines if ln.startswith("%  GPST")][0]
    assert col_hdr in kin[0].read_text().splitlines()


def test_plots_written(kin: tuple[Path, Path]) -> None:
    names = sorted(p.name for p in kin[1].iterdir())
    assert names == ["dop.png", "enu_error.png", "fix_status.png", "skyplot.png"]
    for p in kin[1].iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 20_000  # a real figure, not an empty canvas


def test_static_final_within_3mm(tmp_path: Path) -> None:
    p = read_pos(_solve(tmp_path, "static", "st.pos"))
    assert p.fix_rate() >= 0.95
    assert np.linalg.norm(p.pos_ecef_m[-1] - REF) <= 0.003


def test_dgnss_csv(tmp_path: Path) -> None:
    pyproj = pytest.importorskip("pyproj")
    f = _solve(tmp_path, "dgnss", "dg.csv")
    with open(f) as fh:
        rows = list(csv.DictReader(ln for ln in fh if not ln.startswith("#")))
    assert len(rows) >= 115 and {r["q"] for r in rows} == {"4"}
    xyz = np.array([[float(r[c]) for c in ("x_m", "y_m", "z_m")] for r in rows])
    # RTKLIB 2.4.3 -p 1: 0.360 m H / 0.620 m U (RESULTS.md); within 15 % on its epochs.
    theirs = read_pos(GNSS / "reference" / "geonet_kin_ar_L1L2_tt.pos")
    t = np.array([np.datetime64(r["time_gpst"], "ns") for r in rows])
    idx = np.array([int(np.argmin(np.abs(t - ti))) for ti in theirs.time_gpst])
    h, u = _rms_hu((xyz[idx] - REF) @ ENU.T)
    assert h <= 1.15 * 0.360 and u <= 1.15 * 0.620, (h, u)
    to_ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    for r in rows[::40]:
        got = to_ecef.transform(float(r["lon_deg"]), float(r["lat_deg"]), float(r["height_m"]))
        np.testing.assert_allclose(got, [float(r["x_m"]), float(r["y_m"]), float(r["z_m"])],
                                   atol=2e-3)  # fmt: skip
        assert float(r["sdu_m"]) > float(r["sde_m"]) > 0  # DGNSS: height is the weakest


def test_spp_geojson(tmp_path: Path) -> None:
    pyproj = pytest.importorskip("pyproj")
    doc = json.loads(_solve(tmp_path, "spp", "s.geojson").read_text())
    feats = doc["features"]
    assert len(feats) == 115 and {f["properties"]["q"] for f in feats} == {5}
    to_ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    xyz = np.array([to_ecef.transform(*f["geometry"]["coordinates"]) for f in feats])
    h, u = _rms_hu((xyz - REF) @ ENU.T)
    assert h <= 1.5 and u <= 2.5, (h, u)  # issue 6 acceptance


def test_geodetic_base_position_and_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproj = pytest.importorskip("pyproj")
    to_llh = pyproj.Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon, lat, hgt = to_llh.transform(*BASE)
    main(["nav", "solve", "--mode", "static", str(ROVER), str(NAV), "--base", str(BASE_OBS),
          f"--base-pos={lat:.10f},{lon:.10f},{hgt:.4f}"])  # fmt: skip
    out, err = capsys.readouterr()
    f = tmp_path / "stdout.pos"
    f.write_text(out)
    p = read_pos(f)
    assert np.linalg.norm(p.pos_ecef_m[-1] - REF) <= 0.003
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["mode"] == "static" and summary["fix_rate"] >= 0.95


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mode", "ppp"], "--mode"),
        (["--mode", "kinematic"], "--base"),  # no base file
        (["--mode", "static", "--base", str(BASE_OBS), "--base-pos", "1,2"], "--base-pos"),
        (
            ["--mode", "static", "--base", str(BASE_OBS), "--base-pos", "1e3,2e3,3e3"],
            "--base-pos",
        ),  # fmt: skip
        # a valid LAT,LON,H far from the base file's header position (swapped order?)
        (["--mode", "static", "--base", str(BASE_OBS), "--base-pos", "1,2,3"], "km from"),
        (["--mode", "spp", "--systems", "GR"], "--systems"),
        (["--mode", "spp", "--mask", "95"], "--mask"),
        (["--mode", "spp", "--out", "x.txt"], "--out"),
        (["--mode", "static", "--base", "/nonexistent/base.05o"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nav", "solve", str(ROVER), str(NAV), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_corrupt_rover_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ROVER.read_text().splitlines()
    body = next(i for i, ln in enumerate(lines) if "END OF HEADER" in ln) + 1
    lines[body + 1] = "  5607x048.441" + lines[body + 1][14:]  # first L1 phase of the file
    bad = tmp_path / "bad.05o"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as exc:
        main(["nav", "solve", "--mode", "spp", str(bad), str(NAV)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}:{body + 2}:" in err and "L1C" in err, err


def test_kinematic_geojson(tmp_path: Path) -> None:
    pyproj = pytest.importorskip("pyproj")
    doc = json.loads(_solve(tmp_path, "kinematic", "k.geojson").read_text())
    feats = doc["features"]
    props = [f["properties"] for f in feats]
    theirs = read_pos(GNSS / "reference" / "geonet_kin_ar_L1L2_tt.pos")
    t = np.array([np.datetime64(p["time_gpst"], "ns") for p in props])
    idx = np.array([int(np.argmin(np.abs(t - ti))) for ti in theirs.time_gpst])
    q = np.array([p["q"] for p in props])[idx]
    assert np.mean(q == 1) >= 0.95
    assert all(p["ratio"] >= 3.0 and p["n_fixed"] >= 4 for p in np.array(props)[idx][q == 1])
    to_ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    xyz = np.array([to_ecef.transform(*f["geometry"]["coordinates"]) for f in feats])[idx]
    h, u = _rms_hu((xyz[q == 1] - REF) @ ENU.T)
    assert h <= 0.010 and u <= 0.020, (h, u)
    assert any(n.startswith("ref pos") for n in doc["properties"]["notes"])
