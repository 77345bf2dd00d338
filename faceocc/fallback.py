"""The detector's fallback search (``DetectorOptions.fallback``): where RetinaFace's planned passes find no face, it
looks again on enlarged and mirrored copies of the photo, then with a second network (CenterFace).

The passes themselves are chosen by :meth:`faceocc.detection.FaceDetector.fallback_passes`; this module runs them on
any network that returns boxes, scores and 5 landmarks in its input's pixels and brings the faces back to the photo.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .centerface import CenterFace

#: Landmark order of a mirrored face: the eyes and the mouth corners swap sides.
MIRROR = [1, 0, 2, 4, 3]

Faces = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (N x 4), scores (N,), landmarks (N x 5 x 2)


def fallback_search(
    rgb: np.ndarray,
    size: tuple[int, int],
    passes: list[tuple[float, bool]],
    network: Callable[[np.ndarray], Faces],
    centerface: tuple[CenterFace, float, float] | None = None,
) -> list[Faces]:
    """Each pass's faces in photo pixels. ``rgb`` is the photo of ``size`` (width, height) at any scale;
    ``passes`` are (scale against the photo, mirrored) for ``network``; ``centerface`` is (detector, scale,
    score threshold) for a last pass, or None."""
    width, height = size
    found = []
    for scale, mirrored in passes:
        level, fx, fy = resized(rgb, width, height, scale)
        if mirrored:
            boxes, scores, points = network(np.ascontiguousarray(level[:, ::-1]))
            boxes, points = unmirror(boxes, points, level.shape[1])
        else:
            boxes, scores, points = network(level)
        found.append((boxes / [fx, fy, fx, fy], scores, points / [fx, fy]))
    if centerface is not None:
        detector, scale, threshold = centerface
        level, fx, fy = resized(rgb, width, height, scale)
        boxes, scores, points = detector.detect(level, threshold)
        found.append((boxes / [fx, fy, fx, fy], scores, points / [fx, fy]))
    return found


def resized(rgb: np.ndarray, width: int, height: int, scale: float) -> tuple[np.ndarray, float, float]:
    """``rgb`` (a copy of a ``width`` x ``height`` photo at any scale) resized to the photo times ``scale``, and the
    exact x and y factors of the result against the photo."""
    nw, nh = max(1, round(width * scale)), max(1, round(height * scale))
    if (nw, nh) != (rgb.shape[1], rgb.shape[0]):
        shrink = nw < rgb.shape[1]
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return rgb, nw / width, nh / height


def unmirror(boxes: np.ndarray, points: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and landmarks found in a mirrored image ``width`` px wide, in the unmirrored image (the landmark order
    kept: the eye on the image left first)."""
    boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
    points = points[:, MIRROR].copy()
    points[:, :, 0] = width - points[:, :, 0]
    return boxes, points


def second_look(
    rgb: np.ndarray,
    scale: tuple[float, float],
    candidates: np.ndarray,
    network: Callable[[np.ndarray, float], Faces],
    threshold: float,
    look_px: int,
    centerface: tuple[CenterFace, float] | None = None,
) -> list[Faces | None]:
    """For each candidate box (photo pixels; ``rgb`` is the photo at ``scale`` = (x, y)), the face a second look
    finds over it (photo pixels), or None: the square around the box, 2.5 times its longer side, resized so that the
    box is ``look_px`` wide, goes through ``network`` (faces from ``threshold``) and then, if none of them covers the
    box (IoU >= 0.3), through ``centerface`` (detector, score threshold); the best face covering the box is kept."""
    sx, sy = scale
    out: list[Faces | None] = []
    for box in candidates:
        side = 2.5 * max(box[2] - box[0], box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x0, y0 = max(0, int((cx - side / 2) * sx)), max(0, int((cy - side / 2) * sy))
        x1, y1 = min(rgb.shape[1], int((cx + side / 2) * sx) + 1), min(rgb.shape[0], int((cy + side / 2) * sy) + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            out.append(None)
            continue
        k = look_px / max(1e-6, (box[2] - box[0]) * sx)  # rgb pixels -> look pixels
        crop = cv2.resize(
            rgb[y0:y1, x0:x1], None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
        )
        fx, fy = crop.shape[1] / (x1 - x0) * sx, crop.shape[0] / (y1 - y0) * sy  # photo pixels -> look pixels
        origin = np.array([x0 / sx, y0 / sy])
        target = (box - np.tile(origin, 2)) * [fx, fy, fx, fy]
        found = _covering(network(crop, threshold), target)
        if found is None and centerface is not None:
            found = _covering(centerface[0].detect(crop, centerface[1]), target)
        if found is not None:
            boxes, scores, points = found
            found = (boxes / [fx, fy, fx, fy] + np.tile(origin, 2), scores, points / [fx, fy] + origin)
        out.append(found)
    return out


def _covering(faces: Faces, target: np.ndarray, iou: float = 0.3) -> Faces | None:
    """The best scoring of ``faces`` that overlaps ``target`` with IoU >= ``iou`` (as a one-face Faces), or None."""
    boxes, scores, points = faces
    if not len(boxes):
        return None
    ix = np.clip(np.minimum(target[2], boxes[:, 2]) - np.maximum(target[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(target[3], boxes[:, 3]) - np.maximum(target[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    union = (target[2] - target[0]) * (target[3] - target[1]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    good = np.flatnonzero(inter >= iou * np.maximum(union, 1e-6))
    if not len(good):
        return None
    best = good[np.argmax(scores[good])]
    return boxes[best : best + 1], scores[best : best + 1], points[best : best + 1]
