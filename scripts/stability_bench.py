#!/usr/bin/env python3
"""How stable is the verdict on a clean face under small changes of the input?

usage: python scripts/stability_bench.py [--model M] [--frames 750] [--json out.json]

The clean, public-domain astronaut (``skimage.data.astronaut()``) is analysed
- at every detection size in 320, 480, 640 and 1024 px;
- turned by every angle from -10 to +10 degrees in 1 degree steps (at the default detection size);
- as a 750-frame "video" of the face turning smoothly between -10 and +10 degrees (three swings), each frame analysed
  on its own as a video frame is.
It prints the occlusion score's spread (min, median, max) for each and the share of frames flagged as occluded (the
face is clean, so every flagged frame is a false alarm) and the share of frames whose verdict differs from the
previous frame's ("flips").
"""

from __future__ import annotations

import argparse
import json
import sys

import cv2
import numpy as np


def _turn(image: np.ndarray, angle: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _main_face(result):
    faces = [f for f in result.faces if f.occlusion_score is not None]
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])) if faces else None


def _summary(faces) -> dict:
    scores = np.array([f.occlusion_score for f in faces if f is not None])
    verdicts = [bool(f.occluded) for f in faces if f is not None]
    flips = sum(a != b for a, b in zip(verdicts, verdicts[1:]))
    return {
        "n": len(faces),
        "no_face": sum(f is None for f in faces),
        "score_min": round(float(scores.min()), 4),
        "score_median": round(float(np.median(scores)), 4),
        "score_max": round(float(scores.max()), 4),
        "flagged": round(float(np.mean(verdicts)), 4),
        "flips": round(flips / max(1, len(verdicts) - 1), 4),
    }


def run(model: str | None, frames: int) -> dict:
    import skimage.data

    from faceocc import Analyzer, AnalyzerOptions, DetectorOptions

    image = skimage.data.astronaut()
    out = {}
    sizes = {}
    for size in (320, 480, 640, 1024):
        analyzer = Analyzer(AnalyzerOptions(model=model, detector=DetectorOptions(max_side=size)))
        f = _main_face(analyzer.analyze(image))
        sizes[str(size)] = None if f is None else round(float(f.occlusion_score), 4)
        out.setdefault("_faces_size", []).append(f)
    out["det_size"] = {"scores": sizes, **_summary(out.pop("_faces_size"))}
    analyzer = Analyzer(AnalyzerOptions(model=model))
    turned = [_main_face(analyzer.analyze(_turn(image, a))) for a in range(-10, 11)]
    out["rotation"] = _summary(turned)
    angles = 10 * np.sin(np.linspace(0, 6 * np.pi, frames))
    video = [_main_face(analyzer.analyze(_turn(image, float(a)))) for a in angles]
    out["rotation_video"] = _summary(video)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--frames", type=int, default=750)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    result = run(args.model, args.frames)
    for name, r in result.items():
        extra = f"  scores {r['scores']}" if "scores" in r else ""
        print(
            f"{name:15s} n={r['n']:4d} score min/median/max {r['score_min']:.3f}/{r['score_median']:.3f}/"
            f"{r['score_max']:.3f}  flagged {100 * r['flagged']:.1f}%  flips {100 * r['flips']:.1f}%{extra}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
