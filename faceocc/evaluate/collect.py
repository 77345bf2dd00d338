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
This module is the one place to import them from.
"""

from __future__ import annotations

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

__all__ = [
    "STATUS_ERROR",
    "STATUS_NOT_ASSESSABLE",
    "STATUS_NO_FACE",
    "STATUS_OK",
    "CropStore",
    "EvalSet",
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
