"""``faceocc bench``: latency per stage, throughput with 1..N worker processes, model size, peak memory.

The test photo is derived from ``skimage.data.astronaut()`` (public domain): resized to 480 x 480 and padded
to 640 x 480 with one face, JPEG-encoded so that decoding is part of the measurement. Without skimage a
synthetic grey photo is used (detection then finds no face; the table says so).

The detection-scale benchmark (``bench_detection_scale``, run by ``benchmarks/detection_scale.py``) builds group photos in
code (``group_photo``: the astronaut's face, clean and with the bundled examples' hand, mask and sunglasses, pasted onto
textures) and reports faces found and end-to-end cost against photo size, face count and detector mode.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import math
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
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


# -- generated group photos (detection scale) -------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: the kinds of face in the generated photos, from skimage's astronaut and the bundled ``examples/astronaut*.jpg``
FACE_KINDS = ("clean", "clean", "hand", "mask", "sunglasses")


@lru_cache(maxsize=1)
def face_patches() -> tuple[tuple[np.ndarray, np.ndarray, str], ...]:
    """Head-and-shoulders cut-outs: (RGB patch, face box in the patch, kind): skimage's astronaut (public domain) and
    the bundled ``examples/astronaut{,_hand,_mask,_sunglasses}.jpg`` (procedural occluders on it)."""
    from skimage import data

    from ..detection import DetectorOptions, FaceDetector

    sources = [(data.astronaut(), "clean")]
    for name in ("astronaut", "astronaut_hand", "astronaut_mask", "astronaut_sunglasses"):
        image = cv2.imread(str(EXAMPLES / f"{name}.jpg"))
        if image is not None:
            sources.append((image[:, :, ::-1], name.partition("_")[2] or "clean"))
    detector = FaceDetector(DetectorOptions(max_side=640))
    patches = []
    for image, kind in sources:
        faces = detector.detect(image)
        if not faces:
            continue
        x1, y1, x2, y2 = faces[0].box
        w, h = x2 - x1, y2 - y1
        a, b = int(max(0, x1 - 0.8 * w)), int(max(0, y1 - 0.6 * h))
        c, d = int(min(image.shape[1], x2 + 0.8 * w)), int(min(image.shape[0], y2 + 1.0 * h))
        patches.append((np.ascontiguousarray(image[b:d, a:c]), faces[0].box - [a, b, a, b], kind))
    return tuple(patches)


def textured_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A ``height`` x ``width`` RGB background: a skimage texture (brick, grass, gravel) under smooth colours."""
    from skimage import data

    texture = (data.brick, data.grass, data.gravel)[int(rng.integers(3))]()
    tiled = np.tile(texture, (height // texture.shape[0] + 1, width // texture.shape[1] + 1))[:height, :width]
    colours = cv2.resize(rng.integers(40, 220, (3, 4, 3)).astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    shade = (tiled.astype(np.uint16) // 2 + 128)[:, :, None]
    return ((colours.astype(np.uint16) * shade) >> 8).astype(np.uint8)


def group_photo(width: int = 4000, height: int = 3000, faces: int = 25, face_px: float = 130.0, seed: int = 0,
                kinds: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A generated group photo: ``faces`` head-and-shoulders cut-outs (see :func:`face_patches`) on a grid, face
    sizes (shorter box side) ``face_px`` +-15%, brightness 0.7-1.2, half of them mirrored, on a textured background.

    Returns the RGB photo, the faces' boxes (N x 4, photo pixels) and their kinds. ``kinds`` keeps only faces of
    those kinds (e.g. ``["clean"]``).
    """
    rng = np.random.default_rng(seed)
    canvas = textured_background(width, height, rng)
    patches = [p for p in face_patches() if kinds is None or p[2] in kinds]
    cols = max(1, math.ceil(math.sqrt(faces * width / height)))
    rows = math.ceil(faces / cols)
    cw, ch = width / cols, height / rows
    boxes, out_kinds = [], []
    for i in range(faces):
        patch, box, kind = patches[i % len(patches)]
        k = face_px * rng.uniform(0.85, 1.15) / min(box[2] - box[0], box[3] - box[1])
        k = min(k, 0.95 * cw / patch.shape[1], 0.95 * ch / patch.shape[0])  # the cut-out fits its cell
        pw, ph = max(2, round(patch.shape[1] * k)), max(2, round(patch.shape[0] * k))
        img = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
        bx = box * np.tile([pw / patch.shape[1], ph / patch.shape[0]], 2)
        if rng.random() < 0.5:
            img, bx = img[:, ::-1], np.array([pw - bx[2], bx[1], pw - bx[0], bx[3]])
        img = np.clip(img.astype(np.float32) * rng.uniform(0.7, 1.2), 0, 255)
        r, c = divmod(i, cols)
        x0 = int(np.clip(c * cw + (cw - pw) / 2 + rng.uniform(-0.2, 0.2) * max(0, cw - pw), 0, width - pw))
        y0 = int(np.clip(r * ch + (ch - ph) / 2 + rng.uniform(-0.2, 0.2) * max(0, ch - ph), 0, height - ph))
        yy, xx = np.mgrid[0:ph, 0:pw]
        alpha = np.clip((1.0 - ((xx - pw / 2) / (pw / 2)) ** 2 - ((yy - ph / 2) / (ph / 2)) ** 2) / 0.25, 0, 1)[:, :, None]
        roi = canvas[y0:y0 + ph, x0:x0 + pw].astype(np.float32)
        canvas[y0:y0 + ph, x0:x0 + pw] = (img * alpha + roi * (1 - alpha)).astype(np.uint8)
        boxes.append(bx + [x0, y0, x0, y0])
        out_kinds.append(kind)
    return canvas, np.array(boxes, np.float32).reshape(-1, 4), out_kinds


def matched_faces(found_boxes, truth: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """For each true box, whether some found box overlaps it with IoU >= ``iou``."""
    found = np.asarray(found_boxes, np.float32).reshape(-1, 4)
    if not len(found) or not len(truth):
        return np.zeros(len(truth), bool)
    ix = np.clip(np.minimum(truth[:, None, 2], found[None, :, 2]) - np.maximum(truth[:, None, 0], found[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(truth[:, None, 3], found[None, :, 3]) - np.maximum(truth[:, None, 1], found[None, :, 1]), 0, None)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    inter = ix * iy
    union = area(truth)[:, None] + area(found)[None, :] - inter
    return (inter / np.maximum(union, 1e-6) >= iou).any(axis=1)


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


# -- detection scale: faces found and cost against photo size and face count -----------------------------

SCALE_MODES = {"default": {}, "fast": {"max_side": 320}, "smallest 32": {"smallest_face": 32}}


def scale_cases(quick: bool = False) -> list[dict]:
    """The photos of the detection-scale benchmark: (name, series, RGB, true boxes, kinds, modes to run)."""
    cases = []
    add = lambda name, series, photo, modes=("default",): cases.append(  # noqa: E731
        {"name": name, "series": series, "photo": photo, "modes": modes})
    add("group 4000x3000, 25 faces ~130 px", "main", group_photo(4000, 3000, 25, 130.0), ("default", "fast", "smallest 32"))
    add("12 MP, one face ~600 px", "main", group_photo(4000, 3000, 1, 600.0, seed=1, kinds=["clean"]), ("default", "fast"))
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
    add("no face: texture 4000x3000", "no face", (textured_background(4000, 3000, rng), np.zeros((0, 4), np.float32), []),
        ("default", "fast"))
    return cases


def _boxes_of(photo: np.ndarray) -> np.ndarray:
    from ..detection import DetectorOptions, FaceDetector

    return np.array([f.box for f in FaceDetector(DetectorOptions(max_side=1024)).detect(photo)], np.float32).reshape(-1, 4)


def bench_detection_scale(threads: int = 1, runs: int = 5, quick: bool = False, log=None) -> dict:
    """Faces found and end-to-end ms (median of ``runs`` after one warm-up; JPEG bytes in, so decoding counts) for
    each case of :func:`scale_cases` and detector mode."""
    from ..detection import DetectorOptions
    from ..pipeline import Analyzer, AnalyzerOptions

    log = log or (lambda m: None)
    analyzers = {m: Analyzer(AnalyzerOptions(threads=threads, detector=DetectorOptions(threads=threads, **o)))
                 for m, o in SCALE_MODES.items()}
    rows = []
    for case in scale_cases(quick):
        rgb, truth, kinds = case["photo"]
        data = encode_jpeg(rgb)
        for mode in case["modes"]:
            log(f"{case['name']}: {mode}")
            analyzer = analyzers[mode]
            times, cpu, stages = [], [], {s: [] for s in STAGES}
            for i in range(runs + 1):
                t, c = time.perf_counter(), time.process_time()
                result = analyzer.analyze(data)
                if i:
                    times.append((time.perf_counter() - t) * 1000)
                    cpu.append((time.process_time() - c) * 1000)
                    for s in STAGES:
                        stages[s].append(analyzer.timings.get(s, 0.0) * 1000)
            hit = matched_faces([f.box for f in result.faces], truth)
            by_kind = {k: f"{int(sum(h for h, kk in zip(hit, kinds) if kk == k))}/{kinds.count(k)}" for k in sorted(set(kinds))}
            plan = analyzer.detector.plan(result.width, result.height)
            rows.append({"case": case["name"], "series": case["series"], "mode": mode, "width": result.width,
                         "height": result.height, "faces": len(truth), "found": int(hit.sum()), "detections": len(result.faces),
                         "found_by_kind": by_kind, "min_face_px": round(result.min_face_px, 1), "detector_runs": plan.runs,
                         "scales": [round(s, 4) for s in plan.scales], "jpeg_mb": round(len(data) / 2**20, 2),
                         "ms_median": round(float(np.median(times)), 1), "ms_runs": [round(v, 1) for v in times],
                         "cpu_ms_median": round(float(np.median(cpu)), 1),
                         "stage_ms_median": {s: round(float(np.median(v)), 1) for s, v in stages.items()}})
    return {"environment": environment(), "threads": threads, "runs": runs, "rows": rows,
            "load_average": _load_average()}


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def format_scale_table(result: dict) -> str:
    """The human table of :func:`bench_detection_scale`."""
    env = result["environment"]
    lines = [f"faceocc {env['faceocc_version']} ({env.get('commit') or 'no git'}), {env['cpu_count']} CPU(s): {env['cpu']}; "
             f"{result['threads']} thread(s), median of {result['runs']} run(s), load average {result['load_average']}",
             f"{'photo':<36} {'mode':<12} {'found':>7} {'dets':>5} {'min px':>6} {'runs':>4} {'ms':>8} {'cpu ms':>7} "
             f"{'decode':>7} {'detect':>7} {'align':>6} {'classify':>8}  by kind"]
    lines.append("-" * len(lines[-1]))
    series = None
    for r in result["rows"]:
        if series is not None and r["series"] != series:
            lines.append("")
        series = r["series"]
        st = r["stage_ms_median"]
        kinds = " ".join(f"{k} {v}" for k, v in r["found_by_kind"].items()) if len(r["found_by_kind"]) > 1 else ""
        lines.append(f"{r['case'][:36]:<36} {r['mode']:<12} {r['found']:>3}/{r['faces']:<3} {r['detections']:>5} "
                     f"{r['min_face_px']:>6.0f} {r['detector_runs']:>4} {r['ms_median']:>8.1f} {r['cpu_ms_median']:>7.1f} {st['decode']:>7.1f} "
                     f"{st['detect']:>7.1f} {st['align']:>6.1f} {st['classify']:>8.1f}  {kinds}")
    lines.append("")
    lines.append("found: true faces matched by a detection (IoU >= 0.3); dets: faces reported; min px: the smallest face "
                 "searched for (min_face_px); runs: network runs (passes x tiles); ms: end to end from JPEG bytes (wall clock); "
                 "cpu ms: the process's CPU time for it (with 1 thread, the work itself, less sensitive to a busy machine); "
                 "stage columns: wall-clock ms.")
    return "\n".join(lines)


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
