"""From predictions to metrics: every number of a report for one model (:func:`compute_metrics`), and the
comparison of two models' metrics (:func:`compare`).

The class a face is given (for the confusion matrix) is the policy's decision (:func:`face_class`); ``score >=
threshold`` on arrays below is the metric's own count of flagged faces, not a decision."""

from __future__ import annotations

import numpy as np

from ..policy import PolicyOptions, decide_scores
from ..schema import OCCLUDER_TYPES, PART_NAMES
from . import metrics as M
from .evalset import STATUS_OK, EvalSet, Item, Predictions

#: rows of the per-category table; clean and eyeglasses(-only) faces are negatives (FPR), the rest positives (TPR)
CATEGORIES = ("clean", "eyeglasses", "mask", "sunglasses", "hand", "other", "occluded")
PRED_CLASSES = ("clean", "eyeglasses", "mask", "sunglasses", "hand", "other")


def face_class(
    score: float, occluders: np.ndarray, threshold: float, type_threshold: float = 0.5, eyeglasses_occlude: bool = False
) -> str:
    """The class ``faceocc sort`` gives a face with these model outputs (the policy's decision)."""
    options = PolicyOptions(
        occlusion_threshold=threshold, type_threshold=type_threshold, eyeglasses_occlude=eyeglasses_occlude
    )
    return decide_scores(score, occluders, options).face_class


def _category_members(labels: np.ndarray, cat: str) -> np.ndarray:
    if cat in ("clean", "occluded"):
        return labels == cat
    if cat == "eyeglasses":
        return labels == "eyeglasses"  # eyeglasses only: with another occluder the face is a positive of that one
    return np.array([cat in lab.split("+") for lab in labels], bool)


def _label_order(label: str) -> tuple:
    first = label.split("+")[0]
    return (CATEGORIES.index(first) if first in CATEGORIES else 99, "+" in label, label)


def effective_scores(es: EvalSet, k: int, eyeglasses_occlude: bool = False) -> np.ndarray:
    """Model ``k``'s occlusion scores; with ``eyeglasses_occlude``, at least its eyeglasses score."""
    p = es.preds[k]
    s = p.scores.copy()
    if eyeglasses_occlude:
        s = np.fmax(s, p.occluders[:, OCCLUDER_TYPES.index("eyeglasses")])
    return s


def scored_mask(es: EvalSet) -> np.ndarray:
    """Items every model scored (the same faces for every model)."""
    ok = es.ok.copy()
    for p in es.preds:
        ok &= np.isfinite(p.scores)
    return ok


def _strings(items: list[Item], attr: str) -> np.ndarray:
    """The ``attr`` of every item as a str array."""
    return np.array([getattr(it, attr) for it in items], dtype=object).astype(str) if items else np.array([], str)


def compute_metrics(
    es: EvalSet,
    k: int = 0,
    threshold: float = 0.5,
    type_threshold: float = 0.5,
    part_threshold: float = 0.3,
    eyeglasses_occlude: bool = False,
) -> dict:
    """Every metric of model ``k`` on the scored faces of ``es``."""
    sel = scored_mask(es)
    items = [it for it, s in zip(es.items, sel) if s]
    pred = es.preds[k]
    s = effective_scores(es, k, eyeglasses_occlude)[sel]
    y = np.array([it.true_occluded for it in items], int)
    labels = _strings(items, "label")
    flagged = s >= threshold
    occ = pred.occluders[sel]
    out: dict = {"model": pred.model, "threshold": threshold, "n_scored": int(sel.sum())}
    out["overall"] = M.binary_metrics(y, s, threshold)
    out["calibration"] = M.calibration(y, s)
    out["sweep"] = M.threshold_sweep(y, s)
    out["per_category"] = _per_category(labels, s, flagged)
    out["occluder_types"] = _occluder_types(items, occ, type_threshold)
    out["type_threshold"] = type_threshold
    out["confusion_binary"] = {k2: out["overall"][k2] for k2 in ("tp", "fp", "tn", "fn")}
    pred_cls = [
        face_class(sc, o, threshold, type_threshold, eyeglasses_occlude) for sc, o in zip(pred.scores[sel], occ)
    ]
    rows = sorted(set(labels.tolist()), key=_label_order)
    out["confusion_matrix"] = M.confusion_matrix(labels.tolist(), pred_cls, rows, PRED_CLASSES)
    out.update(_parts_and_coverage(items, pred, sel, part_threshold))
    groups = _strings(items, "group")
    if len(set(g for g in groups.tolist() if g)) >= 2:
        g_sel = groups != ""
        out["fairness"] = M.fairness(y[g_sel], flagged[g_sel], groups[g_sel])
    out["per_source"] = _per_source(items, y, s, threshold)
    if es.mode == "synthetic":
        out["per_kind"] = _per_kind(es, items, y, flagged, pred.coverage[sel])
        eg = np.array([it.kind == "eyeglasses" and it.label == "eyeglasses" for it in items], bool)
        out["eyeglasses_only_not_occluded_rate"] = float((~flagged[eg]).mean()) if eg.any() else None
    return out


def _per_category(labels: np.ndarray, s: np.ndarray, flagged: np.ndarray) -> dict:
    """Per label category: how many faces, the rate flagged (TPR for occluded categories, FPR for the others)."""
    cats = {}
    for cat in CATEGORIES:
        members = _category_members(labels, cat)
        if not members.any():
            continue
        rate = float(flagged[members].mean())
        positive = cat not in ("clean", "eyeglasses")
        cats[cat] = {
            "n": int(members.sum()),
            "rate_name": "tpr" if positive else "fpr",
            "rate": rate,
            "tpr" if positive else "fpr": rate,
            "mean_score": float(s[members].mean()),
        }
    return cats


def _occluder_types(items: list[Item], occ: np.ndarray, type_threshold: float) -> dict:
    """Per occluder type head, over the faces whose label speaks about that type: rates at ``type_threshold``, AUC."""
    types = {}
    tt = np.stack([it.true_types for it in items]) if items else np.zeros((0, len(OCCLUDER_TYPES)))
    tw = np.stack([it.type_weights for it in items]) if items else np.zeros((0, len(OCCLUDER_TYPES)))
    for j, name in enumerate(OCCLUDER_TYPES):
        w = tw[:, j] > 0
        if not w.any():
            continue
        yt, st = tt[w, j].astype(int), occ[w, j]
        c = M.confusion_counts(yt, st >= type_threshold)
        r = M.rates(c)
        types[name] = {
            "positives": int(yt.sum()),
            "negatives": int((1 - yt).sum()),
            "tpr": r["tpr"],
            "fpr": r["fpr"],
            "precision": r["precision"],
            "f1": r["f1"],
            "roc_auc": M.roc_auc(yt, st),
        }
    return types


def _parts_and_coverage(items: list[Item], pred: Predictions, sel: np.ndarray, part_threshold: float) -> dict:
    """``parts`` (per-part F1) and ``coverage`` (errors) over the faces that have that truth; absent without any."""
    out = {}
    has_parts = np.array([it.true_parts is not None for it in items], bool)
    if has_parts.any():
        tp = np.stack([it.true_parts for it in items if it.true_parts is not None])
        out["parts"] = M.per_part_f1(tp, pred.parts[sel][has_parts], PART_NAMES, part_threshold)
        out["parts"]["threshold"] = part_threshold
    has_cov = np.array([it.true_coverage is not None for it in items], bool)
    if has_cov.any():
        tc = np.array([it.true_coverage for it, h in zip(items, has_cov) if h], float)
        out["coverage"] = M.coverage_errors(tc, pred.coverage[sel][has_cov])
    return out


def _per_source(items: list[Item], y: np.ndarray, s: np.ndarray, threshold: float) -> dict:
    sources = _strings(items, "source")
    per_source = {}
    for src in sorted(set(sources.tolist())):
        m = sources == src
        b = M.binary_metrics(y[m], s[m], threshold)
        per_source[src or "(none)"] = {
            k2: b[k2]
            for k2 in (
                "n",
                "positives",
                "negatives",
                "tpr",
                "fpr",
                "precision",
                "f1",
                "accuracy",
                "balanced_accuracy",
                "roc_auc",
            )
        }
    return per_source


def _per_kind(es: EvalSet, items: list[Item], y: np.ndarray, flagged: np.ndarray, coverage: np.ndarray) -> dict:
    """Per synthetic recipe: TPR of the occluded samples, rate of the others not flagged, coverage error."""
    kinds = np.array([it.kind for it in items], dtype=object).astype(str)
    has_cov = any(it.true_coverage is not None for it in items)
    per_kind = {}
    for kind in es.info.get("kinds", sorted(set(kinds.tolist()))):
        m = kinds == kind
        if not m.any():
            continue
        pos = m & (y == 1)
        neg = m & (y == 0)
        row = {
            "n": int(m.sum()),
            "occluded": int(pos.sum()),
            "tpr": float(flagged[pos].mean()) if pos.any() else None,
            "not_occluded_rate": float((~flagged[neg]).mean()) if neg.any() else None,
            "flag_rate": float(flagged[m].mean()),
        }
        if has_cov:
            tc = np.array([it.true_coverage for it in items], float)
            row["coverage_mae"] = float(np.mean(np.abs(coverage[m] - tc[m])))
        per_kind[kind] = row
    return per_kind


def not_scored(es: EvalSet) -> list[dict]:
    return [
        {"path": it.path, "label": it.label, "status": it.status, "reason": it.message}
        for it in es.items
        if it.status != STATUS_OK
    ]


def status_counts(es: EvalSet) -> dict:
    counts = {"items": len(es.items), "ok": 0, "no_face": 0, "not_assessable": 0, "error": 0}
    for it in es.items:
        counts[it.status] = counts.get(it.status, 0) + 1
    return counts


# -- comparison ---------------------------------------------------------------------------------------


def headline(m: dict) -> dict:
    """The metrics compared between models, as flat ``name: value`` pairs."""
    flat = {}
    for key in ("tpr", "fpr", "precision", "recall", "f1", "accuracy", "balanced_accuracy", "roc_auc", "pr_auc"):
        flat[key] = m["overall"].get(key)
    flat["ece"] = m["calibration"].get("ece")
    for cat, row in m.get("per_category", {}).items():
        flat[f"{row['rate_name']}[{cat}]"] = row["rate"]
    for t, row in m.get("occluder_types", {}).items():
        flat[f"type_auc[{t}]"] = row["roc_auc"]
    if "parts" in m:
        flat["parts_macro_f1"] = m["parts"]["macro_f1"]
        for p in PART_NAMES:
            flat[f"part_f1[{p}]"] = m["parts"][p]["f1"]
    if "coverage" in m:
        flat["coverage_mae"] = m["coverage"]["mae"]
        flat["coverage_weighted_mse"] = m["coverage"]["weighted_mse"]
    if "fairness" in m:
        flat["fairness_score"] = m["fairness"]["score"]
    for kind, row in m.get("per_kind", {}).items():
        flat[f"kind_tpr[{kind}]"] = row["tpr"]
    if m.get("eyeglasses_only_not_occluded_rate") is not None:
        flat["eyeglasses_only_not_occluded_rate"] = m["eyeglasses_only_not_occluded_rate"]
    return flat


LOWER_IS_BETTER = ("fpr", "ece", "coverage_mae", "coverage_weighted_mse", "fairness_score")


def compare(a: dict, b: dict) -> dict:
    """``metric: {a, b, diff (b - a), better}`` for every headline metric of two models."""
    ha, hb = headline(a), headline(b)
    out = {}
    for key in ha.keys() | hb.keys():
        va, vb = ha.get(key), hb.get(key)
        diff = None if va is None or vb is None else vb - va
        lower = key.startswith(LOWER_IS_BETTER) or key.startswith("fpr[")
        better = None if not diff else ("b" if (diff < 0) == lower else "a")
        out[key] = {"a": va, "b": vb, "diff": diff, "better": better}
    return dict(sorted(out.items(), key=lambda kv: list(ha).index(kv[0]) if kv[0] in ha else 999))
