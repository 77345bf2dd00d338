"""The benchmarks' photos, made in code (no data needed).

The test photo is derived from ``skimage.data.astronaut()`` (public domain): resized to 480 x 480 and padded
to 640 x 480 with one face. Without skimage it is the same photo as the package ships it
(``faceocc.samples.astronaut``), so the benchmark always times a face.

The group photos (:func:`group_photo`) paste the astronaut's face, clean and with the bundled examples' hand, mask and
sunglasses, onto textures, at known boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np


def test_photo(width: int = 640, height: int = 480) -> np.ndarray:
    """An RGB ``height`` x ``width`` photo with one frontal face (the astronaut), grey padding around."""
    try:
        from skimage import data

        face = data.astronaut()
    except Exception:  # noqa: BLE001 - skimage is a dev dependency
        from ..samples import astronaut

        face = astronaut()
    side = min(width, height)
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 127, np.uint8)
    y0, x0 = (height - side) // 2, (width - side) // 2
    canvas[y0 : y0 + side, x0 : x0 + side] = face
    return canvas


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def make_folder(path: Path, count: int = 16, seed: int = 0) -> list[Path]:
    """``count`` varied one-face JPEGs (shifted, scaled, flipped astronaut) written to ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = test_photo()
    files = []
    for i in range(count):
        img = base[:, ::-1] if i % 2 else base
        scale = float(rng.uniform(0.8, 1.1))
        m = np.array(
            [
                [scale, 0, rng.uniform(-40, 40) + (1 - scale) * 320],
                [0, scale, rng.uniform(-20, 20) + (1 - scale) * 240],
            ],
            np.float32,
        )
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (640, 480), borderValue=(127, 127, 127))
        f = path / f"bench_{i:03d}.jpg"
        f.write_bytes(encode_jpeg(img))
        files.append(f)
    return files


# -- generated group photos (detection scale) -------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: the kinds of face in the generated photos, from skimage's astronaut and the bundled ``examples/astronaut*.jpg``
FACE_KINDS = ("clean", "clean", "hand", "mask", "sunglasses")


@lru_cache(maxsize=1)
def face_patches() -> tuple[tuple[np.ndarray, np.ndarray, str], ...]:
    """Head-and-shoulders cut-outs: (RGB patch, face box in the patch, kind): skimage's astronaut (public domain) and
    the bundled ``examples/astronaut{,_hand,_mask,_sunglasses}.jpg`` (procedural occluders on it)."""
    from skimage import data

    from ..detection import DetectorOptions, FaceDetector

    sources = [(data.astronaut(), "clean")]
    for name in ("astronaut", "astronaut_hand", "astronaut_mask", "astronaut_sunglasses"):
        image = cv2.imread(str(EXAMPLES / f"{name}.jpg"))
        if image is not None:
            sources.append((image[:, :, ::-1], name.partition("_")[2] or "clean"))
    detector = FaceDetector(DetectorOptions(max_side=640))
    patches = []
    for image, kind in sources:
        faces = detector.detect(image)
        if not faces:
            continue
        x1, y1, x2, y2 = faces[0].box
        w, h = x2 - x1, y2 - y1
        a, b = int(max(0, x1 - 0.8 * w)), int(max(0, y1 - 0.6 * h))
        c, d = int(min(image.shape[1], x2 + 0.8 * w)), int(min(image.shape[0], y2 + 1.0 * h))
        patches.append((np.ascontiguousarray(image[b:d, a:c]), faces[0].box - [a, b, a, b], kind))
    return tuple(patches)


def textured_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A ``height`` x ``width`` RGB background: a skimage texture (brick, grass, gravel) under smooth colours."""
    from skimage import data

    texture = (data.brick, data.grass, data.gravel)[int(rng.integers(3))]()
    tiled = np.tile(texture, (height // texture.shape[0] + 1, width // texture.shape[1] + 1))[:height, :width]
    colours = cv2.resize(
        rng.integers(40, 220, (3, 4, 3)).astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC
    )
    shade = (tiled.astype(np.uint16) // 2 + 128)[:, :, None]
    return ((colours.astype(np.uint16) * shade) >> 8).astype(np.uint8)


def group_photo(
    width: int = 4000,
    height: int = 3000,
    faces: int = 25,
    face_px: float = 130.0,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A generated group photo: ``faces`` head-and-shoulders cut-outs (see :func:`face_patches`) on a grid, face
    sizes (shorter box side) ``face_px`` +-15%, brightness 0.7-1.2, half of them mirrored, on a textured background.

    Returns the RGB photo, the faces' boxes (N x 4, photo pixels) and their kinds. ``kinds`` keeps only faces of
    those kinds (e.g. ``["clean"]``).
    """
    rng = np.random.default_rng(seed)
    canvas = textured_background(width, height, rng)
    patches = [p for p in face_patches() if kinds is None or p[2] in kinds]
    cols = max(1, math.ceil(math.sqrt(faces * width / height)))
    rows = math.ceil(faces / cols)
    cw, ch = width / cols, height / rows
    boxes, out_kinds = [], []
    for i in range(faces):
        patch, box, kind = patches[i % len(patches)]
        k = face_px * rng.uniform(0.85, 1.15) / min(box[2] - box[0], box[3] - box[1])
        k = min(k, 0.95 * cw / patch.shape[1], 0.95 * ch / patch.shape[0])  # the cut-out fits its cell
        img, bx = _scaled_patch(patch, box, k, rng)
        ph, pw = img.shape[:2]
        r, c = divmod(i, cols)
        x0 = int(np.clip(c * cw + (cw - pw) / 2 + rng.uniform(-0.2, 0.2) * max(0, cw - pw), 0, width - pw))
        y0 = int(np.clip(r * ch + (ch - ph) / 2 + rng.uniform(-0.2, 0.2) * max(0, ch - ph), 0, height - ph))
        _blend_oval(canvas, img, x0, y0)
        boxes.append(bx + [x0, y0, x0, y0])
        out_kinds.append(kind)
    return canvas, np.array(boxes, np.float32).reshape(-1, 4), out_kinds


def _scaled_patch(
    patch: np.ndarray, box: np.ndarray, k: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(the cut-out resized by ``k``, mirrored half of the time, brightness 0.7-1.2, as float32; its face box)."""
    pw, ph = max(2, round(patch.shape[1] * k)), max(2, round(patch.shape[0] * k))
    img = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    bx = box * np.tile([pw / patch.shape[1], ph / patch.shape[0]], 2)
    if rng.random() < 0.5:
        img, bx = img[:, ::-1], np.array([pw - bx[2], bx[1], pw - bx[0], bx[3]])
    return np.clip(img.astype(np.float32) * rng.uniform(0.7, 1.2), 0, 255), bx


def _blend_oval(canvas: np.ndarray, img: np.ndarray, x0: int, y0: int) -> None:
    """Paste ``img`` onto ``canvas`` at (``x0``, ``y0``) through a soft elliptical mask (in place)."""
    ph, pw = img.shape[:2]
    yy, xx = np.mgrid[0:ph, 0:pw]
    alpha = np.clip((1.0 - ((xx - pw / 2) / (pw / 2)) ** 2 - ((yy - ph / 2) / (ph / 2)) ** 2) / 0.25, 0, 1)[:, :, None]
    roi = canvas[y0 : y0 + ph, x0 : x0 + pw].astype(np.float32)
    canvas[y0 : y0 + ph, x0 : x0 + pw] = (img * alpha + roi * (1 - alpha)).astype(np.uint8)
