"""What the ``faceocc`` commands share besides their options: failing with an exit code, progress lines, reading a
threshold file, checking models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

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
    """:func:`faceocc.io.expand_inputs`, and a folder in which no image or video is found is an input that could not
    be read (it gets an error record and exit code 1, as a missing path does), not silence."""
    from ..io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
    from ..io import expand_inputs as expand

    files, missing = expand(items)
    found = [f.resolve() for f in files]
    for item in items:
        folder = Path(item)
        if folder.is_dir() and not any(f.is_relative_to(folder.resolve()) for f in found):
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
