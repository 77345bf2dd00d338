"""``faceocc evaluate``: metrics and a report on a labelled dataset, the wild benchmark, threshold picking
(``faceocc bench`` and ``faceocc audit`` are in ``bench_audit``; all three are registered here)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from . import options
from .common import check_models, fail, needs_extra, read_threshold_file, say
from .gather import gather, unique_labels

if TYPE_CHECKING:
    from ..evaluate.collect import GatherOptions
    from ..evaluate.report import EvaluateOptions

_PAD_MODE_HELP = (
    "detect: pad only for the detector, a photo border cutting into the face is an occlusion (as `faceocc "
    "analyze`); image: analyse the padded image, borders of tight crops are not occlusions (as `faceocc "
    "prepare` crops)."
)


def parse_target(text: str | None) -> dict | None:
    """``--pick-threshold tpr=0.95`` -> ``{"target_tpr": 0.95}``; ``fpr=0.02,gap=0.01`` adds ``{"max_gap": 0.01}``
    (the gender FPR gap, faces with a group only); None without one; anything else fails."""
    if not text:
        return None
    target: dict = {}
    for part in text.split(","):
        key, sep, value = part.replace(":", "=").partition("=")
        key = key.strip().lower()
        try:
            v: float | None = float(value)
        except ValueError:
            v = None
        if not sep or key not in ("tpr", "fpr", "gap") or v is None or not 0.0 <= v <= 1.0:
            fail(
                f"--pick-threshold {text!r}: give tpr=VALUE or fpr=VALUE with VALUE in [0, 1], e.g. tpr=0.95, "
                "optionally with gap=VALUE (the largest gender gap in clean-face FPR), e.g. fpr=0.02,gap=0.01"
            )
        target["max_gap" if key == "gap" else f"target_{key}"] = v
    if ("target_tpr" in target) == ("target_fpr" in target):
        fail(f"--pick-threshold {text!r}: give exactly one of tpr=VALUE and fpr=VALUE")
    return target


def _gap_text(op: dict) -> str:
    """``; gender FPR gap 0.8 points (female 1.2%, male 0.4%)`` for a pick with a gap term, else ""."""
    if "gap" not in op:
        return ""
    groups = ", ".join(f"{k} {100 * v:.1f}%" for k, v in op["group_fpr"].items())
    return f"; gender FPR gap {100 * op['gap']:.1f} points ({groups}){'' if op['gap_reached'] else ' (not reached)'}"


def _p(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _pick(target: dict, sets, dataset: str, threshold_out: Path | None, out: Path) -> dict:
    """Pick the threshold of model 0 over the union of the scored faces of every (name, EvalSet, eyeglasses_occlude)
    set and write it as JSON (default OUT/threshold.json); with several sets, also the rates on each one."""
    import numpy as np

    from ..evaluate import metrics as M
    from ..evaluate.report import effective_scores, scored_mask
    from ..io import unique_path

    ys, ss, gs = [], [], []
    for _, es, eo in sets:
        sel = scored_mask(es)
        ys.append(np.array([it.true_occluded for it, s in zip(es.items, sel) if s], int))
        gs.append(np.array([it.group for it, s in zip(es.items, sel) if s], dtype=object))
        ss.append(effective_scores(es, 0, eo)[sel])
    try:
        op = M.pick_threshold(np.concatenate(ys), np.concatenate(ss), groups=np.concatenate(gs), **target)
    except ValueError as exc:
        fail(f"--pick-threshold: {exc}")
    op.update(
        {
            "model": sets[0][1].preds[0].model,
            "dataset": dataset,
            "mode": "+".join(es.mode for _, es, _ in sets),
            "faces": int(sum(y.size for y in ys)),
        }
    )
    if len(sets) > 1:
        op["sets"] = {}
        for (name, _, _), y, s in zip(sets, ys, ss):
            r = M.rates(M.confusion_counts(y, s >= op["threshold"]))
            op["sets"][name] = {"faces": int(y.size), "positives": int(y.sum()), "tpr": r["tpr"], "fpr": r["fpr"]}
    dest = unique_path(threshold_out) if threshold_out else None
    if dest is None:
        out.mkdir(parents=True, exist_ok=True)
        dest = out / "threshold.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(M.clean_json(op), indent=2))
    op["file"] = str(dest)
    return op


def _summary(report: dict, results: list, out: Path, fmt: str, op: dict | None, quiet: bool) -> None:
    c = report["counts"]
    say(
        f"{c['items']} item(s): {c['ok']} scored, {c['no_face']} no face found, {c['not_assessable']} not assessable, "
        f"{c['error']} unreadable (listed in {out / 'not_scored.csv'})",
        quiet,
    )
    for m in results:
        ov = m["overall"]
        say(
            f"{m['model']} @ {m['threshold']:.3f}: TPR {_p(ov['tpr'])} FPR {_p(ov['fpr'])} F1 {_p(ov['f1'])} "
            f"bal.acc {_p(ov['balanced_accuracy'])} ROC-AUC {_p(ov['roc_auc'])} PR-AUC {_p(ov['pr_auc'])} "
            f"ECE {_p(m['calibration']['ece'])}",
            quiet,
        )
    if op:
        from ..evaluate.render import target_text

        sets = "".join(
            f"; {n}: {v['faces']} faces, TPR {_p(v['tpr'])} FPR {_p(v['fpr'])}" for n, v in op.get("sets", {}).items()
        )
        say(
            f"threshold {op['threshold']:.4f} for {target_text(op)}: TPR {_p(op['tpr'])} FPR {_p(op['fpr'])}"
            f"{'' if op['reached'] else ' (target not reached)'}{_gap_text(op)}{sets} -> {op['file']}",
            quiet,
        )
    say(f"report: {out / ('report.' + fmt)}", quiet)


def _evaluate_wild(
    folder: Path,
    g: GatherOptions,
    e: EvaluateOptions,
    models: list,
    thresholds: list[float],
    gather_other,
    other_name: str,
    quiet: bool,
):
    """``faceocc evaluate --wild``: the wild benchmark first; DATASET / --cache (``gather_other``) beside it in
    OUT/dataset, with --pick-threshold picking on the union of both sets' faces."""
    from ..datasets import DatasetError
    from ..evaluate.collect import subsample
    from ..evaluate.metrics import clean_json
    from ..evaluate.report import build_report, unique_dir
    from ..evaluate.wild import collect_wild, gallery_list, plot_wild_gallery, read_wild, score_lines, wild_metrics

    split = g.split or "test"
    if e.target and split != "val":
        fail(f"--pick-threshold with --wild picks on the labelled val split (--split val), never on {split!r}")
    try:
        rows, unsure = read_wild(folder, split)
    except DatasetError as exc:
        fail(str(exc))
    if g.limit and g.limit < len(rows):
        rows = subsample(rows, g.limit, g.seed)
    other = gather_other(split) if gather_other else None  # a bad DATASET fails before the long wild run
    ws = collect_wild(
        rows,
        models,
        split,
        g.threads,
        e.threshold,
        g.score_threshold,
        g.det_size,
        g.min_face,
        progress=not quiet and sys.stderr.isatty(),
    )
    ws.unsure = unsure
    es = ws.es
    es.info.update({"wild": str(folder), "split": split, "sure": len(rows), "unsure_left_out": unsure})
    unique_labels(es)
    results = e.metrics(es, thresholds)
    for k, m in enumerate(results):
        m["wild"] = wild_metrics(ws, k, thresholds[k])
    out = unique_dir(e.out)
    op = None
    if e.target:
        sets = [("wild", es, False)] + ([("dataset", other[0], g.eyeglasses_occlude)] if other else [])
        op = _pick(e.target, sets, str(folder) + (f" + {other_name}" if other else ""), e.threshold_out, out)
    extra = {"wild_galleries": gallery_list(ws, 0, thresholds[0])}
    out.mkdir(parents=True, exist_ok=True)
    if e.plots and es.preds and results[0]["n_scored"]:
        extra["plots"] = plot_wild_gallery(ws, 0, thresholds[0], out)
    report = build_report(es, results, out, e.fmt, str(folder), op, False, e.plots, extra=extra)
    for m in results:
        say(f"wild {split}, {m['model']} @ {m['threshold']:.4f}:", quiet)
        for line in score_lines(m["wild"]):
            say("  " + line, quiet)
    _summary(report, results, out, e.fmt, op, quiet)
    other_report = None
    if other:
        other_report = out / "dataset"
        rep = build_report(other[0], other[1], other_report, e.fmt, other_name, op, g.eyeglasses_occlude, e.plots)
        say(f"also {other_name}:", quiet)
        _summary(rep, other[1], other_report, e.fmt, None, quiet)
    w = results[0]["wild"]
    typer.echo(
        json.dumps(
            clean_json(
                {
                    "report": str(out / f"report.{e.fmt}"),
                    "json": str(out / "report.json"),
                    "counts": report["counts"],
                    "wild": {"split": split, **w["counts"]},
                    "tpr": w["tpr"]["all"]["rate"],
                    "fpr": w["clean_fpr"]["all"]["rate"],
                    "roc_auc": w["auc"],
                    "threshold_file": op["file"] if op else None,
                    "dataset_report": str(other_report / f"report.{e.fmt}") if other_report else None,
                }
            )
        )
    )


def _checked_threshold(fmt: str, pad_mode: str, threshold: float | None, threshold_file: Path | None):
    """Check evaluate's --format, --pad-mode and --threshold / --threshold-file; the threshold to use (None: each
    model's own)."""
    if fmt not in ("md", "html"):
        fail(f"--format {fmt!r}: use md or html")
    if pad_mode not in ("detect", "image"):
        fail(f"--pad-mode {pad_mode!r}: use detect or image")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        fail(f"--threshold must be within [0, 1], got {threshold}")
    if threshold_file is not None:
        if threshold is not None:
            fail("give --threshold or --threshold-file, not both")
        threshold = read_threshold_file(threshold_file)
    return threshold


def _evaluate_dataset(gather_dataset, g: GatherOptions, e: EvaluateOptions, quiet: bool) -> None:
    """``faceocc evaluate`` of DATASET or --cache alone: the report, the picked threshold, the JSON summary."""
    from ..evaluate.report import build_report, unique_dir

    es, results = gather_dataset()
    out = unique_dir(e.out)
    name = str(g.dataset or g.cache)
    target = e.target
    op = _pick(target, [("dataset", es, g.eyeglasses_occlude)], name, e.threshold_out, out) if target else None
    report = build_report(es, results, out, e.fmt, name, op, g.eyeglasses_occlude, e.plots)
    _summary(report, results, out, e.fmt, op, quiet)
    o = results[0]["overall"]
    typer.echo(
        json.dumps(
            {
                "report": str(out / f"report.{e.fmt}"),
                "json": str(out / "report.json"),
                "counts": report["counts"],
                "tpr": o["tpr"],
                "fpr": o["fpr"],
                "roc_auc": o["roc_auc"],
                "threshold_file": op["file"] if op else None,
            }
        )
    )


def evaluate(
    dataset: Path | None = typer.Argument(
        None,
        help="A CSV manifest (path,label[,split][,group][,source][,coverage]"
        "[,parts]) or an ImageFolder root. Optional with --cache.",
    ),
    model: str | None = options.model(),
    wild: Path | None = typer.Option(
        None,
        "--wild",
        help="A wild benchmark folder (manifest.csv + {split}_labels.csv, "
        "e.g. ../shared/data/wild): the largest face of each real photo, unsure labels "
        "left out; --split defaults to test, --pick-threshold needs --split val.",
    ),
    compare: str | None = typer.Option(None, "--compare", help="A second model, evaluated on the same faces."),
    out: Path = typer.Option(
        Path("faceocc-eval"), "--out", "-o", help="Report folder (a new name is picked if it exists)."
    ),
    fmt: str = typer.Option("md", "--format", help="md or html (with the plots as PNG files)."),
    threshold: float | None = options.threshold("Occlusion threshold (default: each model's own)."),
    threshold_file: Path | None = options.threshold_file("Read the threshold from a JSON file with a 'threshold'."),
    pick_threshold: str | None = typer.Option(
        None,
        "--pick-threshold",
        help="Pick the threshold for a target: tpr=0.95 or fpr=0.05; add gap=0.01 to also keep the gender gap in "
        "clean-face FPR within 1 point (fpr=0.02,gap=0.01).",
    ),
    threshold_out: Path | None = typer.Option(
        None,
        help="Where --pick-threshold writes its JSON "
        "(default OUT/threshold.json); `faceocc analyze --threshold-file` reads it.",
    ),
    split: str | None = typer.Option(None, help="Only this split (e.g. test). --synthetic defaults to test."),
    limit: int | None = options.limit(),
    seed: int = typer.Option(0, help="Seed of --limit subsets and of --synthetic."),
    cache: Path | None = options.cache(),
    use_fallback: bool = typer.Option(
        False, "--use-fallback", help="With --cache: score crops aligned without a detected face."
    ),
    audit_labels: Path | None = typer.Option(
        None, help="A label audit CSV (path,label) correcting dataset labels (e.g. faceocc/data/audit_no_mask.csv)."
    ),
    pad: float = typer.Option(
        0.0,
        min=0.0,
        max=2.0,
        help="Pad images by this fraction of their size before detection (tight face crops: 0.4).",
    ),
    pad_mode: str = typer.Option("detect", help=_PAD_MODE_HELP),
    det_size: int | None = options.det_size(
        "Fixed detection size (one pass on a copy downscaled to this longest side); "
        "default: automatic, as faceocc analyze."
    ),
    score_threshold: float = options.score_threshold(min=0.0, max=1.0),
    min_face: int = options.min_face("Faces smaller than this (pixels) are not assessable."),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Evaluate on clean test faces with held-out occluders pasted."
    ),
    occluders: Path | None = typer.Option(
        None, help="--synthetic: an occluders/ folder (its held-out test split is used; default: generated occluders)."
    ),
    per_face: int = typer.Option(1, min=1, help="--synthetic: samples per clean face."),
    kinds: str | None = typer.Option(None, help="--synthetic: comma-separated recipes (default: all)."),
    eyeglasses_occlude: bool = options.eyeglasses_occlude(),
    part_threshold: float = typer.Option(0.3, min=0.0, max=1.0, help="A part counts as covered from this fraction."),
    type_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="An occluder type counts from this score."),
    threads: int = options.threads(),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the plots and galleries."),
    quiet: bool = options.quiet("Only errors."),
):
    """Evaluate models on a labelled dataset: metrics, operating points, a JSON + Markdown/HTML report with plots.

    With --wild DIR (or a DATASET folder holding manifest.csv and {split}_labels.csv): the wild benchmark of real
    photos, scored as the reference scorer does, reported first; DATASET or --cache is then evaluated beside it.
    """
    from ..evaluate.collect import GatherOptions
    from ..evaluate.report import EvaluateOptions
    from ..evaluate.wild import is_wild_folder

    if plots:
        needs_extra("evaluate", "evaluate", "matplotlib", hint="; or leave the plots out: --no-plots")
    threshold = _checked_threshold(fmt, pad_mode, threshold, threshold_file)
    target = parse_target(pick_threshold)
    if wild is None and dataset is not None and cache is None and is_wild_folder(dataset):
        wild, dataset = dataset, None
    models = [model] + ([compare] if compare else [])
    thresholds = [threshold if threshold is not None else t for t in check_models(models)]
    g = GatherOptions(
        dataset=dataset,
        cache=cache,
        split=split,
        limit=limit,
        seed=seed,
        pad=pad,
        pad_mode=pad_mode,
        det_size=det_size,
        score_threshold=score_threshold,
        min_face=min_face,
        use_fallback=use_fallback,
        eyeglasses_occlude=eyeglasses_occlude,
        synthetic=synthetic,
        occluders=occluders,
        per_face=per_face,
        kinds=kinds.split(",") if kinds else None,
        audit_labels=audit_labels,
        threads=threads,
    )
    e = EvaluateOptions(
        out=out,
        fmt=fmt,
        plots=plots,
        threshold=threshold,
        target=target,
        threshold_out=threshold_out,
        type_threshold=type_threshold,
        part_threshold=part_threshold,
    )

    def gather_dataset(split=split):
        es = gather(replace(g, split=split), models, quiet=quiet)
        unique_labels(es)
        return es, e.metrics(es, thresholds, g.eyeglasses_occlude)

    if wild is None:
        _evaluate_dataset(gather_dataset, g, e, quiet)
        return
    if synthetic or eyeglasses_occlude:
        fail(
            "--wild does not go with --synthetic or --eyeglasses-occlude (its labels never count clear "
            "eyeglasses as an occlusion)"
        )
    other = gather_dataset if dataset is not None or cache is not None else None
    _evaluate_wild(wild, g, e, models, thresholds, other, str(dataset or cache), quiet)


def register(app: typer.Typer) -> None:
    from .bench_audit import audit, bench

    app.command()(evaluate)
    app.command()(bench)
    app.command()(audit)
