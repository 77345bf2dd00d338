"""Box arithmetic of the face detector: non-maximum suppression, merging passes and tiles, overlap tests (boxes as
x1, y1, x2, y2 in one image's pixels)."""

from __future__ import annotations

import cv2
import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, nms_threshold: float) -> np.ndarray:
    """Indices kept by OpenCV's NMS (boxes as x1, y1, x2, y2)."""
    if not len(boxes):
        return np.zeros(0, int)
    xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), score_threshold, nms_threshold)
    return np.asarray(idx, dtype=int).reshape(-1)


def overlaps(box: np.ndarray, others: np.ndarray, iou: float = 0.3) -> bool:
    """Whether ``box`` overlaps one of ``others`` with IoU >= ``iou``, or has its centre inside one."""
    if not len(others):
        return False
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    inter = ix * iy
    if np.any(inter >= iou * (area(box) + area(others) - inter)):
        return True
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(np.any((others[:, 0] <= cx) & (cx <= others[:, 2]) & (others[:, 1] <= cy) & (cy <= others[:, 3])))


def merge(boxes, scores, points, nms_threshold: float, sure: float = 0.0):
    """Merge the passes and tiles in photo pixels: NMS, then a box lying mostly (75%) inside a box at least twice
    its area and scoring ``sure`` or more is dropped (a part of a large face that a fine pass took for a face; a
    low-scoring candidate around a face drops nothing)."""
    idx = nms(boxes, scores, 0.0, nms_threshold)
    boxes, scores, points = boxes[idx], scores[idx], points[idx]
    area = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 0), axis=1)
    keep: list[int] = []
    for i in np.argsort(-area, kind="stable"):
        inside = False
        for j in (j for j in keep if scores[j] >= sure):
            iw = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            ih = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            if iw > 0 and ih > 0 and iw * ih >= 0.75 * area[i] and area[j] >= 2 * area[i]:
                inside = True
                break
        if not inside:
            keep.append(i)
    kept = np.array(sorted(keep), dtype=int)
    return boxes[kept], scores[kept], points[kept]
