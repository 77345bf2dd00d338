"""The vocabulary and the result types: every name a faceocc result uses, and how a result is written out.

This is the bottom of the package: it imports nothing from faceocc. The JSON names are a stable contract (the README
documents them); the CSV columns and the HTTP schema of the server are made from the same table (:data:`FACE_FIELDS`),
so a field is added in one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# -- vocabulary --------------------------------------------------------------------------------------------------------
#: the occluder types the model scores, in the order of its ``occluders`` output
OCCLUDER_TYPES = ("mask", "sunglasses", "eyeglasses", "hand", "other")
#: occluder types that count as an occlusion (clear eyeglasses do not, unless the policy says so)
OCCLUDING_TYPES = ("mask", "sunglasses", "hand", "other")
#: facial parts, from the person's point of view (``right_eye`` is on the image's left), in the model's output order
PART_NAMES = ("right_eye", "left_eye", "nose", "mouth", "chin")
UPPER_PARTS = ("right_eye", "left_eye")
LOWER_PARTS = ("nose", "mouth", "chin")
#: for each part, the index of the part it is in the crop's mirror image (the eyes swap sides)
MIRRORED_PARTS = (1, 0, 2, 3, 4)
#: the outputs every faceocc ONNX model has, in this order
MODEL_OUTPUTS = ("occluded", "occluders", "parts", "coverage", "occlusion_map")
#: the class of a face (``faceocc sort`` folders): its occluder when occluded, else eyeglasses or clean
FACE_CLASSES = ("clean", "eyeglasses", "mask", "sunglasses", "hand", "other", "not_assessable")
#: the class a whole image takes from its faces: the first of these any face has
IMAGE_CLASS_ORDER = ("mask", "sunglasses", "hand", "other", "eyeglasses", "clean", "not_assessable", "no_face")


def _round(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(float(v), nd)


#: one face's JSON fields: name -> (JSON type, description). The CSV columns and the server's HTTP schema use it too.
FACE_FIELDS: dict[str, tuple[str, str]] = {
    "box": ("array", "x1, y1, x2, y2 in photo pixels"),
    "det_score": ("number", "face detection confidence"),
    "landmarks": ("array", "5 x [x, y]: right eye, left eye, nose, right and left mouth corner"),
    "occluded": ("boolean?", "the verdict; null when the face could not be assessed"),
    "occlusion_score": ("number?", "probability that the face is occluded (with the image-border rule applied)"),
    "occluders": ("object", "probability of each occluder type: " + ", ".join(OCCLUDER_TYPES)),
    "occluder": ("string?", "the occluder that counts, when occluded"),
    "face_class": ("string", "the face's class: " + ", ".join(FACE_CLASSES)),
    "parts": ("object", "covered fraction of each part: " + ", ".join(PART_NAMES)),
    "upper": ("boolean?", "eyes or brows covered"),
    "lower": ("boolean?", "nose, mouth or chin covered"),
    "coverage": ("number?", "covered fraction of the face"),
    "border": ("boolean", "the photo's edge cuts into an eye, the nose or the mouth"),
    "usable": ("boolean", "assessable and not occluded: usable for face recognition"),
    "advice": ("array", "what the person can do, one sentence each"),
    "assessable": ("boolean", "false when the face is too small or its detection too uncertain"),
    "reason": ("string?", "why the face could not be assessed"),
    "track_id": ("integer?", "video frames only: the face's track (the same person from frame to frame)"),
    "raw_occlusion_score": (
        "number?",
        "video frames only: the model's score of this frame alone (occlusion_score is smoothed along the track)",
    ),
    "crop_file": ("string?", "the aligned crop file the command line wrote (--crops); null when none was written"),
}


@dataclass
class FaceResult:
    """One face: where it is, what the model measured, and the decision made from it (see ``faceocc.policy``).

    Build it with :meth:`faceocc.policy.decide`; ``measurement`` keeps what the decision was made from, so the
    decision can be made again with other options (:func:`faceocc.policy.redecide`) without running the model.
    """

    box: list[float]
    det_score: float
    landmarks: list[list[float]]
    occluded: bool | None = None
    occlusion_score: float | None = None
    occluders: dict[str, float] = field(default_factory=dict)
    occluder: str | None = None
    face_class: str = "not_assessable"
    parts: dict[str, float] = field(default_factory=dict)
    upper: bool | None = None
    lower: bool | None = None
    coverage: float | None = None
    border: bool = False
    usable: bool = False
    advice: list[str] = field(default_factory=list)
    assessable: bool = True
    reason: str | None = None
    track_id: int | None = None  # video frames only
    raw_occlusion_score: float | None = None  # video frames only: this frame's own score, before smoothing
    crop_file: str | None = None  # the crop file ``faceocc analyze --crops`` wrote
    occlusion_map: np.ndarray | None = field(default=None, repr=False, compare=False)  # M x M, canonical frame
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)  # aligned RGB crop
    measurement: Any = field(default=None, repr=False, compare=False)  # faceocc.measurement.FaceMeasurement

    def to_dict(self, include_map: bool = False) -> dict:
        d = {
            "box": [_round(v, 1) for v in self.box],
            "det_score": _round(self.det_score),
            "landmarks": [[_round(x, 1), _round(y, 1)] for x, y in self.landmarks],
            "occluded": self.occluded,
            "occlusion_score": _round(self.occlusion_score),
            "occluders": {k: _round(v) for k, v in self.occluders.items()},
            "occluder": self.occluder,
            "face_class": self.face_class,
            "parts": {k: _round(v) for k, v in self.parts.items()},
            "upper": self.upper,
            "lower": self.lower,
            "coverage": _round(self.coverage),
            "border": self.border,
            "usable": self.usable,
            "advice": list(self.advice),
            "assessable": self.assessable,
            "reason": self.reason,
        }
        if self.track_id is not None:
            d["track_id"] = self.track_id
        if self.raw_occlusion_score is not None:
            d["raw_occlusion_score"] = _round(self.raw_occlusion_score)
        d["crop_file"] = self.crop_file
        if include_map and self.occlusion_map is not None:
            d["occlusion_map"] = np.round(self.occlusion_map, 3).tolist()
        return d

    def csv_row(self) -> dict:
        """This face's columns of a CSV row (see :data:`CSV_FIELDS`)."""
        row: dict[str, Any] = dict(zip(("x1", "y1", "x2", "y2"), (_round(v, 1) for v in self.box)))
        row.update(
            det_score=_round(self.det_score),
            occluded=self.occluded,
            occlusion_score=_round(self.occlusion_score),
            occluder=self.occluder or "",
            face_class=self.face_class,
            upper=self.upper,
            lower=self.lower,
            coverage=_round(self.coverage),
            border=self.border,
            usable=self.usable,
            assessable=self.assessable,
            advice=" ".join(self.advice),
            reason=self.reason or "",
            track_id="" if self.track_id is None else self.track_id,
            crop_file=self.crop_file or "",
        )
        row.update({k: _round(v) for k, v in self.occluders.items()})
        row.update({k: _round(v) for k, v in self.parts.items()})
        return row


#: CSV columns: one row per face (an image without faces, or one that could not be read, gets one row too)
CSV_FIELDS = [
    "path",
    "frame",
    "time_s",
    "face",
    "track_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "det_score",
    "occluded",
    "occlusion_score",
    "occluder",
    "face_class",
    *OCCLUDER_TYPES,
    *PART_NAMES,
    "upper",
    "lower",
    "coverage",
    "border",
    "usable",
    "assessable",
    "advice",
    "reason",
    "error",
    "crop_file",
    "annotated_file",
    "warnings",
]


@dataclass
class ImageResult:
    """One image or video frame: its faces (an empty list is not an error) or the error that stopped it."""

    path: str | None
    width: int
    height: int
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    frame: int | None = None  # videos only
    time_s: float | None = None  # videos only
    image: np.ndarray | None = field(default=None, repr=False)  # the decoded RGB image, when kept
    min_face_px: float | None = None  # the smallest face (shorter box side, image pixels) the detector searched for
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)  # seconds per stage
    annotated_file: str | None = None  # the annotated copy ``faceocc analyze --annotate`` wrote
    #: what the user should know of how the image was read (only the first frame of an animation was analysed...)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def image_class(self) -> str:
        """The class of the whole image: the first of :data:`IMAGE_CLASS_ORDER` that one of its faces has."""
        classes = [f.face_class for f in self.faces] or ["no_face"]
        return min(classes, key=IMAGE_CLASS_ORDER.index)

    def to_dict(self, include_map: bool = False) -> dict:
        d: dict[str, Any] = {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "min_face_px": None if self.min_face_px is None else int(np.ceil(self.min_face_px - 1e-6)),
            "faces": [f.to_dict(include_map) for f in self.faces],
            "error": self.error,
            "annotated_file": self.annotated_file,
        }
        if self.frame is not None:
            d["frame"] = self.frame
            d["time_s"] = self.time_s
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d

    def to_json(self, include_map: bool = False) -> str:
        """One line of JSON that always encodes as UTF-8: a path's bytes that are not UTF-8 (lone surrogates, as
        :func:`os.fsdecode` gives them) are written as ``\\udcXX`` escapes, so ``os.fsencode(json.loads(line)["path"])``
        gives the file name's bytes back."""
        return _LONE_SURROGATE.sub(_escape, json.dumps(self.to_dict(include_map), ensure_ascii=False))

    def csv_rows(self) -> list[dict]:
        """One CSV row per face (:data:`CSV_FIELDS`); one row without a face for an image without faces or an error."""
        base = {
            "path": self.path,
            "frame": self.frame,
            "time_s": self.time_s,
            "error": self.error,
            "annotated_file": self.annotated_file or "",
        }
        base["warnings"] = "; ".join(self.warnings)
        if not self.faces:
            return [dict(base, face="")]
        return [dict(base, face=i, **f.csv_row()) for i, f in enumerate(self.faces)]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def error_result(path: str | None, message: str) -> ImageResult:
    """The record of an input that could not be analysed."""
    return ImageResult(path=path, width=0, height=0, error=message)
