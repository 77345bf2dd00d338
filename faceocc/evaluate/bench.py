"""``faceocc bench``: latency per stage, throughput with 1..N worker processes, model size, peak memory.

The photo is the test photo of :mod:`.bench_photos` (the astronaut, one face, 640 x 480), JPEG-encoded so that
decoding is part of the measurement (the shipped photo where skimage is not installed). The measurements are
:mod:`.bench_speed`'s; the detection-scale benchmark is :mod:`.bench_scale`'s (names re-exported here).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from .bench_env import STAGES, environment, peak_rss_mb
from .bench_photos import encode_jpeg, group_photo, make_folder, test_photo
from .bench_scale import bench_detection_scale, format_scale_table, matched_faces
from .bench_speed import bench_latency, bench_throughput, model_label

#: the full benchmark's names, and the photo and detection-scale names other modules import from here (the tests,
#: tests/conftest.py, benchmarks/detection_scale.py)
__all__ = [
    "format_table",
    "run_bench",
    "bench_detection_scale",
    "encode_jpeg",
    "format_scale_table",
    "group_photo",
    "matched_faces",
    "test_photo",
]


def run_bench(
    models: Sequence[str | None],
    threads: Sequence[int] = (1,),
    iterations: int = 20,
    workers: int = 1,
    folder: Path | None = None,
    folder_images: int = 8,
    rounds: int = 1,
    log=None,
) -> dict:
    """The full benchmark: latency for each model x thread count, throughput for each model x 1..workers."""
    log = log or (lambda m: None)
    photo = encode_jpeg(test_photo())
    result: dict = {
        "environment": environment(),
        "photo": {"width": 640, "height": 480, "jpeg_bytes": len(photo)},
        "latency": [],
        "throughput": [],
    }
    with tempfile.TemporaryDirectory(prefix="faceocc-bench-") as tmp:
        if workers > 0:
            files = _throughput_files(folder, folder_images, Path(tmp), result)
            # throughput first: the workers fork from a parent that has not started onnxruntime thread pools yet
            for model in models:
                for w in range(1, workers + 1):
                    log(f"throughput {model_label(model)} workers={w}")
                    result["throughput"].append(bench_throughput(model, files, w, threads=1, rounds=rounds))
        for model in models:
            for t in threads:
                log(f"latency {model_label(model)} threads={t}")
                result["latency"].append(bench_latency(model, t, iterations, photo))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def _throughput_files(folder: Path | None, count: int, tmp: Path, result: dict) -> list[Path]:
    """The images of ``folder``, or ``count`` generated ones in ``tmp``; recorded in ``result["folder"]``."""
    if folder is not None:
        from ..io import IMAGE_EXTENSIONS

        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files:
            raise ValueError(f"{folder}: no images to benchmark throughput on")
        result["folder"] = {"path": str(folder), "images": len(files)}
    else:
        files = make_folder(tmp, count)
        result["folder"] = {"path": "(generated astronaut photos)", "images": len(files)}
    return files


def format_table(result: dict, previous: dict | None = None) -> str:
    """The human table: latency percentiles (ms) per stage, throughput, sizes and memory."""
    lines = []
    env = result["environment"]
    lines.append(
        f"faceocc {env['faceocc_version']} ({env.get('commit') or 'no git'}), onnxruntime {env['onnxruntime']}, "
        f"{env['cpu_count']} CPU(s): {env['cpu']}"
    )
    lines.append(f"photo {result['photo']['width']}x{result['photo']['height']} JPEG; latency in ms (p50 / p90 / p99)")
    head = (
        f"{'model':<28} {'MB':>6} {'thr':>3} "
        + " ".join(f"{s:>17}" for s in (*STAGES, "end_to_end"))
        + f" {'RSS+MB':>7} {'pyMB':>5} {'b1 model':>8} {'b16/face':>8} {'b16 near':>8}"
    )
    lines.append(head)
    lines.append("-" * len(head))
    prev = {(r["model"], r["threads"]): r for r in (previous or {}).get("latency", [])}
    lines += [_latency_line(r, prev.get((r["model"], r["threads"]))) for r in result["latency"]]
    if result["throughput"]:
        lines.append("")
        lines.append(f"throughput over {result['folder']['images']} image(s) from {result['folder']['path']}")
        lines.append(f"{'model':<28} {'workers':>7} {'images/s':>9} {'seconds':>8} {'startup s':>9}")
        for r in result["throughput"]:
            lines.append(
                f"{r['model'][:28]:<28} {r['workers']:>7} {r['images_per_s'] or 0:>9.1f} "
                f"{r['seconds']:>8.2f} {r['startup_s']:>9.2f}"
            )
    lines.append("")
    lines.append(
        f"peak RSS {result['peak_rss_mb']:.0f} MB (this process). RSS+MB: memory added by loading and running "
        "the model; pyMB: Python-allocated peak of one analysis (tracemalloc); b1 model: p50 ms of the bare "
        "onnxruntime session on one crop; b16/face: classifier ms per face in batches of 16; b16 near: the same "
        "for faces near the threshold, which the mirror look predicts twice (mirror_margin; about 1 in 5 wild "
        "faces); int8: "
        + ", ".join(sorted({f"{r['model']}={'yes' if r['quantized'] else 'no'}" for r in result["latency"]}))
    )
    return "\n".join(lines)


def _latency_line(r: dict, old: dict | None) -> str:
    """One latency row; with ``old`` (the same model and threads in a previous run), the change of the p50."""
    cells = []
    for s in (*STAGES, "end_to_end"):
        p = r["latency_ms"][s]
        cells.append(f"{_ms(p['p50'])}/{_ms(p['p90'])}/{_ms(p['p99'])}".rjust(17))
    line = (
        f"{r['model'][:28]:<28} {r['model_mb']:>6.2f} {r['threads']:>3} "
        + " ".join(cells)
        + f" {r['rss_delta_mb']:>7.1f} {r['python_peak_mb']:>5.1f} {r['classify_batch1_ms']['p50']:>8.2f}"
        f" {r['classify_batch16_ms_per_face']:>8.2f} {r['classify_batch16_ms_per_face_near_threshold']:>8.2f}"
    )
    if old:
        a, b = old["latency_ms"]["end_to_end"]["p50"], r["latency_ms"]["end_to_end"]["p50"]
        if a and b:
            line += f"  ({(b - a) / a * 100:+.0f}% p50 vs previous)"
    if not r["faces_found"]:
        line += "  (no face found!)"
    return line


def _ms(v) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"
