"""What an image file says of itself before it is decoded: format, size, frames or pages, EXIF orientation, and a
JPEG's scan count. Reading these first is what lets :mod:`faceocc.io` refuse decompression bombs (more pixels than a
limit) and scan bombs (a progressive JPEG of thousands of scans) without decoding them."""

from __future__ import annotations

import io as _io
import re
import warnings
from dataclasses import dataclass

from .files import InputError

#: images with more pixels than this are refused from their header, before decoding (decompression bombs)
MAX_PIXELS = 100_000_000
#: JPEGs with more scans than this are refused before decoding: each scan of a progressive JPEG is another pass over
#: the whole image (a 1 MB file of 20,000 scans decodes for minutes); encoders write about 10. libjpeg-turbo advises
#: applications to set such a limit.
MAX_JPEG_SCANS = 100
_NOT_IMAGE = "not a readable image: unknown format, not an image, or a damaged header"


@dataclass
class ImageHeader:
    """What an image file says of itself before it is decoded: its format, size (as stored), frames or pages, and
    EXIF orientation (1: upright as stored)."""

    format: str
    width: int
    height: int
    frames: int = 1
    orientation: int = 1

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) once the EXIF orientation is applied."""
        turned = self.orientation in (5, 6, 7, 8)
        return (self.height, self.width) if turned else (self.width, self.height)


def read_header(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> ImageHeader:
    """The header of encoded image bytes, read without decoding the pixels (PIL reads headers lazily);
    :class:`InputError` for an empty file, an unknown format, or more than ``max_pixels`` pixels."""
    from PIL import Image

    if not data:
        raise InputError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning: the limit is checked here
            with Image.open(_io.BytesIO(data)) as im:
                header = ImageHeader(str(im.format or "?"), int(im.size[0]), int(im.size[1]))
                if 0 < header.width * header.height <= max_pixels:
                    header.frames = _frame_count(im)
                    header.orientation = _orientation(im, data)
    except Image.DecompressionBombError as exc:  # far above any sane limit: PIL refuses it itself
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{found.group(1)} pixels" if found else "too many pixels"
        raise InputError(f"{name}: image too large ({size}; limit {max_pixels} pixels)") from None
    except Exception:  # noqa: BLE001 - PIL raises many types for what is not an image
        raise InputError(f"{name}: {_NOT_IMAGE}") from None
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise InputError(
            f"{name}: image too large ({header.width}x{header.height} = {pixels} pixels; limit {max_pixels} pixels)"
        )
    if pixels == 0:
        raise InputError(f"{name}: empty image ({header.width}x{header.height} pixels)")
    return header


def _frame_count(im) -> int:
    if not getattr(im, "is_animated", False):
        return 1
    try:
        return max(2, int(im.n_frames))
    except Exception:  # noqa: BLE001 - a damaged later frame: there are more than one all the same
        return 2


def _orientation(im, data: bytes) -> int:
    """The EXIF orientation (1-8) of an opened image; 1 when it has none, and for TIFF. A PNG's eXIf chunk is read
    from the chunks (PIL would decode the whole image to find one stored after the pixels)."""
    from PIL import Image

    if im.format == "TIFF":  # libtiff's RGBA reading (used by OpenCV for some layouts) applies it already
        return 1
    try:
        if im.format == "PNG":
            payload = _png_chunk(data, b"eXIf")
            exif = Image.Exif()
            if payload:
                exif.load(payload)
        else:
            exif = im.getexif()
        value = int(exif.get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block: the image is shown as stored
        return 1
    return value if 1 <= value <= 8 else 1


def _png_chunk(data: bytes, kind: bytes) -> bytes | None:
    """The payload of the first chunk of type ``kind`` of a PNG (None when it has none)."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == kind:
            return data[pos + 8 : pos + 8 + length]
        if data[pos + 4 : pos + 8] == b"IEND":
            return None
        pos += 12 + length
    return None


def jpeg_scan_count(data: bytes) -> int:
    """How many scans (SOS markers) a JPEG has, counted without decoding. After the first scan every 0xFFDA is
    counted (inside compressed data 0xFF is always followed by 0x00 or a marker), so the count is never too low."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            break
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return data.count(b"\xff\xda", pos)
