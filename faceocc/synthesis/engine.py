"""synthesize: one synthetic sample from an aligned crop (recipe sampling, layer order, second occluders, noise)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..schema import OCCLUDER_TYPES
from .compose import is_occluding
from .context import Context
from .geometry import coverage_fractions
from .glasses import add_glasses
from .hair import HAIR_MODES, add_hair
from .hands import add_hand, hand_pose_probabilities
from .kinds import DEFAULT_WEIGHTS, KINDS
from .masks import add_mask, add_scarf
from .objects import OBJECT_MODES, add_object
from .patches import add_border, add_patch

if TYPE_CHECKING:
    from .library import OccluderLibrary


@dataclass
class Synthesized:
    """One synthetic sample. ``occluders`` has a 0/1 value for each of ``OCCLUDER_TYPES``."""

    image: np.ndarray  # HxWx3 uint8 RGB, same size as the input crop
    occlusion: np.ndarray  # HxW float32 in [0, 1]: pixel covered by an occluder (clear eyeglasses: 0)
    occluders: dict  # {"mask": 0/1, "sunglasses": ..., "eyeglasses": ..., "hand": ..., "other": ...}
    kind: str  # recipe of the main occluder: one of KINDS
    layers: tuple = ()  # every recipe pasted, in paste order (two when a second occluder was added)
    modes: tuple = ()  # the recipes' sub-modes, e.g. "hair:strands", "hair:strands_forehead", "object:mouth_corner"


_RECIPES = {
    "hand": add_hand,
    "sunglasses": lambda ctx: add_glasses(ctx, True),
    "eyeglasses": lambda ctx: add_glasses(ctx, False),
    "mask": add_mask,
    "scarf": add_scarf,
    "object": add_object,
    "patch": add_patch,
    "hair": add_hair,
    "border": add_border,
}
#: paste order: lower layers first (a mask under the glasses, a hand over both)
_Z = {
    "border": -1,
    "mask": 0,
    "scarf": 0,
    "eyeglasses": 1,
    "sunglasses": 1,
    "hair": 2,
    "patch": 3,
    "object": 3,
    "hand": 3,
}
#: second occluder: probability and candidates
_COMBOS = {
    "sunglasses": (0.22, ("hand", "mask", "object", "scarf")),
    "eyeglasses": (0.3, ("hand", "mask", "object", "scarf", "hair")),
    "mask": (0.2, ("eyeglasses", "sunglasses", "hand")),
    "scarf": (0.2, ("sunglasses", "eyeglasses", "hand")),
    "hand": (0.08, ("sunglasses", "eyeglasses")),
}


_NOISE: dict = {}


def _noise_bank(size: int) -> np.ndarray:
    bank = _NOISE.get(size)
    if bank is None:
        bank = _NOISE[size] = np.random.default_rng(12345).standard_normal((size + 64, size + 64, 3)).astype(np.float32)
    return bank


def _sample_kind(library: OccluderLibrary, rng: np.random.Generator, weights: dict | None) -> str:
    weights = DEFAULT_WEIGHTS if weights is None else weights
    avail = set(library.kinds())
    ks = [k for k in KINDS if weights.get(k, 0) > 0 and k in avail]
    if not ks:
        return "none"
    p = np.array([weights[k] for k in ks], np.float64)
    return ks[int(rng.choice(len(ks), p=p / p.sum()))]


def _add_layer(ctx: Context, k: str, kind: str, mode: str | None) -> None:
    """Paste the recipe ``k``; ``mode`` applies to the main recipe ``kind`` only."""
    if mode is not None and k == kind and k == "hand":
        add_hand(ctx, mode)
    elif mode is not None and k == kind and k == "hair":
        if mode not in HAIR_MODES:
            raise ValueError(f"unknown hair mode {mode!r} (known: {', '.join(HAIR_MODES)})")
        add_hair(ctx, negative=mode in ("forehead", "strands_forehead"), strands=mode.startswith("strands"))
    elif mode is not None and k == kind and k == "object":
        if mode not in OBJECT_MODES:
            raise ValueError(f"unknown object mode {mode!r} (known: {', '.join(OBJECT_MODES)})")
        add_object(ctx, mode)
    else:
        _RECIPES[k](ctx)


def _finish(ctx: Context, postprocess: bool) -> np.ndarray:
    """The uint8 image, with sensor noise and a JPEG round-trip sometimes (``postprocess``)."""
    rng = ctx.rng
    if postprocess and ctx.chance(0.15):  # sensor noise, from a fixed bank (fast, deterministic)
        s = ctx.size
        bank = _noise_bank(s)
        oy, ox = int(rng.integers(bank.shape[0] - s + 1)), int(rng.integers(bank.shape[1] - s + 1))
        ctx.img += bank[oy : oy + s, ox : ox + s] * ctx.u(1, 4)
    image = cv2.convertScaleAbs(ctx.img)  # rounds and saturates to uint8
    if postprocess and ctx.chance(0.25):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return image


def synthesize(
    crop: np.ndarray,
    landmarks: np.ndarray,
    library: OccluderLibrary,
    rng: np.random.Generator,
    kind: str | None = None,
    weights: dict | None = None,
    second: bool = True,
    postprocess: bool = True,
    mode: str | None = None,
    hand_weights: dict | None = None,
) -> Synthesized:
    """Paste an occluder (recipe ``kind``, or one sampled from ``weights``) onto an aligned RGB crop.

    ``landmarks`` are the crop's 5 points in its pixels. A second occluder is added sometimes
    (sunglasses + hand, mask + eyeglasses, ...) unless ``second`` is False. ``postprocess`` adds the
    global noise / JPEG round-trip that every sample, clean ones included, may get.
    ``mode`` forces a placement of the main recipe: for ``hand`` one of HAND_MODES, for ``hair`` one of HAIR_MODES:
    "eye" (locks over an eye), "forehead" (a fringe above the brows, a negative), "strands" (thin semi-transparent
    strands in the person's hair colour over an eye), "strands_forehead" (the same, above the brows: a negative); for
    ``object`` one of OBJECT_MODES ("mouth_corner": an object's tip at a corner of the mouth; "free": elsewhere).
    ``hand_weights`` overrides the probabilities of the hand poses by name (the others keep theirs, see
    ``hand_pose_probabilities``).
    """
    crop = np.asarray(crop)
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"crop must be a square HxWx3 image, got shape {crop.shape}")
    if crop.dtype != np.uint8:
        crop = np.clip(crop, 0, 255).astype(np.uint8)
    if kind is None:
        kind = _sample_kind(library, rng, weights)
    elif kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    elif kind not in library.kinds():
        raise ValueError(f"this library cannot make {kind!r} (it can make: {', '.join(library.kinds())})")
    ctx = Context(crop, landmarks, library, rng, hand_pose_probabilities(hand_weights) if hand_weights else None)
    layers = [] if kind == "none" else [kind]
    if second and kind in _COMBOS and ctx.chance(_COMBOS[kind][0]):
        extra = [k for k in _COMBOS[kind][1] if k in library.kinds()]
        if extra:
            layers.append(ctx.choice(extra))
    for k in sorted(layers, key=lambda k: _Z[k]):
        _add_layer(ctx, k, kind, mode)
    image = _finish(ctx, postprocess)
    occ = ctx.occ
    flags = ctx.flags
    blamed = any(flags[t] for t in OCCLUDER_TYPES if t != "eyeglasses")
    if is_occluding(coverage_fractions(occ, ctx.frame)) and not blamed:
        # two sub-threshold layers together: blame the one covering most
        occluding = {t: c for t, c in ctx.contrib.items() if t != "eyeglasses"}
        if occluding:
            flags[max(occluding, key=lambda t: occluding[t])] = 1.0
    return Synthesized(image, occ, dict(flags), kind, tuple(layers), tuple(ctx.modes))
