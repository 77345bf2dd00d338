"""Alignment: a 5-point similarity transform into one canonical face crop.

The canonical frame is the ArcFace 112x112 template shrunk by 12.5% around its
centre, so that a little context around the chin and brows stays in the crop.
The regions of the facial parts are defined here, once, in that frame; the
synthetic occlusion engine, the network and the reports all use them.

Part names follow the person's point of view (as dlib and MediaPipe do):
``right_eye`` is the eye on the image's left side.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .schema import LOWER_PARTS, PART_NAMES, UPPER_PARTS  # noqa: F401 - part names live with the vocabulary

CROP_SIZE = 112
_ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
_SHRINK = 0.875
#: Landmark positions in the canonical crop: right eye, left eye, nose, right and left mouth corners.
TEMPLATE = (_ARCFACE_112 - CROP_SIZE / 2) * _SHRINK + CROP_SIZE / 2


def estimate_transform(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """2x3 similarity transform (least squares, Umeyama) taking image landmarks (5x2) onto the canonical template."""
    src = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    dst = TEMPLATE * (size / CROP_SIZE)
    return _umeyama(src, dst).astype(np.float32)


def _umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    var = (src_c**2).sum() / len(src)
    scale = (s * np.diag(d)).sum() / var if var > 0 else 1.0
    t = dst_mean - scale * rot @ src_mean
    return np.hstack([scale * rot, t[:, None]])


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` crop that ``matrix`` (from :func:`estimate_transform`) maps the image onto."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Warp the face given by its 5 landmarks into the canonical ``size`` x ``size`` crop."""
    return warp_crop(image, estimate_transform(landmarks, size), size)


def crop_validity(image_shape: tuple, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Float mask (size x size) of the crop pixels whose centre maps inside the image (1) or outside it (0).

    The crop's pixel centres are mapped back through the inverse of ``matrix``: the cost is that of the crop, not of
    the photo (a 24 MP photo costs the same as a small one).
    """
    inv = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    h, w = image_shape[:2]
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
    corners = corners @ inv[:, :2].T + inv[:, 2]
    if corners.min() >= -0.5 and (corners[:, 0] <= w - 0.5).all() and (corners[:, 1] <= h - 0.5).all():
        return np.ones((size, size), np.float32)  # the crop lies inside the image (both are convex)
    grid = np.arange(size, dtype=np.float32)
    xs, ys = np.meshgrid(grid, grid)
    x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    y = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return ((x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)).astype(np.float32)


def align_face_with_validity(
    image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crop plus a float mask of the crop pixels that came from inside the image.

    Pixels outside the image (a face cut by the photo border) are 0 in the mask; the policy decides whether the cut
    reaches far enough into the inner face to count as an occlusion.
    """
    matrix = estimate_transform(landmarks, size)
    return warp_crop(image, matrix, size), crop_validity(image.shape, matrix, size)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def _ellipse(mask: np.ndarray, center, axes, angle: float = 0.0) -> None:
    cv2.ellipse(
        mask,
        (int(round(center[0] * 16)), int(round(center[1] * 16))),
        (int(round(axes[0] * 16)), int(round(axes[1] * 16))),
        angle,
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
        4,
    )


@lru_cache(maxsize=8)
def part_masks(size: int = CROP_SIZE) -> dict[str, np.ndarray]:
    """Float masks (size x size, 0-1) of each facial part and of the inner face, canonical frame.

    Keys: the PART_NAMES plus ``face`` (the inner face: brows to chin inside the jaw line).
    """
    t = TEMPLATE * (size / CROP_SIZE)
    r_eye, l_eye, nose, r_mouth, l_mouth = t
    iod = float(np.linalg.norm(l_eye - r_eye))
    eyes_mid = (r_eye + l_eye) / 2
    mouth_mid = (r_mouth + l_mouth) / 2
    mouth_w = float(np.linalg.norm(l_mouth - r_mouth))
    em = float(mouth_mid[1] - eyes_mid[1])
    masks = {}
    for name, eye in (("right_eye", r_eye), ("left_eye", l_eye)):
        m = np.zeros((size, size), np.float32)
        # eye and brow above it
        _ellipse(m, (eye[0], eye[1] - 0.08 * iod), (0.36 * iod, 0.26 * iod))
        masks[name] = m
    m = np.zeros((size, size), np.float32)
    _ellipse(m, (nose[0], (eyes_mid[1] + nose[1]) / 2 + 0.08 * em), (0.22 * iod, 0.38 * em))
    masks["nose"] = m
    m = np.zeros((size, size), np.float32)
    _ellipse(m, (mouth_mid[0], mouth_mid[1] - 0.02 * em), (0.68 * mouth_w, 0.24 * em))
    masks["mouth"] = m
    m = np.zeros((size, size), np.float32)
    _ellipse(m, (mouth_mid[0], mouth_mid[1] + 0.42 * em), (0.55 * mouth_w, 0.2 * em))
    masks["chin"] = m
    face = np.zeros((size, size), np.float32)
    top, bottom = eyes_mid[1] - 0.62 * em, mouth_mid[1] + 0.62 * em
    _ellipse(face, (eyes_mid[0], (top + bottom) / 2), (1.02 * iod, (bottom - top) / 2))
    masks["face"] = face
    for m in masks.values():
        np.clip(m, 0, 1, out=m)
    return masks


def part_fractions(occlusion: np.ndarray) -> dict[str, float]:
    """Fraction of each part (and ``face``) covered, given an occlusion map in the canonical frame."""
    occ = np.asarray(occlusion, dtype=np.float32)
    masks = part_masks(occ.shape[0])
    return {name: float((occ * m).sum() / max(m.sum(), 1e-6)) for name, m in masks.items()}
