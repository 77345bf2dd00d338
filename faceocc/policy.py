"""Policy: the one place where a face's measurements become verdicts, "usable for face recognition" and advice.

:func:`decide` is the decision; the analyzer, the CLI (analyze, sort), drawing, the reports, the audit, the server and
the web page all use what it returns and never decide again.

The rules (all thresholds configurable through :class:`PolicyOptions`):

1. A face smaller than ``min_face_size`` pixels (shorter box side) or detected with
   a score below ``min_det_score`` is *not assessable*: ``occluded`` is null,
   ``usable`` false, and the advice asks for a better photo. faceocc does not guess.
2. ``occluded`` = occlusion score >= ``occlusion_threshold``. Clear eyeglasses do not
   count unless ``eyeglasses_occlude`` is set (then eyeglasses >= ``type_threshold``
   also make the face occluded).
3. ``upper`` / ``lower``: an eye part / a nose, mouth or chin part covered by at least
   ``part_threshold``; when the verdict is occluded but no part reaches it, the side
   with the larger covered fraction.
4. ``usable`` = assessable and not occluded.
5. ``occluder``: the most likely type that counts (eyeglasses count only with ``eyeglasses_occlude``);
   ``face_class``: the occluder when occluded, else ``eyeglasses`` (eyeglasses >= ``type_threshold``) or ``clean``;
   ``not_assessable`` for rule 1.
6. Advice names the occluder and the covered parts.
7. An image border occludes the face when it cuts off at least ``border_part_cut`` of an eye (with its brow), the
   nose or the mouth, measured from the face's own landmarks (:func:`border_occludes`). A tight crop that keeps
   eyes, nose and mouth whole is not occluded by its border: the canonical chin region reaches below many real chins,
   so a border that cuts only there is left to the network, which sees the crop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .alignment import part_fractions
from .measurement import FaceMeasurement, ModelScores
from .schema import LOWER_PARTS, OCCLUDER_TYPES, OCCLUDING_TYPES, UPPER_PARTS, FaceResult


@dataclass(frozen=True)
class PolicyOptions:
    occlusion_threshold: float | None = None  # None: the model's own threshold (from its metadata), else 0.5
    type_threshold: float = 0.5
    part_threshold: float = 0.3
    eyeglasses_occlude: bool = False
    min_face_size: int = 32
    min_det_score: float = 0.6
    border_part_cut: float = 0.2  # an image border occludes when it cuts off this much of an eye, the nose or the mouth

    def __post_init__(self):
        for name in ("occlusion_threshold", "type_threshold", "part_threshold", "min_det_score", "border_part_cut"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.min_face_size < 0:
            raise ValueError(f"min_face_size must be >= 0, got {self.min_face_size}")

    def threshold(self, model_threshold: float = 0.5) -> float:
        """The occlusion threshold in force: this policy's own, else the model's."""
        return self.occlusion_threshold if self.occlusion_threshold is not None else model_threshold

    def counted_types(self) -> tuple[str, ...]:
        """The occluder types that count as an occlusion under this policy."""
        return OCCLUDER_TYPES if self.eyeglasses_occlude else OCCLUDING_TYPES


#: the parts an image border must cut into to count as an occlusion (see rule 7)
BORDER_PARTS = ("right_eye", "left_eye", "nose", "mouth")


def border_occludes(cut, options: PolicyOptions) -> bool:
    """Whether an image border occludes the face, given the fraction of each part that lies outside the photo."""
    return bool(cut) and max(cut.get(p, 0.0) for p in BORDER_PARTS) >= options.border_part_cut


def not_assessable_reason(m: FaceMeasurement, options: PolicyOptions) -> tuple[str, str] | None:
    """(reason, advice) when the face is too small or too uncertain to assess (rule 1), else None."""
    if m.size < options.min_face_size:
        return (
            f"face too small to assess ({m.size:.0f} px < {options.min_face_size} px)",
            "Move closer to the camera or use a higher-resolution photo.",
        )
    if m.det_score < options.min_det_score:
        return (
            f"face detection too uncertain (score {m.det_score:.2f} < {options.min_det_score})",
            "Face the camera in good, even light.",
        )
    return None


def _with_border(scores: ModelScores, m: FaceMeasurement) -> ModelScores:
    """The model's outputs with the photo's edge counted as an occluder (rule 7)."""
    cut = max(m.border_cut.get(p, 0.0) for p in BORDER_PARTS)
    border_score = 0.5 + 0.5 * min(1.0, cut)
    parts, coverage, occ_map = dict(scores.parts), scores.coverage, scores.occlusion_map
    if occ_map is not None and m.outside is not None:
        occ_map = np.maximum(occ_map, m.outside)
        fr = part_fractions(occ_map)
        parts = {k: max(v, fr[k]) for k, v in parts.items()}
        coverage = max(coverage, fr["face"])
    occluders = dict(scores.occluders)
    occluders["other"] = max(occluders.get("other", 0.0), border_score)
    return ModelScores(max(scores.occlusion_score, border_score), occluders, parts, coverage, occ_map)


def decide(m: FaceMeasurement, options: PolicyOptions, model_threshold: float = 0.5) -> FaceResult:
    """The decision for one measured face: verdict, occluder, class, covered side, usable and advice."""
    face = FaceResult(
        box=[float(v) for v in m.box],
        det_score=float(m.det_score),
        landmarks=[[float(x), float(y)] for x, y in np.asarray(m.landmarks)],
        measurement=m,
    )
    refused = not_assessable_reason(m, options)
    if refused is not None or m.scores is None:
        reason, advice = refused or ("face not classified", "Use a sharper, well-lit photo of the face.")
        face.assessable, face.reason, face.advice = False, reason, [advice]
        return face
    scores = m.scores
    face.border = border_occludes(m.border_cut, options)
    if face.border:
        scores = _with_border(scores, m)
    occ = dict(scores.occluders)
    face.occlusion_score, face.occluders, face.parts = scores.occlusion_score, occ, dict(scores.parts)
    face.coverage, face.occlusion_map = scores.coverage, scores.occlusion_map
    glasses = occ.get("eyeglasses", 0.0) >= options.type_threshold
    occluded = scores.occlusion_score >= options.threshold(model_threshold)
    if options.eyeglasses_occlude and glasses:
        occluded = True
    face.occluded = bool(occluded)
    face.upper, face.lower = _covered_sides(face.parts, occluded, options)
    face.usable = not occluded
    if occluded:
        counted = options.counted_types()
        face.occluder = max(counted, key=lambda t: occ.get(t, 0.0))
        face.face_class = face.occluder
        face.advice = advice_for(face, options)
    else:
        face.face_class = "eyeglasses" if glasses else "clean"
    return face


def _covered_sides(parts: dict[str, float], occluded: bool, options: PolicyOptions) -> tuple[bool, bool]:
    """(upper, lower): a side is covered when one of its parts reaches ``part_threshold``; an occluded face with no
    such part takes the side with the larger covered fraction."""
    if not occluded:
        return False, False
    upper_frac = max(parts.get(p, 0.0) for p in UPPER_PARTS)
    lower_frac = max(parts.get(p, 0.0) for p in LOWER_PARTS)
    upper, lower = upper_frac >= options.part_threshold, lower_frac >= options.part_threshold
    if not (upper or lower):
        upper, lower = upper_frac >= lower_frac, lower_frac > upper_frac
    return bool(upper), bool(lower)


def redecide(face: FaceResult, options: PolicyOptions, model_threshold: float = 0.5) -> FaceResult:
    """The decision for an analysed face under other options (the kept map and crop stay with it)."""
    if face.measurement is None:
        raise ValueError("this FaceResult holds no measurement to decide from")
    out = decide(face.measurement, options, model_threshold)
    out.crop = face.crop
    if face.occlusion_map is None:
        out.occlusion_map = None
    return out


def decide_scores(score: float, occluders, options: PolicyOptions, model_threshold: float = 0.5) -> FaceResult:
    """The decision for bare model outputs of an aligned crop (evaluation: no photo, so no border and no size)."""
    return decide(FaceMeasurement.of_scores(ModelScores.from_arrays(score, occluders)), options, model_threshold)


def label_of(face: FaceResult, options: PolicyOptions) -> str:
    """A dataset label for a decided face: the types present ('+'-joined, vocabulary order) or ``clean``.

    Present: the types scored at least ``type_threshold`` that count, plus eyeglasses; when occluded the face's
    occluder always is one of them; when not occluded only eyeglasses can be.
    """
    if not face.assessable:
        return "not_assessable"
    present = {t for t, v in face.occluders.items() if v >= options.type_threshold}
    if face.occluded and face.occluder is not None:  # an occluded face always has one
        present.add(face.occluder)
    else:
        present &= {"eyeglasses"}
    return "+".join(t for t in OCCLUDER_TYPES if t in present) or "clean"


def with_overrides(options: PolicyOptions, **changes) -> PolicyOptions:
    """A copy of ``options`` with the given fields changed (None values leave a field as it is)."""
    return replace(options, **{k: v for k, v in changes.items() if v is not None})


_PART_WORDS = {"right_eye": "eyes", "left_eye": "eyes", "nose": "nose", "mouth": "mouth", "chin": "chin"}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def advice_for(face: FaceResult, options: PolicyOptions) -> list[str]:
    """What the person can do: one sentence for each counted occluder type scoring ``type_threshold`` or more, the
    face's ``occluder`` first (so the advice leads with what the label says), then the others in a fixed order."""
    occ, t = face.occluders, options.type_threshold
    covered = [p for p, v in face.parts.items() if v >= options.part_threshold]
    words = list(dict.fromkeys(_PART_WORDS[p] for p in covered if p in _PART_WORDS))
    hand_where = [w for w in words if w != "eyes"] if face.lower and not face.upper else words
    sentences = {
        "sunglasses": "Remove your sunglasses.",
        "mask": "Remove your face mask.",
        "hand": f"Move your hand away from your {_join(hand_where) if hand_where else 'face'}.",
        "eyeglasses": "Take off your glasses.",
        "other": f"Make sure nothing covers your {_join(words) if words else 'face'} (hair, scarf, phone or other "
        "objects).",
    }
    counted = [k for k in sentences if k != "eyeglasses" or options.eyeglasses_occlude]
    types = [k for k in counted if occ.get(k, 0) >= t]
    types.sort(key=lambda k: k != face.occluder)  # stable: the occluder first, then the fixed order
    return [sentences[k] for k in types] or [sentences["other"]]
