"""What the ``faceocc`` commands share besides their options: failing with an exit code, progress lines, reading a
threshold file, checking models, building the Analyzer the options describe, the --report hooks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` in red to standard error and exit with ``code`` (2: a usage error)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def say(message: str, quiet: bool = False) -> None:
    """A progress or summary line on standard error (nothing with ``quiet``)."""
    if not quiet:
        typer.echo(message, err=True)


def read_threshold_file(path: Path | None) -> float | None:
    """The ``threshold`` of a JSON file written by ``faceocc evaluate --pick-threshold`` (None without a file); a file
    without one fails with exit code 2."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
        return float(data["threshold"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        fail(f"{path}: cannot read a threshold from it ({exc}); expected JSON with a 'threshold' key")


def detection_size(det_size: int | None, fast: bool, smallest_face: int | None) -> int | None:
    """The fixed detection size the options ask for (None: automatic); conflicting options fail with exit code 2."""
    if fast and det_size is not None and det_size != 320:
        fail("--fast is --det-size 320: give one of them")
    if smallest_face is not None and (fast or det_size is not None):
        fail("--smallest-face chooses the detection scale itself: leave out --fast and --det-size")
    return 320 if fast else det_size


def check_models(models) -> list[float]:
    """Open every model before any work (a file that is not a faceocc model fails here); their own thresholds."""
    from ..model import ModelError, OcclusionModel

    thresholds = []
    for m in models:
        try:
            thresholds.append(OcclusionModel(m, threads=1).threshold)
        except ModelError as exc:
            fail(str(exc))
    return thresholds


def video_sampling(every_n: int | None, fps: float | None) -> tuple[int, float | None]:
    """``(every_n, fps)`` for ``analyze_video``: the two choose the frames in different ways, so at most one may be
    given, and ``--fps`` must be positive (``--every-n`` >= 1 is checked by its option); else exit code 2."""
    if every_n is not None and fps is not None:
        fail("--every-n and --fps both choose which video frames are analysed: give one of them")
    if fps is not None and not fps > 0:
        fail(f"--fps {fps:g}: give a positive number of frames per second (e.g. --fps 2)")
    return every_n or 1, fps


def expand_inputs(items: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """:func:`faceocc.io.expand_inputs`, and a folder in which no image or video is found (and no entry that could
    not be read, which has a record of its own) is an input that could not be read (it gets an error record and exit
    code 1, as a missing path does), not silence."""
    from ..io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
    from ..io import expand_inputs as expand

    files, missing = expand(items)
    found = [f.resolve() for f in files]
    reported = [Path(os.path.abspath(m)) for m, _ in missing]  # unusable entries met inside a folder have records
    for item in items:
        folder = Path(item)
        inside = [f for f in found if f.is_relative_to(folder.resolve())]
        inside += [m for m in reported if m != Path(os.path.abspath(item)) and m.is_relative_to(os.path.abspath(item))]
        if folder.is_dir() and not inside:
            kinds = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
            missing.append((item, f"no images or videos in this folder (looked for {kinds}, in sub-folders too)"))
    return files, missing


def needs_extra(command: str, extra: str, *modules: str, hint: str = "") -> None:
    """Fail with exit code 2, naming the pyproject extra that installs them, where one of ``modules`` is missing
    (before any work, instead of a traceback halfway through); ``hint``: another way out, said after it."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        fail(
            f"faceocc {command} needs {' and '.join(missing)}, which is not installed: "
            f'pip install "faceocc[{extra}]" (from a source checkout: pip install ".[{extra}]")' + hint
        )


DEVICE_HELP = "Where the networks run: auto (CUDA when onnxruntime offers it, else the CPU), cpu or cuda."
OVERWRITE_HELP = "Replace output files that exist from before (default: refuse, or number the new file)."
REPORT_HELP = "Write an HTML report here: counts, a contact sheet of the faces, a sortable table, errors, a chart."


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


def open_report(folder: Path | None, analyzer) -> Any:
    """The :class:`faceocc.batch_report.BatchReport` of ``--report`` (None without it); a folder that cannot be
    made fails with exit code 2."""
    if folder is None:
        return None
    from ..batch_report import BatchReport

    try:
        return BatchReport(folder, threshold=analyzer.options.policy.threshold(analyzer.model.threshold))
    except OSError as exc:
        fail(f"--report {folder}: cannot write the report there ({exc})")


def finish_report(report, quiet: bool = False) -> None:
    """Write the report's page and chart and say where they went."""
    if report is not None:
        for line in report.write().lines():
            if not quiet:
                typer.echo(line, err=True)


def searched_line(sizes: set[int]) -> str:
    """The summary line saying which faces the detector searched for (``min_face_px`` of the records)."""
    from ..detection import DEFAULT_SMALLEST_FACE

    lo, hi = min(sizes), max(sizes)
    span = f"{lo} px" if lo == hi else f"{lo}-{hi} px"
    note = "" if lo == hi else " (min_face_px of each record)"
    if hi > DEFAULT_SMALLEST_FACE:
        note += f"; smaller faces were not looked for (--smallest-face {DEFAULT_SMALLEST_FACE} finds them)"
    return f"faces of {span} and larger were searched for{note}"
