"""The truth of a face to evaluate, from its dataset record: occluded or not, occluder types, parts. (Label
corrections from an audit file: :func:`faceocc.datasets.apply_audit`.)"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..datasets import DatasetError, Record, label_targets
from ..schema import PART_NAMES
from .evalset import Item


def _parts_from_extra(extra: dict, where: str) -> np.ndarray | None:
    """Per-part truth from manifest columns: one column per part (fraction or 0/1), or ``parts`` = ``nose+mouth``."""
    if any(extra.get(p, "") not in ("", None) for p in PART_NAMES):
        try:
            return np.array([float(extra.get(p) or 0.0) for p in PART_NAMES], np.float32)
        except ValueError:
            raise DatasetError(f"{where}: part columns must be numbers (fractions or 0/1)") from None
    raw = extra.get("parts")
    if raw not in (None, ""):
        names = [n for n in str(raw).replace(" ", "").split("+") if n and n != "none"]
        bad = [n for n in names if n not in PART_NAMES]
        if bad:
            raise DatasetError(f"{where}: unknown part(s) {bad} (known: {', '.join(PART_NAMES)})")
        return np.array([float(p in names) for p in PART_NAMES], np.float32)
    return None


def item_from_record(rec: Record, eyeglasses_occlude: bool = False) -> Item:
    occluded, types, weights = label_targets(rec.label)
    if eyeglasses_occlude and "eyeglasses" in rec.label.split("+"):
        occluded = 1.0
    return Item(
        path=str(rec.path),
        label=rec.label,
        split=rec.split,
        group=rec.group,
        source=rec.source,
        true_occluded=bool(occluded),
        true_types=types,
        type_weights=weights,
        true_coverage=rec.coverage,
        true_parts=_parts_from_extra(rec.extra, f"{rec.path}:{rec.line}" if rec.line else str(rec.path)),
    )


def check_parts(records: Sequence[Record]) -> None:
    """Fail on bad part columns before any work."""
    for rec in records:
        _parts_from_extra(rec.extra, f"line {rec.line}" if rec.line else str(rec.path))
