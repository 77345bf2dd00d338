"""Typed results: one FaceResult per face, one ImageResult per image or video frame.

The JSON names are a stable contract (documented in the README).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


def _round(v: float, nd: int = 4) -> float:
    return round(float(v), nd)


@dataclass
class FaceResult:
    box: list[float]  # x1, y1, x2, y2 in original image pixels
    det_score: float
    landmarks: list[list[float]]  # 5 x [x, y]
    occluded: bool | None = None  # None: could not assess (see ``assessable``)
    occlusion_score: float | None = None
    occluders: dict[str, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)
    upper: bool | None = None
    lower: bool | None = None
    coverage: float | None = None
    usable: bool = False
    advice: list[str] = field(default_factory=list)
    assessable: bool = True
    reason: str | None = None  # why the face could not be assessed
    occlusion_map: np.ndarray | None = field(default=None, repr=False)  # M x M, canonical frame
    crop: np.ndarray | None = field(default=None, repr=False)  # aligned RGB crop

    @property
    def occluder(self) -> str | None:
        """The most likely occluder type that counts as an occlusion (None when the face is clear)."""
        if not self.occluded or not self.occluders:
            return None
        counted = {k: v for k, v in self.occluders.items() if k != "eyeglasses"}
        return max(counted, key=counted.get) if counted else None

    def to_dict(self, include_map: bool = False) -> dict:
        d = {
            "box": [_round(v, 1) for v in self.box],
            "det_score": _round(self.det_score),
            "landmarks": [[_round(x, 1), _round(y, 1)] for x, y in self.landmarks],
            "occluded": self.occluded,
            "occlusion_score": None if self.occlusion_score is None else _round(self.occlusion_score),
            "occluders": {k: _round(v) for k, v in self.occluders.items()},
            "occluder": self.occluder,
            "parts": {k: _round(v) for k, v in self.parts.items()},
            "upper": self.upper,
            "lower": self.lower,
            "coverage": None if self.coverage is None else _round(self.coverage),
            "usable": self.usable,
            "advice": list(self.advice),
            "assessable": self.assessable,
            "reason": self.reason,
        }
        if include_map and self.occlusion_map is not None:
            d["occlusion_map"] = np.round(self.occlusion_map, 3).tolist()
        return d


@dataclass
class ImageResult:
    path: str | None
    width: int
    height: int
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    frame: int | None = None  # videos only
    time_s: float | None = None  # videos only
    image: np.ndarray | None = field(default=None, repr=False)  # the decoded RGB image, when kept
    min_face_px: float | None = None  # the smallest face (shorter box side, image pixels) the detector searched for

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self, include_map: bool = False) -> dict:
        d = {"path": self.path, "width": self.width, "height": self.height,
             "min_face_px": None if self.min_face_px is None else int(np.ceil(self.min_face_px - 1e-6)),
             "faces": [f.to_dict(include_map) for f in self.faces], "error": self.error}
        if self.frame is not None:
            d["frame"] = self.frame
            d["time_s"] = self.time_s
        return d

    def to_json(self, include_map: bool = False) -> str:
        return json.dumps(self.to_dict(include_map), ensure_ascii=False)
