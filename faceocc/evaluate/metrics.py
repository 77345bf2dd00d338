"""Evaluation metrics, computed here with numpy only (no scikit-learn), each checked by hand in the tests.

Conventions:

* ``y`` is a 0/1 truth array (1: occluded), ``s`` a score array (higher: more occluded).
* A face is predicted occluded when ``s >= threshold``.
* Rates whose denominator is 0 are ``None`` (reported as "n/a"), never 0 or NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _arrays(y, s=None):
    y = np.asarray(y, dtype=float).ravel()
    if s is None:
        return y.astype(int)
    s = np.asarray(s, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"truth and scores differ in length ({y.size} vs {s.size})")
    return y.astype(int), s


# -- counts and rates at one threshold ------------------------------------------------------------


def confusion_counts(y, pred) -> dict:
    """TP, FP, TN, FN of 0/1 truth ``y`` against 0/1 predictions ``pred``."""
    y = _arrays(y)
    pred = np.asarray(pred).ravel().astype(bool)
    t = y.astype(bool)
    return {
        "tp": int(np.sum(t & pred)),
        "fp": int(np.sum(~t & pred)),
        "tn": int(np.sum(~t & ~pred)),
        "fn": int(np.sum(t & ~pred)),
    }


def rates(counts: dict) -> dict:
    """TPR (recall), FPR, TNR, FNR, precision, F1, accuracy and balanced accuracy from counts."""
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    tpr, fpr = _ratio(tp, tp + fn), _ratio(fp, fp + tn)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    tnr = None if fpr is None else 1.0 - fpr
    bal = None if tpr is None or tnr is None else (tpr + tnr) / 2.0
    return {
        "tpr": tpr,
        "fpr": fpr,
        "tnr": tnr,
        "fnr": None if tpr is None else 1.0 - tpr,
        "precision": precision,
        "recall": tpr,
        "f1": f1,
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "balanced_accuracy": bal,
    }


def binary_metrics(y, s, threshold: float) -> dict:
    """Counts and rates at ``threshold``, plus ROC-AUC, PR-AUC (average precision) and the class sizes."""
    y, s = _arrays(y, s)
    counts = confusion_counts(y, s >= threshold)
    out: dict[str, Any] = {
        "n": int(y.size),
        "positives": int(y.sum()),
        "negatives": int(y.size - y.sum()),
        "threshold": float(threshold),
    }
    out.update(counts)
    out.update(rates(counts))
    out["roc_auc"] = roc_auc(y, s)
    out["pr_auc"] = average_precision(y, s)
    return out


# -- curves ---------------------------------------------------------------------------------------


def roc_curve(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds descending; the first point is (0, 0) at threshold +inf.

    Tied scores form a single point, so the curve is the one of "predict occluded when s >= t".
    """
    y, s = _arrays(y, s)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    distinct = np.where(np.diff(s_sorted))[0]
    idx = np.r_[distinct, y.size - 1] if y.size else np.array([], int)
    tps = np.cumsum(y_sorted)[idx] if y.size else np.array([])
    fps = (idx + 1) - tps
    p, n = y.sum(), y.size - y.sum()
    tpr = np.r_[0.0, tps / p] if p else np.r_[0.0, np.zeros_like(tps, dtype=float)]
    fpr = np.r_[0.0, fps / n] if n else np.r_[0.0, np.zeros_like(fps, dtype=float)]
    return fpr.astype(float), tpr.astype(float), np.r_[np.inf, s_sorted[idx]]


def roc_auc(y, s) -> float | None:
    """Area under the ROC curve (trapezoids; equals P(score_pos > score_neg) + 0.5 P(tie)). None with one class."""
    y, s = _arrays(y, s)
    if y.sum() == 0 or y.sum() == y.size:
        return None
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))  # type: ignore[attr-defined]


def pr_curve(y, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) with thresholds descending, one point per distinct score."""
    y, s = _arrays(y, s)
    fpr, tpr, thr = roc_curve(y, s)
    p, n = y.sum(), y.size - y.sum()
    tps, fps = tpr[1:] * p, fpr[1:] * n
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / np.maximum(tps + fps, 1e-12), 1.0)
    return precision, tpr[1:], thr[1:]


def average_precision(y, s) -> float | None:
    """PR-AUC as average precision: sum over distinct thresholds of (R_k - R_{k-1}) * P_k. None without positives."""
    y, s = _arrays(y, s)
    if y.sum() == 0:
        return None
    precision, recall, _ = pr_curve(y, s)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_sweep(y, s, thresholds: Iterable[float] | None = None) -> list[dict]:
    """Rates at each threshold (default 0.00, 0.05, ..., 1.00)."""
    y, s = _arrays(y, s)
    thresholds = np.round(np.linspace(0, 1, 21), 4) if thresholds is None else thresholds
    rows = []
    for t in thresholds:
        c = confusion_counts(y, s >= t)
        r = rates(c)
        rows.append(
            {"threshold": float(t), **c, **{k: r[k] for k in ("tpr", "fpr", "precision", "f1", "balanced_accuracy")}}
        )
    return rows


def pick_threshold(
    y,
    s,
    target_tpr: float | None = None,
    target_fpr: float | None = None,
    groups=None,
    max_gap: float | None = None,
) -> dict:
    """The operating threshold for a target TPR (the highest threshold reaching it, i.e. the fewest false alarms)
    or a target FPR (the lowest threshold staying within it, i.e. the most occlusions caught).

    With ``groups`` (a label per face, e.g. gender; "" for unknown) and ``max_gap``, the threshold is then raised to
    the lowest observed score at which the clean-face FPR of the two largest groups differs by at most ``max_gap``
    (see :func:`raise_for_gap`): it only moves up, so an FPR target stays met.

    Thresholds are observed scores, so the achieved rates are exact on these data.
    """
    op = _pick_for_target(y, s, target_tpr, target_fpr)
    if max_gap is not None and groups is not None:
        op = raise_for_gap(op, y, s, groups, max_gap)
    return op


def group_fpr_gap(y, s, groups, threshold: float) -> tuple[float, dict]:
    """The clean-face FPR gap between the two largest named groups at ``threshold``, and each group's FPR."""
    y, s = _arrays(y, s)
    g = np.asarray(groups, dtype=object).astype(str)
    named = [k for k in sorted(set(g[y == 0]), key=lambda k: -int(((g == k) & (y == 0)).sum())) if k][:2]
    fprs = {str(k): float((s[(g == k) & (y == 0)] >= threshold).mean()) for k in named}
    gap = abs(fprs[str(named[0])] - fprs[str(named[1])]) if len(named) == 2 else 0.0
    return gap, fprs


def raise_for_gap(op: dict, y, s, groups, max_gap: float) -> dict:
    """``op`` with its threshold raised to the lowest observed score >= it where :func:`group_fpr_gap` <= ``max_gap``
    (unchanged if it already is); ``op["gap"]``, ``op["group_fpr"]`` and ``op["gap_reached"]`` say what it gave."""
    y, s = _arrays(y, s)
    t = op["threshold"]
    for candidate in [t, *np.unique(s[s > t])]:
        gap, fprs = group_fpr_gap(y, s, groups, float(candidate))
        if gap <= max_gap + 1e-12:
            break
    else:  # no threshold closes the gap: keep the target's threshold and say so
        candidate = t
        gap, fprs = group_fpr_gap(y, s, groups, t)
    out = dict(op, threshold=float(candidate), target=dict(op["target"], gap=float(max_gap)))
    if float(candidate) != t:
        c = rates(confusion_counts(y, s >= float(candidate)))
        out.update(tpr=c["tpr"], fpr=c["fpr"], precision=c["precision"])
    out.update(gap=gap, group_fpr=fprs, gap_reached=bool(gap <= max_gap + 1e-12))
    return out


def _pick_for_target(y, s, target_tpr: float | None, target_fpr: float | None) -> dict:
    if (target_tpr is None) == (target_fpr is None):
        raise ValueError("give exactly one of target_tpr and target_fpr")
    y, s = _arrays(y, s)
    if y.sum() == 0 or y.sum() == y.size:
        raise ValueError("picking a threshold needs both occluded and not occluded faces")
    fpr, tpr, thr = roc_curve(y, s)
    fpr, tpr, thr = fpr[1:], tpr[1:], thr[1:]  # drop the +inf point
    if target_tpr is not None:
        ok = np.where(tpr >= target_tpr - 1e-12)[0]
        i = int(ok[0])  # thresholds descend: the first one reaching the target is the highest
        target = {"tpr": float(target_tpr)}
    else:
        assert target_fpr is not None  # exactly one target (checked above)
        ok = np.where(fpr <= target_fpr + 1e-12)[0]
        if ok.size == 0:  # even the highest score flags too many negatives: flag nothing
            t = float(np.nextafter(s.max(), np.inf))
            c = rates(confusion_counts(y, s >= t))
            return {
                "threshold": t,
                "target": {"fpr": float(target_fpr)},
                "tpr": c["tpr"],
                "fpr": c["fpr"],
                "precision": c["precision"],
                "reached": True,
            }
        i = int(ok[-1])
        target = {"fpr": float(target_fpr)}
    t = float(thr[i])
    c = rates(confusion_counts(y, s >= t))
    reached = c["tpr"] >= target_tpr - 1e-12 if target_tpr is not None else c["fpr"] <= cast(float, target_fpr) + 1e-12
    return {
        "threshold": t,
        "target": target,
        "tpr": c["tpr"],
        "fpr": c["fpr"],
        "precision": c["precision"],
        "reached": bool(reached),
    }


# -- multi-class, parts, coverage ------------------------------------------------------------------


def confusion_matrix(
    true_labels: Sequence[str],
    pred_labels: Sequence[str],
    classes: Sequence[str] | None = None,
    pred_classes: Sequence[str] | None = None,
) -> dict:
    """Counts of (true, predicted) pairs: ``{"rows": [...], "cols": [...], "matrix": [[...]]}`` (rows: truth)."""
    rows = list(classes) if classes is not None else sorted(set(true_labels))
    cols = list(pred_classes) if pred_classes is not None else rows
    m = np.zeros((len(rows), len(cols)), dtype=int)
    ri, ci = {c: i for i, c in enumerate(rows)}, {c: i for i, c in enumerate(cols)}
    for t, p in zip(true_labels, pred_labels):
        if t in ri and p in ci:
            m[ri[t], ci[p]] += 1
    return {"rows": rows, "cols": cols, "matrix": m.tolist()}


def f1_binary(t, p) -> dict:
    c = confusion_counts(np.asarray(t, bool), np.asarray(p, bool))
    r = rates(c)
    return {
        "n_true": c["tp"] + c["fn"],
        "n_pred": c["tp"] + c["fp"],
        "precision": r["precision"],
        "recall": r["recall"],
        "f1": r["f1"],
    }


def per_part_f1(
    true_parts, pred_parts, names: Sequence[str], true_threshold: float = 0.3, pred_threshold: float | None = None
) -> dict:
    """F1 of "part covered" per part: truth fraction >= ``true_threshold`` against prediction >= ``pred_threshold``.

    Also the macro average over parts that have at least one covered or predicted case.
    """
    t = np.asarray(true_parts, float).reshape(-1, len(names))
    p = np.asarray(pred_parts, float).reshape(-1, len(names))
    pred_threshold = true_threshold if pred_threshold is None else pred_threshold
    out: dict[str, Any] = {
        name: f1_binary(t[:, j] >= true_threshold, p[:, j] >= pred_threshold) for j, name in enumerate(names)
    }
    f1s = [v["f1"] for v in out.values() if v["f1"] is not None]
    out["macro_f1"] = float(np.mean(f1s)) if f1s else None
    return out


def coverage_errors(true_cov, pred_cov) -> dict:
    """Coverage MAE and the weighted MSE with weight ``w = 1/30 + true_coverage``:
    ``sum(w * (pred - true)^2) / sum(w)`` (a weighted mean: covered faces count more, clean faces still count)."""
    t, p = np.asarray(true_cov, float).ravel(), np.asarray(pred_cov, float).ravel()
    if t.size == 0:
        return {"n": 0, "mae": None, "weighted_mse": None, "rmse": None}
    e = p - t
    w = 1.0 / 30.0 + t
    return {
        "n": int(t.size),
        "mae": float(np.mean(np.abs(e))),
        "weighted_mse": float(np.sum(w * e**2) / np.sum(w)),
        "rmse": float(np.sqrt(np.mean(e**2))),
    }


def error_rate(y, pred) -> float | None:
    y, pred = np.asarray(y).astype(bool).ravel(), np.asarray(pred).astype(bool).ravel()
    return float(np.mean(y != pred)) if y.size else None


def fairness(y, pred, groups) -> dict:
    """Group fairness score ``(Err_a + Err_b)/2 + |Err_a - Err_b|`` over the groups of a group column.

    Err is the error rate (1 - accuracy) in a group. With more than two groups the score
    generalises to ``mean(Err) + (max(Err) - min(Err))``; with two it is the formula above.
    Lower is better; a model that errs equally often in every group scores its error rate.
    """
    y, pred, groups = np.asarray(y).astype(bool), np.asarray(pred).astype(bool), np.asarray(groups).astype(str)
    per = {}
    for g in sorted(set(groups.tolist())):
        sel = groups == g
        per[g] = {"n": int(sel.sum()), "error": error_rate(y[sel], pred[sel])}
    errs = [v["error"] for v in per.values() if v["error"] is not None]
    if len(errs) < 2:
        return {"groups": per, "score": None, "gap": None, "mean_error": None}
    mean, gap = float(np.mean(errs)), float(max(errs) - min(errs))
    return {"groups": per, "score": mean + gap, "gap": gap, "mean_error": mean}


def calibration(y, s, bins: int = 10) -> dict:
    """Expected calibration error over ``bins`` equal-width score bins: ``sum_b n_b/N * |mean(y_b) - mean(s_b)|``,
    also the maximum calibration error and the reliability-diagram points."""
    y, s = _arrays(y, s)
    if y.size == 0:
        return {"ece": None, "mce": None, "bins": []}
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(np.clip(s, 0, 1), edges[1:-1], right=False), 0, bins - 1)
    ece, mce, rows = 0.0, 0.0, []
    for b in range(bins):
        sel = idx == b
        if not sel.any():
            continue
        conf, acc = float(s[sel].mean()), float(y[sel].mean())
        gap = abs(acc - conf)
        ece += sel.sum() / y.size * gap
        mce = max(mce, gap)
        rows.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "n": int(sel.sum()),
                "mean_score": conf,
                "fraction_occluded": acc,
            }
        )
    return {"ece": float(ece), "mce": float(mce), "bins": rows}


def percentiles(values, qs=(50, 90, 99)) -> dict:
    v = np.asarray(values, float)
    if v.size == 0:
        return {f"p{q}": None for q in qs} | {"mean": None}
    return {f"p{q}": float(np.percentile(v, q)) for q in qs} | {"mean": float(v.mean())}


def clean_json(obj):
    """Floats that are NaN/inf become None, numpy scalars become Python numbers (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean_json(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
