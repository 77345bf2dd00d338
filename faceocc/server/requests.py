"""Reading and checking requests: query options, size- and time-limited bodies (raw, multipart, JSON), image
headers and server-side paths, each refused before any analysis.

Everything here raises :class:`~faceocc.server.errors.ApiError` with the stable code of what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from fastapi import Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from .errors import ApiError

#: content types taken as the raw bytes of one file
RAW_TYPES = ("", "application/octet-stream")
#: largest JSON body of a job request
MAX_JSON_BYTES = 64 * 1024


class RequestOptions:
    """The query options of the analyze endpoints (a FastAPI dependency)."""

    def __init__(
        self,
        threshold: float | None = Query(
            None, ge=0.0, le=1.0, allow_inf_nan=False, description="Occlusion threshold (default: the model's)."
        ),
        eyeglasses_occlude: bool | None = Query(None, description="Count clear eyeglasses as an occlusion."),
        include_map: bool = Query(False, description="Add each face's occlusion map (canonical crop frame)."),
        overlay: bool = Query(False, description="Add drawing data in image coordinates (heat PNG, part outlines)."),
    ):
        self.threshold = threshold
        self.eyeglasses_occlude = eyeglasses_occlude
        self.include_map = include_map
        self.overlay = overlay


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def check_length(request: Request, limit: int) -> None:
    """413 at once when the announced Content-Length is over ``limit`` (the stream is limited as well)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length header") from None
        if n > limit:
            raise ApiError(
                413,
                "payload_too_large",
                f"request body of {n} bytes exceeds the limit of {limit} bytes ({limit / 1048576:g} MiB)",
            )


# -- bodies ------------------------------------------------------------------------------------------------------------


async def limited_stream(request: Request, limit: int, idle_timeout: float) -> AsyncGenerator[bytes, None]:
    """The request body in chunks; 413 past ``limit`` bytes, 408 when no chunk arrives within ``idle_timeout``."""
    total = 0
    it = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(it.__anext__(), idle_timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(
                408, "request_timeout", f"the request body did not arrive in time (no data for {idle_timeout:g} s)"
            ) from None
        total += len(chunk)
        if total > limit:
            raise ApiError(
                413, "payload_too_large", f"request body exceeds the limit of {limit} bytes ({limit / 1048576:g} MiB)"
            )
        if chunk:
            yield chunk


async def read_with_deadline(coro, timeout: float):
    """Await ``coro``; 408 when it takes longer than ``timeout`` (the whole body, not one chunk)."""
    try:
        return await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise ApiError(408, "request_timeout", f"the request body did not arrive within {timeout:g} s") from None


async def collect(request: Request, limit: int, idle: float) -> bytes:
    return b"".join([c async for c in limited_stream(request, limit, idle)])


async def parse_multipart(request: Request, limit: int, idle: float, max_files: int) -> FormData:
    try:
        parser = MultiPartParser(
            request.headers, limited_stream(request, limit, idle), max_files=max_files, max_fields=100
        )
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc.message}") from None


async def _multipart_files(
    request: Request, limit: int, timeout: float, max_files: int
) -> list[tuple[str | None, bytes]]:
    form = await parse_multipart(request, limit, timeout, max_files)
    items = []
    try:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                items.append((os.path.basename(value.filename or "") or None, await value.read()))
    finally:
        await form.close()
    return items


async def read_images(request: Request, limit: int, timeout: float, max_files: int) -> list[tuple[str | None, bytes]]:
    """(file name, bytes) of each image in the body: every file part of a multipart body, or the raw body."""
    ctype = content_type(request)
    if ctype == "multipart/form-data":
        items = await read_with_deadline(_multipart_files(request, limit, timeout, max_files), timeout)
        if not items:
            raise ApiError(400, "missing_file", "the multipart body has no file part (send the image as field 'file')")
        return items
    if ctype in RAW_TYPES or ctype.startswith("image/"):
        data = await read_with_deadline(collect(request, limit, timeout), timeout)
        if not data:
            raise ApiError(
                400, "empty_body", "the request body is empty: send the image bytes, or a multipart field 'file'"
            )
        return [(None, data)]
    raise ApiError(
        415,
        "unsupported_media_type",
        f"content type {ctype!r} is not accepted: send multipart/form-data "
        "(field 'file'), an image/* type or application/octet-stream",
    )


def check_image_header(data: bytes, name: str, max_pixels: int, max_scans: int | None = None) -> None:
    """Refuse images whose header announces more than ``max_pixels`` pixels, or JPEGs with more than ``max_scans``
    scans (a progressive "scan bomb" decodes for minutes), before decoding them: :func:`faceocc.headers.read_header`
    and :func:`faceocc.headers.jpeg_scan_count` (the rules the CLI and the Python API use), as HTTP errors."""
    from ..headers import jpeg_scan_count, read_header
    from ..io import InputError

    if not data:
        raise ApiError(400, "empty_body", f"{name}: empty file")
    if max_scans is not None and data[:2] == b"\xff\xd8" and (scans := jpeg_scan_count(data)) > max_scans:
        raise ApiError(
            413,
            "image_too_large",
            f"{name}: JPEG with {scans} scans (limit {max_scans}); such files take minutes to decode",
        )
    try:
        read_header(data, name, max_pixels)
    except InputError as exc:
        if "too large" in str(exc):
            raise ApiError(413, "image_too_large", str(exc)) from None
        raise ApiError(
            422,
            "unreadable_image",
            f"{name}: not an image faceocc can read (JPEG, PNG, WebP, BMP, TIFF, GIF, PPM are supported)",
        ) from None


# -- video jobs --------------------------------------------------------------------------------------------------------


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_JOB_OPTION_CHECKS = {
    "every_n": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1_000_000,
    "fps": lambda v: v is None or (_number(v) and v > 0),
    "threshold": lambda v: v is None or (_number(v) and 0 <= v <= 1),
    "eyeglasses_occlude": lambda v: v is None or isinstance(v, bool),
    "include_map": lambda v: isinstance(v, bool),
}


async def read_job_spec(request: Request, timeout: float) -> dict[str, Any]:
    """The JSON body of a job on a server-side file: an object with a ``path`` and optional job options."""
    check_length(request, MAX_JSON_BYTES)
    body = await read_with_deadline(collect(request, MAX_JSON_BYTES, timeout), timeout)
    try:
        spec = json.loads(body or b"null", parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(422, "invalid_parameter", "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(422, "invalid_parameter", f"the JSON body is not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or "path" not in spec:
        raise ApiError(422, "invalid_parameter", "the JSON body must be an object with a 'path'")
    return spec


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def job_options(spec: dict[str, Any]) -> dict[str, Any]:
    """The job options given in a JSON body, checked (those absent are left to the query's)."""
    out = {}
    for key, ok in _JOB_OPTION_CHECKS.items():
        if key in spec:
            if not ok(spec[key]):
                raise ApiError(422, "invalid_parameter", f"{key}: invalid value {spec[key]!r}")
            out[key] = spec[key]
    return out


def resolve_server_path(raw: Any, root: str | Path | None) -> Path:
    """The file a job names under the jobs ``root``: 403 outside it (or with none configured), 404 when missing."""
    if root is None:
        raise ApiError(
            403, "path_not_allowed", "server-side paths are disabled on this server (start it with --jobs-root DIR)"
        )
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise ApiError(422, "invalid_parameter", "'path' must be a non-empty string")
    check_path_text(raw)
    given = Path(raw)
    candidate = given if given.is_absolute() else Path(root) / given
    try:
        resolved = candidate.resolve(strict=False)
        if not resolved.is_relative_to(root) or resolved == Path(root):
            raise ApiError(403, "path_not_allowed", f"{raw!r}: outside the jobs root; give a path relative to it")
        found = resolved.is_file()
    except (OSError, RuntimeError, ValueError):
        raise ApiError(403, "path_not_allowed", f"{raw!r}: not a path under the jobs root") from None
    if not found:
        raise ApiError(404, "file_not_found", f"{raw!r}: no such file under the jobs root")
    return resolved


#: longest server-side path accepted (bytes), and longest part of it (the usual file-system limits)
MAX_PATH_BYTES, MAX_NAME_BYTES = 4096, 255


def check_path_text(raw: str) -> None:
    """422 for a path that no file can have: not encodable, a part over 255 bytes, over 4096 bytes in all."""
    try:
        encoded = os.fsencode(raw)
    except UnicodeError:
        raise ApiError(422, "invalid_parameter", "'path' is not valid text (it holds a lone surrogate)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise ApiError(422, "invalid_parameter", f"'path' is longer than {MAX_PATH_BYTES} bytes")
    if any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise ApiError(422, "invalid_parameter", f"'path' has a part longer than {MAX_NAME_BYTES} bytes")


async def receive_video(request: Request, job_dir: Path, limit: int, idle: float) -> tuple[str, Path]:
    """Write an uploaded video into ``job_dir``; (client's file name, path). Only an idle timeout applies (big
    files)."""
    ctype = content_type(request)
    if ctype == "multipart/form-data":
        form = await parse_multipart(request, limit, idle, max_files=1)
        try:
            upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
            if upload is None:
                raise ApiError(
                    400, "missing_file", "the multipart body has no file part (send the video as field 'file')"
                )
            name = os.path.basename(upload.filename or "") or "upload"
            dest = job_dir / ("video" + safe_suffix(name))
            await asyncio.to_thread(_copy_upload, upload, dest)
        finally:
            await form.close()
    elif ctype in RAW_TYPES or ctype.startswith("video/"):
        name = os.path.basename(request.headers.get("x-filename", "") or "") or "upload"
        dest = job_dir / ("video" + safe_suffix(name))
        with open(dest, "wb") as fh:
            async for chunk in limited_stream(request, limit, idle):
                fh.write(chunk)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {ctype!r} is not accepted: upload the video as "
            "multipart/form-data (field 'file'), video/* or application/octet-stream, or send JSON {\"path\": ...}",
        )
    if dest.stat().st_size == 0:
        raise ApiError(400, "empty_body", "the uploaded video is empty")
    return name, dest


def safe_suffix(name: str) -> str:
    """The file name's extension when it is short and plain ASCII, else ``.bin`` (a client's name is never a path)."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"


def _copy_upload(upload: UploadFile, dest: Path) -> None:
    upload.file.seek(0)
    with open(dest, "wb") as fh:
        shutil.copyfileobj(upload.file, fh, 1 << 20)
