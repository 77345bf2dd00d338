#!/usr/bin/env python3
"""Image grids for a visual label audit of the unlabelled wild train faces.

usage: python scripts/wild_audit_grids.py CACHE DATA_DIR OUT [--model M] [--top 3000] [--random 300] [--seed 0]
                                        [--exclude AUDIT.csv ...]

CACHE is a ``faceocc prepare`` cache holding the wild train faces (made from scripts/training_manifest.py's
manifest). The faces are ranked by the model's occlusion score on their aligned crops (the network alone: the
image-border rule is not applied, it is measured from the photo at analysis time); the ``--top`` highest and a
``--random`` sample of the rest (to estimate how many occluded faces the unaudited remainder still holds) are drawn,
30 to a grid (6 x 5, the whole photo in each cell, its number in the corner), into OUT/grid_NNN.png, with
OUT/cells.csv naming each cell: ``grid,cell,path,score,eyeglasses,pick`` (pick: ``top`` or ``random``).
``--exclude`` takes earlier audit files (``path,...``): the faces they hold are not drawn again, so a later round,
ranked by a newer model, looks only at faces nobody has looked at yet.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import cv2
import numpy as np

COLS, ROWS, CELL = 6, 5, 200


def draw_grid(paths: list[str], data: str, out: str) -> None:
    sheet = np.full((ROWS * CELL, COLS * CELL, 3), 255, np.uint8)
    for k, rel in enumerate(paths):
        img = cv2.imread(os.path.join(data, rel), cv2.IMREAD_COLOR)
        if img is None:
            continue
        h, w = img.shape[:2]
        s = (CELL - 6) / max(h, w)
        img = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        r, c = divmod(k, COLS)
        y0, x0 = r * CELL + (CELL - img.shape[0]) // 2, c * CELL + (CELL - img.shape[1]) // 2
        sheet[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
        cv2.rectangle(sheet, (c * CELL + 1, r * CELL + 1), (c * CELL + 34, r * CELL + 22), (0, 0, 0), -1)
        cv2.putText(sheet, str(k), (c * CELL + 4, r * CELL + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    cv2.imwrite(out, sheet)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cache")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--model", default=None)
    ap.add_argument("--top", type=int, default=3000)
    ap.add_argument("--random", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", nargs="*", default=[], help="earlier audit CSVs whose faces are not drawn again")
    args = ap.parse_args(argv)
    from faceocc.model import OcclusionModel
    from faceocc.prepare import CropCache

    cache = CropCache.load(args.cache)
    data = os.path.abspath(args.data)
    idx = [i for i, r in enumerate(cache.rows) if r["split"] == "train" and r["source"].startswith("wild_")]
    model = OcclusionModel(args.model)
    out = model.predict(np.asarray(cache.crops[np.array(idx)]), batch_size=128)
    glasses = out.occluders[:, 2]
    seen = set()
    for f in args.exclude:
        with open(f, newline="") as fh:
            seen |= {r["path"] for r in csv.DictReader(fh)}
    order = np.array(
        [
            j
            for j in np.argsort(-out.occluded, kind="stable")
            if os.path.relpath(cache.rows[idx[j]]["path"], data) not in seen
        ],
        dtype=int,
    )
    if seen:
        print(f"{len(idx) - len(order)} faces of earlier audits left out", file=sys.stderr)
    top = [int(j) for j in order[: args.top]]
    rest = [int(j) for j in order[args.top :]]
    rng = np.random.default_rng(args.seed)
    rand = sorted(
        rng.choice(rest, size=min(args.random, len(rest)), replace=False).tolist(), key=lambda j: -out.occluded[j]
    )
    os.makedirs(args.out, exist_ok=True)
    cells = [(j, "top") for j in top] + [(j, "random") for j in rand]
    rows = []
    per = COLS * ROWS
    for g in range(0, len(cells), per):
        chunk = cells[g : g + per]
        paths = [os.path.relpath(cache.rows[idx[j]]["path"], data) for j, _ in chunk]
        draw_grid(paths, data, os.path.join(args.out, f"grid_{g // per:03d}.png"))
        for k, ((j, pick), rel) in enumerate(zip(chunk, paths)):
            rows.append(
                {
                    "grid": g // per,
                    "cell": k,
                    "path": rel,
                    "score": round(float(out.occluded[j]), 4),
                    "eyeglasses": round(float(glasses[j]), 4),
                    "pick": pick,
                }
            )
    with open(os.path.join(args.out, "cells.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["grid", "cell", "path", "score", "eyeglasses", "pick"])
        w.writeheader()
        w.writerows(rows)
    # every wild train face with its model scores (for pseudo-labels of the faces nobody looked at)
    with open(os.path.join(args.out, "scores.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "score", "eyeglasses"])
        for j, i in enumerate(idx):
            w.writerow(
                [
                    os.path.relpath(cache.rows[i]["path"], data),
                    round(float(out.occluded[j]), 4),
                    round(float(glasses[j]), 4),
                ]
            )
    print(
        f"{len(rows)} cells in {(len(rows) + per - 1) // per} grids; score at rank {args.top}: "
        f"{out.occluded[order[min(args.top, len(order)) - 1]]:.3f}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
