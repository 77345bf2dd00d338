"""Assembling an evaluation report: the metrics of each model (:mod:`.scoring`), their comparison, the plots
(:mod:`.plots`) and error galleries (:mod:`.gallery`), written as JSON, Markdown or HTML with the predictions
(:mod:`.render`) into a new folder."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from ..io import unique_path
from . import metrics as M
from .evalset import EvalSet
from .gallery import error_galleries
from .plots import plot_confusion, plot_curves
from .render import write_not_scored, write_predictions, write_report
from .scoring import compare, compute_metrics, effective_scores, face_class, not_scored, scored_mask, status_counts

#: the report's own names, and the scoring names other modules import from here (faceocc.cli.evaluate, the tests)
__all__ = [
    "EvaluateOptions",
    "build_report",
    "unique_dir",
    "compare",
    "compute_metrics",
    "effective_scores",
    "face_class",
    "scored_mask",
]


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    """How ``faceocc evaluate`` scores the faces and reports (which faces: :class:`.collect.GatherOptions`).

    out, fmt, plots: the report folder (a new one if it exists), md or html, with plots and galleries or not.
    threshold: one occlusion threshold for every model (None: each model's own).
    target, threshold_out: pick a threshold for a target (``{"target_tpr": 0.95}``) and write it there as JSON
        (None: OUT/threshold.json).
    type_threshold, part_threshold: an occluder type counts from this score; a part counts as covered from this
        fraction.
    """

    out: Path
    fmt: str = "md"
    plots: bool = True
    threshold: float | None = None
    target: dict | None = None
    threshold_out: Path | None = None
    type_threshold: float = 0.5
    part_threshold: float = 0.3

    def metrics(self, es: EvalSet, thresholds: list[float], eyeglasses_occlude: bool = False) -> list[dict]:
        """The metrics of each model of ``es``, model ``k`` at ``thresholds[k]``."""
        return [
            compute_metrics(es, k, t, self.type_threshold, self.part_threshold, eyeglasses_occlude)
            for k, t in enumerate(thresholds)
        ]


def unique_dir(path: Path) -> Path:
    """``path`` if it does not exist or is an empty folder, else ``path-1``, ``path-2``..."""
    path = Path(path)
    if path.is_dir() and not any(path.iterdir()):
        return path
    return unique_path(path)


def build_report(
    es: EvalSet,
    metrics: list[dict],
    out: Path,
    fmt: str = "md",
    dataset: str = "",
    operating_point: dict | None = None,
    eyeglasses_occlude: bool = False,
    plots: bool = True,
    extra: dict | None = None,
) -> dict:
    """Write report.json, predictions.csv, not_scored.csv, plots and report.md|html into ``out`` (a new folder).

    ``extra``: more top-level report fields; its ``plots`` (name: file in ``out``) are listed first."""
    out.mkdir(parents=True, exist_ok=True)
    from .. import __version__

    report: dict = {
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
        report["compare"] = {
            "a": metrics[0]["model"],
            "b": metrics[1]["model"],
            "metrics": compare(metrics[0], metrics[1]),
        }
    if operating_point:
        report["operating_point"] = operating_point
    write_predictions(es, out / "predictions.csv", [m["threshold"] for m in metrics])
    write_not_scored(report["not_scored"], out / "not_scored.csv")
    extra = dict(extra or {})
    files = dict(extra.pop("plots", {}))
    report.update(extra)
    if plots and metrics and metrics[0]["n_scored"]:
        files.update(plot_curves(es, metrics, out, eyeglasses_occlude))
        for k, m in enumerate(metrics):
            name = f"confusion{'' if k == 0 else f'_{k + 1}'}.png"
            plot_confusion(m, out / name)
            files[f"confusion_{k}"] = name
        gallery_files, report["galleries"] = error_galleries(es, metrics[0], out, eyeglasses_occlude)
        files.update(gallery_files)
    report["plots"] = files
    report = M.clean_json(report)
    write_report(report, out, fmt)
    return report
