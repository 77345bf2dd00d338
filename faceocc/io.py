"""Reading images and videos, and listing the inputs a user names.

Images come in as RGB uint8 arrays whatever the file holds: EXIF orientation is
applied, alpha is composited on white, grayscale and 16-bit are converted.
Errors are :class:`InputError` with a message that names the file.
"""

from __future__ import annotations

import glob
import io as _io
import math
import os
import queue
import re
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
#: images with more pixels than this are refused (decompression bombs)
MAX_PIXELS = 100_000_000
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


class InputError(ValueError):
    """An input that cannot be read; the message names it and says what is wrong."""


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any HxW, HxWx1, HxWx3 or HxWx4 array (uint8 or uint16, RGB order) to HxWx3 uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        arr = np.asarray(image, dtype=np.float32)
        image = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 4:
        rgb = image[:, :, :3].astype(np.float32)
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        # Composite on white: transparent areas must not look like a dark face.
        return (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")


def _exif_orientation(data: bytes) -> int:
    try:
        from PIL import Image  # optional: only for EXIF orientation

        with Image.open(_io.BytesIO(data)) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1


_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.rot90(a[:, ::-1], 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a[:, ::-1], -1),
    8: lambda a: np.rot90(a, 1),
}


def decode_image(data: bytes, name: str = "<bytes>", reduce: int = 1) -> np.ndarray:
    """Encoded image bytes -> RGB uint8 array (EXIF orientation applied).

    ``reduce`` = 2, 4 or 8 decodes a JPEG at 1/``reduce`` of its width and height (OpenCV's reduced DCT decoding:
    several times faster for a big photo; the pixel grid is exactly the photo's divided by ``reduce``, the last row
    and column rounded up). Other formats ignore it and decode in full.
    """
    if not data:
        raise InputError(f"{name}: empty file")
    buf = np.frombuffer(data, np.uint8)
    image = None
    if reduce in _REDUCED_FLAGS and data[:2] == b"\xff\xd8":
        image = cv2.imdecode(buf, _REDUCED_FLAGS[reduce] | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        reduce = 1
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        image = _decode_with_pil(data, name)
    else:
        if image.ndim == 3 and image.shape[2] == 3:
            image = image[:, :, ::-1]
        elif image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, [2, 1, 0, 3]]
    height, width = image.shape[0] * reduce, image.shape[1] * reduce
    if height * width > MAX_PIXELS:
        raise InputError(f"{name}: image too large ({width}x{height} pixels; limit {MAX_PIXELS})")
    rgb = to_rgb_uint8(image)
    if data[:2] == b"\xff\xd8":  # JPEG: apply EXIF orientation
        orientation = _exif_orientation(data)
        if orientation in _ORIENT:
            rgb = _ORIENT[orientation](rgb)
    return np.ascontiguousarray(rgb)


def _decode_with_pil(data: bytes, name: str) -> np.ndarray:
    try:
        from PIL import Image, ImageOps

        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with Image.open(_io.BytesIO(data)) as im:
            upright = ImageOps.exif_transpose(im)
            return np.asarray(upright.convert("RGBA" if "A" in upright.getbands() else "RGB"))
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "not an image we can read"
        kind = type(exc).__name__
        why = "unknown format or not an image" if kind == "UnidentifiedImageError" else f"corrupt or truncated ({kind})"
        if "exceeds limit" in str(exc) or kind == "DecompressionBombError":
            why = f"too many pixels (limit {MAX_PIXELS})"
        raise InputError(f"{name}: not a readable image: {why}") from None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG as it will be decoded (upright: EXIF orientation applied), read from its header
    without decoding; None for other formats or an unreadable header."""
    if data[:2] != b"\xff\xd8":
        return None
    try:
        from PIL import Image

        with Image.open(_io.BytesIO(data)) as im:
            width, height = im.size
            orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - the full decoder will say what is wrong
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_encoded(source) -> tuple[bytes, str] | None:
    """The encoded bytes and a name for a path or bytes input (None for arrays and PIL images); a path that cannot
    be read raises :class:`InputError` as :func:`load_image` does."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not an image")
        try:
            return path.read_bytes(), str(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return None


def load_image(source) -> np.ndarray:
    """A path, bytes, PIL image or array -> RGB uint8 array.

    Arrays are taken as RGB (or grayscale / RGBA); convert BGR arrays from
    OpenCV with ``image[:, :, ::-1]`` first.
    """
    if isinstance(source, np.ndarray):
        return to_rgb_uint8(source)
    encoded = read_encoded(source)
    if encoded is not None:
        return decode_image(*encoded)
    if hasattr(source, "convert") and hasattr(source, "size"):  # PIL image
        from PIL import ImageOps

        return to_rgb_uint8(np.asarray(ImageOps.exif_transpose(source).convert("RGB")))
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
        if not self.stream and not Path(self.source).is_file():
            raise InputError(f"{self.name}: no such file")
        cap = cv2.VideoCapture(self.camera if self.camera is not None else str(self.source))
        if not cap.isOpened():
            cap.release()
            what = (
                "camera cannot be opened"
                if self.camera is not None
                else ("stream cannot be opened" if self.stream else "not a readable video")
            )
            raise InputError(f"{self.name}: {what}")
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
            raise InputError(f"{self.name}: a video reader gives its frames once")
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
                raise InputError(f"{self.name}: no frame could be decoded")
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


def expand_inputs(items: list[str], recursive: bool = True) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files, directories (searched recursively) and glob patterns -> (media files, [(input, error)])."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    seen = set()

    def add(p: Path):
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for item in items:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            for p in sorted(path.glob(pattern)):
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
                    add(p)
        elif path.exists():
            add(path)
        elif any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                missing.append((item, "no file matches this pattern"))
            for m in matches:
                if Path(m).is_file():
                    add(Path(m))
        else:
            missing.append((item, "no such file or directory"))
    return files, missing


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
