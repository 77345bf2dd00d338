"""The state of one synthesis call: the image and occlusion map being built, the types found, the random draws."""

from __future__ import annotations

import cv2
import numpy as np

from ..schema import OCCLUDER_TYPES
from .geometry import FaceAxes, FaceFrame


class Context:
    """What the recipes read and write while one sample is built from an aligned crop and its 5 landmarks."""

    def __init__(self, crop, landmarks, library, rng, hand_p: np.ndarray | None = None):
        self.size = crop.shape[0]
        self.img = crop.astype(np.float32)
        self.occ = np.zeros(crop.shape[:2], np.float32)
        self.face = FaceAxes(landmarks, self.size)
        self.frame = FaceFrame.get(self.size)
        self.lib = library
        self.rng = rng
        self.flags = {t: 0.0 for t in OCCLUDER_TYPES}
        self.contrib: dict[str, float] = {}
        self.face_mean = self.frame.skin_w @ self.img.reshape(-1, 3)
        self.crop = crop
        self._blur: float | None = None
        self.hand_p = hand_p  # hand pose probabilities (None: the defaults of hands.py)
        self.modes: list[str] = []  # sub-modes drawn by the recipes ("hair:strands", "object:mouth_corner", ...)

    @property
    def blur(self) -> float:
        """Blur (sigma, px) that makes a pasted occluder about as sharp as the crop."""
        if self._blur is None:
            gray = cv2.cvtColor(self.crop, cv2.COLOR_RGB2GRAY)
            lap = float(np.abs(cv2.Laplacian(gray, cv2.CV_16S)).mean())  # weak second derivative: a blurry crop
            self._blur = max(0.0, 1.2 - 0.09 * lap) * self.face.unit
        return self._blur

    def u(self, a, b):
        return float(self.rng.uniform(a, b))

    def chance(self, p):
        return bool(self.rng.random() < p)

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]
