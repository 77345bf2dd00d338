"""OccluderLibrary: the occluder cut-outs by category, from an ``occluders/`` folder or generated."""

from __future__ import annotations

import configparser
import hashlib
import re
from pathlib import Path

import cv2
import numpy as np

from .kinds import KINDS
from .procedural import (
    procedural_glasses,
    procedural_hand,
    procedural_mask,
    procedural_objects,
    procedural_scarf,
    procedural_textures,
)
from .sprites import Sprite, make_sprite, read_rgba, texture_from_sprite

CATEGORIES = ("hands", "sunglasses", "eyeglasses", "scarves", "objects", "masks", "templates", "hats", "textures")
#: folders of plain cut-outs in an ``occluders/`` folder
_CUTOUT_FOLDERS = ("hands", "sunglasses", "eyeglasses", "scarves", "objects", "masks")

# Objects in occluders/objects that are really hands, masks, hats or hair (by file name).
_OBJECT_CLASSES = {
    "object_test_5a1d3d9de92d76": "hands",
    "object_test_5a1d3da5e8b389": "hands",
    "object_test_5a1d3ed25e6028": "hands",
    "object_test_kisspng-finger-hand": "hands",
    "object_test_kisspng-dry-erase-boards-handwriting": "hands",
    "object_test_kisspng-3m-particulate-respirator": "masks",
    "object_train_object (3).": "hands",
    "object_train_object (4).": "hands",
    "object_train_object (5).": "masks",
    "object_train_object (6).": "masks",
    "object_train_object (18).": "masks",
    "object_train_object (19).": "masks",
    "object_train_object (20).": "masks",
    "object_train_object (21).": "masks",
    "object_train_object (12).": "hats",
    "object_train_object (13).": "hats",
    "object_train_object (7).": "wigs",
    "object_train_object (8).": "wigs",
}


def _object_class(name: str) -> str:
    for prefix, cls in _OBJECT_CLASSES.items():
        if name.startswith(prefix):
            return cls
    return "objects"


def _name_hash(text: str, seed: int) -> str:
    return hashlib.md5(f"{seed}:{text}".encode()).hexdigest()


def _holdout(
    names: list[str], groups: dict[str, str], fraction: float, seed: int, count_groups: bool = False
) -> set[str]:
    """Names of the held-out (test) files: whole groups, in hash order, until ``fraction`` of the files
    (or of the groups, with ``count_groups``)."""
    if not names or fraction <= 0:
        return set()
    order = sorted(set(groups[n] for n in names), key=lambda g: _name_hash(g, seed))
    if count_groups:
        keep = set(order[: max(1, round(fraction * len(order)))])
        return {n for n in names if groups[n] in keep}
    target = max(1, round(fraction * len(names)))
    test: set[str] = set()
    for g in order:
        if len(test) >= target:
            break
        test |= {n for n in names if groups[n] == g}
    return test


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


def _load_cutouts(root: Path) -> dict[str, dict[str, Sprite]]:
    """{category: {file name: sprite}} of the plain cut-out folders (objects sorted into their real category)."""
    loaded: dict[str, dict[str, Sprite]] = {}
    for folder in _CUTOUT_FOLDERS:
        for path in sorted((root / folder).glob("*.png")):
            rgba = read_rgba(path)
            if rgba is None:
                continue
            cat = _object_class(path.name) if folder == "objects" else folder
            meta = {"source": folder}
            if cat == "masks":
                meta["subkind"] = "frontal_mask"
            sprite = make_sprite(path.name, rgba, meta)
            if sprite is not None:
                loaded.setdefault(cat, {})[path.name] = sprite
    return loaded


def _load_templates(root: Path) -> dict[str, Sprite]:
    """The MaskTheFace templates of ``mask_templates/masks.cfg``, with their six anchors."""
    templates: dict[str, Sprite] = {}
    cfg_path = root / "mask_templates" / "masks.cfg"
    if not cfg_path.exists():
        return templates
    cfg = configparser.ConfigParser(strict=False)
    cfg.read(cfg_path)
    for section in cfg.sections():
        sec = cfg[section]
        if "template" not in sec or not all(f"mask_{k}" in sec for k in "abcdef"):
            continue
        path = root / "mask_templates" / "templates" / Path(sec["template"]).name
        rgba = read_rgba(path) if path.exists() else None
        if rgba is None:
            continue
        anchors = [[float(v) for v in sec[f"mask_{k}"].split(",")] for k in "abcdef"]
        sprite = make_sprite(path.name, rgba, {"anchors": anchors, "family": _template_family(path.name)})
        if sprite is not None:
            templates[path.name] = sprite
    return templates


def _load_textures(root: Path) -> dict[str, np.ndarray]:
    textures: dict[str, np.ndarray] = {}
    for path in sorted((root / "mask_templates" / "textures").glob("*.png")):
        rgba = read_rgba(path)
        if rgba is not None:
            textures[path.name] = cv2.resize(rgba[..., :3], (96, 96), interpolation=cv2.INTER_AREA)
    return textures


def _split_groups(cat: str, names: list[str], items: dict[str, Sprite]) -> dict[str, str]:
    """The group of each file: files of one group go to the same split."""
    if cat == "hands":
        groups = _hand_groups([n for n in names if items[n].meta["source"] == "hands"], items)
        groups.update({n: n for n in names if n not in groups})
        return groups
    if cat == "templates":
        return {n: items[n].meta["family"] for n in names}
    return {n: n for n in names}


def _keep(name: str, test: set[str], split: str) -> bool:
    return split == "all" or (name in test) == (split == "test")


def _split_cutouts(
    loaded: dict[str, dict[str, Sprite]], split: str, fraction: float, seed: int
) -> tuple[dict[str, list[Sprite]], dict[str, dict[str, int]]]:
    """(the sprites of ``split`` by category, {category: {"train": n, "test": n}}). Cut-outs named ``object_test_*``
    are always held out; templates are held out by family."""
    chosen: dict[str, list[Sprite]] = {}
    counts: dict[str, dict[str, int]] = {}
    for cat, items in loaded.items():
        names = sorted(items)
        groups = _split_groups(cat, names, items)
        from_objects = [n for n in names if n.startswith("object_")]
        others = [n for n in names if not n.startswith("object_")]
        test = _holdout(others, groups, fraction, seed, count_groups=cat == "templates")
        test |= {n for n in from_objects if n.startswith("object_test_")}
        chosen[cat] = [items[n] for n in names if _keep(n, test, split)]
        counts[cat] = {"train": len(names) - len(test), "test": len(test)}
    return chosen, counts


class OccluderLibrary:
    """Occluder cut-outs by category (``hands``, ``sunglasses``, ``eyeglasses``, ``scarves``, ``objects``,
    ``masks`` (frontal mask pictures), ``templates`` (MaskTheFace, with anchors), ``hats``, ``textures``)."""

    def __init__(
        self,
        sprites: dict[str, list[Sprite]] | None = None,
        textures: list[np.ndarray] | None = None,
        split: str = "all",
        seed: int = 0,
    ):
        self.sprites: dict[str, list[Sprite]] = {c: [] for c in CATEGORIES}
        for c, lst in (sprites or {}).items():
            self.sprites.setdefault(c, []).extend(lst)
        self.textures = list(textures or [])  # RGB uint8 squares, for patches and mask recolouring
        self.split = split
        self.seed = seed
        self.split_counts: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_folder(cls, root, split: str = "train", holdout_fraction: float = 0.2, seed: int = 0) -> OccluderLibrary:
        """Load the cut-outs of an ``occluders/`` folder, keeping the ``split`` part ("train", "test" or "all")."""
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"occluder folder not found: {root}")
        loaded = _load_cutouts(root)
        loaded["templates"] = _load_templates(root)
        textures = _load_textures(root)
        chosen, counts = _split_cutouts(loaded, split, holdout_fraction, seed)
        tnames = sorted(textures)
        ttest = _holdout(tnames, {n: n for n in tnames}, holdout_fraction, seed)
        tkeep = [textures[n] for n in tnames if _keep(n, ttest, split)]
        counts["textures"] = {"train": len(tnames) - len(ttest), "test": len(ttest)}

        # generated objects (cigarette, microphone, phone, cup ...) join both splits; the test split gets other seeds
        gen = np.random.default_rng(1000 + seed + (1 if split == "test" else 0))
        chosen.setdefault("objects", []).extend(procedural_objects(gen, 12))
        # texture pool for patches: mask textures, insides of scarves and objects, generated noise
        pool = list(tkeep)
        for cat in ("scarves", "objects"):
            for s in chosen.get(cat, []):
                tex = texture_from_sprite(s)
                if tex is not None:
                    pool.append(tex)
        pool.extend(procedural_textures(gen, 8))
        lib = cls(chosen, pool, split=split, seed=seed)
        lib.split_counts = counts
        return lib

    @classmethod
    def procedural(cls, seed: int = 0) -> OccluderLibrary:
        """A small library of generated occluders (no files): for tests, CI and as a fallback."""
        rng = np.random.default_rng(seed)
        sprites = {
            "hands": [procedural_hand(rng, i) for i in range(6)],
            "sunglasses": [procedural_glasses(rng, i, sun=True) for i in range(5)],
            "eyeglasses": [procedural_glasses(rng, i, sun=False) for i in range(4)],
            "templates": [procedural_mask(rng, i) for i in range(4)],
            "scarves": [procedural_scarf(rng, i) for i in range(3)],
            "objects": procedural_objects(rng, 10),
            "hats": [],
        }
        lib = cls(sprites, procedural_textures(rng, 8), split="all", seed=seed)
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
