"""Scale-out: a 2-worker Dask LocalCluster gives exactly the local results."""

from __future__ import annotations

import numpy as np
import pytest

from kongtian.geo.time import time_grid
from kongtian.space.catalog import load_catalog
from kongtian.space.coverage import coverage, visible_counts
from kongtian.space.propagate import propagate

from ..conftest import DATA

START = "2025-01-23T00:00:00Z"


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)  # fmt: skip
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


@pytest.fixture(scope="module")
def catalog():
    # Propagated back 18 days, some element sets fail (decay): errors must travel too.
    return load_catalog(DATA / "starlink_tle_2025-01-23_celestrak_via_pioet.txt")[::7]


@pytest.mark.slow
def test_coverage_counts_identical_to_local(client, catalog):
    rng = np.random.default_rng(5)
    lat, lon = rng.uniform(28.2, 32.2, 40), rng.uniform(105.3, 110.2, 40)
    kw = {"start_utc": START, "duration_s": 4 * 3600, "step_s": 30, "min_elev_deg": 25.0}
    local = coverage(catalog, lat, lon, **kw)
    remote = coverage(catalog, lat, lon, client=client, **kw)
    assert np.array_equal(local["visible_count"].values, remote["visible_count"].values)
    assert local["visible_count"].values.sum() > 1000
    for var in ("coverage_fraction", "max_gap_s", "revisit_s"):
        assert np.array_equal(local[var].values, remote[var].values, equal_nan=True)
    t = time_grid("2025-01-05T00:00:00Z", 1800, 60)
    c0, f0 = visible_counts(catalog, t, lat, lon, min_elev_deg=25.0)
    c1, f1 = visible_counts(catalog, t, lat, lon, min_elev_deg=25.0, client=client)
    assert np.array_equal(c0, c1) and np.array_equal(f0, f1) and f0.size > 0


@pytest.mark.slow
def test_propagation_identical_to_local(client, catalog):
    t = time_grid("2025-01-05T00:00:00Z", 3 * 3600, 60)
    for frame in ("teme", "itrf"):
        local = propagate(catalog, t, frame=frame)
        remote = propagate(catalog, t, frame=frame, client=client, block_elements=40_000)
        assert np.array_equal(local.r_m, remote.r_m, equal_nan=True)
        assert np.array_equal(local.v_m_s, remote.v_m_s, equal_nan=True)
        assert np.array_equal(local.error, remote.error)
    assert local.failed.any()  # decayed satellites included
