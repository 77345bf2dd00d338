"""The output folder of a batch, and how a run is resumed from it.

::

    OUT/run.json                 the options of the run and where its JSON Lines go
    OUT/faces/part-000000.parquet  committed rows (:mod:`faceocc.batch.rows`), one file per commit
    OUT/records.jsonl            the records, one JSON line each, as ``faceocc analyze --jsonl`` writes them

A commit appends its records to the JSON Lines file (flushed to disk), then writes its Parquet part under a temporary
name and renames it: a part is there whole or not at all, and it records how long the JSON Lines file was after its
lines. Only whole inputs are committed (every record of a video together). On resume, the inputs in the parts are
skipped, temporary parts of an interrupted commit are removed, and JSON lines written after the last part (a commit
cut short) are cut off, so that no record is written twice or lost.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import unique_path
from .rows import LINE

RUN_FILE = "run.json"
PARTS = "faces"
JSONL = "records.jsonl"
_END = b"faceocc.jsonl_end"


class OutputError(ValueError):
    """An output folder that cannot be used: not a batch folder, or a run with other options."""


@dataclass
class Store:
    """A batch's output folder, opened: what is done, and where the next commit goes."""

    out: Path
    jsonl: Path | None
    done: set[str] = field(default_factory=set)
    next_part: int = 0
    jsonl_end: int = 0
    dropped_bytes: int = 0  # JSON Lines of an interrupted commit, cut off on resume

    @property
    def parts(self) -> Path:
        return self.out / PARTS

    @property
    def where(self) -> str:
        """Where the rows go, for people."""
        return str(self.parts)

    @classmethod
    def open(cls, out: str | Path, jsonl: Path | None, config: dict[str, Any]) -> Store:
        """Open ``out`` to continue the run it holds (its options must be ``config``) or to start one there (a new or
        empty folder; a ``jsonl`` file that exists is not overwritten: ``name-1.jsonl`` is written instead)."""
        out = Path(out)
        run_file = out / RUN_FILE
        config = json.loads(json.dumps(config))
        if run_file.exists():
            saved = json.loads(run_file.read_text())
            check_same_options(out, config, saved)
            store = cls(out, Path(saved["jsonl"]) if saved.get("jsonl") else None)
            store._read_parts()
            return store
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise OutputError(f"{out}: exists and holds no faceocc batch; give a new or empty folder")
        store = cls(out, unique_path(jsonl) if jsonl else None)
        store.parts.mkdir(parents=True, exist_ok=True)
        saved = {"config": config, "jsonl": str(store.jsonl) if store.jsonl else None}
        run_file.write_text(json.dumps(saved, indent=1) + "\n")
        return store

    def _read_parts(self) -> None:
        import pyarrow.parquet as pq

        self.parts.mkdir(parents=True, exist_ok=True)
        for tmp in self.parts.glob(".*.tmp"):  # an interrupted commit of ours
            tmp.unlink()
        for part in sorted(self.parts.glob("part-*.parquet")):
            try:
                table = pq.read_table(part, columns=["input"])
            except Exception as exc:  # noqa: BLE001 - say which file
                raise OutputError(f"{part}: not a readable Parquet part ({exc})") from None
            self.done.update(table.column("input").to_pylist())
            meta = table.schema.metadata or {}
            self.jsonl_end = max(self.jsonl_end, int(meta.get(_END, b"0")))
            self.next_part = max(self.next_part, int(part.stem.split("-")[1]) + 1)
        if self.jsonl is not None:
            self._cut_jsonl(self.jsonl_end)

    def _cut_jsonl(self, end: int) -> None:
        """Cut the JSON Lines file back to ``end`` bytes (what the committed parts hold)."""
        assert self.jsonl is not None
        self.jsonl_end = end
        size = self.jsonl.stat().st_size if self.jsonl.exists() else 0
        if size < end:
            raise OutputError(f"{self.jsonl}: shorter than the committed parts say ({size} < {end} bytes)")
        if size > end:
            with open(self.jsonl, "r+b") as fh:
                fh.truncate(end)
            self.dropped_bytes = size - end

    def commit(self, table) -> None:
        """Write the rows of whole inputs (a worker table: the Parquet columns and the JSON line of each record)."""
        if table.num_rows == 0:
            return
        if self.jsonl is not None:
            lines = "".join(line + "\n" for line in table.column(LINE).to_pylist() if line is not None)
            with open(self.jsonl, "ab") as fh:
                fh.write(lines.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                self.jsonl_end = fh.tell()
        self._write_part(table.replace_schema_metadata({_END: str(self.jsonl_end).encode()}), self._part_name())
        self.next_part += 1
        self.done.update(table.column("input").to_pylist())

    def _part_name(self) -> str:
        return f"part-{self.next_part:06d}.parquet"

    def _write_part(self, table, name: str) -> None:
        """Write a part (``table`` without its JSON lines) whole or not at all."""
        import pyarrow.parquet as pq

        tmp = self.parts / f".{name}.tmp"
        pq.write_table(table.drop_columns([LINE]), tmp)
        os.replace(tmp, self.parts / name)


def check_same_options(where, config: dict[str, Any], saved: dict[str, Any]) -> None:
    """Refuse to resume the run saved at ``where`` (its run file's contents: ``saved``) with other options."""
    changed = changed_options(config, saved.get("config", {}))
    if changed:
        raise OutputError(
            f"{where}: holds a run with other options ({', '.join(changed)}); resume it with the same "
            "options, or give another folder"
        )


def changed_options(config: dict[str, Any], saved: dict[str, Any]) -> list[str]:
    """The options (top-level keys) in which a run's ``config`` differs from the ``saved`` one."""
    return sorted(k for k in {*config, *saved} if config.get(k) != saved.get(k))
