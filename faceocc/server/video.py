"""One video job's work, run by the job worker thread: check the video, then analyse its frames one record each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..io import InputError, iter_video
from ..pipeline import Analyzer
from ..policy import PolicyOptions
from ..schema import ImageResult
from .errors import ApiError
from .jobs import Job
from .metrics import Metrics
from .settings import ServerSettings


class JobHost(Protocol):
    """What a video job uses of the service (:class:`faceocc.server.service.Service`)."""

    settings: ServerSettings
    analyzer: Analyzer
    metrics: Metrics

    def policy_for(self, threshold: float | None, eyeglasses_occlude: bool | None) -> PolicyOptions: ...

    def finish(self, result: ImageResult, policy: PolicyOptions, include_map: bool, overlay: bool) -> dict: ...


def probe_video(path: Path, source: str) -> tuple[int, int, int, float]:
    """(width, height, frame count, frames per second) from the container; 0 where it does not say."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ApiError(422, "unreadable_video", f"{source}: not a readable video")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return w, h, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), cap.get(cv2.CAP_PROP_FPS) or 0.0
    finally:
        cap.release()


def frame_step(options: dict, native_fps: float) -> int:
    """Analyse every n-th frame: ``every_n``, or the step that gives about ``fps`` frames per second."""
    step = max(1, int(options.get("every_n") or 1))
    if options.get("fps") and native_fps > 0:
        step = max(1, round(native_fps / options["fps"]))
    return step


def run_video_job(service: JobHost, job: Job, emit: Callable[[dict], None]) -> None:
    """Analyse ``job``'s video, ``emit`` one record per analysed frame; stops early when the job is cancelled."""
    opts = job.options
    w, h, count, native = probe_video(job.video_path, job.source)
    if w * h > service.settings.max_pixels:
        raise ApiError(
            413,
            "image_too_large",
            f"{job.source}: frames too large ({w}x{h}; limit {service.settings.max_pixels} pixels)",
        )
    step = frame_step(opts, native)
    job.frames_total = (count + step - 1) // step if count > 0 else None
    policy = service.policy_for(opts.get("threshold"), opts.get("eyeglasses_occlude"))
    analyzer = service.analyzer
    try:
        for frame in iter_video(job.video_path, every_n=opts.get("every_n") or 1, fps=opts.get("fps")):
            if job.cancel.is_set():
                return
            width, height = int(frame.image.shape[1]), int(frame.image.shape[0])
            result = ImageResult(
                path=job.source,
                width=width,
                height=height,
                frame=frame.index,
                time_s=frame.time_s,
                min_face_px=analyzer.min_face_px(width, height),
            )
            result.faces = analyzer.analyze_faces(frame.image)
            service.metrics.observe_result(result.faces, video=True)
            emit(service.finish(result, policy, bool(opts.get("include_map")), False))
            job.frames_done += 1
            job.faces += len(result.faces)
    except InputError as exc:
        raise ApiError(422, "unreadable_video", str(exc).replace(str(job.video_path), job.source)) from None
