"""The operations endpoints: ``/health`` (liveness), ``/ready`` (readiness and load), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from .. import __version__
from .errors import ApiError
from .schemas import error_responses
from .service import Service, authorised, get_service, require_api_key

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health():
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", responses=error_responses(503))
async def ready(request: Request, service: Service = Depends(get_service)):
    """Readiness: the model is loaded and the workers run; with the API key (or none configured) also the model,
    the limits and how busy the service is."""
    if not service.jobs.healthy:
        raise ApiError(503, "not_ready", "the video job worker stopped")
    settings, model = service.settings, service.analyzer.model
    if not authorised(request):
        return {"status": "ready", "auth_required": True}
    return {
        "status": "ready",
        "model": model.name,
        "model_threshold": model.threshold,
        "in_flight": service.in_flight,
        "max_concurrency": settings.max_concurrency,
        "job_queue": service.jobs.queue.qsize(),
        "job_queue_size": settings.queue_size,
        "auth_required": settings.api_key is not None,
        "server_paths": settings.jobs_root is not None,
        "limits": {
            "max_upload_mb": settings.max_upload_mb,
            "max_pixels": settings.max_pixels,
            "timeout_s": settings.timeout,
            "max_batch_files": settings.max_batch_files,
        },
    }


@router.get("/metrics", dependencies=[Depends(require_api_key)], response_class=PlainTextResponse)
async def prometheus(service: Service = Depends(get_service)):
    """Prometheus text format: requests, latency histogram, faces, errors, in-flight, jobs, memory."""
    return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
