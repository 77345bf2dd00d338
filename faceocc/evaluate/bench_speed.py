"""Speed of the pipeline: latency per stage of ``Analyzer.analyze`` and of the classifier alone, model size and
memory (:func:`bench_latency`); images per second with worker processes (:func:`bench_throughput`)."""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .bench_env import STAGES, peak_rss_mb, rss_mb
from .metrics import percentiles


def model_label(model: str | None) -> str:
    """The file name of the model ``model`` resolves to (the packaged default for None)."""
    from ..model import resolve_model_path

    return resolve_model_path(model).name


def bench_latency(model: str | None, threads: int, iterations: int, photo: bytes, warmup: int = 2) -> dict:
    """Per-stage and end-to-end latency (ms) of ``Analyzer.analyze`` on one encoded photo."""
    from ..model import resolve_model_path
    from ..pipeline import Analyzer, AnalyzerOptions

    rss0 = rss_mb()
    t0 = time.perf_counter()
    analyzer = Analyzer(AnalyzerOptions(model=model, threads=threads))
    load_s = time.perf_counter() - t0
    stages, total, faces, result = _time_analyze(analyzer, photo, warmup, iterations)
    tracemalloc.start()
    analyzer.analyze(photo)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    session_ms, predict_ms, per_crop_ms, near_ms = _time_classifier(
        analyzer.model, _first_crop(result, photo), iterations
    )
    path = resolve_model_path(model)
    return {
        "model": path.name,
        "model_path": str(path),
        "model_mb": round(path.stat().st_size / 2**20, 3),
        "quantized": _is_int8(analyzer.model),
        "threads": threads,
        "iterations": iterations,
        "faces_found": faces,
        "load_s": round(load_s, 4),
        "latency_ms": {s: _round(percentiles(v)) for s, v in stages.items()}
        | {"end_to_end": _round(percentiles(total))},
        "classify_batch1_ms": _round(percentiles(session_ms)),
        "predict_batch1_ms": _round(percentiles(predict_ms)),
        "classify_batch16_ms_per_face": round(per_crop_ms, 3),
        "classify_batch16_ms_per_face_near_threshold": round(near_ms, 3),
        "mirror_margin": analyzer.model.mirror_margin,
        "rss_delta_mb": round(rss_mb() - rss0, 1),
        "python_peak_mb": round(py_peak / 2**20, 2),
    }


def _time_analyze(analyzer, photo: bytes, warmup: int, iterations: int):
    """(ms per stage, end-to-end ms, faces found, the last result) of ``iterations`` analyses after ``warmup``
    untimed ones."""
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
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
            stages[s].append(result.timings.get(s, 0.0) * 1000)
        faces = len(result.faces)
    return stages, total, faces, result


def _first_crop(result, photo: bytes) -> np.ndarray:
    """The aligned crop of the first face found (1 x H x W x 3), or random pixels when none was found."""
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (1, 112, 112, 3), dtype=np.uint8)
    if result.faces and result.faces[0].landmarks:
        from ..alignment import align_face
        from ..io import load_image

        crop = align_face(load_image(photo), np.array(result.faces[0].landmarks, np.float32))[None]
    return crop


def _time_classifier(occ, crop: np.ndarray, iterations: int) -> tuple[list[float], list[float], float, float]:
    """The classifier alone: (ms of one crop through the bare onnxruntime session: the model's own speed; ms of one
    crop through ``OcclusionModel.predict``, resize and conversion included; ms per face in batches of 16; the same
    for faces whose score is near the threshold, which the mirror look predicts twice)."""
    from ..model import resize_crops

    x = np.ascontiguousarray(resize_crops(crop, occ.input_size).astype(np.float32).transpose(0, 3, 1, 2))
    session_ms = _repeat_ms(lambda: occ.session.run(None, {occ.input_name: x}), max(200, iterations * 10))
    predict_ms = _repeat_ms(lambda: occ.predict(crop), max(200, iterations * 10))
    batch = np.repeat(crop, 16, 0)
    per_crop_ms = float(np.median(_repeat_ms(lambda: occ.predict(batch), max(5, iterations // 4)))) / 16
    score = float(occ.predict(crop).occluded[0])  # centred on the face's own score: inside any mirror margin
    near = _repeat_ms(lambda: occ.predict(batch, threshold=score), max(5, iterations // 4))
    return session_ms, predict_ms, per_crop_ms, float(np.median(near)) / 16


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
    assert _worker_analyzer is not None, "worker not initialised"
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
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(model, threads)
    ) as pool:
        list(pool.map(_ready, range(workers * 2)))  # start every worker (and its model) before timing
        startup = time.perf_counter() - t0
        jobs = [str(f) for _ in range(rounds) for f in files]
        t = time.perf_counter()
        faces = sum(pool.map(_work, jobs, chunksize=1))
        elapsed = time.perf_counter() - t
    return {
        "model": model_label(model),
        "workers": workers,
        "threads_per_worker": threads,
        "images": len(jobs),
        "faces": faces,
        "seconds": round(elapsed, 4),
        "images_per_s": round(len(jobs) / elapsed, 2) if elapsed > 0 else None,
        "startup_s": round(startup, 3),
        "children_peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
    }
