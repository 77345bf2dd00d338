"""Detection scale: faces found and end-to-end cost against photo size, face count and detector mode
(:func:`bench_detection_scale`, run by ``benchmarks/detection_scale.py``), on group photos built in code
(:func:`~.bench_photos.group_photo`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .bench_env import STAGES, environment, load_average
from .bench_photos import encode_jpeg, group_photo, test_photo, textured_background

SCALE_MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "fast": {"max_side": 320},
    "smallest 32": {"smallest_face": 32},
}


def scale_cases(quick: bool = False) -> list[dict]:
    """The photos of the detection-scale benchmark: (name, series, RGB, true boxes, kinds, modes to run)."""
    cases = []
    add = lambda name, series, photo, modes=("default",): cases.append(  # noqa: E731
        {"name": name, "series": series, "photo": photo, "modes": modes}
    )
    add(
        "group 4000x3000, 25 faces ~130 px",
        "main",
        group_photo(4000, 3000, 25, 130.0),
        ("default", "fast", "smallest 32"),
    )
    add(
        "12 MP, one face ~600 px",
        "main",
        group_photo(4000, 3000, 1, 600.0, seed=1, kinds=["clean"]),
        ("default", "fast"),
    )
    one = test_photo()
    add("640x480, one face", "main", (one, _boxes_of(one), ["clean"]), ("default", "fast"))
    for n in (1, 5, 25, 100):
        add(f"4000x3000, {n} face(s) ~130 px", "faces", group_photo(4000, 3000, n, 130.0, seed=2))
    for mp, (w, h) in ((0.3, (640, 480)), (2, (1632, 1224)), (12, (4000, 3000)), (24, (5656, 4242))):
        if not (quick and mp == 24):
            add(f"{mp} MP ({w}x{h}), one face", "size", group_photo(w, h, 1, h / 5, seed=3, kinds=["clean"]))
    from skimage import data

    for name in ("chelsea", "coffee", "rocket"):
        image = getattr(data, name)()
        add(f"no face: skimage {name}", "no face", (image, np.zeros((0, 4), np.float32), []), ("default", "fast"))
    rng = np.random.default_rng(7)
    add(
        "no face: texture 4000x3000",
        "no face",
        (textured_background(4000, 3000, rng), np.zeros((0, 4), np.float32), []),
        ("default", "fast"),
    )
    return cases


def _boxes_of(photo: np.ndarray) -> np.ndarray:
    from ..detection import DetectorOptions, FaceDetector

    return np.array([f.box for f in FaceDetector(DetectorOptions(max_side=1024)).detect(photo)], np.float32).reshape(
        -1, 4
    )


def matched_faces(found_boxes, truth: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """For each true box, whether some found box overlaps it with IoU >= ``iou``."""
    found = np.asarray(found_boxes, np.float32).reshape(-1, 4)
    if not len(found) or not len(truth):
        return np.zeros(len(truth), bool)
    ix = np.clip(
        np.minimum(truth[:, None, 2], found[None, :, 2]) - np.maximum(truth[:, None, 0], found[None, :, 0]), 0, None
    )
    iy = np.clip(
        np.minimum(truth[:, None, 3], found[None, :, 3]) - np.maximum(truth[:, None, 1], found[None, :, 1]), 0, None
    )
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    inter = ix * iy
    union = area(truth)[:, None] + area(found)[None, :] - inter
    return (inter / np.maximum(union, 1e-6) >= iou).any(axis=1)


def bench_detection_scale(threads: int = 1, runs: int = 5, quick: bool = False, log=None) -> dict:
    """Faces found and end-to-end ms (median of ``runs`` after one warm-up; JPEG bytes in, so decoding counts) for
    each case of :func:`scale_cases` and detector mode."""
    from ..detection import DetectorOptions
    from ..pipeline import Analyzer, AnalyzerOptions

    log = log or (lambda m: None)
    analyzers = {
        m: Analyzer(AnalyzerOptions(threads=threads, detector=DetectorOptions(threads=threads, **o)))
        for m, o in SCALE_MODES.items()
    }
    rows = []
    for case in scale_cases(quick):
        for mode in case["modes"]:
            log(f"{case['name']}: {mode}")
            rows.append(_scale_row(case, mode, analyzers[mode], runs))
    return {
        "environment": environment(),
        "threads": threads,
        "runs": runs,
        "rows": rows,
        "load_average": load_average(),
    }


def _scale_row(case: dict, mode: str, analyzer, runs: int) -> dict:
    """One row of the detection-scale table: ``case``'s photo analysed ``runs`` times (after one warm-up) in
    ``mode``."""
    rgb, truth, kinds = case["photo"]
    data = encode_jpeg(rgb)
    times: list[float] = []
    cpu: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    for i in range(runs + 1):
        t, c = time.perf_counter(), time.process_time()
        result = analyzer.analyze(data)
        if i:
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            for s in STAGES:
                stages[s].append(result.timings.get(s, 0.0) * 1000)
    hit = matched_faces([f.box for f in result.faces], truth)
    by_kind = {k: f"{int(sum(h for h, kk in zip(hit, kinds) if kk == k))}/{kinds.count(k)}" for k in sorted(set(kinds))}
    plan = analyzer.detector.plan(result.width, result.height)
    return {
        "case": case["name"],
        "series": case["series"],
        "mode": mode,
        "width": result.width,
        "height": result.height,
        "faces": len(truth),
        "found": int(hit.sum()),
        "detections": len(result.faces),
        "found_by_kind": by_kind,
        "min_face_px": round(result.min_face_px, 1),
        "detector_runs": plan.runs,
        "scales": [round(s, 4) for s in plan.scales],
        "jpeg_mb": round(len(data) / 2**20, 2),
        "ms_median": round(float(np.median(times)), 1),
        "ms_runs": [round(v, 1) for v in times],
        "cpu_ms_median": round(float(np.median(cpu)), 1),
        "stage_ms_median": {s: round(float(np.median(v)), 1) for s, v in stages.items()},
    }


def format_scale_table(result: dict) -> str:
    """The human table of :func:`bench_detection_scale`."""
    env = result["environment"]
    lines = [
        f"faceocc {env['faceocc_version']} ({env.get('commit') or 'no git'}), {env['cpu_count']} CPU(s): {env['cpu']}; "
        f"{result['threads']} thread(s), median of {result['runs']} run(s), load average {result['load_average']}",
        f"{'photo':<36} {'mode':<12} {'found':>7} {'dets':>5} {'min px':>6} {'runs':>4} {'ms':>8} {'cpu ms':>7} "
        f"{'decode':>7} {'detect':>7} {'align':>6} {'classify':>8}  by kind",
    ]
    lines.append("-" * len(lines[-1]))
    series = None
    for r in result["rows"]:
        if series is not None and r["series"] != series:
            lines.append("")
        series = r["series"]
        st = r["stage_ms_median"]
        kinds = " ".join(f"{k} {v}" for k, v in r["found_by_kind"].items()) if len(r["found_by_kind"]) > 1 else ""
        lines.append(
            f"{r['case'][:36]:<36} {r['mode']:<12} {r['found']:>3}/{r['faces']:<3} {r['detections']:>5} "
            f"{r['min_face_px']:>6.0f} {r['detector_runs']:>4} {r['ms_median']:>8.1f} {r['cpu_ms_median']:>7.1f} "
            f"{st['decode']:>7.1f} "
            f"{st['detect']:>7.1f} {st['align']:>6.1f} {st['classify']:>8.1f}  {kinds}"
        )
    lines.append("")
    lines.append(
        "found: true faces matched by a detection (IoU >= 0.3); dets: faces reported; min px: the smallest face "
        "searched for (min_face_px); runs: network runs (passes x tiles); ms: end to end from JPEG bytes (wall clock); "
        "cpu ms: the process's CPU time for it (with 1 thread, the work itself, less sensitive to a busy machine); "
        "stage columns: wall-clock ms."
    )
    return "\n".join(lines)
