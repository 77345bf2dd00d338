"""Loading the faces and every model's predictions for ``faceocc evaluate`` and ``faceocc audit``: from a dataset's
photos, a crop cache, or clean faces with synthetic occluders pasted; a bad input fails with exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .common import fail, say

if TYPE_CHECKING:
    from ..evaluate.collect import GatherOptions


def _load_records(dataset: Path | None):
    from ..datasets import DatasetError, load_dataset
    from ..evaluate.collect import check_parts

    if dataset is None:
        return None
    try:
        records = load_dataset(dataset)
        check_parts(records)
    except DatasetError as exc:
        fail(str(exc))
    return records


def _select(records, split: str | None, limit: int | None, seed: int):
    import numpy as np

    if split:
        splits = sorted({r.split for r in records})
        records = [r for r in records if r.split == split]
        if not records:
            fail(f"no record has split {split!r} (splits: {', '.join(repr(s) for s in splits)})")
    if limit and limit < len(records):
        keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:limit])
        records = [records[i] for i in keep]
    return records


def _check_inputs(dataset, cache) -> None:
    if dataset is None and cache is None:
        fail("give a DATASET (a CSV manifest or an ImageFolder root) or --cache DIR")
    if dataset is not None and not dataset.exists():
        fail(f"{dataset}: no such file or directory")
    if cache is not None and not Path(cache).is_dir():
        fail(f"--cache {cache}: not a directory")


def _read_audit(audit_labels, records, quiet):
    """The label audit of --audit-labels (None without one), applied to ``records``."""
    from ..datasets import DatasetError, apply_audit, read_audit

    if audit_labels is None:
        return None
    try:
        audit = read_audit(audit_labels)
    except (OSError, KeyError, DatasetError) as exc:
        fail(f"--audit-labels {audit_labels}: {exc}")
    if records is not None:
        changed = apply_audit(records, audit, log=say)  # matched on path suffixes; an ambiguous one is said always
        say(f"label audit {audit_labels}: {changed} label(s) corrected", quiet)
    return audit


def gather(g: GatherOptions, models, quiet: bool = False):
    """Load the faces that ``g`` chooses and every model's predictions (the shared part of evaluate and audit)."""
    from ..datasets import DatasetError
    from ..evaluate import collect

    _check_inputs(g.dataset, g.cache)
    records = _load_records(g.dataset)
    audit = _read_audit(g.audit_labels, records, quiet)
    progress = not quiet and sys.stderr.isatty()
    if g.synthetic:
        if g.occluders is not None and not Path(g.occluders).is_dir():
            fail(f"--occluders {g.occluders}: not a directory")
        split = g.split or "test"
        faces = _clean_faces(records, g, split, progress, audit)
        if not faces:
            fail(f"no clean face with split {split!r} to paste occluders on (use --split to choose another split)")
        try:
            return collect.collect_synthetic(
                faces,
                models,
                g.occluders,
                per_face=g.per_face,
                seed=g.seed,
                threads=g.threads,
                kinds=g.kinds,
                eyeglasses_occlude=g.eyeglasses_occlude,
            )
        except (ValueError, FileNotFoundError) as exc:
            fail(str(exc))
    if g.cache is not None:
        try:
            return collect.collect_cache(
                g.cache,
                models,
                split=g.split,
                records=records,
                use_fallback=g.use_fallback,
                threads=g.threads,
                eyeglasses_occlude=g.eyeglasses_occlude,
                limit=g.limit,
                seed=g.seed,
                audit=audit,
            )
        except DatasetError as exc:
            fail(str(exc))
    return collect.collect_photos(
        _select(records, g.split, g.limit, g.seed),
        models,
        threads=g.threads,
        pad=g.pad,
        score_threshold=g.score_threshold,
        det_size=g.det_size,
        min_face=g.min_face,
        eyeglasses_occlude=g.eyeglasses_occlude,
        progress=progress,
        pad_mode=g.pad_mode,
    )


def _clean_faces(records, g: GatherOptions, split: str, progress: bool, audit=None):
    """(crop, crop landmarks, item) of the clean faces of ``split``, from the cache or by detection."""
    from ..evaluate import collect

    if g.cache is not None:
        es = collect.collect_cache(
            g.cache, [], split=split or None, records=records, use_fallback=g.use_fallback, predict=False, audit=audit
        )
        lm = es.info["cache_landmarks"]
        keep = [it for it in es.items if it.status == collect.STATUS_OK and it.label == "clean"]
        if g.limit:
            keep = collect.subsample(keep, g.limit, g.seed)
        # a scored cache item always has its crop
        return [(es.crop_store.get(i), lm[i], it) for it in keep if (i := it.crop_index) is not None]
    records = [r for r in records if r.label == "clean" and (not split or r.split == split)]
    records = _select(records, None, g.limit, g.seed)
    es = collect.collect_photos(
        records,
        [None],
        threads=g.threads,
        pad=g.pad,
        score_threshold=g.score_threshold,
        det_size=g.det_size,
        min_face=g.min_face,
        progress=progress,
        keep_faces=True,
        pad_mode=g.pad_mode,
    )
    lms = es.info["crop_landmarks"]
    return [(es.crop(i), lms[i], it) for i, it in enumerate(es.items) if i in lms]


def unique_labels(es) -> None:
    """Give the models of an EvalSet distinct labels (two files with one name get a suffix: ``model.onnx#2``)."""
    seen: dict[str, int] = {}
    for p in es.preds:
        n = seen.get(p.model, 0)
        seen[p.model] = n + 1
        if n:
            p.model = f"{p.model}#{n + 1}"
