"""``faceocc audit``: the faces whose labels the model disagrees with most, ranked, with an image grid.

Disagreement of a face = the largest of
  * ``|occluded_label - occlusion_score|`` and
  * ``|type_label - type_score|`` over the occluder types the label speaks about (a ``no_mask`` face
    speaks about every type: it says "no mask, no sunglasses, ...").
A person checks the top of the list; the CSV has ``path,label`` first (the current label; edit it to correct
it) so that it can be used as a label-audit file (``faceocc.datasets.read_audit``) once fixed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..policy import PolicyOptions, decide_scores, label_of
from ..schema import OCCLUDER_TYPES
from .evalset import EvalSet
from .gallery import plot_gallery
from .scoring import scored_mask


def suggested_label(score: float, occluders: np.ndarray, threshold: float, type_threshold: float = 0.5) -> str:
    """The label the model would give (the policy's decision): the types present ('+'-joined), or clean."""
    options = PolicyOptions(occlusion_threshold=threshold, type_threshold=type_threshold)
    return label_of(decide_scores(score, occluders, options), options)


_SHORT = {"sunglasses": "sun", "eyeglasses": "glasses"}


def _short(label: str) -> str:
    text = "+".join(_SHORT.get(t, t) for t in label.split("+"))
    return text if len(text) <= 16 else text[:15] + "~"


def disagreement(es: EvalSet, k: int = 0) -> tuple[np.ndarray, list[str]]:
    """(score per item, NaN where not scored; the reason each score comes from)."""
    p = es.preds[k]
    n = len(es.items)
    d = np.full(n, np.nan)
    why = [""] * n
    sel = scored_mask(es)
    for i, it in enumerate(es.items):
        if not sel[i]:
            continue
        best, reason = abs(float(it.true_occluded) - p.scores[i]), "occluded" if it.true_occluded else "not occluded"
        for j, t in enumerate(OCCLUDER_TYPES):
            if it.type_weights[j] <= 0:
                continue
            v = abs(float(it.true_types[j]) - p.occluders[i, j])
            if v > best + 1e-9:
                best, reason = v, f"{'has' if it.true_types[j] else 'no'} {t}"
        d[i], why[i] = best, reason
    return d, why


def run_audit(
    es: EvalSet, out: Path, threshold: float, top: int = 100, grid: int = 48, k: int = 0, root: Path | None = None
) -> dict:
    """Write audit.csv (ranked, most disagreeing first) and audit_grid.png (the top ``grid`` faces) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    d, why = disagreement(es, k)
    p = es.preds[k]
    order = [int(i) for i in np.argsort(-np.nan_to_num(d, nan=-1.0), kind="stable") if np.isfinite(d[i])][:top]
    rows: list[dict] = []
    for rank, i in enumerate(order, start=1):
        it = es.items[i]
        path = it.path
        if root is not None:
            try:
                path = str(Path(it.path).resolve().relative_to(Path(root).resolve()))
            except ValueError:
                pass
        rows.append(
            {
                "path": path,
                "label": it.label,
                "suggested_label": suggested_label(p.scores[i], p.occluders[i], threshold),
                "rank": rank,
                "disagreement": round(float(d[i]), 4),
                "about": why[i],
                "occlusion_score": round(float(p.scores[i]), 4),
                **{t: round(float(v), 4) for t, v in zip(OCCLUDER_TYPES, p.occluders[i])},
                "coverage": round(float(p.coverage[i]), 4),
                "source": it.source,
                "split": it.split,
            }
        )
    fields = [
        "path",
        "label",
        "suggested_label",
        "rank",
        "disagreement",
        "about",
        "occlusion_score",
        *OCCLUDER_TYPES,
        "coverage",
        "source",
        "split",
    ]
    with open(out / "audit.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    captions = {
        i: f"#{r['rank']} {_short(r['label'])} > {_short(r['suggested_label'])}\n{r['about']} ({p.scores[i]:.2f})"
        for i, r in zip(order, rows)
    }
    has_grid = plot_gallery(
        es,
        order[:grid],
        p.scores,
        out / "audit_grid.png",
        f"label audit: labels the model disagrees with most ({p.model})",
        cols=8,
        caption=lambda i: captions[i],
    )
    skipped = [it for it in es.items if it.status != "ok"]
    with open(out / "not_scored.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "status", "reason"])
        writer.writerows([[it.path, it.label, it.status, it.message] for it in skipped])
    return {
        "scored": int(np.isfinite(d).sum()),
        "listed": len(rows),
        "not_scored": len(skipped),
        "csv": str(out / "audit.csv"),
        "grid": str(out / "audit_grid.png") if has_grid else None,
        "top": rows[:10],
    }
