"""What a batch analyses: the inputs a user names, listed on the driver.

An input is a local file, folder (searched recursively), glob pattern, list file (``.txt``/``.lst``: one path or URI a
line) or manifest (``.parquet``/``.csv`` with a ``path`` column), or the same under a pyarrow filesystem URI
(``s3://bucket/photos/``, ``gs://...``, ``hdfs://...``, ``file:///...``). Local names are listed by
:func:`faceocc.io.expand_inputs`, exactly as ``faceocc analyze`` lists them, so the records' paths are the same.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from pathlib import Path

from ..io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, expand_inputs

LIST_SUFFIXES = {".txt", ".lst"}
MANIFEST_SUFFIXES = {".parquet", ".csv"}
#: the column of a manifest that names the inputs
PATH_COLUMN = "path"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MEDIA = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def is_uri(name: str) -> bool:
    """A pyarrow filesystem URI (``s3://...``) rather than a local path."""
    return bool(_URI.match(name))


def filesystem(uri: str):
    """(pyarrow filesystem, path inside it) of a URI."""
    from pyarrow import fs

    return fs.FileSystem.from_uri(uri)


def read_bytes(uri: str) -> bytes:
    """The bytes of a file named by a URI."""
    handle, path = filesystem(uri)
    with handle.open_input_stream(path) as stream:
        return stream.read()


def list_inputs(items: list[str], path_column: str = PATH_COLUMN) -> tuple[list[str], list[tuple[str, str]]]:
    """(the media files to analyse, in order and without repeats; [(input, what is wrong)] for inputs that name
    nothing). List files and manifests are read here; the files they name are checked by the workers."""
    found: list[str] = []
    missing: list[tuple[str, str]] = []
    local: list[str] = []

    def flush_local() -> None:
        files, gone = expand_inputs(local)
        found.extend(str(p) for p in files)
        missing.extend(gone)
        local.clear()

    for item in items:
        suffix = Path(item.split("?")[0]).suffix.lower()
        if suffix in LIST_SUFFIXES | MANIFEST_SUFFIXES:
            flush_local()
            try:
                found.extend(_read_listing(item, suffix, path_column))
            except (OSError, ValueError, KeyError) as exc:
                missing.append((item, f"cannot read this list ({exc})"))
        elif is_uri(item):
            flush_local()
            try:
                names = _list_uri(item)
            except (OSError, ValueError) as exc:
                missing.append((item, f"cannot list it ({exc})"))
                continue
            found.extend(names)
            if not names:
                missing.append((item, "no file matches this pattern" if _is_glob(item) else "no such file"))
        else:
            local.append(item)
    flush_local()
    seen: set[str] = set()
    unique = [f for f in found if not (f in seen or seen.add(f))]  # type: ignore[func-returns-value]
    return unique, missing


def _is_glob(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def _read_listing(item: str, suffix: str, path_column: str) -> list[str]:
    """The names in a list file (one a line, ``#`` comments) or a manifest's ``path_column``."""
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        if is_uri(item):
            handle, path = filesystem(item)
            table = pq.read_table(path, columns=[path_column], filesystem=handle)
        else:
            table = pq.read_table(item, columns=[path_column])
        return [str(v) for v in table.column(path_column).to_pylist() if v]
    text = read_bytes(item).decode("utf-8") if is_uri(item) else Path(item).read_text(encoding="utf-8")
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or path_column not in reader.fieldnames:
            raise KeyError(f"no {path_column!r} column")
        return [row[path_column] for row in reader if row[path_column]]
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _list_uri(uri: str) -> list[str]:
    """The media files a URI names: one file, every file under a folder, or the files matching a glob."""
    from pyarrow import fs

    scheme = uri[: uri.index("://") + 3]
    pattern = uri if _is_glob(uri) else None
    base = uri
    if pattern is not None:  # list the folder above the first wildcard, then match
        base = uri[: min(uri.index(ch) for ch in "*?[" if ch in uri)].rsplit("/", 1)[0]
    handle, path = filesystem(base)
    info = handle.get_file_info(path)
    if info.type == fs.FileType.File and pattern is None:
        return [uri]
    if info.type != fs.FileType.Directory:
        return []
    prefix = base[: len(base) - len(path)] if base.endswith(path) else scheme
    names = []
    for entry in sorted(handle.get_file_info(fs.FileSelector(path, recursive=True)), key=lambda e: e.path):
        if entry.type != fs.FileType.File or Path(entry.path).suffix.lower() not in MEDIA:
            continue
        name = prefix + entry.path
        if pattern is None or fnmatch.fnmatch(name, pattern):
            names.append(name)
    return names
