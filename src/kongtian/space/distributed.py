"""Scale-out on a Dask cluster: propagation and coverage split by satellite parts.

Both are embarrassingly parallel over satellites: SGP4 treats each element set on its
own, and visible counts add up over satellites. A part of the :class:`Catalog`
(picklable; its ``Satrec`` objects are rebuilt bit for bit on the worker) is sent with
each task, the worker runs the same code as a local run, and the client sums or
stitches the results, so the outcome is identical to the local computation.

Any ``distributed.Client`` works (``LocalCluster`` for one machine, a scheduler address
for several). The workers need ``kongtian`` importable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kongtian.space.catalog import Catalog


def _propagate_part(cat: Catalog, t: Any, frame: str, engine: str) -> tuple[Any, Any, Any]:
    import numba as nb

    from kongtian.space.propagate import propagate

    nb.set_num_threads(1)  # one task per worker thread; Dask owns the parallelism
    eph = propagate(cat, t, frame=frame, engine=engine, workers=1)
    return eph.error, eph.r_m, eph.v_m_s


def propagate_chunks_dask(
    client: Any,
    catalog: Catalog,
    t: npt.NDArray[np.datetime64],
    chunks: list[tuple[int, int]],
    frame: str,
    engine: str,
) -> list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Propagate ``catalog[a:b]`` for each ``(a, b)`` in ``chunks`` on the cluster.

    Returns, per chunk and in order, ``(error (n, T) uint8, r_m (n, T, 3), v_m_s (n, T, 3))``
    in ``frame``, as :func:`kongtian.space.propagate.propagate` would compute locally.
    """
    t_fut = client.scatter(np.asarray(t), broadcast=True)
    futs = [
        client.submit(_propagate_part, catalog[a:b], t_fut, frame, engine, pure=False)
        for a, b in chunks
    ]
    out = []
    for (a, b), res in zip(chunks, client.gather(futs), strict=True):
        e, r, v = res
        if r.shape[0] != b - a:
            raise RuntimeError(f"worker returned {r.shape[0]} satellites for chunk {a}:{b}")
        out.append((np.asarray(e, dtype=np.uint8), np.asarray(r), np.asarray(v)))
    return out


def _count_part(args: tuple[Any, ...]) -> tuple[Any, Any]:
    from kongtian.space.coverage import _count_serial

    cat, times, lat, lon, alt, min_elev_deg, horizon, screen, engine = args
    return _count_serial(cat, times, lat, lon, alt, min_elev_deg, horizon, screen, engine, 1)


def default_parts(client: Any, n: int) -> int:
    """Two parts per worker thread (for balance), at most one per satellite."""
    try:
        threads = int(sum(client.nthreads().values()))
    except Exception:  # a client without nthreads(): one part per satellite block
        threads = 1
    return max(1, min(n, 2 * max(threads, 1)))


def visible_counts_dask(
    client: Any,
    catalog: Catalog,
    times_utc: npt.NDArray[np.datetime64],
    lat_deg: Any,
    lon_deg: Any,
    alt_m: Any = 0.0,
    *,
    min_elev_deg: float,
    horizon: Any = None,
    screen_step_s: float | str | None = "auto",
    engine: str = "auto",
    n_parts: int | None = None,
) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.int64]]:
    """:func:`kongtian.space.coverage.visible_counts` on a Dask cluster.

    The catalog is split into ``n_parts`` interleaved satellite parts (default: two per
    worker thread); each worker returns ``(T, P)`` counts for its part, which are summed
    here. Also returns the catalog indices of satellites with SGP4 errors.
    """
    from kongtian.space.coverage import _narrow, satellite_parts

    n = len(catalog)
    t = np.asarray(times_utc)
    lat = np.atleast_1d(np.asarray(lat_deg, float))
    if n == 0:
        return np.zeros((t.size, lat.size), dtype=np.int16), np.zeros(0, dtype=np.int64)
    parts = satellite_parts(n, n_parts or default_parts(client, n))
    futs = [
        client.submit(
            _count_part,
            (
                catalog[ix],
                t,
                lat,
                np.asarray(lon_deg, float),
                alt_m,
                min_elev_deg,
                horizon,
                screen_step_s,
                engine,
            ),
            pure=False,
        )  # fmt: skip
        for ix in parts
    ]
    total: npt.NDArray[Any] | None = None
    bad: list[npt.NDArray[np.int64]] = []
    for ix, (counts, failed) in zip(parts, client.gather(futs), strict=True):
        total = counts.astype(np.int32) if total is None else total + counts
        bad.append(ix[np.asarray(failed, dtype=np.int64)])
    assert total is not None
    return _narrow(total), np.unique(np.concatenate(bad)).astype(np.int64)
