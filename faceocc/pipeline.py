"""The analyzer: decode -> detect -> align -> classify -> policy, for images, batches and videos.

>>> from faceocc import Analyzer
>>> analyzer = Analyzer()                       # shipped detector and model
>>> result = analyzer.analyze("photo.jpg")      # ImageResult; .faces is a list of FaceResult
>>> result.faces[0].occluded, result.faces[0].advice
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .alignment import CROP_SIZE, crop_validity, estimate_transform, part_fractions, warp_crop
from .detection import Detection, DetectorOptions, FaceDetector
from .io import ImageLimits, InputError, decode, load_image, read_encoded, read_header, shown
from .measurement import FaceMeasurement, ModelScores
from .model import OcclusionModel
from .policy import PolicyOptions, decide, not_assessable_reason
from .runtime import device_name
from .schema import FaceResult, ImageResult, error_result
from .video import VideoOptions, VideoRun

#: JPEGs of at least this many pixels are decoded at 1/2, 1/4 or 1/8 of their size when the detector's finest pass
#: needs no more; smaller ones are decoded in full, as before.
REDUCED_DECODE_PIXELS = 4_000_000
#: A face is aligned from the reduced copy when the aligned crop would enlarge it at most this much (1.5: faces from
#: about 48 px in the reduced copy, 96 px in a photo decoded at 1/2); otherwise the full-resolution photo is decoded
#: (once per photo) and the face is aligned from it.
ALIGN_MAX_ZOOM = 1.5


@dataclass
class AnalyzerOptions:
    """Everything that configures an :class:`Analyzer`.

    model: path of a faceocc ONNX model (None: the shipped default).
    threads: onnxruntime threads per model (0: onnxruntime's default, all cores).
    keep_crops: keep each face's aligned crop in ``FaceResult.crop``.
    keep_maps: keep each face's occlusion map in ``FaceResult.occlusion_map``.
    keep_images: keep the decoded image in ``ImageResult.image`` (for drawing).
    device: where the networks run: ``auto`` (CUDA when onnxruntime offers it, else the CPU), ``cpu`` or ``cuda``
        (see :func:`faceocc.runtime.choose_providers`).
    limits: what an image file may cost, checked before decoding (:class:`faceocc.io.ImageLimits`: pixels from the
        header, a JPEG's scans, the file's bytes).
    """

    model: str | None = None
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    threads: int = 0
    keep_crops: bool = False
    keep_maps: bool = False
    keep_images: bool = False
    device: str = "auto"
    limits: ImageLimits = field(default_factory=ImageLimits)


class Analyzer:
    """Occlusion analysis of every face in an image. Build once, call many times; safe to share between threads
    (nothing is written on a call: options are never changed and timings come back in each result).

    >>> with Analyzer() as analyzer:
    ...     result = analyzer.analyze("photo.jpg")
    """

    def __init__(self, options: AnalyzerOptions | None = None, **overrides):
        options = options or AnalyzerOptions()
        unknown = [k for k in overrides if not hasattr(options, k)]
        if unknown:
            raise TypeError(f"unknown Analyzer option {unknown[0]!r}")
        options = replace(options, **overrides)
        if options.threads and not options.detector.threads:
            options = replace(options, detector=replace(options.detector, threads=options.threads))
        self.options = options
        self.detector = FaceDetector(options.detector, device=options.device)
        self.model = OcclusionModel(options.model, threads=options.threads, device=options.device)

    def close(self) -> None:
        """Release the onnxruntime sessions (the analyzer cannot be used afterwards)."""
        self.detector.close()
        self.model.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- single images -------------------------------------------------------------------------
    def analyze(self, source, path: str | None = None, raise_errors: bool = True) -> ImageResult:
        """Analyze one image: a path, encoded bytes, a PIL image or an RGB array.

        Unreadable inputs raise :class:`faceocc.io.InputError`, or, with
        ``raise_errors=False``, give an ImageResult whose ``error`` says what is wrong.
        An image without faces is not an error: ``faces`` is empty.
        ``result.timings`` holds the seconds spent decoding, detecting, aligning and classifying.
        """
        if path is None and isinstance(source, (str, Path)):
            path = str(source)
        try:
            return self._analyze(source, path)
        except InputError as exc:
            if raise_errors:
                raise
            return error_result(path, str(exc))

    def _analyze(self, source, path: str | None) -> ImageResult:
        """:meth:`analyze`; whatever goes wrong with the input (OpenCV's or numpy's errors, memory) is an
        :class:`InputError` naming it."""
        t0 = time.perf_counter()
        try:
            photo = self._load(source)
            photo.timings["decode"] = time.perf_counter() - t0
            width, height = photo.size
            result = ImageResult(path=path, width=width, height=height, min_face_px=self.min_face_px(width, height))
            result.warnings = list(photo.notes)
            result.faces = self._faces(photo)
            result.timings = photo.timings
            if self.options.keep_images:
                result.image = photo.full()
            return result
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - named and said in words; the cause stays chained
            raise InputError(f"{_name(source, path)}: {_plain_words(exc)}") from exc

    def min_face_px(self, width: int, height: int) -> float:
        """The smallest face (shorter box side, photo pixels) the detector finds in a ``width`` x ``height`` photo."""
        return self.detector.plan(width, height).min_face_px

    def _load(self, source) -> _Photo:
        """Decode for detection: a big JPEG at 1/2, 1/4 or 1/8 when the detector's finest pass needs no more."""
        limits = self.options.limits
        encoded = None if isinstance(source, np.ndarray) else read_encoded(source, limits.max_file_bytes)
        if encoded is None:
            return _Photo(load_image(source, limits))
        header = read_header(*encoded, limits.max_pixels)
        size = header.upright_size
        if header.format == "JPEG" and size[0] * size[1] >= REDUCED_DECODE_PIXELS:
            reduce = _reduction(self.detector.plan(*size).scales[0])
            if reduce > 1:
                decoded = decode(*encoded, reduce=reduce, limits=limits, header=header)
                got = (int(decoded.image.shape[1]), int(decoded.image.shape[0]))
                if got == (math.ceil(size[0] / reduce), math.ceil(size[1] / reduce)):
                    return _Photo(decoded.image, size, 1.0 / reduce, encoded, decoded.notes, limits)
                if got == size:  # the decoder could not reduce it
                    return _Photo(decoded.image, notes=decoded.notes)
        decoded = decode(*encoded, limits=limits, header=header)
        return _Photo(decoded.image, notes=decoded.notes)

    def analyze_faces(self, image: np.ndarray, detections: list[Detection] | None = None) -> list[FaceResult]:
        """Every face of an RGB array: detected here, or the given ``detections`` (photo pixels) when there are."""
        return self._faces(_Photo(image), detections)

    def crops(self, image: np.ndarray, detections: list[Detection], size: int = CROP_SIZE) -> list[np.ndarray]:
        """The aligned crops (``size`` x ``size`` RGB) of the given detections, as the model sees them."""
        return [warp_crop(image, estimate_transform(d.landmarks, size), size) for d in detections]

    def measure(self, image: np.ndarray, detections: list[Detection]) -> list[FaceMeasurement]:
        """Align and classify the given faces of an RGB array: one measurement each (faces too small or too uncertain
        to assess are not classified). :func:`faceocc.policy.decide` turns a measurement into verdicts."""
        return self._measure(_Photo(image), detections)[0]

    def _measure(
        self, photo: _Photo, detections: list[Detection]
    ) -> tuple[list[FaceMeasurement], list[np.ndarray | None]]:
        """The measurements of the detected faces of a photo, and their aligned crops (None where not classified)."""
        t = time.perf_counter()
        decoded = photo.timings.get("decode", 0.0)
        todo: list[int] = []
        crops: list[np.ndarray] = []
        geometry: dict[int, np.ndarray] = {}
        for i, det in enumerate(detections):
            if not_assessable_reason(_bare(det), self.options.policy) is not None:
                continue
            pixels, points = photo.crop_source(det.landmarks)
            matrix = estimate_transform(points, CROP_SIZE)  # the model resizes the canonical crop to its input
            crops.append(warp_crop(pixels, matrix, CROP_SIZE))
            geometry[i] = crop_validity(pixels.shape, matrix, CROP_SIZE)
            todo.append(i)
        # a full-resolution decode needed by the crops counts as decoding, not aligning
        photo.timings["align"] = time.perf_counter() - t - (photo.timings.get("decode", 0.0) - decoded)
        t = time.perf_counter()
        # the mirror look (faces near the threshold looked at twice) centres on the threshold in force
        threshold = self.options.policy.threshold(self.model.threshold)
        out = self.model.predict(np.stack(crops), threshold=threshold) if crops else None
        photo.timings["classify"] = time.perf_counter() - t
        rows = {i: j for j, i in enumerate(todo)}
        measured: list[FaceMeasurement] = []
        kept: list[np.ndarray | None] = []
        for i, det in enumerate(detections):
            scores: ModelScores | None = None
            outside: np.ndarray | None = None
            cut: dict[str, float] = {}
            if out is not None and i in rows:  # out is None only when no face was classified
                j = rows[i]
                scores = ModelScores.from_arrays(
                    out.occluded[j], out.occluders[j], out.parts[j], out.coverage[j], out.occlusion_map[j]
                )
                outside = _outside_image(geometry[i], out.occlusion_map.shape[1])
                cut = part_fractions(outside) if outside is not None else {}
            measured.append(
                FaceMeasurement(
                    box=_box(det),
                    det_score=float(det.score),
                    landmarks=np.asarray(det.landmarks, np.float32),
                    transform=estimate_transform(det.landmarks, CROP_SIZE),
                    scores=scores,
                    outside=outside,
                    border_cut=cut,
                )
            )
            kept.append(crops[rows[i]] if i in rows else None)
        return measured, kept

    def _faces(self, photo: _Photo, detections: list[Detection] | None = None) -> list[FaceResult]:
        if detections is None:
            t = time.perf_counter()
            detections = self.detector.detect(photo.image, photo.size, photo.scale)
            photo.timings["detect"] = time.perf_counter() - t
        else:
            photo.timings["detect"] = 0.0
        faces = []
        for m, crop in zip(*self._measure(photo, detections)):
            face = decide(m, self.options.policy, self.model.threshold)
            if not self.options.keep_maps:
                face.occlusion_map = None
            if self.options.keep_crops:
                face.crop = crop
            faces.append(face)
        return faces

    # -- many images -----------------------------------------------------------------------------
    def analyze_many(self, sources: Iterable) -> Iterator[ImageResult]:
        """Analyze several images; a bad one gives an error record and the rest go on."""
        for source in sources:
            path = str(source) if isinstance(source, (str, Path)) else None
            try:
                yield self.analyze(source, path=path, raise_errors=False)
            except Exception as exc:  # noqa: BLE001 - one bad input never stops a batch
                yield error_result(path, f"{path or 'input'}: {type(exc).__name__}: {exc}")

    def __call__(self, source):
        """``analyzer(x)``: one ImageResult, or a list of them for a list of inputs."""
        if isinstance(source, (list, tuple)):
            return list(self.analyze_many(source))
        return self.analyze(source)

    # -- video -----------------------------------------------------------------------------------------------
    def analyze_video(
        self, source, every_n: int = 1, fps: float | None = None, options: VideoOptions | None = None, **overrides
    ) -> VideoRun:
        """Analyze a video file, a camera (``0``, ``"camera:0"``) or a stream URL (``rtsp://...``): iterate the
        returned :class:`faceocc.video.VideoRun` for one record per analysed frame (every ``every_n``-th, or about
        ``fps`` per second; records carry frame, time and each face's ``track_id``), then call its ``summary()`` for
        the tracks. ``options`` (:class:`faceocc.video.VideoOptions`), or its fields as keywords (``detect_every=1``),
        say how faces are tracked. An unreadable video raises :class:`faceocc.io.InputError` when it is read."""
        options = replace(options or VideoOptions(), **overrides)
        return VideoRun(self, source, every_n=every_n, fps=fps, options=options)

    def measure_frame(
        self, image: np.ndarray, detections: list[Detection], timings: dict | None = None
    ) -> tuple[list[FaceMeasurement], list[np.ndarray | None]]:
        """:meth:`measure` and the aligned crops (None where a face was not classified); the seconds spent aligning
        and classifying are added to ``timings``."""
        photo = _Photo(image)
        measured = self._measure(photo, detections)
        if timings is not None:
            timings.update(photo.timings)
        return measured

    @property
    def device(self) -> str:
        """Where the occlusion model runs: ``cuda`` or ``cpu``."""
        return device_name(self.model.session.get_providers())


class _Photo:
    """The pixels of one photo under analysis: the decoded image, or a reduced copy of it (``scale`` < 1: a JPEG
    decoded at 1/2, 1/4 or 1/8) whose full-resolution pixels are decoded only when a face needs them."""

    def __init__(
        self,
        image: np.ndarray,
        size: tuple[int, int] | None = None,
        scale: float = 1.0,
        encoded: tuple[bytes, str] | None = None,
        notes: list[str] | None = None,
        limits: ImageLimits | None = None,
    ):
        self.image, self.scale, self.encoded, self.limits = image, scale, encoded, limits
        self.notes = notes or []
        self.size = size or (int(image.shape[1]), int(image.shape[0]))
        self.timings: dict[str, float] = {}
        self._full = image if scale == 1.0 else None

    def full(self) -> np.ndarray:
        if self._full is None:
            if self.encoded is None:  # only a reduced decode (scale < 1) leaves the full pixels undecoded
                raise ValueError("a reduced photo needs its encoded bytes to decode the full-resolution pixels")
            t = time.perf_counter()
            self._full = decode(*self.encoded, limits=self.limits).image
            self.timings["decode"] = self.timings.get("decode", 0.0) + time.perf_counter() - t
        return self._full

    def crop_source(self, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pixels to align a face from, and its landmarks in them: the reduced copy when the aligned crop
        enlarges the face there at most ``ALIGN_MAX_ZOOM`` times, else the full-resolution photo."""
        if self._full is None:
            small = (landmarks + 0.5) * self.scale - 0.5  # pixel centres of the reduced grid
            zoom = math.sqrt(abs(float(np.linalg.det(estimate_transform(small, CROP_SIZE)[:, :2]))))
            if zoom <= ALIGN_MAX_ZOOM:
                return self.image, small.astype(np.float32)
        return self.full(), landmarks


def _name(source, path: str | None) -> str:
    """How an input is named in a message."""
    if path is not None:
        return shown(path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return "image array" if isinstance(source, np.ndarray) else type(source).__name__


def _plain_words(exc: Exception) -> str:
    """What an unexpected failure on an input means, without OpenCV's or numpy's raw text."""
    if isinstance(exc, MemoryError) or "Insufficient memory" in str(exc) or "Failed to allocate" in str(exc):
        return "not enough memory to analyse this image"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if type(exc).__name__ == "error":  # cv2.error
        return "OpenCV cannot process this image (corrupt, or an unusual size or pixel layout)"
    return f"cannot be analysed ({type(exc).__name__})"


def _reduction(scale: float) -> int:
    """The largest JPEG reduction (8, 4, 2; 1: none) that still leaves at least ``scale`` of the photo's pixels."""
    for k in (8, 4, 2):
        if scale * k <= 1.0 + 1e-9:
            return k
    return 1


def _bare(det: Detection) -> FaceMeasurement:
    """A detection as a measurement without model outputs (to ask the policy whether it can be assessed)."""
    return FaceMeasurement(box=_box(det), det_score=float(det.score), landmarks=det.landmarks)


def _box(det: Detection) -> tuple[float, float, float, float]:
    """A detection's box (x1, y1, x2, y2, photo pixels) as four floats."""
    x1, y1, x2, y2 = (float(v) for v in det.box)
    return x1, y1, x2, y2


def _outside_image(valid: np.ndarray, map_size: int) -> np.ndarray | None:
    """Map of crop cells that lie outside the photo (None when the whole crop is inside)."""
    if valid is None or valid.min() > 0.99:
        return None
    import cv2

    return 1.0 - cv2.resize(valid, (map_size, map_size), interpolation=cv2.INTER_AREA)


__all__ = ["Analyzer", "AnalyzerOptions", "CROP_SIZE"]
