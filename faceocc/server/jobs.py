"""Video jobs: a bounded queue, one worker thread, results written as JSON Lines on disk, and the jobs' state kept in
a SQLite table beside them (:mod:`faceocc.server.job_store`).

After a crash or restart, jobs found queued or running are reported as ``interrupted`` (with the reason), never
lost; finished and interrupted jobs are forgotten, and their files removed, ``ttl`` seconds after they ended (a
sweep runs every few minutes). :meth:`JobManager.stop` (SIGTERM) lets the running job finish within a deadline and
marks the queued ones interrupted.
"""

from __future__ import annotations

import builtins
import json
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApiError
from .job_store import JobStore

_STOP = object()
_JOB_DIR = re.compile(r"[0-9a-f]{32}")
FINISHED = ("done", "failed", "cancelled", "interrupted")
#: the job fields kept on disk (the cancel event is not)
_RECORD_FIELDS = (
    "id",
    "source",
    "owns_video",
    "options",
    "status",
    "created",
    "started",
    "finished",
    "frames_done",
    "frames_total",
    "faces",
    "error",
)


@dataclass
class Job:
    id: str
    source: str  # the name the client gave (upload file name or server-side path), never a server path
    video_path: Path
    owns_video: bool  # an upload: deleted when the job ends
    options: dict
    status: str = "queued"  # queued, running, then one of FINISHED
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
        return self.status in FINISHED

    def to_record(self) -> dict:
        """What is saved of the job (:class:`~faceocc.server.job_store.JobStore`)."""
        record = {name: getattr(self, name) for name in _RECORD_FIELDS}
        record["video_path"] = str(self.video_path)
        return record

    @classmethod
    def from_record(cls, record: dict, work_dir: Path) -> Job:
        fields = {name: record[name] for name in _RECORD_FIELDS if name in record}
        job = cls(video_path=Path(record.get("video_path", "")), **fields)
        job.results_path = work_dir / job.id / "results.jsonl"
        return job

    def interrupt(self, why: str) -> None:
        """End the job as ``interrupted``: ``why`` says what happened, the message what was done."""
        done = f"; {self.frames_done} frame(s) were analysed (partial results are kept)" if self.frames_done else ""
        self.status, self.finished = "interrupted", time.time()
        self.error = {"code": "interrupted", "message": f"{why}{done}; submit the video again"}

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
        self,
        work_dir: Path,
        queue_size: int,
        max_kept: int,
        run: Callable[[Job, Callable[[dict], None]], None],
        ttl: float = 24 * 3600.0,
    ):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.max_kept = max_kept
        self.ttl = ttl
        self._run = run
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._stopped = threading.Event()
        self.store = JobStore(self.work_dir / "jobs.sqlite3")
        self._recover()
        self._janitor = threading.Thread(target=self._sweep_loop, name="faceocc-jobs-janitor", daemon=True)
        self._janitor.start()

    # -- lifecycle -----------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="faceocc-jobs", daemon=True)
                self._thread.start()

    @property
    def healthy(self) -> bool:
        return self._thread is None or self._thread.is_alive()

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Shut down: queued jobs are marked interrupted at once, the running one may finish within
        ``drain_timeout`` seconds (then it is stopped and marked interrupted too)."""
        self._stopping = True
        self._stopped.set()
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, Job) and not job.finished_state:
                job.interrupt("the server shut down before this job started")
                self._cleanup(job)
                self._save(job)
        thread = self._thread
        if thread is not None and thread.is_alive():
            self.queue.put(_STOP)
            thread.join(drain_timeout)
            if thread.is_alive():
                with self._lock:
                    running = [j for j in self._jobs.values() if j.status == "running"]
                for job in running:
                    job.cancel.set()
                thread.join(10)
        self._janitor.join(5)
        self.store.close()

    # -- jobs ----------------------------------------------------------------------------------
    def new_job_dir(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        path = self.work_dir / job_id
        path.mkdir(parents=True, exist_ok=True)
        return job_id, path

    def submit(self, job: Job) -> Job:
        job.results_path = self.work_dir / job.id / "results.jsonl"
        job.results_path.parent.mkdir(parents=True, exist_ok=True)
        try:  # a job that cannot be written down (e.g. an infinite option) never reaches the shared state
            json.dumps(job.to_dict(), allow_nan=False)
        except (TypeError, ValueError) as exc:
            self._cleanup(job, remove_results=True)
            raise ApiError(422, "invalid_parameter", f"the job's options cannot be stored: {exc}") from None
        if self._stopping:
            self._cleanup(job, remove_results=True)
            raise ApiError(503, "not_ready", "the server is shutting down", headers={"Retry-After": "10"})
        with self._lock:
            self._jobs[job.id] = job
        self._save(job)
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self._jobs.pop(job.id, None)
            self.store.delete(job.id)
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
            self.store.delete(job_id)
            self._cleanup(job, remove_results=True)
        else:
            self._save(job)
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
        counts = {s: 0 for s in ("queued", "running", *FINISHED)}
        for j in jobs:
            counts[j.status] = counts.get(j.status, 0) + 1
        return counts

    # -- worker --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            job = self.queue.get()
            if job is _STOP:
                break
            if self._stopping:
                job.interrupt("the server shut down before this job started")
                self._cleanup(job)
                self._save(job)
                continue
            if job.cancel.is_set() or job.status == "cancelled":
                job.status, job.finished = "cancelled", job.finished or time.time()
                self._cleanup(job)
                self._save(job)
                continue
            self._run_one(job)
            if self._stopping:
                break

    def _run_one(self, job: Job) -> None:
        job.status, job.started = "running", time.time()
        self._save(job)
        saved = [time.monotonic()]
        try:
            with open(job.results_path, "w", encoding="utf-8") as fh:  # type: ignore[arg-type]

                def emit(record: dict) -> None:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    fh.flush()
                    if time.monotonic() - saved[0] > 2.0:  # progress survives a crash, give or take 2 s
                        saved[0] = time.monotonic()
                        self._save(job)

                self._run(job, emit)
            if not job.cancel.is_set():
                job.status = "done"
            elif self._stopping:
                job.interrupt("the server shut down while this job was running (the drain deadline passed)")
            else:
                job.status = "cancelled"
        except ApiError as exc:
            job.status, job.error = "failed", {"code": exc.code, "message": exc.message}
        except Exception as exc:  # noqa: BLE001 - a job failure never stops the worker
            job.status, job.error = "failed", {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            job.finished = job.finished or time.time()
            self._cleanup(job)
            self._save(job)

    # -- on disk -------------------------------------------------------------------------------
    def _save(self, job: Job) -> None:
        with self._lock:
            known = job.id in self._jobs
        if known:
            self.store.save(job.to_record())

    def _recover(self) -> None:
        """Jobs of an earlier run: unfinished ones become interrupted; folders no job owns are removed."""
        for record in self.store.load():
            try:
                job = Job.from_record(record, self.work_dir)
            except (KeyError, TypeError, ValueError):
                self.store.delete(str(record.get("id")))
                continue
            if not job.finished_state:
                job.interrupt(f"the server stopped while this job was {job.status}")
                self._cleanup(job)
            self._jobs[job.id] = job
            self.store.save(job.to_record())
        for entry in self.work_dir.iterdir():
            if _JOB_DIR.fullmatch(entry.name) and entry.name not in self._jobs and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)  # an upload cut off by the crash
        self.sweep()

    def sweep(self, now: float | None = None) -> builtins.list[str]:
        """Forget finished jobs that ended more than ``ttl`` seconds ago and remove their files; their ids."""
        cutoff = (time.time() if now is None else now) - self.ttl
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished_state and (j.finished or 0) < cutoff]
            for j in old:
                self._jobs.pop(j.id, None)
        for j in old:
            self.store.delete(j.id)
            self._cleanup(j, remove_results=True)
        return [j.id for j in old]

    def _sweep_loop(self) -> None:
        interval = min(300.0, max(1.0, self.ttl / 4))
        while not self._stopped.wait(interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the janitor never dies; it tries again next time
                pass

    def _cleanup(self, job: Job, remove_results: bool = False) -> None:
        if job.owns_video and job.video_path.is_relative_to(self.work_dir):
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
            self.store.delete(j.id)
            self._cleanup(j, remove_results=True)
