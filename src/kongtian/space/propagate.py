"""Batched SGP4: N satellites x T times, in TEME or ITRF, chunked and on several cores.

Two engines give the same numbers (checked against Vallado's verification set):

- ``"sgp4"``: ``sgp4.api.SatrecArray`` (Vallado's C++), one process per core because
  the extension holds the GIL;
- ``"numba"``: our vectorised kernel (:mod:`kongtian.space.sgp4_kernel`), multi-threaded,
  for near-Earth element sets; deep-space ones (period >= 225 min) go to ``"sgp4"``.

``"auto"`` picks ``"numba"`` when it is importable. A satellite that fails at some
time (SGP4 error codes 1-6, e.g. 6 = decayed) gets NaN there and its code in
``error``; the batch always completes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sgp4.api import SGP4_ERRORS, SatrecArray

from kongtian.errors import ConfigError
from kongtian.geo.frames import ecef_to_geodetic, teme_to_itrf
from kongtian.geo.time import as_utc, jd_split_utc
from kongtian.space.catalog import Catalog

FloatArray = npt.NDArray[np.float64]

#: SGP4 error codes (0 = ok), as python-sgp4 documents them.
ERROR_MESSAGES: dict[int, str] = {0: "ok", **{int(k): v for k, v in SGP4_ERRORS.items()}}

_DEFAULT_BLOCK_ELEMENTS = 4_000_000  # satellite-times per chunk: ~200 MB of r, v, e


@dataclass
class Ephemeris:
    """Positions and velocities of N satellites at T times.

    ``r_m`` and ``v_m_s`` have shape (N, T, 3) in ``frame`` ("teme" or "itrf"), metres
    and m/s; ``error`` (N, T) holds SGP4 codes (0 = ok; NaN positions elsewhere).
    """

    norad_id: npt.NDArray[np.int64]
    time_utc: npt.NDArray[np.datetime64]
    r_m: FloatArray
    v_m_s: FloatArray
    error: npt.NDArray[np.uint8]
    frame: str

    @property
    def failed(self) -> npt.NDArray[np.bool_]:
        """(N,) True for satellites with an error at any time."""
        return np.asarray(np.any(self.error != 0, axis=1))

    def geodetic(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(lat_rad, lon_rad, alt_m) on WGS84; requires ``frame == "itrf"``."""
        if self.frame != "itrf":
            raise ConfigError("geodetic coordinates need frame='itrf'", option="frame")
        return ecef_to_geodetic(self.r_m)

    def to_dataset(self) -> Any:
        """As an ``xarray.Dataset`` with dims (satellite, time, xyz)."""
        import xarray as xr

        return xr.Dataset(
            {
                "r": (("satellite", "time", "xyz"), self.r_m, {"units": "m", "frame": self.frame}),
                "v": (
                    ("satellite", "time", "xyz"),
                    self.v_m_s,
                    {"units": "m s-1", "frame": self.frame},
                ),
                "error": (
                    ("satellite", "time"),
                    self.error,
                    {"flag_meanings": str(ERROR_MESSAGES)},
                ),
            },
            coords={"satellite": self.norad_id, "time": self.time_utc, "xyz": ["x", "y", "z"]},
            attrs={"frame": self.frame, "propagator": "SGP4 (WGS72)", "time_scale": "UTC"},
        )


def _engine_for(engine: str) -> Callable[[list[Any]], Any]:
    """A factory ``satrecs -> object with .sgp4(jd, fr) -> (e, r_km, v_km_s)``."""
    if engine == "sgp4":
        return SatrecArray
    if engine in ("numba", "auto"):
        try:
            from kongtian.space.sgp4_kernel import FastSatArray
        except ImportError:
            if engine == "numba":
                raise
            return SatrecArray
        return FastSatArray  # type: ignore[no-any-return]
    raise ConfigError(f"unknown engine {engine!r} (auto, numba, sgp4)", option="engine")


def propagate(
    catalog: Catalog,
    times_utc: Any,
    *,
    frame: str = "teme",
    engine: str = "auto",
    workers: int | None = None,
    block_elements: int = _DEFAULT_BLOCK_ELEMENTS,
    progress: Callable[[int, int], None] | None = None,
    client: Any = None,
) -> Ephemeris:
    """Propagate every satellite of ``catalog`` to every time in ``times_utc``.

    ``frame`` is "teme" (SGP4's output) or "itrf" (GMST82 + shipped UT1-UTC, no polar
    motion; see :mod:`kongtian.geo.frames`). Work is split into satellite chunks of
    about ``block_elements`` satellite-times; ``workers`` processes (default: all
    cores) for the ``sgp4`` engine, threads for ``numba``. With a Dask ``client`` the
    satellite chunks run on the cluster instead. ``progress(done, total)`` is called
    after each chunk.
    """
    frame = frame.lower()
    if frame not in ("teme", "itrf"):
        raise ConfigError(f"unknown frame {frame!r} (teme, itrf)", option="frame")
    t = np.atleast_1d(as_utc(times_utc))
    n, nt = len(catalog), t.size
    r = np.empty((n, nt, 3))
    v = np.empty((n, nt, 3))
    e = np.empty((n, nt), dtype=np.uint8)
    if n == 0 or nt == 0:
        return Ephemeris(catalog.norad_id, t, r, v, e, frame)
    chunks = list(satellite_chunks(n, nt, block_elements))
    if client is not None:
        from kongtian.space.distributed import propagate_chunks_dask

        results = propagate_chunks_dask(client, catalog, t, chunks, frame, engine)
        for (a, b), (ee, rr, vv) in zip(chunks, results, strict=True):
            r[a:b], v[a:b], e[a:b] = rr, vv, ee
            if progress:
                progress(b, n)
        return Ephemeris(catalog.norad_id, t, r, v, e, frame)
    jd, fr = jd_split_utc(t)
    nworkers = workers or os.cpu_count() or 1
    if _engine_for(engine) is SatrecArray and nworkers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(nworkers) as pool:
            futs = [
                pool.submit(_run_chunk, catalog[a:b], jd, fr, t, frame, "sgp4") for a, b in chunks
            ]
            for (a, b), fut in zip(chunks, futs, strict=True):
                e[a:b], r[a:b], v[a:b] = fut.result()
                if progress:
                    progress(b, n)
    else:
        for a, b in chunks:
            e[a:b], r[a:b], v[a:b] = _run_chunk(catalog[a:b], jd, fr, t, frame, engine)
            if progress:
                progress(b, n)
    return Ephemeris(catalog.norad_id, t, r, v, e, frame)


def satellite_chunks(n: int, nt: int, block_elements: int) -> Iterator[tuple[int, int]]:
    """Split ``range(n)`` so each chunk holds about ``block_elements`` satellite-times."""
    size = max(1, min(n, block_elements // max(nt, 1)))
    for a in range(0, n, size):
        yield a, min(n, a + size)


def _run_chunk(
    cat: Catalog, jd: FloatArray, fr: FloatArray, t: Any, frame: str, engine: str
) -> tuple[npt.NDArray[np.uint8], FloatArray, FloatArray]:
    arr = _engine_for(engine)(cat.satrecs)
    e, r, v = arr.sgp4(jd, fr)
    # The engines return fresh arrays: scale km -> m in place rather than copy.
    r = np.asarray(r, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    r *= 1e3
    v *= 1e3
    if frame == "itrf":
        r, v = teme_to_itrf(r, v, t)
    return np.asarray(e, dtype=np.uint8), r, v  # type: ignore[return-value]


def propagate_zipped(
    catalog: Catalog, sat_index: Any, times_utc: Any, *, frame: str = "teme", engine: str = "auto"
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.uint8]]:
    """Satellite ``sat_index[k]`` at time ``times_utc[k]`` for each k (pass refinement, ...).

    Returns ``r_m (K, 3)``, ``v_m_s (K, 3)``, ``error (K,)``.
    """
    idx = np.asarray(sat_index, dtype=np.int64)
    t = np.atleast_1d(as_utc(times_utc))
    if idx.shape != t.shape:
        raise ConfigError("sat_index and times_utc must have the same length", option="times_utc")
    jd, fr = jd_split_utc(t)
    kernel: Any = None
    if engine != "sgp4":
        try:
            from kongtian.space.sgp4_kernel import propagate_zipped_kernel as kernel
        except ImportError:
            kernel = None
    if kernel is not None:
        e, r, v = kernel(catalog.satrecs, idx, jd, fr)
    else:
        r = np.empty((idx.size, 3))
        v = np.empty((idx.size, 3))
        e = np.empty(idx.size, dtype=np.uint8)
        order = np.argsort(idx, kind="stable")
        bounds = np.flatnonzero(np.diff(idx[order])) + 1
        for grp in np.split(order, bounds):
            if grp.size == 0:
                continue
            ee, rr, vv = catalog.satrecs[int(idx[grp[0]])].sgp4_array(jd[grp], fr[grp])
            e[grp], r[grp], v[grp] = ee, rr, vv
    r = np.asarray(r) * 1e3
    v = np.asarray(v) * 1e3
    if frame == "itrf":
        r, v_itrf = teme_to_itrf(r, v, t, time_axis=0)
        assert v_itrf is not None
        v = v_itrf
    return r, v, np.asarray(e, dtype=np.uint8)
