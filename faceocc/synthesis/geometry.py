"""Placement geometry: the face's axes from its landmarks, per-size part masks, sprite warps."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..alignment import CROP_SIZE, TEMPLATE, part_masks
from ..schema import PART_NAMES
from .sprites import Sprite


class FaceAxes:
    """Face frame from 5 landmarks: x in inter-ocular distances along the eye line, y in eye-to-mouth distances."""

    def __init__(self, landmarks: np.ndarray, size: int):
        lm = np.asarray(landmarks, np.float32).reshape(5, 2)
        self.lm = lm
        self.size = size
        self.eyes = lm[:2]
        self.eye_mid = (lm[0] + lm[1]) / 2
        self.mouth_mid = (lm[3] + lm[4]) / 2
        d = lm[1] - lm[0]
        self.iod = max(float(np.hypot(*d)), 1e-3)
        self.u = d / self.iod
        self.v = np.array([-self.u[1], self.u[0]], np.float32)
        self.angle = math.degrees(math.atan2(d[1], d[0]))
        self.em = max(float((self.mouth_mid - self.eye_mid) @ self.v), 0.3 * self.iod)
        self.yaw = float((lm[2] - self.eye_mid) @ self.u) / self.iod
        self.unit = size / CROP_SIZE

    def pt(self, x, y) -> np.ndarray:
        """Crop pixels of the face-frame point (x, y)."""
        return (self.eye_mid + x * self.iod * self.u + y * self.em * self.v).astype(np.float32)


class FaceFrame:
    """Per-size constants of the canonical crop: part masks as a matrix, pixel grids, skin weights and the
    inner-face ellipse in face units."""

    _cache: dict = {}

    @classmethod
    def get(cls, size: int) -> FaceFrame:
        fr = cls._cache.get(size)
        if fr is None:
            fr = cls._cache[size] = cls(size)
        return fr

    def __init__(self, size: int):
        masks = part_masks(size)
        self.names = PART_NAMES + ("face",)
        self.matrix = np.stack([masks[n].ravel() for n in self.names]).astype(np.float32)
        self.sums = np.maximum(self.matrix.sum(1), 1e-6)
        self.face = masks["face"]
        self.face_w = masks["face"].ravel() / max(float(masks["face"].sum()), 1e-6)
        yy, xx = np.mgrid[:size, :size].astype(np.float32)
        self.xx, self.yy = xx, yy
        # skin: cheeks and nose, where a hand's colour is compared with the face's
        t = TEMPLATE * (size / CROP_SIZE)
        skin = masks["nose"].copy()
        iod = float(np.linalg.norm(t[1] - t[0]))
        for eye, corner in ((t[0], t[3]), (t[1], t[4])):
            c = 0.5 * (eye + corner)
            cv2.circle(skin, (int(c[0]), int(c[1])), max(1, int(0.16 * iod)), 1.0, -1)
        self.skin_w = skin.ravel() / max(float(skin.sum()), 1e-6)
        # the inner-face ellipse in face units (x: inter-ocular distances, y: eye-to-mouth distances from the eyes)
        ys, xs = np.nonzero(masks["face"] > 0.5)
        eye_mid, mouth_mid = (t[0] + t[1]) / 2, (t[3] + t[4]) / 2
        em = float(mouth_mid[1] - eye_mid[1])
        self.face_centre = (
            ((xs.min() + xs.max()) / 2 - eye_mid[0]) / iod,
            ((ys.min() + ys.max()) / 2 - eye_mid[1]) / em,
        )
        self.face_radii = ((xs.max() - xs.min() + 1) / 2 / iod, (ys.max() - ys.min() + 1) / 2 / em)
        self.face_top = float((ys.min() - eye_mid[1]) / em)


def coverage_fractions(occ: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """Covered fraction of each part and of the face (order: PART_NAMES + face)."""
    return (frame.matrix @ occ.ravel()) / frame.sums


def affine(scale: float, angle_deg: float, src_pt, dst_pt, sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
    """3x3 matrix: scale (with optional anisotropy sx, sy in source axes), rotate, and move src_pt onto dst_pt."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    lin = scale * np.array([[c, -s], [s, c]], np.float64) @ np.diag([sx, sy])
    t = np.asarray(dst_pt, np.float64) - lin @ np.asarray(src_pt, np.float64)
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = lin, t
    return m


def flip_matrix(width: float) -> np.ndarray:
    """3x3 matrix of a horizontal mirror of an image ``width`` pixels wide."""
    return np.array([[-1.0, 0, width - 1], [0, 1, 0], [0, 0, 1]])


def apply_affine(m: np.ndarray, p) -> np.ndarray:
    """The point ``p`` moved by the affine part of the 3x3 matrix ``m``."""
    p = np.asarray(p, np.float64)
    q = m[:2, :2] @ p + m[:2, 2]
    return q.astype(np.float32)


def warp_sprite(sprite: Sprite, m: np.ndarray, size: int, perspective: bool = False):
    """Render a sprite into the crop frame with the 3x3 matrix ``m`` (level-0 pixels -> crop pixels).

    Returns (rgb float32, alpha 0-1), from the smallest mip level of at least 0.9 times the scale."""
    scale = math.sqrt(abs(np.linalg.det(m[:2, :2]))) if not perspective else _persp_scale(m, sprite)
    level = sprite.levels[0]
    for f, img in sprite.levels:
        if f >= scale * 0.9:
            level = (f, img)
    f, img = level
    mk = m @ np.diag([1.0 / f, 1.0 / f, 1.0])
    if perspective:
        out = cv2.warpPerspective(
            img, mk, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    else:
        out = cv2.warpAffine(
            img, mk[:2], (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
    out = out.astype(np.float32)
    return out[..., :3], out[..., 3] * (1.0 / 255.0)


def _persp_scale(m: np.ndarray, sprite: Sprite) -> float:
    w, h = sprite.size
    c = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    c = c[:, :2] / c[:, 2:3]
    return max(float(np.linalg.norm(c[1] - c[0])) / w, float(np.linalg.norm(c[2] - c[0])) / h)
