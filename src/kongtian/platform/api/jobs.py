"""``/v1/jobs``: background job state, progress and result files.

A job is visible to the key owner that started it, and to regulators and admins.
Result files are served from ``<data_dir>/jobs/<id>/`` by name (only names the job
lists, so no path can escape that folder).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse

from kongtian.errors import NotFound
from kongtian.platform.api.common import errors, service_of
from kongtian.platform.api.models import Job, JobList
from kongtian.platform.auth import Principal, require

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
Reader = Annotated[Principal, Depends(require("space_jobs"))]

_MEDIA = {
    ".nc": "application/x-netcdf",
    ".csv": "text/csv",
    ".json": "application/json",
    ".png": "image/png",
    ".czml": "application/json",
    ".parquet": "application/vnd.apache.parquet",
}


def job_out(job: dict[str, Any]) -> Job:
    keep = set(Job.model_fields)
    return Job.model_validate({k: v for k, v in job.items() if k in keep})


def _visible(job: dict[str, Any], p: Principal) -> bool:
    return p.sees_all or job.get("owner") in (p.owner, p.key_id)


def _job_for(request: Request, p: Principal, job_id: str) -> dict[str, Any]:
    job = service_of(request).store.get_job(job_id)
    if not _visible(job, p):
        raise NotFound(f"no job {job_id!r}")
    return job


@router.get(
    "",
    operation_id="list_jobs",
    summary="Recent jobs, newest first",
    response_model=JobList,
    responses=errors(),
)
def list_jobs(
    request: Request, p: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> JobList:
    rows = service_of(request).store.list_jobs(limit=limit)
    jobs = [job_out(j) for j in rows if _visible(j, p)]
    return JobList(count=len(jobs), jobs=jobs)


@router.get(
    "/{job_id}",
    operation_id="get_job",
    summary="State (queued, running, done, failed), progress 0..1, error and result files",
    response_model=Job,
    responses=errors(404),
)
def get_job(request: Request, p: Reader, job_id: Annotated[str, Path(max_length=64)]) -> Job:
    return job_out(_job_for(request, p, job_id))


@router.get(
    "/{job_id}/result/{name}",
    operation_id="get_job_result",
    summary="Download one result file of a job",
    response_class=FileResponse,
    responses={
        **errors(404),
        200: {
            "description": "The file",
            "content": {
                m: {"schema": {"type": "string", "format": "binary"}}
                for m in sorted(set(_MEDIA.values()))
            },  # fmt: skip
        },
    },
)
def get_job_result(
    request: Request,
    p: Reader,
    job_id: Annotated[str, Path(max_length=64)],
    name: Annotated[str, Path(max_length=100)],
) -> FileResponse:
    _job_for(request, p, job_id)
    path = request.app.state.jobs.result_path(job_id, name)
    media = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media, filename=name)
