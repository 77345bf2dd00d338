"""``faceocc bench`` (speed, size, memory) and ``faceocc audit`` (the faces whose labels the model doubts most)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from . import options
from .common import check_models, fail, needs_extra, say
from .gather import gather


def bench(
    model: list[str] | None = typer.Option(
        None,
        "--model",
        help="Model(s) to compare, e.g. an fp32 and an int8 export (repeat the option; default: the shipped model).",
    ),
    iterations: int = typer.Option(20, min=1, help="Timed runs per model and thread count (after 2 warm-up runs)."),
    threads: str = typer.Option("1", help="onnxruntime thread counts to try, comma-separated (e.g. 1,2)."),
    workers: int = typer.Option(2, min=0, help="Throughput with 1..N worker processes (0: skip)."),
    folder: Path | None = typer.Option(None, help="Images for the throughput run (default: generated photos)."),
    folder_images: int = typer.Option(8, min=1, help="How many photos to generate when no --folder is given."),
    rounds: int = typer.Option(1, min=1, help="Passes over the folder in the throughput run."),
    json_out: Path | None = typer.Option(
        None,
        "--json",
        help="Also write the results as JSON here (a new name if it exists; default: print the table only).",
    ),
    previous: Path | None = typer.Option(None, help="A bench JSON from another commit: show the change."),
    quiet: bool = options.quiet("No progress lines."),
):
    """Benchmark latency per stage (decode, detect, align, classify) and end to end, throughput, size and memory."""
    from ..evaluate.bench import format_table, run_bench
    from ..io import unique_path

    try:
        thread_list = [int(t) for t in threads.split(",") if t.strip()]
    except ValueError:
        thread_list = []
    if not thread_list or any(t < 0 for t in thread_list):
        fail(f"--threads {threads!r}: give thread counts like 1 or 1,2,4 (0: onnxruntime's default)")
    if folder is not None and not folder.is_dir():
        fail(f"--folder {folder}: not a directory")
    old = None
    if previous is not None:
        try:
            old = json.loads(previous.read_text())
        except (OSError, ValueError) as exc:
            fail(f"--previous {previous}: cannot read it ({exc})")
    models = list(model) if model else [None]
    check_models(models)
    try:
        result = run_bench(
            models, thread_list, iterations, workers, folder, folder_images, rounds, log=lambda m: say(m, quiet)
        )
    except ValueError as exc:
        fail(str(exc))
    typer.echo(format_table(result, old))
    if json_out is not None:
        dest = unique_path(json_out)
        dest.write_text(json.dumps(result, indent=2))
        say(f"results: {dest}", quiet)


def audit(
    dataset: Path | None = typer.Argument(None, help="A CSV manifest or ImageFolder root (optional with --cache)."),
    model: str | None = options.model(),
    out: Path = typer.Option(
        Path("faceocc-audit"), "--out", "-o", help="Output folder (a new name is picked if it exists)."
    ),
    top: int = typer.Option(200, min=1, help="Rows in the ranked CSV."),
    grid: int = typer.Option(48, min=1, help="Faces in the image grid."),
    threshold: float | None = options.threshold(min=0.0, max=1.0),
    split: str | None = typer.Option(None, help="Only this split."),
    limit: int | None = options.limit(),
    seed: int = typer.Option(0, help="Seed of --limit."),
    cache: Path | None = options.cache(),
    use_fallback: bool = typer.Option(
        False, "--use-fallback", help="With --cache: also audit crops without a detected face."
    ),
    audit_labels: Path | None = typer.Option(None, help="A label audit CSV already applied (audit what is left)."),
    pad: float = typer.Option(0.0, min=0.0, max=2.0, help="Pad images before detection (tight face crops: 0.4)."),
    pad_mode: str = typer.Option("detect", help="detect or image (see `faceocc evaluate --help`)."),
    threads: int = options.threads(),
    quiet: bool = options.quiet("Only errors."),
):
    """Rank the faces whose labels the model disagrees with most: audit.csv and audit_grid.png to fix labels fast."""
    from ..datasets import manifest_root
    from ..evaluate.audit import run_audit
    from ..evaluate.collect import GatherOptions
    from ..evaluate.report import unique_dir

    needs_extra("audit", "evaluate", "matplotlib")  # the image grid
    if pad_mode not in ("detect", "image"):
        fail(f"--pad-mode {pad_mode!r}: use detect or image")
    own = check_models([model])
    faces = GatherOptions(
        dataset=dataset,
        cache=cache,
        split=split,
        limit=limit,
        seed=seed,
        pad=pad,
        pad_mode=pad_mode,
        det_size=320,
        score_threshold=options.DEFAULT_SCORE_THRESHOLD,
        min_face=options.DEFAULT_MIN_FACE,
        use_fallback=use_fallback,
        audit_labels=audit_labels,
        threads=threads,
    )
    es = gather(faces, [model], quiet=quiet)
    root = None
    if dataset is not None and cache is None:
        root = (
            dataset
            if dataset.is_dir() and not (dataset / "manifest.csv").is_file()
            else manifest_root(dataset / "manifest.csv" if dataset.is_dir() else dataset)
        )
    out = unique_dir(out)
    summary = run_audit(es, out, threshold if threshold is not None else own[0], top=top, grid=grid, root=root)
    say(
        f"{summary['scored']} face(s) scored, {summary['not_scored']} not scored; "
        f"top {summary['listed']} in {summary['csv']}" + (f", grid {summary['grid']}" if summary["grid"] else ""),
        quiet,
    )
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "top"}))
