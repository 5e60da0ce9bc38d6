"""Claim: our RTK (``kongtian.nav.rtk.solve_rtk``) gives RTKLIB's kinematic result on the
GEONET pair; this prints epochs/s of both, from files, in the same run.

Workload: GEONET 0759 (rover) / 3040 (base), RINEX 2.10, GPS L1/L2, 30 s, 120 rover
epochs (tests/data/gnss/rtklib_geonet_2005092), kinematic, continuous AR, ratio 3.0,
elevation mask 15 deg, base at RTKLIB's test-makefile position.

- ours:   ``read_obs`` x2 + ``read_nav`` + ``solve_rtk(mode="kinematic")``;
- anchor: ``pyrtklib.postpos`` (RTKLIB 2.4.3 b34) with ``prcopt_default`` changed to
          kinematic, 2 frequencies, GPS, fixed base position: the configuration of
          ``rnx2rtkp -p 2 -f 2 -v 3.0`` used for the reference solution. Reads the
          same files and writes a .pos file to a temporary folder.

Both include file reading. Fix counts and the fixed RMS against the reference rover
position are printed for both. Best of 3. Run: ``.venv/bin/python bench/bench_rtk.py``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyrtklib as rtk

from kongtian.geo.frames import ecef_to_geodetic, enu_matrix
from kongtian.nav import read_nav, read_obs
from kongtian.nav.rtk import RtkConfig, solve_rtk

GEONET = Path(__file__).resolve().parents[1] / "tests" / "data" / "gnss" / "rtklib_geonet_2005092"
BASE = np.array([-3978241.958, 3382840.234, 3649900.853])
REF = np.array([-3976219.1872, 3382371.6049, 3652511.1422])
REPEAT = 3


def ours() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rov = read_obs(GEONET / "07590920.05o")
    bas = read_obs(GEONET / "30400920.05o")
    nav = read_nav(GEONET / "30400920.05n")
    sol = solve_rtk(rov, bas, nav, BASE, RtkConfig(mode="kinematic"))
    return sol.pos_ecef_m, sol.quality, sol.time_gpst


def anchor(out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    popt, sopt, fopt = rtk.prcopt_default, rtk.solopt_default, rtk.filopt_t()
    popt.mode, popt.nf, popt.navsys, popt.refpos = rtk.PMODE_KINEMA, 2, rtk.SYS_GPS, 0
    popt.thresar[0] = 3.0
    for i, v in enumerate(BASE):
        popt.rb[i] = float(v)
    sopt.posf = rtk.SOLF_XYZ
    buf = rtk.Arr1Dchar(1024)
    for i, c in enumerate(str(out)):
        buf[i] = c
    files = [str(GEONET / n) for n in ("07590920.05o", "30400920.05o", "30400920.05n")]
    rc = rtk.postpos(rtk.gtime_t(), rtk.gtime_t(), 0.0, 0.0, popt, sopt, fopt, files, 3, buf,
                     "", "")  # fmt: skip
    assert rc == 0
    rows = [ln.split() for ln in out.read_text().splitlines() if not ln.startswith("%")]
    x = np.array([[float(v) for v in r[2:5]] for r in rows])
    q = np.array([int(r[5]) for r in rows])
    t = np.array([np.datetime64(r[0].replace("/", "-") + "T" + r[1], "ns") for r in rows])
    return x, q, t


def _stats(name: str, x: np.ndarray, q: np.ndarray, wall: float) -> None:
    lat, lon, _ = ecef_to_geodetic(REF)
    enu = (x - REF) @ enu_matrix(lat, lon).T
    f = q == 1
    h = np.sqrt(np.mean(np.sum(enu[f, :2] ** 2, axis=1)))
    u = np.sqrt(np.mean(enu[f, 2] ** 2))
    print(f"{name:<8} epochs {len(q):>4}  fixed {f.sum():>4} ({f.mean():6.1%})  "
          f"fixed RMS H {h * 1e3:5.1f} mm U {u * 1e3:5.1f} mm  "
          f"{wall:7.3f} s  {len(q) / wall:8.1f} epochs/s")  # fmt: skip


def main() -> None:
    ours()  # numba kernels: load the on-disk cache once, outside timing
    t_o = t_a = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            xo, qo, to = ours()
            t_o = min(t_o, time.perf_counter() - t0)
            t0 = time.perf_counter()
            xa, qa, ta = anchor(Path(tmp) / "rtklib.pos")
            t_a = min(t_a, time.perf_counter() - t0)
    _stats("ours", xo, qo, t_o)
    # The same statistics on the epochs RTKLIB outputs (it stops at 00:57:00).
    common = np.array([np.argmin(np.abs(to - t)) for t in ta])
    _stats("ours@115", xo[common], qo[common], t_o * len(common) / len(qo))
    _stats("RTKLIB", xa, qa, t_a)
    rate_o, rate_a = len(qo) / t_o, len(qa) / t_a
    print(f"epochs/s ratio ours/RTKLIB: {rate_o / rate_a:.2f}  (time ratio {t_o / t_a:.1f}x)")


if __name__ == "__main__":
    main()
