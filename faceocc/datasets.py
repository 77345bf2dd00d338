"""Labelled face datasets: CSV manifests, ImageFolder trees, and the aligned-crop cache.

A manifest is a CSV with a header and at least ``path,label`` (optional
``split``, ``group``, ``coverage``, ``mask`` for a per-image occlusion mask, and any
other columns, which are kept). Paths are relative to the manifest's folder.
An ImageFolder tree is ``root/<label>/*.jpg``.

Labels are occluder names joined with ``+`` (``hand``, ``mask+hand``) or one of
``clean``, ``occluded`` (type unknown). ``no_mask`` is read as ``clean`` unless
a label audit file says otherwise (see :func:`apply_audit`).
"""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .schema import OCCLUDER_TYPES, OCCLUDING_TYPES  # noqa: F401 - re-exported for training code

LABEL_ALIASES = {
    "no_mask": "clean",
    "unmasked": "clean",
    "none": "clean",
    "with_mask": "mask",
    "without_mask": "clean",
    "masked": "mask",
    "glasses": "eyeglasses",
    "hands": "hand",
    "scarf": "other",
    "object": "other",
    "hair": "other",
}
KNOWN_LABELS = set(OCCLUDER_TYPES) | {"clean", "occluded"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class DatasetError(ValueError):
    """A dataset description that cannot be used (raised before any work starts)."""


@dataclass
class Record:
    path: Path
    label: str
    split: str = ""
    group: str = ""
    source: str = ""
    coverage: float | None = None
    mask_path: Path | None = None
    extra: dict = field(default_factory=dict)
    line: int = 0

    @property
    def occluder_set(self) -> set[str]:
        return set() if self.label in ("clean", "occluded") else set(self.label.split("+"))

    @property
    def occluded(self) -> bool:
        return self.label == "occluded" or bool(self.occluder_set & set(OCCLUDING_TYPES))


def normalise_label(raw: str, where: str) -> str:
    parts = []
    for part in str(raw).strip().lower().replace(" ", "").split("+"):
        part = LABEL_ALIASES.get(part, part)
        if part not in KNOWN_LABELS:
            raise DatasetError(
                f"{where}: unknown label {raw!r} (known: {', '.join(sorted(KNOWN_LABELS | set(LABEL_ALIASES)))})"
            )
        parts.append(part)
    if len(parts) > 1 and ("clean" in parts or "occluded" in parts):
        parts = [p for p in parts if p not in ("clean", "occluded")] or ["occluded"]
    return "+".join(
        sorted(
            set(parts),
            key=lambda p: (p not in OCCLUDER_TYPES, OCCLUDER_TYPES.index(p) if p in OCCLUDER_TYPES else 0, p),
        )
    )


def manifest_root(path: Path) -> Path:
    """Paths are relative to the manifest's folder, or to its parent when they start with that folder's name."""
    with open(path, newline="", encoding="utf-8") as fh:
        first = next(csv.DictReader(fh), None)
    if first and first.get("path") and not os.path.isabs(first["path"]):
        for root in (path.parent, path.parent.parent):
            if (root / first["path"]).exists():
                return root
    return path.parent


def read_manifest(path: str | Path, check_files: bool = True, root: str | Path | None = None) -> list[Record]:
    """Read a CSV manifest; every problem is reported with its line number, before any work."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: manifest not found")
    root = Path(root) if root else manifest_root(path)
    records, problems = [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise DatasetError(
                f"{path}: the header must name at least the columns 'path' and 'label' (got {reader.fieldnames})"
            )
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            if None in row or any(v is None for v in row.values()):
                problems.append(f"{where}: malformed row (expected {len(reader.fieldnames)} columns)")
                continue
            try:
                label = normalise_label(row["label"], where)
                coverage = None
                if row.get("coverage", "") not in ("", None):
                    coverage = float(row["coverage"])
                    if not 0.0 <= coverage <= 1.0:
                        raise DatasetError(f"{where}: coverage {coverage} is outside [0, 1]")
            except (DatasetError, ValueError) as exc:
                problems.append(
                    str(exc)
                    if isinstance(exc, DatasetError)
                    else f"{where}: bad coverage value {row.get('coverage')!r}"
                )
                continue
            image_path = (root / row["path"]).resolve() if not os.path.isabs(row["path"]) else Path(row["path"])
            if check_files and not image_path.is_file():
                problems.append(f"{where}: file not found: {row['path']}")
                continue
            mask_path = None
            if row.get("mask"):
                mask_path = (root / row["mask"]).resolve()
                if check_files and not mask_path.is_file():
                    problems.append(f"{where}: mask file not found: {row['mask']}")
                    continue
            known = {"path", "label", "split", "group", "source", "coverage", "mask"}
            records.append(
                Record(
                    path=image_path,
                    label=label,
                    split=row.get("split", "") or "",
                    group=row.get("group", "") or "",
                    source=row.get("source", "") or "",
                    coverage=coverage,
                    mask_path=mask_path,
                    extra={k: v for k, v in row.items() if k not in known},
                    line=line,
                )
            )
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DatasetError(f"{path}: {len(problems)} problem(s) in the manifest:\n  {shown}{more}")
    return records


def read_image_folder(root: str | Path) -> list[Record]:
    """``root/<label>/**/*.jpg`` -> records; a sub-folder with an unknown label name is an error."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    records = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = normalise_label(sub.name, f"{root}/{sub.name}")
        for file in sorted(sub.rglob("*")):
            if file.suffix.lower() in IMAGE_EXTENSIONS and file.is_file():
                records.append(Record(path=file.resolve(), label=label, source=root.name))
    if not records:
        raise DatasetError(f"{root}: no images found in <label>/ sub-folders")
    return records


def load_dataset(path: str | Path, check_files: bool = True) -> list[Record]:
    """A manifest (.csv file) or an ImageFolder tree (directory)."""
    path = Path(path)
    if path.is_dir():
        if (path / "manifest.csv").is_file():
            return read_manifest(path / "manifest.csv", check_files)
        return read_image_folder(path)
    return read_manifest(path, check_files)


def read_audit(path: str | Path) -> dict[str, str]:
    """A label audit file: CSV ``path,label`` (paths as in the dataset manifest) -> corrected labels."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            out[row["path"]] = normalise_label(row["label"], f"{path}:{line}")
    return out


def path_suffixes(path: str | Path) -> list[str]:
    """``/d/b/x.jpg`` -> [``/d/b/x.jpg``, ``d/b/x.jpg``, ``b/x.jpg``, ``x.jpg``]: longest first, on whole path
    components (a relative path is taken from the working folder; ``..`` is resolved, links are not)."""
    full = Path(os.path.abspath(path))
    names = full.parts[1:]
    return [full.as_posix()] + ["/".join(names[-n:]) for n in range(len(names), 0, -1)]


@dataclass
class AuditMatch:
    """Which audit path each record takes (``keys``, None: none), and the audit paths not applied because they end
    the paths of several files (``ambiguous``: audit path -> those files)."""

    keys: list[str | None]
    ambiguous: dict[str, list[str]]


def match_audit(records: list[Record], audit: dict[str, str], root: str | Path | None = None) -> AuditMatch:
    """The audit path of each record: its path relative to ``root`` when it lies under ``root``; otherwise (no
    ``root``, or a manifest with absolute paths elsewhere) the longest suffix of its path that is an audit path,
    on whole path components, taken only when no other file's path ends with that suffix. A suffix that ends several
    files' paths (``x.jpg`` of ``a/x.jpg`` and ``b/x.jpg``) is ambiguous and not taken, for none of them."""
    base = Path(root).resolve() if root is not None else None
    paths = [os.path.abspath(rec.path) for rec in records]
    files_with = Counter(s for p in set(paths) for s in path_suffixes(p))
    keys: list[str | None] = []
    ambiguous: dict[str, set[str]] = {}
    for path in paths:
        if base is not None:
            try:
                rel = Path(path).resolve().relative_to(base).as_posix()
                keys.append(rel if rel in audit else None)
                continue
            except ValueError:
                pass  # not under root: matched by suffix
        key = next((s for s in path_suffixes(path) if s in audit), None)
        if key is not None and files_with[key] > 1:
            ambiguous.setdefault(key, set()).add(path)
            key = None
        keys.append(key)
    return AuditMatch(keys, {k: sorted(v) for k, v in ambiguous.items()})


def apply_audit(records: list[Record], audit: dict[str, str], root: str | Path | None = None, log=None) -> int:
    """Replace labels by audited ones, matched as :func:`match_audit` says (``root``: the folder the audit's paths are
    relative to; None: match on path suffixes alone); returns how many changed. Audit paths not applied because they
    are ambiguous are reported through ``log`` (a function of one message; None: a warning)."""
    match = match_audit(records, audit, root)
    changed = 0
    for rec, key in zip(records, match.keys):
        if key is None:
            continue
        new = audit[key]
        if rec.label == "mask" and new not in ("mask",) and "mask" not in new:
            new = normalise_label("+".join({"mask", *new.split("+")} - {"clean"}), f"audit {key}")
        if new != rec.label:
            rec.label = new
            changed += 1
    if match.ambiguous:
        n = sum(len(v) for v in match.ambiguous.values())
        key, files = next(iter(match.ambiguous.items()))
        message = (
            f"label audit: {len(match.ambiguous)} audit path(s) not applied to {n} file(s) because each ends several"
            f" files' paths (e.g. {key!r}: {', '.join(files[:3])}); write them relative to the dataset root"
        )
        if log is None:
            warnings.warn(message, stacklevel=2)
        else:
            log(message)
    return changed


def label_targets(label: str) -> tuple[float, np.ndarray, np.ndarray]:
    """(occluded, occluder targets, occluder target weights) for a label; unknown types get weight 0."""
    types = np.zeros(len(OCCLUDER_TYPES), np.float32)
    weights = np.ones(len(OCCLUDER_TYPES), np.float32)
    if label == "occluded":
        weights[:] = 0.0
        return 1.0, types, weights
    present = set() if label == "clean" else set(label.split("+"))
    for i, name in enumerate(OCCLUDER_TYPES):
        types[i] = float(name in present)
    return float(bool(present & set(OCCLUDING_TYPES))), types, weights
