"""``faceocc bench``: latency per stage, throughput with 1..N worker processes, model size, peak memory.

The test photo is derived from ``skimage.data.astronaut()`` (public domain): resized to 480 x 480 and padded
to 640 x 480 with one face, JPEG-encoded so that decoding is part of the measurement. Without skimage a
synthetic grey photo is used (detection then finds no face; the table says so).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .metrics import percentiles

STAGES = ("decode", "detect", "align", "classify")


def test_photo(width: int = 640, height: int = 480) -> np.ndarray:
    """An RGB ``height`` x ``width`` photo with one frontal face (the astronaut), grey padding around."""
    try:
        from skimage import data

        face = data.astronaut()
    except Exception:  # noqa: BLE001 - skimage is a dev dependency
        face = np.full((512, 512, 3), 128, np.uint8)
    side = min(width, height)
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 127, np.uint8)
    y0, x0 = (height - side) // 2, (width - side) // 2
    canvas[y0:y0 + side, x0:x0 + side] = face
    return canvas


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def make_folder(path: Path, count: int = 16, seed: int = 0) -> list[Path]:
    """``count`` varied one-face JPEGs (shifted, scaled, flipped astronaut) written to ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = test_photo()
    files = []
    for i in range(count):
        img = base[:, ::-1] if i % 2 else base
        scale = float(rng.uniform(0.8, 1.1))
        m = np.float32([[scale, 0, rng.uniform(-40, 40) + (1 - scale) * 320], [0, scale, rng.uniform(-20, 20) + (1 - scale) * 240]])
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (640, 480), borderValue=(127, 127, 127))
        f = path / f"bench_{i:03d}.jpg"
        f.write_bytes(encode_jpeg(img))
        files.append(f)
    return files


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def _peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    kb = resource.getrusage(who).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _label(model: str | None) -> str:
    from ..model import resolve_model_path

    return resolve_model_path(model).name


def bench_latency(model: str | None, threads: int, iterations: int, photo: bytes, warmup: int = 2) -> dict:
    """Per-stage and end-to-end latency (ms) of ``Analyzer.analyze`` on one encoded photo."""
    from ..pipeline import Analyzer, AnalyzerOptions
    from ..model import resolve_model_path

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    analyzer = Analyzer(AnalyzerOptions(model=model, threads=threads))
    load_s = time.perf_counter() - t0
    stages = {s: [] for s in STAGES}
    total = []
    faces = 0
    for i in range(warmup + iterations):
        t = time.perf_counter()
        result = analyzer.analyze(photo)
        dt = time.perf_counter() - t
        if i < warmup:
            continue
        total.append(dt * 1000)
        for s in STAGES:
            stages[s].append(analyzer.timings.get(s, 0.0) * 1000)
        faces = len(result.faces)
    tracemalloc.start()
    analyzer.analyze(photo)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the classifier alone: one crop through the bare onnxruntime session (the model's own speed), one canonical
    # 112 px crop through OcclusionModel.predict (resize and conversion included), and batches of 16
    occ = analyzer.model
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (1, 112, 112, 3), dtype=np.uint8)
    if result.faces and result.faces[0].landmarks:
        from ..alignment import align_face
        from ..io import load_image

        crop = align_face(load_image(photo), np.array(result.faces[0].landmarks, np.float32))[None]
    from ..model import resize_crops

    x = np.ascontiguousarray(resize_crops(crop, occ.input_size).astype(np.float32).transpose(0, 3, 1, 2))
    session_ms = _repeat_ms(lambda: occ.session.run(None, {occ.input_name: x}), max(200, iterations * 10))
    predict_ms = _repeat_ms(lambda: occ.predict(crop), max(200, iterations * 10))
    batch = np.repeat(crop, 16, 0)
    per_crop_ms = float(np.median(_repeat_ms(lambda: occ.predict(batch), max(5, iterations // 4)))) / 16
    path = resolve_model_path(model)
    return {
        "model": path.name, "model_path": str(path), "model_mb": round(path.stat().st_size / 2**20, 3),
        "quantized": _is_int8(analyzer.model), "threads": threads, "iterations": iterations, "faces_found": faces,
        "load_s": round(load_s, 4),
        "latency_ms": {s: _round(percentiles(v)) for s, v in stages.items()} | {"end_to_end": _round(percentiles(total))},
        "classify_batch1_ms": _round(percentiles(session_ms)), "predict_batch1_ms": _round(percentiles(predict_ms)),
        "classify_batch16_ms_per_face": round(per_crop_ms, 3),
        "rss_delta_mb": round(_rss_mb() - rss0, 1), "python_peak_mb": round(py_peak / 2**20, 2),
    }


def _repeat_ms(fn, n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _is_int8(model) -> bool:
    """Whether the model graph holds quantised operators (needs the onnx package; else guessed from the name)."""
    try:
        import onnx

        graph = onnx.load(str(model.path), load_external_data=False).graph
        return any(n.op_type in _QUANT_OPS for n in graph.node)
    except Exception:  # noqa: BLE001 - onnx missing or unreadable: fall back to the file name
        return "int8" in model.path.name


_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}


def _round(d: dict) -> dict:
    return {k: None if v is None else round(v, 3) for k, v in d.items()}


# -- throughput with worker processes ------------------------------------------------------------------

_worker_analyzer = None


def _init_worker(model, threads):
    global _worker_analyzer
    from ..pipeline import Analyzer, AnalyzerOptions

    _worker_analyzer = Analyzer(AnalyzerOptions(model=model, threads=threads))


def _work(path: str) -> int:
    return len(_worker_analyzer.analyze(path, raise_errors=False).faces)


def _ready(_=None) -> int:
    return os.getpid()


def bench_throughput(model: str | None, files: Sequence[Path], workers: int, threads: int = 1, rounds: int = 1) -> dict:
    """Images per second over ``files`` (``rounds`` passes) with ``workers`` processes, each with ``threads`` threads.

    Worker start-up (imports, model loading) is excluded: it is reported as ``startup_s``.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(model, threads)) as pool:
        list(pool.map(_ready, range(workers * 2)))  # start every worker (and its model) before timing
        startup = time.perf_counter() - t0
        jobs = [str(f) for _ in range(rounds) for f in files]
        t = time.perf_counter()
        faces = sum(pool.map(_work, jobs, chunksize=1))
        elapsed = time.perf_counter() - t
    return {"model": _label(model), "workers": workers, "threads_per_worker": threads, "images": len(jobs), "faces": faces,
            "seconds": round(elapsed, 4), "images_per_s": round(len(jobs) / elapsed, 2) if elapsed > 0 else None,
            "startup_s": round(startup, 3), "children_peak_rss_mb": round(_peak_rss_mb(resource.RUSAGE_CHILDREN), 1)}


# -- everything ------------------------------------------------------------------------------------------

def environment() -> dict:
    import onnxruntime as ort

    from .. import __version__

    commit = None
    try:
        root = Path(__file__).resolve().parents[2]
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5).stdout.strip()
        if commit and dirty:
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"faceocc_version": __version__, "commit": commit, "python": platform.python_version(), "onnxruntime": ort.__version__,
            "numpy": np.__version__, "opencv": cv2.__version__, "platform": platform.platform(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}


def run_bench(models: Sequence[str | None], threads: Sequence[int] = (1,), iterations: int = 20, workers: int = 1,
              folder: Path | None = None, folder_images: int = 8, rounds: int = 1, log=None) -> dict:
    """The full benchmark: latency for each model x thread count, throughput for each model x 1..workers."""
    log = log or (lambda m: None)
    photo = encode_jpeg(test_photo())
    result = {"environment": environment(), "photo": {"width": 640, "height": 480, "jpeg_bytes": len(photo)},
              "latency": [], "throughput": []}
    with tempfile.TemporaryDirectory(prefix="faceocc-bench-") as tmp:
        if workers > 0:
            if folder is not None:
                from ..io import IMAGE_EXTENSIONS

                files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
                if not files:
                    raise ValueError(f"{folder}: no images to benchmark throughput on")
                result["folder"] = {"path": str(folder), "images": len(files)}
            else:
                files = make_folder(Path(tmp), folder_images)
                result["folder"] = {"path": "(generated astronaut photos)", "images": len(files)}
            # throughput first: the workers fork from a parent that has not started onnxruntime thread pools yet
            for model in models:
                for w in range(1, workers + 1):
                    log(f"throughput {_label(model)} workers={w}")
                    result["throughput"].append(bench_throughput(model, files, w, threads=1, rounds=rounds))
        for model in models:
            for t in threads:
                log(f"latency {_label(model)} threads={t}")
                result["latency"].append(bench_latency(model, t, iterations, photo))
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return result


def format_table(result: dict, previous: dict | None = None) -> str:
    """The human table: latency percentiles (ms) per stage, throughput, sizes and memory."""
    lines = []
    env = result["environment"]
    lines.append(f"faceocc {env['faceocc_version']} ({env.get('commit') or 'no git'}), onnxruntime {env['onnxruntime']}, "
                 f"{env['cpu_count']} CPU(s): {env['cpu']}")
    lines.append(f"photo {result['photo']['width']}x{result['photo']['height']} JPEG; latency in ms (p50 / p90 / p99)")
    head = f"{'model':<28} {'MB':>6} {'thr':>3} " + " ".join(f"{s:>17}" for s in (*STAGES, "end_to_end")) + \
        f" {'RSS+MB':>7} {'pyMB':>5} {'b1 model':>8} {'b16/face':>8}"
    lines.append(head)
    lines.append("-" * len(head))
    prev = {(r["model"], r["threads"]): r for r in (previous or {}).get("latency", [])}
    for r in result["latency"]:
        cells = []
        for s in (*STAGES, "end_to_end"):
            p = r["latency_ms"][s]
            cells.append(f"{_ms(p['p50'])}/{_ms(p['p90'])}/{_ms(p['p99'])}".rjust(17))
        line = f"{r['model'][:28]:<28} {r['model_mb']:>6.2f} {r['threads']:>3} " + " ".join(cells) + \
            f" {r['rss_delta_mb']:>7.1f} {r['python_peak_mb']:>5.1f} {r['classify_batch1_ms']['p50']:>8.2f}" \
            f" {r['classify_batch16_ms_per_face']:>8.2f}"
        old = prev.get((r["model"], r["threads"]))
        if old:
            a, b = old["latency_ms"]["end_to_end"]["p50"], r["latency_ms"]["end_to_end"]["p50"]
            if a and b:
                line += f"  ({(b - a) / a * 100:+.0f}% p50 vs previous)"
        if not r["faces_found"]:
            line += "  (no face found!)"
        lines.append(line)
    if result["throughput"]:
        lines.append("")
        lines.append(f"throughput over {result['folder']['images']} image(s) from {result['folder']['path']}")
        lines.append(f"{'model':<28} {'workers':>7} {'images/s':>9} {'seconds':>8} {'startup s':>9}")
        for r in result["throughput"]:
            lines.append(f"{r['model'][:28]:<28} {r['workers']:>7} {r['images_per_s'] or 0:>9.1f} {r['seconds']:>8.2f} {r['startup_s']:>9.2f}")
    lines.append("")
    lines.append(f"peak RSS {result['peak_rss_mb']:.0f} MB (this process). RSS+MB: memory added by loading and running "
                 "the model; pyMB: Python-allocated peak of one analysis (tracemalloc); b1 model: p50 ms of the bare "
                 "onnxruntime session on one crop; b16/face: classifier ms per face in batches of 16; int8: " + ", ".join(sorted({f"{r['model']}={'yes' if r['quantized'] else 'no'}"
                                                              for r in result['latency']})))
    return "\n".join(lines)


def _ms(v) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"
