"""Claim: our AIS NMEA reader keeps up with pyais's own stream decoder.

Workload: pyais's real sample stream ``tests/data/traffic/ais/pyais_nmea_data_sample.txt``
(897 sentences: single- and multi-part, empty payloads, orphan fragments) replicated to
about 100k sentences. ``ours`` = :func:`kongtian.traffic.decode.ais.read_nmea` on the whole
text (parse, checksum, reassembly, decode, Arrow table); ``anchor`` = pyais ``IterMessages``
over the lines plus ``decode().asdict()`` per message (the notes' anchor ~126k/s on this
machine). Rates in sentences (input lines) per second, best of 3 runs.
"""

from __future__ import annotations

import time
from pathlib import Path

from pyais.stream import IterMessages

from kongtian.traffic.decode.ais import read_nmea

SAMPLE = Path(__file__).resolve().parents[1] / "tests/data/traffic/ais/pyais_nmea_data_sample.txt"


def main() -> None:
    base = SAMPLE.read_text().splitlines()
    lines = base * (100_000 // len(base) + 1)
    text = "\n".join(lines)
    raw = [ln.encode() for ln in lines]
    n = len(lines)

    def ours() -> int:
        table, _ = read_nmea(text, ref_time_utc="2024-01-01T00:00:00Z")
        return table.num_rows

    def anchor() -> int:
        k = 0
        for msg in IterMessages(raw):
            try:
                msg.decode().asdict()
                k += 1
            except Exception:
                pass
        return k

    def best(fn: object) -> tuple[float, int]:
        times = []
        out = 0
        for _ in range(3):
            t0 = time.perf_counter()
            out = fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return min(times), out

    t_ours, rows = best(ours)
    t_anchor, msgs = best(anchor)
    print(f"sentences: {n}  (our records: {rows}, pyais messages: {msgs})")
    print(f"ours   {n / t_ours:12,.0f} sentences/s  (read_nmea -> Arrow table)")
    print(f"anchor {n / t_anchor:12,.0f} sentences/s  (pyais IterMessages + decode().asdict())")
    print(f"ratio  {t_anchor / t_ours:12.2f}  (ours / anchor throughput)")


if __name__ == "__main__":
    main()
