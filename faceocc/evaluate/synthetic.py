"""A fixed-seed synthetic test set: clean test faces with held-out occluders pasted on them, the truth known exactly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..schema import OCCLUDER_TYPES, PART_NAMES
from .evalset import CropStore, EvalSet, Item, predict_crops


def collect_synthetic(
    faces: Sequence[tuple[np.ndarray, np.ndarray, Item]],
    models: Sequence[str | None],
    occluders: str | Path | None = None,
    per_face: int = 1,
    seed: int = 0,
    threads: int = 0,
    kinds: Sequence[str] | None = None,
    eyeglasses_occlude: bool = False,
) -> EvalSet:
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
    images: list[np.ndarray] = []
    items: list[Item] = []
    n = 0
    for f, (crop, lmk, src) in enumerate(faces):
        for r in range(per_face):
            kind = kinds[n % len(kinds)]
            n += 1
            rng = np.random.default_rng([seed, f, r])
            s = synthesis.synthesize(
                np.asarray(crop), np.asarray(lmk, np.float32), library, rng, kind=kind, second=False
            )
            items.append(_synthetic_item(s, src, len(images), eyeglasses_occlude))
            images.append(s.image)
    arr = np.stack(images) if images else np.zeros((0, 112, 112, 3), np.uint8)
    es = EvalSet(
        items,
        [],
        CropStore(arr),
        "synthetic",
        {
            "occluders": str(occluders) if occluders else "procedural",
            "occluder_split": "test" if occluders else "procedural",
            "library": repr(library),
            "per_face": per_face,
            "seed": seed,
            "kinds": kinds,
            "clean_faces": len(faces),
        },
    )
    for k, model in enumerate(models):
        es.preds.append(predict_crops(es, OcclusionModel(model, threads=threads), k))
    return es


def _synthetic_item(s, src: Item, crop_index: int, eyeglasses_occlude: bool) -> Item:
    """The item of one synthesized sample ``s`` of the clean face ``src``: its truth from the pasted occluders."""
    from ..synthesis import labels_from_mask

    lab = labels_from_mask(s.occlusion, s.occluders)
    types = np.array([float(s.occluders.get(t, 0.0) > 0.5) for t in OCCLUDER_TYPES], np.float32)
    present = [t for t, v in zip(OCCLUDER_TYPES, types) if v]
    occluded = bool(lab["occluded"]) or (eyeglasses_occlude and "eyeglasses" in present)
    return Item(
        path=src.path,
        label="+".join(present) or "clean",
        split=src.split,
        group=src.group,
        source=src.source,
        det_score=src.det_score,
        n_faces=1,
        true_occluded=occluded,
        true_types=types,
        true_coverage=float(lab["coverage"]),
        true_parts=np.array([lab["parts"][p] for p in PART_NAMES], np.float32),
        kind=s.kind,
        crop_index=crop_index,
    )
