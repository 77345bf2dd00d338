"""onnxruntime sessions with explicit thread settings, on the GPU when there is one.

``device`` chooses the execution providers (:func:`choose_providers`):

- ``auto`` (default): CUDA when this onnxruntime offers it (the ``onnxruntime-gpu`` package), then the CPU;
- ``cpu``: the CPU only;
- ``cuda``: CUDA, then the CPU for any operator CUDA lacks; an error when onnxruntime has no CUDA provider, or when
  the session could not start on it (no GPU, or CUDA libraries missing).

With a fixed number of CPU threads above 1, the threads sleep between operators instead of spinning
(``session.intra_op.allow_spinning`` 0): a spinning thread keeps its core busy for nothing while the other threads
(video decoding, the classification that overlaps the next frame's tracking, other workers) wait for it. On 2 loaded
cores, a 720p two-face clip went from 22.7 to 54.9 input frames per second and from 43.8 to 18.1 ms of CPU per frame
(``benchmarks/video_bench.py --faces 2 --threads 2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

DEVICES = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


class DeviceError(ValueError):
    """A device that cannot be used: unknown, or not offered by the installed onnxruntime."""


def available_providers() -> list[str]:
    """The execution providers the installed onnxruntime offers (tests replace this list)."""
    return list(ort.get_available_providers())


def choose_providers(device: str = "auto", available: Sequence[str] | None = None) -> list[str]:
    """The providers for ``device`` (see the module's text), most preferred first, from the ``available`` ones
    (default: :func:`available_providers`)."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    available = available_providers() if available is None else list(available)
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise DeviceError(
            f"device 'cuda' asked for, but this onnxruntime offers only {', '.join(available) or 'none'} "
            "(install onnxruntime-gpu, with CUDA and cuDNN, for the GPU)"
        )
    return [CPU]


def create_session(model: str | Path | bytes, threads: int = 0, device: str = "auto") -> ort.InferenceSession:
    """An onnxruntime session on ``device`` (:func:`choose_providers`); ``threads`` > 0 fixes the CPU's intra-op
    thread count. ``session.get_providers()`` tells where it runs."""
    providers = choose_providers(device)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if threads > 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, sess_options=options, providers=providers)
    if device == "cuda" and CUDA not in session.get_providers():
        raise DeviceError(
            "device 'cuda' asked for, but the session could not start on CUDA (no GPU, or the CUDA "
            "libraries onnxruntime-gpu needs are missing); use --device cpu or auto"
        )
    return session


def device_name(providers: Sequence[str]) -> str:
    """``cuda`` or ``cpu``: where a session with these providers (``session.get_providers()``) runs first."""
    return "cuda" if providers and providers[0] == CUDA else "cpu"
