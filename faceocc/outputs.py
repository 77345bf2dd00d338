"""Writing what a batch makes: record files (JSON Lines, CSV), face crops, annotated copies and sorted files.

The rules a user can rely on:

- a file name may hold any bytes: paths are ``str`` as :func:`os.fsdecode` makes them (bytes that are not UTF-8
  become lone surrogates, ``\\udcXX``), and every file is written by Python with that name (never by OpenCV, whose
  ``imwrite`` cannot take such a name);
- every write is checked: a file that cannot be written raises :class:`OutputError` naming it and saying why;
- nothing is overwritten unless asked: a record file that exists is refused (:func:`check_targets`) without
  ``overwrite``; a derived file name that is taken gets ``-1``, ``-2``... (:class:`FileSaver`; the caller records the
  name actually used), and with ``overwrite`` a file from before the run is replaced (never one this run wrote);
- a name too long for the file system (255 bytes) is shortened the same way every time: its start, ``~`` and a
  hash of the whole name (:func:`fit_name`);
- ``-``, ``/dev/stdout``, ``/dev/null``, ``/dev/fd/N`` (a shell's ``>(...)``) and other things that are not regular
  files are written as they are: never renamed, never replaced.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

#: the longest file name (bytes) most file systems take (ext4, XFS, Btrfs, APFS, NTFS in UTF-16 units)
NAME_MAX = 255
_STDOUT_NAMES = {"-", "/dev/stdout"}
_STREAM_PREFIXES = ("/dev/fd/", "/proc/self/fd/")


class OutputError(OSError):
    """An output that cannot be written; the message names it and says what is wrong."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def fit_name(stem: str, tail: str = "", limit: int = NAME_MAX) -> str:
    """``stem + tail``, or, when that is over ``limit`` bytes, the start of ``stem``, ``~``, 12 hex digits of a hash
    of the whole ``stem`` and ``tail`` (kept whole: the suffix and markers such as ``_face0.png``)."""
    name = stem + tail
    if len(os.fsencode(name)) <= limit:
        return name
    digest = hashlib.sha256(os.fsencode(stem)).hexdigest()[:12]
    budget = limit - len(os.fsencode(tail)) - len(digest) - 1
    keep = stem
    while keep and len(os.fsencode(keep)) > budget:
        keep = keep[: max(0, min(len(keep) - 1, budget))]
    return f"{keep}~{digest}{tail}"


def derived_stem(source: str | None) -> str:
    """The start of every file made from ``source``: its name with the extension kept (``astro.bmp`` ->
    ``astro_bmp``), so outputs of ``astro.bmp`` and ``astro.png`` never meet; ``image`` without a path."""
    if not source:
        return "image"
    path = Path(source)
    ext = path.suffix[1:]
    return f"{path.stem}_{ext}" if ext else path.name


def derived_tail(suffix: str, frame: int | None = None, face: int | None = None) -> str:
    """The end of a derived file name: ``_f000012`` for a video frame, ``_face0`` for a face, then ``suffix``."""
    tail = "" if frame is None else f"_f{frame:06d}"
    return tail + ("" if face is None else f"_face{face}") + suffix


def prepare_dir(path: Path) -> Path:
    """Create the folder ``path`` (and its parents) and check that files can be written there."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".faceocc-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write files in this folder ({_why(exc)})") from None
    return path


def is_stream_target(path: Path) -> bool:
    """``-``, ``/dev/stdout``, ``/dev/fd/N`` or an existing thing that is not a regular file or folder (``/dev/null``,
    a FIFO): written as it is, never renamed or replaced."""
    text = str(path)
    if text in _STDOUT_NAMES or text.startswith(_STREAM_PREFIXES) or text == "/dev/stderr":
        return True
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_targets(targets: dict[str, Path | None], overwrite: bool) -> None:
    """Refuse record files that would replace something before any work: an existing regular file (unless
    ``overwrite``), a folder, two options naming one file, two on standard output; ``targets`` maps an option
    (``--jsonl``) to its path (None: not given)."""
    seen: dict[str, str] = {}
    for option, path in targets.items():
        if path is None:
            continue
        if is_stream_target(path):
            key = "stdout" if str(path) in _STDOUT_NAMES else ""
        else:
            key = os.path.realpath(path)
            if path.is_dir():
                raise OutputError(f"{option} {path}: is a folder; give a file name")
            if path.exists() and not overwrite:
                raise OutputError(f"{option} {path}: exists; give another name, or --overwrite to replace it")
        if key and key in seen:
            where = "standard output" if key == "stdout" else str(path)
            raise OutputError(f"{option} and {seen[key]} both write to {where}")
        if key:
            seen[key] = option


def open_text(path: Path | None, table: bool = False) -> tuple[TextIO, Callable[[], None]]:
    """A record file opened for writing (None: standard output), and how to close it. Checked by
    :func:`check_targets` first. ``table``: a CSV file, whose path cells keep the file system's bytes
    (``surrogateescape``)."""
    errors = "surrogateescape" if table else "strict"
    newline = "" if table else None
    if path is None or str(path) in _STDOUT_NAMES:
        if not table:
            return sys.stdout, sys.stdout.flush
        wrapper = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors=errors, newline=newline)

        def release() -> None:
            wrapper.flush()
            wrapper.detach()

        return wrapper, release
    try:
        if is_stream_target(path):
            fh = open(path, "a", encoding="utf-8", errors=errors, newline=newline)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "w", encoding="utf-8", errors=errors, newline=newline)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({_why(exc)})") from None
    return fh, fh.close


class FileSaver:
    """Writes derived files (crops, annotated copies, sorted images) without losing any: see the module's rules.

    >>> saver = FileSaver(overwrite=False)
    >>> saver.save_image(Path("crops"), "astro_bmp", "_face0.png", rgb)  # the path actually written
    """

    def __init__(self, overwrite: bool = False):
        self.overwrite = overwrite
        self.written: set[str] = set()  # paths this run wrote: never replaced, even with overwrite

    def save(self, folder: Path, stem: str, tail: str, data: bytes) -> Path:
        """Write ``data`` to ``folder/stem+tail`` (or the first free ``stem-N+tail``); returns the path written."""
        for i in range(100_000):
            path = folder / fit_name(stem, (f"-{i}" if i else "") + tail)
            if str(path) in self.written or path.is_dir():
                continue
            try:
                if self.overwrite:
                    _replace(path, data)
                else:
                    _create(path, data)
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputError(f"{path}: cannot write ({_why(exc)})") from None
            self.written.add(str(path))
            return path
        raise OutputError(f"{folder / (stem + tail)}: every numbered name is taken")

    def save_image(self, folder: Path, stem: str, tail: str, rgb) -> Path:
        """Encode an RGB array as ``tail``'s format (.jpg, .png) and :meth:`save` it."""
        import cv2

        ok, encoded = cv2.imencode(Path(tail).suffix or ".png", rgb[:, :, ::-1])
        if not ok:
            raise OutputError(f"{folder / (stem + tail)}: the image could not be encoded")
        return self.save(folder, stem, tail, encoded.tobytes())

    def copy(self, source: str, folder: Path, name: str) -> Path:
        """Copy the file ``source`` (its bytes, then its times and mode) to ``folder/name`` by :meth:`save`."""
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise OutputError(f"{source}: cannot read it to copy ({_why(exc)})") from None
        suffix = Path(name).suffix
        dest = self.save(folder, name[: len(name) - len(suffix)], suffix, data)
        try:
            shutil.copystat(source, dest)
        except OSError:
            pass  # the bytes are what matters; times are a courtesy
        return dest


def _create(path: Path, data: bytes) -> None:
    """Write a new file; FileExistsError when the name is taken. A file left half written is removed."""
    with open(path, "xb") as fh:
        try:
            fh.write(data)
            fh.flush()
        except OSError:
            fh.close()
            path.unlink(missing_ok=True)
            raise


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file in its folder (a link at ``path`` is replaced, not followed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".faceocc-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
