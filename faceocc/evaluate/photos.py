"""Dataset photos through the analyzer, as ``faceocc analyze`` sees them: one face per photo, every model on the
same detections (the first analyzer's detector finds the faces once)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import cv2
import numpy as np

from ..datasets import Record
from ..schema import OCCLUDER_TYPES, PART_NAMES
from .evalset import (
    STATUS_ERROR,
    STATUS_NO_FACE,
    STATUS_NOT_ASSESSABLE,
    CropStore,
    EvalSet,
    Item,
    Predictions,
    model_label,
)
from .truth import item_from_record


def detect_faces(detector, image: np.ndarray, pad: float = 0.0, search: np.ndarray | None = None) -> list:
    """The faces of ``image`` (photo pixels). ``pad`` > 0: the detector searches a copy padded (grey) by ``pad`` of
    its size, which helps it with tight face crops, and the detections are mapped back. ``search``: search this
    image instead (same geometry as ``image``: an already padded copy)."""
    from ..detection import Detection

    if search is not None:
        return detector.detect(search)
    if pad <= 0:
        return detector.detect(image)
    py, px = pad_sizes(image, pad)
    padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    shift = np.array([px, py], np.float32)
    return [
        Detection(box=d.box - np.tile(shift, 2), score=d.score, landmarks=d.landmarks - shift)
        for d in detector.detect(padded)
    ]


def pad_sizes(image, pad: float) -> tuple[int, int]:
    h, w = image.shape[:2]
    return int(round(h * pad)), int(round(w * pad))


def main_face(faces, width: int, height: int) -> int:
    """Index of the face an image label is about: large, confident and central (as ``faceocc prepare`` picks)."""
    cx, cy, side = width / 2, height / 2, max(width, height, 1)

    def rank(i):
        f = faces[i]
        size = min(f.box[2] - f.box[0], f.box[3] - f.box[1])
        dist = math.hypot((f.box[0] + f.box[2]) / 2 - cx, (f.box[1] + f.box[3]) / 2 - cy) / side
        return f.det_score * size / side - dist

    return max(range(len(faces)), key=rank)


def score_photo(
    item: Item, i: int, image, analyzers, preds, pick, pad: float = 0.0, search: np.ndarray | None = None
) -> list | None:
    """Analyze one photo with every model and record the face ``pick(faces)`` chooses in ``preds[k]`` row ``i``;
    returns that face as each model saw it, or None (``item.status`` says why: no face, not assessable).
    The first analyzer's detector finds the faces (see :func:`detect_faces` for ``pad`` and ``search``); every
    model analyses the same detections."""
    detections = detect_faces(analyzers[0].detector, image, pad, search)
    faces = analyzers[0].analyze_faces(image, detections)
    item.n_faces = len(faces)
    if not faces:
        item.status, item.message = STATUS_NO_FACE, "no face found"
        return None
    j = pick(faces)
    face = faces[j]
    item.det_score = float(face.det_score)
    if not face.assessable:
        item.status, item.message = STATUS_NOT_ASSESSABLE, face.reason or "not assessable"
        return None
    chosen = [face] + [a.analyze_faces(image, [detections[j]])[0] for a in analyzers[1:]]
    for k, f in enumerate(chosen):
        preds[k].set(
            i, f.occlusion_score, [f.occluders[t] for t in OCCLUDER_TYPES], [f.parts[p] for p in PART_NAMES], f.coverage
        )
    return chosen


def build_analyzers(
    models: Sequence[str | None],
    threads: int = 0,
    score_threshold: float = 0.6,
    det_size: int | None = None,
    min_face: int = 32,
    keep_crops: bool = True,
    occlusion_threshold: float | None = None,
):
    """One Analyzer per model (the first keeps crops). ``occlusion_threshold`` None: each model's own (as ``faceocc
    analyze``)."""
    from ..detection import DetectorOptions
    from ..pipeline import Analyzer, AnalyzerOptions
    from ..policy import PolicyOptions

    analyzers = []
    for k, model in enumerate(models):
        opts = AnalyzerOptions(
            model=model,
            threads=threads,
            keep_crops=keep_crops and k == 0,
            detector=DetectorOptions(score_threshold=score_threshold, max_side=det_size),
            policy=PolicyOptions(min_face_size=min_face, occlusion_threshold=occlusion_threshold),
        )
        analyzers.append(Analyzer(opts))
    return analyzers


def collect_photos(
    records: Sequence[Record],
    models: Sequence[str | None],
    threads: int = 0,
    pad: float = 0.0,
    score_threshold: float = 0.6,
    det_size: int | None = None,
    min_face: int = 32,
    eyeglasses_occlude: bool = False,
    progress: bool = False,
    keep_faces: bool = False,
    pad_mode: str = "detect",
) -> EvalSet:
    """Run every image through the analyzer (as ``faceocc analyze``) with each model; one item per image.

    ``pad_mode`` "detect": the padding only helps the detector; the face is analysed in the image as it is, so an
    image border cutting into the inner face counts as an occlusion (exactly as ``faceocc analyze``).
    "image": the image is extended (edge pixels repeated) and analysed padded, as ``faceocc prepare`` crops faces
    for training: the border of a tight face crop is not an occlusion.
    """
    if pad_mode not in ("detect", "image"):
        raise ValueError(f"pad_mode must be 'detect' or 'image', got {pad_mode!r}")
    from tqdm import tqdm

    from ..alignment import estimate_transform, transform_points
    from ..io import InputError, load_image

    analyzers = build_analyzers(models, threads, score_threshold, det_size, min_face)
    items = [item_from_record(r, eyeglasses_occlude) for r in records]
    preds = [Predictions.empty(model_label(a.model, k), len(items)) for k, a in enumerate(analyzers)]
    store = CropStore()
    landmarks: dict[int, np.ndarray] = {}
    for i, item in enumerate(tqdm(items, desc="evaluate", unit="img", disable=not progress)):
        try:
            image = load_image(item.path)
        except InputError as exc:
            item.status, item.message = STATUS_ERROR, str(exc)
            continue
        search = None
        if pad_mode == "image" and pad > 0:
            image, search = _padded_image(image, pad)
        pick = partial(main_face, width=image.shape[1], height=image.shape[0])
        chosen = score_photo(item, i, image, analyzers, preds, pick, pad, search)
        if chosen is None:
            continue
        face = chosen[0]
        if face.crop is not None:
            item.crop_index = store.add(face.crop)
            if keep_faces:
                lm = np.asarray(face.landmarks, np.float32)
                landmarks[i] = transform_points(lm, estimate_transform(lm, face.crop.shape[0]))
    es = EvalSet(
        items, preds, store, "photos", {"pad": pad, "pad_mode": pad_mode, "detector_score_threshold": score_threshold}
    )
    if keep_faces:
        es.info["crop_landmarks"] = landmarks
    return es


def _padded_image(image: np.ndarray, pad: float) -> tuple[np.ndarray, np.ndarray]:
    """(the image extended by ``pad`` of its size with its edge pixels repeated, to analyse; the same extended with
    grey, for the detector to search)."""
    py, px = pad_sizes(image, pad)
    search = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    return cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE), search
