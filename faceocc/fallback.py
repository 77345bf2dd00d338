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
