"""Faces followed across the frames of a video: tracks, the smoothing of the model's outputs along a track, and the
per-track summary.

- :class:`Tracker` gives each detected face a track id: greedy matching of the detections with the tracks' current
  positions (box IoU, or landmarks within a fraction of the face size when the boxes overlap less), new tracks for
  the faces left over, and tracks ended after ``max_missed`` detector runs in a row that miss their face.
- :func:`smooth_scores`: an exponential moving average of every field of :class:`~faceocc.measurement.ModelScores`
  along a track. The verdict of a tracked face is :func:`faceocc.policy.decide` on the frame's measurement carrying
  the smoothed scores: the same decision as for a photo, on steadier numbers.
- :class:`TrackSummary`: frames seen, time span, the share of assessable frames that are occluded, the main occluder
  and the best usable frame, counted from the decided faces (nothing is decided here).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .alignment import CROP_SIZE
from .measurement import ModelScores
from .schema import FaceResult

#: smoothing weight of the newest frame (1: no smoothing). 0.3 turns a one-frame jump of the occlusion score from 0
#: to 1 into 0.3 (no verdict flip at a 0.5 threshold) and follows a lasting change within 2 frames.
DEFAULT_SMOOTH = 0.3
#: a track ends after this many detector runs in a row that do not find its face
DEFAULT_MAX_MISSED = 3
#: a detection continues a track whose box it overlaps at least this much (IoU) ...
DEFAULT_IOU = 0.3
#: ... or whose landmarks lie within this fraction of the face size (mean distance over the 5 points)
LANDMARK_MATCH = 0.35


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N x 4, x1 y1 x2 y2) with every box of ``b`` (M x 4): N x M."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def landmark_distance(a: np.ndarray, b: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean distance between the 5 landmarks of every face of ``a`` (N x 5 x 2) and of ``b`` (M x 5 x 2), in units
    of the face size (shorter side of ``boxes``, the N boxes of ``a``): N x M."""
    a, b = np.asarray(a, np.float64).reshape(-1, 5, 2), np.asarray(b, np.float64).reshape(-1, 5, 2)
    size = np.maximum(
        np.min(
            np.asarray(boxes, np.float64).reshape(-1, 4)[:, 2:] - np.asarray(boxes, np.float64).reshape(-1, 4)[:, :2],
            axis=1,
        ),
        1.0,
    )
    dist = np.linalg.norm(a[:, None] - b[None, :], axis=3).mean(axis=2)
    return dist / size[:, None]


def greedy_match(
    boxes_a, landmarks_a, boxes_b, landmarks_b, iou_threshold: float = DEFAULT_IOU, max_distance: float = LANDMARK_MATCH
) -> list[tuple[int, int]]:
    """Pairs (i, j) of faces of ``a`` and ``b``, best first, each face in one pair at most: the pair's affinity is
    the mean of its IoU and its landmark closeness (1 - distance / ``max_distance``); a pair needs an IoU of at least
    ``iou_threshold`` or landmarks within ``max_distance``."""
    if not len(boxes_a) or not len(boxes_b):
        return []
    iou = box_iou(boxes_a, boxes_b)
    dist = landmark_distance(landmarks_a, landmarks_b, boxes_a)
    affinity = (iou + np.clip(1.0 - dist / max_distance, 0.0, 1.0)) / 2
    allowed = (iou >= iou_threshold) | (dist <= max_distance)
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-affinity, axis=None, kind="stable"):
        i, j = divmod(int(flat), affinity.shape[1])
        if allowed[i, j] and i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return pairs


def smooth_scores(previous: ModelScores | None, new: ModelScores, weight: float = DEFAULT_SMOOTH) -> ModelScores:
    """The exponential moving average of two frames' model outputs: ``weight`` * new + (1 - ``weight``) * previous,
    field by field (occlusion score, occluder types, parts, coverage, occlusion map); ``new`` itself when there is no
    previous frame or ``weight`` is 1."""
    if previous is None or weight >= 1.0:
        return new
    w, k = float(weight), 1.0 - float(weight)

    def mix(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
        return {name: w * value + k * a.get(name, value) for name, value in b.items()}

    occ_map = new.occlusion_map
    if occ_map is not None and previous.occlusion_map is not None and previous.occlusion_map.shape == occ_map.shape:
        occ_map = (w * occ_map + k * previous.occlusion_map).astype(occ_map.dtype, copy=False)
    return ModelScores(
        w * new.occlusion_score + k * previous.occlusion_score,
        mix(previous.occluders, new.occluders),
        mix(previous.parts, new.parts),
        w * new.coverage + k * previous.coverage,
        occ_map,
    )


@dataclass(eq=False)
class Track:
    """One face followed across frames: where it was last seen (photo pixels), its detection score, the smoothed model
    outputs, and the feature points an optical-flow step follows (``points``, owned by :mod:`faceocc.flow`)."""

    id: int
    box: np.ndarray
    landmarks: np.ndarray
    det_score: float
    missed: int = 0  # detector runs in a row that did not find this face
    scores: ModelScores | None = None
    points: np.ndarray | None = field(default=None, repr=False)

    def move(self, box, landmarks) -> None:
        self.box = np.asarray(box, np.float32).reshape(4)
        self.landmarks = np.asarray(landmarks, np.float32).reshape(5, 2)


class Tracker:
    """Track ids for the faces of successive frames.

    >>> tracker = Tracker()
    >>> tracks, unmatched = tracker.update(boxes, landmarks, scores)   # one detector run on a frame
    """

    def __init__(
        self,
        max_missed: int = DEFAULT_MAX_MISSED,
        iou_threshold: float = DEFAULT_IOU,
        max_distance: float = LANDMARK_MATCH,
    ):
        if max_missed < 1:
            raise ValueError(f"max_missed must be at least 1, got {max_missed}")
        self.max_missed, self.iou_threshold, self.max_distance = max_missed, iou_threshold, max_distance
        self.tracks: list[Track] = []
        self.next_id = 0

    def update(self, boxes: Sequence, landmarks: Sequence, scores: Sequence[float]) -> tuple[list[Track], list[Track]]:
        """One detector run: the track of each detection (in order; new tracks for new faces), and the live tracks
        it missed (their ``missed`` count raised; those that reach ``max_missed`` are ended and not returned)."""
        det_boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        det_points = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
        old = self.tracks
        pairs = greedy_match(
            np.array([t.box for t in old]).reshape(-1, 4),
            np.array([t.landmarks for t in old]).reshape(-1, 5, 2),
            det_boxes,
            det_points,
            self.iou_threshold,
            self.max_distance,
        )
        by_detection = {j: old[i] for i, j in pairs}
        found: list[Track] = []
        for j in range(len(det_boxes)):
            track = by_detection.get(j)
            if track is None:
                track = Track(self.next_id, det_boxes[j], det_points[j], float(scores[j]))
                self.next_id += 1
            track.move(det_boxes[j], det_points[j])
            track.det_score, track.missed = float(scores[j]), 0
            found.append(track)
        matched = {id(t) for t in found}
        missed = []
        for track in old:
            if id(track) not in matched:
                track.missed += 1
                if track.missed < self.max_missed:
                    missed.append(track)
        self.tracks = found + missed
        return found, missed


# -- per-track summary -------------------------------------------------------------------------------------------------

#: one track's CSV columns
TRACK_CSV_FIELDS = [
    "path",
    "track_id",
    "frames",
    "first_frame",
    "last_frame",
    "first_time_s",
    "last_time_s",
    "duration_s",
    "assessable_frames",
    "occluded_frames",
    "occluded_share",
    "usable_frames",
    "main_occluder",
    "best_frame",
    "best_time_s",
    "best_score",
    "best_x1",
    "best_y1",
    "best_x2",
    "best_y2",
]


def usable_quality(face: FaceResult, raw_score: float | None) -> float:
    """How good a usable frame of a face is, 0-1: confidently clean (1 - the frame's own occlusion score), confidently
    detected (detection score), and large (face size up to the aligned crop's ``CROP_SIZE`` px, full marks above)."""
    if raw_score is None:
        return 0.0
    size = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
    return float((1.0 - raw_score) * face.det_score * min(1.0, size / CROP_SIZE))


@dataclass
class TrackSummary:
    """What one track says about a person over a clip (counted from decided faces; nothing is decided here)."""

    track_id: int
    path: str | None = None
    frames: int = 0
    first_frame: int | None = None
    last_frame: int | None = None
    first_time_s: float | None = None
    last_time_s: float | None = None
    assessable_frames: int = 0
    occluded_frames: int = 0
    usable_frames: int = 0
    occluders: Counter = field(default_factory=Counter)
    best: dict[str, Any] | None = None  # frame, time_s, score, box

    def add(self, frame: int, time_s: float | None, face: FaceResult, raw_score: float | None = None) -> None:
        """Count one frame of the track: ``face`` as decided, ``raw_score`` the frame's own (unsmoothed) score."""
        self.frames += 1
        if self.first_frame is None:
            self.first_frame, self.first_time_s = frame, time_s
        self.last_frame, self.last_time_s = frame, time_s
        if face.occluded is not None:
            self.assessable_frames += 1
        if face.occluded:
            self.occluded_frames += 1
            self.occluders[face.occluder] += 1
        if face.usable:
            self.usable_frames += 1
            quality = usable_quality(face, raw_score)
            size = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
            if self.best is None or (quality, size) > (self.best["score"], self.best["_size"]):
                self.best = {"frame": frame, "time_s": time_s, "score": quality, "box": list(face.box), "_size": size}

    @property
    def occluded_share(self) -> float | None:
        """Occluded frames / assessable frames (None when no frame could be assessed)."""
        return self.occluded_frames / self.assessable_frames if self.assessable_frames else None

    @property
    def main_occluder(self) -> str | None:
        """The occluder of most of the occluded frames (None when none was occluded)."""
        return self.occluders.most_common(1)[0][0] if self.occluders else None

    def to_dict(self) -> dict[str, Any]:
        duration = (
            None
            if self.first_time_s is None or self.last_time_s is None
            else round(self.last_time_s - self.first_time_s, 3)
        )
        best = None
        if self.best is not None:
            best = {
                "frame": self.best["frame"],
                "time_s": self.best["time_s"],
                "score": round(self.best["score"], 4),
                "box": [round(float(v), 1) for v in self.best["box"]],
            }
        share = self.occluded_share
        return {
            "track_id": self.track_id,
            "path": self.path,
            "frames": self.frames,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_time_s": self.first_time_s,
            "last_time_s": self.last_time_s,
            "duration_s": duration,
            "assessable_frames": self.assessable_frames,
            "occluded_frames": self.occluded_frames,
            "occluded_share": None if share is None else round(share, 4),
            "usable_frames": self.usable_frames,
            "main_occluder": self.main_occluder,
            "occluders": dict(self.occluders.most_common()),
            "best_frame": best,
        }

    def csv_row(self) -> dict[str, Any]:
        d = self.to_dict()
        row = {k: d[k] for k in TRACK_CSV_FIELDS if k in d and k != "best_frame"}
        row["main_occluder"] = d["main_occluder"] or ""
        best = d["best_frame"] or {}
        row.update(
            best_frame=best.get("frame", ""), best_time_s=best.get("time_s", ""), best_score=best.get("score", "")
        )
        row.update(zip(("best_x1", "best_y1", "best_x2", "best_y2"), best.get("box", ["", "", "", ""])))
        return row


def write_tracks_json(path: str | Path, videos: Sequence[dict[str, Any]]) -> Path:
    """``{"videos": [{"path", "frames", "fps", "tracks": [track, ...]}, ...]}`` (see :meth:`TrackSummary.to_dict`)
    written to ``path``; returns the path."""
    path = Path(path)
    path.write_text(json.dumps({"videos": list(videos)}, indent=1, ensure_ascii=False) + "\n")
    return path


def write_tracks_csv(path: str | Path, summaries: Sequence[TrackSummary]) -> Path:
    """One row per track (:data:`TRACK_CSV_FIELDS`) written to ``path``; returns the path."""
    path = Path(path)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRACK_CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(s.csv_row() for s in summaries)
    return path
