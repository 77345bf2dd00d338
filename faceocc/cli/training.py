"""The commands that make a model: ``faceocc prepare`` (a crop cache), ``faceocc train``, ``faceocc export`` and
``faceocc synth-grid`` (a look at the synthetic occlusions training pastes)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import fail, needs_extra

#: the files of a crop cache (``faceocc prepare``): one that is there is not replaced without --overwrite
CACHE_FILES = ("crops.npy", "landmarks.npy", "index.csv", "skipped.csv", "summary.json")


def prepare(
    dataset: Path = typer.Argument(..., help="A CSV manifest (path,label[,split][,group]) or an ImageFolder root."),
    out: Path = typer.Argument(..., help="Cache folder for the aligned crops."),
    workers: int = typer.Option(2, help="Worker processes."),
    fallback: bool = typer.Option(True, help="Use images with no detected face as tight face crops."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a crop cache that is already in OUT."),
):
    """Detect and align every face of a dataset once, caching crops; lists every image that could not be used."""
    from ..datasets import DatasetError, load_dataset
    from ..prepare import prepare_dataset

    taken = [name for name in CACHE_FILES if (out / name).exists()]
    if taken and not overwrite:
        held = ", ".join(taken)
        fail(f"{out} already holds a crop cache ({held}); give another folder, or --overwrite to replace it")

    try:
        records = load_dataset(dataset)
    except DatasetError as exc:
        fail(str(exc))
    summary = prepare_dataset(records, out, workers=workers, fallback=fallback)
    typer.echo(json.dumps(summary))
    if summary["skipped"]:
        typer.echo(f"{summary['skipped']} image(s) could not be used: see {out / 'skipped.csv'}", err=True)


def train(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", "-c", help="Config file (.json, .toml, .yaml)."),
):
    """Train a model. Settings come from --config plus key=value overrides, e.g. `faceocc train data=DIR epochs=3`."""
    needs_extra("train", "train", "torch")
    from ..train.config import load_config
    from ..train.trainer import train as run_training

    try:
        cfg = load_config(config, list(ctx.args))
    except (ValueError, OSError) as exc:
        fail(str(exc))
    if not cfg.data:
        fail("no dataset: give data=PATH (a manifest CSV or an ImageFolder root)")
    from ..datasets import DatasetError

    try:
        summary = run_training(cfg, log=lambda m: typer.echo(m, err=True))
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(json.dumps(summary, indent=2, default=float))


def export(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `faceocc train` (best.ckpt)."),
    out: Path = typer.Argument(..., help="Output .onnx file."),
    format: str = typer.Option(
        "faceocc", "--format", help="faceocc (full model) or binary224 (drop-in N x 2 classifier)."
    ),
    int8: bool = typer.Option(
        False, "--int8", help="Also write a static per-channel int8 model (needs --calibration)."
    ),
    calibration: Path | None = typer.Option(
        None, help="Calibration crops: a prepared cache folder, or a folder of images."
    ),
    calibration_count: int = typer.Option(256, help="How many calibration crops to use."),
    threshold: float | None = typer.Option(
        None, help="Operating threshold stored in the model (default: the checkpoint's threshold; 0.5 if it has none)."
    ),
    mirror_average: bool = typer.Option(
        False,
        "--mirror-average",
        help="Build mirror averaging into the files: each crop and its mirror image are predicted and the outputs "
        "averaged (more accurate, twice the network's cost per face).",
    ),
    mirror_margin: float | None = typer.Option(
        None,
        "--mirror-margin",
        min=0.0,
        max=1.0,
        help="Store the mirror look in the files (faceocc format): faces whose score is within this of the threshold "
        "are looked at again in the mirror image and the two averaged (the shipped default: 0.25).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
):
    """Export a trained checkpoint to ONNX (fp32, optional int8, or the binary224 drop-in classifier)."""
    needs_extra("export", "train", "torch", "onnx")
    from ..train.export import export_binary224, export_onnx, quantize_int8
    from ..train.mirror import add_mirror_average, set_mirror_margin

    def mirrored(path: Path) -> None:
        if mirror_average:
            typer.echo(json.dumps(add_mirror_average(path, path)))
        if mirror_margin is not None:
            typer.echo(json.dumps(set_mirror_margin(path, mirror_margin)))

    if mirror_average and mirror_margin:
        fail("use --mirror-average (every face twice, in the graph) or --mirror-margin (faces near the threshold)")
    if mirror_margin is not None and format == "binary224":
        fail("--mirror-margin needs the faceocc format (a drop-in classifier cannot look twice): use --mirror-average")

    if not checkpoint.is_file():
        fail(f"{checkpoint}: checkpoint not found")
    int8_out = out.with_name(out.stem + "_int8.onnx")
    for target in [out] + ([int8_out] if int8 else []):
        if target.exists() and not force:
            fail(f"{target} exists; use --force to overwrite it")
    if format == "binary224":
        typer.echo(json.dumps(export_binary224(checkpoint, out, threshold=threshold)))
        mirrored(out)
        return
    if format != "faceocc":
        fail(f"unknown format {format!r}: use faceocc or binary224")
    if int8 and calibration is None:  # checked before anything is written
        fail("--int8 needs --calibration (a prepared cache or a folder of face images)")
    sample = calibration_crops(calibration, calibration_count) if calibration else None
    typer.echo(
        json.dumps(
            export_onnx(checkpoint, out, sample=sample[:16] if sample is not None else None, threshold=threshold)
        )
    )
    if int8:  # quantized from the single-pass graph, then both files mirrored
        assert sample is not None
        typer.echo(json.dumps(quantize_int8(out, int8_out, sample)))
        mirrored(int8_out)
    mirrored(out)


def calibration_crops(path: Path, count: int):
    """Up to ``count`` aligned crops for int8 calibration: a random subset of a prepared cache, or the first face of
    each image of a folder."""
    import numpy as np

    from ..prepare import CropCache

    if (path / "crops.npy").is_file():
        cache = CropCache.load(path)
        idx = np.random.default_rng(0).permutation(len(cache.rows))[:count]
        return np.asarray(cache.crops[np.sort(idx)])
    from ..alignment import align_face
    from ..detection import FaceDetector
    from ..io import expand_inputs, load_image

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
        fail(f"{path}: no face found for calibration")
    return np.stack(crops)


def synth_grid(ctx: typer.Context):
    """Write a grid of synthetic occlusion samples to a PNG for a visual check.

    Options: --occluders DIR (default: procedural), --split train|test|all, --out FILE (default synth_grid.png; an
    existing file is refused without --overwrite), --n N, --kind K, --cache DIR (prepared crops), --images FILES,
    --seed S.
    """
    from ..synthesis import main as synthesis_main

    args = [a for a in ctx.args if a != "--overwrite"]
    out = _option_value(args, "--out") or "synth_grid.png"
    if "--overwrite" not in ctx.args and Path(out).is_file():
        fail(f"--out {out}: exists; give another name, or --overwrite to replace it")
    raise typer.Exit(synthesis_main(["grid", *args]))


def _option_value(args: list[str], name: str) -> str | None:
    """The value of ``name VALUE`` or ``name=VALUE`` in ``args`` (the last one wins, as argparse does)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1 :]
    return value


_EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def register(app: typer.Typer) -> None:
    app.command()(prepare)
    app.command(context_settings=_EXTRA_ARGS)(train)
    app.command()(export)
    app.command("synth-grid", context_settings=_EXTRA_ARGS)(synth_grid)
