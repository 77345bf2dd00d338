#!/usr/bin/env python
"""Detection recall against face size at the network's input: how small may a face be at RetinaFace's input and still
be found? (It sets ``faceocc.detection.DETECT_PX``, and so the cost of every pass.)

Real faces of DATA (val split by default; nothing is copied): ``wild/`` photos (fairface, lfw, utkface, yaleb,
expressions) and the masked photos of ``faces/`` (facemask12k, chandrikadeb7). Each face's box is first found on the
photo enlarged to about 200 px (RetinaFace, one pass); the photo is then shrunk (pixel averaging, as a reduced JPEG
decode and the detector's own downscale do) so that this face is S px wide and pasted with others on a grid into a
face-free textured picture, and one network pass runs on it at scale 1. A face counts as found when a box scoring at
least the threshold overlaps its box with IoU >= 0.3. Printed: the share found for each S and threshold, per set.

    python benchmarks/face_px_recall.py ../shared/data --sample 200
    python benchmarks/face_px_recall.py ../shared/data --sizes 12,16,20,24,28,32 --thresholds 0.3,0.5,0.6
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceocc.detection import DETECT_PX, DetectorOptions, FaceDetector  # noqa: E402
from faceocc.evaluate.bench_photos import textured_background  # noqa: E402
from faceocc.evaluate.bench_scale import matched_faces  # noqa: E402


def photos(data: Path, split: str, n: int, seed: int) -> dict[str, list[np.ndarray]]:
    """{set: RGB photos}: ``wild`` (every source of wild/manifest.csv) and ``mask`` (faces/ rows labelled mask)."""
    sets: dict[str, list[str]] = {"wild": [], "mask": []}
    with open(data / "wild" / "manifest.csv", newline="") as f:
        sets["wild"] = [r["path"] for r in csv.DictReader(f) if r["split"] == split]
    with open(data / "faces" / "manifest.csv", newline="") as f:
        sets["mask"] = [r["path"] for r in csv.DictReader(f) if r["split"] == split and r["label"] == "mask"]
    out = {}
    for name, paths in sets.items():
        random.Random(seed).shuffle(paths)
        images = [cv2.imread(str(data / p), cv2.IMREAD_COLOR) for p in paths[:n]]
        out[name] = [np.ascontiguousarray(im[:, :, ::-1]) for im in images if im is not None]
    return out


def face_boxes(detector: FaceDetector, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo padded by a quarter of its side on each side, its largest face's box) for the photos where one is
    found on a copy enlarged to about 200 px (the padding lets a tight crop's face be found whole)."""
    out = []
    for image in images:
        pad = image.shape[0] // 4
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        k = 300 / max(image.shape[:2])
        big = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
        boxes, scores, _ = detector._network(big)
        if len(boxes):
            out.append((image, boxes[int(np.argmax((boxes[:, 2] - boxes[:, 0]) * scores))] / k))
    return out


def canvas_of(faces: list[tuple[np.ndarray, np.ndarray]], px: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The faces shrunk so that each box is ``px`` wide, on a grid over a textured picture; their boxes there."""
    rng = np.random.default_rng(seed)
    cell = 4 * px
    cols = max(1, int(np.ceil(np.sqrt(len(faces)))))
    rows = int(np.ceil(len(faces) / cols))
    canvas = textured_background(cols * cell + cell, rows * cell + cell, rng)
    truth = []
    for i, (image, box) in enumerate(faces):
        k = px / max(1.0, float(box[2] - box[0]))
        small = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        small = small[: 3 * cell, : 3 * cell]
        r, c = divmod(i, cols)
        y0 = int(r * cell + cell / 2 - (box[1] + box[3]) / 2 * k)
        x0 = int(c * cell + cell / 2 - (box[0] + box[2]) / 2 * k)
        ys, xs = max(0, y0), max(0, x0)
        patch = small[ys - y0 : ys - y0 + canvas.shape[0] - ys, xs - x0 : xs - x0 + canvas.shape[1] - xs]
        canvas[ys : ys + patch.shape[0], xs : xs + patch.shape[1]] = patch
        truth.append(box * k + [x0, y0, x0, y0])
    return canvas, np.array(truth, np.float32).reshape(-1, 4)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("data", type=Path, nargs="?", default=ROOT.parent / "shared" / "data", help="the data folder")
    p.add_argument("--split", default="val", help="split (default val)")
    p.add_argument("--sample", type=int, default=200, help="photos per set (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", default="12,16,20,24,28,32,40", help="face widths at the network input, px")
    p.add_argument("--thresholds", default="0.3,0.5,0.6", help="score thresholds")
    p.add_argument("--model", help="another RetinaFace ONNX (e.g. an int8 one) to measure")
    p.add_argument(
        "--detect",
        action="store_true",
        help="FaceDetector.detect at scale 1 (the second look and the fallback included; the candidate score from "
        "--candidate) instead of one bare network pass per threshold",
    )
    p.add_argument("--candidate", type=float, default=None, help="DetectorOptions.candidate_threshold for --detect")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    detector = FaceDetector(DetectorOptions(score_threshold=min(thresholds), threads=1), model_path=args.model)
    if args.detect:  # the whole detector with its defaults; a face of ``DETECT_PX`` is seen at scale 1
        extra = {} if args.candidate is None else {"candidate_threshold": args.candidate}
        full = FaceDetector(DetectorOptions(smallest_face=DETECT_PX, threads=1, **extra), model_path=args.model)
        thresholds = [full.options.score_threshold]
    print(f"face width at the input (px) -> share found; {args.split} split, threshold per row")
    print(f"{'set':<6} {'n':>4} {'thr':>4} " + " ".join(f"{s:>5}" for s in sizes))
    for name, images in photos(args.data, args.split, args.sample, args.seed).items():
        faces = face_boxes(detector, images)
        found: dict[float, list[float]] = {t: [] for t in thresholds}
        for px in sizes:
            canvas, truth = canvas_of(faces, px, args.seed)
            if args.detect:
                reported = full.detect(canvas)  # every face it reports counts
                boxes = np.array([f.box for f in reported], np.float32).reshape(-1, 4)
                scores = np.ones(len(boxes))
            else:
                boxes, scores, _ = detector._network(canvas)
            for t in thresholds:
                found[t].append(matched_faces(boxes[scores >= t], truth).mean())
        for t in thresholds:
            print(f"{name:<6} {len(faces):>4} {t:>4.2f} " + " ".join(f"{v:>5.2f}" for v in found[t]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
