"""Prepare a dataset once: detect, align and cache every face crop.

Tight face crops (as in most face datasets) are padded before detection so the
detector sees the whole face. Every image that cannot be used is reported with
the reason, never dropped silently.
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .alignment import CROP_SIZE, align_face_with_validity, estimate_transform, transform_points
from .datasets import Record
from .detection import DetectorOptions, FaceDetector
from .io import InputError, load_image

#: detectors of this process by score threshold (each worker process builds its own on first use)
_detectors: dict[float, FaceDetector] = {}


@dataclass
class PreparedFace:
    crop: np.ndarray | None
    landmarks: np.ndarray | None  # in crop coordinates
    det_score: float
    error: str | None


def get_detector(score_threshold: float) -> FaceDetector:
    """The detector :func:`prepare_image` uses at ``score_threshold``: one pass at 640 px, faces from 8 px, one thread;
    built once per process and threshold (a different threshold gets its own detector, never the first one's)."""
    detector = _detectors.get(score_threshold)
    if detector is None:
        options = DetectorOptions(score_threshold=score_threshold, max_side=640, min_face_size=8, threads=1)
        detector = _detectors[score_threshold] = FaceDetector(options)
    return detector


#: where the 5 landmarks sit, as fractions of a tight face box (average of RetinaFace on face crops)
TIGHT_CROP_LANDMARKS = np.array([[0.31, 0.42], [0.69, 0.42], [0.50, 0.60], [0.35, 0.78], [0.65, 0.78]], np.float32)


def prepare_image(
    path: str | Path, pad: float = 0.4, score_threshold: float = 0.5, size: int = CROP_SIZE, fallback: bool = False
) -> PreparedFace:
    """Detect the main face of one image (padded by ``pad`` of its size on each side) and align it.

    With ``fallback``, an image in which no face is found is taken as a tight face crop
    (landmarks at their average place in a face box); such crops get ``det_score`` 0.
    """
    try:
        image = load_image(path)
    except InputError as exc:
        return PreparedFace(None, None, 0.0, str(exc))
    h, w = image.shape[:2]
    py, px = int(round(h * pad)), int(round(w * pad))
    padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    faces = get_detector(score_threshold).detect(padded)
    if not faces:
        if not fallback:
            return PreparedFace(None, None, 0.0, "no face found")
        landmarks = TIGHT_CROP_LANDMARKS * [w, h]
        crop, _ = align_face_with_validity(image, landmarks, size)
        return PreparedFace(crop, transform_points(landmarks, estimate_transform(landmarks, size)), 0.0, None)
    # The image is a face crop: prefer a large face near the centre.
    cx, cy = padded.shape[1] / 2, padded.shape[0] / 2

    def rank(f):
        fx, fy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
        dist = np.hypot(fx - cx, fy - cy) / max(h, w)
        return f.score * f.size / max(h, w) - dist

    face = max(faces, key=rank)
    landmarks = face.landmarks - [px, py]
    crop, _ = align_face_with_validity(image, landmarks, size)
    matrix = estimate_transform(landmarks, size)
    return PreparedFace(crop, transform_points(landmarks, matrix), face.score, None)


def _work(args):
    return prepare_image(*args)


def prepare_dataset(
    records: list[Record],
    out_dir: str | Path,
    root: str | Path | None = None,
    workers: int = 2,
    pad: float = 0.4,
    score_threshold: float = 0.5,
    size: int = CROP_SIZE,
    progress: bool = True,
    fallback: bool = False,
) -> dict:
    """Cache aligned crops of ``records`` in ``out_dir`` (crops.npy, landmarks.npy, index.csv, skipped.csv)."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root).resolve() if root else None
    crops, lmks, rows, skipped = [], [], [], []
    jobs = [(str(r.path), pad, score_threshold, size, fallback) for r in records]
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(_work, jobs, chunksize=32)
        for rec, res in tqdm(zip(records, results), total=len(records), disable=not progress, desc="prepare"):
            rel = str(rec.path.relative_to(root)) if root else str(rec.path)
            if res.error:
                skipped.append({"path": rel, "label": rec.label, "reason": res.error})
                continue
            crops.append(res.crop)
            lmks.append(res.landmarks)
            rows.append(
                {
                    "path": rel,
                    "label": rec.label,
                    "split": rec.split,
                    "group": rec.group,
                    "source": rec.source,
                    "det_score": round(res.det_score, 4),
                }
            )
    np.save(out / "crops.npy", np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8))
    np.save(out / "landmarks.npy", np.stack(lmks).astype(np.float32) if lmks else np.zeros((0, 5, 2), np.float32))
    for name, table, fields in (
        ("index.csv", rows, ["path", "label", "split", "group", "source", "det_score"]),
        ("skipped.csv", skipped, ["path", "label", "reason"]),
    ):
        with open(out / name, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(table)
    summary = {"images": len(records), "faces": len(rows), "skipped": len(skipped), "crop_size": size}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


@dataclass
class CropCache:
    """Aligned crops prepared by :func:`prepare_dataset`."""

    crops: np.ndarray
    landmarks: np.ndarray
    rows: list[dict]

    @classmethod
    def load(cls, path: str | Path) -> CropCache:
        path = Path(path)
        with open(path / "index.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return cls(np.load(path / "crops.npy", mmap_mode="r"), np.load(path / "landmarks.npy"), rows)

    def select(self, split: str | None = None) -> np.ndarray:
        return np.array([i for i, r in enumerate(self.rows) if split is None or r["split"] == split], dtype=int)
