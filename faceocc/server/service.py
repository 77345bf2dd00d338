"""The state the endpoints share (:class:`Service`): the analyzer, worker threads, admission control, jobs, metrics.

The verdicts are :mod:`faceocc.policy`'s: a request with its own threshold or eyeglasses option has its faces
re-decided there (``redecide``), never here.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import Request

from ..detection import DetectorOptions
from ..io import InputError, decode_image
from ..pipeline import Analyzer, AnalyzerOptions
from ..policy import PolicyOptions, redecide, with_overrides
from ..schema import ImageResult
from .errors import ApiError
from .jobs import JobManager
from .metrics import Metrics
from .overlay import face_drawing
from .requests import RequestOptions, check_image_header
from .settings import ServerSettings
from .video import run_video_job


class Service:
    """State shared by the endpoints: the analyzer, the worker threads, admission control, jobs, metrics."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.metrics = Metrics()
        options = AnalyzerOptions(
            model=settings.model,
            threads=settings.threads,
            keep_maps=True,
            detector=DetectorOptions(
                score_threshold=settings.score_threshold, max_side=settings.det_size, threads=settings.threads
            ),
            policy=PolicyOptions(
                occlusion_threshold=settings.threshold,
                eyeglasses_occlude=settings.eyeglasses_occlude,
                min_face_size=settings.min_face,
            ),
        )
        self.analyzer = Analyzer(options)  # ModelError for a bad model: fail at start, not per request
        self.base_policy = options.policy
        self.executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="faceocc-analyze")
        self._lock = threading.Lock()
        self.in_flight = 0
        self._owns_work_dir = settings.work_dir is None
        self.work_dir = (
            Path(settings.work_dir) if settings.work_dir else Path(tempfile.mkdtemp(prefix="faceocc-serve-"))
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = JobManager(
            self.work_dir / "jobs",
            settings.queue_size,
            settings.max_jobs_kept,
            functools.partial(run_video_job, self),
            ttl=settings.job_ttl,
        )
        m = self.metrics
        m.gauge(
            "faceocc_in_flight_requests",
            "Image requests being analysed or waiting for a worker.",
            lambda: self.in_flight,
        )
        m.gauge(
            "faceocc_max_concurrency", "Configured limit of image requests in flight.", lambda: settings.max_concurrency
        )
        m.gauge("faceocc_job_queue_depth", "Video jobs waiting in the queue.", lambda: self.jobs.queue.qsize())
        m.gauge(
            "faceocc_jobs",
            "Known video jobs by status.",
            lambda: {(("status", k),): v for k, v in self.jobs.counts().items()},
        )

    def close(self) -> None:
        """Shut down: drain the video jobs (``drain_timeout``), stop the workers."""
        self.jobs.stop(self.settings.drain_timeout)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- policy per request ----------------------------------------------------------------------------------------
    def policy_for(self, threshold: float | None, eyeglasses_occlude: bool | None) -> PolicyOptions:
        """The server's policy with a request's overrides (None: the server's setting)."""
        if threshold is None and eyeglasses_occlude is None:
            return self.base_policy
        return with_overrides(self.base_policy, occlusion_threshold=threshold, eyeglasses_occlude=eyeglasses_occlude)

    def finish(self, result: ImageResult, policy: PolicyOptions, include_map: bool, overlay: bool) -> dict:
        """The JSON record of an analysed image, its faces re-decided under ``policy`` when it is not the server's."""
        if policy is not self.base_policy:
            result.faces = [redecide(face, policy, self.analyzer.model.threshold) for face in result.faces]
        d = result.to_dict(include_map)
        if overlay:
            size = self.analyzer.model.input_size
            for fd, face in zip(d["faces"], result.faces):
                fd.update(face_drawing(face, size, (result.width, result.height), policy.part_threshold))
        return d

    # -- images (run in worker threads) ----------------------------------------------------------------------------
    def analyze_bytes(self, data: bytes, name: str | None, opts: RequestOptions, deadline: float | None = None) -> dict:
        label = name or "upload"
        if deadline is not None and time.monotonic() > deadline:
            raise ApiError(504, "timeout", f"analysis did not start within the timeout ({self.settings.timeout:g} s)")
        check_image_header(data, label, self.settings.max_pixels, self.settings.max_jpeg_scans)
        try:
            image = decode_image(data, label)
        except InputError as exc:
            raise ApiError(422, "unreadable_image", str(exc)) from None
        width, height = int(image.shape[1]), int(image.shape[0])
        result = ImageResult(
            path=name, width=width, height=height, min_face_px=self.analyzer.min_face_px(width, height)
        )
        result.faces = self.analyzer.analyze_faces(image)
        self.metrics.observe_result(result.faces)
        policy = self.policy_for(opts.threshold, opts.eyeglasses_occlude)
        return self.finish(result, policy, opts.include_map, opts.overlay)

    def analyze_batch(self, items: list[tuple[str | None, bytes]], opts: RequestOptions, deadline: float) -> dict:
        """Every image of a batch; one that fails gives an error record, not a failed batch."""
        out = []
        for name, data in items:
            if time.monotonic() > deadline:
                raise ApiError(
                    504, "timeout", f"the batch did not finish within the timeout ({self.settings.timeout:g} s)"
                )
            try:
                out.append(self.analyze_bytes(data, name, opts))
            except ApiError as exc:
                self.metrics.observe_error(exc.code)
                out.append(
                    {"path": name, "width": 0, "height": 0, "faces": [], "error": exc.message, "error_code": exc.code}
                )
            except Exception as exc:  # noqa: BLE001 - one bad image never fails the batch
                self.metrics.observe_error("internal_error")
                out.append(
                    {
                        "path": name,
                        "width": 0,
                        "height": 0,
                        "faces": [],
                        "error": f"{name}: {type(exc).__name__}: {exc}",
                        "error_code": "internal_error",
                    }
                )
        return {"results": out}

    # -- admission control -----------------------------------------------------------------------------------------
    def precheck(self) -> None:
        """Refuse at once, before reading a body, when the service is already full."""
        if self.in_flight >= self.settings.max_concurrency:
            raise self._overloaded()

    def _overloaded(self) -> ApiError:
        return ApiError(
            429,
            "overloaded",
            f"{self.in_flight} requests in flight (limit {self.settings.max_concurrency}); retry shortly",
            headers={"Retry-After": "1"},
        )

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
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"analysis took longer than the timeout ({self.settings.timeout:g} s)"
            ) from None

    def _release(self, fut) -> None:
        with self._lock:
            self.in_flight -= 1
        if fut is not None and not fut.cancelled():
            fut.exception()  # retrieved, so that abandoned failures are not logged as unhandled


# -- FastAPI dependencies ----------------------------------------------------------------------------------------------


def get_service(request: Request) -> Service:
    """The app's service (``create_app`` puts it in ``app.state``)."""
    return request.app.state.service


def authorised(request: Request) -> bool:
    """The request carries the configured API key (``X-API-Key`` or a Bearer token); True when none is configured."""
    key = get_service(request).settings.api_key
    if key is None:
        return True
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


async def require_api_key(request: Request) -> None:
    """401 unless the request is :func:`authorised`."""
    if not authorised(request):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
