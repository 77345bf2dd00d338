"""A batch's output folder under a pyarrow filesystem URI (``s3://bucket/results/``, ``gs://...``, ``file:///...``).

::

    OUT/run.json                   the options of the run (as in a local folder)
    OUT/faces/part-000000.parquet  committed rows, one object per commit
    OUT/records/part-000000.jsonl  the JSON lines of that commit (object stores cannot append to one file); read the
                                   parts in name order for the records file of ``faceocc analyze --jsonl``

A commit writes its JSON lines first, then its Parquet part under a temporary name, moved into place (on object
stores a part object appears whole or not at all): a part is there only with its lines. On resume, the inputs in the
parts are skipped; temporary parts and line objects without their part (a commit cut short) are deleted. A local
``--jsonl`` file may still be given: it is appended to as for a local folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import unique_path
from .inputs import filesystem
from .rows import LINE
from .store import _END, PARTS, RUN_FILE, OutputError, Store, check_same_options

RECORDS = "records"


@dataclass
class RemoteStore(Store):
    """A :class:`Store` whose folder is a URI: ``fs`` and ``base`` (the folder inside it); ``records``: write each
    commit's JSON lines as ``records/part-N.jsonl``."""

    fs: Any = None
    base: str = ""
    records: bool = True
    uri: str = ""

    @property
    def where(self) -> str:
        return f"{self.uri}/{PARTS}" + (f" and {self.uri}/{RECORDS}" if self.records else "")

    @classmethod
    def open_uri(cls, uri: str, jsonl: Path | None, config: dict[str, Any], records: bool = True) -> RemoteStore:
        """Open the folder ``uri`` to continue its run (with the same ``config``) or to start one (new or empty)."""
        from pyarrow import fs as pafs

        uri = uri.rstrip("/")
        handle, base = filesystem(uri)
        config = json.loads(json.dumps(config))
        run_file = f"{base}/{RUN_FILE}"
        if handle.get_file_info(run_file).type == pafs.FileType.File:
            with handle.open_input_stream(run_file) as stream:
                saved = json.loads(stream.read())
            check_same_options(uri, config, saved)
            jsonl = Path(saved["jsonl"]) if saved.get("jsonl") else None
            store = cls(Path(base), jsonl, fs=handle, base=base, records=saved.get("records", records), uri=uri)
            store._read_remote_parts()
            return store
        info = handle.get_file_info(base)
        if info.type == pafs.FileType.File or (
            info.type == pafs.FileType.Directory and handle.get_file_info(pafs.FileSelector(base))
        ):
            raise OutputError(f"{uri}: exists and holds no faceocc batch; give a new or empty folder")
        store = cls(Path(base), unique_path(jsonl) if jsonl else None, fs=handle, base=base, records=records, uri=uri)
        for folder in (base, f"{base}/{PARTS}", f"{base}/{RECORDS}"):
            handle.create_dir(folder, recursive=True)
        saved = {"config": config, "jsonl": str(store.jsonl) if store.jsonl else None, "records": records}
        with handle.open_output_stream(run_file) as stream:
            stream.write((json.dumps(saved, indent=1) + "\n").encode())
        return store

    def _list(self, folder: str) -> list[str]:
        from pyarrow import fs as pafs

        entries = self.fs.get_file_info(pafs.FileSelector(f"{self.base}/{folder}", allow_not_found=True))
        return sorted(e.path for e in entries if e.type == pafs.FileType.File)

    def _read_remote_parts(self) -> None:
        import pyarrow.parquet as pq

        parts = set()
        for path in self._list(PARTS):
            name = path.rsplit("/", 1)[-1]
            if not (name.startswith("part-") and name.endswith(".parquet")):
                self.fs.delete_file(path)  # a temporary part of an interrupted commit
                continue
            try:
                table = pq.read_table(path, columns=["input"], filesystem=self.fs)
            except Exception as exc:  # noqa: BLE001 - say which object
                raise OutputError(f"{self.uri}/{PARTS}/{name}: not a readable Parquet part ({exc})") from None
            self.done.update(table.column("input").to_pylist())
            self.jsonl_end = max(self.jsonl_end, int((table.schema.metadata or {}).get(_END, b"0")))
            parts.add(name.split(".")[0])
            self.next_part = max(self.next_part, int(name.split(".")[0].split("-")[1]) + 1)
        for path in self._list(RECORDS):
            if path.rsplit("/", 1)[-1].split(".")[0] not in parts:  # its commit was cut short
                self.fs.delete_file(path)
        if self.jsonl is not None:
            self._cut_jsonl(self.jsonl_end)

    def _write_part(self, parquet, name: str) -> None:
        import pyarrow.parquet as pq

        if self.records:
            lines = "".join(line + "\n" for line in parquet.column(LINE).to_pylist() if line is not None)
            with self.fs.open_output_stream(f"{self.base}/{RECORDS}/{name.split('.')[0]}.jsonl") as stream:
                stream.write(lines.encode("utf-8"))
        tmp = f"{self.base}/{PARTS}/.{name}.tmp"
        pq.write_table(parquet.drop_columns([LINE]), tmp, filesystem=self.fs)
        self.fs.move(tmp, f"{self.base}/{PARTS}/{name}")
