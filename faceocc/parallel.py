"""Analysing many photos in worker processes: one :class:`~faceocc.pipeline.Analyzer` per process, the results in
the order of the inputs (``faceocc analyze --workers N``).

Processes are started with ``spawn`` (a fresh interpreter: forking a parent whose onnxruntime thread pools are
running can hang). Each worker loads its own models once; a worker without its own thread count uses one
onnxruntime thread, so that N workers use about N cores.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from .pipeline import Analyzer, AnalyzerOptions
from .schema import ImageResult

_analyzer: Analyzer | None = None  # the worker process's own


def _start_worker(options: AnalyzerOptions) -> None:
    global _analyzer
    _analyzer = Analyzer(options)


def _analyze(path: str) -> ImageResult:
    assert _analyzer is not None
    return next(_analyzer.analyze_many([path]))


def analyze_in_processes(options: AnalyzerOptions, paths: Sequence[str | Path], workers: int) -> Iterator[ImageResult]:
    """One record per path, in the order of ``paths``, from ``workers`` processes (exactly what
    ``Analyzer(options).analyze_many(paths)`` gives: a bad file is an error record, the rest go on)."""
    if options.threads == 0:
        options = replace(options, threads=1)
    workers = max(1, min(workers, len(paths)))
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_start_worker, initargs=(options,)
    ) as pool:
        yield from pool.map(_analyze, [str(p) for p in paths])
