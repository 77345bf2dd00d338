"""Galleries: grids of the aligned face crops a person should look at (the worst errors, the faces an audit lists)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .evalset import EvalSet
from .plots import pyplot
from .scoring import effective_scores, scored_mask

GALLERY_SIZE = 16


def worst_errors(es: EvalSet, k: int, threshold: float, eyeglasses_occlude: bool = False, n: int = GALLERY_SIZE):
    """(false negatives by lowest score, false positives by highest score): lists of item indices."""
    s = effective_scores(es, k, eyeglasses_occlude)
    sel = scored_mask(es)
    y = np.array([it.true_occluded for it in es.items], bool)
    fn = [i for i in np.argsort(s, kind="stable") if sel[i] and y[i] and s[i] < threshold][:n]
    fp = [i for i in np.argsort(-s, kind="stable") if sel[i] and not y[i] and s[i] >= threshold][:n]
    return [int(i) for i in fn], [int(i) for i in fp]


def plot_gallery(
    es: EvalSet, indices: Sequence[int], scores: np.ndarray, path: Path, title: str, cols: int = 8, caption=None
) -> bool:
    """The crops of ``indices`` in a grid, each captioned ``caption(i)`` (default: score and kind or label) and its
    file name; False (nothing written) without indices."""
    if not indices:
        return False
    plt = pyplot()
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


def error_galleries(es: EvalSet, m: dict, out: Path, eyeglasses_occlude: bool = False) -> tuple[dict, dict]:
    """worst_false_negatives.png and worst_false_positives.png of model 0 (metrics ``m``) in ``out``.

    Returns (``{name: file}`` of the images written, the listed faces as the report's ``galleries`` field)."""
    s = effective_scores(es, 0, eyeglasses_occlude)
    fn, fp = worst_errors(es, 0, m["threshold"], eyeglasses_occlude)
    files = {}
    if plot_gallery(
        es, fn, s, out / "worst_false_negatives.png", f"worst false negatives ({m['model']}): occluded, lowest scores"
    ):
        files["worst_fn"] = "worst_false_negatives.png"
    if plot_gallery(
        es,
        fp,
        s,
        out / "worst_false_positives.png",
        f"worst false positives ({m['model']}): not occluded, highest scores",
    ):
        files["worst_fp"] = "worst_false_positives.png"
    listed = {
        "false_negatives": [{"path": es.items[i].path, "label": es.items[i].label, "score": float(s[i])} for i in fn],
        "false_positives": [{"path": es.items[i].path, "label": es.items[i].label, "score": float(s[i])} for i in fp],
    }
    return files, listed
