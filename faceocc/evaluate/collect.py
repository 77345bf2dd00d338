"""Gathering the faces to evaluate and one or more models' predictions on them.

Three sources of faces:

* ``collect_photos`` (:mod:`.photos`): dataset images run through the same detector, alignment and
  model as ``faceocc analyze`` (optionally padding the image for the detector, for
  tight face crops). Each image contributes its main face; images where no face is
  found, or whose face is not assessable, are kept as items with that status.
* ``collect_cache`` (:mod:`.cache`): a crop cache written by ``faceocc prepare`` (no detection).
* ``collect_synthetic`` (:mod:`.synthetic`): clean test faces with held-out occluders pasted on them.

Every model sees exactly the same faces (detections are computed once and shared). The result is an
:class:`~.evalset.EvalSet` (:mod:`.evalset`); the truth of each face comes from its record (:mod:`.truth`).
This module is the one place to import them from, and it holds :class:`GatherOptions`, the choice of faces and of
how they are found that ``faceocc evaluate`` and ``faceocc audit`` build once from their command-line options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cache import collect_cache
from .evalset import (
    STATUS_ERROR,
    STATUS_NO_FACE,
    STATUS_NOT_ASSESSABLE,
    STATUS_OK,
    CropStore,
    EvalSet,
    Item,
    Predictions,
    model_label,
    predict_crops,
    subsample,
)
from .photos import build_analyzers, collect_photos, detect_faces, main_face, pad_sizes, score_photo
from .synthetic import collect_synthetic
from .truth import check_parts, item_from_record


@dataclass(frozen=True, kw_only=True)
class GatherOptions:
    """Which faces to evaluate and how they are found (the defaults are those of ``faceocc analyze``).

    dataset: a CSV manifest or an ImageFolder root; cache: a ``faceocc prepare`` crop cache (one of them, or both:
        the cache's crops with the dataset's labels).
    split, limit, seed: only this split; a random subset of ``limit`` faces drawn with ``seed``.
    pad, pad_mode: pad photos by this fraction before detection; "detect": only for the detector, "image": the
        padded photo is analysed (see :func:`.photos.collect_photos`).
    det_size, score_threshold, min_face: the detector's fixed size (None: automatic), its confidence, the smallest
        assessable face (pixels).
    use_fallback: with a cache, also score crops aligned without a detected face.
    eyeglasses_occlude: clear eyeglasses count as an occlusion (in the truth and the verdicts).
    synthetic, occluders, per_face, kinds: clean faces with held-out occluders pasted (from this occluders folder,
        this many per face, these recipes; None: generated occluders, every recipe).
    audit_labels: a label audit CSV correcting the dataset's labels.
    threads: onnxruntime threads per model (0: all cores).
    """

    dataset: Path | None = None
    cache: Path | None = None
    split: str | None = None
    limit: int | None = None
    seed: int = 0
    pad: float = 0.0
    pad_mode: str = "detect"
    det_size: int | None = None
    score_threshold: float = 0.6
    min_face: int = 32
    use_fallback: bool = False
    eyeglasses_occlude: bool = False
    synthetic: bool = False
    occluders: Path | None = None
    per_face: int = 1
    kinds: list[str] | None = None
    audit_labels: Path | None = None
    threads: int = 0


__all__ = [
    "STATUS_ERROR",
    "STATUS_NOT_ASSESSABLE",
    "STATUS_NO_FACE",
    "STATUS_OK",
    "CropStore",
    "EvalSet",
    "GatherOptions",
    "Item",
    "Predictions",
    "build_analyzers",
    "check_parts",
    "collect_cache",
    "collect_photos",
    "collect_synthetic",
    "detect_faces",
    "item_from_record",
    "main_face",
    "model_label",
    "pad_sizes",
    "predict_crops",
    "score_photo",
    "subsample",
]
