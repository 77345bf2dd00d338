"""Synthetic occlusion engine: paste occluders onto aligned face crops, with exact masks.

Everything here is numpy + OpenCV (no torch): :func:`synthesize` runs inside the
training loop's data workers and costs about a millisecond on a 112 px crop.

The result of one call is a :class:`Synthesized`: the new image, a per-pixel
occlusion map (1 where something covers the face pixel; clear eyeglasses, shadows
and drop shadows are 0), the occluder types present (``faceocc.datasets.OCCLUDER_TYPES``)
and the recipe used (``kind``). Labels by the rules of OCCLUSION.md come from
:func:`labels_from_mask`; an occluder that lands only outside the inner face (a hand
touching the jaw line, hair on the forehead, a border cutting the background) is a
deliberate hard negative: its pixels are in the occlusion map but its type is 0 in
``occluders`` and the labels say "not occluded".

Occluder sources (:class:`OccluderLibrary`):

- ``from_folder(root)``: the cut-outs of ``occluders/`` (hands, sunglasses, eyeglasses,
  scarves, objects, masks, MaskTheFace templates + textures) with a deterministic
  held-out split so that a test split uses objects never seen in training;
- ``procedural()``: generated hands, sunglasses, eyeglasses, masks, scarves, objects and
  textures; no files needed (tests, CI).

Placement is driven by the 5 landmarks (the crop may be any square size), in a face
frame whose x unit is the inter-ocular distance and whose y unit is the eye-to-mouth
distance: hands over the mouth, eyes, cheek, chin or with fingertips over an eye;
glasses by a similarity from the eye line; masks by a homography from six anchors.

``python -m faceocc.synthesis grid --occluders DIR --out grid.png`` writes a contact
sheet of samples (occlusion outline in green, kind and labels written) for a visual check.
"""

from __future__ import annotations

import configparser
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .alignment import CROP_SIZE, PART_NAMES, TEMPLATE, part_masks
from .datasets import OCCLUDER_TYPES

KINDS = ("none", "hand", "sunglasses", "eyeglasses", "mask", "scarf", "object", "patch", "hair", "border")
#: Sampling probabilities of the recipes when ``synthesize(kind=None)``.
DEFAULT_WEIGHTS = {
    "none": 0.18,
    "hand": 0.22,
    "sunglasses": 0.10,
    "eyeglasses": 0.08,
    "mask": 0.08,
    "scarf": 0.05,
    "object": 0.11,
    "patch": 0.07,
    "hair": 0.06,
    "border": 0.05,
}
#: occluder type reported for each recipe
KIND_TYPE = {"hand": "hand", "sunglasses": "sunglasses", "eyeglasses": "eyeglasses", "mask": "mask", "scarf": "other",
             "object": "other", "patch": "other", "hair": "other", "border": "other", "hat": "other"}
#: an occlusion map counts as occluded when this fraction of the inner face is covered ...
OCCLUDED_COVERAGE = 0.02
#: ... or when one part is covered by more than this
OCCLUDED_PART = 0.10
MAX_SIDE = 256
_CATEGORIES = ("hands", "sunglasses", "eyeglasses", "scarves", "objects", "masks", "templates", "hats", "textures")


# --------------------------------------------------------------------------------------------------------------------
# sprites and the library
# --------------------------------------------------------------------------------------------------------------------


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


def _make_sprite(name: str, rgba: np.ndarray, meta: dict | None = None, max_side: int = MAX_SIDE, crop: bool = True,
                 bleed: bool = True) -> Sprite | None:
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
    for key in ("anchors",):
        if key in meta:
            meta[key] = (np.asarray(meta[key], np.float32) - offset) * f
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
    # wrist: the border the alpha touches most; tip: farthest extent from it along the body axis
    counts = {"bottom": m[-2:].sum(), "top": m[:2].sum(), "left": m[:, :2].sum(), "right": m[:, -2:].sum()}
    side = max(counts, key=counts.get)
    if counts[side] >= 3:
        if side == "bottom":
            xx = np.nonzero(m[-2:].any(0))[0]; wrist = np.array([xx.mean(), h - 1])
        elif side == "top":
            xx = np.nonzero(m[:2].any(0))[0]; wrist = np.array([xx.mean(), 0])
        elif side == "left":
            yy = np.nonzero(m[:, :2].any(1))[0]; wrist = np.array([0, yy.mean()])
        else:
            yy = np.nonzero(m[:, -2:].any(1))[0]; wrist = np.array([w - 1, yy.mean()])
    else:
        wrist = np.array([w / 2, h - 1])
    wrist = wrist.astype(np.float32)
    d = meta["centroid"] - wrist
    n = float(np.linalg.norm(d))
    d = d / n if n > 1e-3 else np.array([0, -1], np.float32)
    length = float(((pts - wrist) @ d).max()) if len(pts) else float(max(h, w))
    meta.setdefault("wrist", wrist)
    meta.setdefault("tip", (wrist + d * max(length, 1.0)).astype(np.float32))


def _name_hash(text: str, seed: int) -> str:
    return hashlib.md5(f"{seed}:{text}".encode()).hexdigest()


def _holdout(names: list[str], groups: dict[str, str], fraction: float, seed: int, count_groups: bool = False) -> set[str]:
    """Names of the held-out (test) files: whole groups, in hash order, until ``fraction`` of the files
    (or of the groups, with ``count_groups``)."""
    if not names or fraction <= 0:
        return set()
    order = sorted(set(groups[n] for n in names), key=lambda g: _name_hash(g, seed))
    if count_groups:
        keep = set(order[:max(1, round(fraction * len(order)))])
        return {n for n in names if groups[n] in keep}
    target = max(1, round(fraction * len(names)))
    test: set[str] = set()
    for g in order:
        if len(test) >= target:
            break
        test |= {n for n in names if groups[n] == g}
    return test


def _read_rgba(path: Path) -> np.ndarray | None:
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


# Objects in occluders/objects that are really hands, masks, hats or hair (by file name).
_OBJECT_CLASSES = {
    "object_test_5a1d3d9de92d76": "hands", "object_test_5a1d3da5e8b389": "hands", "object_test_5a1d3ed25e6028": "hands",
    "object_test_kisspng-finger-hand": "hands", "object_test_kisspng-dry-erase-boards-handwriting": "hands",
    "object_test_kisspng-3m-particulate-respirator": "masks",
    "object_train_object (3).": "hands", "object_train_object (4).": "hands",
    "object_train_object (5).": "masks", "object_train_object (6).": "masks", "object_train_object (18).": "masks",
    "object_train_object (19).": "masks", "object_train_object (20).": "masks", "object_train_object (21).": "masks",
    "object_train_object (12).": "hats", "object_train_object (13).": "hats",
    "object_train_object (7).": "wigs", "object_train_object (8).": "wigs",
}


def _object_class(name: str) -> str:
    for prefix, cls in _OBJECT_CLASSES.items():
        if name.startswith(prefix):
            return cls
    return "objects"


def _hand_groups(names: list[str], sprites: dict[str, Sprite]) -> dict[str, str]:
    """Consecutive hand cut-outs are frames of the same hand: group runs of similar colour so a hand is in one split."""
    def number(n):
        m = re.search(r"(\d+)", n)
        return int(m.group(1)) if m else 0
    groups, prev_col, gid = {}, None, 0
    for n in sorted(names, key=number):
        rgba = sprites[n].levels[-1][1]
        a = rgba[..., 3:4].astype(np.float32) / 255
        col = (rgba[..., :3] * a).sum((0, 1)) / max(a.sum(), 1)
        if prev_col is not None and np.abs(col - prev_col).max() > 28:
            gid += 1
        groups[n] = f"hand{gid}"
        prev_col = col
    return groups


def _template_family(name: str) -> str:
    base = re.sub(r"_(left|right)$", "", Path(name).stem)
    return "surgical" if base.startswith("surgical") else base


class OccluderLibrary:
    """Occluder cut-outs by category (``hands``, ``sunglasses``, ``eyeglasses``, ``scarves``, ``objects``,
    ``masks`` (frontal mask pictures), ``templates`` (MaskTheFace, with anchors), ``hats``, ``textures``)."""

    def __init__(self, sprites: dict[str, list[Sprite]] | None = None, textures: list[np.ndarray] | None = None,
                 split: str = "all", seed: int = 0):
        self.sprites = {c: [] for c in _CATEGORIES}
        for c, lst in (sprites or {}).items():
            self.sprites.setdefault(c, []).extend(lst)
        self.textures = list(textures or [])  # RGB uint8 squares, for patches and mask recolouring
        self.split = split
        self.seed = seed
        self.split_counts: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_folder(cls, root, split: str = "train", holdout_fraction: float = 0.2, seed: int = 0) -> "OccluderLibrary":
        """Load the cut-outs of an ``occluders/`` folder, keeping the ``split`` part ("train", "test" or "all")."""
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"occluder folder not found: {root}")
        loaded: dict[str, dict[str, Sprite]] = {}
        for folder in ("hands", "sunglasses", "eyeglasses", "scarves", "objects", "masks"):
            for path in sorted((root / folder).glob("*.png")):
                rgba = _read_rgba(path)
                if rgba is None:
                    continue
                cat = _object_class(path.name) if folder == "objects" else folder
                meta = {"source": folder}
                if cat == "masks":
                    meta["subkind"] = "frontal_mask"
                sprite = _make_sprite(path.name, rgba, meta)
                if sprite is not None:
                    loaded.setdefault(cat, {})[path.name] = sprite
        templates: dict[str, Sprite] = {}
        cfg_path = root / "mask_templates" / "masks.cfg"
        if cfg_path.exists():
            cfg = configparser.ConfigParser(strict=False)
            cfg.read(cfg_path)
            for section in cfg.sections():
                sec = cfg[section]
                if "template" not in sec or not all(f"mask_{k}" in sec for k in "abcdef"):
                    continue
                path = root / "mask_templates" / "templates" / Path(sec["template"]).name
                rgba = _read_rgba(path) if path.exists() else None
                if rgba is None:
                    continue
                anchors = [[float(v) for v in sec[f"mask_{k}"].split(",")] for k in "abcdef"]
                sprite = _make_sprite(path.name, rgba, {"anchors": anchors, "family": _template_family(path.name)})
                if sprite is not None:
                    templates[path.name] = sprite
        loaded["templates"] = templates
        textures: dict[str, np.ndarray] = {}
        for path in sorted((root / "mask_templates" / "textures").glob("*.png")):
            rgba = _read_rgba(path)
            if rgba is not None:
                textures[path.name] = cv2.resize(rgba[..., :3], (96, 96), interpolation=cv2.INTER_AREA)

        chosen: dict[str, list[Sprite]] = {}
        counts: dict[str, dict[str, int]] = {}
        for cat, items in loaded.items():
            names = sorted(items)
            if cat == "hands":
                groups = _hand_groups([n for n in names if items[n].meta["source"] == "hands"], items)
                groups.update({n: n for n in names if n not in groups})
            elif cat == "templates":
                groups = {n: items[n].meta["family"] for n in names}
            else:
                groups = {n: n for n in names}
            from_objects = [n for n in names if n.startswith("object_")]
            others = [n for n in names if not n.startswith("object_")]
            test = _holdout(others, groups, holdout_fraction, seed, count_groups=cat == "templates")
            test |= {n for n in from_objects if n.startswith("object_test_")}
            keep = [n for n in names if split == "all" or (n in test) == (split == "test")]
            chosen[cat] = [items[n] for n in keep]
            counts[cat] = {"train": len(names) - len(test), "test": len(test)}
        tnames = sorted(textures)
        ttest = _holdout(tnames, {n: n for n in tnames}, holdout_fraction, seed)
        tkeep = [textures[n] for n in tnames if split == "all" or (n in ttest) == (split == "test")]
        counts["textures"] = {"train": len(tnames) - len(ttest), "test": len(ttest)}

        # generated objects (cigarette, microphone, phone, cup ...) join both splits; the test split gets other seeds
        gen = np.random.default_rng(1000 + seed + (1 if split == "test" else 0))
        chosen.setdefault("objects", []).extend(_procedural_objects(gen, 12))
        # texture pool for patches: mask textures, insides of scarves and objects, generated noise
        pool = list(tkeep)
        for cat in ("scarves", "objects"):
            for s in chosen.get(cat, []):
                tex = _texture_from_sprite(s)
                if tex is not None:
                    pool.append(tex)
        pool.extend(_procedural_textures(gen, 8))
        lib = cls(chosen, pool, split=split, seed=seed)
        lib.split_counts = counts
        lib._wigs = chosen.get("wigs", [])
        return lib

    @classmethod
    def procedural(cls, seed: int = 0) -> "OccluderLibrary":
        """A small library of generated occluders (no files): for tests, CI and as a fallback."""
        rng = np.random.default_rng(seed)
        sprites = {
            "hands": [_procedural_hand(rng, i) for i in range(6)],
            "sunglasses": [_procedural_glasses(rng, i, sun=True) for i in range(5)],
            "eyeglasses": [_procedural_glasses(rng, i, sun=False) for i in range(4)],
            "templates": [_procedural_mask(rng, i) for i in range(4)],
            "scarves": [_procedural_scarf(rng, i) for i in range(3)],
            "objects": _procedural_objects(rng, 10),
            "hats": [],
        }
        lib = cls(sprites, _procedural_textures(rng, 8), split="all", seed=seed)
        lib.split_counts = {c: {"train": len(v), "test": len(v)} for c, v in sprites.items()}
        return lib

    def kinds(self) -> list[str]:
        """The recipes this library can produce."""
        s = self.sprites
        have = {
            "none": True,
            "hand": bool(s["hands"]),
            "sunglasses": bool(s["sunglasses"]),
            "eyeglasses": bool(s["eyeglasses"]),
            "mask": bool(s["templates"] or s["masks"]),
            "scarf": bool(s["scarves"]),
            "object": bool(s["objects"]),
            "patch": True,
            "hair": True,
            "border": True,
        }
        return [k for k in KINDS if have[k]]

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}={len(v)}" for c, v in self.sprites.items() if v)
        return f"OccluderLibrary(split={self.split!r}, {counts}, textures={len(self.textures)})"


def _texture_from_sprite(sprite: Sprite) -> np.ndarray | None:
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
    patch = rgba[y0:cy + r, x0:cx + r]
    if patch.size == 0 or (patch[..., 3] > 250).mean() < 0.9:
        return None
    return cv2.resize(np.ascontiguousarray(patch[..., :3]), (64, 64), interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------------------------------------
# procedural occluders
# --------------------------------------------------------------------------------------------------------------------

_SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96], [161, 102, 68], [117, 71, 46],
                  [84, 52, 36]], np.float32)


def _rgba_canvas(h, w):
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)


def _finish(name, rgb, alpha, meta=None, blur=0.6) -> Sprite:
    if blur:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur)
    rgba = np.dstack([np.clip(rgb, 0, 255), np.clip(alpha, 0, 1) * 255]).astype(np.uint8)
    return _make_sprite(name, rgba, meta, crop=False, bleed=False)  # colours already fill the canvas


def _procedural_hand(rng, i) -> Sprite:
    h, w = 160, 128
    rgb, a = _rgba_canvas(h, w)
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.9, 1.08, 3)
    cx, cy = 64, 100
    cv2.ellipse(a, (cx, cy), (30, 34), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.rectangle(a, (cx - 22, cy + 10), (cx + 22, h), 1.0, -1)
    spread = rng.uniform(4, 14)
    lengths = rng.uniform(0.85, 1.1) * np.array([46, 56, 52, 40])
    for k, (dx, ln) in enumerate(zip((-21, -7, 7, 21), lengths)):
        ang = math.radians(-90 + (k - 1.5) * spread)
        x0, y0 = cx + dx, cy - 22
        x1, y1 = x0 + ln * math.cos(ang), y0 + ln * math.sin(ang)
        cv2.line(a, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, int(rng.integers(11, 14)), cv2.LINE_AA)
    tang = math.radians(rng.uniform(-170, -130))
    tx0, ty0 = cx - 24, cy + 5
    cv2.line(a, (tx0, ty0), (int(tx0 + 40 * math.cos(tang)), int(ty0 + 40 * math.sin(tang))), 1.0, 14, cv2.LINE_AA)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    shade = 0.85 + 0.25 * (xx / w) + 0.05 * np.sin(yy / 9.0)
    rgb[:] = skin[None, None] * shade[..., None]
    crease = np.zeros((h, w), np.float32)
    for k in range(3):
        cv2.line(crease, (cx - 14 + 14 * k, cy - 24), (cx - 14 + 14 * k, cy - 50), 1.0, 1, cv2.LINE_AA)
    rgb *= (1 - 0.25 * cv2.GaussianBlur(crease, (0, 0), 1.0))[..., None]
    return _finish(f"proc_hand_{i}", rgb, a)


def _procedural_glasses(rng, i, sun: bool) -> Sprite:
    h, w = 48, 128
    rgb, a = _rgba_canvas(h, w)
    frame_col = rng.uniform(0, 60, 3) if rng.random() < 0.7 else rng.uniform(0, 255, 3)
    ax, ay = int(rng.integers(22, 27)), int(rng.integers(13, 19))
    centres = ((33, 24), (95, 24))
    thick = int(rng.integers(2, 5)) if sun else int(rng.integers(1, 3))
    if sun:
        lens_col = rng.uniform(0, 70, 3) if rng.random() < 0.7 else rng.uniform(0, 200, 3)
        lens_alpha = rng.uniform(0.8, 1.0)
        for c in centres:
            cv2.ellipse(a, c, (ax, ay), 0, 0, 360, lens_alpha, -1, cv2.LINE_AA)
            cv2.ellipse(rgb, c, (ax, ay), 0, 0, 360, lens_col.tolist(), -1, cv2.LINE_AA)
        yy = np.arange(h, dtype=np.float32)[:, None, None] / h
        rgb *= 0.8 + 0.4 * yy  # gradient tint
        # a highlight
        hl = np.zeros((h, w), np.float32)
        cv2.ellipse(hl, (26, 16), (8, 3), -20, 0, 360, 1.0, -1, cv2.LINE_AA)
        rgb += 60 * cv2.GaussianBlur(hl, (0, 0), 2)[..., None]
    fr = np.zeros((h, w), np.float32)
    for c in centres:
        cv2.ellipse(fr, c, (ax, ay), 0, 0, 360, 1.0, thick, cv2.LINE_AA)
    cv2.line(fr, (33 + ax - 2, 20), (95 - ax + 2, 20), 1.0, thick, cv2.LINE_AA)
    cv2.line(fr, (0, 18), (33 - ax + 1, 20), 1.0, thick, cv2.LINE_AA)
    cv2.line(fr, (w - 1, 18), (95 + ax - 1, 20), 1.0, thick, cv2.LINE_AA)
    rgb = rgb * (1 - fr[..., None]) + frame_col * fr[..., None]
    a = np.maximum(a, fr)
    return _finish(f"proc_{'sun' if sun else 'eye'}glasses_{i}", rgb, a, blur=0.4)


def _procedural_mask(rng, i) -> Sprite:
    h, w = 170, 210
    rgb, a = _rgba_canvas(h, w)
    anchors = np.array([[10, 40], [105, 8], [200, 40], [22, 120], [105, 165], [188, 120]], np.float32)
    t = np.linspace(0, 1, 9)[:, None]
    top = [(1 - t) ** 2 * anchors[0] + 2 * (1 - t) * t * np.array([55, 0]) + t ** 2 * anchors[1],
           (1 - t) ** 2 * anchors[1] + 2 * (1 - t) * t * np.array([155, 0]) + t ** 2 * anchors[2]]
    bottom = [(1 - t) ** 2 * anchors[5] + 2 * (1 - t) * t * np.array([170, 160]) + t ** 2 * anchors[4],
              (1 - t) ** 2 * anchors[4] + 2 * (1 - t) * t * np.array([40, 160]) + t ** 2 * anchors[3]]
    poly = np.concatenate(top + [anchors[2:3]] + bottom + [anchors[3:4]])
    cv2.fillPoly(a, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    palette = np.array([[150, 200, 230], [235, 235, 235], [30, 30, 35], [120, 170, 150], [200, 80, 90]], np.float32)
    col = palette[i % len(palette)] * rng.uniform(0.9, 1.1)
    rgb[:] = col
    for y in (60, 90, 120):  # pleats
        cv2.line(rgb, (20, y), (190, y + 5), (col * 0.8).tolist(), 2, cv2.LINE_AA)
    return _finish(f"proc_mask_{i}", rgb, a, {"anchors": anchors, "family": "proc"})


def _procedural_scarf(rng, i) -> Sprite:
    h, w = 110, 160
    rgb, a = _rgba_canvas(h, w)
    a[:] = 1.0
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    period = rng.uniform(8, 24)
    stripes = (np.sin((yy + 0.3 * xx) * 2 * np.pi / period) > 0).astype(np.float32)
    rgb[:] = c1 * stripes[..., None] + c2 * (1 - stripes[..., None])
    rgb *= (0.85 + 0.15 * np.sin(xx / 2.0) * np.sin(yy / 2.0))[..., None]  # knit
    return _finish(f"proc_scarf_{i}", rgb, a, blur=0)


def _procedural_objects(rng, n) -> list[Sprite]:
    makers = (_obj_phone, _obj_cup, _obj_microphone, _obj_cigarette, _obj_bottle, _obj_ball)
    return [makers[i % len(makers)](rng, i) for i in range(n)]


def _obj_phone(rng, i):
    h, w = 140, 72
    rgb, a = _rgba_canvas(h, w)
    cv2.rectangle(a, (2, 2), (w - 3, h - 3), 1.0, -1)
    a = cv2.GaussianBlur(a, (0, 0), 2.5)
    a = (a > 0.5).astype(np.float32)
    body = rng.uniform(10, 60, 3) if rng.random() < 0.6 else rng.uniform(120, 240, 3)
    rgb[:] = body
    if rng.random() < 0.6:  # screen side
        yy = np.linspace(0, 1, h - 20, dtype=np.float32)[:, None, None]
        scr = rng.uniform(0, 255, 3) * (1 - yy) + rng.uniform(0, 255, 3) * yy
        rgb[10:h - 10, 5:w - 5] = scr[:, :1] * np.ones((1, w - 10, 1), np.float32)
    else:  # back with camera
        cv2.circle(rgb, (16, 16), 7, (20, 20, 20), -1, cv2.LINE_AA)
    return _finish(f"proc_phone_{i}", rgb, a, {"subkind": "phone"}, blur=0.5)


def _obj_cup(rng, i):
    h, w = 110, 120
    rgb, a = _rgba_canvas(h, w)
    poly = np.array([[10, 5], [90, 5], [80, 105], [20, 105]], np.int32)
    cv2.fillPoly(a, [poly], 1.0, cv2.LINE_AA)
    cv2.ellipse(a, (92, 50), (20, 26), 0, -90, 90, 1.0, 9, cv2.LINE_AA)
    col = rng.uniform(40, 250, 3)
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    rgb[:] = col * (1.0 - 0.35 * xx ** 2)
    cv2.ellipse(rgb, (50, 7), (40, 5), 0, 0, 360, (col * 0.5).tolist(), -1, cv2.LINE_AA)
    return _finish(f"proc_cup_{i}", rgb, a, {"subkind": "cup"})


def _obj_microphone(rng, i):
    h, w = 170, 60
    rgb, a = _rgba_canvas(h, w)
    cv2.circle(a, (30, 30), 27, 1.0, -1, cv2.LINE_AA)
    cv2.fillPoly(a, [np.array([[18, 52], [42, 52], [36, h - 1], [24, h - 1]], np.int32)], 1.0, cv2.LINE_AA)
    handle = rng.uniform(10, 50, 3)
    rgb[:] = handle
    yy, xx = np.mgrid[:60, :60].astype(np.float32)
    mesh = 140 + 50 * ((np.sin(xx * 1.6) * np.sin(yy * 1.6)) > 0) - 60 * (((xx - 30) ** 2 + (yy - 30) ** 2) / 900)
    rgb[:60] = mesh[..., None] * np.ones(3, np.float32)
    return _finish(f"proc_mic_{i}", rgb, a, {"subkind": "microphone"})


def _obj_cigarette(rng, i):
    h, w = 14, 120
    rgb, a = _rgba_canvas(h, w)
    cv2.rectangle(a, (0, 3), (w - 1, 10), 1.0, -1)
    rgb[:] = (240, 238, 230)
    filt = rng.uniform(0, 1) < 0.7
    rgb[:, :35] = (210, 150, 80) if filt else (240, 238, 230)
    rgb[:, w - 8:] = (150, 60, 30) if rng.random() < 0.5 else (90, 90, 90)
    yy = np.abs(np.arange(h, dtype=np.float32) - 6.5)[:, None, None] / 4
    rgb *= 1 - 0.25 * yy
    return _finish(f"proc_cigarette_{i}", rgb, a, {"subkind": "cigarette"}, blur=0.4)


def _obj_bottle(rng, i):
    h, w = 180, 64
    rgb, a = _rgba_canvas(h, w)
    cv2.rectangle(a, (22, 0), (42, 40), 1.0, -1)
    cv2.fillPoly(a, [np.array([[22, 40], [42, 40], [60, 75], [60, h - 1], [4, h - 1], [4, 75]], np.int32)], 1.0,
                 cv2.LINE_AA)
    col = rng.uniform(20, 230, 3)
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    rgb[:] = col * (1.0 - 0.4 * xx ** 2) + 60 * np.exp(-((xx + 0.4) ** 2) / 0.01)
    rgb[100:140] = rng.uniform(0, 255, 3)  # label
    return _finish(f"proc_bottle_{i}", rgb, a, {"subkind": "cup"})


def _obj_ball(rng, i):
    s = 100
    rgb, a = _rgba_canvas(s, s)
    cv2.circle(a, (50, 50), 47, 1.0, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[:s, :s].astype(np.float32)
    col = rng.uniform(30, 250, 3)
    light = 1.15 - 0.6 * (((xx - 35) ** 2 + (yy - 35) ** 2) / 5000)
    rgb[:] = col * light[..., None]
    return _finish(f"proc_ball_{i}", rgb, a, {"subkind": "fruit"})


def _procedural_textures(rng, n) -> list[np.ndarray]:
    out = []
    yy, xx = np.mgrid[:64, :64].astype(np.float32)
    for i in range(n):
        kind = i % 4
        c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        if kind == 0:  # low-frequency noise
            noise = cv2.resize(rng.random((6, 6)).astype(np.float32), (64, 64), interpolation=cv2.INTER_CUBIC)
            t = np.clip(noise, 0, 1)[..., None]
        elif kind == 1:  # stripes
            t = (np.sin((xx * rng.uniform(-1, 1) + yy) / rng.uniform(2, 6)) > 0).astype(np.float32)[..., None]
        elif kind == 2:  # checks
            p = rng.uniform(5, 14)
            t = (((xx // p) + (yy // p)) % 2)[..., None]
        else:  # gradient with grain
            t = (xx / 64)[..., None] + rng.normal(0, 0.08, (64, 64, 1)).astype(np.float32)
        out.append(np.clip(c1 * t + c2 * (1 - t), 0, 255).astype(np.uint8))
    return out


# --------------------------------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------------------------------


class _Face:
    """Face frame from 5 landmarks: x in inter-ocular distances along the eye line, y in eye-to-mouth distances."""

    def __init__(self, landmarks: np.ndarray, size: int):
        lm = np.asarray(landmarks, np.float32).reshape(5, 2)
        self.lm = lm
        self.size = size
        self.eyes = lm[:2]
        self.eye_mid = (lm[0] + lm[1]) / 2
        self.mouth_mid = (lm[3] + lm[4]) / 2
        d = lm[1] - lm[0]
        self.iod = max(float(np.hypot(*d)), 1e-3)
        self.u = d / self.iod
        self.v = np.array([-self.u[1], self.u[0]], np.float32)
        self.angle = math.degrees(math.atan2(d[1], d[0]))
        self.em = max(float((self.mouth_mid - self.eye_mid) @ self.v), 0.3 * self.iod)
        self.yaw = float((lm[2] - self.eye_mid) @ self.u) / self.iod
        self.unit = size / CROP_SIZE

    def pt(self, x, y) -> np.ndarray:
        return (self.eye_mid + x * self.iod * self.u + y * self.em * self.v).astype(np.float32)


def _affine(scale: float, angle_deg: float, src_pt, dst_pt, sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
    """3x3 matrix: scale (with optional anisotropy sx, sy in source axes), rotate, and move src_pt onto dst_pt."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    lin = scale * np.array([[c, -s], [s, c]], np.float64) @ np.diag([sx, sy])
    t = np.asarray(dst_pt, np.float64) - lin @ np.asarray(src_pt, np.float64)
    m = np.eye(3)
    m[:2, :2], m[:2, 2] = lin, t
    return m


def _flip_matrix(width: float) -> np.ndarray:
    return np.array([[-1.0, 0, width - 1], [0, 1, 0], [0, 0, 1]])


def _apply(m: np.ndarray, p) -> np.ndarray:
    p = np.asarray(p, np.float64)
    q = m[:2, :2] @ p + m[:2, 2]
    return q.astype(np.float32)


def _warp(sprite: Sprite, m: np.ndarray, size: int, perspective: bool = False):
    """Render a sprite into the crop frame with the 3x3 matrix ``m`` (level-0 pixels -> crop pixels)."""
    scale = math.sqrt(abs(np.linalg.det(m[:2, :2]))) if not perspective else _persp_scale(m, sprite)
    level = sprite.levels[0]
    for f, img in sprite.levels:
        if f >= scale * 0.9:
            level = (f, img)
    f, img = level
    mk = m @ np.diag([1.0 / f, 1.0 / f, 1.0])
    if perspective:
        out = cv2.warpPerspective(img, mk, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=0)
    else:
        out = cv2.warpAffine(img, mk[:2], (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    out = out.astype(np.float32)
    return out[..., :3], out[..., 3] * (1.0 / 255.0)


def _persp_scale(m: np.ndarray, sprite: Sprite) -> float:
    w, h = sprite.size
    c = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    c = c[:, :2] / c[:, 2:3]
    return max(float(np.linalg.norm(c[1] - c[0])) / w, float(np.linalg.norm(c[2] - c[0])) / h)


# --------------------------------------------------------------------------------------------------------------------
# the synthesis
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Synthesized:
    """One synthetic sample. ``occluders`` has a 0/1 value for each of ``OCCLUDER_TYPES``."""

    image: np.ndarray  # HxWx3 uint8 RGB, same size as the input crop
    occlusion: np.ndarray  # HxW float32 in [0, 1]: pixel covered by an occluder (clear eyeglasses: 0)
    occluders: dict  # {"mask": 0/1, "sunglasses": ..., "eyeglasses": ..., "hand": ..., "other": ...}
    kind: str  # recipe of the main occluder: one of KINDS
    layers: tuple = ()  # every recipe pasted, in paste order (two when a second occluder was added)
    modes: tuple = ()  # the recipes' sub-modes, e.g. "hair:strands", "hair:strands_forehead", "object:mouth_corner"


class _Frame:
    """Per-size constants: part masks as a matrix, pixel grids."""

    _cache: dict = {}

    @classmethod
    def get(cls, size: int) -> "_Frame":
        fr = cls._cache.get(size)
        if fr is None:
            fr = cls._cache[size] = cls(size)
        return fr

    def __init__(self, size: int):
        masks = part_masks(size)
        self.names = PART_NAMES + ("face",)
        self.matrix = np.stack([masks[n].ravel() for n in self.names]).astype(np.float32)
        self.sums = np.maximum(self.matrix.sum(1), 1e-6)
        self.face = masks["face"]
        self.face_w = masks["face"].ravel() / max(float(masks["face"].sum()), 1e-6)
        yy, xx = np.mgrid[:size, :size].astype(np.float32)
        self.xx, self.yy = xx, yy
        # skin: cheeks and nose, where a hand's colour is compared with the face's
        t = TEMPLATE * (size / CROP_SIZE)
        skin = masks["nose"].copy()
        iod = float(np.linalg.norm(t[1] - t[0]))
        for eye, corner in ((t[0], t[3]), (t[1], t[4])):
            c = 0.5 * (eye + corner)
            cv2.circle(skin, (int(c[0]), int(c[1])), max(1, int(0.16 * iod)), 1.0, -1)
        self.skin_w = skin.ravel() / max(float(skin.sum()), 1e-6)
        # the inner-face ellipse in face units (x: inter-ocular distances, y: eye-to-mouth distances from the eyes)
        ys, xs = np.nonzero(masks["face"] > 0.5)
        eye_mid, mouth_mid = (t[0] + t[1]) / 2, (t[3] + t[4]) / 2
        em = float(mouth_mid[1] - eye_mid[1])
        self.face_centre = (((xs.min() + xs.max()) / 2 - eye_mid[0]) / iod, ((ys.min() + ys.max()) / 2 - eye_mid[1]) / em)
        self.face_radii = ((xs.max() - xs.min() + 1) / 2 / iod, (ys.max() - ys.min() + 1) / 2 / em)
        self.face_top = float((ys.min() - eye_mid[1]) / em)


def _fractions(occ: np.ndarray, frame: _Frame) -> np.ndarray:
    """Covered fraction of each part and of the face (order: PART_NAMES + face)."""
    return (frame.matrix @ occ.ravel()) / frame.sums


def _is_occluding(fr: np.ndarray) -> bool:
    return bool(fr[-1] >= OCCLUDED_COVERAGE or fr[:-1].max() > OCCLUDED_PART)


class _Ctx:
    def __init__(self, crop, landmarks, library, rng):
        self.size = crop.shape[0]
        self.img = crop.astype(np.float32)
        self.occ = np.zeros(crop.shape[:2], np.float32)
        self.face = _Face(landmarks, self.size)
        self.frame = _Frame.get(self.size)
        self.lib = library
        self.rng = rng
        self.flags = {t: 0.0 for t in OCCLUDER_TYPES}
        self.contrib: dict[str, float] = {}
        self.face_mean = self.frame.skin_w @ self.img.reshape(-1, 3)
        self.crop = crop
        self._blur = None
        self.hand_p = _HAND_P_ARRAY  # hand pose probabilities (synthesize's hand_weights replace them)
        self.modes: list[str] = []  # sub-modes drawn by the recipes ("hair:strands", "object:mouth_corner", ...)

    @property
    def blur(self) -> float:
        """Blur (sigma, px) that makes a pasted occluder about as sharp as the crop."""
        if self._blur is None:
            gray = cv2.cvtColor(self.crop, cv2.COLOR_RGB2GRAY)
            lap = float(np.abs(cv2.Laplacian(gray, cv2.CV_16S)).mean())  # weak second derivative: a blurry crop
            self._blur = max(0.0, 1.2 - 0.09 * lap) * self.face.unit
        return self._blur

    def u(self, a, b):
        return float(self.rng.uniform(a, b))

    def chance(self, p):
        return bool(self.rng.random() < p)

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]


def _match_colour(ctx: _Ctx, rgb: np.ndarray, alpha: np.ndarray, mode: str, sl=None) -> np.ndarray:
    """Shift the occluder's colour / brightness toward the face's, with a side light and a random gamma."""
    w = float(alpha.sum())
    if w < 1.0:
        return rgb
    mean = (alpha.reshape(-1) @ rgb.reshape(-1, 3)) / w
    if mode == "skin":  # a person's hand has about the skin colour and light of their face
        gain = ((ctx.face_mean + 10) / (mean + 10)) ** ctx.u(0.35, 0.9)
    elif mode == "lum":
        lf, lo = float(ctx.face_mean.mean()), float(mean.mean())
        gain = np.full(3, ((lf + 10) / (lo + 10)) ** ctx.u(0.1, 0.55), np.float32)
    else:
        gain = np.ones(3, np.float32)
    gain = np.clip(gain * ctx.u(0.85, 1.12), 0.4, 2.5).astype(np.float32)
    rgb = rgb * gain
    if ctx.chance(0.35):  # light from one side
        fr = ctx.frame
        xx, yy = (fr.xx[sl], fr.yy[sl]) if sl is not None else (fr.xx, fr.yy)
        d = ctx.u(-0.35, 0.35) / ctx.size
        ang = ctx.u(0, 2 * math.pi)
        rgb *= (1 + d * ((xx - ctx.size / 2) * math.cos(ang) + (yy - ctx.size / 2) * math.sin(ang)))[..., None]
    if ctx.chance(0.3):
        g = math.exp(ctx.u(-0.25, 0.25))
        lut = (255 * (np.arange(256) / 255.0) ** g).astype(np.uint8)
        rgb = cv2.LUT(cv2.convertScaleAbs(rgb), lut).astype(np.float32)
    return rgb


def _paste(ctx: _Ctx, rgb, alpha, kind: str, colour: str = "lum", shadow: bool = False, occ=None,
           feather: float | None = None, type_: str | None = None, count_always: bool = False) -> None:
    """Blend one occluder layer into the context; update the occlusion map and the occluder types.

    Work is limited to the layer's bounding box (plus the blur margins)."""
    unit = ctx.face.unit
    size = ctx.size
    rows = np.flatnonzero(alpha.max(1) > 1e-3)
    if len(rows) == 0:
        return
    cols = np.flatnonzero(alpha.max(0) > 1e-3)
    sigma = ctx.blur + ctx.u(0.0, 0.45) * unit
    fs = feather if feather is not None else ctx.u(0.3, 0.9) * unit + 0.5 * ctx.blur
    mg = int(3 * max(sigma, fs)) + 2
    y0, y1 = max(rows[0] - mg, 0), min(rows[-1] + mg + 1, size)
    x0, x1 = max(cols[0] - mg, 0), min(cols[-1] + mg + 1, size)
    sl = (slice(y0, y1), slice(x0, x1))
    a = alpha[sl]
    c = _match_colour(ctx, rgb[sl], a, colour, sl)
    if sigma > 0.25:
        c = cv2.GaussianBlur(c, (0, 0), sigma)
    if fs > 0.2:
        a = cv2.GaussianBlur(a, (0, 0), fs)
    if shadow and ctx.chance(0.6):
        ang = ctx.u(0, 2 * math.pi)
        dist = ctx.u(0.04, 0.14) * ctx.face.iod
        full = np.zeros((size, size), np.float32)
        full[sl] = a
        sh = _shift(full, int(round(dist * math.cos(ang))), int(round(dist * math.sin(ang))))
        sh = cv2.GaussianBlur(sh, (0, 0), ctx.u(0.06, 0.18) * ctx.face.iod)
        ctx.img *= (1 - ctx.u(0.2, 0.5) * sh)[..., None]
    a3 = a[..., None]
    region = ctx.img[sl]
    region += (c - region) * a3
    if occ is None:
        occ = np.zeros((size, size), np.float32)
        occ[sl] = np.clip(a * 1.5 - 0.25, 0, 1)
    np.maximum(ctx.occ, occ, out=ctx.occ)
    t = type_ or KIND_TYPE[kind]
    fr = _fractions(occ, ctx.frame)
    ctx.contrib[t] = max(ctx.contrib.get(t, 0.0), float(fr[-1]))
    if count_always or _is_occluding(fr):
        ctx.flags[t] = 1.0


def _region_point(ctx: _Ctx, weights=None) -> np.ndarray:
    """A point on the face, biased to the parts objects usually cover."""
    regions = ("mouth", "chin", "cheek", "eye", "nose", "any")
    p = np.array(weights or (0.35, 0.15, 0.15, 0.15, 0.1, 0.1), np.float64)
    r = regions[int(ctx.rng.choice(len(regions), p=p / p.sum()))]
    f, u = ctx.face, ctx.u
    if r == "mouth":
        return f.pt(u(-0.3, 0.3), u(0.85, 1.15))
    if r == "chin":
        return f.pt(u(-0.3, 0.3), u(1.3, 1.6))
    if r == "cheek":
        return f.pt(ctx.choice((-1, 1)) * u(0.45, 0.85), u(0.3, 0.9))
    if r == "eye":
        return f.pt(ctx.choice((-0.5, 0.5)) + u(-0.2, 0.2), u(-0.15, 0.15))
    if r == "nose":
        return f.pt(f.yaw + u(-0.15, 0.15), u(0.3, 0.6))
    return f.pt(u(-0.8, 0.8), u(-0.3, 1.5))


def _shift(arr: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate by whole pixels, filling with zeros."""
    out = np.zeros_like(arr)
    h, w = arr.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = arr[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _face_centre(ctx: _Ctx) -> np.ndarray:
    cx, cy = ctx.frame.face_centre
    return ctx.face.pt(cx + 0.3 * ctx.face.yaw, cy)


def _outline_point(ctx: _Ctx, top: bool = False) -> np.ndarray:
    """A point just outside the inner-face outline (sides and bottom, or the top)."""
    f = ctx.face
    phi = math.radians(ctx.u(-150, -30) if top else ctx.u(-25, 205))
    rx, ry = ctx.frame.face_radii
    k = ctx.u(1.0, 1.12)
    return (_face_centre(ctx) + k * rx * f.iod * math.cos(phi) * f.u + k * ry * f.em * math.sin(phi) * f.v).astype(np.float32)


# ------------------------------------------------------------------ recipes


HAND_MODES = _HAND_MODES = ("mouth", "eyes", "cheek", "chin", "fingers_eye", "forehead", "outline", "rest", "touch")
_HAND_P = (0.17, 0.10, 0.12, 0.10, 0.10, 0.05, 0.12, 0.11, 0.13)
_HAND_P_ARRAY = np.array(_HAND_P) / sum(_HAND_P)


def hand_pose_probabilities(overrides: dict | None = None) -> np.ndarray:
    """Probabilities of HAND_MODES: the defaults, with ``overrides`` ({pose: weight}) in place, normalised."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(_HAND_MODES))
    if unknown:
        raise ValueError(f"unknown hand pose(s) {unknown} (known: {', '.join(_HAND_MODES)})")
    p = np.array([float(overrides.get(m, d)) for m, d in zip(_HAND_MODES, _HAND_P)])
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"hand pose weights must be >= 0 and not all 0, got {overrides}")
    return p / p.sum()


def _slide(ctx: _Ctx, warp_at, q: np.ndarray, inward: bool, target: float = 0.01):
    """Re-place a layer along the line through its anchor ``q`` and the face centre: outward until it covers less
    than ``target`` of the inner face (a hard negative), or inward until it covers at least ``target`` (a hand
    resting on the cheek or jaw). ``warp_at(point)`` warps the cut-out anchored at a point, so the layer is never
    cut by the crop edge the way shifting pixels would cut it. Returns (rgb, alpha, anchor point used)."""
    f = ctx.face
    d = _face_centre(ctx) - q
    d = d / max(float(np.hypot(*d)), 1e-3)
    d = d if inward else -d
    point = q
    rgb, a = warp_at(q)
    for k in range(1, 25):
        fr = _fractions(a, ctx.frame)
        done = fr[-1] >= target if inward else (fr[-1] < target and fr[:-1].max() < 0.04)
        if done:
            break
        point = (q + d * 0.04 * f.iod * k).astype(np.float32)
        rgb, a = warp_at(point)
    return rgb, a, point


def _capsule_field(ctx: _Ctx, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance of every crop pixel to the segment a-b, position along it 0-1)."""
    fr = ctx.frame
    d = b - a
    length2 = max(float(d @ d), 1e-6)
    t = np.clip(((fr.xx - a[0]) * d[0] + (fr.yy - a[1]) * d[1]) / length2, 0.0, 1.0)
    px, py = a[0] + t * d[0], a[1] + t * d[1]
    return np.hypot(fr.xx - px, fr.yy - py), t


def _skin_tone(ctx: _Ctx, sprite: Sprite) -> np.ndarray:
    """A hand colour: the cut-out's own skin pulled toward the face's (same person, same light)."""
    rgba = sprite.rgba.astype(np.float32)
    w = rgba[..., 3].ravel() / 255.0
    own = (w @ rgba[..., :3].reshape(-1, 3)) / max(float(w.sum()), 1.0)
    k = ctx.u(0.7, 1.0)
    tone = (ctx.face_mean + 8) ** k * (own + 8) ** (1 - k) - 8
    return np.clip(tone * np.array([ctx.u(0.98, 1.06), ctx.u(0.95, 1.02), ctx.u(0.93, 1.01)], np.float32)
                   * ctx.u(0.92, 1.1), 20, 250)


def _touch(ctx: _Ctx, sprite: Sprite) -> None:
    """Fingers in contact with the face, the way real hands rest on it: fingertips pressed into a cheek, curled
    fingers or knuckles under the chin, a finger across the lips. Drawn finger by finger (rounded, shaded across
    their width, creases, nails), each from a hand whose palm stays outside the inner face; the colour comes from a
    hand cut-out pulled toward the face's skin, so held-out cut-outs give held-out tones."""
    f, u = ctx.face, ctx.u
    size = ctx.size
    width = f.iod * u(0.22, 0.32)  # an adult finger is about a quarter of the inter-ocular distance... and a bit
    pose = ctx.choice(("cheek", "cheek", "chin", "lips", "jaw"))
    side = ctx.choice((-1, 1))
    fingers = []  # (base, tip, width)
    if pose == "cheek":  # fingertips from the side or from below, into the cheek
        tip_c = f.pt(side * u(0.55, 0.95), u(0.35, 1.15))
        ang = math.radians(f.angle + (180 if side > 0 else 0) + side * u(-60, 25))  # pointing inward, up or down
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = int(ctx.rng.integers(1, 5))
        length = f.iod * u(0.7, 1.3)
    elif pose == "chin":  # curled fingers / knuckles under the chin: short fingers nearly across the chin
        tip_c = f.pt(u(-0.3, 0.3), u(1.45, 1.75))
        ang = math.radians(f.angle + (0 if side > 0 else 180) + u(-25, 25) - 90 * u(0.0, 0.35))
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = int(ctx.rng.integers(2, 5))
        length = f.iod * u(0.5, 0.9)
    elif pose == "lips":  # an index finger (and maybe the next) up over the lips
        tip_c = f.pt(u(-0.2, 0.2), u(0.75, 1.0))
        ang = math.radians(f.angle - 90 + u(-25, 25))
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = 1 if ctx.chance(0.7) else 2
        length = f.iod * u(0.9, 1.5)
    else:  # jaw: fingers along the jaw line, tips reaching onto the lower cheek
        tip_c = f.pt(side * u(0.4, 0.75), u(1.1, 1.55))
        ang = math.radians(f.angle + (180 if side > 0 else 0) + side * u(15, 55))
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = int(ctx.rng.integers(2, 5))
        length = f.iod * u(0.7, 1.2)
    normal = np.array([-direction[1], direction[0]], np.float32)
    spacing = width * u(0.85, 1.0)
    for k in range(n):
        off = (k - (n - 1) / 2) * spacing
        ln = length * (1.0 - 0.18 * abs(k - (n - 1) / 2) / max(n / 2, 1)) * u(0.9, 1.08)
        tip = tip_c + normal * off - direction * (length - ln) * 0.5
        fingers.append((tip - direction * ln, tip, width * u(0.9, 1.08)))
    # the hand behind the fingers: its body continues away from the fingertips (outside the inner face, mostly)
    base_c = np.mean([b for b, _, _ in fingers], axis=0)
    palm_len = f.iod * u(0.9, 1.6)
    palm_w = max(n * spacing, width * 2.2) * u(1.0, 1.25)
    alpha = np.zeros((size, size), np.float32)
    shade = np.ones((size, size), np.float32)
    dist, t = _capsule_field(ctx, base_c, base_c - direction * palm_len)
    palm = np.clip((palm_w / 2 - dist) / (0.6 * f.unit) + 0.5, 0, 1)
    alpha = np.maximum(alpha, palm)
    shade = np.where(palm > 0, 0.9 + 0.1 * (1 - np.clip(dist / (palm_w / 2), 0, 1) ** 2), shade)
    nails = ctx.chance(0.5)  # the back of the hand toward the camera
    for base, tip, w in fingers:
        dist, t = _capsule_field(ctx, base - direction * width, tip)
        a = np.clip((w / 2 - dist) / (0.5 * f.unit) + 0.5, 0, 1)
        r = np.clip(dist / (w / 2), 0, 1)
        s_f = 1.04 - 0.3 * r ** 2 + 0.04 * (1 - r) ** 4  # round across the width, darker at the edges
        if ctx.chance(0.6):  # knuckle creases
            for c in (u(0.35, 0.5), u(0.65, 0.8)):
                s_f = s_f * (1 - u(0.04, 0.1) * np.exp(-((t - c) * length / (0.03 * f.iod)) ** 2) * (r < 0.8))
        if nails:
            nd, _ = _capsule_field(ctx, tip - direction * 0.42 * w, tip - direction * 0.12 * w)
            s_f = s_f * (1 + 0.12 * np.clip((0.3 * w - nd) / (0.5 * f.unit) + 0.5, 0, 1))
        shade = np.where(a > alpha * 0.5, s_f, shade)  # later fingers are in front
        alpha = np.maximum(alpha, a)
    tone = _skin_tone(ctx, sprite)
    rgb = shade[..., None] * tone[None, None, :]
    rgb = rgb * (1 + 0.03 * ctx.rng.standard_normal((size, size, 1)).astype(np.float32))
    _paste(ctx, rgb.astype(np.float32), alpha, "hand", colour="keep", shadow=True, feather=0.35 * f.unit)


def _hand(ctx: _Ctx, mode: str | None = None) -> None:
    f, u = ctx.face, ctx.u
    sprite = ctx.choice(ctx.lib.sprites["hands"])
    if mode is None:
        mode = _HAND_MODES[int(ctx.rng.choice(len(_HAND_MODES), p=ctx.hand_p))]
    elif mode not in _HAND_MODES:
        raise ValueError(f"unknown hand mode {mode!r} (known: {', '.join(_HAND_MODES)})")
    if mode == "touch":
        _touch(ctx, sprite)
        return
    w, _ = sprite.size
    m0 = _flip_matrix(w) if ctx.chance(0.5) else np.eye(3)
    wr, tip = _apply(m0, sprite.meta["wrist"]), _apply(m0, sprite.meta["tip"])
    vec = tip - wr
    length_src = max(float(np.hypot(*vec)), 1.0)
    src_dir = math.degrees(math.atan2(vec[1], vec[0]))
    scale = f.iod * u(1.6, 2.7) / length_src
    scale = min(scale, f.iod * 3.0 / max(sprite.size))  # two-hand cut-outs: not wider than the head
    sgn = ctx.choice((-1, 1))
    up = -90 + f.angle
    if mode == "mouth":
        q, theta, fr = f.pt(u(-0.3, 0.3), u(0.85, 1.2)), up - sgn * u(45, 105), u(0.45, 0.75)
    elif mode == "eyes":
        q, theta, fr = f.pt(u(-0.6, 0.6), u(-0.15, 0.2)), up - sgn * u(30, 100), u(0.5, 0.8)
    elif mode == "cheek":
        q, theta, fr = f.pt(sgn * u(0.45, 0.9), u(0.3, 0.95)), up - sgn * u(-15, 45), u(0.45, 0.8)
    elif mode == "chin":
        q, theta, fr = f.pt(u(-0.3, 0.3), u(1.45, 1.9)), up - sgn * u(30, 100), u(0.35, 0.7)
    elif mode == "fingers_eye":
        q = f.pt(sgn * 0.5 + u(-0.2, 0.2), u(-0.2, 0.15))
        theta, fr = up - sgn * u(5, 65), u(0.85, 1.0)
    elif mode == "forehead":
        q, theta, fr = f.pt(u(-0.4, 0.4), u(-1.2, -0.6)), up - sgn * u(60, 110), u(0.4, 0.7)
    elif mode == "rest":  # a hand resting on the cheek, jaw or chin: crosses the outline a little (occluded)
        q = _outline_point(ctx)
        q = q if ctx.chance(0.7) else _outline_point(ctx)  # two tries: sides and bottom are both common
        to_c = _face_centre(ctx) - q
        inward = math.degrees(math.atan2(to_c[1], to_c[0]))
        if ctx.chance(0.5):  # palm against the cheek, fingers up along the face
            theta, fr = inward + ctx.choice((-1, 1)) * u(50, 100), u(0.3, 0.7)
        else:  # fingertips or knuckles pressed into the cheek or chin
            theta, fr = inward + u(-35, 35), u(0.85, 1.0)
        k_scale = scale * u(0.75, 1.0)

        def warp_at(point):
            return _warp(sprite, _affine(k_scale, theta - src_dir, wr + fr * vec, point) @ m0, ctx.size)

        start = _slide(ctx, warp_at, q, inward=False)[2]  # just outside the inner face ...
        rgb, a, _ = _slide(ctx, warp_at, start, inward=True, target=u(0.035, 0.14))  # ... then in
        _paste(ctx, rgb, a, "hand", colour="skin", shadow=True)
        return
    else:  # outline: a hard negative, touches the face outline from outside
        best = None
        for _ in range(3):  # keep a placement where the hand stays in the picture
            q = _outline_point(ctx)
            to_c = _face_centre(ctx) - q
            inward = math.degrees(math.atan2(to_c[1], to_c[0]))
            if ctx.chance(0.5):  # fingers toward the face, touching it
                theta, fr = inward + u(-40, 40), 1.0
            else:  # along the outline (a hand on the side of the head or under the jaw)
                theta, fr = inward + ctx.choice((-1, 1)) * u(60, 110), u(0.4, 0.8)
            k_scale = scale * u(0.75, 1.0)

            def warp_at(point, k_scale=k_scale, theta=theta, fr=fr):
                return _warp(sprite, _affine(k_scale, theta - src_dir, wr + fr * vec, point) @ m0, ctx.size)

            rgb, a, _ = _slide(ctx, warp_at, q, inward=False)
            mass = float(a.sum())
            if best is None or mass > best[2]:
                best = (rgb, a, mass)
            if mass > 0.04 * ctx.size ** 2:
                break
        rgb, a, _ = best
        _paste(ctx, rgb, a, "hand", colour="skin", shadow=True)
        return
    src = wr + fr * vec
    m = _affine(scale, theta - src_dir, src, q) @ m0
    rgb, a = _warp(sprite, m, ctx.size)
    _paste(ctx, rgb, a, "hand", colour="skin", shadow=True)


def _glasses(ctx: _Ctx, sun: bool) -> None:
    f, u = ctx.face, ctx.u
    sprite = ctx.choice(ctx.lib.sprites["sunglasses" if sun else "eyeglasses"])
    w, h = sprite.size
    m0 = _flip_matrix(w) if ctx.chance(0.5) else np.eye(3)
    lenses = np.stack([_apply(m0, p) for p in sprite.meta["lenses"]])
    lenses = lenses[np.argsort(lenses[:, 0])]
    mid = lenses.mean(0)
    lens_d = max(float(lenses[1, 0] - lenses[0, 0]), 1.0)
    width = f.iod * (u(2.0, 2.35) if sun else u(1.95, 2.25))
    scale = width / w
    # keep the lens centres within reach of the eyes whatever the cut-out's margins
    scale = float(np.clip(scale, 0.8 * f.iod / lens_d, 1.3 * f.iod / lens_d))
    drop = u(0.0, 0.12) if (sun or not ctx.chance(0.15)) else u(0.15, 0.3)
    q = f.eye_mid + f.v * f.iod * drop + f.u * f.iod * 0.25 * f.yaw
    m = _affine(scale, f.angle + u(-3, 3), mid, q, 1.0, u(0.9, 1.12)) @ m0
    rgb, a = _warp(sprite, m, ctx.size)
    if sun:
        if ctx.chance(0.3):  # tinted lenses: the eyes show faintly, still an occlusion
            a = a * u(0.6, 0.85)
        occ = np.clip(a / 0.35, 0, 1)
        _paste(ctx, rgb, a, "sunglasses", colour="lum", occ=occ, feather=0.35 * f.unit, count_always=True)
    else:
        if ctx.chance(0.3):  # a faint glare on the lenses
            g = np.zeros((ctx.size, ctx.size), np.float32)
            for e in f.eyes:
                c = e + f.v * f.iod * u(-0.15, 0.05) + f.u * f.iod * u(-0.1, 0.1)
                cv2.ellipse(g, (int(c[0]), int(c[1])), (max(1, int(0.2 * f.iod)), max(1, int(0.09 * f.iod))),
                            f.angle + u(-40, 40), 0, 360, 1.0, -1, cv2.LINE_AA)
            g = cv2.GaussianBlur(g, (0, 0), 0.08 * f.iod) * u(0.1, 0.3)
            ctx.img = ctx.img * (1 - g[..., None]) + 255 * g[..., None]
        _paste(ctx, rgb, a, "eyeglasses", colour="lum", occ=np.zeros_like(a), feather=0.3 * f.unit,
               count_always=True)


def _pseudo_anchors(sprite: Sprite) -> np.ndarray:
    if "anchors" not in sprite.meta:
        x0, y0, x1, y1 = sprite.meta["body"]
        bw, bh, xc = x1 - x0, y1 - y0, (x0 + x1) / 2
        sprite.meta["anchors"] = np.array([[x0, y0 + 0.22 * bh], [xc, y0], [x1, y0 + 0.22 * bh],
                                           [x0 + 0.1 * bw, y0 + 0.75 * bh], [xc, y1], [x1 - 0.1 * bw, y0 + 0.75 * bh]],
                                          np.float32)
    return sprite.meta["anchors"]


def _mask(ctx: _Ctx) -> None:
    f, u = ctx.face, ctx.u
    lib = ctx.lib
    templates, frontal = lib.sprites["templates"], lib.sprites["masks"]
    if templates and (not frontal or ctx.chance(0.75)):
        families = sorted({s.meta.get("family", s.name) for s in templates})
        fam = ctx.choice(families)
        variants = [s for s in templates if s.meta.get("family", s.name) == fam]
        # the variant whose nose bridge sits where this face's nose is (frontal or turned)
        target = 0.5 + 0.9 * f.yaw

        def rel(s):
            an = s.meta["anchors"]
            return float((an[1, 0] - an[0, 0]) / max(an[2, 0] - an[0, 0], 1e-3))
        best = min(abs(rel(s) - target) for s in variants)
        sprite = ctx.choice([s for s in variants if abs(rel(s) - target) <= best + 0.05])
    else:
        sprite = ctx.choice(frontal)
    src = _pseudo_anchors(sprite)
    yaw = f.yaw
    r = ctx.rng.random()
    yb = u(0.15, 0.35) if r < 0.85 else (u(0.55, 0.7) if r < 0.96 else u(1.05, 1.2))  # normal, under the nose, chin
    wl, wr = (0.95 + 1.2 * yaw) * u(0.93, 1.08), (0.95 - 1.2 * yaw) * u(0.93, 1.08)
    side_y = yb + u(0.05, 0.18)
    jaw_y = max(u(1.1, 1.3), yb + 0.4)
    dst = np.array([f.pt(-wl, side_y), f.pt(0.6 * yaw, yb), f.pt(wr, side_y),
                    f.pt(-0.85 * wl, jaw_y), f.pt(0.4 * yaw, max(u(1.65, 1.85), yb + 0.6)), f.pt(0.85 * wr, jaw_y)],
                   np.float32)
    hm, _ = cv2.findHomography(src.astype(np.float32), dst, 0)
    if hm is None:
        return
    rgb, a = _warp(sprite, hm, ctx.size, perspective=True)
    recolourable = sprite.meta.get("family", "frontal") in ("surgical", "cloth", "proc", "frontal")
    if recolourable and ctx.chance(0.35) and float(a.sum()) > 1:
        gray = rgb.mean(2)
        shade = np.clip(gray / max(float((a.ravel() @ gray.ravel()) / a.sum()), 1.0), 0.45, 1.3)[..., None]
        if lib.textures and ctx.chance(0.6):
            tex = ctx.choice(lib.textures)
            k = int(ctx.rng.integers(4))
            tex = cv2.resize(np.rot90(tex, k), None, fx=ctx.size / 112 * u(1.0, 2.0), fy=ctx.size / 112 * u(1.0, 2.0))
            tex = np.tile(tex, (math.ceil(ctx.size / tex.shape[0]), math.ceil(ctx.size / tex.shape[1]), 1))
            fill = tex[:ctx.size, :ctx.size].astype(np.float32)
        else:
            fill = ctx.rng.uniform(0, 255, 3).astype(np.float32)
        rgb = fill * shade
    _paste(ctx, rgb, a, "mask", colour="lum", feather=0.4 * f.unit)


def _face_coords(ctx: _Ctx):
    f, fr = ctx.face, ctx.frame
    dx, dy = fr.xx - f.eye_mid[0], fr.yy - f.eye_mid[1]
    return (dx * f.u[0] + dy * f.u[1]) / f.iod, (dx * f.v[0] + dy * f.v[1]) / f.em


def _scarf(ctx: _Ctx) -> None:
    f, u = ctx.face, ctx.u
    sprite = ctx.choice(ctx.lib.sprites["scarves"])
    w, h = sprite.size
    rot = 90.0 if h > 1.3 * w else 0.0
    bw, bh = (h, w) if rot else (w, h)
    y_top = u(0.2, 1.05) if ctx.chance(0.85) else u(1.1, 1.4)
    corners_y = [((np.array(c, np.float32) - f.eye_mid) @ f.v) / f.em for c in
                 ((0, ctx.size), (ctx.size, ctx.size))]
    y_bot = max(corners_y) + 0.3
    width = f.iod * u(2.6, 3.6)
    height = (y_bot - y_top + 0.25) * f.em
    centre = f.pt(u(-0.15, 0.15), (y_top - 0.25 + y_bot) / 2)
    sx, sy = width / bw, height / bh
    # limit the stretch: a long scarf is cut rather than squashed
    ratio = sy / sx
    if ratio > 2.0:
        sy = sx * 2.0
    elif ratio < 0.5:
        sx = sy * 2.0
    m = _affine(1.0, f.angle + rot + u(-6, 6), (w / 2, h / 2), centre, sx if not rot else sy, sy if not rot else sx)
    rgb, a = _warp(sprite, m, ctx.size)
    fx, fy = _face_coords(ctx)
    top = y_top + u(0.05, 0.45) * (fx - u(-0.2, 0.2)) ** 2 + u(0, 0.06) * np.sin(fx * u(4, 9) + u(0, 6))
    cut = np.clip((fy - top) / 0.04 + 0.5, 0, 1)
    a = a * cut
    if ctx.chance(0.6):  # folds
        rgb = rgb * (1 + u(0.06, 0.15) * np.sin(fy * u(6, 14) + fx * u(-3, 3) + u(0, 6)))[..., None]
    _paste(ctx, rgb, a, "scarf", colour="lum", feather=0.5 * f.unit)


HAIR_MODES = ("eye", "forehead", "strands", "strands_forehead")
OBJECT_MODES = ("free", "mouth_corner")
#: probability that the object recipe puts the object's tip at a corner of the mouth
OBJECT_MOUTH_CORNER_P = 0.35


def _object_axis(sprite: Sprite, sub: str) -> tuple[np.ndarray, np.ndarray]:
    """(tip, tail) of an object cut-out in its level-0 pixels: the end that goes to the mouth, and the far end."""
    w, h = sprite.size
    if sub == "cigarette":
        return np.array([2.0, h / 2], np.float32), np.array([w - 1.0, h / 2], np.float32)
    if sub == "microphone":
        return np.array([w / 2, 2.0], np.float32), np.array([w / 2, h - 1.0], np.float32)
    if sub == "phone":
        return np.array([w / 2, 2.0], np.float32), np.array([w / 2, h - 1.0], np.float32)
    tip, tail = np.asarray(sprite.meta["tip"], np.float32), np.asarray(sprite.meta["wrist"], np.float32)
    if float(np.hypot(*(tip - tail))) < 2:
        tip, tail = np.array([w / 2, 0.0], np.float32), np.array([w / 2, h - 1.0], np.float32)
    return tip, tail


def _object_mouth_corner(ctx: _Ctx, sprite: Sprite, sub: str) -> None:
    """A cigarette, microphone, phone or other object whose tip overlaps a corner of the mouth by a small to moderate
    amount, coming in from the side or from below at an angle. Pushed a little deeper when the first placement would
    not cover enough of the face to be an occlusion (the tip must be on the lips)."""
    f, u = ctx.face, ctx.u
    w, h = sprite.size
    m0 = _flip_matrix(w) if ctx.chance(0.5) and sub != "cigarette" else np.eye(3)
    tip, tail = (_apply(m0, p) for p in _object_axis(sprite, sub))
    side = ctx.choice((0, 1))
    out = 1.0 if side else -1.0  # lm[3] is on the image left: out = -1 points outward there
    corner = f.lm[3 + side]
    if sub == "cigarette" or ctx.chance(0.6):  # from the side, level or rising a little (a cigarette always)
        t = math.radians(u(-15, 45))
    else:  # from below, at an angle
        t = math.radians(u(50, 80))
    dirn = -out * math.cos(t) * f.u - math.sin(t) * f.v  # direction of travel: tail -> tip, into the corner
    ds = tip - tail
    rot = math.degrees(math.atan2(dirn[1], dirn[0]) - math.atan2(ds[1], ds[0]))
    sy = 1.0
    length = float(np.hypot(*ds))
    if sub == "cigarette":
        scale, sy = f.iod * u(0.9, 1.4) / w, u(1.3, 2.0)  # thin: 3-5 px at 112 px, or it never covers enough
    elif sub == "microphone":
        scale = f.iod * u(0.5, 0.85) / w
    elif sub == "phone":
        scale = f.iod * u(1.6, 2.4) / h
    else:
        scale = f.iod * u(0.7, 1.6) / max(w, h, 1)
    # the tip goes past the corner into the lips by 0 to 0.3 inter-ocular distances
    depth = u(0.0, 0.3) * f.iod

    def render(d):
        q = corner + dirn * d
        m = _affine(scale, rot, tip, q, 1.0, sy) @ m0
        return _warp(sprite, m, ctx.size)

    rgb, a = render(depth)
    mouth = PART_NAMES.index("mouth")
    for step in range(12):  # with a margin: the paste's feathering takes a little of the coverage
        fr = _fractions(np.clip(a * 1.5 - 0.25, 0, 1), ctx.frame)
        if (fr[-1] >= 1.5 * OCCLUDED_COVERAGE or fr[:-1].max() > 1.5 * OCCLUDED_PART) and fr[mouth] > 0.05:
            break
        if depth > 0.4 * f.iod:  # deep enough: a thin object gets a little thicker instead
            sy *= 1.12
        else:
            depth += 0.05 * f.iod
        rgb, a = render(depth)
    ctx.modes.append("object:mouth_corner")
    _paste(ctx, rgb, a, "object", shadow=True, feather=ctx.u(0.3, 0.6) * f.unit + 0.3 * ctx.blur)


def _object(ctx: _Ctx, mode: str | None = None) -> None:
    f, u = ctx.face, ctx.u
    lib = ctx.lib
    if mode == "mouth_corner" or (mode is None and ctx.chance(OBJECT_MOUTH_CORNER_P)):
        # cups and balls are not held at a corner of the mouth
        pool = [s for s in lib.sprites["objects"] if s.meta.get("subkind") not in ("cup", "ball")]
        sprite = ctx.choice(pool or lib.sprites["objects"])
        _object_mouth_corner(ctx, sprite, sprite.meta.get("subkind", "generic"))
        return
    if lib.sprites["hats"] and mode is None and ctx.chance(0.07):  # hat brim above the brows (a negative, mostly)
        sprite = ctx.choice(lib.sprites["hats"])
        x0, y0, x1, y1 = sprite.meta["body"]
        scale = f.iod * u(2.2, 3.0) / max(x1 - x0, 1)
        m = _affine(scale, f.angle + u(-8, 8), ((x0 + x1) / 2, y1), f.pt(u(-0.1, 0.1), ctx.frame.face_top + u(-0.3, 0.02)))
        rgb, a = _warp(sprite, m, ctx.size)
        ctx.modes.append("object:hat")
        _paste(ctx, rgb, a, "object", shadow=True)
        return
    sprite = ctx.choice(lib.sprites["objects"])
    sub = sprite.meta.get("subkind", "generic")
    w, h = sprite.size
    m0 = _flip_matrix(w) if ctx.chance(0.5) and sub != "cigarette" else np.eye(3)
    c = _apply(m0, sprite.meta["centroid"])
    longest = max(w, h)
    outline = ctx.chance(0.12)
    sy = 1.0
    if sub == "cigarette":
        side = ctx.choice((0, 1))
        out = 1 if side else -1  # lm[3] is on the image left
        lip = f.mouth_mid + (f.lm[3 + side] - f.mouth_mid) * u(-0.35, 0.35)  # held between the lips
        ang = f.angle + (0 if out > 0 else 180) + out * u(5, 45)
        scale, src, q, rot = f.iod * u(1.0, 1.5) / w, (2.0, h / 2), lip, ang
        sy = u(1.0, 1.6)  # cigarette or cigar
    elif sub == "microphone":
        scale = f.iod * u(0.55, 0.95) / w
        src, q, rot = (w / 2, w / 2), f.pt(u(-0.35, 0.35), u(1.05, 1.5)), f.angle + u(-30, 30)
    elif sub == "phone":
        scale = f.iod * u(1.8, 2.6) / h
        src = c
        if ctx.chance(0.5):
            q, rot = f.pt(ctx.choice((-1, 1)) * u(0.75, 1.1), u(0.2, 0.9)), f.angle + u(-30, 30)
        else:
            q, rot = _region_point(ctx, (0.2, 0.1, 0.1, 0.3, 0.2, 0.1)), f.angle + u(-35, 35)
    elif sub == "cup":
        scale = f.iod * u(0.9, 1.5) / w
        src, q, rot = (w / 2, 0.0), f.pt(u(-0.3, 0.3), u(0.8, 1.05)), f.angle + u(-40, 40)
    else:
        scale = f.iod * u(0.7, 2.2) / longest
        src, q, rot = c, _region_point(ctx), f.angle + u(-45, 45)
    if outline:
        q = _outline_point(ctx)

    def render(qq):
        m = _affine(scale, rot, _apply(m0, src) if src is not c else c, qq, 1.0, sy) @ m0
        return _warp(sprite, m, ctx.size)

    rgb, a = _slide(ctx, render, q, inward=False)[:2] if outline else render(q)
    ctx.modes.append("object:free")
    _paste(ctx, rgb, a, "object", shadow=True)


def _shape_mask(ctx: _Ctx, centre, radius: float, aspect: float, angle: float) -> np.ndarray:
    m = np.zeros((ctx.size, ctx.size), np.float32)
    if ctx.chance(0.5):
        ax = (int(radius * 16), int(radius * aspect * 16))
        cv2.ellipse(m, (int(centre[0] * 16), int(centre[1] * 16)), ax, angle, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    else:
        n = int(ctx.rng.integers(4, 9))
        t = np.sort(ctx.rng.uniform(0, 2 * math.pi, n))
        r = radius * ctx.rng.uniform(0.6, 1.2, n)
        a = math.radians(angle)
        px, py = r * np.cos(t), r * aspect * np.sin(t)
        pts = np.stack([centre[0] + px * math.cos(a) - py * math.sin(a), centre[1] + px * math.sin(a) + py * math.cos(a)], 1)
        cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    return m


def _patch(ctx: _Ctx) -> None:
    f, u = ctx.face, ctx.u
    q = _region_point(ctx, (0.2, 0.1, 0.2, 0.25, 0.15, 0.1))
    a = _shape_mask(ctx, q, f.iod * u(0.25, 0.8), u(0.5, 1.4), u(0, 180))
    if ctx.lib.textures:
        tex = ctx.choice(ctx.lib.textures)
        tex = np.rot90(tex, int(ctx.rng.integers(4)))
        s = ctx.size
        z = u(1.0, 2.5)
        big = cv2.resize(tex, (int(s * z), int(s * z)), interpolation=cv2.INTER_LINEAR)
        oy, ox = int(ctx.rng.integers(big.shape[0] - s + 1)), int(ctx.rng.integers(big.shape[1] - s + 1))
        rgb = big[oy:oy + s, ox:ox + s].astype(np.float32)
    else:
        rgb = np.broadcast_to(ctx.rng.uniform(0, 255, 3).astype(np.float32), (ctx.size, ctx.size, 3)).copy()
    _paste(ctx, rgb, a, "patch", colour="lum", shadow=True)


_HAIR = np.array([[20, 16, 14], [40, 28, 20], [70, 48, 32], [105, 75, 50], [170, 140, 95], [200, 175, 130],
                  [120, 55, 30], [140, 140, 140]], np.float32)
_HAIR_P = np.array([0.25, 0.25, 0.15, 0.1, 0.08, 0.05, 0.07, 0.05])


_T18 = np.linspace(0, 1, 18, dtype=np.float32)[None, :, None]


def _bezier(p0, p1, p2) -> np.ndarray:
    """Quadratic Bezier curves, (L, 18, 2) from (L, 2) control points."""
    p0, p1, p2 = (np.asarray(p, np.float32)[:, None] for p in (p0, p1, p2))
    t = _T18
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _draw_locks(ctx: _Ctx, alpha, curves: np.ndarray, width: np.ndarray, n_strands: int):
    """Locks of hair along ``curves`` (L, n, 2) with widths (L, n): opaque cores plus strands of uneven
    length (ragged tips and edges). Returns the strands (int32 polylines, 1/16 px) in three shade groups."""
    rng, f = ctx.rng, ctx.face
    nl, n = curves.shape[:2]
    tang = np.empty_like(curves)
    tang[:, 1:-1] = curves[:, 2:] - curves[:, :-2]
    tang[:, 0], tang[:, -1] = curves[:, 1] - curves[:, 0], curves[:, -1] - curves[:, -2]
    tang /= np.maximum(np.sqrt((tang ** 2).sum(-1, keepdims=True)), 1e-3)
    normal = np.stack([-tang[..., 1], tang[..., 0]], -1)
    core_n = max(2, int(n * rng.uniform(0.7, 0.9)))
    half = 0.42 * width[:, :core_n, None]
    c, nm = curves[:, :core_n], normal[:, :core_n]
    polys = np.concatenate([c + nm * half, (c - nm * half)[:, ::-1]], 1)
    cv2.fillPoly(alpha, list(np.round(polys * 16).astype(np.int32)), 1.0, cv2.LINE_AA, 4)
    k = nl * n_strands
    lock = np.repeat(np.arange(nl), n_strands)
    offs = rng.uniform(-0.5, 0.5, (k, 1, 1)).astype(np.float32)
    lens = np.maximum((n * rng.uniform(0.65, 1.0, k)).astype(int), 2)
    phase = rng.uniform(0, 6.28, (k, 1, 1)).astype(np.float32)
    shade = rng.integers(0, 3, k)
    pts = curves[lock] + normal[lock] * (width[lock][..., None] * offs + f.iod * 0.03 * np.sin(_T18 * 9 + phase))
    pts = np.round(pts * 16).astype(np.int32)
    groups = [[], [], []]
    for i in range(k):
        groups[shade[i]].append(pts[i, :lens[i]])
    return groups


#: probability that the hair recipe draws thin, semi-transparent strands in the person's own hair colour
HAIR_STRANDS_P = 0.4
#: a strand pixel counts as covered in the occlusion map where its (combined) alpha is at least this
STRAND_COVER_ALPHA = 0.5


def _own_hair_colour(ctx: _Ctx) -> np.ndarray | None:
    """The person's own hair colour, from the crop's top band (above the brows, top corners included): the median
    of the pixels that look neither like the face's skin nor like a plain light background. None when too few are
    left (a bald head, a wall, a hat): the caller falls back to the ``_HAIR`` palette."""
    s = ctx.size
    band = ctx.crop[: max(2, int(0.16 * s))].reshape(-1, 3).astype(np.float32)
    skin = ctx.face_mean
    skin_like = np.sqrt(((band - skin) ** 2).sum(1)) < 0.22 * float(np.linalg.norm(skin)) + 12
    chroma = band.max(1) - band.min(1)
    background = (chroma < 22) & (band.mean(1) > 130)  # white / grey walls, sky
    unnatural = (band[:, 2] > band[:, 0] + 12) | (band[:, 1] > band[:, 0] + 12)  # blue / green: a background
    keep = band[~skin_like & ~background & ~unnatural]
    if len(keep) < 0.2 * len(band):
        return None
    return np.median(keep, 0).astype(np.float32)


def _hair_strands_layer(ctx: _Ctx, negative: bool):
    """Thin strands (1-3 px at 112 px) falling from the forehead, in clumps with gaps: across one eye to the cheek,
    or (``negative``) a fringe ending above the brows. Returns (rgb, alpha, colour, source of the colour)."""
    f, u, rng = ctx.face, ctx.u, ctx.rng
    own = _own_hair_colour(ctx)
    if own is not None:
        base, source = own * rng.uniform(0.92, 1.08, 3), "own"
    else:
        base, source = _HAIR[int(rng.choice(len(_HAIR), p=_HAIR_P))] * rng.uniform(0.85, 1.15, 3), "palette"
    base = np.clip(base, 0, 255).astype(np.float32)
    size = ctx.size
    alpha = np.zeros((size, size), np.float32)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = base
    side = ctx.choice((-1, 1))
    top = -2.2
    n_clumps = int(rng.integers(3, 7))
    if negative:  # a fringe across the forehead, above the brows
        centres = np.linspace(-u(0.4, 0.9), u(0.4, 0.9), n_clumps) + rng.uniform(-0.1, 0.1, n_clumps)
    else:  # over one eye (the eye at x = side * 0.5)
        centres = side * 0.5 + np.linspace(-u(0.15, 0.35), u(0.15, 0.35), n_clumps) + rng.uniform(-0.06, 0.06, n_clumps)
    sweep = u(-0.5, 0.5)  # the strands come from the parting, sideways
    bend = u(-0.35, 0.35)  # and fall in a common curve
    counts = rng.integers(5, 14, n_clumps)
    k = int(counts.sum())
    spread = np.repeat(rng.uniform(0.02, 0.06, n_clumps), counts)
    x = np.repeat(centres, counts) + rng.normal(0, 1, k) * spread
    if negative:
        ye = ctx.frame.face_top - rng.uniform(0.08, 0.45, k) - 0.25 * (x / 1.2) ** 2
    else:
        ye = np.where(rng.random(k) < 0.85, rng.uniform(0.15, 0.9, k), rng.uniform(-0.05, 0.15, k))
    ends = f.pt(x[:, None] + side * rng.uniform(0.0, 0.25, (k, 1)), ye[:, None])
    starts = f.pt(x[:, None] + sweep + rng.uniform(-0.15, 0.15, (k, 1)), np.full((k, 1), top))
    ctrl = (starts + ends) / 2 + f.u * f.iod * (bend + rng.uniform(-0.08, 0.08, (k, 1)))
    curves = _bezier(starts, ctrl, ends)
    wave = np.sin(_T18[..., 0] * rng.uniform(4, 9, (k, 1)) + rng.uniform(0, 6.3, (k, 1)))
    curves = curves + f.u * f.iod * 0.02 * wave[..., None]
    levels = np.array([0.35, 0.45, 0.55, 0.65, 0.8])  # strand alpha
    lev = rng.integers(0, len(levels), k)
    ss = 4  # drawn 4x supersampled on 8-bit canvases (OpenCV anti-aliases only 8-bit images), then area-downsampled
    th = np.array([3, 4, 4, 5, 6, 8, 10, 12])[rng.integers(0, 8, k)] * max(1, round(f.unit))  # 0.75-3 px at 112 px
    shade = rng.integers(0, 3, k)  # darker, base, lighter
    lens = rng.integers(12, 19, k)  # ragged ends: strands stop at different lengths
    pts = np.round(curves * ss).astype(np.int32)
    # only the strands' bounding box is drawn (speed)
    lo = np.clip(pts.reshape(-1, 2).min(0) // ss - 3, 0, size)
    hi = np.clip(pts.reshape(-1, 2).max(0) // ss + 4, 0, size)
    if (hi <= lo).any():
        return rgb, alpha, base, source
    pts -= (lo * ss).astype(np.int32)
    bw, bh = int(hi[0] - lo[0]), int(hi[1] - lo[1])
    big_a = np.zeros((bh * ss, bw * ss), np.uint8)
    big_c = np.zeros((bh * ss, bw * ss), np.uint8)  # shade of each strand, 128 = the base colour
    body = [pts[i, :max(lens[i] - 4, 2)] for i in range(k)]
    tips = [pts[i, max(lens[i] - 5, 1):lens[i]] for i in range(k)]  # thinner, fainter tips
    tip_lev = np.maximum(lev - 2, 0)
    for li in range(len(levels)):  # weakest first: an overlap keeps the stronger alpha
        val = int(255 * levels[li])
        for t in np.unique(th):
            sel = np.flatnonzero((lev == li) & (th == t))
            if len(sel):
                cv2.polylines(big_a, [body[i] for i in sel], False, val, int(t))
            sel = np.flatnonzero((tip_lev == li) & (th == t))
            if len(sel):
                cv2.polylines(big_a, [tips[i] for i in sel], False, val, max(2, int(t) // 2))
    for si, val in enumerate((96, 128, 164)):
        for t in np.unique(th):
            sel = np.flatnonzero((shade == si) & (th == t))
            if len(sel):
                cv2.polylines(big_c, [pts[i, :lens[i]] for i in sel], False, val, int(t))
    box = (slice(int(lo[1]), int(hi[1])), slice(int(lo[0]), int(hi[0])))
    alpha[box] = cv2.resize(big_a, (bw, bh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    drawn = cv2.resize((big_c > 0).astype(np.float32), (bw, bh), interpolation=cv2.INTER_AREA)
    shade_map = cv2.resize(big_c.astype(np.float32), (bw, bh), interpolation=cv2.INTER_AREA)
    rgb[box] *= np.clip(np.where(drawn > 1e-3, shade_map / np.maximum(drawn, 1e-3) / 128.0, 1.0), 0.6, 1.5)[..., None]
    # a faint veil between the strands of a clump (alone it never counts as covering: alpha < STRAND_COVER_ALPHA)
    veil = np.minimum(cv2.GaussianBlur(alpha, (0, 0), 1.2 * f.unit) * u(0.25, 0.5), 0.3)
    alpha = np.clip(1 - (1 - alpha) * (1 - veil), 0, 0.8)
    return rgb, alpha.astype(np.float32), base, source


def _hair_strands(ctx: _Ctx, negative: bool) -> None:
    rgb, alpha, _, _ = _hair_strands_layer(ctx, negative)
    # Semi-transparent strands: a pixel counts as covered where the strands' alpha is >= STRAND_COVER_ALPHA (0.5);
    # the faint veil and the thin translucent tips stay below it, so the eye showing through them is not "covered".
    occ = (alpha >= STRAND_COVER_ALPHA).astype(np.float32)
    ctx.modes.append("hair:strands_forehead" if negative else "hair:strands")
    _paste(ctx, rgb, alpha, "hair", colour="none", feather=0.0, shadow=False, occ=occ)


def _hair(ctx: _Ctx, negative: bool | None = None, strands: bool | None = None) -> None:
    f, u = ctx.face, ctx.u
    rng = ctx.rng
    if negative is None:
        negative = ctx.chance(0.35)
    if strands is None:
        strands = ctx.chance(HAIR_STRANDS_P)
    if strands:
        _hair_strands(ctx, negative)
        return
    ctx.modes.append("hair:forehead" if negative else "hair:locks")
    base = _HAIR[int(rng.choice(len(_HAIR), p=_HAIR_P))] * rng.uniform(0.85, 1.15, 3)
    if ctx.chance(0.4):  # the colour at the top corners of the crop (often the person's own hair)
        s = ctx.size
        corners = np.concatenate([ctx.img[: s // 6, : s // 6].reshape(-1, 3), ctx.img[: s // 6, -(s // 6):].reshape(-1, 3)])
        col = np.median(corners, 0)
        if col.mean() < 110:
            base = col
    size = ctx.size
    alpha = np.zeros((size, size), np.float32)
    top = -2.2
    ones = np.ones(18, np.float32)
    if negative or ctx.chance(0.3):  # a fringe: above the brows (negative) or straight bangs down to the eyes
        nl = int(rng.integers(4, 8))
        xe = np.linspace(-u(0.5, 1.2), u(0.5, 1.2), nl)
        xe = xe + rng.uniform(-0.12, 0.12, nl)
        span = max(np.abs(xe).max(), 1e-3)
        if negative:
            ye = ctx.frame.face_top - rng.uniform(0.03, 0.45, nl) - 0.3 * (xe / span) ** 2
        else:
            ye = u(-0.2, 0.2) + rng.uniform(-0.08, 0.08, nl) - 0.35 * (xe / span) ** 2
        xs = 0.6 * xe + rng.uniform(-0.3, 0.3, nl)
        ends = np.stack([f.pt(x, y) for x, y in zip(xe, ye)])
        starts = np.stack([f.pt(x, top) for x in xs])
        ctrl = (starts + ends) / 2 + f.u * f.iod * rng.uniform(-0.12, 0.12, (nl, 1))
        widths = f.iod * rng.uniform(0.35, 0.6, (nl, 1)) * ones
        groups = _draw_locks(ctx, alpha, _bezier(starts, ctrl, ends), widths.astype(np.float32), 10)
    else:  # a side-swept lock over one eye, ending at the side of the face
        side = ctx.choice((-1, 1))
        nl = 1 if ctx.chance(0.6) else 2
        starts = np.stack([f.pt(-side * u(0.0, 0.7), top) for _ in range(nl)])
        over = np.stack([f.pt(side * 0.5 + u(-0.25, 0.25), u(-0.05, 0.2)) for _ in range(nl)])
        ends = np.stack([f.pt(side * u(0.9, 1.4), u(0.0, 0.6)) for _ in range(nl)])
        ctrl = 2 * over - 0.5 * (starts + ends)  # the curve passes through `over`
        taper = 1 - (1 - rng.uniform(0.5, 0.9, (nl, 1))) * _T18[0, :, 0][None]
        widths = f.iod * rng.uniform(0.35, 0.75, (nl, 1)) * taper
        groups = _draw_locks(ctx, alpha, _bezier(starts, ctrl, ends), widths.astype(np.float32), 30)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = base
    thick = 1 if f.unit < 1.5 else 2
    for k, factor in enumerate((0.6, 1.0, 1.45)):
        if groups[k]:
            col = np.clip(base * factor * u(0.9, 1.1), 0, 255).tolist()
            cv2.polylines(rgb, groups[k], False, col, thick, cv2.LINE_AA, 4)
            cv2.polylines(alpha, groups[k], False, 1.0, thick, cv2.LINE_AA, 4)
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.35 * f.unit)
    _paste(ctx, rgb, alpha, "hair", colour="none", feather=0.4 * f.unit, shadow=True)


def _border(ctx: _Ctx) -> None:
    f, u = ctx.face, ctx.u
    side = ctx.rng.choice(4, p=[0.28, 0.28, 0.14, 0.30])  # left, right, top, bottom
    negative = ctx.chance(0.2) and side != 3
    if side in (0, 1):
        s = -1 if side == 0 else 1
        rx = ctx.frame.face_radii[0] + abs(ctx.frame.face_centre[0])
        x = s * (rx + u(0.08, 0.6) if negative else u(0.3, rx - 0.05))
        p, n = f.pt(x, u(0, 1.5)), s * f.u
    elif side == 2:
        top = ctx.frame.face_top
        p, n = f.pt(u(-0.5, 0.5), top - u(0.05, 0.8) if negative else u(top + 0.05, 0.35)), -f.v
    else:
        p, n = f.pt(u(-0.5, 0.5), u(0.9, 1.5)), f.v
    a = math.radians(u(-12, 12))
    n = np.array([n[0] * math.cos(a) - n[1] * math.sin(a), n[0] * math.sin(a) + n[1] * math.cos(a)], np.float32)
    fr = ctx.frame
    d = (fr.xx - p[0]) * n[0] + (fr.yy - p[1]) * n[1]
    occ = np.clip(d + 0.5, 0, 1).astype(np.float32)
    r = ctx.rng.random()
    if r < 0.6:  # the aligner replicates the last row of the photo
        back = np.maximum(d + 0.5, 0)
        mx, my = (fr.xx - back * n[0]).astype(np.float32), (fr.yy - back * n[1]).astype(np.float32)
        rgb = cv2.remap(ctx.img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        col = np.zeros(3, np.float32) if r < 0.9 else np.full(3, ctx.u(0, 255), np.float32)  # black, or a grey pad
        rgb = np.broadcast_to(col, ctx.img.shape)
    ctx.img = ctx.img * (1 - occ[..., None]) + rgb * occ[..., None]
    np.maximum(ctx.occ, occ, out=ctx.occ)
    frac = _fractions(occ, ctx.frame)
    ctx.contrib["other"] = max(ctx.contrib.get("other", 0.0), float(frac[-1]))
    if _is_occluding(frac):
        ctx.flags["other"] = 1.0


_RECIPES = {
    "hand": _hand,
    "sunglasses": lambda ctx: _glasses(ctx, True),
    "eyeglasses": lambda ctx: _glasses(ctx, False),
    "mask": _mask,
    "scarf": _scarf,
    "object": _object,
    "patch": _patch,
    "hair": _hair,
    "border": _border,
}
#: paste order: lower layers first (a mask under the glasses, a hand over both)
_Z = {"border": -1, "mask": 0, "scarf": 0, "eyeglasses": 1, "sunglasses": 1, "hair": 2, "patch": 3, "object": 3, "hand": 3}
#: second occluder: probability and candidates
_COMBOS = {
    "sunglasses": (0.22, ("hand", "mask", "object", "scarf")),
    "eyeglasses": (0.3, ("hand", "mask", "object", "scarf", "hair")),
    "mask": (0.2, ("eyeglasses", "sunglasses", "hand")),
    "scarf": (0.2, ("sunglasses", "eyeglasses", "hand")),
    "hand": (0.08, ("sunglasses", "eyeglasses")),
}


_NOISE: dict = {}


def _noise_bank(size: int) -> np.ndarray:
    bank = _NOISE.get(size)
    if bank is None:
        bank = _NOISE[size] = np.random.default_rng(12345).standard_normal((size + 64, size + 64, 3)).astype(np.float32)
    return bank


def _sample_kind(library: OccluderLibrary, rng: np.random.Generator, weights: dict | None) -> str:
    weights = DEFAULT_WEIGHTS if weights is None else weights
    avail = set(library.kinds())
    ks = [k for k in KINDS if weights.get(k, 0) > 0 and k in avail]
    if not ks:
        return "none"
    p = np.array([weights[k] for k in ks], np.float64)
    return ks[int(rng.choice(len(ks), p=p / p.sum()))]


def synthesize(crop: np.ndarray, landmarks: np.ndarray, library: OccluderLibrary, rng: np.random.Generator,
               kind: str | None = None, weights: dict | None = None, second: bool = True,
               postprocess: bool = True, mode: str | None = None, hand_weights: dict | None = None) -> Synthesized:
    """Paste an occluder (recipe ``kind``, or one sampled from ``weights``) onto an aligned RGB crop.

    ``landmarks`` are the crop's 5 points in its pixels. A second occluder is added sometimes
    (sunglasses + hand, mask + eyeglasses, ...) unless ``second`` is False. ``postprocess`` adds the
    global noise / JPEG round-trip that every sample, clean ones included, may get.
    ``mode`` forces a placement of the main recipe: for ``hand`` one of HAND_MODES, for ``hair`` one of HAIR_MODES:
    "eye" (locks over an eye), "forehead" (a fringe above the brows, a negative), "strands" (thin semi-transparent
    strands in the person's hair colour over an eye), "strands_forehead" (the same, above the brows: a negative); for
    ``object`` one of OBJECT_MODES ("mouth_corner": an object's tip at a corner of the mouth; "free": elsewhere). ``hand_weights`` overrides the
    probabilities of the hand poses by name (the others keep theirs, see ``hand_pose_probabilities``).
    """
    crop = np.asarray(crop)
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"crop must be a square HxWx3 image, got shape {crop.shape}")
    if crop.dtype != np.uint8:
        crop = np.clip(crop, 0, 255).astype(np.uint8)
    if kind is None:
        kind = _sample_kind(library, rng, weights)
    elif kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    elif kind not in library.kinds():
        raise ValueError(f"this library cannot make {kind!r} (it can make: {', '.join(library.kinds())})")
    ctx = _Ctx(crop, landmarks, library, rng)
    if hand_weights:
        ctx.hand_p = hand_pose_probabilities(hand_weights)
    layers = [] if kind == "none" else [kind]
    if second and kind in _COMBOS and ctx.chance(_COMBOS[kind][0]):
        extra = [k for k in _COMBOS[kind][1] if k in library.kinds()]
        if extra:
            layers.append(ctx.choice(extra))
    for k in sorted(layers, key=lambda k: _Z[k]):
        if mode is not None and k == kind and k == "hand":
            _hand(ctx, mode)
        elif mode is not None and k == kind and k == "hair":
            if mode not in HAIR_MODES:
                raise ValueError(f"unknown hair mode {mode!r} (known: {', '.join(HAIR_MODES)})")
            _hair(ctx, negative=mode in ("forehead", "strands_forehead"), strands=mode.startswith("strands"))
        elif mode is not None and k == kind and k == "object":
            if mode not in OBJECT_MODES:
                raise ValueError(f"unknown object mode {mode!r} (known: {', '.join(OBJECT_MODES)})")
            _object(ctx, mode)
        else:
            _RECIPES[k](ctx)
    if postprocess and ctx.chance(0.15):  # sensor noise, from a fixed bank (fast, deterministic)
        s = ctx.size
        bank = _noise_bank(s)
        oy, ox = int(rng.integers(bank.shape[0] - s + 1)), int(rng.integers(bank.shape[1] - s + 1))
        ctx.img += bank[oy:oy + s, ox:ox + s] * ctx.u(1, 4)
    image = cv2.convertScaleAbs(ctx.img)  # rounds and saturates to uint8
    if postprocess and ctx.chance(0.25):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    occ = ctx.occ
    fr = _fractions(occ, ctx.frame)
    flags = ctx.flags
    if _is_occluding(fr) and not any(flags[t] for t in OCCLUDER_TYPES if t != "eyeglasses"):
        # two sub-threshold layers together: blame the one covering most
        occluding = {t: c for t, c in ctx.contrib.items() if t != "eyeglasses"}
        if occluding:
            flags[max(occluding, key=occluding.get)] = 1.0
    return Synthesized(image, occ, dict(flags), kind, tuple(layers), tuple(ctx.modes))


def labels_from_mask(occlusion: np.ndarray, occluders: dict | None = None) -> dict:
    """Labels by the rules of OCCLUSION.md from an occlusion map in the canonical frame.

    ``coverage``: fraction of the inner face covered; ``parts``: covered fraction of each part;
    ``occluded``: coverage >= OCCLUDED_COVERAGE, or a part covered more than OCCLUDED_PART, or
    sunglasses present. Clear eyeglasses alone are not an occlusion.
    """
    occ = np.asarray(occlusion, np.float32)
    fr = _fractions(occ, _Frame.get(occ.shape[0]))
    parts = {n: float(v) for n, v in zip(PART_NAMES, fr[:-1])}
    coverage = float(fr[-1])
    sunglasses = bool(occluders and occluders.get("sunglasses", 0) > 0.5)
    occluded = coverage >= OCCLUDED_COVERAGE or max(parts.values()) > OCCLUDED_PART or sunglasses
    return {"occluded": bool(occluded), "parts": parts, "coverage": coverage}


# --------------------------------------------------------------------------------------------------------------------
# contact sheet for a visual check
# --------------------------------------------------------------------------------------------------------------------


def _grid_faces(cache: str | None, images: list[str] | None, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops + landmarks: from a crop cache, from image files, or the astronaut."""
    size = CROP_SIZE
    if cache:
        root = Path(cache)
        crops = np.load(root / "crops.npy", mmap_mode="r")
        lms = np.load(root / "landmarks.npy", mmap_mode="r")
        pool = np.arange(len(crops))
        index = root / "index.csv"
        if index.exists():  # prefer faces without a mask
            import csv

            with open(index, newline="", encoding="utf-8") as fh:
                labels = [row.get("label", "") for row in csv.DictReader(fh)]
            clean = np.array([i for i, lab in enumerate(labels[:len(crops)]) if lab in ("no_mask", "clean")])
            if len(clean):
                pool = clean
        idx = np.random.default_rng(0).permutation(pool)[:limit]
        return np.asarray(crops[np.sort(idx)]), np.asarray(lms[np.sort(idx)], np.float32)
    from .alignment import align_face, transform_points, estimate_transform
    from .detection import FaceDetector

    det = FaceDetector()
    sources = []
    if images:
        for p in images[:limit * 2]:
            img = cv2.imread(p, cv2.IMREAD_COLOR)
            if img is not None:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                pad = img.shape[0] // 3
                sources.append(cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    else:
        from skimage import data

        sources.append(data.astronaut())
    crops, lms = [], []
    for img in sources:
        faces = det.detect(img)
        if not faces:
            continue
        lm = np.asarray(faces[0].landmarks, np.float32)
        crops.append(align_face(img, lm, size))
        lms.append(transform_points(lm, estimate_transform(lm, size)))
        if len(crops) >= limit:
            break
    if not crops:
        raise SystemExit("no face found for the grid")
    return np.stack(crops), np.stack(lms).astype(np.float32)


def render_grid(samples: list[Synthesized], cols: int = 8) -> np.ndarray:
    """RGB contact sheet: each sample with its occlusion outline (green), face region (blue), kind and labels."""
    size = samples[0].image.shape[0]
    face = (part_masks(size)["face"] > 0.5).astype(np.uint8)
    face_cnt, _ = cv2.findContours(face, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cell_h = size + 26
    rows = math.ceil(len(samples) / cols)
    sheet = np.full((rows * cell_h, cols * size, 3), 255, np.uint8)
    for i, s in enumerate(samples):
        r, c = divmod(i, cols)
        tile = s.image.copy()
        cv2.drawContours(tile, face_cnt, -1, (60, 90, 255), 1)
        cnt, _ = cv2.findContours((s.occlusion > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, cnt, -1, (0, 255, 0), 1)
        y0, x0 = r * cell_h, c * size
        sheet[y0:y0 + size, x0:x0 + size] = tile
        lab = labels_from_mask(s.occlusion, s.occluders)
        types = "+".join(t[:3] for t in OCCLUDER_TYPES if s.occluders.get(t)) or "-"
        col = (200, 0, 0) if lab["occluded"] else (0, 120, 0)
        cv2.putText(sheet, "+".join(s.layers) or "none", (x0 + 2, y0 + size + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.32,
                    (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(sheet, f"{'OCC' if lab['occluded'] else 'ok'} {lab['coverage']:.2f} {types}",
                    (x0 + 2, y0 + size + 21), cv2.FONT_HERSHEY_SIMPLEX, 0.32, col, 1, cv2.LINE_AA)
    return sheet


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m faceocc.synthesis", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid", help="write a contact sheet of synthetic samples")
    g.add_argument("--occluders", help="occluders/ folder (default: the procedural library)")
    g.add_argument("--split", default="train", choices=("train", "test", "all"))
    g.add_argument("--out", default="synth_grid.png")
    g.add_argument("--n", type=int, default=48)
    g.add_argument("--cols", type=int, default=8)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--kind", choices=KINDS, help="only this recipe")
    g.add_argument("--mode", help="force a placement of --kind (HAND_MODES, HAIR_MODES or OBJECT_MODES)")
    g.add_argument("--cache", help="crop cache folder with crops.npy + landmarks.npy")
    g.add_argument("--images", nargs="*", help="face photos to detect and align (default: the astronaut)")
    args = ap.parse_args(argv)
    if args.occluders:
        lib = OccluderLibrary.from_folder(args.occluders, split=args.split, seed=0)
    else:
        lib = OccluderLibrary.procedural(args.seed)
    print(lib)
    crops, lms = _grid_faces(args.cache, args.images, args.n)
    rng = np.random.default_rng(args.seed)
    samples = []
    t0 = time.perf_counter()
    for i in range(args.n):
        j = i % len(crops)
        samples.append(synthesize(crops[j], lms[j], lib, rng, kind=args.kind, mode=args.mode))
    dt = (time.perf_counter() - t0) / args.n * 1000
    sheet = render_grid(samples, args.cols)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"{args.out}: {args.n} samples, {dt:.2f} ms per sample")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
