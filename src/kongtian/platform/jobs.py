"""Background jobs with progress: space propagation, pass search and coverage.

A :class:`JobRunner` runs job functions in a small thread pool. Each job is a JSON
record kept in the store (:meth:`Store.put_job`): ``id``, ``kind``, ``state``
(``queued`` -> ``running`` -> ``done`` | ``failed``), ``progress`` in [0, 1],
``error``, ``files`` (names under ``<jobs_dir>/<id>/``), ``summary``, ``params``,
``owner``, ``key_id`` and UTC times. Progress is written at most every
``progress_interval_s`` (and at 0 and 1), so a long job costs a handful of store writes.

Jobs left ``queued`` or ``running`` by a previous process (a crash or a restart) are
marked ``failed`` with the reason when the runner starts: their result files may be
partial and no thread is working on them any more.

Threads, not processes: the heavy parts (SGP4 in numba or the C extension, numpy) release
the GIL for most of their time, progress reporting stays a function call, and the
service runs on small machines. ``Settings.job_max_elements`` bounds the size of one job.

The space job functions (:func:`run_propagate`, :func:`run_passes`, :func:`run_coverage`)
call the library the same way ``kongtian space ...`` does and write netCDF / CSV / JSON /
PNG / CZML result files.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kongtian.errors import ConfigError, KongtianError, NotFound

if TYPE_CHECKING:
    from kongtian.platform.store.base import Store
    from kongtian.space.catalog import Catalog

log = logging.getLogger("kongtian.platform.jobs")

JOB_STATES = ("queued", "running", "done", "failed")


class JobInterrupted(KongtianError):
    """Raised inside a job (at its next progress report) when the service stops."""


Progress = Callable[[float], None]
JobFunction = Callable[[dict[str, Any], Path, Progress], dict[str, Any]]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _iso(datetime.now(UTC))


class JobRunner:
    """Runs job functions in ``workers`` threads, persisting state and progress."""

    def __init__(
        self,
        store: Store,
        jobs_dir: Path,
        *,
        workers: int = 1,
        progress_interval_s: float = 0.5,
    ) -> None:
        self.store = store
        self.jobs_dir = Path(jobs_dir)
        self.workers = workers
        self.progress_interval_s = progress_interval_s
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Create the pool and fail jobs a previous process left unfinished."""
        self._stopping.clear()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="kongtian-job")
        for job in self.store.list_jobs(limit=10_000):
            if job.get("state") in ("queued", "running"):
                job.update(
                    state="failed",
                    error="interrupted: the service stopped before the job finished",
                    finished_utc=_now(),
                )
                self.store.put_job(job)

    def shutdown(self, wait: bool = True) -> None:
        """Stop: queued jobs are dropped, running ones stop at their next progress report
        (both end ``failed``, "interrupted"); with ``wait`` this returns once they have."""
        self._stopping.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        for job in self.store.list_jobs(limit=1000) if wait else ():
            if job.get("state") == "queued":
                job.update(state="failed", error="interrupted: the service stopped",
                           finished_utc=_now())  # fmt: skip
                self.store.put_job(job)

    # ------------------------------------------------------------------ jobs
    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        fn: JobFunction,
        *,
        owner: str | None = None,
        key_id: str | None = None,
    ) -> dict[str, Any]:
        """Queue ``fn(params, out_dir, progress)``; returns the job record (state queued)."""
        job_id = "job_" + secrets.token_hex(8)
        job: dict[str, Any] = {
            "id": job_id,
            "kind": kind,
            "state": "queued",
            "progress": 0.0,
            "error": None,
            "files": [],
            "summary": None,
            "params": json.loads(json.dumps(dict(params), default=str)),
            "owner": owner,
            "key_id": key_id,
            "created_utc": _now(),
            "started_utc": None,
            "finished_utc": None,
        }
        self.store.put_job(job)
        with self._lock:
            pool = self._pool
            if pool is None:
                pool = self._pool = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="kongtian-job"
                )
            pool.submit(self._run, dict(job), fn, dict(params))
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        return self.store.get_job(job_id)

    def result_path(self, job_id: str, name: str) -> Path:
        """Path of one result file of a job; NotFound unless the job lists it."""
        job = self.store.get_job(job_id)
        if name not in (job.get("files") or []):
            raise NotFound(f"job {job_id} has no result file {name!r}")
        path = self.jobs_dir / job_id / name
        if not path.is_file():
            raise NotFound(f"result file {name!r} of job {job_id} is gone")
        return path

    def _run(self, job: dict[str, Any], fn: JobFunction, params: dict[str, Any]) -> None:
        out_dir = self.jobs_dir / job["id"]
        last = [0.0]

        def progress(fraction: float) -> None:
            if self._stopping.is_set():
                raise JobInterrupted("interrupted: the service stopped")
            fraction = min(1.0, max(0.0, float(fraction)))
            t = time.monotonic()
            if t - last[0] >= self.progress_interval_s and fraction > job["progress"]:
                last[0] = t
                job["progress"] = round(fraction, 4)
                self.store.put_job(dict(job))

        if self._stopping.is_set():
            job.update(state="failed", error="interrupted: the service stopped",
                       finished_utc=_now())  # fmt: skip
            self.store.put_job(dict(job))
            return
        job.update(state="running", started_utc=_now())
        self.store.put_job(dict(job))
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            summary = fn(params, out_dir, progress)
        except KongtianError as exc:
            job.update(state="failed", error=str(exc))
        except Exception as exc:  # a job bug must not kill the worker thread; say what failed
            log.exception("job %s failed", job["id"])
            job.update(state="failed", error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            job.update(state="done", progress=1.0, summary=summary)
        job["files"] = sorted(p.name for p in out_dir.glob("*") if p.is_file())
        job["finished_utc"] = _now()
        self.store.put_job(dict(job))


# ---------------------------------------------------------------------- space jobs
def load_named_catalog(store: Store, name: str, *, lenient: bool = False) -> Catalog:
    """A catalog uploaded to the store under ``name``, else a shipped one (qianfan ...)."""
    from kongtian.space.catalogs import SHIPPED, shipped_catalog

    try:
        text, fmt = store.get_catalog(name)
    except NotFound:
        if name.lower() in SHIPPED:
            return shipped_catalog(name)
        raise NotFound(
            f"no catalog {name!r}: upload it or use a shipped one ({', '.join(sorted(SHIPPED))})"
        ) from None
    return parse_catalog_text(text, name=name, lenient=lenient)


def parse_catalog_text(text: str, *, name: str, lenient: bool = False) -> Catalog:
    """TLE or OMM text -> Catalog (FormatError naming ``<name>:<line>``)."""
    from kongtian.space import omm, tle

    if omm.detect_format(text) is not None:
        return omm.parse_omm(text, path=name, group=name)
    return tle.parse_tle(text, path=name, strict=not lenient, group=name)


def catalog_format(text: str) -> str:
    """``tle`` or ``omm-<json|xml|csv|kvn>``."""
    from kongtian.space import omm

    f = omm.detect_format(text)
    return "tle" if f is None else f"omm-{f}"


def _select(cat: Catalog, norad_ids: list[int] | None) -> Catalog:
    if norad_ids:
        cat = cat.select(norad_id=list(norad_ids))
    if len(cat) == 0:
        raise ConfigError("no satellite left after the selection", option="norad_ids")
    return cat


def _check_size(n: float, limit: int, what: str) -> None:
    if n > limit:
        raise ConfigError(
            f"{what} = {n:.3g} exceeds this server's limit of {limit:.3g}; "
            "select fewer satellites, a shorter window or a coarser step",
            option="hours",
        )


def _grid(params: Mapping[str, Any]) -> tuple[Any, Any]:
    from kongtian.geo.regions import region as get_region

    reg = get_region(str(params["region"]))
    grid = reg.grid(float(params["grid_deg"]))
    if grid.lat_deg.size == 0:
        raise ConfigError(
            f"no grid point falls inside {reg.name} at {params['grid_deg']} deg", option="grid_deg"
        )
    return reg, grid


def check_job(kind: str, catalog: Catalog, params: Mapping[str, Any], *, max_elements: int) -> None:
    """ConfigError if the job selects no satellite, names a bad region, or is larger than
    ``max_elements`` (satellites x times; x sites for passes, whose search steps about
    once a minute; x grid points / 100 for coverage, whose screening prunes most pairs)."""
    cat = _select(catalog, params.get("norad_ids"))
    hours = float(params["hours"])
    if kind == "propagate":
        n, what = len(cat) * (hours * 3600.0 / float(params["step_s"]) + 1), "satellites x times"
    elif kind == "passes":
        n, what = len(cat) * len(params["sites"]) * hours * 60.0, "satellites x sites x minutes"
    elif kind == "coverage":
        _, grid = _grid(params)
        times = hours * 3600.0 / float(params["step_s"]) + 1
        n, what = len(cat) * times * grid.lat_deg.size / 100.0, "satellites x times x points / 100"
    else:
        raise ConfigError(f"unknown job kind {kind!r}", option="kind")
    _check_size(n, max_elements, what)


def _times(params: Mapping[str, Any], step_s: float) -> Any:
    import numpy as np

    from kongtian.geo.time import time_grid

    t0 = np.datetime64(_utc_naive(params["start_utc"]), "ns")
    return t0, time_grid(t0, float(params["hours"]) * 3600.0, step_s)


def _utc_naive(value: Any) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def _fraction(progress: Progress) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        if total:
            progress(done / total)

    return update


def run_propagate(
    catalog: Catalog, params: Mapping[str, Any], out: Path, progress: Progress, *, max_elements: int
) -> dict[str, Any]:
    """Positions and velocities (SGP4) of every satellite at every step -> ephemeris file."""
    from kongtian.space.ephemeris_io import write_ephemeris
    from kongtian.space.propagate import propagate

    cat = _select(catalog, params.get("norad_ids"))
    _, times = _times(params, float(params["step_s"]))
    check_job("propagate", catalog, params, max_elements=max_elements)
    frame = params.get("frame", "itrf")
    # One worker process: the service shares its machine; the pool adds the threads.
    eph = propagate(cat, times, frame=frame, workers=1, progress=_fraction(progress))
    name = f"ephemeris.{params.get('format', 'nc')}"
    write_ephemeris(eph, out / name)
    files = [name]
    if params.get("czml"):
        if frame != "itrf":
            raise ConfigError("CZML needs frame itrf", option="czml")
        from kongtian.space.czml import czml_document, write_czml

        write_czml(out / "ephemeris.czml", czml_document(cat, eph, name=str(params["catalog"])))
        files.append("ephemeris.czml")
    return {
        "satellites": len(cat),
        "times": int(times.size),
        "frame": eph.frame,
        "satellites_with_errors": int(eph.failed.sum()),
        "files": files,
    }


def run_passes(
    catalog: Catalog, params: Mapping[str, Any], out: Path, progress: Progress, *, max_elements: int
) -> dict[str, Any]:
    """Rise / culmination / set over the sites -> passes.csv and passes.json."""
    import numpy as np

    from kongtian.space.passes import find_passes

    cat = _select(catalog, params.get("norad_ids"))
    sites = params["sites"]
    t0, _ = _times(params, 3600.0)
    dur_ns = int(round(float(params["hours"]) * 3600e9))
    check_job("passes", catalog, params, max_elements=max_elements)
    passes = find_passes(
        cat,
        np.array([s["lat_deg"] for s in sites], dtype=float),
        np.array([s["lon_deg"] for s in sites], dtype=float),
        np.array([s.get("alt_m", 0.0) for s in sites], dtype=float),
        start_utc=t0,
        end_utc=t0 + np.timedelta64(dur_ns, "ns"),
        min_elev_deg=float(params.get("min_elev_deg", 10.0)),
        progress=_fraction(progress),
    )
    passes.to_csv(out / "passes.csv")
    df = passes.to_dataframe()
    (out / "passes.json").write_text(df.to_json(orient="records", date_format="iso"), "utf-8")
    return {"satellites": len(cat), "sites": len(sites), "passes": len(passes),
            "files": ["passes.csv", "passes.json"]}  # fmt: skip


def run_coverage(
    catalog: Catalog, params: Mapping[str, Any], out: Path, progress: Progress, *, max_elements: int
) -> dict[str, Any]:
    """Visible-satellite counts, coverage and gaps over a region grid -> coverage.nc (+ PNG, CZML)."""
    from kongtian.space import coverage as cov

    cat = _select(catalog, params.get("norad_ids"))
    step_s = float(params["step_s"])
    t0, _ = _times(params, step_s)
    reg, grid = _grid(params)
    check_job("coverage", catalog, params, max_elements=max_elements)
    dur = float(params["hours"]) * 3600.0
    ds = cov.coverage(
        cat, grid.lat_deg, grid.lon_deg, 0.0, start_utc=t0, duration_s=dur, step_s=step_s,
        min_elev_deg=float(params["min_elev_deg"]), k=int(params["k"]), grid=grid, region=reg,
        progress=_fraction(progress),
    )  # fmt: skip
    cov.save(ds, out / "coverage.nc")
    files = ["coverage.nc"]
    if params.get("plot", True):
        from kongtian.space.plots import plot_coverage_map

        plot_coverage_map(ds, out / "coverage.png", region=reg)
        files.append("coverage.png")
    if params.get("czml"):
        from kongtian.geo.time import time_grid
        from kongtian.space.czml import czml_document, write_czml
        from kongtian.space.propagate import propagate

        eph = propagate(cat, time_grid(t0, dur, min(60.0, dur)), frame="itrf", workers=1)
        write_czml(out / "coverage.czml", czml_document(cat, eph, name=reg.name, coverage_ds=ds))
        files.append("coverage.czml")
    summary = json.loads(json.dumps(cov.summary(ds), default=str))
    summary["files"] = files
    return dict(summary)
