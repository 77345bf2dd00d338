"""The training faces: a dataset's records matched to the prepared crop cache, split into train and val."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from ..datasets import apply_audit, load_dataset, path_suffixes, read_audit
from .config import TrainConfig
from .data import FaceSet


def _split_of(path: str, split: str) -> str:
    if split:
        return split
    h = int(hashlib.md5(path.encode()).hexdigest()[:8], 16) % 10
    return "val" if h == 0 else "train"


def _match_cached_rows(records: list, cached_paths: list[str]) -> list[int | None]:
    """The cache row of each record: the one with its full path, else the one whose path shares the record's longest
    path suffix (a cache written with relative paths, or on another machine) when that suffix names exactly one cache
    row and exactly one record; else None. A bare file name shared by two records never matches."""
    by_path = {p: i for i, p in enumerate(cached_paths)}
    found: list[int | None] = [by_path.get(str(rec.path)) for rec in records]
    if all(i is not None for i in found):
        return found
    from collections import Counter

    row_count = Counter(s for p in cached_paths for s in set(path_suffixes(p)))
    rec_count = Counter(s for rec in records for s in set(path_suffixes(str(rec.path))))
    row_of = {s: i for i, p in enumerate(cached_paths) for s in path_suffixes(p)}
    for k, rec in enumerate(records):
        if found[k] is None:
            found[k] = next(
                (row_of[s] for s in path_suffixes(str(rec.path)) if row_count[s] == 1 and rec_count[s] == 1), None
            )
    return found


def load_faces(config: TrainConfig, log=print) -> dict[str, FaceSet]:
    """Dataset -> aligned crops (prepared once into the cache) -> FaceSets per split."""
    from ..prepare import CropCache, prepare_dataset

    records = load_dataset(config.data)
    root = Path(config.data)
    root = root if root.is_dir() else root.parent
    if config.audit:
        from ..datasets import manifest_root as _manifest_root

        audit_root = _manifest_root(root / "manifest.csv") if (root / "manifest.csv").is_file() else root
        changed = apply_audit(records, read_audit(config.audit), audit_root)
        log(f"label audit {config.audit}: {changed} label(s) corrected")
    cache = Path(config.cache or Path(config.out) / "cache")
    if not (cache / "index.csv").is_file():
        log(f"preparing aligned crops of {len(records)} images into {cache} ...")
        summary = prepare_dataset(
            records,
            cache,
            root=None,
            workers=max(1, config.workers or 2),
            progress=config.progress,
            fallback=config.fallback_crops,
        )
        log(f"prepared: {summary}")
    cached = CropCache.load(cache)
    rows_of = _match_cached_rows(records, [row["path"] for row in cached.rows])
    skipped_file = cache / "skipped.csv"
    if skipped_file.is_file():
        with open(skipped_file) as fh:
            skipped = list(csv.DictReader(fh))
        if skipped:
            log(
                f"{len(skipped)} image(s) could not be used (listed with reasons in {skipped_file}); first: "
                f"{skipped[0]['path']}: {skipped[0]['reason']}"
            )
    splits: dict[str, list[int]] = {}
    labels, sources, groups = {}, {}, {}
    for rec, idx in zip(records, rows_of):
        if idx is None:
            continue
        splits.setdefault(_split_of(str(rec.path), rec.split), []).append(idx)
        labels[idx], sources[idx], groups[idx] = rec.label, rec.source, rec.group
    out = {}
    for split, rows in splits.items():
        sel = np.array(sorted(rows))
        out[split] = FaceSet(
            np.asarray(cached.crops[sel]),
            cached.landmarks[sel],
            [labels[i] for i in sel],
            [sources[i] for i in sel],
            [groups[i] for i in sel],
        )
    return out
