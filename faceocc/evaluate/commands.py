"""CLI commands ``faceocc evaluate``, ``faceocc bench`` and ``faceocc audit`` (registered by ``faceocc.cli``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        typer.echo(message, err=True)


def _check_models(models) -> list[float]:
    """Open every model before any work (a file that is not a faceocc model fails here); their own thresholds."""
    from ..model import ModelError, OcclusionModel

    thresholds = []
    for m in models:
        try:
            thresholds.append(OcclusionModel(m, threads=1).threshold)
        except ModelError as exc:
            _fail(str(exc))
    return thresholds


def _parse_target(text: Optional[str]) -> Optional[dict]:
    if not text:
        return None
    key, sep, value = text.replace(":", "=").partition("=")
    key = key.strip().lower()
    try:
        v = float(value)
    except ValueError:
        v = None
    if not sep or key not in ("tpr", "fpr") or v is None or not 0.0 <= v <= 1.0:
        _fail(f"--pick-threshold {text!r}: give tpr=VALUE or fpr=VALUE with VALUE in [0, 1], e.g. tpr=0.95")
    return {f"target_{key}": v}


def _load_records(dataset: Optional[Path]):
    from ..datasets import DatasetError, load_dataset
    from .collect import check_parts

    if dataset is None:
        return None
    try:
        records = load_dataset(dataset)
        check_parts(records)
    except DatasetError as exc:
        _fail(str(exc))
    return records


def _select(records, split: Optional[str], limit: Optional[int], seed: int):
    import numpy as np

    if split:
        splits = sorted({r.split for r in records})
        records = [r for r in records if r.split == split]
        if not records:
            _fail(f"no record has split {split!r} (splits: {', '.join(repr(s) for s in splits)})")
    if limit and limit < len(records):
        keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:limit])
        records = [records[i] for i in keep]
    return records


def gather(dataset, cache, models, split, limit, seed, pad, det_size, score_threshold, min_face, threads, use_fallback,
           eyeglasses_occlude, synthetic=False, occluders=None, per_face=1, kinds=None, quiet=False, pad_mode="detect",
           audit_labels=None):
    """Load the faces and every model's predictions (the shared part of evaluate and audit)."""
    from ..datasets import DatasetError, read_audit
    from . import collect

    if dataset is None and cache is None:
        _fail("give a DATASET (a CSV manifest or an ImageFolder root) or --cache DIR")
    if dataset is not None and not dataset.exists():
        _fail(f"{dataset}: no such file or directory")
    if cache is not None and not Path(cache).is_dir():
        _fail(f"--cache {cache}: not a directory")
    records = _load_records(dataset)
    audit = None
    if audit_labels is not None:
        try:
            audit = read_audit(audit_labels)
        except (OSError, KeyError, DatasetError) as exc:
            _fail(f"--audit-labels {audit_labels}: {exc}")
        if records is not None:
            changed = collect.apply_audit_by_suffix(records, audit)
            _say(f"label audit {audit_labels}: {changed} label(s) corrected", quiet)
    progress = not quiet and sys.stderr.isatty()
    if synthetic:
        if occluders is not None and not Path(occluders).is_dir():
            _fail(f"--occluders {occluders}: not a directory")
        if split is None:
            split = "test"
        faces = _clean_faces(records, cache, split, limit, seed, pad, det_size, score_threshold, min_face, threads,
                             use_fallback, progress, pad_mode, audit)
        if not faces:
            _fail(f"no clean face with split {split!r} to paste occluders on (use --split to choose another split)")
        try:
            return collect.collect_synthetic(faces, models, occluders, per_face=per_face, seed=seed, threads=threads,
                                             kinds=kinds, eyeglasses_occlude=eyeglasses_occlude)
        except (ValueError, FileNotFoundError) as exc:
            _fail(str(exc))
    if cache is not None:
        try:
            return collect.collect_cache(cache, models, split=split, records=records, use_fallback=use_fallback,
                                         threads=threads, eyeglasses_occlude=eyeglasses_occlude, limit=limit, seed=seed,
                                         audit=audit)
        except DatasetError as exc:
            _fail(str(exc))
    records = _select(records, split, limit, seed)
    return collect.collect_photos(records, models, threads=threads, pad=pad, score_threshold=score_threshold,
                                  det_size=det_size, min_face=min_face, eyeglasses_occlude=eyeglasses_occlude,
                                  progress=progress, pad_mode=pad_mode)


def _clean_faces(records, cache, split, limit, seed, pad, det_size, score_threshold, min_face, threads, use_fallback, progress,
                 pad_mode="detect", audit=None):
    """(crop, crop landmarks, item) of the clean faces of ``split``, from the cache or by detection."""
    from . import collect

    if cache is not None:
        es = collect.collect_cache(cache, [], split=split or None, records=records, use_fallback=use_fallback, predict=False,
                                   audit=audit)
        lm = es.info["cache_landmarks"]
        keep = [it for it in es.items if it.status == collect.STATUS_OK and it.label == "clean"]
        if limit:
            keep = collect.subsample(keep, limit, seed)
        return [(es.crop_store.get(it.crop_index), lm[it.crop_index], it) for it in keep]
    records = [r for r in records if r.label == "clean" and (not split or r.split == split)]
    records = _select(records, None, limit, seed)
    es = collect.collect_photos(records, [None], threads=threads, pad=pad, score_threshold=score_threshold, det_size=det_size,
                                min_face=min_face, progress=progress, keep_faces=True, pad_mode=pad_mode)
    lms = es.info["crop_landmarks"]
    return [(es.crop(i), lms[i], it) for i, it in enumerate(es.items) if i in lms]


def _unique_labels(es, models):
    """Distinct model labels (two files with one name get a suffix)."""
    seen = {}
    for p in es.preds:
        n = seen.get(p.model, 0)
        seen[p.model] = n + 1
        if n:
            p.model = f"{p.model}#{n + 1}"


def _pick(target: dict, sets, dataset: str, threshold_out: Optional[Path], out: Path) -> dict:
    """Pick the threshold of model 0 over the union of the scored faces of every (name, EvalSet, eyeglasses_occlude)
    set and write it as JSON (default OUT/threshold.json); with several sets, also the rates on each one."""
    import numpy as np

    from ..io import unique_path as unique_file
    from . import metrics as M
    from .report import effective_scores, scored_mask

    ys, ss = [], []
    for _, es, eo in sets:
        sel = scored_mask(es)
        ys.append(np.array([it.true_occluded for it, s in zip(es.items, sel) if s], int))
        ss.append(effective_scores(es, 0, eo)[sel])
    try:
        op = M.pick_threshold(np.concatenate(ys), np.concatenate(ss), **target)
    except ValueError as exc:
        _fail(f"--pick-threshold: {exc}")
    op.update({"model": sets[0][1].preds[0].model, "dataset": dataset, "mode": "+".join(es.mode for _, es, _ in sets),
               "faces": int(sum(y.size for y in ys))})
    if len(sets) > 1:
        op["sets"] = {}
        for (name, _, _), y, s in zip(sets, ys, ss):
            r = M.rates(M.confusion_counts(y, s >= op["threshold"]))
            op["sets"][name] = {"faces": int(y.size), "positives": int(y.sum()), "tpr": r["tpr"], "fpr": r["fpr"]}
    dest = unique_file(threshold_out) if threshold_out else None
    if dest is None:
        out.mkdir(parents=True, exist_ok=True)
        dest = out / "threshold.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(M.clean_json(op), indent=2))
    op["file"] = str(dest)
    return op


def _summary(report: dict, results: list, out: Path, fmt: str, op: Optional[dict], quiet: bool) -> None:
    from .report import _target

    c = report["counts"]
    _say(f"{c['items']} item(s): {c['ok']} scored, {c['no_face']} no face found, {c['not_assessable']} not assessable, "
         f"{c['error']} unreadable (listed in {out / 'not_scored.csv'})", quiet)
    for m in results:
        ov = m["overall"]
        _say(f"{m['model']} @ {m['threshold']:.3f}: TPR {_p(ov['tpr'])} FPR {_p(ov['fpr'])} F1 {_p(ov['f1'])} "
             f"bal.acc {_p(ov['balanced_accuracy'])} ROC-AUC {_p(ov['roc_auc'])} PR-AUC {_p(ov['pr_auc'])} "
             f"ECE {_p(m['calibration']['ece'])}", quiet)
    if op:
        sets = "".join(f"; {n}: {v['faces']} faces, TPR {_p(v['tpr'])} FPR {_p(v['fpr'])}" for n, v in op.get("sets", {}).items())
        _say(f"threshold {op['threshold']:.4f} for {_target(op)}: TPR {_p(op['tpr'])} FPR {_p(op['fpr'])}"
             f"{'' if op['reached'] else ' (target not reached)'}{sets} -> {op['file']}", quiet)
    _say(f"report: {out / ('report.' + fmt)}", quiet)


def _evaluate_wild(folder, split, models, threshold, thresholds, target, threshold_out, out, fmt, limit, seed, det_size,
                   score_threshold, min_face, threads, type_threshold, part_threshold, plots, quiet, gather_other,
                   other_name, eyeglasses_occlude):
    """``faceocc evaluate --wild``: the wild benchmark first; DATASET / --cache (``gather_other``) beside it in OUT/dataset,
    with --pick-threshold picking on the union of both sets' faces."""
    from ..datasets import DatasetError
    from .collect import subsample
    from .metrics import clean_json
    from .report import build_report, compute_metrics, unique_dir
    from .wild import collect_wild, gallery_list, plot_wild_gallery, read_wild, score_lines, wild_metrics

    split = split or "test"
    if target and split != "val":
        _fail(f"--pick-threshold with --wild picks on the labelled val split (--split val), never on {split!r}")
    try:
        rows, unsure = read_wild(folder, split)
    except DatasetError as exc:
        _fail(str(exc))
    if limit and limit < len(rows):
        rows = subsample(rows, limit, seed)
    other = gather_other(split) if gather_other else None  # a bad DATASET fails before the long wild run
    ws = collect_wild(rows, models, split, threads, threshold, score_threshold, det_size, min_face,
                      progress=not quiet and sys.stderr.isatty())
    ws.unsure = unsure
    es = ws.es
    es.info.update({"wild": str(folder), "split": split, "sure": len(rows), "unsure_left_out": unsure})
    _unique_labels(es, models)
    results = [compute_metrics(es, k, thresholds[k], type_threshold, part_threshold) for k in range(len(models))]
    for k, m in enumerate(results):
        m["wild"] = wild_metrics(ws, k, thresholds[k])
    out = unique_dir(out)
    op = None
    if target:
        sets = [("wild", es, False)] + ([("dataset", other[0], eyeglasses_occlude)] if other else [])
        op = _pick(target, sets, str(folder) + (f" + {other_name}" if other else ""), threshold_out, out)
    extra = {"wild_galleries": gallery_list(ws, 0, thresholds[0])}
    out.mkdir(parents=True, exist_ok=True)
    if plots and es.preds and results[0]["n_scored"]:
        extra["plots"] = plot_wild_gallery(ws, 0, thresholds[0], out)
    report = build_report(es, results, out, fmt, str(folder), op, False, plots, extra=extra)
    for m in results:
        _say(f"wild {split}, {m['model']} @ {m['threshold']:.4f}:", quiet)
        for line in score_lines(m["wild"]):
            _say("  " + line, quiet)
    _summary(report, results, out, fmt, op, quiet)
    other_report = None
    if other:
        other_report = out / "dataset"
        rep = build_report(other[0], other[1], other_report, fmt, other_name, op, eyeglasses_occlude, plots)
        _say(f"also {other_name}:", quiet)
        _summary(rep, other[1], other_report, fmt, None, quiet)
    w = results[0]["wild"]
    typer.echo(json.dumps(clean_json({"report": str(out / f"report.{fmt}"), "json": str(out / "report.json"),
                                   "counts": report["counts"], "wild": {"split": split, **w["counts"]},
                                   "tpr": w["tpr"]["all"]["rate"], "fpr": w["clean_fpr"]["all"]["rate"], "roc_auc": w["auc"],
                                   "threshold_file": op["file"] if op else None,
                                   "dataset_report": str(other_report / f"report.{fmt}") if other_report else None})))


def register(app: typer.Typer) -> None:
    @app.command()
    def evaluate(
        dataset: Optional[Path] = typer.Argument(None, help="A CSV manifest (path,label[,split][,group][,source][,coverage]"
                                                 "[,parts]) or an ImageFolder root. Optional with --cache."),
        model: Optional[str] = typer.Option(None, help="A faceocc ONNX model (default: the shipped one)."),
        wild: Optional[Path] = typer.Option(None, "--wild", help="A wild benchmark folder (manifest.csv + {split}_labels.csv, "
                                            "e.g. ../shared/data/wild): the largest face of each real photo, unsure labels "
                                            "left out; --split defaults to test, --pick-threshold needs --split val."),
        compare: Optional[str] = typer.Option(None, "--compare", help="A second model, evaluated on the same faces."),
        out: Path = typer.Option(Path("faceocc-eval"), "--out", "-o", help="Report folder (a new name is picked if it exists)."),
        fmt: str = typer.Option("md", "--format", help="md or html (with the plots as PNG files)."),
        threshold: Optional[float] = typer.Option(None, help="Occlusion threshold (default: each model's own)."),
        threshold_file: Optional[Path] = typer.Option(None, help="Read the threshold from a JSON file with a 'threshold'."),
        pick_threshold: Optional[str] = typer.Option(None, "--pick-threshold",
                                                     help="Pick the threshold for a target: tpr=0.95 or fpr=0.05."),
        threshold_out: Optional[Path] = typer.Option(None, help="Where --pick-threshold writes its JSON "
                                                     "(default OUT/threshold.json); `faceocc analyze --threshold-file` reads it."),
        split: Optional[str] = typer.Option(None, help="Only this split (e.g. test). --synthetic defaults to test."),
        limit: Optional[int] = typer.Option(None, min=1, help="At most this many images (a fixed-seed random subset)."),
        seed: int = typer.Option(0, help="Seed of --limit subsets and of --synthetic."),
        cache: Optional[Path] = typer.Option(None, help="A crop cache from `faceocc prepare`: skip detection."),
        use_fallback: bool = typer.Option(False, "--use-fallback", help="With --cache: score crops aligned without a detected face."),
        audit_labels: Optional[Path] = typer.Option(None, help="A label audit CSV (path,label) correcting dataset labels "
                                                    "(e.g. faceocc/data/audit_no_mask.csv)."),
        pad: float = typer.Option(0.0, min=0.0, max=2.0, help="Pad images by this fraction of their size before detection "
                                  "(tight face crops: 0.4)."),
        pad_mode: str = typer.Option("detect", help="detect: pad only for the detector, a photo border cutting into the face "
                                     "is an occlusion (as `faceocc analyze`); image: analyse the padded image, borders of tight "
                                     "crops are not occlusions (as `faceocc prepare` crops)."),
        det_size: Optional[int] = typer.Option(None, help="Fixed detection size (one pass on a copy downscaled to this "
                                               "longest side); default: automatic, as faceocc analyze."),
        score_threshold: float = typer.Option(0.6, min=0.0, max=1.0, help="Minimum face detection score."),
        min_face: int = typer.Option(32, help="Faces smaller than this (pixels) are not assessable."),
        synthetic: bool = typer.Option(False, "--synthetic", help="Evaluate on clean test faces with held-out occluders pasted."),
        occluders: Optional[Path] = typer.Option(None, help="--synthetic: an occluders/ folder (its held-out test split is "
                                                 "used; default: generated occluders)."),
        per_face: int = typer.Option(1, min=1, help="--synthetic: samples per clean face."),
        kinds: Optional[str] = typer.Option(None, help="--synthetic: comma-separated recipes (default: all)."),
        eyeglasses_occlude: bool = typer.Option(False, "--eyeglasses-occlude", help="Count clear eyeglasses as an occlusion."),
        part_threshold: float = typer.Option(0.3, min=0.0, max=1.0, help="A part counts as covered from this fraction."),
        type_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="An occluder type counts from this score."),
        threads: int = typer.Option(0, help="onnxruntime threads (0: all cores)."),
        plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the plots and galleries."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors."),
    ):
        """Evaluate models on a labelled dataset: metrics, operating points, a JSON + Markdown/HTML report with plots.

        With --wild DIR (or a DATASET folder holding manifest.csv and {split}_labels.csv): the wild benchmark of real
        photos, scored as the reference scorer does, reported first; DATASET or --cache is then evaluated beside it.
        """
        from ..cli import _read_threshold_file
        from .report import build_report, compute_metrics, unique_dir
        from .wild import is_wild_folder

        if fmt not in ("md", "html"):
            _fail(f"--format {fmt!r}: use md or html")
        if pad_mode not in ("detect", "image"):
            _fail(f"--pad-mode {pad_mode!r}: use detect or image")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            _fail(f"--threshold must be within [0, 1], got {threshold}")
        if threshold_file is not None:
            if threshold is not None:
                _fail("give --threshold or --threshold-file, not both")
            threshold = _read_threshold_file(threshold_file)
        target = _parse_target(pick_threshold)
        if wild is None and dataset is not None and cache is None and is_wild_folder(dataset):
            wild, dataset = dataset, None
        models = [model] + ([compare] if compare else [])
        own = _check_models(models)
        thresholds = [threshold if threshold is not None else t for t in own]

        def gather_dataset(split=split):
            es = gather(dataset, cache, models, split, limit, seed, pad, det_size, score_threshold, min_face, threads,
                        use_fallback, eyeglasses_occlude, synthetic, occluders, per_face, kinds.split(",") if kinds else None,
                        quiet, pad_mode, audit_labels)
            _unique_labels(es, models)
            return es, [compute_metrics(es, k, thresholds[k], type_threshold, part_threshold, eyeglasses_occlude)
                        for k in range(len(models))]

        if wild is not None:
            if synthetic or eyeglasses_occlude:
                _fail("--wild does not go with --synthetic or --eyeglasses-occlude (its labels never count clear "
                      "eyeglasses as an occlusion)")
            _evaluate_wild(wild, split, models, threshold, thresholds, target, threshold_out, out, fmt, limit, seed,
                           det_size, score_threshold, min_face, threads, type_threshold, part_threshold, plots, quiet,
                           gather_dataset if dataset is not None or cache is not None else None, str(dataset or cache),
                           eyeglasses_occlude)
            return
        es, results = gather_dataset()
        out = unique_dir(out)
        op = _pick(target, [("dataset", es, eyeglasses_occlude)], str(dataset or cache), threshold_out, out) if target else None
        report = build_report(es, results, out, fmt, str(dataset or cache), op, eyeglasses_occlude, plots)
        _summary(report, results, out, fmt, op, quiet)
        o = results[0]["overall"]
        typer.echo(json.dumps({"report": str(out / f"report.{fmt}"), "json": str(out / "report.json"), "counts": report["counts"],
                               "tpr": o["tpr"], "fpr": o["fpr"], "roc_auc": o["roc_auc"],
                               "threshold_file": op["file"] if op else None}))

    @app.command()
    def bench(
        model: Optional[List[str]] = typer.Option(None, "--model", help="Model(s) to compare, e.g. an fp32 and an int8 "
                                                  "export (repeat the option; default: the shipped model)."),
        iterations: int = typer.Option(20, min=1, help="Timed runs per model and thread count (after 2 warm-up runs)."),
        threads: str = typer.Option("1", help="onnxruntime thread counts to try, comma-separated (e.g. 1,2)."),
        workers: int = typer.Option(2, min=0, help="Throughput with 1..N worker processes (0: skip)."),
        folder: Optional[Path] = typer.Option(None, help="Images for the throughput run (default: generated photos)."),
        folder_images: int = typer.Option(8, min=1, help="How many photos to generate when no --folder is given."),
        rounds: int = typer.Option(1, min=1, help="Passes over the folder in the throughput run."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the results as JSON here (a new name if "
                                                 "it exists; default: print the table only)."),
        previous: Optional[Path] = typer.Option(None, help="A bench JSON from another commit: show the change."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    ):
        """Benchmark latency per stage (decode, detect, align, classify) and end to end, throughput, size and memory."""
        from .bench import format_table, run_bench
        from ..io import unique_path as unique_file

        try:
            thread_list = [int(t) for t in threads.split(",") if t.strip()]
        except ValueError:
            thread_list = []
        if not thread_list or any(t < 0 for t in thread_list):
            _fail(f"--threads {threads!r}: give thread counts like 1 or 1,2,4 (0: onnxruntime's default)")
        if folder is not None and not folder.is_dir():
            _fail(f"--folder {folder}: not a directory")
        old = None
        if previous is not None:
            try:
                old = json.loads(previous.read_text())
            except (OSError, ValueError) as exc:
                _fail(f"--previous {previous}: cannot read it ({exc})")
        models = list(model) if model else [None]
        _check_models(models)
        try:
            result = run_bench(models, thread_list, iterations, workers, folder, folder_images, rounds,
                               log=lambda m: _say(m, quiet))
        except ValueError as exc:
            _fail(str(exc))
        typer.echo(format_table(result, old))
        if json_out is not None:
            dest = unique_file(json_out)
            dest.write_text(json.dumps(result, indent=2))
            _say(f"results: {dest}", quiet)

    @app.command()
    def audit(
        dataset: Optional[Path] = typer.Argument(None, help="A CSV manifest or ImageFolder root (optional with --cache)."),
        model: Optional[str] = typer.Option(None, help="A faceocc ONNX model (default: the shipped one)."),
        out: Path = typer.Option(Path("faceocc-audit"), "--out", "-o", help="Output folder (a new name is picked if it exists)."),
        top: int = typer.Option(200, min=1, help="Rows in the ranked CSV."),
        grid: int = typer.Option(48, min=1, help="Faces in the image grid."),
        threshold: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Occlusion threshold (default: the model's)."),
        split: Optional[str] = typer.Option(None, help="Only this split."),
        limit: Optional[int] = typer.Option(None, min=1, help="At most this many images (a fixed-seed random subset)."),
        seed: int = typer.Option(0, help="Seed of --limit."),
        cache: Optional[Path] = typer.Option(None, help="A crop cache from `faceocc prepare`: skip detection."),
        use_fallback: bool = typer.Option(False, "--use-fallback", help="With --cache: also audit crops without a detected face."),
        audit_labels: Optional[Path] = typer.Option(None, help="A label audit CSV already applied (audit what is left)."),
        pad: float = typer.Option(0.0, min=0.0, max=2.0, help="Pad images before detection (tight face crops: 0.4)."),
        pad_mode: str = typer.Option("detect", help="detect or image (see `faceocc evaluate --help`)."),
        threads: int = typer.Option(0, help="onnxruntime threads (0: all cores)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors."),
    ):
        """Rank the faces whose labels the model disagrees with most: audit.csv and audit_grid.png to fix labels fast."""
        from ..datasets import _manifest_root
        from .audit import run_audit
        from .report import unique_dir

        if pad_mode not in ("detect", "image"):
            _fail(f"--pad-mode {pad_mode!r}: use detect or image")
        own = _check_models([model])
        es = gather(dataset, cache, [model], split, limit, seed, pad, 320, 0.6, 32, threads, use_fallback, False, quiet=quiet,
                    pad_mode=pad_mode, audit_labels=audit_labels)
        root = None
        if dataset is not None and cache is None:
            root = dataset if dataset.is_dir() and not (dataset / "manifest.csv").is_file() else \
                _manifest_root(dataset / "manifest.csv" if dataset.is_dir() else dataset)
        out = unique_dir(out)
        summary = run_audit(es, out, threshold if threshold is not None else own[0], top=top, grid=grid, root=root)
        _say(f"{summary['scored']} face(s) scored, {summary['not_scored']} not scored; "
             f"top {summary['listed']} in {summary['csv']}" + (f", grid {summary['grid']}" if summary["grid"] else ""), quiet)
        typer.echo(json.dumps({k: v for k, v in summary.items() if k != "top"}))


def _p(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
