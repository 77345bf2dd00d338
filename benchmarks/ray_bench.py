#!/usr/bin/env python
"""faceocc on Ray Data against the local engine: throughput on the same N generated photos, and where Ray's time goes.

Photos: ``faceocc.evaluate.bench_photos.make_folder`` (640 x 480, one astronaut face each, varied). Measured, median
of ``--runs`` runs:

- local: ``faceocc analyze DIR --workers W`` when this faceocc has ``--workers``; otherwise W ``faceocc analyze``
  processes at once, each on its share of the photos (said in the output), 1 onnxruntime thread each;
- ray: ``faceocc.batch.run_batch`` with W actors of 1 CPU on a local Ray started once (its start is reported
  apart: a cluster is started once for many jobs); each run writes a new output folder (Parquet + JSON Lines).

Reported: wall seconds and photos/s of both; for Ray also the seconds the actors spent analysing (per-actor
throughput: photos per busy actor-second) and the overhead: wall - busy / W (actor start, scheduling, moving rows,
committing them). A per-photo cost and a fixed cost project the run to N photos on C cores (docs/SCALING.md).

    python benchmarks/ray_bench.py --n 200 --workers 2 --runs 3 --json ray_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _local(folder: Path, workers: int, out: Path) -> tuple[float, str]:
    """Seconds of the local engine on ``folder`` with ``workers`` processes (and how it was run)."""
    faceocc = [sys.executable, "-m", "faceocc", "analyze"]
    helptext = subprocess.run([*faceocc, "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    start = time.perf_counter()
    if "--workers" in helptext:
        args = [
            *faceocc,
            str(folder),
            "--workers",
            str(workers),
            "--threads",
            "1",
            "-q",
            "--jsonl",
            str(out / "l.jsonl"),
        ]
        subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
        return time.perf_counter() - start, f"faceocc analyze --workers {workers}"
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    procs = [
        subprocess.Popen(
            [*faceocc, *files[i::workers], "--threads", "1", "-q", "--jsonl", str(out / f"l{i}.jsonl")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start, f"{workers} faceocc analyze processes, each on 1/{workers} of the photos"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="photos")
    p.add_argument("--workers", type=int, default=2, help="local processes and Ray actors")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--json", type=Path, help="write the numbers here")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import ray

    from faceocc.batch import BatchOptions, run_batch
    from faceocc.evaluate.bench_photos import make_folder
    from faceocc.pipeline import AnalyzerOptions

    tmp = Path(tempfile.mkdtemp(prefix="faceocc-raybench-"))
    folder = tmp / "photos"
    make_folder(folder, count=args.n)
    local, how = [], ""
    for run in range(args.runs):
        (tmp / f"local{run}").mkdir()
        seconds, how = _local(folder, args.workers, tmp / f"local{run}")
        local.append(seconds)
    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start
    options = BatchOptions(num_workers=args.workers, batch_size=args.batch_size, progress=False)
    analyzer = AnalyzerOptions(device="cpu", threads=1)
    runs = [run_batch([str(folder)], tmp / f"ray{i}", analyzer, options) for i in range(args.runs)]
    ray.shutdown()
    wall = statistics.median(r.seconds for r in runs)
    busy = statistics.median(r.worker_seconds for r in runs)
    result = {
        "photos": args.n,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "local": {"how": how, "seconds": local, "median_s": statistics.median(local)},
        "ray": {
            "start_s": ray_start,
            "seconds": [r.seconds for r in runs],
            "median_s": wall,
            "busy_actor_s": busy,
            "per_actor_photos_per_s": args.n / busy,
            "overhead_s": wall - busy / args.workers,
        },
    }
    result["local"]["photos_per_s"] = args.n / result["local"]["median_s"]
    result["ray"]["photos_per_s"] = args.n / wall
    result["ray_vs_local"] = result["ray"]["photos_per_s"] / result["local"]["photos_per_s"]
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
