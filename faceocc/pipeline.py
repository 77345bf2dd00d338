"""The analyzer: decode -> detect -> align -> classify -> policy, for images, batches and videos.

>>> from faceocc import Analyzer
>>> analyzer = Analyzer()                       # shipped detector and model
>>> result = analyzer.analyze("photo.jpg")      # ImageResult; .faces is a list of FaceResult
>>> result.faces[0].occluded, result.faces[0].advice
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .alignment import CROP_SIZE, align_face_with_validity, estimate_transform, part_fractions
from .detection import DetectorOptions, FaceDetector
from .io import InputError, decode_image, iter_video, jpeg_size, load_image, read_encoded
from .model import OcclusionModel
from .policy import BORDER_PARTS, PolicyOptions, apply_policy, assess_size, border_occludes
from .results import FaceResult, ImageResult


#: JPEGs of at least this many pixels are decoded at 1/2, 1/4 or 1/8 of their size when the detector's finest pass
#: needs no more; smaller ones are decoded in full, as before.
REDUCED_DECODE_PIXELS = 4_000_000
#: A face is aligned from the reduced copy when the aligned crop would enlarge it at most this much; otherwise the
#: full-resolution photo is decoded (once per photo) and the face is aligned from it.
ALIGN_MAX_ZOOM = 1.0


@dataclass
class AnalyzerOptions:
    """Everything that configures an :class:`Analyzer`.

    model: path of a faceocc ONNX model (None: the shipped default).
    threads: onnxruntime threads per model (0: onnxruntime's default, all cores).
    keep_crops: keep each face's aligned crop in ``FaceResult.crop``.
    keep_maps: keep each face's occlusion map in ``FaceResult.occlusion_map``.
    keep_images: keep the decoded image in ``ImageResult.image`` (for drawing).
    """

    model: str | None = None
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    threads: int = 0
    keep_crops: bool = False
    keep_maps: bool = False
    keep_images: bool = False


class Analyzer:
    """Occlusion analysis of every face in an image. Build once, call many times (thread-safe for reading)."""

    def __init__(self, options: AnalyzerOptions | None = None, **overrides):
        self.options = options or AnalyzerOptions()
        for key, value in overrides.items():
            if not hasattr(self.options, key):
                raise TypeError(f"unknown Analyzer option {key!r}")
            setattr(self.options, key, value)
        if self.options.threads and not self.options.detector.threads:
            self.options.detector.threads = self.options.threads
        self.detector = FaceDetector(self.options.detector)
        self.model = OcclusionModel(self.options.model, threads=self.options.threads)
        self.timings: dict[str, float] = {}

    # -- single images -------------------------------------------------------------------------
    def analyze(self, source, path: str | None = None, raise_errors: bool = True) -> ImageResult:
        """Analyze one image: a path, encoded bytes, a PIL image or an RGB array.

        Unreadable inputs raise :class:`faceocc.io.InputError`, or, with
        ``raise_errors=False``, give an ImageResult whose ``error`` says what is wrong.
        An image without faces is not an error: ``faces`` is empty.
        """
        if path is None and isinstance(source, (str, Path)):
            path = str(source)
        t0 = time.perf_counter()
        try:
            photo = self._load(source)
        except InputError as exc:
            if raise_errors:
                raise
            return ImageResult(path=path, width=0, height=0, error=str(exc))
        self.timings = {"decode": time.perf_counter() - t0}
        photo.timings = self.timings
        width, height = photo.size
        result = ImageResult(path=path, width=width, height=height, min_face_px=self.min_face_px(width, height))
        result.faces = self._faces(photo)
        if self.options.keep_images:
            result.image = photo.full()
        return result

    def min_face_px(self, width: int, height: int) -> float:
        """The smallest face (shorter box side, photo pixels) the detector finds in a ``width`` x ``height`` photo."""
        return self.detector.plan(width, height).min_face_px

    def _load(self, source) -> "_Photo":
        """Decode for detection: a big JPEG at 1/2, 1/4 or 1/8 when the detector's finest pass needs no more."""
        encoded = None if isinstance(source, np.ndarray) else read_encoded(source)
        if encoded is None:
            return _Photo(load_image(source))
        size = jpeg_size(encoded[0])
        if size and size[0] * size[1] >= REDUCED_DECODE_PIXELS:
            reduce = _reduction(self.detector.plan(*size).scales[0])
            if reduce > 1:
                image = decode_image(*encoded, reduce=reduce)
                got = (int(image.shape[1]), int(image.shape[0]))
                if got == (math.ceil(size[0] / reduce), math.ceil(size[1] / reduce)):
                    return _Photo(image, size, 1.0 / reduce, encoded)
                if got == size:  # the decoder could not reduce it
                    return _Photo(image)
        return _Photo(decode_image(*encoded))

    def analyze_faces(self, image: np.ndarray) -> list[FaceResult]:
        """Detect, align and classify every face of an RGB array."""
        return self._faces(_Photo(image))

    def _faces(self, photo: "_Photo") -> list[FaceResult]:
        t = time.perf_counter()
        detections = self.detector.detect(photo.image, photo.size, photo.scale)
        self.timings["detect"] = time.perf_counter() - t
        t, decoded = time.perf_counter(), self.timings.get("decode", 0.0)
        faces, crops, valids = [], [], []
        for det in detections:
            face = FaceResult(box=[float(v) for v in det.box], det_score=det.score,
                              landmarks=[[float(x), float(y)] for x, y in det.landmarks])
            faces.append(face)
            if assess_size(face, det.size, self.options.policy):
                pixels, points = photo.crop_source(det.landmarks)
                crop, valid = align_face_with_validity(pixels, points, CROP_SIZE)  # the model resizes to its input
                crops.append(crop)
                valids.append(valid)
            else:
                crops.append(None)
                valids.append(None)
        # a full-resolution decode needed by the crops counts as decoding, not aligning
        self.timings["align"] = time.perf_counter() - t - (self.timings.get("decode", 0.0) - decoded)
        t = time.perf_counter()
        todo = [i for i, c in enumerate(crops) if c is not None]
        if todo:
            out = self.model.predict(np.stack([crops[i] for i in todo]))
            for j, i in enumerate(todo):
                self._fill(faces[i], out, j, crops[i], valids[i])
        self.timings["classify"] = time.perf_counter() - t
        return faces

    def _fill(self, face: FaceResult, out, j: int, crop: np.ndarray, valid: np.ndarray) -> None:
        row = out.row(j)
        face.occlusion_score = row["occlusion_score"]
        face.occluders = row["occluders"]
        face.parts = row["parts"]
        face.coverage = row["coverage"]
        occ_map = out.occlusion_map[j]
        outside = _outside_image(valid, occ_map.shape[0])
        if outside is not None:
            cut = part_fractions(outside)
            if border_occludes(cut, self.options.policy):  # the photo's edge cuts into the inner face
                occ_map = np.maximum(occ_map, outside)
                fr = part_fractions(occ_map)
                face.parts = {k: max(face.parts[k], fr[k]) for k in face.parts}
                face.coverage = max(face.coverage, fr["face"])
                border_score = 0.5 + 0.5 * min(1.0, max(cut[p] for p in BORDER_PARTS))
                face.occlusion_score = max(face.occlusion_score, border_score)
                face.occluders["other"] = max(face.occluders.get("other", 0.0), border_score)
        if self.options.keep_maps:
            face.occlusion_map = occ_map
        if self.options.keep_crops:
            face.crop = crop
        apply_policy(face, self.options.policy, self.model.threshold)

    # -- many images -----------------------------------------------------------------------------
    def analyze_many(self, sources: Iterable) -> Iterator[ImageResult]:
        """Analyze several images; a bad one gives an error record and the rest go on."""
        for source in sources:
            path = str(source) if isinstance(source, (str, Path)) else None
            try:
                yield self.analyze(source, path=path, raise_errors=False)
            except Exception as exc:  # noqa: BLE001 - one bad input never stops a batch
                yield ImageResult(path=path, width=0, height=0, error=f"{path or 'input'}: {type(exc).__name__}: {exc}")

    def __call__(self, source):
        """``analyzer(x)``: one ImageResult, or a list of them for a list of inputs."""
        if isinstance(source, (list, tuple)):
            return list(self.analyze_many(source))
        return self.analyze(source)

    # -- video -----------------------------------------------------------------------------------
    def analyze_video(self, path: str | Path, every_n: int = 1, fps: float | None = None) -> Iterator[ImageResult]:
        """Analyze frames of a video (every ``every_n``-th, or about ``fps`` per second); records carry frame and time."""
        for frame in iter_video(path, every_n=every_n, fps=fps):
            width, height = int(frame.image.shape[1]), int(frame.image.shape[0])
            result = ImageResult(path=str(path), width=width, height=height, frame=frame.index, time_s=frame.time_s,
                                 min_face_px=self.min_face_px(width, height))
            result.faces = self.analyze_faces(frame.image)
            if self.options.keep_images:
                result.image = frame.image
            yield result


class _Photo:
    """The pixels of one photo under analysis: the decoded image, or a reduced copy of it (``scale`` < 1: a JPEG
    decoded at 1/2, 1/4 or 1/8) whose full-resolution pixels are decoded only when a face needs them."""

    def __init__(self, image: np.ndarray, size: tuple[int, int] | None = None, scale: float = 1.0,
                 encoded: tuple[bytes, str] | None = None):
        self.image, self.scale, self.encoded = image, scale, encoded
        self.size = size or (int(image.shape[1]), int(image.shape[0]))
        self.timings: dict | None = None
        self._full = image if scale == 1.0 else None

    def full(self) -> np.ndarray:
        if self._full is None:
            t = time.perf_counter()
            self._full = decode_image(*self.encoded)
            if self.timings is not None:
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


def _reduction(scale: float) -> int:
    """The largest JPEG reduction (8, 4, 2; 1: none) that still leaves at least ``scale`` of the photo's pixels."""
    for k in (8, 4, 2):
        if scale * k <= 1.0 + 1e-9:
            return k
    return 1


def _outside_image(valid: np.ndarray, map_size: int) -> np.ndarray | None:
    """Map of crop cells that lie outside the photo (None when the whole crop is inside)."""
    if valid is None or valid.min() > 0.99:
        return None
    import cv2

    return 1.0 - cv2.resize(valid, (map_size, map_size), interpolation=cv2.INTER_AREA)


__all__ = ["Analyzer", "AnalyzerOptions", "CROP_SIZE"]
