"""The report's metric figures (matplotlib, written as PNG): ROC, precision-recall, calibration, threshold sweep and
confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics as M
from .evalset import EvalSet
from .scoring import effective_scores, scored_mask


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed) unless a backend is already chosen."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_curves(es: EvalSet, metrics: list[dict], out: Path, eyeglasses_occlude: bool = False) -> dict:
    """roc.png, pr.png, calibration.png and sweep.png in ``out`` for every model of ``metrics``; returns
    ``{name: file}`` (nothing without both occluded and not occluded faces)."""
    plt = pyplot()
    sel = scored_mask(es)
    y = np.array([it.true_occluded for it, s in zip(es.items, sel) if s], int)
    files: dict = {}
    if y.size == 0 or y.min() == y.max():
        return files
    files.update(_plot_roc_pr(plt, es, sel, y, metrics, out, eyeglasses_occlude))
    files.update(_plot_calibration(plt, metrics, out))
    files.update(_plot_sweep(plt, metrics, out))
    return files


def _plot_roc_pr(
    plt, es: EvalSet, sel: np.ndarray, y: np.ndarray, metrics: list[dict], out: Path, eyeglasses_occlude: bool
) -> dict:
    fig_roc, ax_roc = plt.subplots(figsize=(5, 5))
    fig_pr, ax_pr = plt.subplots(figsize=(5, 5))
    for k, m in enumerate(metrics):
        s = effective_scores(es, k, eyeglasses_occlude)[sel]
        fpr, tpr, _ = M.roc_curve(y, s)
        ax_roc.plot(fpr, tpr, label=f"{m['model']} (AUC {m['overall']['roc_auc']:.3f})")
        o = m["overall"]
        ax_roc.plot([o["fpr"]], [o["tpr"]], "o", color=ax_roc.lines[-1].get_color())
        prec, rec, _ = M.pr_curve(y, s)
        ax_pr.step(
            np.r_[0, rec],
            np.r_[prec[0] if prec.size else 1, prec],
            where="pre",
            label=f"{m['model']} (AP {m['overall']['pr_auc']:.3f})",
        )
    ax_roc.plot([0, 1], [0, 1], ":", color="grey")
    ax_roc.set(
        xlabel="false positive rate (clean faces flagged)",
        ylabel="true positive rate (occlusions caught)",
        title="ROC",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax_pr.axhline(y.mean(), ls=":", color="grey")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    files = {}
    for fig, ax, name in ((fig_roc, ax_roc, "roc.png"), (fig_pr, ax_pr, "pr.png")):
        ax.legend(loc="lower right" if name == "roc.png" else "lower left", fontsize=8)
        ax.grid(alpha=0.3)
        _save(plt, fig, out / name)
        files[name.split(".")[0]] = name
    return files


def _plot_calibration(plt, metrics: list[dict], out: Path) -> dict:
    fig, ax = plt.subplots(figsize=(5, 5))
    for m in metrics:
        b = m["calibration"]["bins"]
        ax.plot(
            [r["mean_score"] for r in b],
            [r["fraction_occluded"] for r in b],
            "o-",
            label=f"{m['model']} (ECE {m['calibration']['ece']:.3f})",
        )
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(
        xlabel="mean occlusion score", ylabel="fraction truly occluded", title="calibration", xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(plt, fig, out / "calibration.png")
    return {"calibration": "calibration.png"}


def _plot_sweep(plt, metrics: list[dict], out: Path) -> dict:
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in metrics:
        sw = m["sweep"]
        t = [r["threshold"] for r in sw]
        (line,) = ax.plot(t, [r["tpr"] for r in sw], label=f"TPR {m['model']}")
        ax.plot(t, [r["fpr"] for r in sw], "--", color=line.get_color(), label=f"FPR {m['model']}")
    ax.axvline(metrics[0]["threshold"], color="grey", ls=":")
    ax.set(xlabel="threshold", ylabel="rate", title="threshold sweep", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(plt, fig, out / "sweep.png")
    return {"sweep": "sweep.png"}


def plot_confusion(m: dict, path: Path) -> None:
    """The confusion matrix of ``m`` (labels x predicted classes), each row shaded by its fraction."""
    plt = pyplot()
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
            ax.text(
                j,
                i,
                f"{int(mat[i, j])}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.6 else "black",
            )
    ax.set(xlabel="predicted", ylabel="label", title=f"confusion ({m['model']}, threshold {m['threshold']:.2f})")
    _save(plt, fig, path)
