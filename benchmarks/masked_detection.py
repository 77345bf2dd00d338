#!/usr/bin/env python
"""Masked-face detection: the share of masked (and hand-covered) photos where no face is found, false faces on
face-free images, and the cost, for each ``DetectorOptions.fallback``.

Sets (a seeded sample of each; the data stay in DATA, nothing is copied):

- mask: ``faces/manifest.csv`` rows labelled ``mask`` of ``--split`` (real photos of people in face masks, mostly
  tight crops, facemask12k and chandrikadeb7);
- hand: ``wild/<split>_labels.csv`` faces both labellers surely saw occluded by a hand;
- free: face-free images: skimage's chelsea, coffee, rocket, textures (brick, grass, gravel) and its other
  face-free pictures, and each occluder cut-out of ``occluders/`` (hands, sunglasses, eyeglasses, scarves, objects,
  masks) alone on white and pasted on a face-free picture (placement seeded).

For each fallback: photos where no face is found (mask, hand), images with a face and faces per 100 images (free),
and the detection time per photo (``FaceDetector.detect``, one thread by default): the median of ``--runs`` calls on
each of up to ``--time-sample`` photos per set, then the median over photos, where the fallback ran and where not.

    python benchmarks/masked_detection.py ../shared/data                       # test split, 300 per set, seed 0
    python benchmarks/masked_detection.py ../shared/data --split val --sample 300 --seed 1 --misses
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceocc.detection import CANDIDATE_THRESHOLD, FALLBACKS, DetectorOptions, FaceDetector  # noqa: E402
from faceocc.io import to_rgb_uint8  # noqa: E402

#: skimage pictures without a face (astronaut, camera and the like are left out).
FACE_FREE = (
    "chelsea coffee rocket brick grass gravel moon horse hubble_deep_field immunohistochemistry page text clock coins "
    "cell retina colorwheel logo microaneurysms checkerboard cat"
).split()
#: Pictures the cut-outs are pasted on.
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "chelsea", "rocket")
OCCLUDER_FOLDERS = ("hands", "sunglasses", "eyeglasses", "scarves", "objects", "masks")


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return image[:, :, ::-1].copy()


def _sample(items: list, n: int, seed: int) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items[:n] if n > 0 else items


def masked_photos(data: Path, split: str, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    with open(data / "faces" / "manifest.csv", newline="") as f:
        rows = [r["path"] for r in csv.DictReader(f) if r["label"] == "mask" and r["split"] == split]
    return [(p, _read(data / p)) for p in _sample(rows, n, seed)]


def hand_photos(data: Path, split: str, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    labels = data / "wild" / f"{split}_labels.csv"
    if not labels.is_file():
        return []
    with open(labels, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["sure"] == "1" and r["occluded"] == "1"]
    rows = [r["path"] for r in rows if "hand" in r["types"].split("+")]
    return [(p, _read(data / p)) for p in _sample(rows, n, seed)]


def _paste(rgba: np.ndarray, background: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = rgba.shape[:2]
    bh, bw = background.shape[:2]
    s = min(1.0, 0.8 * min(bh / h, bw / w))
    if s < 1:
        rgba = cv2.resize(rgba, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        h, w = rgba.shape[:2]
    y, x = rng.randrange(bh - h + 1), rng.randrange(bw - w + 1)
    out = background.astype(np.float32)
    alpha = rgba[:, :, 3:4] / 255.0
    region = (slice(y, y + h), slice(x, x + w))
    out[region] = out[region] * (1 - alpha) + rgba[:, :, :3] * alpha
    return out.round().astype(np.uint8)


def face_free_images(data: Path, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    import skimage.data

    pictures = {name: to_rgb_uint8(getattr(skimage.data, name)()) for name in FACE_FREE if hasattr(skimage.data, name)}
    images = [(f"skimage:{name}", im) for name, im in pictures.items()]
    backgrounds = [pictures[b] for b in BACKGROUNDS if b in pictures]
    rng = random.Random(seed)
    for folder in OCCLUDER_FOLDERS:
        for path in sorted((data / "occluders" / folder).glob("*.png")):
            rgba = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
                continue
            rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
            name = str(path.relative_to(data))
            images.append((name, to_rgb_uint8(rgba)))  # alone, composited on white as faceocc.io does
            images.append((f"{name}@{len(images)}", _paste(rgba, backgrounds[rng.randrange(len(backgrounds))], rng)))
    return _sample(images, n, seed)


def pasted_photos(photos: list[tuple[str, np.ndarray]], seed: int) -> list[tuple[str, np.ndarray]]:
    """Each photo scaled to 100-250 px (longest side) and pasted on a 640 x 480 face-free picture: the masked crops
    as faces in whole photos."""
    import skimage.data

    backgrounds = [cv2.resize(to_rgb_uint8(getattr(skimage.data, b)()), (640, 480)) for b in BACKGROUNDS]
    rng = random.Random(seed)
    out = []
    for path, image in photos:
        h, w = image.shape[:2]
        s = rng.uniform(100, 250) / max(h, w)
        kind = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        face = cv2.resize(image, (round(w * s), round(h * s)), interpolation=kind)
        photo = backgrounds[rng.randrange(len(backgrounds))].copy()
        y, x = rng.randrange(480 - face.shape[0] + 1), rng.randrange(640 - face.shape[1] + 1)
        photo[y : y + face.shape[0], x : x + face.shape[1]] = face
        out.append((f"{path}@640x480", photo))
    return out


def measure(detector: FaceDetector, images: list[tuple[str, np.ndarray]], runs: int, time_sample: int) -> dict:
    """Faces per image, and per-photo median times (ms) split by whether the fallback ran."""
    counts, ran, fast, slow = [], [], [], []
    detector.detect(np.full((64, 64, 3), 127, np.uint8))  # warm-up (and the fallback's session)
    for i, (_, image) in enumerate(images):
        before = detector.fallback_runs
        counts.append(len(detector.detect(image)))
        ran.append(detector.fallback_runs > before)
        if i < time_sample:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                detector.detect(image)
                times.append((time.perf_counter() - t0) * 1000)
            (slow if ran[-1] else fast).append(statistics.median(times))
    return {"counts": counts, "ran": ran, "ms_fallback": slow, "ms_plain": fast}


#: Photo sizes of the cost table (width, height).
SIZES = ((192, 192), (640, 480), (1920, 1080), (4000, 3000))


def cost_by_size(fallbacks: list[str], threads: int, runs: int) -> list[str]:
    """Markdown rows: the median ``detect`` time (ms) of a face-free photo (gravel, where every fallback runs) and
    of a photo with a face (skimage's astronaut pasted on it, where none runs), per photo size and fallback."""
    import skimage.data

    texture = to_rgb_uint8(skimage.data.gravel())
    face = skimage.data.astronaut()[30:330, 100:360]
    detectors = {n: FaceDetector(DetectorOptions(threads=threads, fallback=n), device="cpu") for n in fallbacks}
    rows = []
    for width, height in SIZES:
        free = cv2.resize(texture, (width, height), interpolation=cv2.INTER_LINEAR)
        with_face = free.copy()
        side = min(height, width) // 2
        with_face[:side, :side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        cells = []
        for image in (free, with_face):
            for detector in detectors.values():
                detector.detect(image)  # warm-up
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    detector.detect(image)
                    times.append((time.perf_counter() - t0) * 1000)
                cells.append(f"{statistics.median(times):.1f}")
        rows.append(f"| {width} x {height} | " + " | ".join(cells) + " |")
    return rows


def _med(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


def main(argv: list[str] | None = None) -> int:
    about = __doc__.split("\n\n")[0]
    p = argparse.ArgumentParser(description=about, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, nargs="?", default=ROOT.parent / "shared" / "data", help="the data folder")
    p.add_argument("--sample", type=int, default=300, help="photos per set (0: all; default 300)")
    p.add_argument("--free-sample", type=int, default=0, help="face-free images (0: all 521; default)")
    p.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    p.add_argument("--split", default="test", help="split of the mask and hand sets (default test)")
    p.add_argument("--fallbacks", default=",".join(FALLBACKS), help="DetectorOptions.fallback values to compare")
    p.add_argument("--fast", action="store_true", help="the fixed 320 px mode instead of the automatic scale")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime (and OpenCV) threads (default 1)")
    p.add_argument("--runs", type=int, default=3, help="timed calls per photo (median; default 3)")
    p.add_argument("--time-sample", type=int, default=60, help="photos per set that are timed (default 60)")
    p.add_argument("--pasted", action="store_true", help="also the mask set pasted into 640 x 480 pictures")
    p.add_argument("--no-cost", action="store_true", help="leave out the cost table by photo size")
    p.add_argument(
        "--candidate",
        type=float,
        default=None,
        help=f"DetectorOptions.candidate_threshold (default {CANDIDATE_THRESHOLD}; 0.6 turns the second look off)",
    )
    p.add_argument("--misses", action="store_true", help="list the photos where no face is found (and false faces)")
    args = p.parse_args(argv)
    cv2.setNumThreads(args.threads)

    sets = {
        "mask": masked_photos(args.data, args.split, args.sample, args.seed),
        "hand": hand_photos(args.data, args.split, args.sample, args.seed),
    }
    if args.pasted:
        sets["pasted"] = pasted_photos(sets["mask"], args.seed)
    sets |= {
        "free": face_free_images(args.data, args.free_sample, args.seed),
    }
    mode = "fast 320 px" if args.fast else "automatic scale"
    counts = ", ".join(f"{k} {len(v)}" for k, v in sets.items())
    print(f"# masked-face detection, {args.split} split, seed {args.seed}, {args.threads} thread(s), {mode}: {counts}")
    print(
        "| fallback | mask: no face | hand: no face | pasted: no face | free: images with a face | "
        "free: faces per 100 | ms no fallback | ms fallback ran | fallback ran (mask / free) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.fallbacks.split(","):
        extra = {"max_side": 320} if args.fast else {}
        if args.candidate is not None:
            extra["candidate_threshold"] = args.candidate
        options = DetectorOptions(threads=args.threads, fallback=name, **extra)
        detector = FaceDetector(options, device="cpu")
        got = {k: measure(detector, v, args.runs, args.time_sample) for k, v in sets.items() if v}
        cells = []
        for k in ("mask", "hand", "pasted"):
            if k not in got:
                cells.append("-")
                continue
            miss = sum(c == 0 for c in got[k]["counts"])
            cells.append(f"{100 * miss / len(got[k]['counts']):.1f}% ({miss} of {len(got[k]['counts'])})")
        free = got["free"]["counts"]
        cells += [f"{sum(c > 0 for c in free)} of {len(free)}", f"{100 * sum(free) / len(free):.2f}"]
        plain = [t for r in got.values() for t in r["ms_plain"]]
        slow = [t for r in got.values() for t in r["ms_fallback"]]
        ran = {k: sum(got[k]["ran"]) for k in ("mask", "free") if k in got}
        cells += [_med(plain), _med(slow), f"{ran.get('mask', 0)} / {ran.get('free', 0)}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
        if args.misses:
            for k, images in sets.items():
                for (path, _), c in zip(images, got[k]["counts"]):
                    if (k == "free") == (c > 0):
                        print(f"  {name} {k}: {path} ({c} faces)")
    if not args.no_cost:
        names = args.fallbacks.split(",")
        print(f"\n# detect, ms (median of {args.runs} runs), face-free gravel photo / the same with a face")
        header = [f"free: {n}" for n in names] + [f"face: {n}" for n in names]
        print("| photo | " + " | ".join(header) + " |")
        print("|---" * (1 + 2 * len(names)) + "|")
        print("\n".join(cost_by_size(names, args.threads, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
