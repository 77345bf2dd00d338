#!/usr/bin/env python
"""Rank occlusion models on the wild val faces of a prepared crop cache (network only, no detector): AUC, and the
share of occlusions and of hands caught at the threshold that flags 2% of the clean faces. For choosing between
training epochs on validation data (never on test).

    python scripts/rank_models.py --cache CACHE --wild ../shared/data/wild MODEL.onnx [MODEL.onnx ...] [--flip]

CACHE is a `faceocc prepare` cache that holds the wild val photos (source ``wild_*``, split ``val``); only faces
both labellers were sure of (``val_labels.csv``, ``sure=1``) count.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--cache", type=Path, required=True, help="a faceocc prepare cache with the wild val photos")
    p.add_argument("--wild", type=Path, required=True, help="the wild folder (manifest.csv, val_labels.csv)")
    p.add_argument("--fpr", type=float, default=0.02, help="the clean-face false-positive rate (default 0.02)")
    p.add_argument("--flip", action="store_true", help="also score the mean of each crop and its mirror image")
    p.add_argument("--ensemble", action="store_true", help="also score the mean of all the models' scores")
    args = p.parse_args(argv)

    from faceocc.evaluate.metrics import roc_auc
    from faceocc.model import OcclusionModel
    from faceocc.prepare import CropCache

    cache = CropCache.load(args.cache)
    with open(args.wild / "val_labels.csv", newline="") as fh:
        labels = {r["path"]: r for r in csv.DictReader(fh)}
    rows, y, hand = [], [], []
    for i, r in enumerate(cache.rows):
        if r["split"] != "val" or not r["source"].startswith("wild_"):
            continue
        label = labels.get("wild/" + r["path"].split("/wild/", 1)[-1])
        if label and label["sure"] == "1":
            rows.append(i)
            y.append(int(label["occluded"]))
            hand.append(int(label["occluded"]) == 1 and "hand" in label["types"])
    if not rows:
        p.error(f"{args.cache} holds no sure wild val faces of {args.wild}")
    crops, labels_y, hands = np.asarray(cache.crops[np.array(rows)]), np.array(y), np.array(hand)
    clean, occluded = int((labels_y == 0).sum()), int(labels_y.sum())
    print(f"{len(rows)} faces: {clean} clean, {occluded} occluded, {int(hands.sum())} hands")

    def line(name: str, s: np.ndarray) -> None:
        t = np.quantile(s[labels_y == 0], 1 - args.fpr)
        print(
            f"{name:34s} AUC {roc_auc(labels_y, s):.4f}  caught {(s[labels_y == 1] > t).mean():.3f}  "
            f"hands {(s[hands] > t).mean():.3f}  (threshold at {args.fpr:.0%} FPR {t:.3f})",
            flush=True,
        )

    scores, flipped = [], []
    for path in args.models:
        model = OcclusionModel(str(path))
        s = model.predict(crops, batch_size=128).occluded
        scores.append(s)
        line(path.name, s)
        if args.flip:
            mirrored = model.predict(np.ascontiguousarray(crops[:, :, ::-1]), batch_size=128).occluded
            flipped.append((s + mirrored) / 2)
            line(path.name + " +flip", flipped[-1])
    if args.ensemble and len(scores) > 1:
        line(f"mean of {len(scores)} models", np.mean(scores, axis=0))
        if args.flip:
            line(f"mean of {len(scores)} models +flip", np.mean(flipped, axis=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
