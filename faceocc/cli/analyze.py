"""``faceocc analyze``: a JSON record per image or video frame, CSV rows, crops, annotated copies, per-track summaries
of videos, an HTML report (``faceocc sort`` is in :mod:`faceocc.cli.sort`)."""

from __future__ import annotations

import csv
import math
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from ..outputs import FileSaver, OutputError, check_targets, derived_stem, derived_tail, open_text, prepare_dir
from . import options
from .common import (
    DEVICE_HELP,
    OVERWRITE_HELP,
    REPORT_HELP,
    build_analyzer,
    detection_size,
    expand_inputs,
    fail,
    finish_report,
    open_report,
    read_threshold_file,
    searched_line,
    video_sampling,
)


@dataclass
class _Outputs:
    """Where the records go: JSON Lines (standard output without --jsonl) and CSV rows (without --csv: none). A write
    that fails raises :class:`OutputError` (the batch stops: its record stream is broken)."""

    out: Any
    close_out: Any
    jsonl: str = "standard output"
    csv_fh: Any = None
    close_csv: Any = None
    csv_writer: Any = None
    csv_name: str = ""

    @classmethod
    def open(cls, jsonl: Path | None, csv_out: Path | None) -> _Outputs:
        """Open the record files (checked by :func:`faceocc.outputs.check_targets` first)."""
        outputs = cls(*open_text(jsonl), jsonl=str(jsonl or "standard output"))
        if csv_out:
            from ..schema import CSV_FIELDS

            outputs.csv_fh, outputs.close_csv = open_text(csv_out, table=True)
            outputs.csv_name = str(csv_out)
            outputs.csv_writer = csv.DictWriter(outputs.csv_fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            outputs._guard(outputs.csv_name, outputs.csv_writer.writeheader)
        return outputs

    @staticmethod
    def _guard(name: str, write) -> None:
        try:
            write()
        except (OSError, ValueError) as exc:
            raise OutputError(f"{name}: cannot write the records ({getattr(exc, 'strerror', None) or exc})") from None

    def write(self, result, include_map: bool = False, flush: bool = False) -> None:
        self._guard(self.jsonl, lambda: self.out.write(result.to_json(include_map) + "\n"))
        if self.csv_writer:
            self._guard(self.csv_name, lambda: self.csv_writer.writerows(result.csv_rows()))
        if flush:
            self._guard(self.jsonl, self.out.flush)
            if self.csv_fh:
                self._guard(self.csv_name, self.csv_fh.flush)

    def close(self) -> None:
        self._guard(self.jsonl, self.close_out)
        if self.close_csv:
            self._guard(self.csv_name, self.close_csv)


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
    saver: FileSaver = field(default_factory=FileSaver)
    stats: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    output_errors: list = field(default_factory=list)  # crops and annotated copies that could not be written
    searched: set = field(default_factory=set)
    runs: list = field(default_factory=list)  # the VideoRun of every video
    report: Any = None  # the BatchReport of --report
    workers: int = 1  # processes for the photos (videos are analysed in this one)

    def record(self, result, flush: bool = False) -> None:
        """Save one result's crops and annotated copy, then write its record (which names them), count it and
        add it to the report."""
        if result.error:
            self.errors.append(result.error)
        else:
            _count(result, self.stats, self.searched)
            threshold = self.analyzer.options.policy.threshold(self.analyzer.model.threshold)
            self.output_errors += _save(result, self.saver, self.crops, self.annotate, threshold)
            self.stats["crop files"] += sum(f.crop_file is not None for f in result.faces)
            self.stats["annotated files"] += result.annotated_file is not None
        self.outputs.write(result, self.include_map, flush)
        if self.report is not None:
            self.report.add(result)


def _count(result, stats: Counter, searched: set) -> None:
    """Count one analysed image in the summary."""
    stats["images"] += 1
    if result.min_face_px is not None:
        searched.add(int(math.ceil(result.min_face_px - 1e-6)))
    for face in result.faces:
        stats["faces"] += 1
        if not face.assessable:
            stats["not assessable"] += 1
        elif face.occluded:
            stats["occluded"] += 1
            stats[f"by {face.occluder}"] += 1


def _save(
    result, saver: FileSaver, crops: Path | None, annotate: Path | None, threshold: float | None = None
) -> list[str]:
    """Save one image's crops (``astro_bmp_face0.png``) and annotated copy (``astro_bmp.jpg``; video frames add
    ``_f000012``), put the paths written into its record; the outputs that could not be written, as messages."""
    stem, errors = derived_stem(result.path), []
    for i, face in enumerate(result.faces):
        if crops is not None and face.crop is not None:
            try:
                face.crop_file = str(saver.save_image(crops, stem, derived_tail(".png", result.frame, i), face.crop))
            except OutputError as exc:
                errors.append(f"crop not saved: {exc}")
    if annotate is not None and result.image is not None:
        from ..draw import draw_result

        try:
            image = draw_result(result.image, result, threshold=threshold)
            result.annotated_file = str(saver.save_image(annotate, stem, derived_tail(".jpg", result.frame), image))
        except OutputError as exc:
            errors.append(f"annotated copy not saved: {exc}")
    return errors


def _print_summary(job: _Job) -> None:
    stats, errors = job.stats, job.errors
    parts = [f"{stats['images']} image(s)/frame(s)", f"{stats['faces']} face(s)", f"{stats['occluded']} occluded"]
    parts += [f"{k} {v}" for k, v in sorted(stats.items()) if k.startswith("by ")]
    if stats["not assessable"]:
        parts.append(f"{stats['not assessable']} not assessable")
    if job.runs:
        parts.append(f"{sum(len(run.tracks) for run in job.runs)} track(s) in {len(job.runs)} video(s)")
    parts.append(f"{len(errors)} error(s)")
    if job.output_errors:
        parts.append(f"{len(job.output_errors)} output(s) not written")
    typer.echo("summary: " + ", ".join(parts), err=True)
    if job.searched:
        typer.echo(f"  {searched_line(job.searched)}", err=True)
    typer.echo(f"  networks ran on: {job.analyzer.device}", err=True)
    for line in _written_lines(job):
        typer.echo(f"  {line}", err=True)
    for e in errors[:10] + job.output_errors[:10]:
        typer.echo(f"  error: {e}", err=True)


def _written_lines(job: _Job) -> list[str]:
    """Where every output went: the record files, the crop and annotated folders (with how many files)."""
    lines = [f"records (JSON Lines): {job.outputs.jsonl}"]
    if job.outputs.csv_name:
        lines.append(f"CSV rows: {job.outputs.csv_name}")
    if job.crops is not None:
        lines.append(f"face crops: {job.crops} ({job.stats['crop files']} file(s))")
    if job.annotate is not None:
        lines.append(f"annotated copies: {job.annotate} ({job.stats['annotated files']} file(s))")
    return lines


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

    from ..io import is_video, shown
    from ..schema import error_result

    for item, reason in missing:
        job.record(error_result(item, f"{shown(item)}: {reason}"))
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


def _nothing() -> Iterator[Any]:
    yield from ()


def _photo_results(job: _Job, paths: list):
    """The records of the photos among the inputs, in their order: from ``job.workers`` processes (one Analyzer
    each, the same records) or from this process's Analyzer (nothing is started without photos)."""
    if not paths:
        return _nothing()
    if job.workers > 1 and len(paths) > 1:
        from ..parallel import analyze_in_processes

        return analyze_in_processes(job.analyzer.options, paths, job.workers)
    return job.analyzer.analyze_many(paths)


def _write_tracks(job: _Job, tracks: Path | None, tracks_csv: Path | None) -> None:
    """The per-track summaries of the videos as JSON and/or CSV (checked before the run by ``check_targets``)."""
    from ..tracking import write_tracks_csv, write_tracks_json

    written = []
    try:
        if tracks is not None:
            written.append(write_tracks_json(tracks, [run.summary() for run in job.runs]))
        if tracks_csv is not None:
            written.append(write_tracks_csv(tracks_csv, [s for run in job.runs for s in run.summaries()]))
    except (OSError, ValueError) as exc:
        job.output_errors.append(f"track summary not written: {exc}")
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
    every_n: int | None = options.every_n(),
    fps: float | None = options.fps(),
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
    fallback_every: int | None = typer.Option(
        None,
        "--fallback-every",
        min=1,
        help="Videos: with no face tracked, run the second (fallback) detector on every N-th detector run. Default 3.",
    ),
    early_entry: bool = typer.Option(
        True,
        "--early-entry/--no-early-entry",
        help="Videos: with no face in view, also detect as soon as the picture changes, so a face entering an "
        "empty view is found at once.",
    ),
    overlap: bool = typer.Option(
        True, "--overlap/--no-overlap", help="Videos: classify a frame in a thread while the next is located."
    ),
    reconnect: int | None = typer.Option(
        None,
        "--reconnect",
        min=0,
        help="Cameras and streams: open a stream that stops delivering frames again up to N times in a row "
        "(0: never). Default 3.",
    ),
    tracks: Path | None = typer.Option(None, "--tracks", help="Videos: write the per-track summary here as JSON."),
    tracks_csv: Path | None = typer.Option(None, "--tracks-csv", help="Videos: write the per-track summary as CSV."),
    camera: int | None = typer.Option(None, "--camera", min=0, help="Analyse this webcam (as input camera:N)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    include_map: bool = typer.Option(False, "--include-map", help="Add each face's occlusion map to the JSON."),
    report: Path | None = typer.Option(None, "--report", help=REPORT_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    threads: int = options.threads(),
    workers: int = typer.Option(
        1, min=1, help="Photos: analyse in this many processes (one model each; records stay in input order)."
    ),
    engine: str = typer.Option("local", "--engine", help="local, or ray: analyse on Ray Data (faceocc[ray])."),
    address: str | None = typer.Option(None, "--address", help="--engine ray: join this cluster (auto, ray://...)."),
    num_workers: int | None = typer.Option(None, "--num-workers", min=1, help="--engine ray: actors (default: CPUs)."),
    quiet: bool = options.quiet("No progress bar or summary."),
):
    """Analyze photos and videos: one JSON record per image (or video frame) with every face's occlusion report.

    Videos (files, cameras, stream URLs) are tracked: each face of a frame has a track_id, its scores are smoothed
    along the track, and --tracks / --tracks-csv write a summary per track (frames, time span, share occluded, main
    occluder, best usable frame). Streams are read until they end (Ctrl-C stops a camera; the summary is still
    written), each record written as soon as its frame is analysed. No existing file is overwritten without
    --overwrite: a record file (--jsonl, --csv, --tracks) that exists is refused; a crop or annotated copy whose name
    is taken gets -1, -2... (the record names the file written). -, /dev/stdout, /dev/null and >(...) are written as
    they are.
    """
    if threshold_file is not None:
        threshold = read_threshold_file(threshold_file)
    det_size = detection_size(det_size, fast, smallest_face)
    every_n, fps = video_sampling(every_n, fps)
    targets = {"--jsonl": jsonl or Path("-"), "--csv": csv_out, "--tracks": tracks, "--tracks-csv": tracks_csv}
    _check_outputs(targets, overwrite)
    files, streams, missing = _split_inputs(inputs, camera)
    counts = {"detect_every": detect_every, "smooth": smooth, "fallback_every": fallback_every, "reconnect": reconnect}
    video = {k: v for k, v in counts.items() if v is not None} | {"early_entry": early_entry, "overlap": overlap}
    analyzer = build_analyzer(
        model,
        threshold,
        score_threshold,
        det_size,
        min_face,
        eyeglasses_occlude,
        threads,
        keep_crops=crops is not None or report is not None,
        keep_images=annotate is not None,
        keep_maps=annotate is not None or include_map,
        smallest_face=smallest_face,
        device=device,
    )
    if engine != "local" or address or num_workers:
        from .batch import REFUSED, analyze_on_ray, batch_options

        if engine != "ray":
            fail(f"--engine {engine}: not an engine (local or ray); --address and --num-workers need --engine ray")
        analyzer.close()  # each actor builds its own
        given = (csv_out, annotate, crops, report, tracks, tracks_csv, include_map, camera is not None)
        settings = batch_options(every_n, fps, video, address, num_workers, threads, quiet)
        return analyze_on_ray(list(inputs or []), jsonl, analyzer, settings, quiet, dict(zip(REFUSED, given)))
    try:
        for out_dir in (annotate, crops):
            if out_dir is not None:
                prepare_dir(out_dir)
        outputs = _Outputs.open(jsonl, csv_out)
    except OutputError as exc:
        fail(str(exc))
    job = _Job(analyzer, outputs, every_n, fps, video, include_map, quiet, crops, annotate, FileSaver(overwrite))
    job.report = open_report(report, analyzer)
    job.workers = workers
    try:
        _analyze_inputs(job, files, streams, missing)
    except KeyboardInterrupt:
        typer.echo("interrupted: the results so far are written", err=True)
    except OutputError as exc:
        fail(f"{exc}; the batch stopped", code=1)
    finally:
        _close(job)
    _write_tracks(job, tracks, tracks_csv)
    finish_report(job.report, quiet)
    if not quiet:
        _print_summary(job)
    if job.errors:
        typer.echo(f"{len(job.errors)} input(s) could not be read", err=True)
    if job.output_errors:
        typer.echo(f"{len(job.output_errors)} output(s) could not be written", err=True)
    if job.errors or job.output_errors:
        raise typer.Exit(1)


def _check_outputs(targets: dict, overwrite: bool) -> None:
    """Refuse record files that would replace a file, or meet (before any work; exit code 2). JSON Lines go to
    standard output without --jsonl."""
    try:
        check_targets(targets, overwrite)
    except OutputError as exc:
        fail(str(exc))


def _close(job: _Job) -> None:
    try:
        job.outputs.close()
    except OutputError as exc:
        fail(str(exc), code=1)


def register(app: typer.Typer) -> None:
    app.command()(analyze)
