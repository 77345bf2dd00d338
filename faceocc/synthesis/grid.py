"""Contact sheet of synthetic samples for a visual check: ``python -m faceocc.synthesis grid``.

Each sample is drawn with its occlusion outline (green), the inner-face outline (blue), its layers and labels.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..alignment import CROP_SIZE, part_masks
from ..schema import OCCLUDER_TYPES
from .compose import labels_from_mask
from .engine import Synthesized, synthesize
from .kinds import KINDS
from .library import OccluderLibrary


def _grid_faces(cache: str | None, images: list[str] | None, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops + landmarks: from a crop cache, from image files, or the astronaut."""
    size = CROP_SIZE
    if cache:
        root = Path(cache)
        crops = np.load(root / "crops.npy", mmap_mode="r")
        lms = np.load(root / "landmarks.npy", mmap_mode="r")
        pool = np.arange(len(crops))
        index = root / "index.csv"
        if index.exists():  # prefer faces without a mask
            import csv

            with open(index, newline="", encoding="utf-8") as fh:
                labels = [row.get("label", "") for row in csv.DictReader(fh)]
            clean = np.array([i for i, lab in enumerate(labels[: len(crops)]) if lab in ("no_mask", "clean")])
            if len(clean):
                pool = clean
        idx = np.random.default_rng(0).permutation(pool)[:limit]
        return np.asarray(crops[np.sort(idx)]), np.asarray(lms[np.sort(idx)], np.float32)
    from ..alignment import align_face, estimate_transform, transform_points
    from ..detection import FaceDetector

    det = FaceDetector()
    sources = []
    if images:
        for p in images[: limit * 2]:
            img = cv2.imread(p, cv2.IMREAD_COLOR)
            if img is not None:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                pad = img.shape[0] // 3
                sources.append(cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    else:
        from ..samples import astronaut

        sources.append(astronaut())
    crops, lms = [], []
    for img in sources:
        faces = det.detect(img)
        if not faces:
            continue
        lm = np.asarray(faces[0].landmarks, np.float32)
        crops.append(align_face(img, lm, size))
        lms.append(transform_points(lm, estimate_transform(lm, size)))
        if len(crops) >= limit:
            break
    if not crops:
        raise SystemExit("no face found for the grid")
    return np.stack(crops), np.stack(lms).astype(np.float32)


def render_grid(samples: list[Synthesized], cols: int = 8) -> np.ndarray:
    """RGB contact sheet: each sample with its occlusion outline (green), face region (blue), kind and labels."""
    size = samples[0].image.shape[0]
    face = (part_masks(size)["face"] > 0.5).astype(np.uint8)
    face_cnt, _ = cv2.findContours(face, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cell_h = size + 26
    rows = math.ceil(len(samples) / cols)
    sheet = np.full((rows * cell_h, cols * size, 3), 255, np.uint8)
    for i, s in enumerate(samples):
        r, c = divmod(i, cols)
        tile = s.image.copy()
        cv2.drawContours(tile, face_cnt, -1, (60, 90, 255), 1)
        cnt, _ = cv2.findContours((s.occlusion > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, cnt, -1, (0, 255, 0), 1)
        y0, x0 = r * cell_h, c * size
        sheet[y0 : y0 + size, x0 : x0 + size] = tile
        lab = labels_from_mask(s.occlusion, s.occluders)
        types = "+".join(t[:3] for t in OCCLUDER_TYPES if s.occluders.get(t)) or "-"
        col = (200, 0, 0) if lab["occluded"] else (0, 120, 0)
        cv2.putText(
            sheet,
            "+".join(s.layers) or "none",
            (x0 + 2, y0 + size + 10),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.32,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        cv2.putText(
            sheet,
            f"{'OCC' if lab['occluded'] else 'ok'} {lab['coverage']:.2f} {types}",
            (x0 + 2, y0 + size + 21),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.32,
            col,
            1,
            cv2.LINE_AA,
        )
    return sheet


def main(argv: list[str] | None = None) -> int:
    """``grid [options]``: write a contact sheet of samples (see ``--help``); returns the exit status."""
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m faceocc.synthesis", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid", help="write a contact sheet of synthetic samples")
    g.add_argument("--occluders", help="occluders/ folder (default: the procedural library)")
    g.add_argument("--split", default="train", choices=("train", "test", "all"))
    g.add_argument("--out", default="synth_grid.png")
    g.add_argument("--n", type=int, default=48)
    g.add_argument("--cols", type=int, default=8)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--kind", choices=KINDS, help="only this recipe")
    g.add_argument("--mode", help="force a placement of --kind (HAND_MODES, HAIR_MODES or OBJECT_MODES)")
    g.add_argument("--cache", help="crop cache folder with crops.npy + landmarks.npy")
    g.add_argument("--images", nargs="*", help="face photos to detect and align (default: the astronaut)")
    args = ap.parse_args(argv)
    if args.occluders:
        lib = OccluderLibrary.from_folder(args.occluders, split=args.split, seed=0)
    else:
        lib = OccluderLibrary.procedural(args.seed)
    print(lib)
    crops, lms = _grid_faces(args.cache, args.images, args.n)
    rng = np.random.default_rng(args.seed)
    samples = []
    t0 = time.perf_counter()
    for i in range(args.n):
        j = i % len(crops)
        samples.append(synthesize(crops[j], lms[j], lib, rng, kind=args.kind, mode=args.mode))
    dt = (time.perf_counter() - t0) / args.n * 1000
    sheet = render_grid(samples, args.cols)
    if not cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):  # OpenCV says False, not why
        print(f"{args.out}: could not write the grid (is the folder there and writable, the suffix an image type?)")
        return 1
    print(f"{args.out}: {args.n} samples, {dt:.2f} ms per sample")
    return 0
