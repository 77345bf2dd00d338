"""``faceocc batch``: ``faceocc analyze`` for millions of photos and hours of video, on Ray Data (an actor pool on
this machine or a cluster), into a resumable output folder (:mod:`faceocc.batch`)."""

from __future__ import annotations

import importlib.util
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import typer

from . import options
from .common import (
    DEVICE_HELP,
    build_analyzer,
    detection_size,
    fail,
    read_threshold_file,
    searched_line,
    video_sampling,
)

EXTRA = "pip install 'faceocc[ray]'"
#: the options of ``faceocc analyze`` that ``--engine ray`` does not have (the records and the summary only)
REFUSED = ("--csv", "--annotate", "--crops", "--report", "--tracks", "--tracks-csv", "--include-map", "--camera")
#: inputs the Ray engine cannot read: cameras and live streams (a video file under a URI is read, not streamed)
_LIVE = re.compile(r"^(camera:\d+|(rtsps?|rtmp|https?|udp|tcp|srt)://)", re.IGNORECASE)


def require_ray() -> None:
    """Fail with exit code 2, naming the extra, when Ray Data is not installed."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:
        fail(f"the Ray engine needs Ray Data, which is not installed: {EXTRA}")


def batch(
    inputs: list[str] = typer.Argument(
        ...,
        help="Image and video files, folders (searched recursively), glob patterns, list files (.txt: one path a "
        "line) or manifests (.parquet/.csv with a 'path' column); local or pyarrow filesystem URIs (s3://, gs://...).",
    ),
    out: str = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output folder: new, or the folder of a run to resume; a local path or a pyarrow filesystem URI "
        "(s3://bucket/results: the JSON Lines as records/part-N.jsonl).",
    ),
    jsonl: Path | None = typer.Option(None, "--jsonl", help="Write the JSON Lines here (default: OUT/records.jsonl)."),
    no_jsonl: bool = typer.Option(False, "--no-jsonl", help="Write Parquet only."),
    address: str | None = typer.Option(
        None,
        "--address",
        help="Join this Ray cluster: auto, or ray://HOST:10001 (default: RAY_ADDRESS, or a local Ray).",
    ),
    num_workers: int | None = typer.Option(None, "--num-workers", min=1, help="Actors (default: CPUs / per worker)."),
    cpus_per_worker: int = typer.Option(1, "--cpus-per-worker", min=1, help="CPUs (onnxruntime threads) per actor."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Inputs per call of an actor."),
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
    detect_every: int | None = typer.Option(None, min=1, help="Videos: run the detector on every N-th frame."),
    smooth: float | None = typer.Option(None, min=0.01, max=1.0, help="Videos: weight of the newest frame."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    quiet: bool = options.quiet("No progress bars or summary."),
):
    """Analyze photos and videos on Ray Data: the records of `faceocc analyze` (JSON Lines) and one Parquet row per
    face, in OUT. Run the same command again to resume: inputs already in OUT are skipped.

    Each actor holds one analyzer; a video is analysed (and its faces tracked) by one actor. A bad input gives an
    error record; it never stops the batch.
    """
    require_ray()
    from ..batch import run_batch
    from ..batch.store import OutputError

    if threshold_file is not None:
        threshold = read_threshold_file(threshold_file)
    det_size = detection_size(det_size, fast, smallest_face)
    every_n, fps = video_sampling(every_n, fps)
    analyzer = build_analyzer(
        model,
        threshold,
        score_threshold,
        det_size,
        min_face,
        eyeglasses_occlude,
        cpus_per_worker,
        smallest_face=smallest_face,
        device=device,
    )
    analyzer.close()  # built here to check the options; each actor builds its own
    video: dict[str, Any] = {k: v for k, v in (("detect_every", detect_every), ("smooth", smooth)) if v is not None}
    settings = batch_options(every_n, fps, video, address, num_workers, cpus_per_worker, quiet, batch_size=batch_size)
    try:
        summary = run_batch(inputs, out, analyzer.options, settings, jsonl=False if no_jsonl else (jsonl or True))
    except OutputError as exc:
        fail(str(exc))
    if not quiet:
        print_summary(summary)
    if summary.errors:
        typer.echo(f"{len(summary.errors)} input(s) could not be read", err=True)
        raise typer.Exit(1)


def batch_options(every_n, fps, video: dict, address, num_workers, cpus_per_worker, quiet, batch_size: int = 8):
    """The :class:`faceocc.batch.BatchOptions` of the command line's options (``video``: VideoOptions fields)."""
    from ..batch import BatchOptions
    from ..batch.worker import VideoSettings
    from ..video import VideoOptions

    return BatchOptions(
        num_workers=num_workers,
        cpus_per_worker=max(1, cpus_per_worker),
        batch_size=batch_size,
        video=VideoSettings(every_n, fps, VideoOptions(**video)),
        address=address,
        progress=not quiet,
    )


def analyze_on_ray(
    inputs: list[str], jsonl: Path | None, analyzer, settings, quiet: bool, refused: dict[str, Any]
) -> None:
    """``faceocc analyze --engine ray``: the records of ``faceocc analyze`` (JSON Lines to ``jsonl``, standard output
    without it, in the local engine's order), analysed by :func:`faceocc.batch.run_batch` with ``settings``
    (:class:`faceocc.batch.BatchOptions`) in a temporary output folder. ``refused``: the analyze options given that
    the Ray engine does not have (name: value); any set fails with exit code 2, as cameras and live streams do."""
    require_ray()
    given = [name for name, value in refused.items() if value] + [i for i in inputs if _LIVE.match(i)]
    if given:
        fail(f"not available with --engine ray: {', '.join(given)} (use the local engine)")
    from ..batch import run_batch
    from ..batch.inputs import list_inputs
    from ..outputs import OutputError, open_text

    sources, missing = list_inputs(inputs)
    order = {name: i for i, name in enumerate([item for item, _ in missing] + sources)}
    with tempfile.TemporaryDirectory(prefix="faceocc-ray-") as tmp:
        summary = run_batch(inputs, Path(tmp) / "out", analyzer.options, settings)
        assert summary.jsonl is not None
        lines = summary.jsonl.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.sort(key=lambda line: order.get(json.loads(line)["path"], len(order)))  # stable: frames stay in order
    try:
        out, close = open_text(jsonl)
        out.writelines(lines)
        close()
    except (OSError, OutputError) as exc:
        fail(f"{jsonl}: cannot write the records ({exc})", code=1)
    if not quiet:
        print_summary(summary, written=f"records (JSON Lines): {jsonl or 'standard output'}")
    if summary.errors:
        typer.echo(f"{len(summary.errors)} input(s) could not be read", err=True)
        raise typer.Exit(1)


def print_summary(summary, written: str | None = None) -> None:
    """The summary of ``faceocc analyze``, and where the time went (``written``: where the records went, if not the
    output folder)."""
    stats = summary.stats
    parts = [f"{stats['images']} image(s)/frame(s)", f"{stats['faces']} face(s)", f"{stats['occluded']} occluded"]
    parts += [f"{k} {v}" for k, v in sorted(stats.items()) if k.startswith("by ")]
    if stats["not assessable"]:
        parts.append(f"{stats['not assessable']} not assessable")
    if summary.videos:
        parts.append(f"{len(summary.tracks)} track(s) in {len(summary.videos)} video(s)")
    parts.append(f"{len(summary.errors)} error(s)")
    typer.echo("summary: " + ", ".join(parts), err=True)
    if summary.searched:
        typer.echo(f"  {searched_line(summary.searched)}", err=True)
    if summary.skipped:
        typer.echo(f"  {summary.skipped} input(s) skipped: done by an earlier run in {summary.out}", err=True)
    if summary.dropped_bytes:
        typer.echo(f"  {summary.dropped_bytes} bytes of JSON Lines of an interrupted commit cut off", err=True)
    done = summary.inputs - summary.skipped
    typer.echo(
        f"  {done} input(s) in {summary.seconds:.1f} s on {summary.workers} worker(s) "
        f"({summary.worker_seconds:.1f} s analysing in the workers)",
        err=True,
    )
    where = summary.where + (f" and {summary.jsonl}" if summary.jsonl else "")
    typer.echo(f"  {written or 'written to ' + where}", err=True)
    for e in summary.errors[:10]:
        typer.echo(f"  error: {e}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(batch)
