"""``faceocc analyze`` (a JSON record per image or video frame, CSV rows, crops, annotated copies) and
``faceocc sort`` (face crops or whole images into one folder per class)."""

from __future__ import annotations

import csv
import math
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import List, Optional

import typer

from ..io import unique_path
from . import options
from .common import detection_size, fail, read_threshold_file


def build_analyzer(model, threshold, score_threshold, det_size, min_face, eyeglasses_occlude, threads, keep_crops=False,
                   keep_images=False, keep_maps=False, smallest_face=None):
    """The Analyzer the options describe; a model that cannot be used or a bad option fails with exit code 2."""
    from ..detection import DetectorOptions
    from ..model import ModelError
    from ..pipeline import Analyzer, AnalyzerOptions
    from ..policy import PolicyOptions

    try:
        analyzer_options = AnalyzerOptions(
            model=model, threads=threads, keep_crops=keep_crops, keep_images=keep_images, keep_maps=keep_maps,
            detector=DetectorOptions(score_threshold=score_threshold, max_side=det_size, smallest_face=smallest_face),
            policy=PolicyOptions(occlusion_threshold=threshold, eyeglasses_occlude=eyeglasses_occlude, min_face_size=min_face))
        return Analyzer(analyzer_options)
    except (ModelError, ValueError) as exc:
        fail(str(exc))


def _open_outputs(jsonl: Optional[Path], csv_out: Optional[Path]):
    """The JSON Lines handle (standard output without --jsonl) and the CSV handle and writer (None without --csv)."""
    out_fh = open(unique_path(jsonl) if jsonl and jsonl.exists() else jsonl, "w") if jsonl else sys.stdout
    csv_fh = csv_writer = None
    if csv_out:
        from ..schema import CSV_FIELDS

        csv_fh = open(unique_path(csv_out), "w", newline="")
        csv_writer = csv.DictWriter(csv_fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        csv_writer.writeheader()
    return out_fh, csv_fh, csv_writer


def _safe_stem(result, index: Optional[int] = None) -> str:
    stem = Path(result.path).stem if result.path else "image"
    if result.frame is not None:
        stem += f"_f{result.frame:06d}"
    if index is not None:
        stem += f"_face{index}"
    return stem


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
            stats[f"by {face.occluder}"] += 1
        if crops is not None and face.crop is not None:
            import cv2

            cv2.imwrite(str(unique_path(crops / f"{_safe_stem(result, i)}.png")), face.crop[:, :, ::-1])
    if annotate is not None and result.image is not None:
        import cv2

        from ..draw import draw_result

        cv2.imwrite(str(unique_path(annotate / f"{_safe_stem(result)}.jpg")), draw_result(result.image, result)[:, :, ::-1])


def _searched_line(sizes: set[int]) -> str:
    """The summary line saying which faces the detector searched for (``min_face_px`` of the records)."""
    from ..detection import DEFAULT_SMALLEST_FACE

    lo, hi = min(sizes), max(sizes)
    span = f"{lo} px" if lo == hi else f"{lo}-{hi} px"
    note = "" if lo == hi else " (min_face_px of each record)"
    if hi > DEFAULT_SMALLEST_FACE:
        note += f"; smaller faces were not looked for (--smallest-face {DEFAULT_SMALLEST_FACE} finds them)"
    return f"faces of {span} and larger were searched for{note}"


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


def _iter_results(analyzer, files, every_n, fps):
    from ..io import InputError, is_video
    from ..schema import error_result

    for path in files:
        if is_video(path):
            try:
                yield from analyzer.analyze_video(path, every_n=every_n, fps=fps)
            except InputError as exc:
                yield error_result(str(path), str(exc))
            except Exception as exc:  # noqa: BLE001
                yield error_result(str(path), f"{path}: {type(exc).__name__}: {exc}")
        else:
            yield from analyzer.analyze_many([path])


def _write_results(analyzer, files, missing, writers, every_n, fps, include_map, quiet, crops, annotate):
    """Write the record of every input (those that are missing first) and count them; returns (stats, errors, searched)."""
    from tqdm import tqdm

    from ..schema import error_result

    out_fh, csv_writer = writers
    stats: Counter = Counter()
    errors: list[str] = []
    searched: set[int] = set()
    for item, reason in missing:
        rec = error_result(item, f"{item}: {reason}")
        out_fh.write(rec.to_json() + "\n")
        if csv_writer:
            csv_writer.writerows(rec.csv_rows())
        errors.append(rec.error)
    bar = tqdm(total=len(files), unit="file", disable=quiet or len(files) < 2 or not sys.stderr.isatty(), desc="analyze")
    last_path = None
    for result in _iter_results(analyzer, files, every_n, fps):
        if result.path != last_path:
            bar.update(1 if last_path is not None else 0)
            last_path = result.path
        out_fh.write(result.to_json(include_map) + "\n")
        if csv_writer:
            csv_writer.writerows(result.csv_rows())
        if result.error:
            errors.append(result.error)
            continue
        _count_and_save(result, stats, searched, crops, annotate)
    if last_path is not None:
        bar.update(1)
    bar.close()
    return stats, errors, searched


def analyze(
    inputs: List[str] = typer.Argument(..., help="Image files, directories (searched recursively), glob patterns, videos."),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Write JSON Lines here (default: standard output)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write one CSV row per face here."),
    annotate: Optional[Path] = typer.Option(None, help="Save annotated images (boxes, covered parts, verdict) here."),
    crops: Optional[Path] = typer.Option(None, help="Save aligned face crops here."),
    model: Optional[str] = options.model(),
    threshold: Optional[float] = options.threshold(),
    threshold_file: Optional[Path] = options.threshold_file(),
    score_threshold: float = options.score_threshold(),
    det_size: Optional[int] = options.det_size(),
    fast: bool = options.fast(),
    smallest_face: Optional[int] = options.smallest_face(),
    min_face: int = options.min_face(),
    eyeglasses_occlude: bool = options.eyeglasses_occlude(),
    every_n: int = typer.Option(1, help="Videos: analyze every N-th frame."),
    fps: Optional[float] = typer.Option(None, help="Videos: analyze about this many frames per second."),
    include_map: bool = typer.Option(False, "--include-map", help="Add each face's occlusion map to the JSON."),
    threads: int = options.threads(),
    quiet: bool = options.quiet("No progress bar or summary."),
):
    """Analyze photos and videos: one JSON record per image (or video frame) with every face's occlusion report."""
    from ..io import expand_inputs

    if threshold_file is not None:
        threshold = read_threshold_file(threshold_file)
    det_size = detection_size(det_size, fast, smallest_face)
    files, missing = expand_inputs(inputs)
    analyzer = build_analyzer(model, threshold, score_threshold, det_size, min_face, eyeglasses_occlude, threads,
                              keep_crops=crops is not None, keep_images=annotate is not None,
                              keep_maps=annotate is not None or include_map, smallest_face=smallest_face)
    for out_dir in (annotate, crops):
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
    out_fh, csv_fh, csv_writer = _open_outputs(jsonl, csv_out)
    try:
        stats, errors, searched = _write_results(analyzer, files, missing, (out_fh, csv_writer), every_n, fps, include_map,
                                                 quiet, crops, annotate)
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


def _sort_result(result, outdir: Path, whole_image: bool, crop_size: int, counts: Counter) -> None:
    """Copy one analysed image into OUTDIR/<its class>/, or each of its aligned faces into OUTDIR/<face class>/."""
    import cv2
    import numpy as np

    from ..alignment import align_face

    if whole_image:
        cls = result.image_class
        dest = unique_path(outdir / cls / Path(result.path).name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(result.path, dest)
        counts[cls] += 1
        return
    if not result.faces:
        counts["no_face"] += 1
        return
    for i, face in enumerate(result.faces):
        cls = face.face_class
        crop = align_face(result.image, np.array(face.landmarks), crop_size)
        dest = unique_path(outdir / cls / f"{_safe_stem(result, i)}.jpg")
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), crop[:, :, ::-1])
        counts[cls] += 1


def sort(
    inputs: List[str] = typer.Argument(..., help="Images, directories or globs (the last argument is OUTDIR)."),
    whole_image: bool = typer.Option(False, "--whole-image", help="Copy whole images (by their most occluded face) instead of face crops."),
    model: Optional[str] = options.model(),
    threshold: Optional[float] = options.threshold(),
    min_face: int = options.min_face("Faces smaller than this go to 'not_assessable'."),
    eyeglasses_occlude: bool = options.eyeglasses_occlude(),
    crop_size: int = typer.Option(224, help="Side of the saved face crops (pixels)."),
):
    """Sort faces into OUTDIR/<class>/ folders: clean, eyeglasses, mask, sunglasses, hand, other, not_assessable, no_face.

    Nothing existing is overwritten: a name that is taken gets a numbered suffix.
    """
    from ..io import expand_inputs

    if len(inputs) < 2:
        fail("give at least one INPUT and the OUTDIR")
    *sources, outdir = inputs
    files, missing = expand_inputs(sources)
    analyzer = build_analyzer(model, threshold, options.DEFAULT_SCORE_THRESHOLD, None, min_face, eyeglasses_occlude, 0,
                              keep_images=True)
    counts: Counter = Counter()
    errors = [f"{i}: {r}" for i, r in missing]
    for result in analyzer.analyze_many(files):
        if result.error:
            errors.append(result.error)
            continue
        _sort_result(result, Path(outdir), whole_image, crop_size, counts)
    typer.echo("sorted: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing") + f"; {len(errors)} error(s)", err=True)
    for e in errors[:10]:
        typer.echo(f"  error: {e}", err=True)
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(analyze)
    app.command()(sort)
