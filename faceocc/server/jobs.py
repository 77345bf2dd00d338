"""Video jobs: a bounded queue, one worker thread, results written as JSON Lines on disk."""

from __future__ import annotations

import builtins
import json
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApiError

_STOP = object()


@dataclass
class Job:
    id: str
    source: str  # the name the client gave (upload file name or server-side path), never a server path
    video_path: Path
    owns_video: bool  # an upload: deleted when the job ends
    options: dict
    status: str = "queued"  # queued, running, done, failed, cancelled
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    frames_done: int = 0
    frames_total: int | None = None  # an estimate from the container's frame count
    faces: int = 0
    error: dict | None = None
    results_path: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished_state(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def to_dict(self) -> dict:
        progress = None
        if self.status == "done":
            progress = 1.0
        elif self.frames_total:
            progress = round(min(0.99, self.frames_done / self.frames_total), 4)
        return {
            "id": self.id,
            "status": self.status,
            "source": self.source,
            "options": self.options,
            "created": round(self.created, 3),
            "started": self.started and round(self.started, 3),
            "finished": self.finished and round(self.finished, 3),
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "progress": progress,
            "faces": self.faces,
            "error": self.error,
            "links": {"self": f"/v1/jobs/{self.id}", "results": f"/v1/jobs/{self.id}/results"},
        }


class JobManager:
    """Runs video jobs one at a time in a background thread; ``queue_size`` jobs may wait."""

    def __init__(
        self, work_dir: Path, queue_size: int, max_kept: int, run: Callable[[Job, Callable[[dict], None]], None]
    ):
        self.work_dir = Path(work_dir)
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.max_kept = max_kept
        self._run = run
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="faceocc-jobs", daemon=True)
                self._thread.start()

    @property
    def healthy(self) -> bool:
        return self._thread is None or self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        if self._thread is not None and self._thread.is_alive():
            try:
                self.queue.put_nowait(_STOP)
            except queue.Full:
                pass
            self._thread.join(timeout)

    # -- jobs ----------------------------------------------------------------------------------
    def new_job_dir(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        path = self.work_dir / job_id
        path.mkdir(parents=True, exist_ok=True)
        return job_id, path

    def submit(self, job: Job) -> Job:
        job.results_path = self.work_dir / job.id / "results.jsonl"
        job.results_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._jobs[job.id] = job
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self._jobs.pop(job.id, None)
            self._cleanup(job, remove_results=True)
            raise ApiError(
                503,
                "queue_full",
                f"the video job queue is full ({self.queue.maxsize} waiting); retry later",
                headers={"Retry-After": "10"},
            ) from None
        self._ensure_worker()
        self._evict()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no job with id {job_id!r} (finished jobs are kept for a while only)")
        return job

    def list(self) -> builtins.list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def delete(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancel.set()
        if job.status == "queued":
            job.status, job.finished = "cancelled", time.time()
        if job.finished_state:
            with self._lock:
                self._jobs.pop(job_id, None)
            self._cleanup(job, remove_results=True)
        return job

    def results(self, job_id: str, offset: int, limit: int) -> tuple[Job, builtins.list[dict], int]:
        job = self.get(job_id)
        out, total = [], 0
        if job.results_path is not None and job.results_path.is_file():
            with open(job.results_path, encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    if not line.endswith("\n"):
                        break  # a line still being written
                    total += 1
                    if offset <= i < offset + limit:
                        out.append(json.loads(line))
        return job, out, total

    def counts(self) -> dict:
        with self._lock:
            jobs = list(self._jobs.values())
        counts = {s: 0 for s in ("queued", "running", "done", "failed", "cancelled")}
        for j in jobs:
            counts[j.status] = counts.get(j.status, 0) + 1
        return counts

    # -- worker --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping:
            job = self.queue.get()
            if job is _STOP:
                break
            if job.cancel.is_set() or job.status == "cancelled":
                job.status, job.finished = "cancelled", job.finished or time.time()
                self._cleanup(job)
                continue
            job.status, job.started = "running", time.time()
            try:
                with open(job.results_path, "w", encoding="utf-8") as fh:

                    def emit(record: dict) -> None:
                        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                        fh.flush()

                    self._run(job, emit)
                job.status = "cancelled" if job.cancel.is_set() else "done"
            except ApiError as exc:
                job.status, job.error = "failed", {"code": exc.code, "message": exc.message}
            except Exception as exc:  # noqa: BLE001 - a job failure never stops the worker
                job.status, job.error = "failed", {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            finally:
                job.finished = time.time()
                self._cleanup(job)

    def _cleanup(self, job: Job, remove_results: bool = False) -> None:
        if job.owns_video:
            try:
                job.video_path.unlink(missing_ok=True)
            except OSError:
                pass
        if remove_results:
            shutil.rmtree(self.work_dir / job.id, ignore_errors=True)

    def _evict(self) -> None:
        with self._lock:
            done = sorted((j for j in self._jobs.values() if j.finished_state), key=lambda j: j.finished or 0)
            extra = done[: max(0, len(self._jobs) - self.max_kept)]
            for j in extra:
                self._jobs.pop(j.id, None)
        for j in extra:
            self._cleanup(j, remove_results=True)
