"""The video jobs' table on disk: one SQLite row per job (its state as JSON), so that jobs outlive the process.

Written on every change of a job's state (and now and then during a run, for its progress); read back when the
service starts, which then reports the jobs it finds unfinished as interrupted (:mod:`faceocc.server.jobs`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

_SCHEMA = "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, record TEXT NOT NULL)"


class JobStore:
    """``work_dir/jobs.sqlite3``: save, delete and load job records (plain dicts), safe from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ValueError(f"{self.path}: cannot use this file as the job table ({exc})") from None

    def save(self, record: dict) -> None:
        text = json.dumps(record, ensure_ascii=False, allow_nan=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (id, status, record) VALUES (?, ?, ?)",
                (record["id"], record["status"], text),
            )

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def load(self) -> list[dict]:
        """Every record; rows that cannot be read are skipped (and deleted)."""
        with self._lock:
            rows = self._db.execute("SELECT id, record FROM jobs").fetchall()
        out = []
        for job_id, text in rows:
            try:
                record = json.loads(text)
                if not isinstance(record, dict) or record.get("id") != job_id:
                    raise ValueError("not a job record")
            except ValueError:
                self.delete(job_id)
                continue
            out.append(record)
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
