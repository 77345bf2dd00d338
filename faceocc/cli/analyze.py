"""``faceocc analyze`` (a JSON record per image or video frame, CSV rows, crops, annotated copies, per-track summaries
of videos) and ``faceocc sort`` (face crops or whole images into one folder per class)."""

from __future__ import annotations

import csv
import math
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from ..io import unique_path
from . import options
from .common import detection_size, expand_inputs, fail, read_threshold_file, video_sampling

DEVICE_HELP = "Where the networks run: auto (CUDA when onnxruntime offers it, else the CPU), cpu or cuda."


def build_analyzer(
    model,
    threshold,
    score_threshold,
    det_size,
    min_face,
    eyeglasses_occlude,
    threads,
    keep_crops=False,
    keep_images=False,
    keep_maps=False,
    smallest_face=None,
    device="auto",
):
    """The Analyzer the options describe; a model that cannot be used or a bad option fails with exit code 2."""
    from ..detection import DetectorOptions
    from ..model import ModelError
    from ..pipeline import Analyzer, AnalyzerOptions
    from ..policy import PolicyOptions

    try:
        analyzer_options = AnalyzerOptions(
            model=model,
            threads=threads,
            keep_crops=keep_crops,
            keep_images=keep_images,
            keep_maps=keep_maps,
            device=device,
            detector=DetectorOptions(score_threshold=score_threshold, max_side=det_size, smallest_face=smallest_face),
            policy=PolicyOptions(
                occlusion_threshold=threshold, eyeglasses_occlude=eyeglasses_occlude, min_face_size=min_face
            ),
        )
        return Analyzer(analyzer_options)
    except (ModelError, ValueError) as exc:
        fail(str(exc))


@dataclass
class _Outputs:
    """Where the records go: JSON Lines (standard output without --jsonl) and CSV rows (without --csv: none)."""

    out: Any
    csv_fh: Any = None
    csv_writer: Any = None

    @classmethod
    def open(cls, jsonl: Path | None, csv_out: Path | None) -> _Outputs:
        out_fh = open(unique_path(jsonl), "w") if jsonl else sys.stdout
        outputs = cls(out_fh)
        if csv_out:
            from ..schema import CSV_FIELDS

            outputs.csv_fh = open(unique_path(csv_out), "w", newline="")
            outputs.csv_writer = csv.DictWriter(outputs.csv_fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            outputs.csv_writer.writeheader()
        return outputs

    def write(self, result, include_map: bool = False, flush: bool = False) -> None:
        self.out.write(result.to_json(include_map) + "\n")
        if self.csv_writer:
            self.csv_writer.writerows(result.csv_rows())
        if flush:
            self.out.flush()
            if self.csv_fh:
                self.csv_fh.flush()

    def close(self) -> None:
        if self.out is not sys.stdout:
            self.out.close()
        if self.csv_fh:
            self.csv_fh.close()


@dataclass
class _Job:
    """One ``faceocc analyze`` run: its options, and what it has counted so far."""

    analyzer: Any
    outputs: _Outputs
    every_n: int = 1
    fps: float | None = None
    video: dict = field(default_factory=dict)  # VideoOptions fields
    include_map: bool = False
    quiet: bool = False
    crops: Path | None = None
    annotate: Path | None = None
    stats: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    searched: set = field(default_factory=set)
    runs: list = field(default_factory=list)  # the VideoRun of every video
    workers: int = 1  # processes for the photos (videos are analysed in this one)

    def record(self, result, flush: bool = False) -> None:
        """Write one record and count it."""
        self.outputs.write(result, self.include_map, flush)
        if result.error:
            self.errors.append(result.error)
        else:
            _count_and_save(result, self.stats, self.searched, self.crops, self.annotate)


def _safe_stem(result, index: int | None = None) -> str:
    stem = Path(result.path).stem if result.path else "image"
    if result.frame is not None:
        stem += f"_f{result.frame:06d}"
    if index is not None:
        stem += f"_face{index}"
    return stem


def _count_and_save(result, stats: Counter, searched: set, crops: Path | None, annotate: Path | None) -> None:
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

        image = draw_result(result.image, result)[:, :, ::-1]
        cv2.imwrite(str(unique_path(annotate / f"{_safe_stem(result)}.jpg")), image)


def _searched_line(sizes: set[int]) -> str:
    """The summary line saying which faces the detector searched for (``min_face_px`` of the records)."""
    from ..detection import DEFAULT_SMALLEST_FACE

    lo, hi = min(sizes), max(sizes)
    span = f"{lo} px" if lo == hi else f"{lo}-{hi} px"
    note = "" if lo == hi else " (min_face_px of each record)"
    if hi > DEFAULT_SMALLEST_FACE:
        note += f"; smaller faces were not looked for (--smallest-face {DEFAULT_SMALLEST_FACE} finds them)"
    return f"faces of {span} and larger were searched for{note}"


def _print_summary(job: _Job) -> None:
    stats, errors = job.stats, job.errors
    parts = [f"{stats['images']} image(s)/frame(s)", f"{stats['faces']} face(s)", f"{stats['occluded']} occluded"]
    parts += [f"{k} {v}" for k, v in sorted(stats.items()) if k.startswith("by ")]
    if stats["not assessable"]:
        parts.append(f"{stats['not assessable']} not assessable")
    if job.runs:
        parts.append(f"{sum(len(run.tracks) for run in job.runs)} track(s) in {len(job.runs)} video(s)")
    parts.append(f"{len(errors)} error(s)")
    typer.echo("summary: " + ", ".join(parts), err=True)
    if job.searched:
        typer.echo(f"  {_searched_line(job.searched)}", err=True)
    typer.echo(f"  networks ran on: {job.analyzer.device}", err=True)
    for e in errors[:10]:
        typer.echo(f"  error: {e}", err=True)


def _analyze_video(job: _Job, source) -> None:
    """Analyse one video file, camera or stream: a record per analysed frame (flushed at once for a stream), a
    progress bar over the frames with the time left (when the frame count is known)."""
    from tqdm import tqdm

    from ..io import InputError
    from ..schema import error_result

    run = job.analyzer.analyze_video(source, every_n=job.every_n, fps=job.fps, **job.video)
    try:
        info = run.info
    except InputError as exc:
        job.record(error_result(str(source), str(exc)))
        return
    job.runs.append(run)
    bar = tqdm(
        total=info.frames_to_read,
        unit="frame",
        desc=Path(info.name).name if not info.stream else info.name,
        disable=job.quiet or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )
    try:
        for result in run:
            job.record(result, flush=info.stream)
            bar.update(1)
    except InputError as exc:
        job.record(error_result(str(source), str(exc)))
    except Exception as exc:  # noqa: BLE001 - one bad video never stops a batch
        job.record(error_result(str(source), f"{source}: {type(exc).__name__}: {exc}"))
    finally:
        bar.close()
        run.close()


def _analyze_inputs(job: _Job, files: list, streams: list[str], missing) -> None:
    """Every input: those that are missing (an error record each), files (a progress bar over them), streams."""
    from tqdm import tqdm

    from ..io import is_video
    from ..schema import error_result

    for item, reason in missing:
        job.record(error_result(item, f"{item}: {reason}"))
    photos = _photo_results(job, [p for p in files if not is_video(p)])
    bar = tqdm(
        total=len(files), unit="file", disable=job.quiet or len(files) < 2 or not sys.stderr.isatty(), desc="analyze"
    )
    try:
        for path in files:
            if is_video(path):
                _analyze_video(job, path)
            else:
                job.record(next(photos))
            bar.update(1)
    finally:
        bar.close()
        photos.close()
    for source in streams:
        _analyze_video(job, source)


def _photo_results(job: _Job, paths: list):
    """The records of the photos among the inputs, in their order: from ``job.workers`` processes (one Analyzer
    each, the same records) or from this process's Analyzer."""
    if job.workers > 1 and len(paths) > 1:
        from ..parallel import analyze_in_processes

        return analyze_in_processes(job.analyzer.options, paths, job.workers)
    return job.analyzer.analyze_many(paths)


def _write_tracks(job: _Job, tracks: Path | None, tracks_csv: Path | None) -> None:
    """The per-track summaries of the videos as JSON and/or CSV (a file that exists is never overwritten)."""
    from ..tracking import write_tracks_csv, write_tracks_json

    written = []
    if tracks is not None:
        written.append(write_tracks_json(unique_path(tracks), [run.summary() for run in job.runs]))
    if tracks_csv is not None:
        written.append(write_tracks_csv(unique_path(tracks_csv), [s for run in job.runs for s in run.summaries()]))
    if written and not job.quiet:
        count = sum(len(run.tracks) for run in job.runs)
        typer.echo(f"{count} track(s) written to {' and '.join(str(p) for p in written)}", err=True)


def _split_inputs(inputs: list[str] | None, camera: int | None):
    """(files, streams, missing): cameras and URLs are streams; the rest are files, directories or patterns."""
    from ..io import is_stream

    inputs = list(inputs or [])
    if camera is not None:
        inputs.append(f"camera:{camera}")
    if not inputs:
        fail("give at least one input (a photo, a folder, a video, a stream URL) or --camera N")
    streams = [i for i in inputs if is_stream(i)]
    files, missing = expand_inputs([i for i in inputs if not is_stream(i)])
    return files, streams, missing


def analyze(
    inputs: list[str] | None = typer.Argument(
        None,
        help="Image files, directories (searched recursively), glob patterns, videos, stream URLs "
        "(rtsp://, http://, file://) or camera:N.",
    ),
    jsonl: Path | None = typer.Option(None, "--jsonl", help="Write JSON Lines here (default: standard output)."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write one CSV row per face here."),
    annotate: Path | None = typer.Option(None, help="Save annotated images (boxes, covered parts, verdict) here."),
    crops: Path | None = typer.Option(None, help="Save aligned face crops here."),
    model: str | None = options.model(),
    threshold: float | None = options.threshold(),
    threshold_file: Path | None = options.threshold_file(),
    score_threshold: float = options.score_threshold(),
    det_size: int | None = options.det_size(),
    fast: bool = options.fast(),
    smallest_face: int | None = options.smallest_face(),
    min_face: int = options.min_face(),
    eyeglasses_occlude: bool = options.eyeglasses_occlude(),
    every_n: int | None = typer.Option(None, min=1, help="Videos: analyze every N-th frame (default: every frame)."),
    fps: float | None = typer.Option(None, help="Videos: analyze about this many frames per second (or --every-n)."),
    detect_every: int | None = typer.Option(
        None,
        min=1,
        help="Videos: run the face detector on every N-th analysed frame and follow the faces by optical "
        "flow in between (re-detecting wherever a face is lost); 1: detect on every frame. "
        "Default 10.",
    ),
    smooth: float | None = typer.Option(
        None,
        min=0.01,
        max=1.0,
        help="Videos: weight of the newest frame in each track's moving average of the "
        "scores (1: no smoothing). Default 0.3.",
    ),
    tracks: Path | None = typer.Option(None, "--tracks", help="Videos: write the per-track summary here as JSON."),
    tracks_csv: Path | None = typer.Option(None, "--tracks-csv", help="Videos: write the per-track summary as CSV."),
    camera: int | None = typer.Option(None, "--camera", min=0, help="Analyse this webcam (as input camera:N)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    include_map: bool = typer.Option(False, "--include-map", help="Add each face's occlusion map to the JSON."),
    threads: int = options.threads(),
    workers: int = typer.Option(
        1, min=1, help="Photos: analyse in this many processes (one model each; records stay in input order)."
    ),
    quiet: bool = options.quiet("No progress bar or summary."),
):
    """Analyze photos and videos: one JSON record per image (or video frame) with every face's occlusion report.

    Videos (files, cameras, stream URLs) are tracked: each face of a frame has a track_id, its scores are smoothed
    along the track, and --tracks / --tracks-csv write a summary per track (frames, time span, share occluded, main
    occluder, best usable frame). Streams are read until they end (Ctrl-C stops a camera; the summary is still
    written), each record written as soon as its frame is analysed. No existing file is overwritten.
    """
    if threshold_file is not None:
        threshold = read_threshold_file(threshold_file)
    det_size = detection_size(det_size, fast, smallest_face)
    every_n, fps = video_sampling(every_n, fps)
    files, streams, missing = _split_inputs(inputs, camera)
    video = {k: v for k, v in (("detect_every", detect_every), ("smooth", smooth)) if v is not None}
    analyzer = build_analyzer(
        model,
        threshold,
        score_threshold,
        det_size,
        min_face,
        eyeglasses_occlude,
        threads,
        keep_crops=crops is not None,
        keep_images=annotate is not None,
        keep_maps=annotate is not None or include_map,
        smallest_face=smallest_face,
        device=device,
    )
    for out_dir in (annotate, crops):
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
    job = _Job(analyzer, _Outputs.open(jsonl, csv_out), every_n, fps, video, include_map, quiet, crops, annotate)
    job.workers = workers
    try:
        _analyze_inputs(job, files, streams, missing)
    except KeyboardInterrupt:
        typer.echo("interrupted: the results so far are written", err=True)
    finally:
        job.outputs.close()
    _write_tracks(job, tracks, tracks_csv)
    if not quiet:
        _print_summary(job)
    if job.errors:
        typer.echo(f"{len(job.errors)} input(s) could not be read", err=True)
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
    inputs: list[str] = typer.Argument(..., help="Images, directories or globs (the last argument is OUTDIR)."),
    whole_image: bool = typer.Option(
        False, "--whole-image", help="Copy whole images (by their most occluded face) instead of face crops."
    ),
    model: str | None = options.model(),
    threshold: float | None = options.threshold(),
    min_face: int = options.min_face("Faces smaller than this go to 'not_assessable'."),
    eyeglasses_occlude: bool = options.eyeglasses_occlude(),
    crop_size: int = typer.Option(224, help="Side of the saved face crops (pixels)."),
):
    """Sort faces into OUTDIR/<class>/ folders: clean, eyeglasses, mask, sunglasses, hand, other, not_assessable,
    no_face.

    Nothing existing is overwritten: a name that is taken gets a numbered suffix.
    """
    if len(inputs) < 2:
        fail("give at least one INPUT and the OUTDIR")
    *sources, outdir = inputs
    files, missing = expand_inputs(sources)
    analyzer = build_analyzer(
        model, threshold, options.DEFAULT_SCORE_THRESHOLD, None, min_face, eyeglasses_occlude, 0, keep_images=True
    )
    counts: Counter = Counter()
    errors = [f"{i}: {r}" for i, r in missing]
    for result in analyzer.analyze_many(files):
        if result.error:
            errors.append(result.error)
            continue
        _sort_result(result, Path(outdir), whole_image, crop_size, counts)
    sorted_counts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"
    typer.echo(f"sorted: {sorted_counts}; {len(errors)} error(s)", err=True)
    for e in errors[:10]:
        typer.echo(f"  error: {e}", err=True)
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(analyze)
    app.command()(sort)
