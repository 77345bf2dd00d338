"""One video job's work, run by the job worker thread: check the video, then analyse its frames one record each.

Only self-contained containers are opened, recognised from their first bytes (not their name), and FFmpeg is told
to use that container's demuxer and the ``file`` protocol only: a playlist (HLS ``.m3u8``), a concat script, an SDP
file or a DASH manifest could otherwise make the decoder read other local files or URLs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ..io import InputError, VideoReader
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


#: the self-contained containers accepted: (FFmpeg demuxer, what it is)
CONTAINERS = {
    "mov": "MP4/MOV",
    "matroska": "Matroska/WebM",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS",
    "flv": "FLV",
    "ogg": "Ogg",
    "asf": "ASF/WMV",
}
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_CAPTURE_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_env_lock = threading.Lock()


def sniff_container(head: bytes) -> str | None:
    """The FFmpeg demuxer of a self-contained container recognised from a file's first 1 KiB; None otherwise."""
    if head[4:8] in _ISO_BOXES:
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "avi"
    if len(head) >= 377 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    if len(head) >= 389 and head[4] == head[196] == head[388] == 0x47:
        return "mpegts"  # M2TS: 192-byte packets
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg"
    if head[:4] == b"FLV\x01":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:16] == _ASF:
        return "asf"
    return None


def check_container(path: Path, source: str) -> str:
    """The demuxer for the video at ``path``; 422 when its bytes are not a self-contained container."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise ApiError(422, "unreadable_video", f"{source}: cannot be read ({exc.strerror})") from None
    fmt = sniff_container(head)
    if fmt is None:
        raise ApiError(
            422,
            "unreadable_video",
            f"{source}: not a self-contained video container ({', '.join(CONTAINERS.values())} are accepted; "
            "playlists, manifests and other text formats are not)",
        )
    return fmt


@contextmanager
def ffmpeg_file_only(fmt: str) -> Iterator[None]:
    """While opening a capture: FFmpeg may use the ``file`` protocol and the ``fmt`` demuxer only."""
    with _env_lock:
        before = os.environ.get(_CAPTURE_ENV)
        os.environ[_CAPTURE_ENV] = f"protocol_whitelist;file|input_format;{fmt}"
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(_CAPTURE_ENV, None)
            else:
                os.environ[_CAPTURE_ENV] = before


def open_video(path: Path, source: str, every_n: int, fps: float | None) -> VideoReader:
    """A reader of a checked container, opened under :func:`ffmpeg_file_only`; 422 when it cannot be opened."""
    fmt = check_container(path, source)
    reader = VideoReader(path, every_n=every_n, fps=fps)
    try:
        with ffmpeg_file_only(fmt):
            reader.open()
    except InputError:
        raise ApiError(422, "unreadable_video", f"{source}: not a readable video") from None
    return reader


def run_video_job(service: JobHost, job: Job, emit: Callable[[dict], None]) -> None:
    """Analyse ``job``'s video, ``emit`` one record per analysed frame; stops early when the job is cancelled."""
    opts = job.options
    reader = open_video(job.video_path, job.source, every_n=opts.get("every_n") or 1, fps=opts.get("fps"))
    info = reader.open()
    w, h = info.width, info.height
    if w * h > service.settings.max_pixels:
        raise ApiError(
            413,
            "image_too_large",
            f"{job.source}: frames too large ({w}x{h}; limit {service.settings.max_pixels} pixels)",
        )
    job.frames_total = info.frames_to_read
    policy = service.policy_for(opts.get("threshold"), opts.get("eyeglasses_occlude"))
    analyzer = service.analyzer
    try:
        for frame in reader:
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
