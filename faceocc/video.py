"""Videos analysed as videos: faces tracked across frames, their scores smoothed along each track, a summary per track.

:meth:`faceocc.Analyzer.analyze_video` gives a :class:`VideoRun`: iterate it for one
:class:`~faceocc.schema.ImageResult` per analysed frame (each face with its ``track_id``), then ask it for the
per-track summaries.

How a frame is analysed:

1. The detector runs every ``detect_every`` analysed frames (the first one included), and on any frame where the
   optical flow loses a face. In between, each face of the previous frame is carried to this one by optical flow
   (:class:`faceocc.flow.LandmarkFlow`: its landmarks and box move with the face), and is aligned and classified on
   the carried landmarks: every frame gets its result.
2. On a detector run, :class:`faceocc.tracking.Tracker` gives each detection a track (matching the detections with
   the tracks' positions carried to this frame). A face the detector misses but the flow still follows (an occluded
   face the detector misses for a moment) stays until ``max_missed`` runs in a row have missed it.
3. The model's outputs are smoothed along the track (:func:`faceocc.tracking.smooth_scores`) and the face's verdict is
   :func:`faceocc.policy.decide` on the frame's measurement carrying the smoothed outputs.

4. While one frame is classified (the occlusion model in a worker thread), the next one is located: the two steps
   overlap (``overlap``), and the decoding overlaps both (``prefetch``). Results still come in frame order.
5. With no face in view, the detector's fallback (:attr:`faceocc.detection.DetectorOptions.fallback`, a second
   network for masked faces) runs on every ``fallback_every``-th detector run only: on a face-free frame it costs
   about 4 times the detector itself. Where a face is tracked and the detector misses it, the fallback always runs.
6. A live source (a camera, a stream URL that is not a video file) that stops delivering frames is opened again, up
   to ``reconnect`` times in a row; the first record after a reconnection says so in its ``warnings``, and a source
   that cannot be reopened ends with an :class:`faceocc.io.InputError` naming it.

>>> run = analyzer.analyze_video("clip.mp4")
>>> for result in run: ...
>>> run.summary()["tracks"]
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .detection import Detection
from .files import VIDEO_EXTENSIONS
from .flow import LandmarkFlow
from .io import InputError, VideoInfo, VideoReader, shown
from .measurement import FaceMeasurement
from .policy import decide
from .schema import FaceResult, ImageResult
from .tracking import (
    DEFAULT_IOU,
    DEFAULT_MAX_MISSED,
    DEFAULT_SMOOTH,
    Track,
    Tracker,
    TrackSummary,
    box_iou,
    smooth_scores,
)

#: the detector runs on every DEFAULT_DETECT_EVERY-th analysed frame by default (and wherever the flow loses a face):
#: at 30 frames per second a face that comes into view is found within a third of a second, and the detector, the
#: costliest step, runs on a tenth of the frames
DEFAULT_DETECT_EVERY = 10
#: frames decoded ahead of the analysis in a background thread
DEFAULT_PREFETCH = 4
#: with no face in view, the detector's fallback runs on every DEFAULT_FALLBACK_EVERY-th detector run: a masked face
#: the detector alone misses is found within a second at 30 frames per second (detect_every 10)
DEFAULT_FALLBACK_EVERY = 3
#: a live source that stops delivering frames is opened again up to this many times in a row
DEFAULT_RECONNECT = 3
#: the detector runs early when this share of a coarse grey copy of the frame (every 16th pixel)
#: changed by more than ENTRY_LEVELS grey levels since the last detector run, away from the people in view: a person
#: coming into view ...
ENTRY_SHARE, ENTRY_LEVELS = 0.005, 25
#: ... but not within this many frames of the last run (a camera that pans costs the detector every few frames only)
ENTRY_GAP = 3
_COARSE = 16  # the change test looks at every 16th pixel


@dataclass(frozen=True)
class VideoOptions:
    """How a video is analysed.

    detect_every: run the detector on every N-th analysed frame (1: on every frame, no optical flow); faces are
        carried by optical flow in between, and the detector also runs where the flow loses a face.
    smooth: weight of the newest frame in the moving average of a track's scores (1: no smoothing).
    max_missed: a track ends after this many detector runs in a row that miss its face.
    iou_threshold: a detection continues a track whose box it overlaps this much (or whose landmarks are close).
    prefetch: frames decoded ahead in a background thread (0: decode in the analysing thread).
    overlap: classify a frame in a worker thread while the next one is located (False: one frame at a time).
    fallback_every: with no face tracked, the detector's fallback runs on every N-th detector run (1: on every run).
    early_entry: the detector also runs as soon as the picture changes (``ENTRY_SHARE``) away from the faces in view
        and the people below them, at most every ``ENTRY_GAP`` frames: a face coming into view, empty or not, is
        found within ``ENTRY_GAP`` frames, not ``detect_every`` - 1.
    reconnect: a camera or live stream that stops delivering frames is opened again up to this many times in a row
        (0: never); ``reconnect_wait_s`` seconds pass before the first attempt, twice as many before the next...
    """

    detect_every: int = DEFAULT_DETECT_EVERY
    smooth: float = DEFAULT_SMOOTH
    max_missed: int = DEFAULT_MAX_MISSED
    iou_threshold: float = DEFAULT_IOU
    prefetch: int = DEFAULT_PREFETCH
    overlap: bool = True
    fallback_every: int = DEFAULT_FALLBACK_EVERY
    early_entry: bool = True
    reconnect: int = DEFAULT_RECONNECT
    reconnect_wait_s: float = 1.0

    def __post_init__(self):
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {self.detect_every}")
        if not 0.0 < self.smooth <= 1.0:
            raise ValueError(f"smooth must be within (0, 1], got {self.smooth}")
        if self.max_missed < 1:
            raise ValueError(f"max_missed must be at least 1, got {self.max_missed}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be within (0, 1], got {self.iou_threshold}")
        if self.prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {self.prefetch}")
        if self.fallback_every < 1:
            raise ValueError(f"fallback_every must be at least 1, got {self.fallback_every}")
        if self.reconnect < 0 or self.reconnect_wait_s < 0:
            raise ValueError(f"reconnect, reconnect_wait_s must be >= 0: {self.reconnect}, {self.reconnect_wait_s}")


@dataclass
class _Frame:
    """A frame of the source (RGB), and what the record of its analysis should warn about."""

    index: int
    time_s: float | None
    image: np.ndarray
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Located:
    """A frame whose faces are located (each with its track), waiting to be measured and decided."""

    image: np.ndarray
    index: int
    time_s: float | None
    placed: list[tuple[Track, Detection]]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)


class VideoRun:
    """One video (a file, a camera or a stream URL) being analysed; iterate it once for the frames' results.

    ``analyzer`` is a :class:`faceocc.Analyzer` (its detector, its ``measure_frame``, its policy and model threshold).
    """

    def __init__(
        self, analyzer, source, every_n: int = 1, fps: float | None = None, options: VideoOptions | None = None
    ):
        self.analyzer = analyzer
        self.options = options or VideoOptions()
        self.reader = VideoReader(source, every_n=every_n, fps=fps, prefetch=self.options.prefetch)
        self.path = self.reader.name
        self.tracker = Tracker(self.options.max_missed, self.options.iou_threshold)
        self.flow = LandmarkFlow() if self.options.detect_every > 1 else None
        self.tracks: dict[int, TrackSummary] = {}
        self.frames = 0  # frames analysed so far
        self.detector_runs = 0
        self.fallback_runs = 0  # detector runs that allowed the fallback
        self.reconnects = 0  # times a live source was opened again
        self._since_detect: int | None = None
        self._empty_runs = 0  # detector runs in a row with no face in view
        self._seen: np.ndarray | None = None  # a coarse grey copy of the last detector run's frame
        self._live: list[Track] = []  # the tracks of the last frame's result
        self._min_face: dict[tuple[int, int], float] = {}
        self._readers = [self.reader]

    @property
    def info(self) -> VideoInfo:
        """What is known of the video before reading it (opens it; :class:`faceocc.io.InputError` if it cannot)."""
        return self.reader.open()

    def __iter__(self) -> Iterator[ImageResult]:
        frames = self._frames()
        if not self.options.overlap:
            for frame in frames:
                yield self._finish(self._start(frame))
            return
        with ThreadPoolExecutor(1, thread_name_prefix="faceocc-video-classify") as pool:
            pending: deque[Future[ImageResult]] = deque()
            try:
                try:
                    for frame in frames:
                        # this frame is located while the one before is classified in the worker
                        pending.append(pool.submit(self._finish, self._start(frame)))
                        if len(pending) > 1:
                            yield pending.popleft().result()
                except InputError:  # a source that fails: the frames it gave are recorded first
                    while pending:
                        yield pending.popleft().result()
                    raise
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        for reader in self._readers:
            reader.close()

    # -- one frame ----------------------------------------------------------------------------------------------------
    def analyze_frame(self, image: np.ndarray, index: int, time_s: float | None) -> ImageResult:
        """The result of the next frame of the video (RGB): its faces located, tracked, measured and decided."""
        return self._finish(self._start(_Frame(index, time_s, image)))

    def _start(self, frame: _Frame) -> _Located:
        """The frame's faces located (in frame order: the flow and the tracker need it)."""
        timings: dict[str, float] = {}
        placed = self._locate(frame.image, timings)
        return _Located(frame.image, frame.index, frame.time_s, placed, timings, frame.warnings)

    def _finish(self, located: _Located) -> ImageResult:
        """The located frame's faces measured and decided (in frame order: the tracks' smoothing needs it)."""
        image, index, time_s, placed = located.image, located.index, located.time_s, located.placed
        height, width = image.shape[:2]
        measured, crops = self.analyzer.measure_frame(image, [d for _, d in placed], located.timings)
        result = ImageResult(
            path=self.path,
            width=width,
            height=height,
            frame=index,
            time_s=time_s,
            min_face_px=self._min_face_px(width, height),
        )
        result.warnings = list(located.warnings)
        result.faces = [
            self._decide(track, m, crop, index, time_s) for (track, _), m, crop in zip(placed, measured, crops)
        ]
        result.timings = located.timings
        if self.analyzer.options.keep_images:
            result.image = image
        self.frames += 1
        return result

    def _locate(self, image: np.ndarray, timings: dict[str, float]) -> list[tuple[Track, Detection]]:
        """The faces of this frame, each with its track: carried by the flow, or found by a detector run."""
        t = time.perf_counter()
        lost: list[Track] = []
        if self.flow is not None:
            self.flow.next_frame(image)
            lost = self.flow.propagate(self._live)
        timings["track"] = time.perf_counter() - t
        since = self._since_detect
        if since is not None and since + 1 < self.options.detect_every and not lost and not self._entered(image, since):
            self._since_detect = since + 1
            return [(track, _as_detection(track, image.shape)) for track in self._live]
        if self.options.early_entry:
            self._seen = _coarse(image)
        t = time.perf_counter()
        # with no face in view the fallback runs on every fallback_every-th run only; with one, on every run
        fallback = bool(self.tracker.tracks) or self._empty_runs % self.options.fallback_every == 0
        detections = self.analyzer.detector.detect(image, fallback=fallback)
        timings["detect"] = time.perf_counter() - t
        self._since_detect, self.detector_runs = 0, self.detector_runs + 1
        self.fallback_runs += fallback
        followed = [track for track in self._live if track not in lost]
        found, missed = self.tracker.update(
            [d.box for d in detections], [d.landmarks for d in detections], [d.score for d in detections]
        )
        self._empty_runs = 0 if self.tracker.tracks else self._empty_runs + 1
        placed = list(zip(found, detections))
        boxes = np.array([d.box for d in detections]).reshape(-1, 4)
        for track in missed:  # missed by the detector, still followed by the flow
            if track in followed and not (len(boxes) and box_iou(track.box[None], boxes).max() >= 0.3):
                placed.append((track, _as_detection(track, image.shape)))
        if self.flow is not None:
            self.flow.seed(found)
        self._live = [track for track, _ in placed]
        return placed

    def _entered(self, image: np.ndarray, since: int) -> bool:
        """The picture changed since the last detector run away from the faces in view and the people below them
        (something came into view)."""
        if not self.options.early_entry or since + 1 < ENTRY_GAP or self._seen is None:
            return False
        coarse = _coarse(image)
        if coarse.shape != self._seen.shape:
            return True
        changed = np.abs(coarse - self._seen) > ENTRY_LEVELS
        away = _away_from_people(changed.shape, [track.box for track in self._live])
        return float(np.count_nonzero(changed & away)) > ENTRY_SHARE * changed.size

    def _decide(self, track: Track, m: FaceMeasurement, crop, index: int, time_s: float | None) -> FaceResult:
        """The verdict of one tracked face: :func:`faceocc.policy.decide` on the measurement with the track's
        smoothed model outputs; counted in the track's summary."""
        raw = m.scores
        if raw is not None:
            track.scores = smooth_scores(track.scores, raw, self.options.smooth)
            m = replace(m, scores=track.scores)
        face = decide(m, self.analyzer.options.policy, self.analyzer.model.threshold)
        face.track_id = track.id
        face.raw_occlusion_score = None if raw is None else raw.occlusion_score
        if not self.analyzer.options.keep_maps:
            face.occlusion_map = None
        if self.analyzer.options.keep_crops:
            face.crop = crop
        summary = self.tracks.get(track.id)
        if summary is None:
            summary = self.tracks[track.id] = TrackSummary(track.id, self.path)
        summary.add(index, time_s, face, None if raw is None else raw.occlusion_score)
        return face

    def _min_face_px(self, width: int, height: int) -> float:
        if (width, height) not in self._min_face:
            self._min_face[width, height] = self.analyzer.min_face_px(width, height)
        return self._min_face[width, height]

    # -- the frames, a live source reopened where it stops ------------------------------------------------------------
    @property
    def live_source(self) -> bool:
        """A camera or a stream URL that is not a video file: one that may stop and be opened again."""
        reader = self.reader
        if reader.camera is not None:
            return True
        name = str(reader.source).split("?")[0].lower()
        return reader.stream and not name.startswith("file:") and not name.endswith(tuple(VIDEO_EXTENSIONS))

    def _frames(self) -> Iterator[_Frame]:
        """The source's frames; a live source that stops delivering them is opened again (``reconnect``)."""
        reader, attempts, note = self.reader, 0, list[str]()
        last: _Frame | None = None
        base_index, base_time, dropped_at = 0, 0.0, 0.0
        while True:
            failure, delivered = "it delivered no frame", False
            try:
                for frame in reader:
                    delivered = True
                    last = _Frame(frame.index + base_index, round(frame.time_s + base_time, 3), frame.image, note)
                    note, attempts = [], 0
                    yield last
            except InputError as exc:
                if last is None:  # the source itself cannot be read: no reconnection
                    raise
                failure = str(exc)
            if last is None or not self.live_source or self.options.reconnect == 0:
                return
            if delivered:  # it stopped after delivering frames
                dropped_at, base_index = time.monotonic(), last.index + reader.open().step
            if attempts >= self.options.reconnect:
                raise InputError(
                    f"{shown(self.path)}: the stream stopped delivering frames after frame {last.index} and could not "
                    f"be reopened ({attempts} attempt(s); the last: {failure})"
                )
            attempts += 1
            note = [
                f"{self.path}: the stream stopped delivering frames after frame {last.index}; reconnected "
                f"(attempt {attempts} of {self.options.reconnect})"
            ]
            time.sleep(self.options.reconnect_wait_s * 2 ** (attempts - 1))
            base_time = float(last.time_s or 0.0) + (time.monotonic() - dropped_at)
            reader = VideoReader(reader.source, reader.every_n, reader.fps, self.options.prefetch)
            self._readers.append(reader)
            self.reconnects += 1

    # -- the summary --------------------------------------------------------------------------------------------------
    def summaries(self) -> list[TrackSummary]:
        """One summary per track seen so far, in the order the tracks started."""
        return [self.tracks[k] for k in sorted(self.tracks)]

    def summary(self) -> dict[str, Any]:
        """The video and its tracks: ``{"path", "frames", "fps", "width", "height", "detector_runs", "reconnects",
        "tracks"}``."""
        info = self.reader.info
        return {
            "path": self.path,
            "frames": self.frames,
            "fps": None if info is None else info.fps,
            "width": None if info is None else info.width,
            "height": None if info is None else info.height,
            "detector_runs": self.detector_runs,
            "reconnects": self.reconnects,
            "tracks": [s.to_dict() for s in self.summaries()],
        }


def _coarse(image: np.ndarray) -> np.ndarray:
    """Every 16th pixel of the frame's green channel (close to its brightness), as signed integers."""
    return image[::_COARSE, ::_COARSE, 1].astype(np.int16)


def _away_from_people(shape: tuple[int, ...], boxes: list[np.ndarray]) -> np.ndarray:
    """Where in a :func:`_coarse` frame a change means something new: not within a face's width beside a tracked
    face, nor in the column below it (the person's own moving head and body)."""
    away = np.ones(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        w, h = x1 - x0, y1 - y0
        left, right = int(max(0, (x0 - w) // _COARSE)), int(max(0, -(-(x1 + w) // _COARSE)))
        away[int(max(0, (y0 - h) // _COARSE)) :, left:right] = False
    return away


def _as_detection(track: Track, shape) -> Detection:
    """A tracked face as a detection of this frame: its carried box (clipped to the frame), landmarks and the score of
    its last detection."""
    height, width = shape[:2]
    box = np.clip(track.box, [0, 0, 0, 0], [width, height, width, height]).astype(np.float32)
    return Detection(box=box, score=float(track.det_score), landmarks=track.landmarks.astype(np.float32))


__all__ = ["DEFAULT_DETECT_EVERY", "VideoOptions", "VideoRun"]
