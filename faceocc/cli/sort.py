"""``faceocc sort``: face crops (or whole images) into one folder per class."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from ..outputs import FileSaver, OutputError, derived_stem, derived_tail, prepare_dir
from . import options
from .common import OVERWRITE_HELP, REPORT_HELP, build_analyzer, expand_inputs, fail, finish_report, open_report


def _sort_result(result, outdir: Path, whole_image: bool, crop_size: int, saver: FileSaver) -> list[str]:
    """Copy one analysed image into OUTDIR/<its class>/ (also in crop mode when it has no face: OUTDIR/no_face/), or
    each of its aligned faces into OUTDIR/<face class>/ (``astro_bmp_face0.jpg``); the classes of what was written.
    A file that cannot be written raises :class:`OutputError`."""
    import numpy as np

    from ..alignment import align_face

    if whole_image or not result.faces:
        cls = result.image_class
        saver.copy(result.path, prepare_dir(outdir / cls), Path(result.path).name)
        return [cls]
    classes = []
    for i, face in enumerate(result.faces):
        crop = align_face(result.image, np.array(face.landmarks), crop_size)
        folder = prepare_dir(outdir / face.face_class)
        saver.save_image(folder, derived_stem(result.path), derived_tail(".jpg", result.frame, i), crop)
        classes.append(face.face_class)
    return classes


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
    report: Path | None = typer.Option(None, "--report", help=REPORT_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
):
    """Sort faces into OUTDIR/<class>/ folders: clean, eyeglasses, mask, sunglasses, hand, other, not_assessable,
    no_face (images without a face, copied whole).

    Crops are named after their photo, its extension kept (astro.bmp -> astro_bmp_face0.jpg). Nothing existing is
    overwritten without --overwrite: a name that is taken gets a numbered suffix. Videos are skipped (with a note):
    `faceocc analyze VIDEO --crops DIR` saves the faces of a video.
    """
    from ..io import is_video
    from ..schema import error_result

    if len(inputs) < 2:
        fail("give at least one INPUT and the OUTDIR")
    *sources, outdir = inputs
    try:
        prepare_dir(Path(outdir))
    except OutputError as exc:
        fail(f"OUTDIR {exc}")
    files, missing = expand_inputs(sources)
    videos = [f for f in files if is_video(f)]
    analyzer = build_analyzer(
        model,
        threshold,
        options.DEFAULT_SCORE_THRESHOLD,
        None,
        min_face,
        eyeglasses_occlude,
        0,
        keep_images=True,
        keep_crops=report is not None,  # the report shows the crops the analysis made (no second alignment)
    )
    counts: Counter = Counter()
    errors, saver = [f"{i}: {r}" for i, r in missing], FileSaver(overwrite)
    batch_report = open_report(report, analyzer)
    for result in analyzer.analyze_many([f for f in files if not is_video(f)]):
        try:
            counts.update([] if result.error else _sort_result(result, Path(outdir), whole_image, crop_size, saver))
        except OutputError as exc:
            result.error = f"not sorted: {exc}"
        if batch_report is not None:
            batch_report.add(result)
        if result.error:
            errors.append(result.error)
    if batch_report is not None:
        for item, reason in missing:
            batch_report.add(error_result(item, f"{item}: {reason}"))
    finish_report(batch_report)
    sorted_counts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"
    typer.echo(f"sorted: {sorted_counts}; {len(errors)} error(s)", err=True)
    if videos:
        names = ", ".join(str(v) for v in videos[:3]) + (" ..." if len(videos) > 3 else "")
        typer.echo(f"  skipped {len(videos)} video(s) ({names}): sort takes photos; use analyze --crops", err=True)
    for e in errors[:10]:
        typer.echo(f"  error: {e}", err=True)
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(sort)
