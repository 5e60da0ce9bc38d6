"""ADS-B reader throughput: our CSV reader / decode_messages vs raw rs1090 and pyModeS.

Claim: our decoder (rs1090 field decoding + our CPR pairing, speed gate and Arrow report
table) keeps ingest above 50k msg/s per core (the target in the traffic notes) and costs
a small factor over rs1090's raw batch decode, which produces Python dicts only.

Frames: pyModeS's recorded sample (2,000 DF17 frames) repeated ``--copies`` times
(default 100, i.e. 200k frames), each copy shifted by one hour so CPR state stays sane.
Anchors, measured in the same run on the same frames:
- rs1090 ``decode(list, timestamps)``: its batch decode with its own CPR (dicts out);
- pyModeS ``PipeDecoder.decode`` streaming with CPR pairing (the oracle in our tests).

Run: ``.venv/bin/python bench/bench_adsb.py [--copies N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import rs1090

from kongtian.traffic.decode.adsb import decode_messages, read_modes_csv

CSV = (
    Path(__file__).parents[1]
    / "tests"
    / "data"
    / "traffic"
    / "adsb"
    / "pymodes_sample_data_adsb.csv"
)


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    lines = CSV.read_text().splitlines()
    base_ts = [int(x.split(",")[0]) for x in lines]
    base_msg = [x.split(",")[1].strip('"') for x in lines]
    text_lines, msgs, ts = [], [], []
    for k in range(args.copies):
        for t, m, line in zip(base_ts, base_msg, lines, strict=True):
            tt = t + 3600 * k
            ts.append(float(tt))
            msgs.append(m)
            text_lines.append(f"{tt}," + line.split(",", 1)[1])
    text = "\n".join(text_lines) + "\n"
    n = len(msgs)
    times_ns = (np.asarray(ts) * 1e9).astype(np.int64)

    tab, _ = read_modes_csv(text)
    npos = int(np.isfinite(tab.column("lat_deg").to_numpy(zero_copy_only=False)).sum())
    t_csv = best_of(lambda: read_modes_csv(text), args.repeat)
    t_dec = best_of(lambda: decode_messages(msgs, times_ns), args.repeat)
    rs = rs1090.decode(msgs, ts)
    rs_pos = sum(1 for m in rs if "latitude" in m)
    t_rs = best_of(lambda: rs1090.decode(msgs, ts), args.repeat)

    import pyModeS  # GPL-3.0: benchmark anchor only, never imported by the package

    def pymodes_stream() -> int:
        pipe = pyModeS.PipeDecoder()
        k = 0
        for m, t in zip(msgs, ts, strict=True):
            if pipe.decode(m, timestamp=t).get("latitude") is not None:
                k += 1
        return k

    pm_pos = pymodes_stream()
    t_pm = best_of(pymodes_stream, 1)

    print(
        f"frames: {n} ({args.copies} x pyModeS sample); positions ours {npos}, rs1090 {rs_pos}, pyModeS {pm_pos}"
    )
    print(
        f"ours   : {n / t_csv:10.0f} msg/s  read_modes_csv (CSV text -> Arrow reports, CPR, gate)"
    )
    print(f"ours   : {n / t_dec:10.0f} msg/s  decode_messages (hex list -> Arrow reports)")
    print(f"anchor : {n / t_rs:10.0f} msg/s  rs1090.decode(list, timestamps) raw batch, dicts out")
    print(f"anchor : {n / t_pm:10.0f} msg/s  pyModeS PipeDecoder streaming with CPR")
    print(f"ratio  : {t_rs / t_csv:10.2f} x  ours(csv) / rs1090 raw   (<1: rs1090 raw is faster)")
    print(f"ratio  : {t_pm / t_csv:10.2f} x  ours(csv) / pyModeS stream")
    print(f"ratio  : {t_pm / t_dec:10.2f} x  ours(decode_messages) / pyModeS stream")


if __name__ == "__main__":
    main()
