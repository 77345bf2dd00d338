"""What every benchmark records beside its numbers: the environment it ran in (versions, commit, CPU, load) and
the process's memory; and the pipeline stages it times."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

#: the stages of ``Analyzer.analyze`` whose times (``result.timings``) the benchmarks report
STAGES = ("decode", "detect", "align", "classify")


def environment() -> dict:
    """faceocc version and git commit (``+dirty`` with uncommitted changes), library versions, platform and CPU."""
    import onnxruntime as ort

    from .. import __version__

    return {
        "faceocc_version": __version__,
        "commit": _commit(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _commit() -> str | None:
    commit = None
    try:
        root = Path(__file__).resolve().parents[2]
        commit = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        if commit and dirty:
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return commit


def _cpu_name() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def rss_mb() -> float:
    """This process's resident memory now (MB; NaN where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    """Peak resident memory (MB) of this process (``RUSAGE_SELF``) or of its finished children (``RUSAGE_CHILDREN``)."""
    kb = resource.getrusage(who).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20
