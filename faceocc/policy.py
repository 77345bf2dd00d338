"""Policy: from model scores to verdicts, "usable for face recognition", and advice a person can act on.

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
5. Advice names the occluder and the covered parts.
6. An image border occludes the face when it cuts off at least ``border_part_cut`` of an eye (with its brow), the
   nose or the mouth, measured from the face's own landmarks (:func:`border_occludes`). A tight crop that keeps
   eyes, nose and mouth whole is not occluded by its border: the canonical chin region reaches below many real chins,
   so a border that cuts only there is left to the network, which sees the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .alignment import LOWER_PARTS, UPPER_PARTS
from .results import FaceResult


@dataclass
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


#: the parts an image border must cut into to count as an occlusion (see rule 6)
BORDER_PARTS = ("right_eye", "left_eye", "nose", "mouth")


def border_occludes(cut: dict[str, float], options: PolicyOptions) -> bool:
    """Whether an image border occludes the face, given the fraction of each part that lies outside the photo."""
    return max(cut.get(p, 0.0) for p in BORDER_PARTS) >= options.border_part_cut


_PART_WORDS = {"right_eye": "eyes", "left_eye": "eyes", "nose": "nose", "mouth": "mouth", "chin": "chin"}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def assess_size(face: FaceResult, size: float, options: PolicyOptions) -> bool:
    """Mark a face not assessable when it is too small or too uncertain; returns whether it is assessable."""
    if size < options.min_face_size:
        face.assessable, face.reason = False, f"face too small to assess ({size:.0f} px < {options.min_face_size} px)"
        face.advice = ["Move closer to the camera or use a higher-resolution photo."]
    elif face.det_score < options.min_det_score:
        face.assessable, face.reason = False, f"face detection too uncertain (score {face.det_score:.2f} < {options.min_det_score})"
        face.advice = ["Face the camera in good, even light."]
    else:
        return True
    face.occluded = face.upper = face.lower = None
    face.usable = False
    return False


def apply_policy(face: FaceResult, options: PolicyOptions, model_threshold: float = 0.5) -> FaceResult:
    """Fill ``occluded``, ``upper``, ``lower``, ``usable`` and ``advice`` from the scores in ``face``."""
    if not face.assessable:
        return face
    threshold = options.occlusion_threshold if options.occlusion_threshold is not None else model_threshold
    occ = face.occluders
    occluded = face.occlusion_score >= threshold
    if options.eyeglasses_occlude and occ.get("eyeglasses", 0.0) >= options.type_threshold:
        occluded = True
    upper_frac = max(face.parts.get(p, 0.0) for p in UPPER_PARTS)
    lower_frac = max(face.parts.get(p, 0.0) for p in LOWER_PARTS)
    upper, lower = upper_frac >= options.part_threshold, lower_frac >= options.part_threshold
    if occluded and not (upper or lower):
        upper, lower = upper_frac >= lower_frac, lower_frac > upper_frac
    if not occluded:
        upper = lower = False
    face.occluded, face.upper, face.lower = bool(occluded), bool(upper), bool(lower)
    face.usable = not occluded
    face.advice = advice_for(face, options) if occluded else []
    return face


def advice_for(face: FaceResult, options: PolicyOptions) -> list[str]:
    occ, t = face.occluders, options.type_threshold
    covered = [p for p, v in face.parts.items() if v >= options.part_threshold]
    words = list(dict.fromkeys(_PART_WORDS[p] for p in covered if p in _PART_WORDS))
    advice = []
    if occ.get("sunglasses", 0) >= t:
        advice.append("Remove your sunglasses.")
    if occ.get("mask", 0) >= t:
        advice.append("Remove your face mask.")
    if occ.get("hand", 0) >= t:
        where = [w for w in words if w != "eyes"] if face.lower and not face.upper else words
        advice.append(f"Move your hand away from your {_join(where) if where else 'face'}.")
    if options.eyeglasses_occlude and occ.get("eyeglasses", 0) >= t:
        advice.append("Take off your glasses.")
    if occ.get("other", 0) >= t or not advice:
        target = _join(words) if words else "face"
        advice.append(f"Make sure nothing covers your {target} (hair, scarf, phone or other objects).")
    return advice
