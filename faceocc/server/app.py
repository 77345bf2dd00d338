"""The faceocc HTTP service: ``create_app(ServerSettings(...))`` -> a FastAPI app.

Endpoints (all JSON unless said otherwise; errors are ``{"error": {"code", "message"}}``,
see :mod:`faceocc.server.errors`):

- ``POST /v1/analyze``          one image (multipart field ``file``, or the raw bytes as the body)
- ``POST /v1/analyze/batch``    several images (multipart, every file part is one image)
- ``POST /v1/jobs``             a video job: an upload, or ``{"path": ...}`` under the configured jobs root
- ``GET  /v1/jobs``, ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/results``, ``DELETE /v1/jobs/{id}``
- ``GET  /health`` (liveness), ``GET /ready`` (readiness), ``GET /metrics`` (Prometheus text)
- ``GET  /`` the web page, ``/docs`` and ``/openapi.json``

Query options of the analyze endpoints and jobs: ``threshold`` (0-1, default the
model's), ``eyeglasses_occlude``, ``include_map`` (the raw occlusion map per face) and
``overlay`` (drawing data in image coordinates: heat overlay PNG, covered-part
outlines, crop->image matrix; see :mod:`faceocc.server.overlay`).
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Optional

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from .. import __version__
from ..detection import DetectorOptions
from ..io import InputError, decode_image, iter_video
from ..pipeline import Analyzer, AnalyzerOptions
from ..policy import PolicyOptions, apply_policy
from ..results import ImageResult
from .errors import HTTP_CODES, ApiError, error_body
from .jobs import Job, JobManager
from .metrics import Metrics
from .overlay import face_drawing
from .settings import ServerSettings

STATIC_DIR = Path(__file__).parent / "static"
_CHUNK_IDLE = object()

# --------------------------------------------------------------------------------------------------
# OpenAPI documentation models (responses are built by hand; these describe them)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. payload_too_large")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class FaceOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in image pixels")
    det_score: float
    landmarks: list[list[float]]
    occluded: Optional[bool] = Field(description="null when the face could not be assessed")
    occlusion_score: Optional[float]
    occluders: dict[str, float] = Field(description="mask, sunglasses, eyeglasses, hand, other probabilities")
    parts: dict[str, float] = Field(description="fraction covered of right_eye, left_eye, nose, mouth, chin")
    upper: Optional[bool]
    lower: Optional[bool]
    coverage: Optional[float] = Field(description="fraction of the inner face covered")
    usable: bool = Field(description="usable for face recognition")
    advice: list[str]
    assessable: bool
    reason: Optional[str]
    occlusion_map: Optional[list[list[float]]] = Field(None, description="with include_map=true")
    overlay: Optional[dict] = Field(None, description="with overlay=true: heat PNG and where to draw it (image pixels)")
    covered_parts: Optional[list[dict]] = Field(None, description="with overlay=true: outlines of covered parts")
    crop_to_image: Optional[list[list[float]]] = Field(None, description="with overlay=true: 2x3 aligned crop -> image")


class ImageOut(BaseModel):
    path: Optional[str] = Field(description="the uploaded file's name, if any")
    width: int
    height: int
    faces: list[FaceOut]
    error: Optional[str]


class BatchOut(BaseModel):
    results: list[ImageOut]


_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 408, 413, 415, 422, 429, 504)}
_IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                       "required": ["file"]}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
}}}
_BATCH_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}, "required": ["files"]}}}}}
_JOB_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "object", "properties": {
        "path": {"type": "string", "description": "a video under the server's jobs root (relative to it)"},
        "every_n": {"type": "integer", "minimum": 1}, "fps": {"type": "number", "exclusiveMinimum": 0},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1}, "eyeglasses_occlude": {"type": "boolean"},
        "include_map": {"type": "boolean"}}, "required": ["path"]}},
}}}


# --------------------------------------------------------------------------------------------------
# per-request options


class RequestOptions:
    def __init__(self, threshold: Optional[float] = Query(None, ge=0.0, le=1.0, description="Occlusion threshold (default: the model's)."),
                 eyeglasses_occlude: Optional[bool] = Query(None, description="Count clear eyeglasses as an occlusion."),
                 include_map: bool = Query(False, description="Add each face's occlusion map (canonical crop frame)."),
                 overlay: bool = Query(False, description="Add drawing data in image coordinates (heat PNG, part outlines).")):
        self.threshold = threshold
        self.eyeglasses_occlude = eyeglasses_occlude
        self.include_map = include_map
        self.overlay = overlay


# --------------------------------------------------------------------------------------------------
# the service


class Service:
    """State shared by the endpoints: the analyzer, the worker threads, admission control, jobs, metrics."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.metrics = Metrics()
        options = AnalyzerOptions(
            model=settings.model, threads=settings.threads, keep_maps=True,
            detector=DetectorOptions(score_threshold=settings.score_threshold, max_side=settings.det_size, threads=settings.threads),
            policy=PolicyOptions(occlusion_threshold=settings.threshold, eyeglasses_occlude=settings.eyeglasses_occlude,
                                 min_face_size=settings.min_face))
        self.analyzer = Analyzer(options)  # ModelError for a bad model: fail at start, not per request
        self.base_policy = options.policy
        self.executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="faceocc-analyze")
        self._lock = threading.Lock()
        self.in_flight = 0
        self._owns_work_dir = settings.work_dir is None
        self.work_dir = Path(settings.work_dir) if settings.work_dir else Path(tempfile.mkdtemp(prefix="faceocc-serve-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = JobManager(self.work_dir / "jobs", settings.queue_size, settings.max_jobs_kept, self._run_job)
        m = self.metrics
        m.gauge("faceocc_in_flight_requests", "Image requests being analysed or waiting for a worker.", lambda: self.in_flight)
        m.gauge("faceocc_max_concurrency", "Configured limit of image requests in flight.", lambda: settings.max_concurrency)
        m.gauge("faceocc_job_queue_depth", "Video jobs waiting in the queue.", lambda: self.jobs.queue.qsize())
        m.gauge("faceocc_jobs", "Known video jobs by status.", lambda: {(("status", k),): v for k, v in self.jobs.counts().items()})

    def close(self) -> None:
        self.jobs.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- policy per request ----------------------------------------------------------------------
    def policy_for(self, opts) -> PolicyOptions:
        threshold = getattr(opts, "threshold", None)
        glasses = getattr(opts, "eyeglasses_occlude", None)
        if threshold is None and glasses is None:
            return self.base_policy
        b = self.base_policy
        return PolicyOptions(occlusion_threshold=b.occlusion_threshold if threshold is None else threshold,
                             type_threshold=b.type_threshold, part_threshold=b.part_threshold,
                             eyeglasses_occlude=b.eyeglasses_occlude if glasses is None else glasses,
                             min_face_size=b.min_face_size, min_det_score=b.min_det_score)

    def _finish(self, result: ImageResult, policy: PolicyOptions, include_map: bool, overlay: bool) -> dict:
        if policy is not self.base_policy:
            for face in result.faces:
                apply_policy(face, policy, self.analyzer.model.threshold)
        d = result.to_dict(include_map)
        if overlay:
            size = self.analyzer.model.input_size
            for fd, face in zip(d["faces"], result.faces):
                fd.update(face_drawing(face, size, (result.width, result.height), policy.part_threshold))
        return d

    # -- images (run in worker threads) ------------------------------------------------------------
    def check_header(self, data: bytes, name: str) -> None:
        """Refuse images whose header announces too many pixels, before decoding them."""
        from PIL import Image

        if not data:
            raise ApiError(400, "empty_body", f"{name}: empty file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
        except Image.DecompressionBombError as exc:  # far above any sane limit: PIL refuses it itself
            raise ApiError(413, "image_too_large", f"{name}: image too large ({exc}); limit {self.settings.max_pixels} pixels") from None
        except Exception:  # noqa: BLE001 - PIL raises many types for non-images
            raise ApiError(422, "unreadable_image", f"{name}: not an image faceocc can read "
                           "(JPEG, PNG, WebP, BMP, TIFF, GIF, PPM are supported)") from None
        if width * height > self.settings.max_pixels:
            raise ApiError(413, "image_too_large", f"{name}: image too large ({width}x{height} = {width * height} pixels; "
                           f"limit {self.settings.max_pixels})")

    def analyze_bytes(self, data: bytes, name: str | None, opts, deadline: float | None = None) -> dict:
        label = name or "upload"
        if deadline is not None and time.monotonic() > deadline:
            raise ApiError(504, "timeout", f"analysis did not start within the timeout ({self.settings.timeout:g} s)")
        self.check_header(data, label)
        try:
            image = decode_image(data, label)
        except InputError as exc:
            raise ApiError(422, "unreadable_image", str(exc)) from None
        width, height = int(image.shape[1]), int(image.shape[0])
        result = ImageResult(path=name, width=width, height=height, min_face_px=self.analyzer.min_face_px(width, height))
        result.faces = self.analyzer.analyze_faces(image)
        self.metrics.observe_result(result.faces)
        return self._finish(result, self.policy_for(opts), opts.include_map, opts.overlay)

    def analyze_batch(self, items: list[tuple[str | None, bytes]], opts, deadline: float) -> dict:
        out = []
        for name, data in items:
            if time.monotonic() > deadline:
                raise ApiError(504, "timeout", f"the batch did not finish within the timeout ({self.settings.timeout:g} s)")
            try:
                out.append(self.analyze_bytes(data, name, opts))
            except ApiError as exc:
                self.metrics.observe_error(exc.code)
                out.append({"path": name, "width": 0, "height": 0, "faces": [], "error": exc.message, "error_code": exc.code})
            except Exception as exc:  # noqa: BLE001 - one bad image never fails the batch
                self.metrics.observe_error("internal_error")
                out.append({"path": name, "width": 0, "height": 0, "faces": [], "error": f"{name}: {type(exc).__name__}: {exc}",
                            "error_code": "internal_error"})
        return {"results": out}

    # -- admission control -------------------------------------------------------------------------
    def precheck(self) -> None:
        """Refuse at once, before reading a body, when the service is already full."""
        if self.in_flight >= self.settings.max_concurrency:
            raise self._overloaded()

    def _overloaded(self) -> ApiError:
        return ApiError(429, "overloaded", f"{self.in_flight} requests in flight (limit {self.settings.max_concurrency}); "
                        "retry shortly", headers={"Retry-After": "1"})

    async def run_limited(self, fn, *args):
        """Run ``fn(*args, deadline)`` in a worker thread; 429 at once when ``max_concurrency`` are in flight.

        The slot is released when the work really ends, so that timed-out work still counts.
        """
        with self._lock:
            if self.in_flight >= self.settings.max_concurrency:
                raise self._overloaded()
            self.in_flight += 1
        deadline = time.monotonic() + self.settings.timeout
        loop = asyncio.get_running_loop()
        try:
            fut = loop.run_in_executor(self.executor, lambda: fn(*args, deadline))
        except BaseException:
            self._release(None)
            raise
        fut.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.settings.timeout)
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"analysis took longer than the timeout ({self.settings.timeout:g} s)") from None

    def _release(self, fut) -> None:
        with self._lock:
            self.in_flight -= 1
        if fut is not None and not fut.cancelled():
            fut.exception()  # retrieved, so that abandoned failures are not logged as unhandled

    # -- video jobs (the job worker thread) ----------------------------------------------------------
    def _run_job(self, job: Job, emit) -> None:
        import cv2

        opts = job.options
        cap = cv2.VideoCapture(str(job.video_path))
        try:
            if not cap.isOpened():
                raise ApiError(422, "unreadable_video", f"{job.source}: not a readable video")
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            count, native = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), cap.get(cv2.CAP_PROP_FPS) or 0.0
        finally:
            cap.release()
        if w * h > self.settings.max_pixels:
            raise ApiError(413, "image_too_large", f"{job.source}: frames too large ({w}x{h}; limit {self.settings.max_pixels} pixels)")
        step = max(1, int(opts.get("every_n") or 1))
        if opts.get("fps") and native > 0:
            step = max(1, int(round(native / opts["fps"])))
        job.frames_total = (count + step - 1) // step if count > 0 else None
        policy = self.policy_for(_Opts(opts))
        try:
            for frame in iter_video(job.video_path, every_n=opts.get("every_n") or 1, fps=opts.get("fps")):
                if job.cancel.is_set():
                    return
                width, height = int(frame.image.shape[1]), int(frame.image.shape[0])
                result = ImageResult(path=job.source, width=width, height=height, frame=frame.index, time_s=frame.time_s,
                                     min_face_px=self.analyzer.min_face_px(width, height))
                result.faces = self.analyzer.analyze_faces(frame.image)
                self.metrics.observe_result(result.faces, video=True)
                emit(self._finish(result, policy, bool(opts.get("include_map")), False))
                job.frames_done += 1
                job.faces += len(result.faces)
        except InputError as exc:
            raise ApiError(422, "unreadable_video", str(exc).replace(str(job.video_path), job.source)) from None

    def resolve_server_path(self, raw) -> Path:
        root = self.settings.jobs_root
        if root is None:
            raise ApiError(403, "path_not_allowed", "server-side paths are disabled on this server (start it with --jobs-root DIR)")
        if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
            raise ApiError(422, "invalid_parameter", "'path' must be a non-empty string")
        given = Path(raw)
        candidate = given if given.is_absolute() else Path(root) / given
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError):
            raise ApiError(403, "path_not_allowed", f"{raw}: not a path under the jobs root") from None
        if not resolved.is_relative_to(root) or resolved == Path(root):
            raise ApiError(403, "path_not_allowed", f"{raw}: outside the jobs root; give a path relative to it")
        if not resolved.is_file():
            raise ApiError(404, "file_not_found", f"{raw}: no such file under the jobs root")
        return resolved


class _Opts:
    def __init__(self, d: dict):
        self.threshold = d.get("threshold")
        self.eyeglasses_occlude = d.get("eyeglasses_occlude")


# --------------------------------------------------------------------------------------------------
# request bodies


_RAW_TYPES = ("", "application/octet-stream")


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length header") from None
        if n > limit:
            raise ApiError(413, "payload_too_large", f"request body of {n} bytes exceeds the limit of {limit} bytes "
                           f"({limit / 1048576:g} MiB)")


async def _limited_stream(request: Request, limit: int, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request body in chunks; 413 past ``limit`` bytes, 408 when no chunk arrives within ``idle_timeout``."""
    total = 0
    it = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(it.__anext__(), idle_timeout)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ApiError(408, "request_timeout", f"the request body did not arrive in time (no data for {idle_timeout:g} s)") from None
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "payload_too_large", f"request body exceeds the limit of {limit} bytes ({limit / 1048576:g} MiB)")
        if chunk:
            yield chunk


async def _read_with_deadline(coro, timeout: float):
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, "request_timeout", f"the request body did not arrive within {timeout:g} s") from None


async def _parse_multipart(request: Request, limit: int, idle: float, max_files: int):
    try:
        parser = MultiPartParser(request.headers, _limited_stream(request, limit, idle), max_files=max_files, max_fields=100)
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc.message}") from None


async def _read_images(request: Request, limit: int, timeout: float, max_files: int) -> list[tuple[str | None, bytes]]:
    """(file name, bytes) of each image in the body: every file part of a multipart body, or the raw body."""
    ctype = _content_type(request)
    if ctype == "multipart/form-data":
        async def parse():
            form = await _parse_multipart(request, limit, timeout, max_files)
            items = []
            try:
                for _, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        items.append((os.path.basename(value.filename or "") or None, await value.read()))
            finally:
                await form.close()
            return items

        items = await _read_with_deadline(parse(), timeout)
        if not items:
            raise ApiError(400, "missing_file", "the multipart body has no file part (send the image as field 'file')")
        return items
    if ctype in _RAW_TYPES or ctype.startswith("image/"):
        async def collect():
            return b"".join([c async for c in _limited_stream(request, limit, timeout)])

        data = await _read_with_deadline(collect(), timeout)
        if not data:
            raise ApiError(400, "empty_body", "the request body is empty: send the image bytes, or a multipart field 'file'")
        return [(None, data)]
    raise ApiError(415, "unsupported_media_type", f"content type {ctype!r} is not accepted: send multipart/form-data "
                   "(field 'file'), an image/* type or application/octet-stream")


# --------------------------------------------------------------------------------------------------
# the app


def _local_swagger_ui() -> str | None:
    """Folder of the Swagger UI files shipped by the ``swagger-ui-bundle`` package (None when it is not installed)."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    path = Path(swagger_ui_bundle.swagger_ui_path)
    return str(path) if (path / "swagger-ui-bundle.js").is_file() else None


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The faceocc FastAPI application (loads the model now; raises ModelError for a bad one)."""
    settings = settings or ServerSettings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app):
        yield
        service.close()

    swagger_dir = _local_swagger_ui()
    app = FastAPI(title="faceocc", version=__version__, lifespan=lifespan, docs_url=None if swagger_dir else "/docs",
                  description="Is each face occluded, by what, where and how much, and usable for face recognition? "
                              "Errors are `{\"error\": {\"code\": ..., \"message\": ...}}` with a stable code.")
    app.state.service = service
    metrics = service.metrics

    # -- errors ------------------------------------------------------------------------------------
    def _error(status: int, code: str, message: str, headers=None) -> JSONResponse:
        metrics.observe_error(code)
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _error(422, "invalid_parameter", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.url.path} (see /docs)"
        return _error(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")

    app.add_middleware(_ObserveMiddleware, metrics=metrics)

    # -- auth --------------------------------------------------------------------------------------
    async def require_key(request: Request) -> None:
        key = settings.api_key
        if key is None:
            return
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None or not hmac.compare_digest(given.encode(), key.encode()):
            raise ApiError(401, "unauthorized", "missing or wrong API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'",
                           headers={"WWW-Authenticate": "Bearer"})

    protected = [Depends(require_key)]

    # -- images ------------------------------------------------------------------------------------
    @app.post("/v1/analyze", dependencies=protected, tags=["analyze"], openapi_extra=_IMAGE_BODY,
              responses={200: {"model": ImageOut}, **_ERRORS})
    async def analyze(request: Request, opts: RequestOptions = Depends()):
        """Analyze one image: every face's occlusion report (the same JSON as `faceocc analyze`)."""
        _check_length(request, settings.max_upload_bytes)
        service.precheck()
        items = await _read_images(request, settings.max_upload_bytes, settings.timeout, max_files=1)
        name, data = items[0]
        return JSONResponse(await service.run_limited(service.analyze_bytes, data, name, opts))

    @app.post("/v1/analyze/batch", dependencies=protected, tags=["analyze"], openapi_extra=_BATCH_BODY,
              responses={200: {"model": BatchOut}, **_ERRORS})
    async def analyze_batch(request: Request, opts: RequestOptions = Depends()):
        """Analyze several images (multipart, one file part each); an unreadable image gives an error record, not a failure."""
        _check_length(request, settings.max_batch_bytes)
        if _content_type(request) != "multipart/form-data":
            raise ApiError(415, "unsupported_media_type", "a batch is a multipart/form-data body with one file part per image")
        service.precheck()
        items = await _read_images(request, settings.max_batch_bytes, settings.timeout, max_files=settings.max_batch_files + 1)
        if len(items) > settings.max_batch_files:
            raise ApiError(400, "too_many_files", f"{len(items)} files in one batch; the limit is {settings.max_batch_files}")
        too_big = [n or "file" for n, d in items if len(d) > settings.max_upload_bytes]
        if too_big:
            raise ApiError(413, "payload_too_large", f"{too_big[0]}: larger than the per-image limit of {settings.max_upload_mb:g} MiB")
        return JSONResponse(await service.run_limited(service.analyze_batch, items, opts))

    # -- video jobs --------------------------------------------------------------------------------
    @app.post("/v1/jobs", dependencies=protected, tags=["jobs"], status_code=202, openapi_extra=_JOB_BODY,
              responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}, **_ERRORS})
    async def create_job(request: Request,
                         every_n: int = Query(1, ge=1, description="Analyze every N-th frame."),
                         fps: Optional[float] = Query(None, gt=0, description="Analyze about this many frames per second."),
                         threshold: Optional[float] = Query(None, ge=0, le=1),
                         eyeglasses_occlude: Optional[bool] = Query(None),
                         include_map: bool = Query(False)):
        """Queue a video: upload it (multipart or raw body) or name a file under the server's jobs root (JSON `{"path": ...}`)."""
        if service.jobs.queue.full():
            raise ApiError(503, "queue_full", f"the video job queue is full ({settings.queue_size} waiting); retry later",
                           headers={"Retry-After": "10"})
        options = {"every_n": every_n, "fps": fps, "threshold": threshold, "eyeglasses_occlude": eyeglasses_occlude,
                   "include_map": include_map}
        ctype = _content_type(request)
        if ctype == "application/json":
            _check_length(request, 64 * 1024)
            body = await _read_with_deadline(_collect(request, 64 * 1024, settings.timeout), settings.timeout)
            try:
                spec = json.loads(body or b"null")
            except ValueError:
                raise ApiError(422, "invalid_parameter", "the JSON body is not valid JSON") from None
            if not isinstance(spec, dict) or "path" not in spec:
                raise ApiError(422, "invalid_parameter", "the JSON body must be an object with a 'path'")
            path = service.resolve_server_path(spec["path"])
            options.update(_json_options(spec, options))
            job_id, _ = service.jobs.new_job_dir()
            job = Job(id=job_id, source=str(spec["path"]), video_path=path, owns_video=False, options=options)
        else:
            _check_length(request, settings.max_video_bytes)
            job_id, job_dir = service.jobs.new_job_dir()
            try:
                source = await _receive_video(request, job_dir, settings)
            except BaseException:
                shutil.rmtree(job_dir, ignore_errors=True)
                raise
            name, video_path = source
            job = Job(id=job_id, source=name, video_path=video_path, owns_video=True, options=options)
        service.jobs.submit(job)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    @app.get("/v1/jobs", dependencies=protected, tags=["jobs"])
    async def list_jobs():
        """Known jobs, newest first."""
        return {"jobs": [j.to_dict() for j in service.jobs.list()]}

    @app.get("/v1/jobs/{job_id}", dependencies=protected, tags=["jobs"], responses={404: {"model": ErrorResponse}})
    async def get_job(job_id: str):
        """A job's status and progress (frames done of the estimated total)."""
        return service.jobs.get(job_id).to_dict()

    @app.get("/v1/jobs/{job_id}/results", dependencies=protected, tags=["jobs"],
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
    async def job_results(job_id: str, offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10000),
                          partial: bool = Query(False, description="Return the frames done so far of a running job.")):
        """One record per analysed frame (the `faceocc analyze` JSON with frame and time_s), paged with offset/limit."""
        job = service.jobs.get(job_id)
        if not job.finished_state and not partial:
            raise ApiError(409, "job_not_finished", f"job {job_id} is {job.status}; poll /v1/jobs/{job_id} or pass partial=true")
        job, results, total = await asyncio.to_thread(service.jobs.results, job_id, offset, limit)
        return {"id": job.id, "status": job.status, "complete": job.status == "done", "error": job.error,
                "offset": offset, "count": len(results), "total": total, "results": results}

    @app.delete("/v1/jobs/{job_id}", dependencies=protected, tags=["jobs"], responses={404: {"model": ErrorResponse}})
    async def delete_job(job_id: str):
        """Cancel a queued or running job, or forget a finished one (and its results)."""
        return service.jobs.delete(job_id).to_dict()

    # -- operations --------------------------------------------------------------------------------
    @app.get("/health", tags=["operations"])
    async def health():
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["operations"], responses={503: {"model": ErrorResponse}})
    async def ready():
        """Readiness: the model is loaded and the workers run; also says how busy the service is."""
        body = {"status": "ready", "model": service.analyzer.model.name, "model_threshold": service.analyzer.model.threshold,
                "in_flight": service.in_flight, "max_concurrency": settings.max_concurrency,
                "job_queue": service.jobs.queue.qsize(), "job_queue_size": settings.queue_size,
                "auth_required": settings.api_key is not None, "server_paths": settings.jobs_root is not None,
                "limits": {"max_upload_mb": settings.max_upload_mb, "max_pixels": settings.max_pixels,
                           "timeout_s": settings.timeout, "max_batch_files": settings.max_batch_files}}
        if not service.jobs.healthy:
            raise ApiError(503, "not_ready", "the video job worker stopped")
        return body

    @app.get("/metrics", dependencies=protected, tags=["operations"], response_class=PlainTextResponse)
    async def prometheus():
        """Prometheus text format: requests, latency histogram, faces, errors, in-flight, jobs, memory."""
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- the page ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if swagger_dir:  # the API docs page from local files: no CDN, works offline
        from fastapi.openapi.docs import get_swagger_ui_html

        app.mount("/swagger-ui", StaticFiles(directory=swagger_dir), name="swagger-ui")

        @app.get("/docs", include_in_schema=False)
        async def docs():
            return get_swagger_ui_html(openapi_url="/openapi.json", title="faceocc API",
                                       swagger_js_url="/swagger-ui/swagger-ui-bundle.js",
                                       swagger_css_url="/swagger-ui/swagger-ui.css",
                                       swagger_favicon_url="/swagger-ui/favicon-32x32.png")
    return app



_CSP = (b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        b"frame-ancestors 'none'")


class _ObserveMiddleware:
    """Pure ASGI middleware: request metrics by route template, and security headers."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}
        path = scope["path"]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if path == "/" or path.startswith("/static/"):
                    headers.append((b"content-security-policy", _CSP))
                message = dict(message, headers=headers)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or ("/static" if path.startswith("/static/") else "unmatched")
            self.metrics.observe_request(scope.get("method", ""), label, status["code"], time.perf_counter() - start)

def _json_options(spec: dict, defaults: dict) -> dict:
    out = {}
    checks = {"every_n": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
              "fps": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
              "threshold": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1),
              "eyeglasses_occlude": lambda v: v is None or isinstance(v, bool),
              "include_map": lambda v: isinstance(v, bool)}
    for key, ok in checks.items():
        if key in spec:
            if not ok(spec[key]):
                raise ApiError(422, "invalid_parameter", f"{key}: invalid value {spec[key]!r}")
            out[key] = spec[key]
    return out


async def _collect(request: Request, limit: int, idle: float) -> bytes:
    return b"".join([c async for c in _limited_stream(request, limit, idle)])


async def _receive_video(request: Request, job_dir: Path, settings: ServerSettings) -> tuple[str, Path]:
    """Write an uploaded video into ``job_dir``; (client's file name, path). Only an idle timeout applies (big files)."""
    ctype = _content_type(request)
    limit, idle = settings.max_video_bytes, settings.timeout
    if ctype == "multipart/form-data":
        form = await _parse_multipart(request, limit, idle, max_files=1)
        try:
            upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
            if upload is None:
                raise ApiError(400, "missing_file", "the multipart body has no file part (send the video as field 'file')")
            name = os.path.basename(upload.filename or "") or "upload"
            dest = job_dir / ("video" + _safe_suffix(name))
            await asyncio.to_thread(_copy_upload, upload, dest)
        finally:
            await form.close()
    elif ctype in _RAW_TYPES or ctype.startswith("video/"):
        name = os.path.basename(request.headers.get("x-filename", "") or "") or "upload"
        dest = job_dir / ("video" + _safe_suffix(name))
        with open(dest, "wb") as fh:
            async for chunk in _limited_stream(request, limit, idle):
                fh.write(chunk)
    else:
        raise ApiError(415, "unsupported_media_type", f"content type {ctype!r} is not accepted: upload the video as "
                       "multipart/form-data (field 'file'), video/* or application/octet-stream, or send JSON {\"path\": ...}")
    if dest.stat().st_size == 0:
        raise ApiError(400, "empty_body", "the uploaded video is empty")
    return name, dest


def _safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"


def _copy_upload(upload: UploadFile, dest: Path) -> None:
    upload.file.seek(0)
    with open(dest, "wb") as fh:
        shutil.copyfileobj(upload.file, fh, 1 << 20)
