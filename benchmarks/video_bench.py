#!/usr/bin/env python
"""Video speed and memory: input frames per second of ``Analyzer.analyze_video`` on a generated 720p clip, and the
resident memory over a long clip.

The clip is made in code: skimage's astronaut (head and shoulders) moving, turning and scaling smoothly over a
textured background, ``--faces`` people side by side, 30 frames per second, MPEG-4 (``mp4v``). Every input frame is
analysed (``every_n`` = 1): decoded, detected or tracked, aligned, classified and decided. The time of a run is the
wall clock from opening the clip to its last record, over all its frames: ``fps`` = frames / seconds. The median of
``--runs`` runs (after one warm-up run of the first mode) is reported for each ``--detect-every`` value (default: 1,
detection on every frame, and the default of ``faceocc.video``).

``--long-minutes M`` also analyses an M-minute clip once with the default mode and samples the process's resident
memory (RSS) every second of video: memory is flat when the last samples are no higher than those of the first minute.

    python benchmarks/video_bench.py                          # 10 s 720p clip, 3 runs, 1 thread
    python benchmarks/video_bench.py --runs 5 --threads 2 --json video.json
    python benchmarks/video_bench.py --faces 2 --threads 2 --detect-every 10   # two people (the issue's target)
    python benchmarks/video_bench.py --faces 0 --detect-every 10 --fallback-every 1   # face-free: the fallback's cost
    python benchmarks/video_bench.py --long-minutes 10        # plus the 10-minute memory run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

#: the checkout's faceocc is measured, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _person(height: int) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's head and shoulders (RGB) scaled to ``height`` px, and an oval alpha mask for it."""
    from skimage import data

    person = data.astronaut()[10:330, 90:410]
    k = height / person.shape[0]
    person = cv2.resize(person, (round(person.shape[1] * k), height), interpolation=cv2.INTER_AREA)
    h, w = person.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.47), int(h * 0.49)), 0, 0, 360, 1.0, -1)
    return person, cv2.GaussianBlur(mask, (0, 0), max(1.0, h / 60))


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A soft grey-brown texture (a wall, a room out of focus)."""
    noise = rng.normal(0, 1, (height // 24 + 1, width // 24 + 1)).astype(np.float32)
    texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)[:, :, None]
    return np.clip(np.array([120, 110, 100], np.float32) + 22 * texture, 0, 255).astype(np.uint8)


def render_frame(
    background: np.ndarray, person: np.ndarray, mask: np.ndarray, t: float, faces: int, shown: int | None = None
) -> np.ndarray:
    """One RGB frame at time ``t`` (s): each person moves along a smooth path, turns by up to 8 degrees, scales by
    up to 10%; only the first ``shown`` of the ``faces`` places are filled (None: all)."""
    frame = background.copy()
    height, width = frame.shape[:2]
    ph, pw = person.shape[:2]
    for i in range(faces if shown is None else shown):
        phase = 2 * np.pi * (t / 6.0 + i / max(1, faces))
        cx = width * (i + 0.5) / faces + 0.12 * width / faces * np.sin(phase)
        cy = height * 0.5 + 0.08 * height * np.sin(1.7 * phase)
        m = cv2.getRotationMatrix2D((pw / 2, ph / 2), 8 * np.sin(0.8 * phase), 1.0 + 0.1 * np.sin(1.3 * phase))
        m[:, 2] += [cx - pw / 2, cy - ph / 2]
        corners = np.array([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]], np.float64) @ m.T
        x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [width, height])
        x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int), 0, [width, height])
        if x1 <= x0 or y1 <= y0:
            continue
        m[:, 2] -= [x0, y0]  # warp into the person's bounding box only
        warped = cv2.warpAffine(person, m, (x1 - x0, y1 - y0)).astype(np.float32)
        alpha = cv2.warpAffine(mask, m, (x1 - x0, y1 - y0))[:, :, None]
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (roi * (1 - alpha) + warped * alpha).astype(np.uint8)
    return frame


def make_clip(
    path: Path,
    width: int = 1280,
    height: int = 720,
    seconds: float = 10.0,
    fps: float = 30.0,
    faces: int = 1,
    seed: int = 0,
) -> Path:
    """Write the generated clip (see the module's text) to ``path`` (.mp4, mp4v) and return it."""
    rng = np.random.default_rng(seed)
    background = _background(width, height, rng)
    person, mask = _person(int(height * 0.62 / max(1, faces) ** 0.5))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video here")
    for i in range(int(round(seconds * fps))):
        writer.write(np.ascontiguousarray(render_frame(background, person, mask, i / fps, faces)[:, :, ::-1]))
    writer.release()
    return path


def entry_delay(
    analyzer, tmp: Path, detect_every: int, enters: int = 13, frames: int = 30, beside: bool = False
) -> dict:
    """How late a face that comes into view between detector runs is found: a clip where a person appears at
    frame ``enters`` (not a detector frame when ``detect_every`` > 1), into an empty view or, with ``beside``,
    beside a person in view from the start; the first record with the new face, and the delay."""
    rng = np.random.default_rng(2)
    background = _background(1280, 720, rng)
    faces = 2 if beside else 1
    person, mask = _person(int(720 * 0.62 / faces**0.5))
    path = tmp / "entry720.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    for i in range(frames):
        frame = render_frame(background, person, mask, i / 30, faces, shown=faces if i >= enters else faces - 1)
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    run = analyzer.analyze_video(path, detect_every=detect_every)
    first = next((r.frame for r in run if len(r.faces) >= faces), None)
    return {"enters": enters, "found": first, "delay_frames": None if first is None else first - enters}


def rss_mb() -> float:
    """The resident memory of this process now (MB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_once(analyzer, clip: Path, detect_every: int, sample_every: int = 0, **video) -> dict:
    """One pass over the clip: frames, seconds, fps, CPU time per frame (all the process's threads), faces per
    frame, detector runs, RSS samples (every ``sample_every`` frames when > 0). ``video``: more VideoOptions."""
    t, cpu = time.perf_counter(), time.process_time()
    run = analyzer.analyze_video(clip, detect_every=detect_every, **video)
    frames = faces = 0
    samples = []
    for result in run:
        frames += 1
        faces += len(result.faces)
        if sample_every and frames % sample_every == 0:
            samples.append((frames, round(rss_mb(), 1)))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 1),
        "cpu_ms_per_frame": round(1000 * cpu / max(1, frames), 2),
        "fallback_runs": run.fallback_runs,
        "faces_per_frame": round(faces / max(1, frames), 3),
        "detector_runs": run.detector_runs,
        "tracks": len(run.tracks),
        "rss_samples": samples,
    }


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "platform": platform.platform(),
    }


def bench(args) -> dict:
    from faceocc.pipeline import Analyzer
    from faceocc.video import DEFAULT_DETECT_EVERY

    modes = args.detect_every or [1, DEFAULT_DETECT_EVERY]
    result = {"machine": machine(), "threads": args.threads, "clip": {}, "modes": {}, "long": None}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip720.mp4", seconds=args.seconds, faces=args.faces)
        result["clip"] = {
            "width": 1280,
            "height": 720,
            "seconds": args.seconds,
            "fps": 30,
            "faces": args.faces,
            "codec": "mp4v",
        }
        with Analyzer(threads=args.threads, device=args.device) as analyzer:
            result["device"] = analyzer.device
            video = {"overlap": not args.no_overlap}
            if args.fallback_every:
                video["fallback_every"] = args.fallback_every
            run_once(analyzer, clip, modes[0], **video)  # warm-up
            for mode in modes:
                runs = [run_once(analyzer, clip, mode, **video) for _ in range(args.runs)]
                result["modes"][str(mode)] = {
                    "median_fps": statistics.median(r["fps"] for r in runs),
                    "runs_fps": [r["fps"] for r in runs],
                    "median_cpu_ms_per_frame": statistics.median(r["cpu_ms_per_frame"] for r in runs),
                    "fallback_runs": runs[0]["fallback_runs"],
                    "faces_per_frame": runs[0]["faces_per_frame"],
                    "detector_runs": runs[0]["detector_runs"],
                    "tracks": runs[0]["tracks"],
                }
                _say(
                    f"detect every {mode:>2}: median {result['modes'][str(mode)]['median_fps']:.1f} input fps "
                    f"(runs {', '.join(str(r['fps']) for r in runs)}), CPU "
                    f"{result['modes'][str(mode)]['median_cpu_ms_per_frame']:.1f} ms/frame, "
                    f"{runs[0]['faces_per_frame']} faces/frame, {runs[0]['detector_runs']} detector runs "
                    f"({runs[0]['fallback_runs']} allowing the fallback), {runs[0]['tracks']} track(s)",
                    args.quiet,
                )
            for mode in modes:
                for beside, key, where in ((False, "entry", "an empty view"), (True, "entry_beside", "beside a face")):
                    entry = entry_delay(analyzer, Path(tmp), mode, beside=beside)
                    result.setdefault(key, {})[str(mode)] = entry
                    _say(
                        f"detect every {mode:>2}: a face that enters {where} at frame {entry['enters']} is found at "
                        f"frame {entry['found']} ({entry['delay_frames']} frame(s) late)",
                        args.quiet,
                    )
            if args.long_minutes:
                result["long"] = _long_run(analyzer, Path(tmp), args)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def _long_run(analyzer, tmp: Path, args) -> dict:
    from faceocc.video import DEFAULT_DETECT_EVERY

    _say(f"writing a {args.long_minutes}-minute 720p clip ...", args.quiet)
    clip = make_clip(tmp / "long720.mp4", seconds=60 * args.long_minutes, faces=args.faces, seed=1)
    before = rss_mb()
    r = run_once(analyzer, clip, DEFAULT_DETECT_EVERY, sample_every=30)
    samples = [mb for _, mb in r["rss_samples"]]
    minute = samples[:60] or samples
    out = {
        "minutes": args.long_minutes,
        "frames": r["frames"],
        "fps": r["fps"],
        "rss_before_mb": round(before, 1),
        "rss_first_minute_max_mb": max(minute),
        "rss_last_minute_max_mb": max(samples[-60:]),
        "rss_max_mb": max(samples),
        "rss_growth_mb": round(max(samples[-60:]) - max(minute), 1),
        "rss_samples_every_s": 1,
        "rss_samples": samples,
    }
    _say(
        f"{args.long_minutes} min clip: {r['fps']} input fps; RSS first minute max {out['rss_first_minute_max_mb']} "
        f"MB, last minute max {out['rss_last_minute_max_mb']} MB (growth {out['rss_growth_mb']} MB)",
        args.quiet,
    )
    return out


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="onnxruntime (and OpenCV) threads (default 1; decoding runs in its own thread besides)",
    )
    p.add_argument("--runs", type=int, default=3, help="timed runs per mode (default 3)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the clip (default 10 s)")
    p.add_argument("--faces", type=int, default=1, help="people in the clip (default 1; 0: a face-free clip)")
    p.add_argument("--no-overlap", action="store_true", help="classify and locate one frame at a time")
    p.add_argument("--fallback-every", type=int, help="VideoOptions.fallback_every (default: faceocc.video's)")
    p.add_argument(
        "--detect-every",
        type=int,
        action="append",
        help="a mode to time (repeatable; default 1 and the default of faceocc.video)",
    )
    p.add_argument("--long-minutes", type=float, default=0, help="also the memory run on a clip this long (e.g. 10)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--quiet", "-q", action="store_true")
    args = p.parse_args(argv)
    cv2.setNumThreads(max(1, args.threads))
    result = bench(args)
    _say(
        f"peak RSS {result['peak_rss_mb']} MB; {result['machine']['cpus']} CPUs, load average at start "
        f"{result['machine']['load_average']}; networks on {result['device']}",
        args.quiet,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
