"""``/v1/space``: satellite catalogs (upload, list) and background space jobs.

Catalogs are TLE (2- or 3-line) or OMM (JSON, XML, CSV, KVN) text, parsed on upload (a
bad file is a 422 naming ``<name>:<line>``) and stored as text; the shipped snapshots
(``qianfan``, ``starlink``, ``oneweb``) are listed too and usable by name. Jobs return
202 with the job record at once; poll ``GET /v1/jobs/{id}`` for progress and results.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from kongtian.errors import NotFound
from kongtian.platform import jobs as jobs_mod
from kongtian.platform.api.common import errors, service_of
from kongtian.platform.api.jobs import job_out
from kongtian.platform.api.models import (
    CatalogInfo,
    CatalogList,
    CatalogUpload,
    CoverageJobIn,
    Job,
    PassesJobIn,
    PropagateJobIn,
)
from kongtian.platform.auth import Principal, audit, require

router = APIRouter(prefix="/v1/space", tags=["space"])


@router.post(
    "/catalogs",
    operation_id="upload_catalog",
    summary="Upload (or replace) a TLE/OMM catalog under a name",
    status_code=201,
    response_model=CatalogInfo,
    responses=errors(),
)
def upload_catalog(
    request: Request,
    body: CatalogUpload,
    p: Annotated[Principal, Depends(require("catalogs_write"))],
) -> CatalogInfo:
    from kongtian.space.catalogs import SHIPPED

    if body.name.lower() in SHIPPED:
        from kongtian.errors import ConfigError

        raise ConfigError(f"{body.name!r} is a shipped catalog; choose another name", option="name")
    cat = jobs_mod.parse_catalog_text(body.text, name=body.name, lenient=body.lenient)
    fmt = jobs_mod.catalog_format(body.text)
    store = service_of(request).store
    store.put_catalog(body.name, body.text, fmt=fmt)
    audit(request, p, "upload_catalog", f"catalog:{body.name}",
          {"fmt": fmt, "satellites": len(cat)})  # fmt: skip
    return CatalogInfo(
        name=body.name, fmt=fmt, origin="uploaded", size=len(body.text), satellites=len(cat)
    )


@router.get(
    "/catalogs",
    operation_id="list_catalogs",
    summary="Uploaded and shipped catalogs",
    response_model=CatalogList,
    responses=errors(),
)
def list_catalogs(
    request: Request, p: Annotated[Principal, Depends(require("read"))]
) -> CatalogList:
    from kongtian.space.catalogs import SHIPPED

    out = [
        CatalogInfo(
            name=c["name"],
            fmt=c.get("fmt", "tle"),
            origin="uploaded",
            size=c.get("size"),
            updated_utc=c.get("updated_utc"),
        )
        for c in service_of(request).store.list_catalogs()
    ]
    out += [CatalogInfo(name=n, fmt="tle", origin="shipped") for n in sorted(SHIPPED)]
    return CatalogList(count=len(out), catalogs=out)


def _submit(
    request: Request, p: Principal, kind: str, params: dict[str, Any], runner_fn: Any
) -> Job:
    store = service_of(request).store
    settings = request.app.state.settings
    cat = jobs_mod.load_named_catalog(store, params["catalog"])  # 404 now, not in the job
    if params.get("norad_ids"):
        if len(cat.select(norad_id=list(params["norad_ids"]))) == 0:
            raise NotFound(f"none of the NORAD ids is in catalog {params['catalog']!r}")
    limit = settings.job_max_elements
    jobs_mod.check_job(kind, cat, params, max_elements=limit)  # too big: 422 now

    def fn(prm: dict[str, Any], out: Any, progress: Any) -> dict[str, Any]:
        result: dict[str, Any] = runner_fn(cat, prm, out, progress, max_elements=limit)
        return result

    job = request.app.state.jobs.submit(
        kind, params, fn, owner=p.owner or p.key_id, key_id=p.key_id
    )
    audit(request, p, f"job_{kind}", f"job:{job['id']}", {"catalog": params["catalog"]})
    return job_out(job)


@router.post(
    "/jobs/propagate",
    operation_id="start_propagate_job",
    summary="Propagate a catalog (SGP4) over a window: ephemeris netCDF/CSV/Parquet (+ CZML)",
    status_code=202,
    response_model=Job,
    responses=errors(404),
)
def start_propagate_job(
    request: Request,
    body: PropagateJobIn,
    p: Annotated[Principal, Depends(require("space_jobs"))],
) -> Job:
    return _submit(request, p, "propagate", body.model_dump(mode="json"), jobs_mod.run_propagate)


@router.post(
    "/jobs/passes",
    operation_id="start_passes_job",
    summary="Passes (rise, culmination, set) of a catalog over sites: CSV and JSON",
    status_code=202,
    response_model=Job,
    responses=errors(404),
)
def start_passes_job(
    request: Request,
    body: PassesJobIn,
    p: Annotated[Principal, Depends(require("space_jobs"))],
) -> Job:
    return _submit(request, p, "passes", body.model_dump(mode="json"), jobs_mod.run_passes)


@router.post(
    "/jobs/coverage",
    operation_id="start_coverage_job",
    summary="Coverage and gaps of a catalog over a region: netCDF (+ PNG map, CZML)",
    status_code=202,
    response_model=Job,
    responses=errors(404),
)
def start_coverage_job(
    request: Request,
    body: CoverageJobIn,
    p: Annotated[Principal, Depends(require("space_jobs"))],
) -> Job:
    return _submit(request, p, "coverage", body.model_dump(mode="json"), jobs_mod.run_coverage)
