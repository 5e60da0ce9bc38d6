"""Cycle-slip detection on real GEONET (RINEX 2.10) and ESBC (RINEX 3.05) phases.

Truth: the receivers' own loss-of-lock flags (read from the files) and slips of known
size injected into real, otherwise untouched phase arcs (the test knows where).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kongtian.nav import read_obs
from kongtian.nav.cycle_slip import SlipConfig, SlipDetector, detect_slips, lli_slip
from kongtian.nav.signals import frequency_hz, wavelength_m

DATA = Path(__file__).resolve().parents[1] / "data" / "gnss"
GEONET = DATA / "rtklib_geonet_2005092"
ESBC = DATA / "esbc_2020177" / "ESBC00DNK_R_20201770000_01D_30S_MO.crx.gz"
F1, F2 = frequency_hz("G", "1"), frequency_hz("G", "2")


def _run(ds, sv, l1, l2, p1, p2, f1, f2, lli=True):  # type: ignore[no-untyped-def]
    x = ds.sel(sv=sv)
    return detect_slips(
        x.time.values, list(sv), x[l1].values, x[l2].values, f1, f2,
        p1_m=x[p1].values, p2_m=x[p2].values,
        lli1=x[l1 + "_lli"].values if lli else None,
        lli2=x[l2 + "_lli"].values if lli else None,
    )  # fmt: skip


def test_lli_bits() -> None:
    # Bit 0 = loss of lock; bit 1 (value 2) half-cycle, bit 2 (4) anti-spoofing: not slips.
    got = lli_slip(np.array([-1, 0, 1, 2, 3, 4, 5, 6, 7], dtype=np.int8))
    assert got.tolist() == [False, False, True, False, True, False, True, False, True]


def _rinex2_lli_slips(path: Path) -> set[tuple[int, str]]:
    """Independent reading of the raw text: (epoch index, sv) where L1 or L2 has a phase
    and an LLI digit with bit 0 set, and both phases are present (GEONET files: one
    observation line of 4 fields L1 C1 L2 P2 per satellite, <= 12 satellites)."""
    lines = path.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if "END OF HEADER" in ln) + 1
    out: set[tuple[int, str]] = set()
    epoch = -1
    while k < len(lines):
        head = lines[k]
        nsat = int(head[29:32])
        if int(head[28]) > 1:  # event record: nsat header/comment lines follow
            k += 1 + nsat
            continue
        sats = [head[32 + 3 * i : 35 + 3 * i].replace(" ", "0") for i in range(nsat)]
        epoch += 1
        for s, row in zip(sats, lines[k + 1 : k + 1 + nsat], strict=True):
            row = row.ljust(64)
            l1, l2 = row[0:14].strip(), row[32:46].strip()
            lli1, lli2 = row[14:15].strip(), row[46:47].strip()
            slip = any(x and int(x) & 1 for x in (lli1, lli2))
            if l1 and l2 and slip:
                out.add((epoch, s))
        k += 1 + nsat
    return out


@pytest.mark.parametrize("name", ["07590920.05o", "30400920.05o"])
def test_geonet_lli_slips(name: str) -> None:
    ds = read_obs(GEONET / name).data
    sv = list(ds.sv.values)
    fl = _run(ds, sv, "L1C", "L2W", "C1C", "C2W", F1, F2)
    got = {(int(i), str(sv[j])) for i, j in np.argwhere(fl.lli)}
    expected = _rinex2_lli_slips(GEONET / name)
    assert len(expected) >= 5
    assert got == expected
    # The anti-spoofing flag (L2 LLI 4 on most 0759 epochs) alone never marks a slip.
    if name.startswith("0759"):
        assert int((ds.L2W_lli.values == 4).sum()) > 500


def _inject(phase: np.ndarray, i: int, j: int, n: float) -> None:
    phase[i:, j] += n  # a slip: constant offset from epoch i on


@pytest.mark.parametrize("source", ["geonet", "esbc_gps", "esbc_bds"])
def test_injected_slips(source: str) -> None:
    """Slips injected into real phases: GF catches |l1 n1 - l2 n2| >= 10 cm, MW catches
    |n1 - n2| >= 2 wide-lane cycles; (1, 1) (5.4 cm GF, 0 MW) is reported, not required."""
    if source == "geonet":
        ds = read_obs(GEONET / "07590920.05o").data
        codes, sysl, b1, b2 = ("L1C", "L2W", "C1C", "C2W"), "G", "1", "2"
    else:
        sysl = "G" if source == "esbc_gps" else "C"
        ds = read_obs(ESBC, systems=sysl).data.isel(time=slice(0, 720))  # first 6 h
        if sysl == "G":
            codes, b1, b2 = ("L1C", "L2W", "C1C", "C2W"), "1", "2"
        else:
            codes, b1, b2 = ("L2I", "L6I", "C2I", "C6I"), "2", "6"
    f1, f2 = frequency_hz(sysl, b1), frequency_hz(sysl, b2)
    lam1, lam2 = wavelength_m(sysl, b1), wavelength_m(sysl, b2)
    sv = [s for s in ds.sv.values if s[0] == sysl]
    ds = ds.sel(sv=sv)
    base = _run(ds, sv, *codes, f1, f2, lli=False)
    have = np.all([np.isfinite(ds[c].values) for c in codes], axis=0)
    # Candidate sites: inside a continuous arc (10 valid epochs either side), no flag near.
    flagged = base.any
    sizes = [(1, 0), (0, 1), (-1, 0), (2, 1), (5, 4), (3, 0), (0, -4), (10, 7), (1, 1)]
    rng = np.random.default_rng(42)
    sites: list[tuple[int, int, tuple[int, int]]] = []
    used = np.zeros(len(sv), dtype=bool)
    for j in rng.permutation(len(sv)):
        ok = have[:, j]
        for _ in range(200):
            i = int(rng.integers(12, len(ok) - 12))
            if ok[i - 10 : i + 10].all() and not flagged[i - 10 : i + 10, j].any():
                sites.append((i, int(j), sizes[len(sites) % len(sizes)]))
                used[j] = True
                break
        if len(sites) >= 2 * len(sizes):
            break
    assert len(sites) >= len(sizes)
    mod = ds.copy(deep=True)
    l1a, l2a = mod[codes[0]].values, mod[codes[1]].values
    for i, j, (n1, n2) in sites:
        _inject(l1a, i, j, n1)
        _inject(l2a, i, j, n2)
    mod[codes[0]] = (("time", "sv"), l1a)
    mod[codes[1]] = (("time", "sv"), l2a)
    fl = _run(mod, sv, *codes, f1, f2, lli=False)
    detected = 0
    for i, j, (n1, n2) in sites:
        gf_jump = abs(lam1 * n1 - lam2 * n2)
        must_gf = gf_jump >= 0.10
        must_mw = abs(n1 - n2) >= 2
        if must_gf:
            assert fl.gf[i, j], (source, sv[j], i, n1, n2)
        if must_mw:
            assert fl.mw[i, j], (source, sv[j], i, n1, n2)
        detected += bool(fl.any[i, j])
        # The slip is flagged once: the epochs after it are clean again.
        if fl.any[i + 1 : i + 8, j].any():
            print("AFTER", source, sv[j], i, (n1, n2), fl.gf[i : i + 8, j], fl.mw[i : i + 8, j])
    # Every required slip is detected at its epoch; (1, 1) and one-wide-lane-cycle
    # slips with a small GF jump ((5, 4): 2.6 cm) may be missed or flagged late.
    weak = sum(1 for s in sites if s[2] in ((1, 1), (5, 4)))
    assert detected >= len(sites) - weak
    # No new flags anywhere else.
    extra = fl.any & ~base.any
    for i, j, _ in sites:
        extra[i : i + 8, j] = False
    assert not extra.any()


def test_gap_restarts_arc() -> None:
    det = SlipDetector(["G01"], F1, F2, SlipConfig(max_gap_s=120.0))
    t0 = np.datetime64("2020-01-01T00:00:00", "ns")
    det.update(t0, [1000.0], [800.0], [2e7], [2e7])
    f = det.update(t0 + np.timedelta64(30, "s"), [1010.0], [807.8], [2e7 + 1.9], [2e7 + 1.9])
    assert not f.any[0]
    f = det.update(t0 + np.timedelta64(600, "s"), [1100.0], [877.9], [2e7], [2e7])
    assert f.gap[0] and f.any[0]
