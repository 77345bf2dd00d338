"""Options that several ``faceocc`` commands take, each defined once: its flag, default and help text.

Each function returns a fresh ``typer.Option`` to use as a parameter's default. A command whose help text says
something more about the option (``evaluate`` has several models, ``sort`` has folders) passes its own ``help``;
the flag and the default stay the ones defined here.
"""

from __future__ import annotations

from typing import Any

import typer

MODEL_HELP = "A shipped model by name (default) or the path of a faceocc ONNX model."
THRESHOLD_HELP = "Occlusion threshold (default: the model's)."
THRESHOLD_FILE_HELP = "JSON with a 'threshold', as written by `faceocc evaluate --pick-threshold`."
DET_SIZE_HELP = (
    "Fixed detection size: one pass on a copy downscaled to this longest side "
    "(default: automatic, the scale follows the photo)."
)
FAST_HELP = "One 320 px detection pass (= --det-size 320): fast, for photos whose faces are large."
SMALLEST_FACE_HELP = (
    "Find faces from this many photo pixels, in any photo size (default 64; "
    "32 looks at full resolution, about 4 times the detection cost)."
)
MIN_FACE_HELP = "Faces smaller than this (pixels) are reported as not assessable."
SCORE_THRESHOLD_HELP = "Minimum face detection score."
EYEGLASSES_HELP = "Count clear eyeglasses as an occlusion."
THREADS_HELP = "onnxruntime threads (0: all cores)."
EVERY_N_HELP = "Videos: analyze every N-th frame (default: every frame)."
FPS_HELP = "Videos: analyze about this many frames per second (or --every-n)."

#: the detector's score threshold when a command has no option for it
DEFAULT_SCORE_THRESHOLD = 0.6
#: faces smaller than this (pixels) are not assessable by default
DEFAULT_MIN_FACE = 32


def model(help: str = MODEL_HELP) -> Any:
    return typer.Option(None, help=help)


def threshold(help: str = THRESHOLD_HELP, min: float | None = None, max: float | None = None) -> Any:
    """``--threshold``; with ``min`` and ``max`` typer checks its range."""
    return typer.Option(None, help=help, min=min, max=max)


def threshold_file(help: str = THRESHOLD_FILE_HELP) -> Any:
    return typer.Option(None, help=help)


def det_size(help: str = DET_SIZE_HELP) -> Any:
    return typer.Option(None, help=help)


def fast() -> Any:
    return typer.Option(False, "--fast", help=FAST_HELP)


def smallest_face() -> Any:
    return typer.Option(None, help=SMALLEST_FACE_HELP)


def min_face(help: str = MIN_FACE_HELP) -> Any:
    return typer.Option(DEFAULT_MIN_FACE, help=help)


def score_threshold(min: float | None = None, max: float | None = None) -> Any:
    return typer.Option(DEFAULT_SCORE_THRESHOLD, help=SCORE_THRESHOLD_HELP, min=min, max=max)


def eyeglasses_occlude() -> Any:
    return typer.Option(False, "--eyeglasses-occlude/--no-eyeglasses-occlude", help=EYEGLASSES_HELP)


def threads() -> Any:
    return typer.Option(0, help=THREADS_HELP)


def quiet(help: str) -> Any:
    return typer.Option(False, "--quiet", "-q", help=help)


def limit() -> Any:
    return typer.Option(None, min=1, help="At most this many images (a fixed-seed random subset).")


def cache() -> Any:
    return typer.Option(None, help="A crop cache from `faceocc prepare`: skip detection.")


def every_n(help: str = EVERY_N_HELP) -> Any:
    """``--every-n`` (None: not given; checked against ``--fps`` by :func:`faceocc.cli.common.video_sampling`)."""
    return typer.Option(None, "--every-n", min=1, help=help)


def fps(help: str = FPS_HELP) -> Any:
    """``--fps`` (None: not given; must be positive, see :func:`faceocc.cli.common.video_sampling`)."""
    return typer.Option(None, "--fps", help=help)
