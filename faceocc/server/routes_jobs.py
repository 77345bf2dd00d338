"""The video job endpoints: queue a video (``POST /v1/jobs``), list, poll, page through results, cancel or forget."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from .errors import ApiError
from .jobs import Job
from .requests import (
    check_length,
    content_type,
    job_options,
    read_job_spec,
    receive_video,
    resolve_server_path,
)
from .schemas import ERRORS, JOB_BODY, error_responses
from .service import Service, get_service, require_api_key
from .video import check_container

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_api_key)])


@router.post(
    "/v1/jobs", status_code=202, openapi_extra=JOB_BODY, responses={**error_responses(403, 404, 503), **ERRORS}
)
async def create_job(
    request: Request,
    every_n: int = Query(1, ge=1, le=1_000_000, description="Analyze every N-th frame."),
    fps: float | None = Query(
        None, gt=0, allow_inf_nan=False, description="Analyze about this many frames per second."
    ),
    threshold: float | None = Query(None, ge=0, le=1, allow_inf_nan=False),
    eyeglasses_occlude: bool | None = Query(None),
    include_map: bool = Query(False),
    service: Service = Depends(get_service),
):
    """Queue a video: upload it (multipart or raw body) or name a file under the server's jobs root (JSON
    `{"path": ...}`)."""
    if service.jobs.queue.full():
        raise ApiError(
            503,
            "queue_full",
            f"the video job queue is full ({service.settings.queue_size} waiting); retry later",
            headers={"Retry-After": "10"},
        )
    options = {
        "every_n": every_n,
        "fps": fps,
        "threshold": threshold,
        "eyeglasses_occlude": eyeglasses_occlude,
        "include_map": include_map,
    }
    if content_type(request) == "application/json":
        job = await _server_file_job(request, service, options)
    else:
        job = await _upload_job(request, service, options)
    service.jobs.submit(job)
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


async def _server_file_job(request: Request, service: Service, options: dict[str, Any]) -> Job:
    """A job on a file under the jobs root named by the JSON body; the body's options win over the query's."""
    spec = await read_job_spec(request, service.settings.timeout)
    path = resolve_server_path(spec["path"], service.settings.jobs_root)
    options.update(job_options(spec))
    check_container(path, str(spec["path"]))
    job_id, _ = service.jobs.new_job_dir()
    return Job(id=job_id, source=str(spec["path"]), video_path=path, owns_video=False, options=options)


async def _upload_job(request: Request, service: Service, options: dict[str, Any]) -> Job:
    """A job on an uploaded video, written into the job's folder (removed again when the upload fails)."""
    settings = service.settings
    check_length(request, settings.max_video_bytes)
    job_id, job_dir = service.jobs.new_job_dir()
    try:
        name, video_path = await receive_video(request, job_dir, settings.max_video_bytes, settings.timeout)
        check_container(video_path, name)
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return Job(id=job_id, source=name, video_path=video_path, owns_video=True, options=options)


@router.get("/v1/jobs")
async def list_jobs(service: Service = Depends(get_service)):
    """Known jobs, newest first."""
    return {"jobs": [j.to_dict() for j in service.jobs.list()]}


@router.get("/v1/jobs/{job_id}", responses=error_responses(404))
async def get_job(job_id: str, service: Service = Depends(get_service)):
    """A job's status and progress (frames done of the estimated total)."""
    return service.jobs.get(job_id).to_dict()


@router.get("/v1/jobs/{job_id}/results", responses=error_responses(404, 409))
async def job_results(
    job_id: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(1000, ge=1, le=10000),
    partial: bool = Query(False, description="Return the frames done so far of a running job."),
    service: Service = Depends(get_service),
):
    """One record per analysed frame (the `faceocc analyze` JSON with frame and time_s), paged with offset/limit."""
    job = service.jobs.get(job_id)
    if not job.finished_state and not partial:
        raise ApiError(
            409, "job_not_finished", f"job {job_id} is {job.status}; poll /v1/jobs/{job_id} or pass partial=true"
        )
    job, results, total = await asyncio.to_thread(service.jobs.results, job_id, offset, limit)
    return {
        "id": job.id,
        "status": job.status,
        "complete": job.status == "done",
        "error": job.error,
        "offset": offset,
        "count": len(results),
        "total": total,
        "results": results,
    }


@router.delete("/v1/jobs/{job_id}", responses=error_responses(404))
async def delete_job(job_id: str, service: Service = Depends(get_service)):
    """Cancel a queued or running job, or forget a finished one (and its results)."""
    return service.jobs.delete(job_id).to_dict()
