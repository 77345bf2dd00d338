#!/usr/bin/env python
"""Synthetic held-out hands, one row per hand pose: how often each model calls the face occluded.

    python scripts/hand_poses.py CACHE OCCLUDERS MODEL [MODEL ...] [--per-pose 150]

CACHE: a `faceocc prepare` cache of the dataset (its test split's clean faces, after the label audit, are used);
OCCLUDERS: the occluder folder (its held-out `test` cut-outs are pasted). `outline` is the hard negative (a hand
touching the face outline from outside): its row is the false-positive rate; every other row is a TPR.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faceocc import synthesis  # noqa: E402
from faceocc.datasets import Record, apply_audit, read_audit  # noqa: E402
from faceocc.model import OcclusionModel  # noqa: E402
from faceocc.prepare import CropCache  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache")
    ap.add_argument("occluders")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--per-pose", type=int, default=150)
    ap.add_argument("--audit", default=str(Path(__file__).resolve().parents[1] / "faceocc/data/audit_no_mask.csv"))
    args = ap.parse_args(argv)
    cache = CropCache.load(args.cache)
    records = [Record(path=Path(r["path"]), label=r["label"]) for r in cache.rows]
    apply_audit(records, read_audit(args.audit))  # audit paths may be relative to another root: matched by suffix
    clean = [
        i
        for i, (r, rec) in enumerate(zip(cache.rows, records))
        if r.get("split") == "test" and rec.label == "clean" and float(r.get("det_score") or 0) > 0
    ]
    library = synthesis.OccluderLibrary.from_folder(args.occluders, split="test", seed=0)
    models = [OcclusionModel(m, threads=1) for m in args.models]
    print(f"{len(clean)} clean test faces, {args.per_pose} samples per pose, held-out hand cut-outs")
    print(f"{'pose':<12} {'occluded':>8} {'coverage':>8} " + " ".join(f"{m.name[:22]:>22}" for m in models))
    for pose in synthesis.HAND_MODES:
        images, truth, cov = [], [], []
        for k in range(args.per_pose):
            i = clean[k % len(clean)]
            rng = np.random.default_rng([7, k, synthesis.HAND_MODES.index(pose)])
            s = synthesis.synthesize(
                np.asarray(cache.crops[i]), cache.landmarks[i], library, rng, kind="hand", mode=pose, second=False
            )
            lab = synthesis.labels_from_mask(s.occlusion, s.occluders)
            images.append(s.image)
            truth.append(bool(lab["occluded"]))
            cov.append(lab["coverage"])
        truth = np.array(truth)
        cells = []
        for m in models:
            called = m.predict(np.stack(images)).occluded >= m.threshold
            cells.append(f"{np.mean(called == truth) * 100:>21.1f}%")
        print(f"{pose:<12} {truth.mean() * 100:>7.0f}% {np.mean(cov):>8.3f} " + " ".join(cells))
    print("cells: share of samples called right (occluded when the hand covers the inner face, else not)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
