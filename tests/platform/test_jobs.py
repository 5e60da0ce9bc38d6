"""Background jobs: the runner (state, progress, failures, restart) and the space jobs
through the API (catalog upload, propagate, passes, coverage, result download)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kongtian.errors import ConfigError, NotFound
from kongtian.platform.jobs import JobRunner
from kongtian.platform.store import open_store
from tests.platform._api_helpers import Api, api

DATA = Path(__file__).resolve().parents[1] / "data"
QIANFAN = DATA / "qianfan_tle_2026-02-20_celestrak_via_tannerkoza.tle"


def wait_job(get: Any, job_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = get(job_id)
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished after {timeout_s} s: {get(job_id)}")


# ------------------------------------------------------------------ runner
def test_runner_persists_state_progress_and_files(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    with open_store("duckdb://:memory:") as store:
        runner = JobRunner(store, tmp_path, progress_interval_s=0.0)
        runner.start()

        def fn(params: dict[str, Any], out: Path, progress: Any) -> dict[str, Any]:
            for i in range(1, 5):
                progress(i / 4 * 0.5)
                job = store.get_job(job_id_box[0])
                seen.append((job["state"], job["progress"]))
            (out / "a.txt").write_text(str(params["n"] * 2))
            return {"n": params["n"]}

        job_id_box: list[str] = []
        # hold the single worker until the job id is known to the function
        gate = threading.Event()
        runner.submit("block", {}, lambda p, o, pr: (gate.wait(30), {})[1])
        job = runner.submit("double", {"n": 21}, fn, owner="fleet")
        job_id_box.append(job["id"])
        assert job["state"] == "queued" and job["progress"] == 0.0
        assert store.get_job(job["id"])["state"] == "queued"
        gate.set()
        done = wait_job(store.get_job, job["id"])
        runner.shutdown(wait=True)
    assert seen == [("running", 0.125), ("running", 0.25), ("running", 0.375), ("running", 0.5)]
    assert done["state"] == "done" and done["progress"] == 1.0 and done["error"] is None
    assert done["files"] == ["a.txt"] and done["summary"] == {"n": 21}
    assert done["owner"] == "fleet" and done["params"] == {"n": 21}
    assert done["started_utc"] <= done["finished_utc"]
    assert (tmp_path / done["id"] / "a.txt").read_text() == "42"


def test_runner_records_failures(tmp_path: Path) -> None:
    with open_store("duckdb://:memory:") as store:
        runner = JobRunner(store, tmp_path)
        runner.start()

        def bad_option(p: Any, o: Path, pr: Any) -> dict[str, Any]:
            raise ConfigError("must be > 0", option="hours")

        def bug(p: Any, o: Path, pr: Any) -> dict[str, Any]:
            return {"x": 1 / 0}

        j1 = wait_job(store.get_job, runner.submit("k", {}, bad_option)["id"])
        j2 = wait_job(store.get_job, runner.submit("k", {}, bug)["id"])
        runner.shutdown(wait=True)
    assert j1["state"] == "failed" and j1["error"] == "hours: must be > 0"
    assert j2["state"] == "failed" and "ZeroDivisionError" in j2["error"]


def test_runner_fails_jobs_left_by_a_previous_process(tmp_path: Path) -> None:
    with open_store(f"duckdb://{tmp_path / 's.db'}") as store:
        store.put_job({"id": "job_old", "kind": "coverage", "state": "running", "progress": 0.3})
        store.put_job({"id": "job_ok", "kind": "coverage", "state": "done", "progress": 1.0})
        JobRunner(store, tmp_path).start()
        old, ok = store.get_job("job_old"), store.get_job("job_ok")
    assert old["state"] == "failed" and "interrupted" in old["error"]
    assert ok["state"] == "done"


def test_result_path_only_serves_listed_files(tmp_path: Path) -> None:
    with open_store("duckdb://:memory:") as store:
        store.put_job({"id": "job_x", "state": "done", "files": ["r.csv"]})
        (tmp_path / "job_x").mkdir()
        (tmp_path / "job_x" / "r.csv").write_text("a\n")
        (tmp_path / "secret.txt").write_text("no")
        runner = JobRunner(store, tmp_path)
        assert runner.result_path("job_x", "r.csv").read_text() == "a\n"
        for name in ("../secret.txt", "other.csv"):
            with pytest.raises(NotFound):
                runner.result_path("job_x", name)


# ------------------------------------------------------------------ space API
@pytest.fixture
def a(tmp_path: Path):
    with api(tmp_path, job_max_elements=2_000_000) as x:
        yield x


def _job(a: Api, job_id: str, role: str = "operator") -> dict[str, Any]:
    return wait_job(lambda j: a.get(f"/v1/jobs/{j}", role).json(), job_id)


def test_catalog_upload_and_list(a: Api) -> None:
    text = QIANFAN.read_text()
    r = a.post("/v1/space/catalogs", "regulator", json={"name": "qf", "text": text})
    assert r.status_code == 201
    assert r.json()["satellites"] == 108 and r.json()["fmt"] == "tle"
    cats = {
        c["name"]: c["origin"] for c in a.get("/v1/space/catalogs", "public").json()["catalogs"]
    }
    assert cats == {"qf": "uploaded", "qianfan": "shipped", "starlink": "shipped",
                    "oneweb": "shipped"}  # fmt: skip
    omm = (DATA / "starlink_omm_2024-05-20_starperf_first500.json").read_text()
    r = a.post("/v1/space/catalogs", "admin", json={"name": "sl-omm", "text": omm})
    assert r.status_code == 201 and r.json()["fmt"] == "omm-json" and r.json()["satellites"] == 500
    assert a.post(
        "/v1/space/catalogs", "operator", json={"name": "x", "text": text}
    ).status_code == (403)
    assert a.post(
        "/v1/space/catalogs", "admin", json={"name": "qianfan", "text": text}
    ).status_code == (422)


def test_bad_catalog_is_422_naming_the_line(a: Api) -> None:
    lines = QIANFAN.read_text().splitlines()
    lines[4] = lines[4][:20] + "X" + lines[4][21:]  # corrupt line 5 (a TLE line 2)
    r = a.post("/v1/space/catalogs", "regulator", json={"name": "bad", "text": "\n".join(lines)})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("bad:5:")


def test_propagate_job_writes_netcdf_and_reports_progress(a: Api) -> None:
    import xarray as xr

    body = {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 1, "step_s": 60,
            "norad_ids": None, "czml": True}  # fmt: skip
    r = a.post("/v1/space/jobs/propagate", "operator", json=body)
    assert r.status_code == 202
    job = r.json()
    assert job["state"] in ("queued", "running") and job["kind"] == "propagate"
    done = _job(a, job["id"])
    assert done["state"] == "done", done["error"]
    assert done["progress"] == 1.0
    assert done["files"] == ["ephemeris.czml", "ephemeris.nc"]
    assert done["summary"]["satellites"] == 108 and done["summary"]["times"] == 61
    r = a.get(f"/v1/jobs/{job['id']}/result/ephemeris.nc", "operator")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-netcdf"
    path = a.settings.jobs_dir / job["id"] / "ephemeris.nc"
    assert r.content == path.read_bytes()
    with xr.open_dataset(path) as ds:
        assert ds.sizes == {"satellite": 108, "time": 61, "xyz": 3}
        # LEO radii: every position between 6,700 and 8,000 km from the geocentre
        radius_km = np.linalg.norm(ds["r"].values, axis=-1) / 1e3
        assert ((radius_km > 6700) & (radius_km < 8000)).all()
    assert a.get(f"/v1/jobs/{job['id']}/result/nope.nc", "operator").status_code == 404
    # jobs belong to their owner: the public role has no access, regulators see all
    assert a.get(f"/v1/jobs/{job['id']}", "public").status_code == 403
    assert a.get(f"/v1/jobs/{job['id']}", "regulator").status_code == 200
    assert [j["id"] for j in a.get("/v1/jobs", "operator").json()["jobs"]] == [job["id"]]


def test_passes_job(a: Api) -> None:
    body = {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 2,
            "sites": [{"lat_deg": 29.56, "lon_deg": 106.55, "alt_m": 300}], "min_elev_deg": 10}  # fmt: skip
    job = a.post("/v1/space/jobs/passes", "operator", json=body).json()
    done = _job(a, job["id"])
    assert done["state"] == "done", done["error"]
    assert done["files"] == ["passes.csv", "passes.json"]
    csv = a.get(f"/v1/jobs/{job['id']}/result/passes.csv", "operator").text
    n = len(csv.strip().splitlines()) - 1
    assert n == done["summary"]["passes"] > 0  # 108 satellites in 2 h: some pass over Chongqing


def test_coverage_job_with_png(a: Api) -> None:
    body = {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 0.5,
            "region": "chongqing", "grid_deg": 0.5, "step_s": 120, "min_elev_deg": 25}  # fmt: skip
    job = a.post("/v1/space/jobs/coverage", "operator", json=body).json()
    done = _job(a, job["id"])
    assert done["state"] == "done", done["error"]
    assert done["files"] == ["coverage.nc", "coverage.png"]
    png = a.get(f"/v1/jobs/{job['id']}/result/coverage.png", "operator")
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    from kongtian.space import coverage as cov

    ds = cov.load(a.settings.jobs_dir / job["id"] / "coverage.nc")
    assert cov.summary(ds) == {k: v for k, v in done["summary"].items() if k != "files"}


@pytest.mark.parametrize(
    ("path", "body", "status", "named"),
    [
        ("propagate", {"catalog": "nope", "start_utc": "2026-02-20T00:00:00Z", "hours": 1}, 404, "nope"),
        ("propagate", {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 1,
                       "norad_ids": [1]}, 404, "NORAD"),
        ("coverage", {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 1,
                      "region": "atlantis"}, 422, "atlantis"),
        ("propagate", {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00", "hours": 1}, 422,
         "start_utc"),
    ],
)  # fmt: skip
def test_bad_job_requests_are_refused_at_once(
    a: Api, path: str, body: dict[str, Any], status: int, named: str
) -> None:
    r = a.post(f"/v1/space/jobs/{path}", "operator", json=body)
    assert r.status_code == status
    assert named in str(r.json()["detail"])
    assert a.get("/v1/jobs", "admin").json()["count"] == 0


def test_oversized_job_is_refused_with_the_limit(a: Api) -> None:
    body = {"catalog": "starlink", "start_utc": "2025-01-23T00:00:00Z", "hours": 24, "step_s": 10}
    r = a.post("/v1/space/jobs/propagate", "operator", json=body)
    assert r.status_code == 422 and "exceeds this server's limit" in r.json()["detail"]
    body = {"catalog": "qianfan", "start_utc": "2026-02-20T00:00:00Z", "hours": 24,
            "region": "chongqing", "grid_deg": 0.01, "step_s": 10}  # fmt: skip
    r = a.post("/v1/space/jobs/coverage", "operator", json=body)
    assert r.status_code == 422 and "points" in r.json()["detail"]
    assert a.get("/v1/jobs", "operator").json()["count"] == 0
