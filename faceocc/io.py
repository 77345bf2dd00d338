"""Reading images and videos, and listing the inputs a user names.

Images come in as RGB uint8 arrays whatever the file holds: EXIF orientation is applied (JPEG, PNG, WebP),
alpha is composited on white, grayscale and 16-bit are converted. Before anything is decoded the header is read:
images with more pixels than a limit (decompression bombs) and JPEGs with more scans than a limit (scan bombs) are
refused. Errors are :class:`InputError` with a message that names the input and says what is wrong.
"""

from __future__ import annotations

import io as _io
import math
import os
import queue
import re
import threading
import time
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .files import (  # noqa: F401 - IMAGE_EXTENSIONS, VIDEO_EXTENSIONS and expand_inputs are used from here too
    IMAGE_EXTENSIONS,
    MAX_FILE_BYTES,
    VIDEO_EXTENSIONS,
    InputError,
    check_regular,
    expand_inputs,
    openable_path,
    read_file,
    shown,
)
from .headers import MAX_JPEG_SCANS, MAX_PIXELS, ImageHeader, jpeg_scan_count, read_header

_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


@dataclass(frozen=True)
class ImageLimits:
    """What an image may cost before it is decoded: its pixels (from the header), a JPEG's scans, the file's bytes."""

    max_pixels: int = MAX_PIXELS
    max_jpeg_scans: int = MAX_JPEG_SCANS
    max_file_bytes: int = MAX_FILE_BYTES


def to_rgb_uint8(image: np.ndarray, name: str = "image array") -> np.ndarray:
    """Any HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16, other integers or floats, RGB order) to HxWx3 uint8 RGB;
    :class:`InputError` (a ValueError) for any other shape or type, an empty image, or NaN / infinite values."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InputError(f"{name}: expected an image of shape HxW, HxWx1, HxWx3 or HxWx4, got shape {image.shape}")
    if image.size == 0:
        raise InputError(f"{name}: empty image (shape {image.shape})")
    if image.dtype.kind not in "buif":
        raise InputError(f"{name}: pixel type {image.dtype} is not an image type (give uint8, uint16 or floats)")
    if image.dtype == np.uint16:
        out = np.empty(image.shape, np.uint8)
        for i in range(0, image.shape[0], 512):  # by bands of rows: a big 16-bit image is not copied as floats whole
            out[i : i + 512] = (image[i : i + 512] / 257.0).round()
        image = out
    elif image.dtype != np.uint8:
        arr = np.asarray(image, dtype=np.float32)
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise InputError(f"{name}: {bad} pixel value(s) are NaN or infinite: the image cannot be shown as it is")
        image = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        # Composite on white: transparent areas must not look like a dark face (exact integer rounding of
        # rgb * a/255 + 255 * (1 - a/255)).
        alpha = image[:, :, 3:4].astype(np.uint16)
        mixed = image[:, :, :3].astype(np.uint16) * alpha + 255 * (255 - alpha) + 127
        return (mixed // 255).astype(np.uint8)
    return image


@dataclass
class DecodedImage:
    """A decoded image: its RGB pixels (upright), its header, and notes worth telling the user (first frame of an
    animation used, ...)."""

    image: np.ndarray
    header: ImageHeader
    notes: list[str] = field(default_factory=list)


#: EXIF orientation -> the operation that makes the image upright (OpenCV's: contiguous results, several times faster
#: than a copy of a numpy view on a 12 MP photo).
_ORIENT = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: lambda a: cv2.transpose(a),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.flip(cv2.transpose(a), -1),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def decode(
    data: bytes,
    name: str = "<bytes>",
    reduce: int = 1,
    limits: ImageLimits | None = None,
    header: ImageHeader | None = None,
) -> DecodedImage:
    """Encoded image bytes -> :class:`DecodedImage` (RGB uint8, EXIF orientation applied), the limits checked from
    the header first. ``reduce`` = 2, 4 or 8 decodes a JPEG at 1/``reduce`` of its width and height (OpenCV's
    reduced DCT decoding: several times faster for a big photo; the pixel grid is exactly the photo's divided by
    ``reduce``, the last row and column rounded up). Other formats ignore it and decode in full."""
    limits = limits or ImageLimits()
    header = header or read_header(data, name, limits.max_pixels)
    if data[:2] == b"\xff\xd8" and (scans := jpeg_scan_count(data)) > limits.max_jpeg_scans:
        raise InputError(
            f"{name}: JPEG with {scans} scans refused (limit {limits.max_jpeg_scans}): it would take "
            "very long to decode"
        )
    image = _decode_with_cv2(data, reduce)
    if image is None:
        image = _decode_with_pil(data, name)  # upright already
    elif header.orientation in _ORIENT:
        image = _ORIENT[header.orientation](image)
    notes = []
    if header.frames > 1:
        what = "pages" if header.format == "TIFF" else "frames"
        notes.append(f"{header.format} with {header.frames} {what}: only the first was analysed")
    return DecodedImage(np.ascontiguousarray(to_rgb_uint8(image, name)), header, notes)


def decode_image(data: bytes, name: str = "<bytes>", reduce: int = 1, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes -> RGB uint8 array (EXIF orientation applied); see :func:`decode`."""
    return decode(data, name, reduce, ImageLimits(max_pixels=max_pixels)).image


def _decode_with_cv2(data: bytes, reduce: int) -> np.ndarray | None:
    """OpenCV's decoding (RGB or RGBA order, as stored: no orientation applied); None when it cannot."""
    buf = np.frombuffer(data, np.uint8)
    try:
        image = None
        if reduce in _REDUCED_FLAGS and data[:2] == b"\xff\xd8":
            image = cv2.imdecode(buf, _REDUCED_FLAGS[reduce] | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    except (cv2.error, MemoryError):  # PIL tries next and says what is wrong
        return None
    if image is None or image.size == 0:
        return None
    if image.ndim == 3 and image.shape[2] == 2:  # gray and alpha
        image = image[:, :, [0, 0, 0, 1]]
    elif image.ndim == 3 and image.shape[2] == 3:  # OpenCV's conversion: a numpy view's copy costs 10 times more
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _decode_with_pil(data: bytes, name: str) -> np.ndarray:
    try:
        from PIL import Image, ImageOps

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pixel limit was checked from the header
            with Image.open(_io.BytesIO(data)) as im:
                upright = ImageOps.exif_transpose(im)
                return np.asarray(upright.convert("RGBA" if "A" in upright.getbands() else "RGB"))
    except MemoryError:
        raise InputError(f"{name}: not enough memory to decode it") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "not an image we can read"
        kind = type(exc).__name__
        why = "unknown format or not an image" if kind == "UnidentifiedImageError" else f"corrupt or truncated ({kind})"
        raise InputError(f"{name}: not a readable image: {why}") from None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG as it will be decoded (upright: EXIF orientation applied), read from its header
    without decoding; None for other formats or an unreadable header."""
    if data[:2] != b"\xff\xd8":
        return None
    try:
        return read_header(data).upright_size
    except InputError:  # the full decoder will say what is wrong
        return None


def read_encoded(source, max_bytes: int = MAX_FILE_BYTES) -> tuple[bytes, str] | None:
    """The encoded bytes and a printable name for a path or bytes input (None for arrays and PIL images); a path
    that is not a regular file that can be read (at most ``max_bytes``) raises :class:`InputError`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        return read_file(source, max_bytes), shown(source)
    return None


def load_image(source, limits: ImageLimits | None = None) -> np.ndarray:
    """A path, bytes, PIL image or array -> RGB uint8 array.

    Arrays are taken as RGB (or grayscale / RGBA); convert BGR arrays from
    OpenCV with ``image[:, :, ::-1]`` first.
    """
    if isinstance(source, np.ndarray):
        return to_rgb_uint8(source)
    limits = limits or ImageLimits()
    encoded = read_encoded(source, limits.max_file_bytes)
    if encoded is not None:
        return decode(*encoded, limits=limits).image
    if hasattr(source, "convert") and hasattr(source, "size"):  # PIL image
        from PIL import ImageOps

        return to_rgb_uint8(np.asarray(ImageOps.exif_transpose(source).convert("RGB")), "PIL image")
    raise InputError(f"unsupported input type {type(source).__name__}: give a path, bytes, a PIL image or an RGB array")


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CAMERA = re.compile(r"^camera:(\d+)$")


def is_stream(source) -> bool:
    """A live source rather than a file: a camera index (``0``, ``"camera:0"``) or a URL OpenCV can open
    (``rtsp://``, ``http://``, ``file://``...)."""
    if isinstance(source, int) and not isinstance(source, bool):
        return True
    return isinstance(source, str) and bool(_URL.match(source) or _CAMERA.match(source))


def camera_index(source) -> int | None:
    """The camera index of ``0`` or ``"camera:0"``; None for anything else."""
    if isinstance(source, int) and not isinstance(source, bool):
        return source
    match = _CAMERA.match(source) if isinstance(source, str) else None
    return int(match.group(1)) if match else None


@dataclass
class VideoFrame:
    index: int
    time_s: float
    image: np.ndarray  # RGB


@dataclass
class VideoInfo:
    """What is known of a video before its frames are read.

    fps: the native frame rate (None when the source does not say); frame_count: its frames (None for a stream, or a
    file that does not say); step: every ``step``-th frame is read; stream: a camera or URL (see :func:`is_stream`).
    """

    name: str
    width: int
    height: int
    fps: float | None
    frame_count: int | None
    step: int
    stream: bool

    @property
    def frames_to_read(self) -> int | None:
        """How many frames the reader will give (None when unknown)."""
        return None if self.frame_count is None else math.ceil(self.frame_count / self.step)


class VideoReader:
    """The frames of a video file, a camera or a stream URL as RGB arrays: every ``every_n``-th frame, or about
    ``fps`` frames per second.

    ``prefetch`` > 0 decodes up to that many frames ahead in a background thread (decoding then overlaps the
    analysis; memory stays bounded). A stream ends at its first frame that cannot be read. Frame times: index /
    native rate for files, the stream's own timestamps for URLs, the time since opening for cameras.

    >>> reader = VideoReader("clip.mp4")
    >>> reader.open().frames_to_read
    >>> for frame in reader: ...
    """

    def __init__(self, source, every_n: int = 1, fps: float | None = None, prefetch: int = 0):
        self.source, self.every_n, self.fps, self.prefetch = source, every_n, fps, prefetch
        self.camera = camera_index(source)
        self.stream = is_stream(source)
        self.name = f"camera:{self.camera}" if self.camera is not None else str(source)
        self.info: VideoInfo | None = None
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> VideoInfo:
        """Open the source (once) and say what is known of it; :class:`InputError` when it cannot be opened."""
        if self.info is not None:
            return self.info
        if self.camera is not None:
            cap = cv2.VideoCapture(self.camera)
        elif self.stream:
            cap = cv2.VideoCapture(str(self.source))
        else:
            check_regular(self.source)
            try:
                with openable_path(self.source) as path:  # a name that is not UTF-8 is never given to OpenCV
                    cap = cv2.VideoCapture(path)
            except (OSError, cv2.error) as exc:
                raise InputError(f"{shown(self.name)}: cannot be opened ({type(exc).__name__})") from None
        if not cap.isOpened():
            cap.release()
            what = (
                "camera cannot be opened"
                if self.camera is not None
                else ("stream cannot be opened" if self.stream else "not a readable video")
            )
            raise InputError(f"{shown(self.name)}: {what}")
        native = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        native = native if 0 < native < 1000 else 0.0
        step = max(1, int(self.every_n))
        if self.fps and native > 0:
            step = max(1, int(round(native / self.fps)))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.info = VideoInfo(
            self.name,
            width,
            height,
            native or None,
            count if count > 0 and not self.stream else None,
            step,
            self.stream,
        )
        self._cap = cap
        return self.info

    def __iter__(self) -> Iterator[VideoFrame]:
        self.open()
        frames = self._frames()
        return _prefetched(frames, self.prefetch) if self.prefetch > 0 else frames

    def _frames(self) -> Generator[VideoFrame, None, None]:
        cap, info = self._cap, self.info
        self._cap = None
        if cap is None or info is None:
            raise InputError(f"{shown(self.name)}: a video reader gives its frames once")
        started = time.monotonic()
        try:
            index, produced = 0, 0
            while cap.grab():
                if index % info.step == 0:
                    ok, frame = cap.retrieve()
                    if not ok or frame is None:
                        break
                    produced += 1
                    t = self._time(cap, index, started, info.fps)
                    yield VideoFrame(index, t, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                index += 1
            if produced == 0:
                raise InputError(f"{shown(self.name)}: no frame could be decoded")
        finally:
            cap.release()

    def _time(self, cap, index: int, started: float, fps: float | None) -> float:
        if self.camera is not None:
            t = time.monotonic() - started
        elif self.stream and cap.get(cv2.CAP_PROP_POS_MSEC) > 0:
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        elif fps:
            t = index / fps
        else:
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        return round(float(t), 3)

    def close(self) -> None:
        """Release a source that was opened and not read."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


_END = object()


def _prefetched(items: Generator, size: int) -> Iterator:
    """``items`` produced by a background thread at most ``size`` ahead; its exceptions are raised here, and closing
    this iterator stops the thread (and closes ``items``)."""
    buffer: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)
        finally:
            items.close()

    worker = threading.Thread(target=work, name="faceocc-video-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=10)


def iter_video(source, every_n: int = 1, fps: float | None = None, prefetch: int = 0) -> Iterator[VideoFrame]:
    """Frames of a video as RGB arrays: every ``every_n``-th frame, or about ``fps`` frames per second (a file, a
    camera or a stream URL; see :class:`VideoReader`)."""
    yield from VideoReader(source, every_n=every_n, fps=fps, prefetch=prefetch)


def unique_path(path: str | Path) -> Path:
    """``path``, or ``name-1.ext``, ``name-2.ext``... so that nothing existing is overwritten."""
    path = Path(path)
    if not path.exists():
        return path
    for i in range(1, 100000):
        candidate = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)
