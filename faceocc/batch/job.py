"""A whole batch run: list the inputs, skip those done, analyse the rest on an actor pool (Ray Data ``map_batches``),
commit whole inputs to the output folder as they come back, count what was found.

Without ``address`` a local Ray is started (all the machine's CPUs); with ``address="auto"`` or ``ray://...`` the run
joins that cluster. An already started Ray (``ray.init`` before the call) is used as it is.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..pipeline import AnalyzerOptions
from ..schema import error_result
from . import rows
from .inputs import is_uri, list_inputs
from .store import JSONL, Store
from .worker import AnalyzeWorker, VideoSettings


@dataclass
class BatchOptions:
    """How a batch runs.

    num_workers: actors in the pool (None: the cluster's CPUs / ``cpus_per_worker``).
    cpus_per_worker: CPUs each actor reserves; its onnxruntime sessions use as many threads.
    batch_size: inputs per call of an actor.
    address: the Ray cluster to join (None: a local one, unless Ray is already started).
    commit_rows, commit_seconds: commit the results so far when this many rows are waiting, or this long after the
        last commit (a resumed run redoes at most that much).
    preserve_order: commit in the order of the inputs (slower: one slow input holds the others back).
    progress: Ray Data's progress bars.
    """

    num_workers: int | None = None
    cpus_per_worker: int = 1
    batch_size: int = 8
    video: VideoSettings = field(default_factory=VideoSettings)
    address: str | None = None
    commit_rows: int = 2000
    commit_seconds: float = 30.0
    preserve_order: bool = False
    progress: bool = True


@dataclass
class BatchSummary:
    """What a run did: the counts of ``faceocc analyze``'s summary, and where its time went."""

    out: str  # the output folder (a path or a URI)
    where: str  # where its rows went
    jsonl: Path | None
    inputs: int = 0
    skipped: int = 0  # done by an earlier run
    stats: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    searched: set[int] = field(default_factory=set)
    tracks: set = field(default_factory=set)  # (video, track_id)
    videos: set = field(default_factory=set)
    workers: int = 0
    seconds: float = 0.0  # the whole run
    worker_seconds: float = 0.0  # spent analysing, all actors together
    dropped_bytes: int = 0

    def count(self, table) -> None:
        """Count committed rows as ``faceocc analyze`` counts its records."""
        columns = ("input", "frame", "face", "error", "min_face_px", "assessable", "occluded", "occluder", "track_id")
        data = {name: table.column(name).to_pylist() for name in (*columns, rows.LINE, rows.SECONDS)}
        for i, line in enumerate(data[rows.LINE]):
            self.worker_seconds += data[rows.SECONDS][i] or 0.0
            if line is not None and data["error"][i] is not None:
                self.errors.append(data["error"][i])
                continue
            if line is not None:
                self.stats["images"] += 1
                if data["min_face_px"][i] is not None:
                    self.searched.add(data["min_face_px"][i])
                if data["frame"][i] is not None:
                    self.videos.add(data["input"][i])
            if data["face"][i] is None:
                continue
            self.stats["faces"] += 1
            if not data["assessable"][i]:
                self.stats["not assessable"] += 1
            elif data["occluded"][i]:
                self.stats["occluded"] += 1
                self.stats[f"by {data['occluder'][i]}"] += 1
            if data["track_id"][i] is not None:
                self.tracks.add((data["input"][i], data["track_id"][i]))


def run_batch(
    inputs: list[str],
    out: str | Path,
    analyzer: AnalyzerOptions | None = None,
    options: BatchOptions | None = None,
    jsonl: str | Path | bool = True,
    worker: type = AnalyzeWorker,
) -> BatchSummary:
    """Analyse ``inputs`` (:func:`faceocc.batch.inputs.list_inputs`) into the folder ``out``, a local path
    (:mod:`faceocc.batch.store`) or a filesystem URI (:mod:`faceocc.batch.remote`), resuming the run it holds.
    ``jsonl``: True for ``out/records.jsonl`` (``out/records/part-N.jsonl`` under a URI), a local path, or False for
    none. ``worker`` is the actor class (:class:`AnalyzeWorker`)."""
    started = time.perf_counter()
    options = options or BatchOptions()
    analyzer = replace(analyzer or AnalyzerOptions(), keep_crops=False, keep_images=False, keep_maps=False)
    if not analyzer.threads:
        analyzer = replace(analyzer, threads=options.cpus_per_worker)
    config = {"analyzer": _without_threads(asdict(analyzer)), "video": asdict(options.video)}
    store = _open_store(out, jsonl, config)
    summary = BatchSummary(str(out), store.where, store.jsonl, dropped_bytes=store.dropped_bytes)
    sources, missing = list_inputs(list(inputs))
    summary.inputs = len(sources) + len(missing)
    todo = [s for s in sources if s not in store.done]
    missing = [(item, why) for item, why in missing if item not in store.done]
    summary.skipped = summary.inputs - len(todo) - len(missing)
    if missing:
        errors = [rows.input_rows(i, [error_result(i, f"{i}: {why}")], 0.0) for i, why in missing]
        _commit(store, summary, rows.table([r for group in errors for r in group]))
    if todo:
        _analyse(todo, store, summary, analyzer, options, worker)
    summary.seconds = time.perf_counter() - started
    return summary


def _open_store(out: str | Path, jsonl: str | Path | bool, config: dict[str, Any]) -> Store:
    """The output folder: local (JSON Lines in ``OUT/records.jsonl`` for ``jsonl=True``) or a filesystem URI (JSON
    Lines as ``OUT/records/part-N.jsonl`` for ``jsonl=True``); a ``jsonl`` path is a local file for both."""
    path = Path(jsonl) if jsonl and jsonl is not True else None
    if is_uri(str(out)):
        from .remote import RemoteStore

        return RemoteStore.open_uri(str(out), path, config, records=jsonl is True)
    return Store.open(out, Path(out) / JSONL if jsonl is True else path, config)


def _without_threads(config: dict[str, Any]) -> dict[str, Any]:
    """The analyzer's options that decide its results (threads do not: a run may resume on other machines)."""
    config = dict(config, detector=dict(config["detector"]))
    config.pop("threads", None)
    config["detector"].pop("threads", None)
    return config


def _analyse(todo: list[str], store: Store, summary: BatchSummary, analyzer, options: BatchOptions, worker) -> None:
    """Run the actor pool over ``todo`` and commit whole inputs as their rows come back."""
    import pyarrow as pa
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=True)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = options.preserve_order
    context.enable_progress_bars = options.progress
    cpus = max(1, options.cpus_per_worker)
    summary.workers = options.num_workers or max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))
    blocks, batch_size = _blocks(len(todo), summary.workers, options.batch_size)
    dataset = ray.data.from_items([{"input": name} for name in todo], override_num_blocks=blocks).map_batches(
        worker,
        fn_constructor_args=(analyzer, options.video),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=summary.workers),
        num_cpus=cpus,
    )
    waiting: list = []
    waiting_rows, last = 0, time.monotonic()
    try:
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            assert isinstance(batch, pa.Table)
            waiting.append(batch)
            waiting_rows += batch.num_rows
            if waiting_rows >= options.commit_rows or time.monotonic() - last >= options.commit_seconds:
                rest = _commit_whole(store, summary, pa.concat_tables(waiting))
                waiting, waiting_rows, last = [rest], rest.num_rows, time.monotonic()
        if waiting:
            _commit(store, summary, pa.concat_tables(waiting))
    finally:
        if started_here:
            ray.shutdown()


def _blocks(inputs: int, workers: int, batch_size: int) -> tuple[int, int]:
    """(blocks, inputs per actor call): the inputs are cut into about 16 blocks (Ray Data tasks) per actor, so that
    the actors finish together (the last task of one actor is all another waits for) and a lost actor redoes little;
    a block holds 1 to 64 batches (a task costs the driver a few milliseconds), fewer inputs than a batch only
    when there are too few inputs to keep every actor busy."""
    per_block = math.ceil(inputs / (workers * 16) / batch_size) * batch_size
    per_block = min(max(per_block, batch_size), 64 * batch_size)
    if inputs < workers * batch_size:
        per_block = batch_size = max(1, math.ceil(inputs / workers))
    return max(1, math.ceil(inputs / per_block)), batch_size


def _commit(store: Store, summary: BatchSummary, table) -> None:
    store.commit(table)
    summary.count(table)


def _commit_whole(store: Store, summary: BatchSummary, table):
    """Commit the rows of the inputs whose records are all in ``table``; the rows of the others are returned."""
    import pyarrow as pa

    seen: dict[str, set[int]] = {}
    wanted: dict[str, int] = {}
    names = table.column("input").to_pylist()
    for name, seq, count in zip(names, table.column("seq").to_pylist(), table.column("records").to_pylist()):
        seen.setdefault(name, set()).add(seq)
        wanted[name] = count
    whole = pa.array([len(seen[n]) == wanted[n] for n in names])
    _commit(store, summary, table.filter(whole))
    return table.filter(pa.compute.invert(whole))
