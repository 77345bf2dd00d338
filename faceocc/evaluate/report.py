"""From predictions to metrics, and from metrics to a report: JSON, Markdown or HTML, plots and galleries."""

from __future__ import annotations

import csv
import datetime as _dt
import html
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..alignment import PART_NAMES
from ..datasets import OCCLUDER_TYPES, OCCLUDING_TYPES
from ..io import unique_path
from . import metrics as M
from .collect import STATUS_OK, EvalSet

#: rows of the per-category table; clean and eyeglasses(-only) faces are negatives (FPR), the rest positives (TPR)
CATEGORIES = ("clean", "eyeglasses", "mask", "sunglasses", "hand", "other", "occluded")
PRED_CLASSES = ("clean", "eyeglasses", "mask", "sunglasses", "hand", "other")
GALLERY_SIZE = 16


def face_class(score: float, occluders: np.ndarray, threshold: float, type_threshold: float = 0.5,
               eyeglasses_occlude: bool = False) -> str:
    """The class ``faceocc sort`` would give: the top occluding type when occluded, else eyeglasses or clean."""
    occ = dict(zip(OCCLUDER_TYPES, occluders))
    if score >= threshold:
        return max(OCCLUDING_TYPES, key=lambda t: occ[t])
    if occ["eyeglasses"] >= type_threshold:
        return "eyeglasses"
    return "clean"


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


def compute_metrics(es: EvalSet, k: int = 0, threshold: float = 0.5, type_threshold: float = 0.5,
                    part_threshold: float = 0.3, eyeglasses_occlude: bool = False) -> dict:
    """Every metric of model ``k`` on the scored faces of ``es``."""
    sel = scored_mask(es)
    items = [it for it, s in zip(es.items, sel) if s]
    pred = es.preds[k]
    s = effective_scores(es, k, eyeglasses_occlude)[sel]
    y = np.array([it.true_occluded for it in items], int)
    labels = np.array([it.label for it in items], dtype=object).astype(str) if items else np.array([], str)
    flagged = s >= threshold
    out: dict = {"model": pred.model, "threshold": threshold, "n_scored": int(sel.sum())}
    out["overall"] = M.binary_metrics(y, s, threshold)
    out["calibration"] = M.calibration(y, s)
    out["sweep"] = M.threshold_sweep(y, s)

    cats = {}
    for cat in CATEGORIES:
        members = _category_members(labels, cat)
        if not members.any():
            continue
        rate = float(flagged[members].mean())
        positive = cat not in ("clean", "eyeglasses")
        cats[cat] = {"n": int(members.sum()), "rate_name": "tpr" if positive else "fpr", "rate": rate,
                     "tpr" if positive else "fpr": rate, "mean_score": float(s[members].mean())}
    out["per_category"] = cats

    occ = pred.occluders[sel]
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
        types[name] = {"positives": int(yt.sum()), "negatives": int((1 - yt).sum()), "tpr": r["tpr"], "fpr": r["fpr"],
                       "precision": r["precision"], "f1": r["f1"], "roc_auc": M.roc_auc(yt, st)}
    out["occluder_types"] = types

    out["confusion_binary"] = {k2: out["overall"][k2] for k2 in ("tp", "fp", "tn", "fn")}
    pred_cls = [face_class(sc, o, threshold, type_threshold, eyeglasses_occlude) for sc, o in zip(s, occ)]
    rows = sorted(set(labels.tolist()), key=_label_order)
    out["confusion_matrix"] = M.confusion_matrix(labels.tolist(), pred_cls, rows, PRED_CLASSES)

    has_parts = np.array([it.true_parts is not None for it in items], bool)
    if has_parts.any():
        tp = np.stack([it.true_parts for it, h in zip(items, has_parts) if h])
        out["parts"] = M.per_part_f1(tp, pred.parts[sel][has_parts], PART_NAMES, part_threshold)
        out["parts"]["threshold"] = part_threshold
    has_cov = np.array([it.true_coverage is not None for it in items], bool)
    if has_cov.any():
        tc = np.array([it.true_coverage for it, h in zip(items, has_cov) if h], float)
        out["coverage"] = M.coverage_errors(tc, pred.coverage[sel][has_cov])

    groups = np.array([it.group for it in items], dtype=object).astype(str) if items else np.array([], str)
    if len(set(g for g in groups.tolist() if g)) >= 2:
        g_sel = groups != ""
        out["fairness"] = M.fairness(y[g_sel], flagged[g_sel], groups[g_sel])

    sources = np.array([it.source for it in items], dtype=object).astype(str) if items else np.array([], str)
    per_source = {}
    for src in sorted(set(sources.tolist())):
        m = sources == src
        b = M.binary_metrics(y[m], s[m], threshold)
        per_source[src or "(none)"] = {k2: b[k2] for k2 in ("n", "positives", "negatives", "tpr", "fpr", "precision", "f1",
                                                            "accuracy", "balanced_accuracy", "roc_auc")}
    out["per_source"] = per_source

    if es.mode == "synthetic":
        kinds = np.array([it.kind for it in items], dtype=object).astype(str)
        per_kind = {}
        for kind in es.info.get("kinds", sorted(set(kinds.tolist()))):
            m = kinds == kind
            if not m.any():
                continue
            pos = m & (y == 1)
            neg = m & (y == 0)
            row = {"n": int(m.sum()), "occluded": int(pos.sum()),
                   "tpr": float(flagged[pos].mean()) if pos.any() else None,
                   "not_occluded_rate": float((~flagged[neg]).mean()) if neg.any() else None,
                   "flag_rate": float(flagged[m].mean())}
            if has_cov.any():
                tc = np.array([it.true_coverage for it in items], float)
                row["coverage_mae"] = float(np.mean(np.abs(pred.coverage[sel][m] - tc[m])))
            per_kind[kind] = row
        out["per_kind"] = per_kind
        eg = np.array([it.kind == "eyeglasses" and it.label == "eyeglasses" for it in items], bool)
        out["eyeglasses_only_not_occluded_rate"] = float((~flagged[eg]).mean()) if eg.any() else None
    return out


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


# -- files ----------------------------------------------------------------------------------------------

def unique_dir(path: Path) -> Path:
    """``path`` if it does not exist or is an empty folder, else ``path-1``, ``path-2``..."""
    path = Path(path)
    if path.is_dir() and not any(path.iterdir()):
        return path
    return unique_path(path)




def write_predictions(es: EvalSet, path: Path, thresholds: Sequence[float]) -> None:
    fields = ["path", "label", "split", "group", "source", "kind", "status", "message", "n_faces", "det_score", "true_occluded",
              "true_coverage"]
    for p in es.preds:
        pre = p.model if len(es.preds) > 1 else ""
        fields += [f"{pre}{':' if pre else ''}{c}" for c in ("score", "predicted", *OCCLUDER_TYPES, *PART_NAMES, "coverage")]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for i, it in enumerate(es.items):
            row = [it.path, it.label, it.split, it.group, it.source, it.kind, it.status, it.message, it.n_faces,
                   _fmt(it.det_score), int(it.true_occluded), _fmt(it.true_coverage)]
            for p, t in zip(es.preds, thresholds):
                sc = p.scores[i]
                row += [_fmt(sc), "" if not np.isfinite(sc) else int(sc >= t)]
                row += [_fmt(v) for v in p.occluders[i]] + [_fmt(v) for v in p.parts[i]] + [_fmt(p.coverage[i])]
            w.writerow(row)


def _fmt(v) -> str:
    if v is None:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if not np.isfinite(f) else f"{f:.4f}"


def not_scored(es: EvalSet) -> list[dict]:
    return [{"path": it.path, "label": it.label, "status": it.status, "reason": it.message}
            for it in es.items if it.status != STATUS_OK]


def status_counts(es: EvalSet) -> dict:
    counts = {"items": len(es.items), "ok": 0, "no_face": 0, "not_assessable": 0, "error": 0}
    for it in es.items:
        counts[it.status] = counts.get(it.status, 0) + 1
    return counts


# -- plots ----------------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(es: EvalSet, metrics: list[dict], out: Path, eyeglasses_occlude: bool = False) -> dict:
    plt = _plt()
    sel = scored_mask(es)
    y = np.array([it.true_occluded for it, s in zip(es.items, sel) if s], int)
    files = {}
    if y.size == 0 or y.min() == y.max():
        return files
    fig_roc, ax_roc = plt.subplots(figsize=(5, 5))
    fig_pr, ax_pr = plt.subplots(figsize=(5, 5))
    for k, m in enumerate(metrics):
        s = effective_scores(es, k, eyeglasses_occlude)[sel]
        fpr, tpr, _ = M.roc_curve(y, s)
        ax_roc.plot(fpr, tpr, label=f"{m['model']} (AUC {m['overall']['roc_auc']:.3f})")
        o = m["overall"]
        ax_roc.plot([o["fpr"]], [o["tpr"]], "o", color=ax_roc.lines[-1].get_color())
        prec, rec, _ = M.pr_curve(y, s)
        ax_pr.step(np.r_[0, rec], np.r_[prec[0] if prec.size else 1, prec], where="pre",
                   label=f"{m['model']} (AP {m['overall']['pr_auc']:.3f})")
    ax_roc.plot([0, 1], [0, 1], ":", color="grey")
    ax_roc.set(xlabel="false positive rate (clean faces flagged)", ylabel="true positive rate (occlusions caught)",
               title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    ax_pr.axhline(y.mean(), ls=":", color="grey")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    for fig, ax, name in ((fig_roc, ax_roc, "roc.png"), (fig_pr, ax_pr, "pr.png")):
        ax.legend(loc="lower right" if name == "roc.png" else "lower left", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        files[name.split(".")[0]] = name
    # calibration
    fig, ax = plt.subplots(figsize=(5, 5))
    for m in metrics:
        b = m["calibration"]["bins"]
        ax.plot([r["mean_score"] for r in b], [r["fraction_occluded"] for r in b], "o-",
                label=f"{m['model']} (ECE {m['calibration']['ece']:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="mean occlusion score", ylabel="fraction truly occluded", title="calibration", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=90)
    plt.close(fig)
    files["calibration"] = "calibration.png"
    # threshold sweep
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in metrics:
        sw = m["sweep"]
        t = [r["threshold"] for r in sw]
        line, = ax.plot(t, [r["tpr"] for r in sw], label=f"TPR {m['model']}")
        ax.plot(t, [r["fpr"] for r in sw], "--", color=line.get_color(), label=f"FPR {m['model']}")
    ax.axvline(metrics[0]["threshold"], color="grey", ls=":")
    ax.set(xlabel="threshold", ylabel="rate", title="threshold sweep", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=90)
    plt.close(fig)
    files["sweep"] = "sweep.png"
    return files


def plot_confusion(m: dict, path: Path) -> None:
    plt = _plt()
    cm = m["confusion_matrix"]
    mat = np.array(cm["matrix"], float)
    if mat.size == 0:
        return
    norm = mat / np.maximum(mat.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(cm["cols"]), 1.0 + 0.5 * len(cm["rows"])))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cm["cols"])), cm["cols"], rotation=30, ha="right")
    ax.set_yticks(range(len(cm["rows"])), cm["rows"])
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            ax.text(j, i, f"{int(mat[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black")
    ax.set(xlabel="predicted", ylabel="label", title=f"confusion ({m['model']}, threshold {m['threshold']:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def worst_errors(es: EvalSet, k: int, threshold: float, eyeglasses_occlude: bool = False, n: int = GALLERY_SIZE):
    """(false negatives by lowest score, false positives by highest score): lists of item indices."""
    s = effective_scores(es, k, eyeglasses_occlude)
    sel = scored_mask(es)
    y = np.array([it.true_occluded for it in es.items], bool)
    fn = [i for i in np.argsort(s, kind="stable") if sel[i] and y[i] and s[i] < threshold][:n]
    fp = [i for i in np.argsort(-s, kind="stable") if sel[i] and not y[i] and s[i] >= threshold][:n]
    return [int(i) for i in fn], [int(i) for i in fp]


def plot_gallery(es: EvalSet, indices: Sequence[int], scores: np.ndarray, path: Path, title: str, cols: int = 8,
                 caption=None) -> bool:
    if not indices:
        return False
    plt = _plt()
    cols = max(1, min(cols, len(indices)))
    rows = (len(indices) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.7, rows * 2.2 + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), indices):
        crop = es.crop(i)
        if crop is not None:
            ax.imshow(crop)
        it = es.items[i]
        text = caption(i) if caption else f"{scores[i]:.2f} {it.kind or it.label}"
        ax.set_title(f"{text}\n{Path(it.path).name[:20]}", fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# -- the report ----------------------------------------------------------------------------------------

def build_report(es: EvalSet, metrics: list[dict], out: Path, fmt: str = "md", dataset: str = "",
                 operating_point: dict | None = None, eyeglasses_occlude: bool = False, plots: bool = True,
                 extra: dict | None = None) -> dict:
    """Write report.json, predictions.csv, not_scored.csv, plots and report.md|html into ``out`` (a new folder).

    ``extra``: more top-level report fields; its ``plots`` (name: file in ``out``) are listed first."""
    out.mkdir(parents=True, exist_ok=True)
    from .. import __version__

    report = {
        "faceocc_version": __version__,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "dataset": dataset,
        "mode": es.mode,
        "info": {k: v for k, v in es.info.items() if not k.endswith("landmarks")},
        "models": [m["model"] for m in metrics],
        "counts": status_counts(es),
        "not_scored": not_scored(es),
        "metrics": {m["model"]: m for m in metrics},
    }
    if len(metrics) == 2:
        report["compare"] = {"a": metrics[0]["model"], "b": metrics[1]["model"], "metrics": compare(metrics[0], metrics[1])}
    if operating_point:
        report["operating_point"] = operating_point
    write_predictions(es, out / "predictions.csv", [m["threshold"] for m in metrics])
    with open(out / "not_scored.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "label", "status", "reason"])
        w.writeheader()
        w.writerows(report["not_scored"])
    extra = dict(extra or {})
    files = dict(extra.pop("plots", {}))
    report.update(extra)
    if plots and metrics and metrics[0]["n_scored"]:
        files.update(plot_curves(es, metrics, out, eyeglasses_occlude))
        for k, m in enumerate(metrics):
            name = f"confusion{'' if k == 0 else f'_{k + 1}'}.png"
            plot_confusion(m, out / name)
            files[f"confusion_{k}"] = name
        s = effective_scores(es, 0, eyeglasses_occlude)
        fn, fp = worst_errors(es, 0, metrics[0]["threshold"], eyeglasses_occlude)
        if plot_gallery(es, fn, s, out / "worst_false_negatives.png", f"worst false negatives ({metrics[0]['model']}): occluded, lowest scores"):
            files["worst_fn"] = "worst_false_negatives.png"
        if plot_gallery(es, fp, s, out / "worst_false_positives.png", f"worst false positives ({metrics[0]['model']}): not occluded, highest scores"):
            files["worst_fp"] = "worst_false_positives.png"
        report["galleries"] = {"false_negatives": [{"path": es.items[i].path, "label": es.items[i].label, "score": float(s[i])} for i in fn],
                               "false_positives": [{"path": es.items[i].path, "label": es.items[i].label, "score": float(s[i])} for i in fp]}
    report["plots"] = files
    report = M.clean_json(report)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    text = render_markdown(report) if fmt == "md" else render_html(report)
    (out / f"report.{fmt}").write_text(text)
    return report


def _target(op: dict) -> str:
    return ", ".join(f"{k.upper()} {'>=' if k == 'tpr' else '<='} {v}" for k, v in op["target"].items())


def _v(x, pct: bool = False) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{100 * x:.1f}%" if pct else f"{x:.4f}"
    return str(x)


def _sections(r: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables shared by the Markdown and HTML renderers."""
    ms = list(r["metrics"].values())
    names = [m["model"] for m in ms]
    out = []
    c = r["counts"]
    out.append(("Faces", ["items", "scored", "no face found", "not assessable", "unreadable"],
                [[str(c["items"]), str(c.get("ok", 0)), str(c.get("no_face", 0)), str(c.get("not_assessable", 0)),
                  str(c.get("error", 0))]]))
    keys = ["n", "positives", "negatives", "threshold", "tpr", "fpr", "precision", "recall", "f1", "accuracy",
            "balanced_accuracy", "roc_auc", "pr_auc"]
    rows = [[k] + [_v(m["overall"].get(k)) for m in ms] for k in keys]
    rows.append(["ece (calibration)"] + [_v(m["calibration"]["ece"]) for m in ms])
    out.append(("Overall (occluded vs not)", ["metric"] + names, rows))
    rows = []
    for cat in CATEGORIES:
        rs = [m["per_category"].get(cat) for m in ms]
        if not any(rs):
            continue
        first = next(x for x in rs if x)
        rows.append([cat, str(first["n"]), first["rate_name"].upper()] + [_v(x["rate"]) if x else "n/a" for x in rs])
    out.append(("Per category (TPR: occlusions caught; FPR: clean faces flagged)", ["label", "n", "rate"] + names, rows))
    rows = []
    for t in OCCLUDER_TYPES:
        rs = [m["occluder_types"].get(t) for m in ms]
        if not any(rs):
            continue
        for key in ("tpr", "fpr", "roc_auc"):
            rows.append([t, key] + [_v(x[key]) if x else "n/a" for x in rs])
    out.append(("Occluder type heads (score >= 0.5)", ["type", "metric"] + names, rows))
    if "parts" in ms[0]:
        rows = [[p] + [_v(m["parts"][p]["f1"]) for m in ms] for p in PART_NAMES]
        rows.append(["macro F1"] + [_v(m["parts"]["macro_f1"]) for m in ms])
        out.append((f"Per-part F1 (covered >= {ms[0]['parts']['threshold']})", ["part"] + names, rows))
    if "coverage" in ms[0]:
        rows = [[k] + [_v(m["coverage"][k]) for m in ms] for k in ("n", "mae", "weighted_mse", "rmse")]
        out.append(("Coverage (weighted MSE: weight 1/30 + true coverage)", ["metric"] + names, rows))
    if "per_kind" in ms[0]:
        rows = []
        for kind, row in ms[0]["per_kind"].items():
            rows.append([kind, str(row["n"]), str(row["occluded"])] + [_v(m["per_kind"].get(kind, {}).get("tpr")) for m in ms]
                        + [_v(m["per_kind"].get(kind, {}).get("not_occluded_rate")) for m in ms])
        out.append(("Synthetic occlusions per recipe (held-out occluders)", ["kind", "n", "occluded"] + [f"TPR {n}" for n in names]
                    + [f"not-occluded rate {n}" for n in names], rows))
        out.append(("Eyeglasses only, reported not occluded", ["model", "rate"],
                    [[m["model"], _v(m.get("eyeglasses_only_not_occluded_rate"))] for m in ms]))
    if "fairness" in ms[0]:
        groups = list(ms[0]["fairness"]["groups"])
        rows = [[f"error[{g}]", str(ms[0]["fairness"]["groups"][g]["n"])] + [_v(m["fairness"]["groups"][g]["error"]) for m in ms]
                for g in groups]
        rows.append(["fairness score", ""] + [_v(m["fairness"]["score"]) for m in ms])
        out.append(("Groups: fairness (Err_a+Err_b)/2 + |Err_a-Err_b|, lower is better", ["", "n"] + names, rows))
    rows = []
    for src, row in ms[0]["per_source"].items():
        for m in ms:
            x = m["per_source"].get(src, {})
            rows.append([src, m["model"], str(x.get("n")), _v(x.get("tpr")), _v(x.get("fpr")), _v(x.get("f1")),
                         _v(x.get("roc_auc"))])
    out.append(("Per source", ["source", "model", "n", "TPR", "FPR", "F1", "ROC-AUC"], rows))
    rows = [[_v(s["threshold"]), str(s["tp"]), str(s["fp"]), str(s["tn"]), str(s["fn"]), _v(s["tpr"]), _v(s["fpr"]),
             _v(s["precision"]), _v(s["f1"])] for s in ms[0]["sweep"]]
    out.append((f"Threshold sweep ({names[0]})", ["threshold", "TP", "FP", "TN", "FN", "TPR", "FPR", "precision", "F1"], rows))
    if "compare" in r:
        rows = [[k, _v(v["a"]), _v(v["b"]), _v(v["diff"]), v["better"] or ("=" if v["diff"] is not None else "")]
                for k, v in r["compare"]["metrics"].items()]
        out.insert(2, (f"Comparison: a = {r['compare']['a']}, b = {r['compare']['b']} (diff = b - a)",
                       ["metric", "a", "b", "diff", "better"], rows))
    from .wild import wild_sections

    return wild_sections(r) + out  # the wild benchmark, when there is one, comes first


def render_markdown(r: dict) -> str:
    lines = [f"# faceocc evaluation: {r['dataset'] or r['mode']}", "",
             f"Models: {', '.join(r['models'])}. Mode: {r['mode']}. Created {r['created']} by faceocc {r['faceocc_version']}.", ""]
    if r.get("operating_point"):
        op = r["operating_point"]
        lines += [f"**Operating point** for target {_target(op)}: threshold **{op['threshold']:.4f}** "
                  f"(TPR {_v(op['tpr'])}, FPR {_v(op['fpr'])}, precision {_v(op['precision'])})"
                  + (f", written to `{op['file']}`" if op.get("file") else "") + ".", ""]
    for title, header, rows in _sections(r):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    p = r.get("plots", {})
    if p:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({f})" for name, f in p.items()]
        lines.append("")
    ns = r["not_scored"]
    if ns:
        lines += [f"## Not scored ({len(ns)}; all in not_scored.csv)", ""]
        lines += [f"- `{x['path']}` ({x['label']}): {x['status']}: {x['reason']}" for x in ns[:50]]
        if len(ns) > 50:
            lines.append(f"- ... and {len(ns) - 50} more")
        lines.append("")
    return "\n".join(lines)


def render_html(r: dict) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>faceocc evaluation</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
             "img{max-width:100%;margin:4px;border:1px solid #eee}</style></head><body>",
             f"<h1>faceocc evaluation: {e(r['dataset'] or r['mode'])}</h1>",
             f"<p>Models: {e(', '.join(r['models']))}. Mode: {e(r['mode'])}. Created {e(r['created'])}.</p>"]
    if r.get("operating_point"):
        op = r["operating_point"]
        parts.append(f"<p><b>Operating point</b> for target {e(_target(op))}: threshold <b>{op['threshold']:.4f}</b> "
                     f"(TPR {_v(op['tpr'])}, FPR {_v(op['fpr'])}).</p>")
    for title, header, rows in _sections(r):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    if r.get("plots"):
        parts.append("<h2>Plots</h2>" + "".join(f"<img src='{e(f)}' alt='{e(n)}'>" for n, f in r["plots"].items()))
    if r["not_scored"]:
        parts.append(f"<h2>Not scored ({len(r['not_scored'])})</h2><ul>")
        parts += [f"<li>{e(x['path'])} ({e(x['label'])}): {e(x['status'])}: {e(x['reason'])}</li>" for x in r["not_scored"][:200]]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
