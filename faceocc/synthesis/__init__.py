"""Synthetic occlusion engine: paste occluders onto aligned face crops, with exact masks.

Everything here is numpy + OpenCV (no torch): :func:`synthesize` runs inside the training loop's data workers and
costs about a millisecond on a 112 px crop. It returns a :class:`Synthesized`: the new image, a per-pixel occlusion
map (1 where something covers the face pixel; clear eyeglasses, shadows and drop shadows are 0), the occluder types
present (``OCCLUDER_TYPES``) and the recipe used (``kind``). Labels by the rules of OCCLUSION.md come from
:func:`labels_from_mask`; an occluder that lands only outside the inner face (a hand touching the jaw line, hair on
the forehead, a border cutting the background) is a deliberate hard negative: its pixels are in the occlusion map
but its type is 0 in ``occluders`` and the labels say "not occluded".

Occluders come from an :class:`OccluderLibrary`: ``from_folder(root)`` (the cut-outs of ``occluders/``, with a
deterministic held-out split) or ``procedural()`` (generated, no files). Placement is driven by the 5 landmarks in
a face frame whose x unit is the inter-ocular distance and whose y unit is the eye-to-mouth distance.

Modules: ``sprites`` and ``procedural`` (cut-outs), ``library``, ``geometry``, ``context`` and ``placement``,
``compose`` (pasting, labels), one module per recipe family (``hands``, ``glasses``, ``masks``, ``objects``,
``hair``, ``patches``), ``engine`` (:func:`synthesize`) and ``grid`` (``python -m faceocc.synthesis grid``).
"""

from .compose import OCCLUDED_COVERAGE, OCCLUDED_PART, labels_from_mask
from .engine import Synthesized, synthesize
from .geometry import FaceFrame
from .grid import main, render_grid
from .hair import HAIR_MODES, HAIR_STRANDS_P, STRAND_COVER_ALPHA
from .hands import HAND_MODES, hand_pose_probabilities
from .kinds import DEFAULT_WEIGHTS, KIND_TYPE, KINDS
from .library import OccluderLibrary
from .objects import OBJECT_MODES, OBJECT_MOUTH_CORNER_P
from .sprites import MAX_SIDE, Sprite

__all__ = [
    "DEFAULT_WEIGHTS",
    "FaceFrame",
    "HAIR_MODES",
    "HAIR_STRANDS_P",
    "HAND_MODES",
    "KINDS",
    "KIND_TYPE",
    "MAX_SIDE",
    "OBJECT_MODES",
    "OBJECT_MOUTH_CORNER_P",
    "OCCLUDED_COVERAGE",
    "OCCLUDED_PART",
    "OccluderLibrary",
    "STRAND_COVER_ALPHA",
    "Sprite",
    "Synthesized",
    "hand_pose_probabilities",
    "labels_from_mask",
    "main",
    "render_grid",
    "synthesize",
]
