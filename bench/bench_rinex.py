"""Claim: RINEX observation parsing is >= 50x faster than georinex; one day of 30 s
multi-GNSS RINEX (ESBC00DNK 2020-177, 3.05, Hatanaka + gzip) reads in <= 5 s.

Workload: ``tests/data/gnss/esbc_2020177`` (24 h, 30 s, GPS/GLONASS/Galileo/BeiDou/QZSS/
SBAS, 2880 epochs, 33 MB of plain RINEX after decompression).

- decompression: gzip (stdlib) and Hatanaka (``hatanaka`` package, GSI RNXCMP) timed
  separately; the plain file is written to a temporary directory.
- anchor: ``georinex.load`` (default options) on the first ``--hours`` hours of the plain
  file (georinex needs ~300 s for the whole day on this machine class, so the full day
  is not run by default; ``--hours 24`` does it). Ours reads the *same* cut file; the
  ratio is anchor / ours on identical input. georinex's time per epoch grows with the
  dataset (it merges one epoch at a time), so a 2-hour ratio understates the full-day
  ratio.
- ours: :func:`kongtian.nav.read_obs` on the cut file, on the full plain day, and on the
  full ``.crx.gz`` (decompression included) -- best of ``--repeat``.
- second anchor (not a goal, for scale): RTKLIB's C reader ``readrnx`` through
  ``pyrtklib`` on the full plain day (it keeps at most 3 signals per satellite, we keep
  all 51 codes plus LLI/SSI).
- navigation: :func:`kongtian.nav.read_nav` vs ``georinex.load`` on the ESBC mixed 3.05
  navigation file (``--no-nav-anchor`` skips georinex, ~35 s) and on the GEONET 2.10 file.

Timings on a shared 2-core machine vary with load; anchor and ours come from the same run
so the ratio is the figure to quote.

Run: ``.venv/bin/python bench/bench_rinex.py [--hours 2] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kongtian.nav import read_nav, read_obs

ROOT = Path(__file__).resolve().parents[1]
GNSS = ROOT / "tests" / "data" / "gnss"
CRX_GZ = GNSS / "esbc_2020177" / "ESBC00DNK_R_20201770000_01D_30S_MO.crx.gz"
NAV_ESBC = GNSS / "esbc_2020177" / "ESBC00DNK_R_20201770000_01D_MN.rnx.gz"
NAV_GEONET = GNSS / "rtklib_geonet_2005092" / "30400920.05n"


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def cut_hours(plain: bytes, hours: float) -> bytes:
    """Header + the epochs of the first ``hours`` hours (30 s sampling: 120 epochs/h)."""
    n_epochs = int(round(hours * 120))
    pos = 0
    count = 0
    while True:
        pos = plain.find(b"\n>", pos)
        if pos < 0:
            return plain
        count += 1
        if count > n_epochs:
            return plain[: pos + 1]
        pos += 1


def georinex_load(path: Path, **kw: Any) -> Any:
    import georinex

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return georinex.load(path, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=2.0, help="hours georinex reads")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-nav-anchor", action="store_true", help="skip georinex on nav")
    args = ap.parse_args()

    import hatanaka

    raw = CRX_GZ.read_bytes()
    t0 = time.perf_counter()
    crx = gzip.decompress(raw)
    t_gz = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = bytes(hatanaka.decompress(crx))
    t_hat = time.perf_counter() - t0
    print(f"input: {CRX_GZ.name}: {len(raw) / 1e6:.1f} MB .crx.gz -> {len(crx) / 1e6:.1f} MB "
          f".crx -> {len(plain) / 1e6:.1f} MB RINEX")  # fmt: skip
    print(f"decompression: gzip {t_gz:.3f} s, Hatanaka {t_hat:.3f} s")

    with tempfile.TemporaryDirectory(prefix="kt-bench-rinex-") as tmp:
        day = Path(tmp) / "ESBC_day.rnx"
        day.write_bytes(plain)
        cut = Path(tmp) / f"ESBC_{args.hours:g}h.rnx"
        cut.write_bytes(cut_hours(plain, args.hours))

        t_cut, obs_cut = best(lambda: read_obs(cut), args.repeat)
        n_ep = obs_cut.data.sizes["time"]
        t_day, obs_day = best(lambda: read_obs(day), args.repeat)
        t_crx, _ = best(lambda: read_obs(CRX_GZ), args.repeat)
        n_vals = sum(
            int(obs_day.data[v].notnull().sum())
            for v in obs_day.data.data_vars
            if not v.endswith(("_lli", "_ssi"))
        )
        print(f"ours, {args.hours:g} h plain ({n_ep} epochs): {t_cut:.3f} s")
        print(f"ours, full day plain ({obs_day.data.sizes['time']} epochs, "
              f"{obs_day.data.sizes['sv']} satellites, {n_vals:,} values): {t_day:.3f} s")  # fmt: skip
        print(f"ours, full day .crx.gz incl. decompression: {t_crx:.3f} s (goal <= 5 s)")

        t0 = time.perf_counter()
        ref = georinex_load(cut)
        t_anchor = time.perf_counter() - t0
        print(
            f"anchor georinex {args.hours:g} h plain ({ref.sizes['time']} epochs): {t_anchor:.1f} s"
        )
        print(
            f"ratio (anchor / ours, same {args.hours:g} h file): {t_anchor / t_cut:.0f}x (goal >= 50x)"
        )
        print(f"anchor extrapolated linearly to 24 h: {t_anchor * 24 / args.hours:.0f} s "
              f"(a lower bound: georinex slows down as its dataset grows) -> "
              f"ratio vs ours full day plain >= {t_anchor * 24 / args.hours / t_day:.0f}x")  # fmt: skip

        try:
            import pyrtklib as rtk
        except ImportError:
            rtk = None
        if rtk is not None:

            def rtk_read() -> int:
                obs, nav, sta = rtk.obs_t(), rtk.nav_t(), rtk.sta_t()
                rtk.readrnx(str(day), 1, "", obs, nav, sta)
                return int(obs.n)

            t_rtk, n_rtk = best(rtk_read, args.repeat)
            print(f"RTKLIB readrnx (C), full day plain ({n_rtk} sat-epochs, <= 3 signals): "
                  f"{t_rtk:.3f} s -> ours / RTKLIB = {t_day / t_rtk:.2f}")  # fmt: skip

    for name, path in (("GEONET 2.10", NAV_GEONET), ("ESBC 3.05 mixed", NAV_ESBC)):
        t_ours, nav = best(lambda p=path: read_nav(p), args.repeat)
        n_rec = sum(len(df) for df in nav.records.values())
        line = f"nav {name} ({n_rec} records): ours {t_ours * 1e3:.1f} ms"
        if not (args.no_nav_anchor and path == NAV_ESBC):
            t0 = time.perf_counter()
            georinex_load(path)
            t_a = time.perf_counter() - t0
            line += f", anchor georinex {t_a:.2f} s, ratio {t_a / t_ours:.0f}x"
        print(line)


if __name__ == "__main__":
    main()
