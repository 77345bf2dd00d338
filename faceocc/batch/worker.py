"""The actor of a batch's pool: one :class:`faceocc.pipeline.Analyzer` (its onnxruntime sessions built once, with as
many threads as the actor has CPUs), called by Ray Data's ``map_batches`` on batches of inputs.

An image gives one record, a video one record per analysed frame (the whole video is analysed by one actor, so its
faces are tracked as ``faceocc analyze`` tracks them). A bad input gives an error record, as in ``faceocc analyze``;
it never fails the batch.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..io import InputError, is_video
from ..pipeline import Analyzer, AnalyzerOptions
from ..schema import ImageResult, error_result
from ..video import VideoOptions
from . import rows
from .inputs import is_uri, read_bytes


@dataclass(frozen=True)
class VideoSettings:
    """Which frames of a video are analysed (every ``every_n``-th, or about ``fps`` a second) and how faces are
    tracked (:class:`faceocc.video.VideoOptions`)."""

    every_n: int = 1
    fps: float | None = None
    options: VideoOptions = field(default_factory=VideoOptions)


class AnalyzeWorker:
    """``worker(batch)``: the rows (:mod:`faceocc.batch.rows`) of every input named in the batch's ``input`` column."""

    def __init__(self, options: AnalyzerOptions, video: VideoSettings | None = None):
        self.analyzer = Analyzer(options)
        self.video = video or VideoSettings()

    def __call__(self, batch):
        out = []
        for source in batch.column("input").to_pylist():
            start = time.perf_counter()
            results = list(self.records(source))
            out += rows.input_rows(source, results, time.perf_counter() - start)
        return rows.table(out)

    def records(self, source: str) -> Iterator[ImageResult]:
        """The records of one input (a local path or a URI)."""
        if is_video(source.split("?")[0]):
            yield from self._video(source)
            return
        if not is_uri(source):
            yield from self.analyzer.analyze_many([source])
            return
        try:
            data = read_bytes(source)
            result = self.analyzer.analyze(data, path=source, raise_errors=False)
        except Exception as exc:  # noqa: BLE001 - one bad input never stops a batch
            yield error_result(source, f"{source}: cannot read ({type(exc).__name__}: {exc})")
            return
        if result.error:  # the decoder names the input "<bytes>"
            result.error = result.error.replace("<bytes>", source, 1)
        yield result

    def _video(self, source: str) -> Iterator[ImageResult]:
        if not is_uri(source):
            yield from video_records(self.analyzer, source, self.video)
            return
        suffix = Path(source.split("?")[0]).suffix
        with tempfile.TemporaryDirectory(prefix="faceocc-") as tmp:
            local = os.path.join(tmp, "video" + suffix)
            try:
                Path(local).write_bytes(read_bytes(source))
            except Exception as exc:  # noqa: BLE001 - one bad input never stops a batch
                yield error_result(source, f"{source}: cannot read ({type(exc).__name__}: {exc})")
                return
            for result in video_records(self.analyzer, local, self.video):
                result.path = source
                if result.error:
                    result.error = result.error.replace(local, source)
                yield result


def video_records(analyzer: Analyzer, source: str, video: VideoSettings) -> Iterator[ImageResult]:
    """One record per analysed frame of a video file, and an error record where it cannot be read (at the start, or
    after the frames read so far), as ``faceocc analyze`` gives them."""
    run = analyzer.analyze_video(source, every_n=video.every_n, fps=video.fps, options=video.options)
    try:
        _ = run.info  # opens the video: an unreadable one fails here
    except InputError as exc:
        yield error_result(str(source), str(exc))
        return
    try:
        yield from run
    except InputError as exc:
        yield error_result(str(source), str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad video never stops a batch
        yield error_result(str(source), f"{source}: {type(exc).__name__}: {exc}")
    finally:
        run.close()
