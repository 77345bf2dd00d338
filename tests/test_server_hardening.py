"""The service under abuse (issue 18, findings 3 and 9-14): playlists that read local files, slow-loris, request
smuggling, non-finite options, fail-open auth, foreign hosts and origins, jobs lost on a crash, JPEG scan bombs.

A few tests run a real uvicorn server on an ephemeral loopback port (framing and header timeouts are the HTTP
server's business, which TestClient skips)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs FastAPI (pip install 'faceocc[serve]')")
pytest.importorskip("multipart", reason="the service needs python-multipart")
uvicorn = pytest.importorskip("uvicorn")

from fastapi.testclient import TestClient  # noqa: E402

from faceocc.server import ServerSettings, create_app  # noqa: E402
from faceocc.server.jobs import Job, JobManager  # noqa: E402


def _err(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


def _wait_job(c, job_id: str, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A small local video that an attacker's playlist would point at."""
    path = tmp_path_factory.mktemp("secret") / "secret.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for i in range(4):
        writer.write(np.full((64, 64, 3), 40 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def rooted(tmp_path_factory, clip):
    """A client whose server allows jobs on files under a jobs root (which also holds a playlist)."""
    root = tmp_path_factory.mktemp("videos")
    (root / "clip.avi").write_bytes(clip.read_bytes())
    (root / "list.m3u8").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{clip}\n#EXT-X-ENDLIST\n")
    with TestClient(create_app(ServerSettings(workers=1, jobs_root=str(root), api_key="k"))) as c:
        c.headers["x-api-key"] = "k"
        yield c


# -- 9: only self-contained containers, opened with FFmpeg limited to files --------------------------------------


def test_playlist_upload_cannot_read_local_files(rooted, clip, monkeypatch):
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{clip}\n#EXT-X-ENDLIST\n".encode()
    for name in ("x.m3u8", "x.mp4"):  # the name does not matter, the bytes do
        e = _err(rooted.post("/v1/jobs", files={"file": (name, playlist, "video/mp4")}), 422, "unreadable_video")
        assert "self-contained" in e["message"] and str(clip) not in e["message"]
    _err(rooted.post("/v1/jobs", json={"path": "list.m3u8"}), 422, "unreadable_video")
    # a real container is opened with FFmpeg's file protocol and that container's demuxer only
    from faceocc.io import VideoReader

    seen = []
    real_open = VideoReader.open

    def spy(self):
        seen.append(os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS"))
        return real_open(self)

    monkeypatch.setattr(VideoReader, "open", spy)
    r = rooted.post("/v1/jobs", files={"file": ("c.avi", clip.read_bytes(), "video/x-msvideo")})
    assert r.status_code == 202, r.text
    assert _wait_job(rooted, r.json()["id"])["status"] == "done"
    assert seen and seen[0] == "protocol_whitelist;file|input_format;avi"
    assert "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ  # only while opening


# -- 12: non-finite numbers, deep JSON, impossible paths: 4xx, and nothing poisons shared state ---------------


def test_non_finite_and_odd_job_requests_get_4xx(rooted):
    avi = (Path(rooted.app.state.service.settings.jobs_root) / "clip.avi").read_bytes()
    for fps in ("inf", "1e309", "nan", "-inf"):
        r = rooted.post("/v1/jobs", content=avi, params={"fps": fps}, headers={"content-type": "video/x-msvideo"})
        _err(r, 422, "invalid_parameter")
    for body in (
        b'{"path": "clip.avi", "fps": Infinity}',
        b'{"path": "clip.avi", "fps": 1e309}',
        b'{"path": "clip.avi", "threshold": NaN}',
        b"[" * 60_000,
        b'{"path": "\\ud800"}',
        json.dumps({"path": "a" * 300 + ".avi"}).encode(),
        json.dumps({"path": "a/" * 3000 + "x.avi"}).encode(),
    ):
        r = rooted.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text)
    listing = rooted.get("/v1/jobs")
    assert listing.status_code == 200 and all(j["options"]["fps"] is None for j in listing.json()["jobs"])


# -- 13: no fail-open auth, keys off the command line, Host allow-list, no cross-origin writes, CSP, /ready --------


def test_empty_api_key_refuses_to_start(tmp_path, capsys):
    from typer.testing import CliRunner

    from faceocc.cli import app
    from faceocc.server.commands import default_allowed_hosts, resolve_api_key

    for args, env in ((["serve", "--api-key", ""], {}), (["serve"], {"FACEOCC_API_KEY": " "})):
        out = CliRunner().invoke(app, args, env=env)
        assert out.exit_code == 2 and "empty" in out.output, (args, out.output)
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    assert resolve_api_key(None, key_file, from_command_line=False) == "s3cret"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        resolve_api_key(None, tmp_path / "empty", from_command_line=False)
    assert resolve_api_key("abc", None, from_command_line=True) == "abc"
    assert "process list" in capsys.readouterr().err
    assert set(default_allowed_hosts("127.0.0.1", None)) >= {"127.0.0.1", "localhost", "::1"}
    assert default_allowed_hosts("0.0.0.0", None) is None and default_allowed_hosts("0.0.0.0", ["a.b"]) == ("a.b",)


def test_hosts_origins_docs_and_ready():
    settings = ServerSettings(workers=1, api_key="k", allowed_hosts=("localhost", "127.0.0.1"))
    with TestClient(create_app(settings), base_url="http://localhost:8000") as c:
        assert c.get("/health").status_code == 200
        _err(c.get("/health", headers={"host": "evil.example:8000"}), 400, "host_not_allowed")
        key = {"x-api-key": "k"}
        same = c.post("/v1/analyze", content=b"x", headers={**key, "origin": "http://localhost:8000"})
        assert same.status_code == 422  # reaches the endpoint (not an image)
        for headers in ({"origin": "http://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}):
            _err(c.post("/v1/analyze", content=b"x", headers={**key, **headers}), 403, "cross_origin")
        csp = c.get("/docs").headers["content-security-policy"]
        script_src = csp.split("script-src", 1)[1].split(";")[0]
        assert "'sha256-" in script_src and "unsafe-inline" not in script_src and "frame-ancestors 'none'" in csp
        assert c.get("/ready").json() == {"status": "ready", "auth_required": True}
        full = c.get("/ready", headers=key).json()
        assert full["limits"]["max_pixels"] and full["model"].endswith(".onnx")


# -- 3: a JPEG scan bomb is refused before decoding -----------------------------------------------------------


def scan_bomb(copies: int, size: int = 64) -> bytes:
    """A progressive JPEG whose smallest scan is repeated ``copies`` times (decoders accept it, slowly)."""
    ok, buf = cv2.imencode(".jpg", np.full((size, size, 3), 128, np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    data = buf.tobytes()
    starts = [i for i in range(len(data) - 1) if data[i : i + 2] == b"\xff\xda"]
    scans = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data) - 2])]
    return data[:-2] + min(scans[1:], key=len) * copies + b"\xff\xd9"


def test_jpeg_scan_bomb_is_refused_before_decoding():
    with TestClient(create_app(ServerSettings(workers=1, max_jpeg_scans=50))) as c:
        e = _err(
            c.post("/v1/analyze", content=scan_bomb(200), headers={"content-type": "image/jpeg"}),
            413,
            "image_too_large",
        )
        assert "scans" in e["message"]
        assert c.post("/v1/analyze", content=scan_bomb(5), headers={"content-type": "image/jpeg"}).status_code == 200


# -- 14: jobs survive a crash as "interrupted", are swept after their TTL, and SIGTERM drains --------------------


def _upload_job(manager: JobManager) -> Job:
    job_id, job_dir = manager.new_job_dir()
    video = job_dir / "video.avi"
    video.write_bytes(b"RIFF")
    return Job(id=job_id, source="up.avi", video_path=video, owns_video=True, options={"fps": None})


def test_jobs_survive_a_crash_and_are_swept(tmp_path):
    gate, running = threading.Event(), threading.Event()

    def blocked(job, emit):
        emit({"frame": 0})
        job.frames_done = 1
        running.set()
        gate.wait(10)

    first = JobManager(tmp_path, 4, 100, blocked)
    try:
        a, b = first.submit(_upload_job(first)), first.submit(_upload_job(first))
        assert running.wait(10)
        orphan = tmp_path / ("f" * 32)  # an upload cut off by the crash
        orphan.mkdir()
        # the process dies here (nothing is stopped); a new one starts on the same work dir
        second = JobManager(tmp_path, 4, 100, blocked, ttl=60)
        for job, was in ((a, "running"), (b, "queued")):
            again = second.get(job.id)
            assert again.status == "interrupted" and again.finished is not None
            assert again.error["code"] == "interrupted" and was in again.error["message"]
            assert not job.video_path.exists()  # the upload is gone, the results are kept until the TTL
        assert (tmp_path / a.id / "results.jsonl").read_text().startswith('{"frame": 0}')
        assert not orphan.exists()
        assert second.sweep() == []  # not yet
        assert sorted(second.sweep(now=time.time() + 120)) == sorted([a.id, b.id])
        assert not (tmp_path / a.id).exists() and second.list() == []
        second.stop()
        assert JobManager(tmp_path, 4, 100, blocked).list() == []
    finally:
        gate.set()
        first.stop()


def test_shutdown_drains_with_a_deadline(tmp_path):
    def endless(job, emit):
        while not job.cancel.wait(0.01):
            pass

    manager = JobManager(tmp_path / "a", 4, 100, endless)
    a, b = manager.submit(_upload_job(manager)), manager.submit(_upload_job(manager))
    while a.status != "running":
        time.sleep(0.01)
    manager.stop(drain_timeout=0.1)
    assert a.status == b.status == "interrupted"
    assert "running" in a.error["message"] and "before this job started" in b.error["message"]
    assert {j.status for j in JobManager(tmp_path / "a", 4, 100, endless).list()} == {"interrupted"}

    gate = threading.Event()
    quick = JobManager(tmp_path / "b", 4, 100, lambda job, emit: gate.wait(10))
    c = quick.submit(_upload_job(quick))
    threading.Timer(0.2, gate.set).start()
    quick.stop(drain_timeout=10)
    assert c.status == "done"


# -- 10, 11: a real server: slow-loris connections are closed, ambiguous framing is refused -------------------


@pytest.fixture(scope="module")
def live():
    from faceocc.server.commands import uvicorn_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ServerSettings(workers=1, header_timeout=0.5)
    config = uvicorn_config(create_app(settings), settings, "127.0.0.1", port, "warning", False)
    config.limit_concurrency = 4  # a small cap, so that a few slow connections would fill it
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _drip(port: int, out: list, cap: float = 10.0) -> None:
    """Send a request head a byte at a time until the server hangs up (at most ``cap`` seconds)."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    with socket.create_connection(("127.0.0.1", port), timeout=cap) as s:
        deadline = time.time() + cap
        try:
            for byte in head:
                if time.time() > deadline:
                    out.append("still open")
                    return
                s.sendall(bytes([byte]))
                time.sleep(0.02)
            out.append("still open")
        except OSError:
            out.append("closed")
            return


def test_slow_headers_are_timed_out(live):
    import httpx

    results: list[str] = []
    threads = [threading.Thread(target=_drip, args=(live, results)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert results == ["closed"] * 6
    assert httpx.get(f"http://127.0.0.1:{live}/health", timeout=5).status_code == 200
    # a partial request head gets a 408 before the connection is closed
    with socket.create_connection(("127.0.0.1", live), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 1")
        assert s.recv(4096).startswith(b"HTTP/1.1 408")


def test_ambiguous_framing_is_refused_and_closed(live):
    request = (
        b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 43\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", live), timeout=10) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):  # the server closes the connection
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b"ambiguous framing" in reply
    assert reply.count(b"HTTP/1.1 ") == 1  # the smuggled request never ran
