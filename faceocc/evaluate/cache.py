"""Faces to evaluate from a crop cache written by ``faceocc prepare`` (no detection: the crops are scored as they
are)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ..datasets import DatasetError, Record, apply_audit, normalise_label
from .evalset import STATUS_ERROR, STATUS_NO_FACE, CropStore, EvalSet, Item, predict_crops, subsample
from .truth import item_from_record


def collect_cache(
    cache_dir: str | Path,
    models: Sequence[str | None],
    split: str | None = None,
    records: Sequence[Record] | None = None,
    use_fallback: bool = False,
    threads: int = 0,
    eyeglasses_occlude: bool = False,
    limit: int | None = None,
    seed: int = 0,
    predict: bool = True,
    audit: dict | None = None,
) -> EvalSet:
    """Items from a ``faceocc prepare`` cache. Crops aligned without a detected face (``det_score`` 0) count as
    "no face found" unless ``use_fallback``; images the cache skipped are listed with their reason.

    With ``records`` (the dataset), labels, groups and truth come from the dataset, matched by path.
    """
    from ..model import OcclusionModel
    from ..prepare import CropCache

    cache_dir = Path(cache_dir)
    if not (cache_dir / "crops.npy").is_file() or not (cache_dir / "index.csv").is_file():
        raise DatasetError(
            f"{cache_dir}: not a crop cache (expected crops.npy and index.csv, as written by `faceocc prepare`)"
        )
    cache = CropCache.load(cache_dir)
    if len(cache.rows) != len(cache.crops):
        raise DatasetError(f"{cache_dir}: index.csv has {len(cache.rows)} rows but crops.npy {len(cache.crops)} crops")
    selected = _cache_records(cache_dir, cache.rows, split, records)
    if audit and not records:  # cache paths and audit paths may be relative to different roots
        apply_audit([rec for _, _, rec in selected], audit)
    items = [_cache_item(idx, row, rec, use_fallback, eyeglasses_occlude) for idx, row, rec in selected]
    items += _skipped_items(cache_dir / "skipped.csv", eyeglasses_occlude)
    if limit:
        items = subsample(items, limit, seed)
    es = EvalSet(items, [], CropStore(cache.crops), "cache", {"cache": str(cache_dir), "use_fallback": use_fallback})
    es.info["cache_landmarks"] = cache.landmarks
    if predict:
        for k, model in enumerate(models):
            es.preds.append(predict_crops(es, OcclusionModel(model, threads=threads), k))
    return es


def _cache_records(
    cache_dir: Path, rows: Sequence[dict], split: str | None, records: Sequence[Record] | None
) -> list[tuple[int, dict, Record]]:
    """(crop index, index.csv row, record) of the cache rows in ``split``: the dataset's record with ``records``
    (rows not in the dataset are left out), else a record made from the row."""
    by_path = _record_lookup(records, [r["path"] for r in rows]) if records else None
    selected = []
    for idx, row in enumerate(rows):
        if split and row.get("split", "") != split:
            continue
        if by_path is not None:
            rec = by_path.get(row["path"])
            if rec is None:
                continue  # not in the dataset given
        else:
            where = f"{cache_dir / 'index.csv'}:{idx + 2}"
            rec = Record(
                path=Path(row["path"]),
                label=normalise_label(row["label"], where),
                split=row.get("split", ""),
                group=row.get("group", "") or "",
                source=row.get("source", "") or "",
            )
        selected.append((idx, row, rec))
    return selected


def _cache_item(idx: int, row: dict, rec: Record, use_fallback: bool, eyeglasses_occlude: bool) -> Item:
    item = item_from_record(rec, eyeglasses_occlude)
    item.path = row["path"]
    item.det_score = float(row.get("det_score") or 0.0)
    item.n_faces = int(item.det_score > 0)
    if item.det_score <= 0 and not use_fallback:
        item.status, item.message = (
            STATUS_NO_FACE,
            "no face found (the cache holds a fallback crop; --use-fallback scores it)",
        )
    item.crop_index = idx
    return item


def _skipped_items(skipped: Path, eyeglasses_occlude: bool) -> list[Item]:
    """The images the cache skipped (``skipped.csv``), as items that were not scored, with the reason."""
    items: list[Item] = []
    if not skipped.is_file():
        return items
    with open(skipped, newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            label = normalise_label(row.get("label") or "clean", f"{skipped}:{line}")
            item = item_from_record(Record(path=Path(row["path"]), label=label), eyeglasses_occlude)
            item.path = row["path"]
            reason = row.get("reason", "") or "skipped"
            item.status = STATUS_NO_FACE if "no face" in reason else STATUS_ERROR
            item.message = reason
            items.append(item)
    return items


def _record_lookup(records: Sequence[Record], cache_paths: Sequence[str]) -> dict:
    """Map cache paths (relative to some root) to dataset records (absolute paths)."""
    by_abs = {str(Path(r.path).resolve()): r for r in records}
    out = {}
    root = None
    for cp in cache_paths:
        if root is None:
            for a in by_abs:
                if a.endswith("/" + cp.lstrip("/")):
                    root = a[: len(a) - len(cp.lstrip("/"))]
                    break
            else:
                continue
        rec = by_abs.get(str(Path(root + cp.lstrip("/")).resolve())) if root is not None else None
        if rec is not None:
            out[cp] = rec
    return out
