"""The files a user names: listing them (folders walked, patterns matched) and reading their bytes safely.

Only regular files are read: a FIFO, a device (``/dev/zero``), a socket or a folder named as an image is refused
without being opened, and a file is read up to a size limit. A folder walk reports, once each, every entry it cannot
use (a broken or looping symbolic link, an unreadable subfolder, a FIFO with an image name) instead of skipping it.

Names that are not valid UTF-8 are kept as Python keeps them (``os.fsdecode``: undecodable bytes as surrogate escapes),
so a record's ``path`` turns back into the very bytes with ``os.fsencode``; :func:`shown` makes such a name printable
for messages. This is the bottom of the package next to :mod:`faceocc.schema`: it imports nothing from faceocc.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
#: files larger than this are not read (an image this large is not a photo)
MAX_FILE_BYTES = 512 * 1024 * 1024


class InputError(ValueError):
    """An input that cannot be read; the message names it and says what is wrong."""


def shown(path) -> str:
    """A path as it can be printed: bytes that are not UTF-8 written as ``\\xNN`` (the record keeps the real name)."""
    text = os.fsdecode(os.fspath(path)) if isinstance(path, (bytes, os.PathLike)) else str(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _kind(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def why_not(path, exc: OSError) -> str:
    """Why ``path`` could not be opened, in plain words (``exc`` is the OSError that said so)."""
    code = exc.errno
    if code == errno.ENOENT:
        return "broken symbolic link" if os.path.islink(path) else "no such file or directory"
    if code == errno.ELOOP:
        return "symbolic link loop (too many levels of links)"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.ENAMETOOLONG:
        return f"name too long ({len(os.fsencode(path))} bytes)"
    if code == errno.ENOTDIR:
        return "a part of the path is not a folder"
    return f"cannot be opened ({exc.strerror or type(exc).__name__})"


def _not_readable(st: os.stat_result) -> str | None:
    """Why a file with this status is not read as an image (None for a regular file)."""
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not an image"
    return f"not a regular file ({_kind(st.st_mode)})"


def check_regular(path) -> None:
    """:class:`InputError` naming ``path`` unless it is a regular file (or a link to one) that exists."""
    try:
        why = _not_readable(os.stat(path))
    except OSError as exc:
        why = why_not(path, exc)
    except ValueError:  # a NUL byte in the name
        why = "invalid name (it holds a NUL character)"
    if why is not None:
        raise InputError(f"{shown(path)}: {why}")


def read_file(path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file; :class:`InputError` naming it for anything else (missing, a FIFO, a device, a
    folder, unreadable, larger than ``max_bytes``). A FIFO or a device is never opened."""
    name = shown(path)
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(f"{name}: {why_not(path, exc)}") from None
    try:
        st = os.fstat(fd)
        why = _not_readable(st)  # the file may have been replaced between stat and open
        if why is not None:
            raise InputError(f"{name}: {why}")
        if st.st_size > max_bytes:
            raise InputError(f"{name}: file too large ({st.st_size} bytes; limit {max_bytes})")
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 22, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise InputError(f"{name}: file too large (over {max_bytes} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def openable_path(path) -> Iterator[str]:
    """A name OpenCV's video reader can open for ``path``: the path itself when it is valid UTF-8; else
    ``/proc/self/fd/N`` of the file opened here (Linux), or a symbolic link with a plain name in a temporary
    folder. Valid inside the ``with`` block only."""
    text = os.fsdecode(os.fspath(path))
    try:
        text.encode("utf-8")
        yield text
        return
    except UnicodeEncodeError:
        pass
    if os.path.isdir("/proc/self/fd"):
        fd = os.open(text, os.O_RDONLY)
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="faceocc-")
    try:
        link = os.path.join(folder, "input" + os.path.splitext(text.encode("ascii", "ignore").decode())[1])
        os.symlink(os.path.abspath(text), link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def is_media(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def _walk(top: str, recursive: bool) -> tuple[list[Path], list[tuple[str, str]]]:
    """The media files under a folder, and an error for each entry that cannot be used: a subfolder that cannot be
    read, an entry whose link is broken or loops (hidden ones, like editor lock files, are passed over), a media name
    that is not a regular file. Linked folders are followed, each folder once."""
    found: list[Path] = []
    errors: list[tuple[str, str]] = []
    visited: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in visited:
                continue
            visited.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append((folder, f"cannot read this folder ({why_not(folder, exc)})"))
            continue
        for entry in entries:
            try:
                mode = os.stat(entry.path).st_mode  # follows links
            except OSError as exc:
                if not entry.name.startswith("."):
                    errors.append((entry.path, why_not(entry.path, exc)))
                continue
            if stat.S_ISDIR(mode):
                if recursive:
                    stack.append(entry.path)
            elif is_media(entry.name):
                if stat.S_ISREG(mode):
                    found.append(Path(entry.path))
                else:
                    errors.append((entry.path, f"not a regular file ({_kind(mode)})"))
    return sorted(found), sorted(errors)


def expand_inputs(items: Iterable[str], recursive: bool = True) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files, directories (searched recursively) and glob patterns -> (media files, [(input, error)]).

    Every input named, and every entry a folder walk meets that cannot be used, is in one of the two lists once."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()
    failed: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            files.append(p)

    def fail(item: str, why: str) -> None:
        if item not in failed:
            failed.add(item)
            missing.append((item, why))

    for item in items:
        try:
            st = os.stat(item)
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOENT and any(ch in item for ch in "*?["):
                _add_matches(item, add, fail)
            else:
                fail(item, why_not(item, exc) if isinstance(exc, OSError) else "invalid name")
            continue
        if stat.S_ISDIR(st.st_mode):
            found, errors = _walk(item, recursive)
            for p in found:
                add(p)
            for entry, why in errors:
                fail(entry, why)
        elif stat.S_ISREG(st.st_mode):
            add(Path(item))
        else:
            fail(item, f"not a regular file ({_kind(st.st_mode)})")
    return files, missing


def _add_matches(pattern: str, add, fail) -> None:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        fail(pattern, "no file matches this pattern")
    for m in matches:
        if os.path.isfile(m):
            add(Path(m))
        elif not os.path.isdir(m):
            fail(m, "not a regular file, or a broken link")
