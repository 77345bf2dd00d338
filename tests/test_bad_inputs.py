"""Inputs that used to crash, hang, eat memory or read silently wrong (issue 18, findings 1-5 and 8): each is read, or
refused with a plain message naming it, before anything costly happens."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceocc import Analyzer, AnalyzerOptions, InputError
from faceocc import files as files_module
from faceocc import io as faceocc_io
from faceocc.cli import app
from faceocc.io import ImageLimits, VideoReader, expand_inputs, jpeg_scan_count, load_image, read_header

NON_UTF8 = b"caf\xe9-\xff"  # Latin-1 bytes: not valid UTF-8


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(AnalyzerOptions(threads=1))


def _encode(image: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def no_hang():
    """A read that blocks (a FIFO opened for reading) fails the test instead of hanging the suite."""

    def stop(*_):
        raise TimeoutError("the input blocked")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- 1: names that are not UTF-8 -------------------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_is_read_and_kept_as_its_bytes(analyzer, astronaut, tmp_path):
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, NON_UTF8 + b".jpg"), "wb") as fh:
        fh.write(_encode(astronaut, "JPEG"))
    files, missing = expand_inputs([str(tmp_path)])
    assert missing == [] and len(files) == 1
    result = analyzer.analyze(files[0])
    assert result.error is None and len(result.faces) == 1
    assert os.fsencode(result.path) == os.path.join(folder, NON_UTF8 + b".jpg")  # round-trips to the real name
    bad = analyzer.analyze(os.fsdecode(os.path.join(folder, NON_UTF8 + b".png")), raise_errors=False)
    assert "caf\\xe9-\\xff.png: no such file" in bad.error  # printable in the message
    bad.error.encode("utf-8")


def test_a_missing_input_whose_name_is_not_utf8_gets_a_printable_message(tmp_path):
    from types import SimpleNamespace

    from faceocc.cli import analyze as analyze_command

    recorded: list = []
    name = os.fsdecode(os.path.join(os.fsencode(tmp_path), NON_UTF8 + b".jpg"))
    job = SimpleNamespace(record=recorded.append, quiet=True, workers=1, analyzer=None)
    analyze_command._analyze_inputs(job, [], [], expand_inputs([name])[1])
    assert [r.path for r in recorded] == [name]
    assert recorded[0].error == f"{tmp_path}/caf\\xe9-\\xff.jpg: no such file or directory"


def test_a_video_whose_name_is_not_utf8_opens(astronaut, tmp_path):
    plain = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    for _ in range(3):
        writer.write(np.ascontiguousarray(cv2.resize(astronaut, (64, 64))[:, :, ::-1]))
    writer.release()
    odd = os.path.join(os.fsencode(tmp_path), NON_UTF8 + b".avi")
    os.rename(plain, odd)
    reader = VideoReader(os.fsdecode(odd))
    assert reader.open().width == 64
    assert len(list(reader)) == 3


# -- 2 and 3: decompression bombs and scan bombs, refused from the header -------------------------------------------


def _forged_jpeg(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims ``width`` x ``height``."""
    data = bytearray(_encode(np.zeros((16, 16, 3), np.uint8), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _forged_png(width: int, height: int) -> bytes:
    data = bytearray(_encode(np.zeros((16, 16, 3), np.uint8), "PNG"))
    ihdr = data[12:29]  # type + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def test_a_forged_pixel_bomb_is_refused_from_its_header(analyzer, tmp_path, monkeypatch):
    decoded = []
    monkeypatch.setattr(faceocc_io, "_decode_with_cv2", lambda *a: decoded.append(a))
    for name, data in (("bomb.jpg", _forged_jpeg(60000, 60000)), ("bomb.png", _forged_png(50000, 50000))):
        (tmp_path / name).write_bytes(data)
        too_large = rf"{name}: image too large \((\d+x\d+ = )?\d+ pixels; limit 100000000 pixels\)"
        with pytest.raises(InputError, match=too_large):
            analyzer.analyze(tmp_path / name)
    assert decoded == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM"])
def test_the_pixel_limit_holds_for_every_format_before_decoding(fmt, monkeypatch):
    decoded = []
    monkeypatch.setattr(faceocc_io, "_decode_with_cv2", lambda *a: decoded.append(a))
    data = _encode(np.zeros((40, 50, 3), np.uint8), fmt)
    with pytest.raises(InputError, match=r"<bytes>: image too large \(50x40 = 2000 pixels; limit 1999 pixels\)"):
        load_image(data, ImageLimits(max_pixels=1999))
    assert decoded == []


def test_the_analyzer_takes_its_limits_from_its_options(tmp_path):
    (tmp_path / "photo.png").write_bytes(_encode(np.zeros((40, 50, 3), np.uint8), "PNG"))
    small = Analyzer(AnalyzerOptions(threads=1, limits=ImageLimits(max_pixels=1999)))
    assert "limit 1999" in small.analyze(tmp_path / "photo.png", raise_errors=False).error


def _scan_bomb(scans: int) -> bytes:
    """A small progressive JPEG whose last scan is repeated until it has ``scans`` scans."""
    rng = np.random.default_rng(7)
    data = _encode(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "JPEG", progressive=True, quality=80)
    last = data.rindex(b"\xff\xda")
    have = jpeg_scan_count(data)
    return data[:-2] + data[last:-2] * (scans - have) + b"\xff\xd9"


def test_a_scan_bomb_is_refused_before_decoding(analyzer, tmp_path):
    normal = _scan_bomb(12)
    assert jpeg_scan_count(normal) == 12
    assert load_image(normal).shape == (32, 32, 3)
    (tmp_path / "scans.jpg").write_bytes(_scan_bomb(5000))
    with pytest.raises(InputError, match=r"scans.jpg: JPEG with 5000 scans refused \(limit 100\)"):
        analyzer.analyze(tmp_path / "scans.jpg")


def test_an_exif_thumbnail_does_not_count_as_scans():
    thumb = _encode(np.zeros((8, 8, 3), np.uint8), "JPEG", progressive=True)
    exif = b"Exif\x00\x00" + thumb  # an APP1 payload holding a whole progressive JPEG
    data = _encode(np.zeros((16, 16, 3), np.uint8), "JPEG")
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    assert jpeg_scan_count(data[:2] + app1 + data[2:]) == 1


# -- 4: what is not a regular file -----------------------------------------------------------------------------------


def test_a_fifo_or_device_named_directly_is_refused_without_reading(analyzer, tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    for name, words in (("pipe.jpg", "a FIFO"), ("zero.jpg", "a character device")):
        result = analyzer.analyze(tmp_path / name, raise_errors=False)
        assert result.error == f"{tmp_path / name}: not a regular file ({words})"
    with pytest.raises(InputError, match="not a regular file"):
        list(VideoReader(tmp_path / "pipe.jpg"))


def test_a_file_over_the_size_limit_is_not_read(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    (tmp_path / "big.png").write_bytes(_encode(noise, "PNG"))
    with pytest.raises(InputError, match=r"big.png: file too large \(\d+ bytes; limit 100\)"):
        load_image(tmp_path / "big.png", ImageLimits(max_file_bytes=100))


def _odd_folder(tmp_path):
    root = tmp_path / "odd"
    (root / "locked").mkdir(parents=True)
    (root / "dangling.jpg").symlink_to(root / "gone.jpg")
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    (root / "up").symlink_to(root)  # a link to a folder above: walked once
    os.mkfifo(root / "pipe.png")
    (root / "notes.txt").write_text("not media: skipped")
    return root


def _locked(monkeypatch, folder):
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(folder):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(files_module.os, "scandir", scandir)


def test_a_folder_walk_reports_every_entry_it_cannot_use_once(tmp_path, monkeypatch):
    root = _odd_folder(tmp_path)
    _locked(monkeypatch, root / "locked")
    files, missing = expand_inputs([str(root)])
    assert files == []
    assert dict(missing) == {
        str(root / "dangling.jpg"): "broken symbolic link",
        str(root / "locked"): "cannot read this folder (permission denied)",
        str(root / "loop.jpg"): "symbolic link loop (too many levels of links)",
        str(root / "pipe.png"): "not a regular file (a FIFO)",
    }
    assert len(missing) == 4


def test_a_folder_of_only_unusable_entries_fails_with_a_record_each(tmp_path, monkeypatch):
    root = _odd_folder(tmp_path)
    _locked(monkeypatch, root / "locked")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["analyze", str(root), "--jsonl", str(out), "--threads", "1", "--quiet"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["path"] for r in records) == sorted(
        str(root / n) for n in ("dangling.jpg", "locked", "loop.jpg", "pipe.png")
    )
    assert all(r["error"].startswith(r["path"] + ": ") for r in records)


def test_a_path_in_an_unreadable_folder_given_directly_is_an_error_record(tmp_path, monkeypatch):
    target = str(tmp_path / "locked" / "photo.jpg")
    real = os.stat

    def stat(path, *a, **kw):
        if os.fspath(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", target)
        return real(path, *a, **kw)

    monkeypatch.setattr(files_module.os, "stat", stat)
    assert expand_inputs([target]) == ([], [(target, "permission denied")])
    with pytest.raises(InputError, match="photo.jpg: permission denied"):
        load_image(target)


# -- 5: the error contract -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((8, 8, 2), np.uint8),
        np.zeros((8, 8, 5), np.uint8),
        np.zeros((), np.uint8),
        np.zeros(8, np.uint8),
        np.zeros((2, 8, 8, 3), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros((8, 8, 3), np.complex64),
        np.full((8, 8, 3), np.nan, np.float32),
    ],
)
def test_an_array_that_is_not_an_image_is_an_input_error(analyzer, array):
    with pytest.raises(InputError, match="image array: "):
        analyzer.analyze(array)
    assert analyzer.analyze(array, raise_errors=False).error.startswith("image array: ")


def test_a_name_too_long_is_an_input_error(analyzer, tmp_path):
    long = tmp_path / ("x" * 300 + ".jpg")
    result = analyzer.analyze(long, raise_errors=False)
    assert result.error == f"{long}: name too long ({len(os.fsencode(long))} bytes)"
    assert expand_inputs([str(long)])[1] == [(str(long), f"name too long ({len(os.fsencode(long))} bytes)")]


def test_an_opencv_failure_is_an_input_error_in_plain_words(analyzer, astronaut, monkeypatch):
    def broken(*_a, **_k):
        raise cv2.error("OpenCV(4.x) /io/opencv/modules/imgproc/src/resize.cpp:4208: error: (-215:Assertion failed)")

    monkeypatch.setattr(analyzer.detector, "detect", broken)
    result = analyzer.analyze(astronaut, raise_errors=False)
    assert result.error == "image array: OpenCV cannot process this image (corrupt, or an unusual size or pixel layout)"
    with pytest.raises(InputError):
        analyzer.analyze(_encode(astronaut, "PNG"))


# -- 8: orientation, float TIFFs, animations -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_exif_orientation_is_applied_to_png_and_webp(fmt):
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:10] = 255  # white at the top when upright
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the viewer turns it 90 degrees clockwise
    data = _encode(np.ascontiguousarray(np.rot90(tall, 1)), fmt, exif=exif, lossless=True)
    assert read_header(data).upright_size == (20, 40)
    image = load_image(data)
    assert image.shape == (40, 20, 3) and image[:10].min() > 200 and image[12:].max() < 50


def test_a_tiff_orientation_is_not_applied_twice():
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:10] = 255
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(tall, 1))).save(buf, "TIFF", tiffinfo={0x0112: 6})
    image = load_image(buf.getvalue())  # libtiff turns it upright as it reads it
    assert image.shape == (40, 20, 3) and image[:10].min() > 200 and image[12:].max() < 50


def test_a_float_tiff_with_nan_is_refused_not_black(tmp_path):
    import tifffile

    pixels = np.full((16, 16), 0.5, np.float32)
    pixels[3, 3] = np.nan
    tifffile.imwrite(tmp_path / "float.tif", pixels)
    with pytest.raises(InputError, match=r"float.tif: 1 pixel value\(s\) are NaN or infinite"):
        load_image(tmp_path / "float.tif")
    tifffile.imwrite(tmp_path / "fine.tif", np.nan_to_num(pixels, nan=0.5))
    assert load_image(tmp_path / "fine.tif").min() == 127


def test_an_animation_or_multipage_file_says_its_first_frame_was_used(analyzer, tmp_path):
    frames = [Image.fromarray(np.full((32, 32, 3), v, np.uint8)) for v in (30, 120, 220)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    for name, words in (("anim.gif", "GIF with 3 frames"), ("pages.tif", "TIFF with 3 pages")):
        result = analyzer.analyze(tmp_path / name)
        assert result.warnings == [f"{words}: only the first was analysed"]
        assert result.to_dict()["warnings"] == result.warnings
        assert result.csv_rows()[0]["warnings"] == result.warnings[0]
    still = analyzer.analyze(_encode(np.zeros((32, 32, 3), np.uint8), "PNG"))
    assert still.warnings == [] and "warnings" not in still.to_dict()
