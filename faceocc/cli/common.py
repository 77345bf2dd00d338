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
