"""The evaluation set: the faces to evaluate (items, with their truth and status), each model's predictions on
them, and the aligned crops kept for the galleries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, cast

import cv2
import numpy as np

from ..schema import OCCLUDER_TYPES, PART_NAMES

STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_NOT_ASSESSABLE = "not_assessable"
STATUS_ERROR = "error"

T = TypeVar("T")


@dataclass
class Item:
    """One face to evaluate and its truth."""

    path: str
    label: str
    split: str = ""
    group: str = ""
    source: str = ""
    status: str = STATUS_OK
    message: str = ""
    det_score: float = float("nan")
    n_faces: int = 0
    true_occluded: bool = False
    true_types: np.ndarray = field(default_factory=lambda: np.zeros(len(OCCLUDER_TYPES), np.float32))
    type_weights: np.ndarray = field(default_factory=lambda: np.ones(len(OCCLUDER_TYPES), np.float32))
    true_coverage: float | None = None
    true_parts: np.ndarray | None = None
    kind: str = ""  # synthetic recipe
    crop_index: int | None = None


@dataclass
class Predictions:
    """One model's outputs for every item (NaN where the item has no face)."""

    model: str
    scores: np.ndarray  # N
    occluders: np.ndarray  # N x 5
    parts: np.ndarray  # N x 5
    coverage: np.ndarray  # N

    @classmethod
    def empty(cls, model: str, n: int) -> Predictions:
        return cls(
            model,
            np.full(n, np.nan),
            np.full((n, len(OCCLUDER_TYPES)), np.nan),
            np.full((n, len(PART_NAMES)), np.nan),
            np.full(n, np.nan),
        )

    def set(self, i: int, score: float, occluders, parts, coverage: float) -> None:
        self.scores[i] = score
        self.occluders[i] = occluders
        self.parts[i] = parts
        self.coverage[i] = coverage


@dataclass
class EvalSet:
    items: list[Item]
    preds: list[Predictions]
    crop_store: CropStore
    mode: str
    info: dict = field(default_factory=dict)

    def crop(self, i: int) -> np.ndarray | None:
        idx = self.items[i].crop_index
        return None if idx is None else self.crop_store.get(idx)

    @property
    def ok(self) -> np.ndarray:
        return np.array([it.status == STATUS_OK for it in self.items], bool)


class CropStore:
    """Aligned crops kept for the galleries: JPEG bytes (photos) or an index into an array (cache, synthetic)."""

    def __init__(self, array: np.ndarray | None = None):
        self.array = array
        self.encoded: list[bytes] = []

    def add(self, crop: np.ndarray) -> int:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(crop[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
        self.encoded.append(buf.tobytes() if ok else b"")
        return len(self.encoded) - 1

    def get(self, idx: int) -> np.ndarray | None:
        if self.array is not None:
            return np.asarray(self.array[idx])
        data = self.encoded[idx]
        if not data:
            return None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, f"crop {idx}: stored JPEG does not decode"  # written by add() above
        return image[:, :, ::-1]


def model_label(model, k: int) -> str:
    """The name a model's predictions are reported under: its ``name`` (a model path's file name), else ``model{k}``."""
    name = getattr(model, "name", None) or f"model{k}"
    return name


def subsample(items: list[T], limit: int, seed: int = 0) -> list[T]:
    """A fixed-seed random subset of ``limit`` items (faces, wild rows...), kept in their original order."""
    if limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    return [items[i] for i in keep]


def predict_crops(es: EvalSet, model, k: int, batch: int = 128) -> Predictions:
    """Model ``k``'s predictions on the stored crops of the scorable items of ``es`` (an OcclusionModel, in batches)."""
    preds = Predictions.empty(model_label(model.path, k), len(es.items))
    todo = [i for i, it in enumerate(es.items) if it.status == STATUS_OK and it.crop_index is not None]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        # every scorable item has a stored crop
        crops = np.stack(cast("list[np.ndarray]", [es.crop(i) for i in chunk])).astype(np.uint8)
        out = model.predict(crops)
        for j, i in enumerate(chunk):
            preds.set(i, out.occluded[j], out.occluders[j], out.parts[j], out.coverage[j])
    return preds
