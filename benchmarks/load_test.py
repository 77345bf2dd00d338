#!/usr/bin/env python
"""Bounded loopback load and fault test of ``faceocc serve``.

Starts the service on 127.0.0.1 (a uvicorn subprocess; loopback only, there is no
option to aim it elsewhere), then:

1. latency (p50/p99) and throughput of POST /v1/analyze at concurrency 1, 4, 16
   (below the server's limit: every request must succeed);
2. an overload burst above the limit: only 200 and 429 are acceptable answers;
3. a soak of ``--soak`` requests, sampling the server's resident memory;
4. fault cases: corrupt upload, truncated image, empty body, wrong content types,
   oversized body, oversized image (pixel bomb), slow client, client that hangs up
   mid-upload; each must get a clear 4xx (or nothing, for the hang-up) and the
   service must stay healthy after each;
5. abuse cases: slow-loris (``--slow-connections`` connections sending their headers a
   byte at a time: all must be closed by the server's header timeout and /health must
   answer), request framing (Transfer-Encoding and Content-Length together: one 400, the
   connection closed, the smuggled second request never answered) and a JPEG scan bomb
   (a progressive JPEG with 20,000 scans, sent twice at once: refused 413 before decoding,
   and a normal request right after is answered 200).

Every loop is bounded in count and time. Exit status 0 when every check passed.

    python benchmarks/load_test.py                        # defaults: 200 requests per level, soak 2000
    python benchmarks/load_test.py --requests 100 --soak 500 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

HOST = "127.0.0.1"  # loopback only, by design


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def photo_bytes() -> bytes:
    import cv2
    from skimage import data

    ok, buf = cv2.imencode(".jpg", data.astronaut()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


class Server:
    def __init__(self, args):
        self.port = args.port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "faceocc.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--max-concurrency",
            str(args.max_concurrency),
            "--timeout",
            str(args.server_timeout),
            "--max-upload-mb",
            str(args.max_upload_mb),
            "--header-timeout",
            str(args.header_timeout),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        env = dict(os.environ)
        env.pop("FACEOCC_API_KEY", None)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def run_level(url: str, body: bytes, concurrency: int, total: int, time_cap: float) -> dict:
    """``total`` POST /v1/analyze requests from ``concurrency`` concurrent clients (stops early at ``time_cap`` s)."""
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    remaining = total
    deadline = time.perf_counter() + time_cap
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker():
            nonlocal remaining
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                t = time.perf_counter()
                try:
                    r = await client.post("/v1/analyze", content=body, headers={"content-type": "image/jpeg"})
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - t)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    done = sum(statuses.values())
    return {
        "concurrency": concurrency,
        "requests": done,
        "ok": statuses.get(200, 0),
        "statuses": statuses,
        "transport_errors": len(errors),
        "error_samples": errors[:3],
        "seconds": round(elapsed, 2),
        "throughput_rps": round(statuses.get(200, 0) / elapsed, 2) if elapsed else 0.0,
        "p50_ms": round(pct(latencies, 50) * 1000, 1),
        "p99_ms": round(pct(latencies, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
    }


def raw_exchange(port: int, payload: bytes, stall: float = 0.0, read_timeout: float = 15.0) -> str:
    """Send raw bytes on a loopback socket (optionally stalling), return the reply's status line and body."""
    with socket.create_connection((HOST, port), timeout=read_timeout) as s:
        s.sendall(payload)
        if stall:
            time.sleep(stall)
        reply = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            reply += chunk
            if b"\r\n\r\n" in reply:
                head, _, rest = reply.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    break
    text = reply.decode("latin-1")
    return text.split("\r\n", 1)[0] + " " + text.partition("\r\n\r\n")[2]


def fault_cases(server: Server, photo: bytes, args) -> list[dict]:
    import httpx

    url = server.url
    big = os.urandom(int((args.max_upload_mb + 1) * 1024 * 1024))
    cases = [
        (
            "corrupt upload",
            422,
            "unreadable_image",
            lambda c: c.post("/v1/analyze", content=os.urandom(20000), headers={"content-type": "image/jpeg"}),
        ),
        (
            "truncated JPEG",
            422,
            "unreadable_image",
            lambda c: c.post("/v1/analyze", content=photo[: len(photo) // 50], headers={"content-type": "image/jpeg"}),
        ),
        (
            "corrupt multipart file",
            422,
            "unreadable_image",
            lambda c: c.post("/v1/analyze", files={"file": ("x.jpg", b"\xff\xd8garbage", "image/jpeg")}),
        ),
        (
            "empty body",
            400,
            "empty_body",
            lambda c: c.post("/v1/analyze", content=b"", headers={"content-type": "application/octet-stream"}),
        ),
        (
            "wrong content type (json)",
            415,
            "unsupported_media_type",
            lambda c: c.post("/v1/analyze", json={"image": "x"}),
        ),
        (
            "wrong content type (text)",
            415,
            "unsupported_media_type",
            lambda c: c.post("/v1/analyze", content=b"hello", headers={"content-type": "text/plain"}),
        ),
        ("multipart without file", 400, "missing_file", lambda c: c.post("/v1/analyze", files={"note": (None, "hi")})),
        (
            "oversized body",
            413,
            "payload_too_large",
            lambda c: c.post("/v1/analyze", content=big, headers={"content-type": "image/jpeg"}),
        ),
        (
            "oversized body, chunked",
            413,
            "payload_too_large",
            lambda c: c.post(
                "/v1/analyze",
                content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
                headers={"content-type": "image/jpeg"},
            ),
        ),
        (
            "oversized image (50000x50000 PNG header)",
            413,
            "image_too_large",
            lambda c: c.post("/v1/analyze", content=png_bomb(), headers={"content-type": "image/png"}),
        ),
        (
            "bad parameter",
            422,
            "invalid_parameter",
            lambda c: c.post("/v1/analyze", content=photo, params={"threshold": "high"}),
        ),
        ("unknown endpoint", 404, "not_found", lambda c: c.get("/v1/unknown")),
    ]
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for name, want_status, want_code, send in cases:
            t = time.perf_counter()
            try:
                r = send(client)
                status, body = r.status_code, r.json()
                code = body.get("error", {}).get("code")
            except Exception as exc:  # noqa: BLE001
                status, code = None, f"{type(exc).__name__}: {exc}"
            out.append(_fault_record(name, want_status, want_code, status, code, t, url))
    # slow client: headers and 3 bytes of a 100 kB body, then nothing
    t = time.perf_counter()
    reply = raw_exchange(
        server.port,
        b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 100000\r\n\r\n\xff\xd8\xff",
        read_timeout=args.server_timeout + 10,
    )
    status = int(reply.split()[1]) if reply.startswith("HTTP/1.1") else None
    code = (
        json.loads(reply.split(" ", 3)[-1][reply.split(" ", 3)[-1].find("{") :]).get("error", {}).get("code")
        if "{" in reply
        else None
    )
    out.append(_fault_record("slow client (stalls mid-body)", 408, "request_timeout", status, code, t, url))
    # a client that hangs up halfway through its upload: no answer is possible; the service must not mind
    t = time.perf_counter()
    with socket.create_connection((HOST, server.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 200000\r\n\r\n" + photo[:5000]
        )
    time.sleep(0.2)
    out.append(_fault_record("client hangs up mid-upload", None, None, None, None, t, url))
    return out


def scan_bomb(copies: int = 20_000, size: int = 2048) -> bytes:
    """A progressive JPEG whose smallest scan is repeated ``copies`` times: small, valid, and minutes to decode."""
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.full((size, size, 3), 128, np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    data = buf.tobytes()
    starts = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\xff\xda"]
    scans = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data) - 2])]
    return data[:-2] + min(scans[1:], key=len) * copies + b"\xff\xd9"


def _drip_headers(port: int, cap: float) -> str:
    """Send a request head a byte every 50 ms until the server hangs up; "closed" or "still open" after ``cap`` s."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
    try:
        with socket.create_connection((HOST, port), timeout=cap) as s:
            deadline = time.time() + cap
            for byte in head:
                if time.time() > deadline:
                    return "still open"
                s.sendall(bytes([byte]))
                time.sleep(0.05)
    except OSError:
        return "closed"
    return "still open"


def abuse_cases(server: Server, args) -> list[dict]:
    """Slow-loris, ambiguous framing and a scan bomb; each bounded in time, loopback only."""
    import concurrent.futures

    import httpx

    out = []
    # slow-loris: more slow connections than uvicorn's connection cap (64)
    t = time.perf_counter()
    cap = args.header_timeout + 10
    with concurrent.futures.ThreadPoolExecutor(args.slow_connections + 1) as pool:
        drips = [pool.submit(_drip_headers, server.port, cap) for _ in range(args.slow_connections)]
        time.sleep(args.header_timeout + 1)
        try:
            during = httpx.get(server.url + "/health", timeout=10).status_code
        except httpx.HTTPError:
            during = None
        outcomes = [d.result() for d in drips]
    closed = outcomes.count("closed")
    record = _fault_record(
        f"slow-loris ({args.slow_connections} slow header senders)", 200, None, during, None, t, server.url
    )
    record["closed_by_server"] = closed
    record["passed"] = record["passed"] and closed == args.slow_connections
    out.append(record)
    # framing: both Transfer-Encoding and Content-Length, a second request hidden after the chunked body
    t = time.perf_counter()
    with socket.create_connection((HOST, server.port), timeout=15) as s:
        s.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 43\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except OSError:
            pass
    status = int(reply.split()[1]) if reply.startswith(b"HTTP/1.1 ") else None
    record = _fault_record("framing (Transfer-Encoding + Content-Length)", 400, None, status, None, t, server.url)
    record["responses"] = reply.count(b"HTTP/1.1 ")
    record["passed"] = record["passed"] and record["responses"] == 1
    out.append(record)
    # a scan bomb, twice at once, then an ordinary request
    bomb = scan_bomb()
    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(
            pool.map(
                lambda _: httpx.post(
                    server.url + "/v1/analyze", content=bomb, headers={"content-type": "image/jpeg"}, timeout=120
                ),
                range(2),
            )
        )
    statuses = {r.status_code for r in replies}
    code = replies[0].json().get("error", {}).get("code") if replies[0].status_code != 200 else None
    status = replies[0].status_code if len(statuses) == 1 else None
    record = _fault_record(
        f"JPEG scan bomb x2 ({len(bomb)} bytes)", 413, "image_too_large", status, code, t, server.url
    )
    out.append(record)
    return out


def _fault_record(name, want_status, want_code, status, code, t0, url) -> dict:
    import httpx

    seconds = time.perf_counter() - t0
    healthy = httpx.get(url + "/health", timeout=10).status_code == 200
    ok_after = (
        httpx.post(url + "/v1/analyze", content=PHOTO, headers={"content-type": "image/jpeg"}, timeout=30).status_code
        == 200
    )
    passed = status == want_status and code == want_code and healthy and ok_after
    return {
        "case": name,
        "status": status,
        "code": code,
        "expected": [want_status, want_code],
        "seconds": round(seconds, 2),
        "healthy_after": healthy and ok_after,
        "passed": passed,
    }


PHOTO = b""


def main(argv=None) -> int:
    global PHOTO
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--port", type=int, default=0, help="loopback port (0: a free one)")
    p.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    p.add_argument("--levels", default="1,4,16", help="concurrency levels (each at most --max-concurrency)")
    p.add_argument("--soak", type=int, default=2000, help="requests of the memory soak (0: skip)")
    p.add_argument("--soak-concurrency", type=int, default=4)
    p.add_argument("--overload", type=int, default=200, help="requests of the burst above the limit (0: skip)")
    p.add_argument("--max-concurrency", type=int, default=16, help="the server's in-flight limit")
    p.add_argument("--workers", type=int, default=0, help="the server's analysis threads (0: its default)")
    p.add_argument(
        "--server-timeout", type=float, default=3.0, help="the server's --timeout (slow-client case waits this long)"
    )
    p.add_argument("--max-upload-mb", type=float, default=2.0, help="the server's --max-upload-mb")
    p.add_argument("--header-timeout", type=float, default=2.0, help="the server's --header-timeout")
    p.add_argument("--slow-connections", type=int, default=80, help="slow-loris connections (1..200)")
    p.add_argument("--time-cap", type=float, default=180.0, help="seconds at most per phase")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if any(c < 1 or c > args.max_concurrency for c in levels):
        p.error("every level must be within 1..--max-concurrency (requests above the limit are the overload phase)")
    if not 1 <= args.slow_connections <= 200:
        p.error("--slow-connections must be within 1..200")
    for name in ("requests", "soak", "overload"):
        if getattr(args, name) < 0 or getattr(args, name) > 100_000:
            p.error(f"--{name} must be within 0..100000")

    PHOTO = photo_bytes()
    report: dict = {"host": HOST, "cpu_count": os.cpu_count(), "settings": vars(args) | {"json": str(args.json)}}
    server = Server(args)
    ok = True
    try:
        server.wait_ready()
        pid = server.proc.pid
        report["rss_mib_start"] = round(rss_mib(pid), 1)
        asyncio.run(run_level(server.url, PHOTO, 2, 20, 60))  # warm-up
        print(
            f"server {server.url} pid {pid}; {os.cpu_count()} cores; RSS after warm-up {rss_mib(pid):.0f} MiB",
            flush=True,
        )
        report["levels"] = []
        for c in levels:
            r = asyncio.run(run_level(server.url, PHOTO, c, args.requests, args.time_cap))
            r["passed"] = r["ok"] == r["requests"] and r["transport_errors"] == 0
            ok &= r["passed"]
            report["levels"].append(r)
            print(
                f"concurrency {c:>2}: {r['requests']} requests, {r['ok']} ok, "
                f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                f"{r['throughput_rps']} req/s, statuses {r['statuses']}{'' if r['passed'] else '  FAILED'}",
                flush=True,
            )
        if args.overload:
            c = args.max_concurrency * 2
            r = asyncio.run(run_level(server.url, PHOTO, c, args.overload, args.time_cap))
            bad = {s: n for s, n in r["statuses"].items() if s not in (200, 429)}
            r["passed"] = not bad and r["transport_errors"] == 0
            ok &= r["passed"]
            report["overload"] = r
            print(
                f"overload at concurrency {c}: statuses {r['statuses']} (only 200/429 allowed), p99 of successes "
                f"{r['p99_ms']} ms{'' if r['passed'] else '  FAILED'}",
                flush=True,
            )
        if args.soak:
            samples = [(0, rss_mib(pid))]
            chunk = max(1, args.soak // 8)
            done, failed = 0, 0
            t0 = time.perf_counter()
            while done < args.soak and time.perf_counter() - t0 < args.time_cap * 3:
                n = min(chunk, args.soak - done)
                r = asyncio.run(run_level(server.url, PHOTO, args.soak_concurrency, n, args.time_cap))
                done += r["requests"]
                failed += r["requests"] - r["ok"] + r["transport_errors"]
                samples.append((done, rss_mib(pid)))
            first_half = [m for d, m in samples if d <= done / 2]
            growth = samples[-1][1] - max(first_half[1:] or first_half)
            report["soak"] = {
                "requests": done,
                "failed": failed,
                "rss_mib": [(d, round(m, 1)) for d, m in samples],
                "growth_second_half_mib": round(growth, 1),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            soak_ok = failed == 0 and growth < 50
            report["soak"]["passed"] = soak_ok
            ok &= soak_ok
            print(
                f"soak: {done} requests, {failed} failed, RSS MiB {[round(m) for _, m in samples]} "
                f"(growth over the second half {growth:+.1f} MiB){'' if soak_ok else '  FAILED'}",
                flush=True,
            )
        report["faults"] = fault_cases(server, PHOTO, args) + abuse_cases(server, args)
        for f in report["faults"]:
            ok &= f["passed"]
            print(
                f"fault {f['case']:<42} -> {f['status']} {f['code']} in {f['seconds']} s; healthy after: "
                f"{f['healthy_after']}"
                + "".join(f"; {k} {f[k]}" for k in ("closed_by_server", "responses") if k in f)
                + ("" if f["passed"] else "  FAILED (expected " + str(f["expected"]) + ")"),
                flush=True,
            )
        import httpx

        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        report["metrics_sample"] = [
            line for line in metrics.splitlines() if line.startswith(("faceocc_errors_total", "faceocc_images_total"))
        ]
        report["rss_mib_end"] = round(rss_mib(pid), 1)
        report["server_alive"] = server.proc.poll() is None
        ok &= report["server_alive"]
    finally:
        server.stop()
    report["passed"] = bool(ok)
    print("PASSED" if ok else "FAILED", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
