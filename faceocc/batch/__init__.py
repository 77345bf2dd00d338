"""faceocc on Ray Data: millions of photos and hours of video, with the records of ``faceocc analyze``.

- ``inputs``: what to analyse: folders, globs, list files, Parquet/CSV manifests; local paths or pyarrow filesystem
  URIs (``s3://``, ``gs://``, ``hdfs://``...);
- ``rows``: the Parquet rows (one per face, one for an image without faces or with an error; nested fields as
  structs) and the JSON line of each record, made from :mod:`faceocc.schema`;
- ``worker``: the actor of the pool: one :class:`faceocc.pipeline.Analyzer` each, images and whole videos;
- ``store``: the output folder: Parquet parts and the JSON Lines file, committed together, read back to resume;
- ``remote``: the same under a pyarrow filesystem URI (the JSON lines as one object per commit);
- ``job``: :func:`run_batch`, the whole run.

Ray (the ``faceocc[ray]`` extra) is imported only by ``job`` when a run starts.

>>> from faceocc.batch import BatchOptions, run_batch
>>> summary = run_batch(["photos/"], "results/", BatchOptions(num_workers=4))
"""

from __future__ import annotations

from .job import BatchOptions, BatchSummary, run_batch
from .worker import AnalyzeWorker

__all__ = ["AnalyzeWorker", "BatchOptions", "BatchSummary", "run_batch"]
