"""Gathering the faces to evaluate and one or more models' predictions on them.

Three sources of faces:

* ``collect_photos``: dataset images run through the same detector, alignment and
  model as ``faceocc analyze`` (optionally padding the image for the detector, for
  tight face crops). Each image contributes its main face; images where no face is
  found, or whose face is not assessable, are kept as items with that status.
* ``collect_cache``: a crop cache written by ``faceocc prepare`` (no detection).
* ``collect_synthetic``: clean test faces with held-out occluders pasted on them.

Every model sees exactly the same faces (detections are computed once and shared).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..alignment import PART_NAMES
from ..datasets import OCCLUDER_TYPES, OCCLUDING_TYPES, DatasetError, Record, apply_audit, label_targets, normalise_label

STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_NOT_ASSESSABLE = "not_assessable"
STATUS_ERROR = "error"


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
    def empty(cls, model: str, n: int) -> "Predictions":
        return cls(model, np.full(n, np.nan), np.full((n, len(OCCLUDER_TYPES)), np.nan), np.full((n, len(PART_NAMES)), np.nan),
                   np.full(n, np.nan))

    def set(self, i: int, score: float, occluders, parts, coverage: float) -> None:
        self.scores[i] = score
        self.occluders[i] = occluders
        self.parts[i] = parts
        self.coverage[i] = coverage


@dataclass
class EvalSet:
    items: list[Item]
    preds: list[Predictions]
    crop_store: "CropStore"
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
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


# -- truth -----------------------------------------------------------------------------------------

def _parts_from_extra(extra: dict, where: str) -> np.ndarray | None:
    """Per-part truth from manifest columns: one column per part (fraction or 0/1), or ``parts`` = ``nose+mouth``."""
    if any(extra.get(p, "") not in ("", None) for p in PART_NAMES):
        try:
            return np.array([float(extra.get(p) or 0.0) for p in PART_NAMES], np.float32)
        except ValueError:
            raise DatasetError(f"{where}: part columns must be numbers (fractions or 0/1)") from None
    raw = extra.get("parts")
    if raw not in (None, ""):
        names = [n for n in str(raw).replace(" ", "").split("+") if n and n != "none"]
        bad = [n for n in names if n not in PART_NAMES]
        if bad:
            raise DatasetError(f"{where}: unknown part(s) {bad} (known: {', '.join(PART_NAMES)})")
        return np.array([float(p in names) for p in PART_NAMES], np.float32)
    return None


def item_from_record(rec: Record, eyeglasses_occlude: bool = False) -> Item:
    occluded, types, weights = label_targets(rec.label)
    if eyeglasses_occlude and "eyeglasses" in rec.label.split("+"):
        occluded = 1.0
    return Item(path=str(rec.path), label=rec.label, split=rec.split, group=rec.group, source=rec.source,
                true_occluded=bool(occluded), true_types=types, type_weights=weights, true_coverage=rec.coverage,
                true_parts=_parts_from_extra(rec.extra, f"{rec.path}:{rec.line}" if rec.line else str(rec.path)))


def check_parts(records: Sequence[Record]) -> None:
    """Fail on bad part columns before any work."""
    for rec in records:
        _parts_from_extra(rec.extra, f"line {rec.line}" if rec.line else str(rec.path))


# -- photos through the analyzer -------------------------------------------------------------------

class _PaddedDetector:
    """Wraps a FaceDetector: pads the image (grey) by ``pad`` of its size before detecting and maps the
    detections back; remembers the last detections so that other models can reuse them.

    With ``detect_on`` set, that image (same geometry) is searched instead of the one given.
    """

    def __init__(self, inner, pad: float = 0.0):
        self.inner, self.pad, self.last = inner, float(pad), []
        self.detect_on = None

    def detect(self, image, original_size=None, input_scale=None):
        from ..detection import Detection

        if self.detect_on is not None:
            dets = self.inner.detect(self.detect_on)
        elif self.pad <= 0:
            dets = self.inner.detect(image, original_size, input_scale)
        else:
            py, px = pad_sizes(image, self.pad)
            padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127, 127, 127))
            dets = [Detection(box=d.box - np.array([px, py, px, py], np.float32), score=d.score,
                              landmarks=d.landmarks - np.array([px, py], np.float32)) for d in self.inner.detect(padded)]
        self.last = dets
        return dets


def pad_sizes(image, pad: float) -> tuple[int, int]:
    h, w = image.shape[:2]
    return int(round(h * pad)), int(round(w * pad))


class _Replay:
    """A detector that returns the detections another detector just made (same image)."""

    def __init__(self, source: _PaddedDetector):
        self.source = source

    def detect(self, image, original_size=None, input_scale=None):
        return self.source.last


def main_face(faces, width: int, height: int) -> int:
    """Index of the face an image label is about: large, confident and central (as ``faceocc prepare`` picks)."""
    cx, cy, side = width / 2, height / 2, max(width, height, 1)

    def rank(i):
        f = faces[i]
        size = min(f.box[2] - f.box[0], f.box[3] - f.box[1])
        dist = math.hypot((f.box[0] + f.box[2]) / 2 - cx, (f.box[1] + f.box[3]) / 2 - cy) / side
        return f.det_score * size / side - dist

    return max(range(len(faces)), key=rank)


def score_photo(item: Item, i: int, image, analyzers, preds, pick) -> list | None:
    """Analyze one photo with every model and record the face ``pick(faces)`` chooses in ``preds[k]`` row ``i``;
    returns that face as each model saw it, or None (``item.status`` says why: no face, not assessable)."""
    faces = analyzers[0].analyze_faces(image)
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
    chosen = [face] + [a.analyze_faces(image)[j] for a in analyzers[1:]]
    for k, f in enumerate(chosen):
        preds[k].set(i, f.occlusion_score, [f.occluders[t] for t in OCCLUDER_TYPES], [f.parts[p] for p in PART_NAMES],
                     f.coverage)
    return chosen


def build_analyzers(models: Sequence[str | None], threads: int = 0, pad: float = 0.0, score_threshold: float = 0.6,
                    det_size: int | None = None, min_face: int = 32, keep_crops: bool = True,
                    occlusion_threshold: float | None = None):
    """One Analyzer per model (the first keeps crops); the others replay the first one's detections.
    ``occlusion_threshold`` None: each model's own (as ``faceocc analyze``)."""
    from ..detection import DetectorOptions
    from ..pipeline import Analyzer, AnalyzerOptions
    from ..policy import PolicyOptions

    analyzers = []
    for k, model in enumerate(models):
        opts = AnalyzerOptions(model=model, threads=threads, keep_crops=keep_crops and k == 0,
                               detector=DetectorOptions(score_threshold=score_threshold, max_side=det_size),
                               policy=PolicyOptions(min_face_size=min_face, occlusion_threshold=occlusion_threshold))
        analyzers.append(Analyzer(opts))
    first = _PaddedDetector(analyzers[0].detector, pad)
    analyzers[0].detector = first
    for a in analyzers[1:]:
        a.detector = _Replay(first)
    return analyzers


def collect_photos(records: Sequence[Record], models: Sequence[str | None], threads: int = 0, pad: float = 0.0,
                   score_threshold: float = 0.6, det_size: int | None = None, min_face: int = 32, eyeglasses_occlude: bool = False,
                   progress: bool = False, keep_faces: bool = False, pad_mode: str = "detect") -> EvalSet:
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

    analyzers = build_analyzers(models, threads, pad, score_threshold, det_size, min_face)
    items = [item_from_record(r, eyeglasses_occlude) for r in records]
    preds = [Predictions.empty(_model_label(a.model, k), len(items)) for k, a in enumerate(analyzers)]
    store = CropStore()
    landmarks: dict[int, np.ndarray] = {}
    for i, item in enumerate(tqdm(items, desc="evaluate", unit="img", disable=not progress)):
        try:
            image = load_image(item.path)
        except InputError as exc:
            item.status, item.message = STATUS_ERROR, str(exc)
            continue
        if pad_mode == "image" and pad > 0:
            py, px = pad_sizes(image, pad)
            analyzers[0].detector.detect_on = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(127, 127, 127))
            image = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE)
        chosen = score_photo(item, i, image, analyzers, preds, lambda fs: main_face(fs, image.shape[1], image.shape[0]))
        if chosen is None:
            continue
        face = chosen[0]
        if face.crop is not None:
            item.crop_index = store.add(face.crop)
            if keep_faces:
                lm = np.asarray(face.landmarks, np.float32)
                landmarks[i] = transform_points(lm, estimate_transform(lm, face.crop.shape[0]))
    es = EvalSet(items, preds, store, "photos", {"pad": pad, "pad_mode": pad_mode, "detector_score_threshold": score_threshold})
    if keep_faces:
        es.info["crop_landmarks"] = landmarks
    return es


def _model_label(model, k: int) -> str:
    name = getattr(model, "name", None) or f"model{k}"
    return name


# -- a crop cache -----------------------------------------------------------------------------------

def collect_cache(cache_dir: str | Path, models: Sequence[str | None], split: str | None = None,
                  records: Sequence[Record] | None = None, use_fallback: bool = False, threads: int = 0,
                  eyeglasses_occlude: bool = False, limit: int | None = None, seed: int = 0,
                  predict: bool = True, audit: dict | None = None) -> EvalSet:
    """Items from a ``faceocc prepare`` cache. Crops aligned without a detected face (``det_score`` 0) count as
    "no face found" unless ``use_fallback``; images the cache skipped are listed with their reason.

    With ``records`` (the dataset), labels, groups and truth come from the dataset, matched by path.
    """
    from ..model import OcclusionModel
    from ..prepare import CropCache

    cache_dir = Path(cache_dir)
    if not (cache_dir / "crops.npy").is_file() or not (cache_dir / "index.csv").is_file():
        raise DatasetError(f"{cache_dir}: not a crop cache (expected crops.npy and index.csv, as written by `faceocc prepare`)")
    cache = CropCache.load(cache_dir)
    if len(cache.rows) != len(cache.crops):
        raise DatasetError(f"{cache_dir}: index.csv has {len(cache.rows)} rows but crops.npy {len(cache.crops)} crops")
    by_path = _record_lookup(records, [r["path"] for r in cache.rows]) if records else None
    selected = []
    for idx, row in enumerate(cache.rows):
        if split and row.get("split", "") != split:
            continue
        if by_path is not None:
            rec = by_path.get(row["path"])
            if rec is None:
                continue  # not in the dataset given
        else:
            where = f"{cache_dir / 'index.csv'}:{idx + 2}"
            rec = Record(path=Path(row["path"]), label=normalise_label(row["label"], where), split=row.get("split", ""),
                         group=row.get("group", "") or "", source=row.get("source", "") or "")
        selected.append((idx, row, rec))
    if audit and by_path is None:  # cache paths and audit paths may be relative to different roots
        apply_audit_by_suffix([rec for _, _, rec in selected], audit)
    items, rows_idx = [], []
    for idx, row, rec in selected:
        item = item_from_record(rec, eyeglasses_occlude)
        item.path = row["path"]
        item.det_score = float(row.get("det_score") or 0.0)
        item.n_faces = int(item.det_score > 0)
        if item.det_score <= 0 and not use_fallback:
            item.status, item.message = STATUS_NO_FACE, "no face found (the cache holds a fallback crop; --use-fallback scores it)"
        item.crop_index = idx
        items.append(item)
        rows_idx.append(idx)
    skipped = cache_dir / "skipped.csv"
    if skipped.is_file():
        with open(skipped, newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                label = normalise_label(row.get("label") or "clean", f"{skipped}:{line}")
                item = item_from_record(Record(path=Path(row["path"]), label=label), eyeglasses_occlude)
                item.path = row["path"]
                reason = row.get("reason", "") or "skipped"
                item.status = STATUS_NO_FACE if "no face" in reason else STATUS_ERROR
                item.message = reason
                items.append(item)
    if limit:
        items = subsample(items, limit, seed)
    es = EvalSet(items, [], CropStore(cache.crops), "cache", {"cache": str(cache_dir), "use_fallback": use_fallback})
    es.info["cache_landmarks"] = cache.landmarks
    if predict:
        for k, model in enumerate(models):
            es.preds.append(predict_crops(es, OcclusionModel(model, threads=threads), k))
    return es


def _record_lookup(records: Sequence[Record], cache_paths: Sequence[str]) -> dict:
    """Map cache paths (relative to some root) to dataset records (absolute paths)."""
    by_abs = {str(Path(r.path).resolve()): r for r in records}
    out = {}
    root = None
    for cp in cache_paths:
        if root is None:
            for a in by_abs:
                if a.endswith("/" + cp.lstrip("/")):
                    root = a[: len(a) - len(cp.lstrip("/"))]
                    break
            else:
                continue
        rec = by_abs.get(str(Path(root + cp.lstrip("/")).resolve())) if root is not None else None
        if rec is not None:
            out[cp] = rec
    return out


def _audit_root(path: str | Path, audit: dict) -> str | None:
    """The folder that audit paths are relative to, if ``path`` is one of them (by suffix), else None."""
    full = str(Path(path).resolve())
    for rel in audit:
        suffix = "/" + rel.lstrip("/")
        if full.endswith(suffix):
            return full[: len(full) - len(suffix)] or "/"
    return None


def apply_audit_by_suffix(records: Sequence[Record], audit: dict) -> int:
    """Correct labels from an audit file whose paths are relative to some root above the records: the root is found
    from the first audit path that ends a record's path. Returns how many labels changed."""
    for r in records:
        root = _audit_root(r.path, audit)
        if root is not None:
            return apply_audit(list(records), audit, root)
    return 0


def subsample(items: list[Item], limit: int, seed: int = 0) -> list[Item]:
    """A fixed-seed random subset of ``limit`` items, kept in their original order."""
    if limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    return [items[i] for i in keep]


def predict_crops(es: EvalSet, model, k: int, batch: int = 128) -> Predictions:
    preds = Predictions.empty(_model_label(model.path, k), len(es.items))
    todo = [i for i, it in enumerate(es.items) if it.status == STATUS_OK and it.crop_index is not None]
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        crops = np.stack([es.crop_store.get(es.items[i].crop_index) for i in chunk]).astype(np.uint8)
        out = model.predict(crops)
        for j, i in enumerate(chunk):
            preds.set(i, out.occluded[j], out.occluders[j], out.parts[j], out.coverage[j])
    return preds


# -- synthetic occlusions ---------------------------------------------------------------------------

def collect_synthetic(faces: Sequence[tuple[np.ndarray, np.ndarray, Item]], models: Sequence[str | None],
                      occluders: str | Path | None = None, per_face: int = 1, seed: int = 0, threads: int = 0,
                      kinds: Sequence[str] | None = None, eyeglasses_occlude: bool = False) -> EvalSet:
    """A fixed-seed synthetic test set: each clean face (crop, crop landmarks, item) gets ``per_face`` samples,
    the recipes cycling through every kind the library makes (``none`` and ``eyeglasses`` included); occluders are
    the held-out ``test`` split of ``occluders`` (or a procedural library when none is given)."""
    from .. import synthesis
    from ..model import OcclusionModel

    if occluders:
        library = synthesis.OccluderLibrary.from_folder(occluders, split="test", seed=0)
    else:
        library = synthesis.OccluderLibrary.procedural(seed=12345)
    avail = library.kinds()
    kinds = [k for k in (kinds or avail) if k in avail]
    if not kinds:
        raise ValueError(f"the occluder library can make none of the requested kinds (it makes {', '.join(avail)})")
    images, items = [], []
    n = 0
    for f, (crop, lmk, src) in enumerate(faces):
        for r in range(per_face):
            kind = kinds[n % len(kinds)]
            n += 1
            rng = np.random.default_rng([seed, f, r])
            s = synthesis.synthesize(np.asarray(crop), np.asarray(lmk, np.float32), library, rng, kind=kind, second=False)
            lab = synthesis.labels_from_mask(s.occlusion, s.occluders)
            types = np.array([float(s.occluders.get(t, 0.0) > 0.5) for t in OCCLUDER_TYPES], np.float32)
            present = [t for t, v in zip(OCCLUDER_TYPES, types) if v]
            occluded = bool(lab["occluded"]) or (eyeglasses_occlude and "eyeglasses" in present)
            item = Item(path=src.path, label="+".join(present) or "clean", split=src.split, group=src.group,
                        source=src.source, det_score=src.det_score, n_faces=1, true_occluded=occluded, true_types=types,
                        true_coverage=float(lab["coverage"]), true_parts=np.array([lab["parts"][p] for p in PART_NAMES], np.float32),
                        kind=s.kind, crop_index=len(images))
            images.append(s.image)
            items.append(item)
    arr = np.stack(images) if images else np.zeros((0, 112, 112, 3), np.uint8)
    es = EvalSet(items, [], CropStore(arr), "synthetic",
                 {"occluders": str(occluders) if occluders else "procedural", "occluder_split": "test" if occluders else "procedural",
                  "library": repr(library), "per_face": per_face, "seed": seed, "kinds": kinds, "clean_faces": len(faces)})
    for k, model in enumerate(models):
        es.preds.append(predict_crops(es, OcclusionModel(model, threads=threads), k))
    return es


def occluding(label: str) -> bool:
    return bool(set(label.split("+")) & set(OCCLUDING_TYPES)) or label == "occluded"


CropGetter = Callable[[int], np.ndarray | None]
