"""The image endpoints: ``POST /v1/analyze`` (one image) and ``POST /v1/analyze/batch`` (several)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .errors import ApiError
from .requests import RequestOptions, check_length, content_type, read_images
from .schemas import BATCH_BODY, ERRORS, IMAGE_BODY, BatchOut, ImageOut
from .service import Service, get_service, require_api_key

router = APIRouter(tags=["analyze"], dependencies=[Depends(require_api_key)])


@router.post("/v1/analyze", openapi_extra=IMAGE_BODY, responses={200: {"model": ImageOut}, **ERRORS})
async def analyze(request: Request, opts: RequestOptions = Depends(), service: Service = Depends(get_service)):
    """Analyze one image: every face's occlusion report (the same JSON as `faceocc analyze`)."""
    settings = service.settings
    check_length(request, settings.max_upload_bytes)
    service.precheck()
    items = await read_images(request, settings.max_upload_bytes, settings.timeout, max_files=1)
    name, data = items[0]
    return JSONResponse(await service.run_limited(service.analyze_bytes, data, name, opts))


@router.post("/v1/analyze/batch", openapi_extra=BATCH_BODY, responses={200: {"model": BatchOut}, **ERRORS})
async def analyze_batch(request: Request, opts: RequestOptions = Depends(), service: Service = Depends(get_service)):
    """Analyze several images (multipart, one file part each); an unreadable image gives an error record, not a
    failure."""
    settings = service.settings
    check_length(request, settings.max_batch_bytes)
    if content_type(request) != "multipart/form-data":
        raise ApiError(
            415, "unsupported_media_type", "a batch is a multipart/form-data body with one file part per image"
        )
    service.precheck()
    items = await read_images(
        request, settings.max_batch_bytes, settings.timeout, max_files=settings.max_batch_files + 1
    )
    if len(items) > settings.max_batch_files:
        raise ApiError(
            400, "too_many_files", f"{len(items)} files in one batch; the limit is {settings.max_batch_files}"
        )
    too_big = [n or "file" for n, d in items if len(d) > settings.max_upload_bytes]
    if too_big:
        raise ApiError(
            413, "payload_too_large", f"{too_big[0]}: larger than the per-image limit of {settings.max_upload_mb:g} MiB"
        )
    return JSONResponse(await service.run_limited(service.analyze_batch, items, opts))
