"""Prometheus metrics written by hand (text exposition format 0.0.4), thread-safe, no dependency."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    esc = [(k, str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')) for k, v in pairs]
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: dict[tuple, int] = defaultdict(int)  # (method, route, status)
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.latency_n: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.faces: dict[str, int] = defaultdict(int)
        self.images = 0
        self.frames = 0
        self.gauges: dict[str, tuple[str, Callable[[], Any]]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            counts = self.latency_counts.setdefault(route, [0] * len(LATENCY_BUCKETS))
            for i, b in enumerate(LATENCY_BUCKETS):
                if seconds <= b:
                    counts[i] += 1
            self.latency_sum[route] += seconds
            self.latency_n[route] += 1

    def observe_error(self, code: str) -> None:
        with self._lock:
            self.errors[code] += 1

    def observe_result(self, faces, video: bool = False) -> None:
        with self._lock:
            if video:
                self.frames += 1
            else:
                self.images += 1
            for f in faces:
                verdict = "not_assessable" if not f.assessable else ("occluded" if f.occluded else "clear")
                self.faces[verdict] += 1

    def render(self) -> str:
        out: list[str] = []

        def head(name, kind, text):
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            head("faceocc_requests_total", "counter", "HTTP requests by method, route and status.")
            for (m, r, s), v in sorted(self.requests.items()):
                out.append(f"faceocc_requests_total{_labels((('method', m), ('route', r), ('status', s)))} {v}")
            head("faceocc_request_duration_seconds", "histogram", "HTTP request latency by route.")
            for route in sorted(self.latency_counts):
                counts = self.latency_counts[route]
                for b, c in zip(LATENCY_BUCKETS, counts):
                    out.append(
                        f"faceocc_request_duration_seconds_bucket{_labels((('route', route), ('le', repr(b))))} {c}"
                    )
                inf = _labels((("route", route), ("le", "+Inf")))
                out.append(f"faceocc_request_duration_seconds_bucket{inf} {self.latency_n[route]}")
                out.append(
                    f"faceocc_request_duration_seconds_sum{_labels((('route', route),))} {self.latency_sum[route]:.6f}"
                )
                out.append(
                    f"faceocc_request_duration_seconds_count{_labels((('route', route),))} {self.latency_n[route]}"
                )
            head("faceocc_errors_total", "counter", "Error responses by stable error code.")
            for code, v in sorted(self.errors.items()):
                out.append(f"faceocc_errors_total{_labels((('code', code),))} {v}")
            head("faceocc_images_total", "counter", "Images analysed.")
            out.append(f"faceocc_images_total {self.images}")
            head("faceocc_video_frames_total", "counter", "Video frames analysed by jobs.")
            out.append(f"faceocc_video_frames_total {self.frames}")
            head("faceocc_faces_total", "counter", "Faces found, by verdict.")
            for verdict in ("clear", "occluded", "not_assessable"):
                out.append(f"faceocc_faces_total{_labels((('verdict', verdict),))} {self.faces.get(verdict, 0)}")
            gauges = dict(self.gauges)
        for name, (text, fn) in sorted(gauges.items()):
            head(name, "gauge", text)
            value = fn()
            if isinstance(value, dict):
                for label_pairs, v in value.items():
                    out.append(f"{name}{_labels(label_pairs)} {v}")
            else:
                out.append(f"{name} {value}")
        head("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        out.append(f"process_resident_memory_bytes {rss_bytes()}")
        head("process_start_time_seconds", "gauge", "Start time of the process since the epoch in seconds.")
        out.append(f"process_start_time_seconds {self.started:.3f}")
        return "\n".join(out) + "\n"

    def gauge(self, name: str, text: str, fn: Callable[[], Any]) -> None:
        """Register a gauge read at scrape time; ``fn`` returns a number or {label_pairs: number}."""
        with self._lock:
            self.gauges[name] = (text, fn)
