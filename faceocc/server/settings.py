"""Settings of the faceocc HTTP service (``faceocc serve`` options map one to one onto these fields)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..headers import MAX_JPEG_SCANS
from ..io import MAX_PIXELS


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class ServerSettings:
    """Everything that configures :func:`faceocc.server.create_app`.

    model: faceocc ONNX model (None: the shipped default).
    max_upload_mb: largest image body accepted by /v1/analyze (413 above it).
    max_batch_mb: largest body accepted by /v1/analyze/batch.
    max_batch_files: most images in one batch request.
    max_video_mb: largest video upload accepted by /v1/jobs.
    max_pixels: images (and video frames) with more pixels are refused from their header, before decoding (413).
    timeout: seconds allowed for one request: reading its body (408 after it) and analysing it (504 after it).
    max_concurrency: image requests in flight at once; one more is answered 429 at once (no pile-up).
    workers: threads that run analyses (each onnxruntime session uses ``threads`` threads).
    api_key: when set, /v1/* and /metrics need ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.
    jobs_root: server-side videos may be named (as a path relative to this folder) in POST /v1/jobs;
        None: server-side paths are refused.
    queue_size: video jobs waiting to run; one more is answered 503.
    max_jobs_kept: finished jobs kept (with their results) before the oldest are forgotten.
    work_dir: where uploaded videos, job results and the job table (``jobs.sqlite3``) are written (None: a temporary
        folder); give one to keep jobs across restarts.
    allowed_hosts: the ``Host`` header names accepted (``*.example.com`` matches subdomains; None: any host).
        ``faceocc serve`` defaults to the loopback names when it listens on loopback (against DNS rebinding).
    header_timeout: seconds a connection may take to send a request's headers; slower ones are closed
        (slow-loris; applied by ``faceocc serve``'s HTTP protocol, see :mod:`faceocc.server.connections`).
    drain_timeout: seconds a running video job may go on after SIGTERM before it is stopped (queued jobs are marked
        interrupted at once).
    job_ttl: seconds a finished job (and its results) is kept; interrupted and finished jobs older than this are
        forgotten and their files removed by a periodic sweep.
    max_jpeg_scans: JPEGs with more scans are refused before decoding (413): progressive "scan bombs" take minutes.
    """

    model: str | None = None
    score_threshold: float = 0.6
    det_size: int = 320
    min_face: int = 32
    threshold: float | None = None
    eyeglasses_occlude: bool = False
    max_upload_mb: float = 20.0
    max_batch_mb: float = 64.0
    max_batch_files: int = 16
    max_video_mb: float = 500.0
    max_pixels: int = 40_000_000
    timeout: float = 30.0
    max_concurrency: int = 16
    workers: int = field(default_factory=_default_workers)
    threads: int = 1
    api_key: str | None = None
    jobs_root: str | Path | None = None
    queue_size: int = 8
    max_jobs_kept: int = 100
    work_dir: str | Path | None = None
    allowed_hosts: tuple[str, ...] | None = None
    header_timeout: float = 10.0
    drain_timeout: float = 30.0
    job_ttl: float = 24 * 3600.0
    max_jpeg_scans: int = MAX_JPEG_SCANS

    def __post_init__(self) -> None:
        if self.max_upload_mb <= 0 or self.max_batch_mb <= 0 or self.max_video_mb <= 0:
            raise ValueError("upload limits must be positive")
        if not 0 < self.max_pixels <= MAX_PIXELS:
            raise ValueError(f"max_pixels must be within 1..{MAX_PIXELS}, got {self.max_pixels}")
        for name in ("timeout", "header_timeout", "job_ttl"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")
        if not (math.isfinite(self.drain_timeout) and self.drain_timeout >= 0):
            raise ValueError(f"drain_timeout must be zero or more seconds, got {self.drain_timeout}")
        for name in ("max_concurrency", "workers", "queue_size", "max_batch_files", "max_jobs_kept", "max_jpeg_scans"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {self.threshold}")
        if self.api_key is not None and not self.api_key.strip():
            # an empty key must not quietly turn authentication off
            raise ValueError("api_key is empty or blank: give a real key, or none at all to run without one")
        if self.allowed_hosts is not None:
            hosts = tuple(h.strip().lower() for h in self.allowed_hosts if h.strip())
            if not hosts:
                raise ValueError("allowed_hosts is empty: give at least one host name, or None to accept any")
            self.allowed_hosts = hosts
        if self.jobs_root is not None:
            root = Path(self.jobs_root).expanduser()
            if not root.is_dir():
                raise ValueError(f"jobs_root {root}: not a directory")
            self.jobs_root = root.resolve()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_batch_bytes(self) -> int:
        return int(self.max_batch_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 1024 * 1024)
