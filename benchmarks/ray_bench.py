#!/usr/bin/env python
"""faceocc on Ray Data against the local engine: throughput on the same N generated photos, and where Ray's time goes.

Photos: ``faceocc.evaluate.bench_photos.make_folder`` (640 x 480, one astronaut face each, varied). Measured, median
of ``--runs`` runs:

- local: ``faceocc analyze DIR --workers W --threads 1 --jsonl FILE -q``, a cold process: Python start, imports,
  the main process's analyzer, W spawned processes (imports, an analyzer each), the analysis, the JSON Lines;
- ray: ``faceocc.batch.run_batch`` in this (warm) driver with W actors of 1 CPU on a local Ray started once, and
  warmed up by a run on W photos (both reported apart, ``start_s`` and ``warmup_s``: a cluster is started once for
  many jobs, and Ray Data starts its helper actors on the first). Included: listing the inputs, opening a new
  output folder, Ray Data's execution, starting the W actors (a Ray worker process each: imports, an analyzer), the
  analysis, the commits (Parquet + JSON Lines);
- ray_cli (unless ``--no-cli``): ``faceocc batch DIR --out NEW --address CLUSTER --num-workers W -q``, a cold process
  joining the same running cluster: the ray row plus Python start, importing Ray Data and the CLI's option check.

Where the overhead of a ray run (wall - busy / W) goes, from timestamps the actors log (the benchmark's own
subclass of the actor) and the driver's clock: ``setup`` (run start to Ray Data's first actor process), ``actor_start``
(run start to an actor's first call, mean of the actors: the worker process's imports and the analyzer),
``gaps`` (between an actor's calls: Ray Data's scheduling, per actor), ``tail`` (the first actor done to the last),
``drain`` (the last call to the end of the run: the last commit). CPU seconds of the driver and of Ray's own
processes (GCS, raylet, Ray Data's helper actors) during the runs are read from /proc (Linux).

    python benchmarks/ray_bench.py --n 1000 --workers 2 --runs 3 --json ray_bench.json
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
sys.path.insert(0, str(ROOT))

from faceocc.batch.worker import AnalyzeWorker  # noqa: E402


class TimedWorker(AnalyzeWorker):
    """The batch actor, logging when its process started, when it was built and each call (to ``log_dir``)."""

    log_dir = ""  # set before a run: pickled with the class (it is defined in __main__)

    def __init__(self, *args, **kwargs):
        built, booted = time.time(), _cpu_seconds(os.getpid())
        super().__init__(*args, **kwargs)
        self._log = open(os.path.join(self.log_dir, f"{os.getpid()}.jsonl"), "a")  # noqa: SIM115 - the actor's life
        self._write({"process": _process_start(os.getpid()), "init": [built, time.time()], "boot_cpu": booted})

    def __call__(self, batch):
        start = time.time()
        table = super().__call__(batch)
        self._write({"call": [start, time.time()]})
        return table

    def _write(self, event: dict) -> None:
        self._log.write(json.dumps(event) + "\n")
        self._log.flush()


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds; Linux), or None."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """The CPU seconds (user + system) process ``pid`` has used so far (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ray_cpu() -> dict[int, tuple[str, float]]:
    """{pid: (name, CPU seconds)} of Ray's processes other than this one and the actors (Linux; else empty)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        cpu = _cpu_seconds(int(pid))
        if int(pid) == os.getpid() or "ray" not in cmd or "MapWorker" in cmd or cpu is None:
            continue
        found[int(pid)] = (cmd.split()[0].rsplit("/", 1)[-1], cpu)
    return found


def _timeline(log_dir: Path, start: float, end: float, workers: int) -> dict[str, float]:
    """The overhead's parts (seconds) from the actors' logs of one run that began at ``start`` and ended at ``end``."""
    actors = []  # per actor that was called: its first event (process start, init, boot CPU) and its calls
    for path in log_dir.glob("*.jsonl"):
        events = [json.loads(line) for line in path.read_text().splitlines()]
        calls = [e["call"] for e in events if "call" in e]
        if calls:
            head = next(e for e in events if "init" in e)
            actors.append((head, calls))
    if not actors:
        return {}
    ends = [calls[-1][1] for _, calls in actors]
    born = [head["process"] or head["init"][0] for head, _ in actors]
    return {
        "actors": len(actors),
        "setup": min(born) - start,
        "actor_process_to_init": statistics.mean(h["init"][0] - b for (h, _), b in zip(actors, born)),
        "actor_boot_cpu": statistics.mean(h.get("boot_cpu") or 0.0 for h, _ in actors),
        "analyzer_build": statistics.mean(h["init"][1] - h["init"][0] for h, _ in actors),
        "actor_start": statistics.mean(calls[0][0] for _, calls in actors) - start,
        "gaps": sum(c[-1][1] - c[0][0] - sum(b - a for a, b in c) for _, c in actors) / workers,
        "tail": max(ends) - min(ends),
        "drain": end - max(ends),
    }


def _local(folder: Path, workers: int, out: Path) -> float:
    """Seconds of ``faceocc analyze --workers`` on ``folder``, a cold process."""
    args = [sys.executable, "-m", "faceocc", "analyze", str(folder), "--workers", str(workers), "--threads", "1"]
    start = time.perf_counter()
    subprocess.run([*args, "-q", "--jsonl", str(out)], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def _cli(folder: Path, workers: int, out: Path, address: str) -> float:
    """Seconds of ``faceocc batch`` on ``folder``, a cold process joining the cluster at ``address``."""
    args = [sys.executable, "-m", "faceocc", "batch", str(folder), "--out", str(out), "--address", address]
    start = time.perf_counter()
    subprocess.run([*args, "--num-workers", str(workers), "--device", "cpu", "-q"], check=True, cwd=ROOT)
    return time.perf_counter() - start


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def _warm_up(folder: Path, tmp: Path, workers: int) -> float:
    """Seconds of a first run on ``workers`` photos: Ray Data starts its helper actors once per cluster (each imports
    Ray Data), as a cluster that has run a job before already has them."""
    from faceocc.batch import BatchOptions, run_batch
    from faceocc.pipeline import AnalyzerOptions

    photos = sorted(str(p) for p in folder.glob("*.jpg"))[:workers]
    options = BatchOptions(num_workers=workers, progress=False)
    return run_batch(photos, tmp / "warmup", AnalyzerOptions(device="cpu", threads=1), options).seconds


def _ray_runs(folder: Path, tmp: Path, args) -> list[dict]:
    """``args.runs`` runs of ``run_batch`` with the timed actor; each run's numbers."""
    from faceocc.batch import BatchOptions, run_batch
    from faceocc.pipeline import AnalyzerOptions

    options = BatchOptions(num_workers=args.workers, batch_size=args.batch_size, progress=False)
    analyzer = AnalyzerOptions(device="cpu", threads=1)
    runs = []
    for i in range(args.runs):
        TimedWorker.log_dir = str(tmp / f"log{i}")
        os.mkdir(TimedWorker.log_dir)
        cpu_before, driver_before = _ray_cpu(), os.times()
        start = time.time()
        summary = run_batch([str(folder)], tmp / f"ray{i}", analyzer, options, worker=TimedWorker)
        end, driver = time.time(), os.times()
        others: dict[str, float] = {}
        for pid, (name, cpu) in _ray_cpu().items():
            others[name] = others.get(name, 0.0) + cpu - cpu_before.get(pid, (name, 0.0))[1]
        run = {"seconds": summary.seconds, "busy_actor_s": summary.worker_seconds}
        run["overhead_s"] = summary.seconds - summary.worker_seconds / args.workers
        run["driver_cpu_s"] = driver.user + driver.system - driver_before.user - driver_before.system
        run["ray_processes_cpu_s"] = sum(others.values())
        run["ray_processes"] = {k: round(v, 2) for k, v in sorted(others.items(), key=lambda kv: -kv[1])[:6]}
        run.update(_timeline(tmp / f"log{i}", start, end, args.workers))
        runs.append(run)
        print(
            f"ray run {i}: " + ", ".join(f"{k} {v:.2f}" for k, v in run.items() if k != "ray_processes"),
            file=sys.stderr,
        )
        print(f"  CPU seconds of Ray's processes: {run['ray_processes']}", file=sys.stderr)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="photos")
    p.add_argument("--workers", type=int, default=2, help="local processes and Ray actors")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--no-cli", action="store_true", help="do not time the faceocc batch command")
    p.add_argument("--json", type=Path, help="write the numbers here")
    args = p.parse_args(argv)
    import ray

    from faceocc.evaluate.bench_photos import make_folder

    tmp = Path(tempfile.mkdtemp(prefix="faceocc-raybench-"))
    folder = tmp / "photos"
    make_folder(folder, count=args.n)
    load = os.getloadavg()
    local = [_local(folder, args.workers, tmp / f"local{i}.jsonl") for i in range(args.runs)]
    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start
    warmup = _warm_up(folder, tmp, args.workers)
    runs = _ray_runs(folder, tmp, args)
    address = ray.get_runtime_context().gcs_address
    cli = [] if args.no_cli else [_cli(folder, args.workers, tmp / f"cli{i}", address) for i in range(args.runs)]
    ray.shutdown()
    result = _report(args, local, ray_start, runs, cli, [load, os.getloadavg()])
    result["ray"]["warmup_s"] = warmup
    print(json.dumps(result, indent=1))
    print(_headline(result), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _headline(result: dict) -> str:
    """The numbers to read first, in two lines."""
    ray_, parts = result["ray"], result["ray"]["overhead_parts_s"]
    first = (
        f"ray / local throughput: {result['ray_vs_local']:.2f} (ray {ray_['median_s']:.1f} s, local "
        f"{result['local']['median_s']:.1f} s for {result['photos']} photos; "
        f"{ray_['per_actor_photos_per_s']:.1f} photos/s per busy actor)"
    )
    named = ("actor_start", "gaps", "tail", "drain")
    split = ", ".join(f"{k} {parts[k]:.2f}" for k in named if parts.get(k) is not None)
    return f"{first}\nray overhead (wall - busy / workers): {ray_['overhead_s']:.2f} s; its parts: {split}"


def _report(args, local: list[float], ray_start: float, runs: list[dict], cli: list[float], load) -> dict:
    wall, busy = _median(runs, "seconds"), _median(runs, "busy_actor_s")
    assert wall is not None and busy is not None
    local_s = statistics.median(local)
    parts = (
        "setup",
        "actor_start",
        "actor_process_to_init",
        "actor_boot_cpu",
        "analyzer_build",
        "gaps",
        "tail",
        "drain",
    )
    result = {
        "photos": args.n,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_before_after": [[round(x, 2) for x in one] for one in load],
        "local": {"seconds": local, "median_s": local_s, "photos_per_s": args.n / local_s},
        "ray": {
            "start_s": ray_start,
            "seconds": [r["seconds"] for r in runs],
            "median_s": wall,
            "photos_per_s": args.n / wall,
            "busy_actor_s": busy,
            "per_actor_photos_per_s": args.n / busy,
            "overhead_s": _median(runs, "overhead_s"),
            "overhead_parts_s": {k: _median(runs, k) for k in parts},
            "driver_cpu_s": _median(runs, "driver_cpu_s"),
            "ray_processes_cpu_s": _median(runs, "ray_processes_cpu_s"),
            "ray_processes_last_run": runs[-1].get("ray_processes"),
        },
        "ray_vs_local": local_s / wall,
    }
    if cli:
        result["ray_cli"] = {"seconds": cli, "median_s": statistics.median(cli)}
        result["ray_cli_vs_local"] = local_s / statistics.median(cli)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
