"""``read_obs`` against independent readers and the files' own text.

- RINEX 2.10 (GEONET) and 3.05 (ESBC, first 10 minutes, plain text cut from the
  decompressed day file): every value, LLI and SSI equal to georinex's, same epochs and
  satellites (georinex keeps RINEX 2 codes; we map them per ``signals``).
- RINEX 4.00 (KMS3, Hatanaka): every observation RTKLIB's ``readrnx`` keeps (through
  ``pyrtklib``; it picks up to 3 signals per satellite) equals ours, plus quoted lines.
- RINEX 3.02 vs 3.04 (hand-made pair): B1I labelled band 1 vs band 2 give identical
  datasets.
- Full ESBC day from the .crx.gz: epoch count/span and quoted values; filters.
- Malformed input raises FormatError with file and line (including a hypothesis test
  that mutates lines of a real file).
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kongtian.errors import FormatError
from kongtian.nav.rinex_io import read_rinex_bytes
from kongtian.nav.rinex_obs import read_obs
from kongtian.nav.signals import normalise_codes

GNSS = Path(__file__).resolve().parents[1] / "data" / "gnss"
GEONET_OBS = GNSS / "rtklib_geonet_2005092" / "07590920.05o"
ESBC_10M = GNSS / "esbc_2020177" / "ESBC00DNK_R_20201770000_10M_30S_MO.rnx"
ESBC_DAY = GNSS / "esbc_2020177" / "ESBC00DNK_R_20201770000_01D_30S_MO.crx.gz"
KMS3_OBS = GNSS / "kms3_2022159_rinex4" / "KMS300DNK_R_20221591000_01H_30S_MO.crx"
BDS302 = GNSS / "rinex302_bds_bands.rnx"
BDS304 = GNSS / "rinex304_bds_bands.rnx"


def _georinex(path: Path):
    gr = pytest.importorskip("georinex")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gr.load(path, useindicators=True)


def _compare_with_georinex(path: Path) -> int:
    obs = read_obs(path)
    ds = obs.data
    ref = _georinex(path)
    # georinex truncates epoch seconds to the millisecond below ("30.0020000" -> 30.001)
    dt = ds["time"].values - ref["time"].values.astype("datetime64[ns]")
    assert ds.sizes["time"] == ref.sizes["time"] and np.abs(dt).max() <= np.timedelta64(1, "ms")
    assert list(ds["sv"].values) == list(ref["sv"].values)
    checked = 0
    for sys, orig in obs.header.original_obs_types.items():
        norm = obs.header.obs_types[sys]
        rows = np.char.startswith(ds["sv"].values.astype(str), sys)
        if not rows.any():
            continue
        for o, n in zip(orig, norm, strict=True):
            want = (
                ref[o].values[:, rows]
                if o in ref
                else np.full((ds.sizes["time"], rows.sum()), np.nan)
            )
            np.testing.assert_array_equal(ds[n].values[:, rows], want, err_msg=f"{sys} {n} ({o})")
            checked += int(np.isfinite(want).sum())
            if n[0] == "L":
                for ours, theirs in ((f"{n}_lli", f"{o}lli"), (f"{n}_ssi", f"{o}ssi")):
                    got = ds[ours].values[:, rows].astype(float)
                    got[got < 0] = np.nan
                    if theirs not in ref:  # georinex keeps LLI of bands 1 and 2 only
                        continue
                    exp = ref[theirs].values[:, rows]
                    np.testing.assert_array_equal(got, exp, err_msg=f"{sys} {ours}")
    return checked


def test_rinex210_obs_equals_georinex():
    n = _compare_with_georinex(GEONET_OBS)
    assert n > 3000
    obs = read_obs(GEONET_OBS)
    h = obs.header
    # " -3976219.5082  3382372.5671  3652512.9849                  APPROX POSITION XYZ"
    np.testing.assert_array_equal(h.approx_xyz_m, [-3976219.5082, 3382372.5671, 3652512.9849])
    assert h.original_obs_types["G"] == ["L1", "C1", "L2", "P2"]
    assert h.obs_types["G"] == ["L1C", "C1C", "L2W", "C2W"]
    assert h.interval_s == 30.0 and h.receiver == "TRIMBLE 5700" and h.marker_name == "0759"
    assert obs.data["time"].attrs["time_scale"] == "GPST"
    # an event epoch (flag 4, "RINEX FILE SPLICE") sits inside the file and is skipped;
    # the epoch after it is " 05  4  2  0 48  0.0040000  0  8G 1G 4G ..."
    assert np.datetime64("2005-04-02T00:48:00.004", "ns") in obs.data["time"].values
    # line 399: " 05  4  2  0 21 30.0020000  0  8G 1G 7G 8G11G19G20G24G28"
    assert np.datetime64("2005-04-02T00:21:30.002", "ns") in obs.data["time"].values


def test_rinex305_obs_equals_georinex():
    n = _compare_with_georinex(ESBC_10M)
    assert n > 10_000


def test_rinex302_bds_band_relabelling_gives_identical_datasets():
    a, b = read_obs(BDS302), read_obs(BDS304)
    assert a.header.original_obs_types["C"][:4] == ["C1I", "L1I", "D1I", "S1I"]
    assert (
        a.header.obs_types["C"]
        == b.header.obs_types["C"]
        == ["C2I", "L2I", "D2I", "S2I", "C7I", "L7I"]
    )
    assert a.header.obs_types["G"] == ["C1C", "L1C", "D1C", "S1C"]  # GPS band 1 untouched
    da, db = a.data.copy(), b.data.copy()
    da.attrs, db.attrs = {}, {}
    assert da.identical(db)
    # and the values are the band-1-labelled ones georinex reads from the 3.02 file
    ref = _georinex(BDS302)
    rows = np.char.startswith(a.data["sv"].values.astype(str), "C")
    np.testing.assert_array_equal(a.data["C2I"].values[:, rows], ref["C1I"].values[:, rows])
    np.testing.assert_array_equal(a.data["L2I"].values[:, rows], ref["L1I"].values[:, rows])
    # quoted: "C05  40715949.461 5 212018673.07105        -2.196 5        34.500 ..."
    assert a.data["C2I"].sel(sv="C05").values[0] == 40715949.461
    assert a.data["L2I"].sel(sv="C05").values[0] == 212018673.071
    assert a.data["L2I_ssi"].sel(sv="C05").values[0] == 5
    assert a.data["L2I_lli"].sel(sv="C05").values[0] == 0


def test_scale_factor_header_divides_values(tmp_path):
    lines = BDS304.read_text().splitlines()
    out = []
    for line in lines:
        if line.startswith("C") and line[1:3].isdigit():  # C2I, L2I cells x 10
            cells = [line[3 + 16 * k : 19 + 16 * k].ljust(16) for k in range(6)]
            for k in (0, 1):
                if cells[k][:14].strip():
                    cells[k] = f"{float(cells[k][:14]) * 10:14.3f}" + cells[k][14:]
            line = (line[:3] + "".join(cells)).rstrip()
        if "END OF HEADER" in line:
            out.append(f"{'C   10  2 C2I L2I':60s}SYS / SCALE FACTOR")
        out.append(line)
    scaled = read_obs(_write(tmp_path, "scaled.rnx", out)).data
    plain = read_obs(BDS304).data
    for code in ("C2I", "L2I", "D2I", "C7I"):
        np.testing.assert_allclose(scaled[code].values, plain[code].values, rtol=1e-15)


def test_normalise_codes_rinex2_and_302():
    assert normalise_codes("G", ["C1", "P1", "L1", "L2", "P2", "S1", "D2"], 2.11) == [
        "C1C", "C1W", "L1C", "L2W", "C2W", "S1C", "D2W"]  # fmt: skip
    assert normalise_codes("G", ["C1", "L1", "C2", "L2"], 2.11) == ["C1C", "L1C", "C2X", "L2X"]
    assert normalise_codes("R", ["C1", "P2", "L2"], 2.11) == ["C1C", "C2P", "L2P"]
    assert normalise_codes("C", ["C1I", "L1Q", "C7I", "C6I"], 3.02) == ["C2I", "L2Q", "C7I", "C6I"]
    assert normalise_codes("C", ["C1P", "C2I"], 3.04) == ["C1P", "C2I"]


def test_rinex4_obs_equals_rtklib_and_quoted_lines(tmp_path):
    obs = read_obs(KMS3_OBS)
    ds = obs.data
    assert obs.header.version == 4.0 and ds.sizes["time"] == 19
    assert obs.header.glonass_slots["R10"] == -7 and obs.header.leap_seconds == 18
    # "> 2022 06 08 10 00 00.0000000  0 49"
    # "C05                  39975899.571 5                  39975899.534 4   ..."
    assert ds["time"].values[0] == np.datetime64("2022-06-08T10:00:00")
    assert int(np.isfinite(ds["C1C"].values[0]).sum() + 0) >= 0
    assert ds["C2I"].sel(sv="C05").values[0] == 39975899.571
    assert np.isnan(ds["C1P"].sel(sv="C05").values[0])
    rtk = pytest.importorskip("pyrtklib")
    plain = tmp_path / "KMS3.rnx"
    plain.write_bytes(read_rinex_bytes(KMS3_OBS))
    robs, rnav, sta = rtk.obs_t(), rtk.nav_t(), rtk.sta_t()
    assert rtk.readrnx(str(plain), 1, "", robs, rnav, sta) == 1
    buf = rtk.Arr1Dchar(8)
    unix = (ds["time"].values - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "s")
    svs = list(ds["sv"].values)
    n = 0
    for k in range(robs.n):
        d = robs.data[k]
        rtk.satno2id(d.sat, buf)
        sv = buf[0] if buf[0][0].isalpha() else f"S{int(buf[0]) - 100:02d}"  # SBAS "123"
        ti = int(np.flatnonzero(unix == d.time.time + d.time.sec)[0])
        si = svs.index(sv)
        for f in range(3):
            if d.code[f] == 0:
                continue
            code = rtk.code2obs(d.code[f])
            for kind, val in (("C", d.P[f]), ("L", d.L[f])):
                ours = ds[kind + code].values[ti, si]
                assert (ours if np.isfinite(ours) else 0.0) == val, (sv, kind + code)
                n += 1
            ours_d = ds["D" + code].values[ti, si] if "D" + code in ds else np.nan
            assert np.float32(ours_d if np.isfinite(ours_d) else 0.0) == np.float32(d.D[f])
    assert n > 2000
    print(f"\nKMS3 RINEX 4 obs: {n} code/phase values equal RTKLIB's")


@pytest.mark.slow
def test_full_day_equals_rtklib(tmp_path):
    """Every code/phase value RTKLIB keeps from the ESBC day (3 signals per satellite)."""
    rtk = pytest.importorskip("pyrtklib")
    plain = tmp_path / "ESBC.rnx"
    plain.write_bytes(read_rinex_bytes(ESBC_DAY))
    robs, rnav, sta = rtk.obs_t(), rtk.nav_t(), rtk.sta_t()
    assert rtk.readrnx(str(plain), 1, "", robs, rnav, sta) == 1
    ds = read_obs(ESBC_DAY).data
    n = robs.n
    sats, tt = np.empty(n, int), np.empty(n)
    pr, ph, codes = np.empty((n, 3)), np.empty((n, 3)), np.empty((n, 3), int)
    for k in range(n):
        d = robs.data[k]
        sats[k], tt[k] = d.sat, d.time.time + d.time.sec
        pr[k], ph[k], codes[k] = list(d.P), list(d.L), list(d.code)
    buf = rtk.Arr1Dchar(8)
    names = {}
    for s in np.unique(sats):
        rtk.satno2id(int(s), buf)
        names[s] = buf[0] if buf[0][0].isalpha() else f"S{int(buf[0]) - 100:02d}"
    unix = (ds["time"].values - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "s")
    ti = np.searchsorted(unix, tt)
    assert (unix[ti] == tt).all()
    svs = list(ds["sv"].values)
    si = np.array([svs.index(names[s]) for s in sats])
    compared = 0
    for c in np.unique(codes[codes > 0]):
        code = rtk.code2obs(int(c))
        for f in range(3):
            m = codes[:, f] == c
            for kind, arr in (("C", pr), ("L", ph)):
                ours = ds[kind + code].values[ti[m], si[m]]
                np.testing.assert_array_equal(np.where(np.isfinite(ours), ours, 0.0), arr[m, f])
                compared += int(m.sum())
    assert compared > 500_000
    print(f"\nESBC day: {compared} code/phase values equal RTKLIB's ({n} sat-epochs)")


def test_full_day_crx_gz_and_filters():
    obs = read_obs(ESBC_DAY)
    ds = obs.data
    assert ds.sizes["time"] == 2880
    assert ds["time"].values[0] == np.datetime64("2020-06-25T00:00:00")
    assert ds["time"].values[-1] == np.datetime64("2020-06-25T23:59:30")
    assert obs.header.obs_types["C"] == "C2I C6I C7I D2I D6I D7I L2I L6I L7I S2I S6I S7I".split()
    # "C07  39491936.793 6  39491927.647 5  39491931.984 7      -484.694 6 ..."
    assert ds["C2I"].sel(sv="C07").values[0] == 39491936.793
    assert ds["C6I"].sel(sv="C07").values[0] == 39491927.647
    sub = read_obs(
        ESBC_DAY,
        systems="C",
        codes=["C2I", "L2I"],
        start="2020-06-25T06:00",
        end="2020-06-25T07:00",
    ).data
    assert set(sub.data_vars) == {"C2I", "L2I", "L2I_lli", "L2I_ssi"}
    assert sub.sizes["time"] == 121 and all(s.startswith("C") for s in sub["sv"].values)
    full = ds[["C2I", "L2I", "L2I_lli"]].sel(time=sub["time"], sv=sub["sv"])
    np.testing.assert_array_equal(full["C2I"].values, sub["C2I"].values)
    np.testing.assert_array_equal(full["L2I_lli"].values, sub["L2I_lli"].values)


@pytest.mark.parametrize("plain", [GEONET_OBS, ESBC_10M], ids=["rinex2", "rinex3"])
@pytest.mark.parametrize("layer", ["gz", "Z", "crx", "crx.gz", "crx.Z"])
def test_compression_layers_give_identical_datasets(tmp_path, plain, layer):
    """Layers are recognised from content: the files are named without telling suffixes."""
    hatanaka = pytest.importorskip("hatanaka")
    import ncompress

    raw = plain.read_bytes()
    if layer.startswith("crx"):
        comp = {"crx": "none", "crx.gz": "gz", "crx.Z": "Z"}[layer]
        data = hatanaka.compress(raw, compression=comp)
    elif layer == "gz":
        data = gzip.compress(raw)
    else:
        data = ncompress.compress(raw)
    p = tmp_path / "renamed.dat"
    p.write_bytes(data)
    assert read_obs(p).data.identical(read_obs(plain).data)


def test_summary_reports_span_gaps_and_signals(tmp_path):
    lines = ESBC_10M.read_text().splitlines()
    ep = [i for i, s in enumerate(lines) if s.startswith(">")]
    cut = lines[: ep[5]] + lines[ep[8] :]  # drop 00:02:30, 00:03:00, 00:03:30
    s = read_obs(_write(tmp_path, "gap.rnx", cut)).summary()
    assert s["epochs"] == 17 and s["interval_s"] == 30.0 and s["time_scale"] == "GPST"
    assert s["gaps"] == [("2020-06-25T00:02:00.000000000", "2020-06-25T00:04:00.000000000")]
    assert "C05" in s["systems"]["C"]["satellites"]
    assert s["systems"]["C"]["codes"]["C2I"] > 0 and s["systems"]["C"]["codes"]["C6I"] > 0


# --------------------------------------------------------------------------- bad input


def _write(tmp: Path, name: str, lines: list[str]) -> Path:
    p = tmp / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _esbc_lines() -> list[str]:
    return ESBC_10M.read_text().splitlines()


def test_truncated_obs_file(tmp_path):
    lines = _esbc_lines()
    p = _write(tmp_path, "cut.rnx", lines[:-5])
    with pytest.raises(FormatError, match=r"cut\.rnx:\d+: truncated file") as ei:
        read_obs(p)
    assert ei.value.line == len(lines) - 5


def test_bad_epoch_line(tmp_path):
    lines = _esbc_lines()
    k = [i for i, s in enumerate(lines) if s.startswith(">")][3]
    lines[k] = lines[k][:7] + "x" + lines[k][8:]
    with pytest.raises(FormatError, match="bad epoch line") as ei:
        read_obs(_write(tmp_path, "ep.rnx", lines))
    assert ei.value.line == k + 1 and ei.value.path.endswith("ep.rnx")


def test_bad_value_and_flag(tmp_path):
    lines = _esbc_lines()
    k = [i for i, s in enumerate(lines) if s.startswith("C07")][2]
    bad = lines.copy()
    bad[k] = bad[k][:8] + "?" + bad[k][9:]
    with pytest.raises(FormatError, match="bad C2I value") as ei:
        read_obs(_write(tmp_path, "val.rnx", bad))
    assert ei.value.line == k + 1
    bad = lines.copy()
    c = 3 + 16 * 6 + 14  # LLI of L2I, the 7th code of the C list
    bad[k] = bad[k][:c] + "x" + bad[k][c + 1 :]
    with pytest.raises(FormatError, match="L2I_lli") as ei:
        read_obs(_write(tmp_path, "lli.rnx", bad))
    assert ei.value.line == k + 1


def test_unknown_version_and_wrong_type(tmp_path):
    lines = _esbc_lines()
    lines[0] = "     3.99" + lines[0][9:]
    with pytest.raises(FormatError, match=r":1: unsupported RINEX version 3\.99"):
        read_obs(_write(tmp_path, "v.rnx", lines))
    with pytest.raises(FormatError, match="not an observation file"):
        read_obs(GNSS / "rtklib_geonet_2005092" / "30400920.05n")
    p = tmp_path / "junk.crx.gz"
    p.write_bytes(gzip.compress(b"not a rinex file at all\n" * 5))
    with pytest.raises(FormatError):
        read_obs(p)


_MUT_LINES = _esbc_lines()[:400] if ESBC_10M.exists() else []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    idx=st.integers(0, max(len(_MUT_LINES) - 1, 0)),
    col=st.integers(0, 90),
    char=st.sampled_from(list("x-.9 >G\t")),
    op=st.sampled_from(["replace", "delete_line", "cut_line", "dup_line"]),
)
def test_mutated_lines_give_format_error_or_data(tmp_path, idx, col, char, op):
    lines = list(_MUT_LINES)
    if op == "replace":
        s = lines[idx].ljust(col + 1)
        lines[idx] = s[:col] + char + s[col + 1 :]
    elif op == "delete_line":
        del lines[idx]
    elif op == "cut_line":
        lines[idx] = lines[idx][:col]
    else:
        lines.insert(idx, lines[idx])
    p = _write(tmp_path, "mut.rnx", lines)
    try:
        read_obs(p)
    except FormatError as exc:
        assert "mut.rnx" in str(exc)
