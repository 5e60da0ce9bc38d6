"""Regenerate ``src/kongtian/geo/data/eop.npz`` from an IERS ``finals2000A.all`` file.

Usage: python tools/make_eop_table.py [PATH_TO_finals2000A.all]

Default input is the copy shipped by the PyPI package ``astropy-iers-data``
(IERS Rapid Service / Prediction Center, Bulletin A columns). Only the columns
we use are kept: MJD (UTC), UT1-UTC [s], polar motion x, y [arcsec] and the
flag saying whether the row is observed (I) or predicted (P).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main() -> None:
    if len(sys.argv) > 1:
        src = Path(sys.argv[1])
        vintage = src.name
    else:
        import astropy_iers_data
        from importlib.metadata import version

        src = Path(astropy_iers_data.__file__).parent / "data" / "finals2000A.all"
        vintage = f"astropy-iers-data {version('astropy-iers-data')}"
    mjd, dut1, xp, yp, pred = [], [], [], [], []
    for raw in src.read_text().splitlines():
        if len(raw) < 68 or not raw[58:68].strip():
            continue
        mjd.append(float(raw[7:15]))
        dut1.append(float(raw[58:68]))
        xp.append(float(raw[18:27]) if raw[18:27].strip() else 0.0)
        yp.append(float(raw[37:46]) if raw[37:46].strip() else 0.0)
        pred.append(raw[57] == "P")
    out = Path(__file__).resolve().parents[1] / "src/kongtian/geo/data/eop.npz"
    last_obs = max(m for m, p in zip(mjd, pred, strict=True) if not p)
    np.savez_compressed(
        out,
        mjd_utc=np.array(mjd),
        ut1_minus_utc_s=np.array(dut1),
        xp_arcsec=np.array(xp),
        yp_arcsec=np.array(yp),
        predicted=np.array(pred),
        vintage=np.array(f"{vintage}; last observed MJD {last_obs:.0f}"),
    )
    print(f"wrote {out} with {len(mjd)} rows, MJD {mjd[0]:.0f}..{mjd[-1]:.0f}, {vintage}")


if __name__ == "__main__":
    main()
