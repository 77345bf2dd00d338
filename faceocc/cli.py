"""The ``faceocc`` command line: analyze, sort, prepare, train, export (and evaluate, bench, audit, serve)."""

from __future__ import annotations

import csv
import importlib
import json
import math
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import List, Optional

import typer

from .io import unique_path as _unique_path

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="faceocc: is each face occluded, by what, where and how much, and usable for face recognition?")

CSV_FIELDS = ["path", "frame", "time_s", "face", "x1", "y1", "x2", "y2", "det_score", "occluded", "occlusion_score",
              "occluder", "mask", "sunglasses", "eyeglasses", "hand", "other", "right_eye", "left_eye", "nose", "mouth",
              "chin", "upper", "lower", "coverage", "usable", "assessable", "advice", "error"]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _build_analyzer(model, threshold, score_threshold, det_size, min_face, eyeglasses_occlude, threads, keep_crops=False,
                    keep_images=False, keep_maps=False, smallest_face=None):
    from .detection import DetectorOptions
    from .model import ModelError
    from .pipeline import Analyzer, AnalyzerOptions
    from .policy import PolicyOptions

    try:
        options = AnalyzerOptions(
            model=model, threads=threads, keep_crops=keep_crops, keep_images=keep_images, keep_maps=keep_maps,
            detector=DetectorOptions(score_threshold=score_threshold, max_side=det_size, smallest_face=smallest_face),
            policy=PolicyOptions(occlusion_threshold=threshold, eyeglasses_occlude=eyeglasses_occlude, min_face_size=min_face))
        return Analyzer(options)
    except (ModelError, ValueError) as exc:
        _fail(str(exc))


def _open_outputs(jsonl: Optional[Path], csv_out: Optional[Path]):
    """The JSON Lines handle (standard output without --jsonl) and the CSV handle and writer (None without --csv)."""
    out_fh = open(_unique_path(jsonl) if jsonl and jsonl.exists() else jsonl, "w") if jsonl else sys.stdout
    csv_fh = csv_writer = None
    if csv_out:
        csv_fh = open(_unique_path(csv_out), "w", newline="")
        csv_writer = csv.DictWriter(csv_fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        csv_writer.writeheader()
    return out_fh, csv_fh, csv_writer


def _count_and_save(result, stats: Counter, searched: set, crops: Optional[Path], annotate: Optional[Path]) -> None:
    """Count one analysed image in the summary and save its crops and annotated copy."""
    stats["images"] += 1
    if result.min_face_px is not None:
        searched.add(int(math.ceil(result.min_face_px - 1e-6)))
    for i, face in enumerate(result.faces):
        stats["faces"] += 1
        if not face.assessable:
            stats["not assessable"] += 1
        elif face.occluded:
            stats["occluded"] += 1
            stats[f"by {face.occluder or 'unknown'}"] += 1
        if crops is not None and face.crop is not None:
            import cv2

            cv2.imwrite(str(_unique_path(crops / f"{_safe_stem(result, i)}.png")), face.crop[:, :, ::-1])
    if annotate is not None and result.image is not None:
        from .draw import draw_result
        import cv2

        cv2.imwrite(str(_unique_path(annotate / f"{_safe_stem(result)}.jpg")), draw_result(result.image, result)[:, :, ::-1])


def _print_summary(stats: Counter, errors: list[str], searched: set) -> None:
    parts = [f"{stats['images']} image(s)/frame(s)", f"{stats['faces']} face(s)", f"{stats['occluded']} occluded"]
    parts += [f"{k} {v}" for k, v in sorted(stats.items()) if k.startswith("by ")]
    if stats["not assessable"]:
        parts.append(f"{stats['not assessable']} not assessable")
    parts.append(f"{len(errors)} error(s)")
    typer.echo("summary: " + ", ".join(parts), err=True)
    if searched:
        typer.echo(f"  {_searched_line(searched)}", err=True)
    for e in errors[:10]:
        typer.echo(f"  error: {e}", err=True)


def _detection_size(det_size: Optional[int], fast: bool, smallest_face: Optional[int]) -> Optional[int]:
    """The fixed detection size the options ask for (None: automatic); conflicting options fail with exit code 2."""
    if fast and det_size is not None and det_size != 320:
        _fail("--fast is --det-size 320: give one of them")
    if smallest_face is not None and (fast or det_size is not None):
        _fail("--smallest-face chooses the detection scale itself: leave out --fast and --det-size")
    return 320 if fast else det_size


def _searched_line(sizes: set[int]) -> str:
    """The summary line saying which faces the detector searched for (``min_face_px`` of the records)."""
    from .detection import DEFAULT_SMALLEST_FACE

    lo, hi = min(sizes), max(sizes)
    span = f"{lo} px" if lo == hi else f"{lo}-{hi} px"
    note = "" if lo == hi else " (min_face_px of each record)"
    if hi > DEFAULT_SMALLEST_FACE:
        note += f"; smaller faces were not looked for (--smallest-face {DEFAULT_SMALLEST_FACE} finds them)"
    return f"faces of {span} and larger were searched for{note}"


def _read_threshold_file(path: Optional[Path]) -> Optional[float]:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
        return float(data["threshold"])
    except (OSError, ValueError, KeyError) as exc:
        _fail(f"{path}: cannot read a threshold from it ({exc}); expected JSON with a 'threshold' key")


def _iter_results(analyzer, files, every_n, fps):
    from .io import InputError, is_video
    from .results import ImageResult

    for path in files:
        if is_video(path):
            try:
                yield from analyzer.analyze_video(path, every_n=every_n, fps=fps)
            except InputError as exc:
                yield ImageResult(path=str(path), width=0, height=0, error=str(exc))
            except Exception as exc:  # noqa: BLE001
                yield ImageResult(path=str(path), width=0, height=0, error=f"{path}: {type(exc).__name__}: {exc}")
        else:
            yield from analyzer.analyze_many([path])


def _csv_rows(result) -> list[dict]:
    base = {"path": result.path, "frame": result.frame, "time_s": result.time_s, "error": result.error}
    if not result.faces:
        return [dict(base, face="")]
    rows = []
    for i, f in enumerate(result.faces):
        row = dict(base, face=i, x1=round(f.box[0], 1), y1=round(f.box[1], 1), x2=round(f.box[2], 1), y2=round(f.box[3], 1),
                   det_score=round(f.det_score, 4), occluded=f.occluded, occluder=f.occluder or "",
                   occlusion_score=None if f.occlusion_score is None else round(f.occlusion_score, 4),
                   upper=f.upper, lower=f.lower, coverage=None if f.coverage is None else round(f.coverage, 4),
                   usable=f.usable, assessable=f.assessable, advice=" ".join(f.advice))
        row.update({k: round(v, 4) for k, v in f.occluders.items()})
        row.update({k: round(v, 4) for k, v in f.parts.items()})
        rows.append(row)
    return rows


def _safe_stem(result, index: Optional[int] = None) -> str:
    stem = Path(result.path).stem if result.path else "image"
    if result.frame is not None:
        stem += f"_f{result.frame:06d}"
    if index is not None:
        stem += f"_face{index}"
    return stem


@app.command()
def analyze(
    inputs: List[str] = typer.Argument(..., help="Image files, directories (searched recursively), glob patterns, videos."),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Write JSON Lines here (default: standard output)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write one CSV row per face here."),
    annotate: Optional[Path] = typer.Option(None, help="Save annotated images (boxes, covered parts, verdict) here."),
    crops: Optional[Path] = typer.Option(None, help="Save aligned face crops here."),
    model: Optional[str] = typer.Option(None, help="A faceocc ONNX model (default: the shipped one)."),
    threshold: Optional[float] = typer.Option(None, help="Occlusion threshold (default: the model's)."),
    threshold_file: Optional[Path] = typer.Option(None, help="JSON with a 'threshold', as written by `faceocc evaluate --pick-threshold`."),
    score_threshold: float = typer.Option(0.6, help="Minimum face detection score."),
    det_size: Optional[int] = typer.Option(None, help="Fixed detection size: one pass on a copy downscaled to this longest side "
                                           "(default: automatic, the scale follows the photo)."),
    fast: bool = typer.Option(False, "--fast", help="One 320 px detection pass (= --det-size 320): fast, for photos whose faces are large."),
    smallest_face: Optional[int] = typer.Option(None, help="Find faces from this many photo pixels, in any photo size (default 64; "
                                                "32 looks at full resolution, about 4 times the detection cost)."),
    min_face: int = typer.Option(32, help="Faces smaller than this (pixels) are reported as not assessable."),
    eyeglasses_occlude: bool = typer.Option(False, "--eyeglasses-occlude", help="Count clear eyeglasses as an occlusion."),
    every_n: int = typer.Option(1, help="Videos: analyze every N-th frame."),
    fps: Optional[float] = typer.Option(None, help="Videos: analyze about this many frames per second."),
    include_map: bool = typer.Option(False, "--include-map", help="Add each face's occlusion map to the JSON."),
    threads: int = typer.Option(0, help="onnxruntime threads (0: all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Analyze photos and videos: one JSON record per image (or video frame) with every face's occlusion report."""
    from tqdm import tqdm

    from .io import expand_inputs

    if threshold_file is not None:
        threshold = _read_threshold_file(threshold_file)
    det_size = _detection_size(det_size, fast, smallest_face)
    files, missing = expand_inputs(inputs)
    analyzer = _build_analyzer(model, threshold, score_threshold, det_size, min_face, eyeglasses_occlude, threads,
                               keep_crops=crops is not None, keep_images=annotate is not None, keep_maps=annotate is not None or include_map,
                               smallest_face=smallest_face)
    for out_dir in (annotate, crops):
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
    out_fh, csv_fh, csv_writer = _open_outputs(jsonl, csv_out)
    stats: Counter = Counter()
    errors: list[str] = []
    searched: set[int] = set()
    from .results import ImageResult

    try:
        for item, reason in missing:
            rec = ImageResult(path=item, width=0, height=0, error=f"{item}: {reason}")
            out_fh.write(rec.to_json() + "\n")
            if csv_writer:
                csv_writer.writerows(_csv_rows(rec))
            errors.append(rec.error)
        bar = tqdm(total=len(files), unit="file", disable=quiet or len(files) < 2 or not sys.stderr.isatty(), desc="analyze")
        last_path = None
        for result in _iter_results(analyzer, files, every_n, fps):
            if result.path != last_path:
                bar.update(1 if last_path is not None else 0)
                last_path = result.path
            out_fh.write(result.to_json(include_map) + "\n")
            if csv_writer:
                csv_writer.writerows(_csv_rows(result))
            if result.error:
                errors.append(result.error)
                continue
            _count_and_save(result, stats, searched, crops, annotate)
        if last_path is not None:
            bar.update(1)
        bar.close()
    finally:
        if out_fh is not sys.stdout:
            out_fh.close()
        if csv_fh:
            csv_fh.close()
    if not quiet:
        _print_summary(stats, errors, searched)
    if errors:
        typer.echo(f"{len(errors)} input(s) could not be read", err=True)
        raise typer.Exit(1)


@app.command()
def sort(
    inputs: List[str] = typer.Argument(..., help="Images, directories or globs (the last argument is OUTDIR)."),
    whole_image: bool = typer.Option(False, "--whole-image", help="Copy whole images (by their most occluded face) instead of face crops."),
    model: Optional[str] = typer.Option(None, help="A faceocc ONNX model (default: the shipped one)."),
    threshold: Optional[float] = typer.Option(None, help="Occlusion threshold (default: the model's)."),
    min_face: int = typer.Option(32, help="Faces smaller than this go to 'not_assessable'."),
    eyeglasses_occlude: bool = typer.Option(False, "--eyeglasses-occlude", help="Count clear eyeglasses as an occlusion."),
    crop_size: int = typer.Option(224, help="Side of the saved face crops (pixels)."),
):
    """Sort faces into OUTDIR/<class>/ folders: clean, eyeglasses, mask, sunglasses, hand, other, not_assessable, no_face.

    Nothing existing is overwritten: a name that is taken gets a numbered suffix.
    """
    import cv2

    from .alignment import align_face
    from .io import expand_inputs

    if len(inputs) < 2:
        _fail("give at least one INPUT and the OUTDIR")
    *sources, outdir = inputs
    outdir = Path(outdir)
    files, missing = expand_inputs(sources)
    analyzer = _build_analyzer(model, threshold, 0.6, None, min_face, eyeglasses_occlude, 0, keep_images=True)
    counts: Counter = Counter()
    errors = [f"{i}: {r}" for i, r in missing]
    for result in analyzer.analyze_many(files):
        if result.error:
            errors.append(result.error)
            continue
        if whole_image:
            classes = [_face_class(f) for f in result.faces] or ["no_face"]
            order = ["mask", "sunglasses", "hand", "other", "eyeglasses", "clean", "not_assessable", "no_face"]
            cls = min(classes, key=order.index)
            dest = _unique_path(outdir / cls / Path(result.path).name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(result.path, dest)
            counts[cls] += 1
            continue
        if not result.faces:
            counts["no_face"] += 1
            continue
        for i, face in enumerate(result.faces):
            cls = _face_class(face)
            import numpy as np

            crop = align_face(result.image, np.array(face.landmarks), crop_size)
            dest = _unique_path(outdir / cls / f"{_safe_stem(result, i)}.jpg")
            dest.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dest), crop[:, :, ::-1])
            counts[cls] += 1
    typer.echo("sorted: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing") + f"; {len(errors)} error(s)", err=True)
    for e in errors[:10]:
        typer.echo(f"  error: {e}", err=True)
    if errors:
        raise typer.Exit(1)


def _face_class(face) -> str:
    if not face.assessable:
        return "not_assessable"
    if face.occluded:
        return face.occluder or "other"
    if face.occluders.get("eyeglasses", 0.0) >= 0.5:
        return "eyeglasses"
    return "clean"


@app.command()
def prepare(
    dataset: Path = typer.Argument(..., help="A CSV manifest (path,label[,split][,group]) or an ImageFolder root."),
    out: Path = typer.Argument(..., help="Cache folder for the aligned crops."),
    workers: int = typer.Option(2, help="Worker processes."),
    fallback: bool = typer.Option(True, help="Use images with no detected face as tight face crops."),
):
    """Detect and align every face of a dataset once, caching crops; lists every image that could not be used."""
    from .datasets import DatasetError, load_dataset
    from .prepare import prepare_dataset

    try:
        records = load_dataset(dataset)
    except DatasetError as exc:
        _fail(str(exc))
    summary = prepare_dataset(records, out, workers=workers, fallback=fallback)
    typer.echo(json.dumps(summary))
    if summary["skipped"]:
        typer.echo(f"{summary['skipped']} image(s) could not be used: see {out / 'skipped.csv'}", err=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Config file (.json, .toml, .yaml)."),
):
    """Train a model. Settings come from --config plus key=value overrides, e.g. `faceocc train data=DIR epochs=3`."""
    try:
        from .train.config import load_config
        from .train.trainer import train as run_training
    except ImportError as exc:
        _fail(f"training needs PyTorch: pip install 'faceocc[train]' ({exc})")
    try:
        cfg = load_config(config, list(ctx.args))
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    if not cfg.data:
        _fail("no dataset: give data=PATH (a manifest CSV or an ImageFolder root)")
    from .datasets import DatasetError

    try:
        summary = run_training(cfg, log=lambda m: typer.echo(m, err=True))
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(summary, indent=2, default=float))


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `faceocc train` (best.ckpt)."),
    out: Path = typer.Argument(..., help="Output .onnx file."),
    format: str = typer.Option("faceocc", "--format", help="faceocc (full model) or binary224 (drop-in N x 2 classifier)."),
    int8: bool = typer.Option(False, "--int8", help="Also write a static per-channel int8 model (needs --calibration)."),
    calibration: Optional[Path] = typer.Option(None, help="Calibration crops: a prepared cache folder, or a folder of images."),
    calibration_count: int = typer.Option(256, help="How many calibration crops to use."),
    threshold: Optional[float] = typer.Option(None, help="Operating threshold stored in the model (default: 0.5)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Export a trained checkpoint to ONNX (fp32, optional int8, or the binary224 drop-in classifier)."""
    try:
        from .export import export_binary224, export_onnx, quantize_int8
    except ImportError as exc:
        _fail(f"export needs PyTorch and onnx: pip install 'faceocc[train]' ({exc})")
    if not checkpoint.is_file():
        _fail(f"{checkpoint}: checkpoint not found")
    int8_out = out.with_name(out.stem + "_int8.onnx")
    for target in [out] + ([int8_out] if int8 else []):
        if target.exists() and not force:
            _fail(f"{target} exists; use --force to overwrite it")
    if format == "binary224":
        typer.echo(json.dumps(export_binary224(checkpoint, out, threshold=threshold)))
        return
    if format != "faceocc":
        _fail(f"unknown format {format!r}: use faceocc or binary224")
    sample = _calibration_crops(calibration, calibration_count) if calibration else None
    typer.echo(json.dumps(export_onnx(checkpoint, out, sample=sample[:16] if sample is not None else None, threshold=threshold)))
    if int8:
        if sample is None:
            _fail("--int8 needs --calibration (a prepared cache or a folder of face images)")
        typer.echo(json.dumps(quantize_int8(out, int8_out, sample)))


def _calibration_crops(path: Path, count: int):
    import numpy as np

    from .prepare import CropCache

    if (path / "crops.npy").is_file():
        cache = CropCache.load(path)
        idx = np.random.default_rng(0).permutation(len(cache.rows))[:count]
        return np.asarray(cache.crops[np.sort(idx)])
    from .alignment import align_face
    from .detection import FaceDetector
    from .io import expand_inputs, load_image

    files, _ = expand_inputs([str(path)])
    det, crops = FaceDetector(), []
    for f in files:
        try:
            faces = det.detect(load_image(f))
        except Exception:  # noqa: BLE001 - calibration skips unreadable files
            continue
        if faces:
            crops.append(align_face(load_image(f), faces[0].landmarks))
        if len(crops) >= count:
            break
    if not crops:
        _fail(f"{path}: no face found for calibration")
    return np.stack(crops)


@app.command("synth-grid", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def synth_grid(ctx: typer.Context):
    """Write a grid of synthetic occlusion samples to a PNG for a visual check.

    Options: --occluders DIR (default: procedural), --split train|test|all, --out FILE, --n N, --kind K,
    --cache DIR (prepared crops), --images FILES, --seed S.
    """
    from .synthesis import main as synthesis_main

    raise typer.Exit(synthesis_main(["grid", *ctx.args]))


# Commands that live in their own modules register themselves here.
for _module in ("faceocc.evaluate.commands", "faceocc.server.commands"):
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name is None or not _module.startswith(_exc.name):
            raise


def main() -> None:
    app()


if __name__ == "__main__":
    main()
