"""onnxruntime sessions with explicit thread settings."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(model: str | Path | bytes, threads: int = 0) -> ort.InferenceSession:
    """An onnxruntime CPU session; ``threads`` > 0 fixes the intra-op thread count."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
