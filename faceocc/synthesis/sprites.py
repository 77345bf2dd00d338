"""Occluder cut-outs: RGBA sprites with a mip pyramid and the geometry their placement uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

#: longest side of a sprite's level 0 (bigger cut-outs are downsampled when loaded)
MAX_SIDE = 256


@dataclass
class Sprite:
    """An RGBA cut-out (uint8, colours bled under the transparent part) with a small mip pyramid."""

    name: str
    levels: list  # [(factor, rgba uint8)], factor = level size / level-0 size, decreasing
    meta: dict = field(default_factory=dict)

    @property
    def rgba(self) -> np.ndarray:
        return self.levels[0][1]

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.rgba.shape[:2]
        return w, h


def _bleed(rgba: np.ndarray) -> np.ndarray:
    """Spread the object's colours under its transparent pixels (no dark fringes when resampled)."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    if a.min() > 0.99:
        return rgba
    rgb = rgba[..., :3].astype(np.float32)
    out = rgb * a
    weight = a[..., 0].copy()
    filled = rgb * a
    for sigma in (2.0, 6.0, 20.0):
        num = cv2.GaussianBlur(filled, (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
        est = num / np.maximum(den, 1e-4)
        need = (den > 1e-3) & (weight[..., None] < 0.5)
        filled = np.where(need, est, filled)
        weight = np.where(need[..., 0], 1.0, weight).astype(np.float32)
    res = out + filled * (1 - a)
    res = np.where(weight[..., None] > 0, res, rgb.mean((0, 1)))
    return np.dstack([np.clip(res, 0, 255).astype(np.uint8), rgba[..., 3]])


def make_sprite(
    name: str,
    rgba: np.ndarray,
    meta: dict | None = None,
    max_side: int = MAX_SIDE,
    crop: bool = True,
    bleed: bool = True,
) -> Sprite | None:
    """A :class:`Sprite` from an RGBA (or RGB, or gray) image: cropped to its alpha (None when nearly empty),
    at most ``max_side`` pixels, colours bled under the transparent part, with its placement geometry in ``meta``."""
    meta = dict(meta or {})
    if rgba.ndim == 2:
        rgba = np.dstack([rgba] * 3 + [np.full(rgba.shape, 255, np.uint8)])
    elif rgba.shape[2] == 3:
        rgba = np.dstack([rgba, np.full(rgba.shape[:2], 255, np.uint8)])
    offset = np.zeros(2, np.float32)
    if crop:
        ys, xs = np.nonzero(rgba[..., 3] > 8)
        if len(xs) < 16:
            return None
        x0, x1, y0, y1 = max(xs.min() - 2, 0), xs.max() + 3, max(ys.min() - 2, 0), ys.max() + 3
        rgba = rgba[y0:y1, x0:x1]
        offset = np.array([x0, y0], np.float32)
    h, w = rgba.shape[:2]
    f = min(1.0, max_side / max(h, w))
    if f < 1.0:
        rgba = cv2.resize(rgba, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    if "anchors" in meta:
        meta["anchors"] = (np.asarray(meta["anchors"], np.float32) - offset) * f
    if bleed:
        rgba = _bleed(rgba)
    rgba = np.ascontiguousarray(rgba)
    levels = [(1.0, rgba)]
    cur = rgba
    while max(cur.shape[:2]) > 40:
        cur = cv2.resize(cur, (max(1, cur.shape[1] // 2), max(1, cur.shape[0] // 2)), interpolation=cv2.INTER_AREA)
        levels.append((cur.shape[1] / rgba.shape[1], cur))
    sprite = Sprite(name, levels, meta)
    _analyse(sprite)
    return sprite


def _wrist_point(m: np.ndarray) -> np.ndarray:
    """Where a hand cut-out's wrist is: the middle of the border its alpha touches most (bottom centre if none)."""
    h, w = m.shape
    counts = {"bottom": m[-2:].sum(), "top": m[:2].sum(), "left": m[:, :2].sum(), "right": m[:, -2:].sum()}
    side = max(counts, key=lambda s: counts[s])
    if counts[side] < 3:
        return np.array([w / 2, h - 1], np.float32)
    if side == "bottom":
        wrist = np.array([np.nonzero(m[-2:].any(0))[0].mean(), h - 1])
    elif side == "top":
        wrist = np.array([np.nonzero(m[:2].any(0))[0].mean(), 0])
    elif side == "left":
        wrist = np.array([0, np.nonzero(m[:, :2].any(1))[0].mean()])
    else:
        wrist = np.array([w - 1, np.nonzero(m[:, -2:].any(1))[0].mean()])
    return wrist.astype(np.float32)


def _analyse(sprite: Sprite) -> None:
    """Geometry used by the placement: alpha centroid, body box, wrist->fingertip axis, lens centres."""
    a = sprite.rgba[..., 3].astype(np.float32) / 255.0
    h, w = a.shape
    m = a > 0.5
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        ys, xs = np.nonzero(a > 0)
    pts = np.stack([xs, ys], 1).astype(np.float32)
    meta = sprite.meta
    meta.setdefault("centroid", pts.mean(0))
    # body box: alpha eroded so that thin straps / ear loops do not count
    k = max(3, int(0.06 * max(h, w)) | 1)
    body = cv2.erode(m.astype(np.uint8), np.ones((k, k), np.uint8))
    bys, bxs = np.nonzero(body)
    if len(bxs) < 10:
        bxs, bys = xs, ys
    meta.setdefault("body", np.array([bxs.min(), bys.min(), bxs.max(), bys.max()], np.float32))
    # lens centres (glasses): centroids of the two halves
    half = w / 2
    left, right = pts[pts[:, 0] < half], pts[pts[:, 0] >= half]
    if len(left) and len(right):
        meta.setdefault("lenses", np.stack([left.mean(0), right.mean(0)]))
    # tip: the farthest extent from the wrist along the wrist -> centroid axis
    wrist = _wrist_point(m)
    d = meta["centroid"] - wrist
    n = float(np.linalg.norm(d))
    d = d / n if n > 1e-3 else np.array([0, -1], np.float32)
    length = float(((pts - wrist) @ d).max()) if len(pts) else float(max(h, w))
    meta.setdefault("wrist", wrist)
    meta.setdefault("tip", (wrist + d * max(length, 1.0)).astype(np.float32))


def read_rgba(path: Path) -> np.ndarray | None:
    """An image file as RGBA uint8 (opaque when it has no alpha); None when it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    if img.ndim == 2:
        return np.dstack([img] * 3 + [np.full(img.shape, 255, np.uint8)])
    if img.shape[2] == 3:
        return np.dstack([img[..., ::-1], np.full(img.shape[:2], 255, np.uint8)])
    return np.ascontiguousarray(img[..., [2, 1, 0, 3]])


def texture_from_sprite(sprite: Sprite) -> np.ndarray | None:
    """A 64 px RGB square from the opaque inside of a cut-out (a scarf's or an object's material), or None."""
    rgba = sprite.rgba
    a = rgba[..., 3]
    h, w = a.shape
    if min(h, w) < 24:
        return None
    inner = cv2.erode((a > 250).astype(np.uint8), np.ones((5, 5), np.uint8))
    ys, xs = np.nonzero(inner)
    if len(xs) < 400:
        return None
    cy, cx = int(np.median(ys)), int(np.median(xs))
    r = max(8, int(0.25 * min(h, w)))
    y0, x0 = max(0, cy - r), max(0, cx - r)
    patch = rgba[y0 : cy + r, x0 : cx + r]
    if patch.size == 0 or (patch[..., 3] > 250).mean() < 0.9:
        return None
    return cv2.resize(np.ascontiguousarray(patch[..., :3]), (64, 64), interpolation=cv2.INTER_AREA)
