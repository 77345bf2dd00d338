"""A few hundred bad and odd files (seeded) through ``faceocc analyze`` as a user runs it, in a subprocess whose
address space is bounded: every file gets exactly one record, nothing crashes, nothing prints a traceback, and no
file makes the process run out of memory (a pixel bomb decoded in full would)."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: the address space the run may use: the networks and libraries need about 2 GiB; a 30000 x 30000 bomb needs 2.7 more
ADDRESS_SPACE = 4 * 1024**3
SEED = 18


def _save(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _valid(rng: np.random.Generator) -> dict[str, bytes]:
    """Small real images of every format and odd pixel layout."""
    out: dict[str, bytes] = {}
    for i in range(12):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        rgb = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        for ext, fmt in (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("tif", "TIFF")):
            out[f"valid{i}.{ext}"] = _save(rgb, fmt)
        out[f"valid{i}.gif"] = _save(rgb.convert("P"), "GIF")
        out[f"valid{i}.ppm"] = _save(rgb, "PPM")
        out[f"gray{i}.pgm"] = _save(rgb.convert("L"), "PPM")
    noise = rng.integers(0, 65535, (24, 24), dtype=np.uint16)
    out["sixteen.png"] = _save(Image.fromarray(noise), "PNG")
    out["one.png"] = _save(Image.new("1", (9, 7)), "PNG")
    out["pixel.jpg"] = _save(Image.new("RGB", (1, 1)), "JPEG")
    out["gray_alpha.png"] = _save(Image.new("LA", (20, 10), (90, 128)), "PNG")
    out["rgba.webp"] = _save(Image.new("RGBA", (20, 10), (1, 2, 3, 0)), "WEBP")
    out["cmyk.jpg"] = _save(Image.new("CMYK", (30, 20), (10, 200, 30, 5)), "JPEG")
    out["palette_alpha.png"] = _save(Image.new("RGBA", (16, 16), (255, 0, 0, 10)).convert("P"), "PNG")
    out["progressive.jpg"] = _save(Image.new("RGB", (40, 30), (5, 6, 7)), "JPEG", progressive=True)
    frames = [Image.new("RGB", (16, 16), (v, v, v)) for v in (0, 100, 200)]
    out["anim.gif"] = _save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out["pages.tif"] = _save(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    out["anim.png"] = _save(frames[0], "PNG", save_all=True, append_images=frames[1:])
    out["float.tif"] = _save(Image.fromarray(rng.random((12, 12), dtype=np.float32)), "TIFF")
    nan = np.full((12, 12), np.nan, np.float32)
    out["nan.tif"] = _save(Image.fromarray(nan), "TIFF")
    return out


def _bombs() -> dict[str, bytes]:
    """Files whose headers claim far more pixels than they hold (900 million: under OpenCV's own limit, 2.7 GB once
    decoded), and a JPEG of thousands of scans."""
    jpeg = bytearray(_save(Image.new("RGB", (16, 16)), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 30000, 30000)
    png = bytearray(_save(Image.new("RGB", (16, 16)), "PNG"))
    png[16:24] = struct.pack(">II", 30000, 30000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    gif = bytearray(_save(Image.new("P", (16, 16)), "GIF"))
    gif[6:10] = struct.pack("<HH", 30000, 30000)
    bmp = bytearray(_save(Image.new("RGB", (16, 16)), "BMP"))
    bmp[18:26] = struct.pack("<ii", 30000, 30000)
    progressive = _save(Image.new("RGB", (32, 32), (9, 99, 199)), "JPEG", progressive=True)
    last = progressive.rindex(b"\xff\xda")
    scans = progressive[:-2] + progressive[last:-2] * 3000 + b"\xff\xd9"
    return {"bomb.jpg": bytes(jpeg), "bomb.png": bytes(png), "bomb.gif": bytes(gif), "bomb.bmp": bytes(bmp)} | {
        "scans.jpg": scans
    }


def _damaged(rng: np.random.Generator, valid: dict[str, bytes]) -> dict[str, bytes]:
    """Truncated, bit-flipped, misnamed, random and empty files."""
    out: dict[str, bytes] = {}
    names = sorted(valid)
    for i in range(60):
        name = names[int(rng.integers(len(names)))]
        data = valid[name]
        stem, ext = name.rsplit(".", 1)
        out[f"cut{i}_{stem}.{ext}"] = data[: int(rng.integers(0, max(1, len(data))))]
        flipped = bytearray(data)
        for pos in rng.integers(0, len(data), 1 + int(rng.integers(8))):
            flipped[pos] = int(rng.integers(256))
        out[f"flip{i}_{stem}.{ext}"] = bytes(flipped)
    exts = ["jpg", "png", "webp", "bmp", "tif", "gif", "ppm", "pgm", "jpeg", "tiff", "mp4", "avi"]
    for i in range(36):
        out[f"random{i}.{exts[i % len(exts)]}"] = rng.integers(0, 256, int(rng.integers(1, 3000)), np.uint8).tobytes()
    for ext in exts:
        out[f"empty.{ext}"] = b""
    for i, name in enumerate(names[:20]):
        out[f"misnamed{i}.{exts[(i + 3) % 8]}"] = valid[name]
    out["text.jpg"] = b"this is not an image\n" * 10
    return out


def _files(folder: Path) -> int:
    rng = np.random.default_rng(SEED)
    valid = _valid(rng)
    everything = valid | _bombs() | _damaged(rng, valid)
    for name, data in everything.items():
        (folder / name).write_bytes(data)
    return len(everything)


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def test_hundreds_of_bad_files_give_one_record_each_in_bounded_memory(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    count = _files(folder)
    assert count >= 300
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    run = subprocess.run(
        [sys.executable, "-m", "faceocc", "analyze", str(folder), "--jsonl", str(out), "--threads", "1", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_bounded,
        timeout=600,
    )
    assert run.returncode == 1, run.stderr[-3000:]  # some inputs could not be read: exit 1, not a crash
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr, run.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    paths = [r["path"] for r in records]
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())  # one record per file, none twice
    by_name = {Path(r["path"]).name: r for r in records}
    for name in ("bomb.jpg", "bomb.png", "bomb.gif", "bomb.bmp"):
        assert "image too large" in by_name[name]["error"], by_name[name]
    assert "scans refused" in by_name["scans.jpg"]["error"]
    for name in ("valid0.jpg", "sixteen.png", "gray_alpha.png", "cmyk.jpg", "pixel.jpg", "rgba.webp"):
        assert by_name[name]["error"] is None, by_name[name]
    assert by_name["anim.gif"]["warnings"] == ["GIF with 3 frames: only the first was analysed"]
    assert "NaN" in by_name["nan.tif"]["error"]
    for r in records:
        if r["error"] is not None:
            name = Path(r["path"]).name
            assert r["error"].startswith(r["path"] + ": ") and "OpenCV(" not in r["error"], r["error"]
            assert name in r["error"]
