"""The HTTP service: contract, options, limits, errors, auth, jobs, metrics (FastAPI TestClient, plus one real
socket)."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs FastAPI (pip install 'faceocc[serve]')")
pytest.importorskip("multipart", reason="the service needs python-multipart")

from fastapi.testclient import TestClient  # noqa: E402

from faceocc.server import ServerSettings, create_app  # noqa: E402

FACE_KEYS = {
    "box",
    "det_score",
    "landmarks",
    "occluded",
    "occlusion_score",
    "occluders",
    "occluder",
    "face_class",
    "parts",
    "upper",
    "lower",
    "coverage",
    "border",
    "usable",
    "advice",
    "assessable",
    "reason",
    "crop_file",  # null: the server writes no crops (one schema with the command line's records)
}


@pytest.fixture(scope="module")
def photo() -> bytes:
    from skimage import data

    ok, buf = cv2.imencode(".jpg", data.astronaut()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def make_client(**settings) -> TestClient:
    settings.setdefault("workers", 1)
    return TestClient(create_app(ServerSettings(**settings)))


@pytest.fixture(scope="module")
def client():
    with make_client() as c:
        yield c


def _png_header(width: int, height: int) -> bytes:
    """A PNG that announces width x height pixels but carries (almost) no data: a decompression bomb stand-in."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _err(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]


# -- analyze ---------------------------------------------------------------------------------------


def test_analyze_multipart_contract(client, photo):
    r = client.post("/v1/analyze", files={"file": ("astro.jpg", photo, "image/jpeg")})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["path"] == "astro.jpg" and (d["width"], d["height"]) == (512, 512) and d["error"] is None
    assert len(d["faces"]) == 1
    face = d["faces"][0]
    assert set(face) == FACE_KEYS
    assert set(face["occluders"]) == {"mask", "sunglasses", "eyeglasses", "hand", "other"}
    assert set(face["parts"]) == {"right_eye", "left_eye", "nose", "mouth", "chin"}
    x1, y1, x2, y2 = face["box"]
    assert 150 < x1 < x2 < 300 and 30 < y1 < y2 < 200


def test_analyze_raw_body_and_path_is_basename(client, photo):
    for ctype in ("application/octet-stream", "image/jpeg"):
        r = client.post("/v1/analyze", content=photo, headers={"content-type": ctype})
        assert r.status_code == 200 and r.json()["path"] is None and len(r.json()["faces"]) == 1
    r = client.post("/v1/analyze", files={"file": ("../../etc/astro.jpg", photo, "image/jpeg")})
    assert r.json()["path"] == "astro.jpg"


def test_per_request_policy(client, photo):
    low = client.post("/v1/analyze", content=photo, params={"threshold": 0.0}).json()["faces"][0]
    high = client.post("/v1/analyze", content=photo, params={"threshold": 1.0}).json()["faces"][0]
    assert low["occluded"] is True and low["usable"] is False and low["advice"]
    assert high["occluded"] is False and high["usable"] is True and high["advice"] == []
    assert low["occlusion_score"] == high["occlusion_score"]
    # the default policy (the model's own threshold, not 0.5) is not changed by a request
    model_threshold = client.get("/ready").json()["model_threshold"]
    assert model_threshold != 0.5
    again = client.post("/v1/analyze", content=photo).json()["faces"][0]
    assert again["occluded"] == (again["occlusion_score"] >= model_threshold)
    glasses = client.post("/v1/analyze", content=photo, params={"eyeglasses_occlude": "true", "threshold": 1.0}).json()[
        "faces"
    ][0]
    assert glasses["occluded"] == (glasses["occluders"]["eyeglasses"] >= 0.5)
    assert glasses["face_class"] == ("eyeglasses" if glasses["occluded"] else "clean")


def test_include_map_and_overlay(client, photo):
    face = client.post(
        "/v1/analyze", content=photo, params={"include_map": "true", "overlay": "true", "threshold": 0.0}
    ).json()["faces"][0]
    m = np.array(face["occlusion_map"])
    assert m.ndim == 2 and m.shape[0] == m.shape[1] and 0 <= m.min() <= m.max() <= 1
    ov = face["overlay"]
    assert ov["png"].startswith("data:image/png;base64,") and ov["width"] > 0 and ov["height"] > 0
    x1, y1, x2, y2 = face["box"]
    assert ov["x"] < x2 and ov["y"] < y2 and ov["x"] + ov["width"] > x1 and ov["y"] + ov["height"] > y1
    # crop->image is the inverse of the alignment transform, and puts the template near the landmarks
    from faceocc.alignment import TEMPLATE, estimate_transform

    back = np.vstack([np.array(face["crop_to_image"]), [0, 0, 1]])
    forward = np.vstack([estimate_transform(np.array(face["landmarks"]), face["crop_size"]), [0, 0, 1]])
    corners = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], float).T * [
        [face["crop_size"]],
        [face["crop_size"]],
        [1],
    ]
    # (landmarks in the JSON are rounded to 0.1 px, so the refit differs a little)
    assert np.abs((back @ forward @ corners) - corners).max() < 0.05 * (x2 - x1)
    projected = TEMPLATE * (face["crop_size"] / 112) @ back[:2, :2].T + back[:2, 2]
    assert np.abs(projected - np.array(face["landmarks"])).max() < 0.1 * (x2 - x1)
    for part in face["covered_parts"]:
        poly = np.array(part["polygon"])
        assert poly.shape[1] == 2 and len(poly) >= 4
        cx, cy = poly.mean(0)
        assert x1 - 5 < cx < x2 + 5 and y1 - 5 < cy < y2 + 5
    plain = client.post("/v1/analyze", content=photo).json()["faces"][0]
    assert "overlay" not in plain and "occlusion_map" not in plain


def test_no_face(client):
    ok, buf = cv2.imencode(".png", np.full((64, 64, 3), 200, np.uint8))
    r = client.post("/v1/analyze", content=buf.tobytes(), headers={"content-type": "image/png"})
    assert r.status_code == 200 and r.json()["faces"] == []


# -- errors and limits -----------------------------------------------------------------------------


def test_bad_inputs_get_clear_4xx(client, photo):
    _err(
        client.post("/v1/analyze", content=b"not an image at all", headers={"content-type": "image/jpeg"}),
        422,
        "unreadable_image",
    )
    _err(
        client.post("/v1/analyze", content=photo[:300], headers={"content-type": "image/jpeg"}), 422, "unreadable_image"
    )
    _err(
        client.post("/v1/analyze", content=b"", headers={"content-type": "application/octet-stream"}), 400, "empty_body"
    )
    _err(
        client.post("/v1/analyze", content=b'{"a": 1}', headers={"content-type": "application/json"}),
        415,
        "unsupported_media_type",
    )
    _err(
        client.post("/v1/analyze", content=b"a=1", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    _err(client.post("/v1/analyze", files={"notes": (None, "hello")}), 400, "missing_file")
    _err(
        client.post(
            "/v1/analyze", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}
        ),
        400,
        "missing_file",
    )
    _err(client.post("/v1/analyze", content=photo, params={"threshold": 1.5}), 422, "invalid_parameter")
    _err(client.post("/v1/analyze", content=photo, params={"include_map": "maybe"}), 422, "invalid_parameter")
    _err(client.get("/v1/nothing"), 404, "not_found")
    _err(client.get("/v1/analyze"), 405, "method_not_allowed")
    assert client.get("/health").json()["status"] == "ok"


def test_upload_and_pixel_limits(photo):
    with make_client(max_upload_mb=0.01, max_pixels=1_000_000) as c:
        e = _err(c.post("/v1/analyze", content=photo, headers={"content-type": "image/jpeg"}), 413, "payload_too_large")
        assert "limit" in e["message"]
        e = _err(
            c.post("/v1/analyze", content=_png_header(50_000, 50_000), headers={"content-type": "image/png"}),
            413,
            "image_too_large",
        )
        assert "2500000000" in e["message"] and "too large" in e["message"]
        _err(c.post("/v1/analyze", content=_png_header(1001, 1000)), 413, "image_too_large")
        # a chunked body (no Content-Length) is cut off while streaming
        _err(
            c.post("/v1/analyze", content=iter([photo[:8000], photo[8000:]]), headers={"content-type": "image/jpeg"}),
            413,
            "payload_too_large",
        )
    with make_client(max_pixels=200_000) as c:  # 512 x 512 = 262144 pixels
        _err(c.post("/v1/analyze", content=photo), 413, "image_too_large")


def test_api_key():
    with make_client(api_key="s3cret") as c:
        _err(c.post("/v1/analyze", content=b"x"), 401, "unauthorized")
        _err(c.post("/v1/analyze", content=b"x", headers={"x-api-key": "wrong"}), 401, "unauthorized")
        _err(c.get("/metrics"), 401, "unauthorized")
        # the key is checked before the body is looked at
        assert c.post("/v1/analyze", content=b"x", headers={"x-api-key": "s3cret"}).status_code == 422
        assert c.post("/v1/analyze", content=b"x", headers={"authorization": "Bearer s3cret"}).status_code == 422
        assert c.get("/metrics", headers={"x-api-key": "s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200 and c.get("/ready").json()["auth_required"] is True
        assert c.get("/").status_code == 200


def test_concurrency_limit_answers_429(photo):
    with make_client(max_concurrency=2) as c:
        service = c.app.state.service
        service.in_flight = 2  # as if two requests were being analysed
        try:
            r = c.post("/v1/analyze", content=photo)
            _err(r, 429, "overloaded")
            assert r.headers["retry-after"] == "1"
        finally:
            service.in_flight = 0
        assert c.post("/v1/analyze", content=photo).status_code == 200
        assert service.in_flight == 0


def test_timeout_answers_504_and_frees_the_slot(photo):
    with make_client(timeout=0.3) as c:
        service = c.app.state.service
        original = service.analyzer.analyze_faces

        def slow(image):
            time.sleep(0.8)
            return original(image)

        service.analyzer.analyze_faces = slow
        try:
            _err(c.post("/v1/analyze", content=photo), 504, "timeout")
            assert service.in_flight == 1  # the abandoned work still holds its slot ...
            deadline = time.time() + 5
            while service.in_flight and time.time() < deadline:
                time.sleep(0.05)
            assert service.in_flight == 0  # ... until it really ends
        finally:
            service.analyzer.analyze_faces = original


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slow_client_gets_408_and_server_stays_healthy():
    """A real socket: the client sends headers and a few bytes, then stalls."""
    uvicorn = pytest.importorskip("uvicorn")
    port = _free_port()
    app = create_app(ServerSettings(workers=1, timeout=0.5))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 15
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                b"Content-Length: 100000\r\n\r\n\xff\xd8\xff"
            )
            reply = b""
            while b"}}" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            reply = reply.decode("latin-1")
        assert reply.startswith("HTTP/1.1 408") and "request_timeout" in reply
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)


# -- batch -----------------------------------------------------------------------------------------


def test_batch(client, photo):
    files = [
        ("files", ("a.jpg", photo, "image/jpeg")),
        ("files", ("b.txt", b"hello", "text/plain")),
        ("files", ("c.jpg", photo, "image/jpeg")),
    ]
    r = client.post("/v1/analyze/batch", files=files, params={"threshold": 0.0})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["path"] for x in res] == ["a.jpg", "b.txt", "c.jpg"]
    assert len(res[0]["faces"]) == 1 and res[0]["faces"][0]["occluded"] is True and res[0]["error"] is None
    assert res[1]["error"] and res[1]["error_code"] == "unreadable_image" and res[1]["faces"] == []
    _err(
        client.post("/v1/analyze/batch", content=photo, headers={"content-type": "image/jpeg"}),
        415,
        "unsupported_media_type",
    )
    _err(client.post("/v1/analyze/batch", files={"x": (None, "y")}), 400, "missing_file")
    with make_client(max_batch_files=2) as c:
        _err(c.post("/v1/analyze/batch", files=files), 400, "too_many_files")


# -- video jobs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    from skimage import data

    frame = cv2.resize(data.astronaut()[:, :, ::-1], (256, 256))
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 256))
    for i in range(6):
        writer.write(np.roll(frame, i * 3, axis=1))
    writer.release()
    assert path.stat().st_size > 1000
    return path


def _wait_job(c, job_id: str, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_video_job_upload(client, video):
    r = client.post(
        "/v1/jobs", files={"file": ("clip.avi", video.read_bytes(), "video/x-msvideo")}, params={"every_n": 2}
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done") and r.headers["location"] == f"/v1/jobs/{job['id']}"
    job = _wait_job(client, job["id"])
    assert job["status"] == "done" and job["frames_done"] == 3 and job["progress"] == 1.0, job
    res = client.get(f"/v1/jobs/{job['id']}/results").json()
    assert res["complete"] and res["total"] == 3
    assert [x["frame"] for x in res["results"]] == [0, 2, 4] and all(x["path"] == "clip.avi" for x in res["results"])
    assert all(len(x["faces"]) == 1 for x in res["results"])
    page = client.get(f"/v1/jobs/{job['id']}/results", params={"offset": 1, "limit": 1}).json()
    assert page["count"] == 1 and page["results"][0]["frame"] == 2
    assert any(j["id"] == job["id"] for j in client.get("/v1/jobs").json()["jobs"])
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 200
    _err(client.get(f"/v1/jobs/{job['id']}"), 404, "job_not_found")


def test_video_job_errors(client):
    e = _err(
        client.post("/v1/jobs", files={"file": ("bad.mp4", b"not a video at all", "video/mp4")}),
        422,
        "unreadable_video",
    )
    assert "bad.mp4" in e["message"] and "container" in e["message"]
    # the bytes of an AVI header, then nothing readable: accepted, then the job fails
    r = client.post("/v1/jobs", files={"file": ("bad.avi", b"RIFF\0\0\0\0AVI LIST" + b"x" * 500, "video/avi")})
    assert r.status_code == 202, r.text
    job = _wait_job(client, r.json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "unreadable_video"
    assert "/tmp" not in job["error"]["message"]  # server paths are not leaked
    _err(client.post("/v1/jobs", content=b"", headers={"content-type": "application/octet-stream"}), 400, "empty_body")
    _err(client.post("/v1/jobs", content=b"x", headers={"content-type": "text/plain"}), 415, "unsupported_media_type")
    _err(client.post("/v1/jobs", json={"path": "clip.avi"}), 403, "path_not_allowed")  # no jobs root configured
    _err(client.get("/v1/jobs/0123456789abcdef"), 404, "job_not_found")
    _err(client.post("/v1/jobs", content=b"x", params={"every_n": 0}), 422, "invalid_parameter")


def test_server_side_paths_stay_under_the_root(tmp_path, video):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "clip.avi").write_bytes(video.read_bytes())
    secret = tmp_path / "secret.avi"
    secret.write_bytes(video.read_bytes())
    (root / "link.avi").symlink_to(secret)
    with make_client(jobs_root=str(root)) as c:
        r = c.post("/v1/jobs", json={"path": "sub/clip.avi", "every_n": 3})
        assert r.status_code == 202, r.text
        job = _wait_job(c, r.json()["id"])
        assert job["status"] == "done" and job["frames_done"] == 2 and job["source"] == "sub/clip.avi"
        assert video.exists() and (root / "sub" / "clip.avi").exists()  # server-side files are never deleted
        for bad in ("../secret.avi", "sub/../../secret.avi", str(secret), "link.avi", "/etc/passwd", ".", ""):
            r = c.post("/v1/jobs", json={"path": bad})
            assert r.status_code in (403, 422), (bad, r.text)
            assert r.json()["error"]["code"] in ("path_not_allowed", "invalid_parameter")
        _err(c.post("/v1/jobs", json={"path": "sub/missing.avi"}), 404, "file_not_found")
        _err(c.post("/v1/jobs", json={"path": "sub/clip.avi", "every_n": "two"}), 422, "invalid_parameter")
        _err(c.post("/v1/jobs", json=["sub/clip.avi"]), 422, "invalid_parameter")
        _err(
            c.post("/v1/jobs", content=b"{broken", headers={"content-type": "application/json"}),
            422,
            "invalid_parameter",
        )


def test_job_queue_is_bounded(video):
    with make_client(queue_size=1) as c:
        service = c.app.state.service
        gate = threading.Event()
        real_run = service.jobs._run

        def blocked(job, emit):
            gate.wait(10)
            real_run(job, emit)

        service.jobs._run = blocked
        body = video.read_bytes()
        try:
            first = c.post(
                "/v1/jobs", content=body, headers={"content-type": "video/x-msvideo", "x-filename": "a.avi"}
            ).json()
            deadline = time.time() + 5
            while c.get(f"/v1/jobs/{first['id']}").json()["status"] != "running" and time.time() < deadline:
                time.sleep(0.02)
            second = c.post("/v1/jobs", content=body, headers={"content-type": "application/octet-stream"})
            assert second.status_code == 202
            _err(c.get(f"/v1/jobs/{second.json()['id']}/results"), 409, "job_not_finished")
            assert c.get(f"/v1/jobs/{second.json()['id']}/results", params={"partial": "true"}).json()["total"] == 0
            third = c.post("/v1/jobs", content=body, headers={"content-type": "application/octet-stream"})
            _err(third, 503, "queue_full")
            assert third.headers["retry-after"]
        finally:
            gate.set()
        assert _wait_job(c, first["id"])["status"] == "done" and first["source"] == "a.avi"
        assert _wait_job(c, second.json()["id"])["status"] == "done"


# -- operations ------------------------------------------------------------------------------------


def test_health_ready_metrics(photo):
    with make_client() as c:
        assert c.get("/health").json()["status"] == "ok"
        ready = c.get("/ready").json()
        assert ready["status"] == "ready" and ready["model"].endswith(".onnx") and ready["max_concurrency"] == 16
        c.post("/v1/analyze", content=photo)
        c.post("/v1/analyze", content=b"junk")
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        assert 'faceocc_requests_total{method="POST",route="/v1/analyze",status="200"} 1' in text
        assert 'faceocc_requests_total{method="POST",route="/v1/analyze",status="422"} 1' in text
        assert 'faceocc_request_duration_seconds_bucket{route="/v1/analyze",le="+Inf"} 2' in text
        assert 'faceocc_request_duration_seconds_count{route="/v1/analyze"} 2' in text
        assert 'faceocc_errors_total{code="unreadable_image"} 1' in text
        assert "faceocc_images_total 1" in text
        assert (
            sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("faceocc_faces_total{"))
            == 1
        )
        assert "faceocc_in_flight_requests 0" in text and "process_resident_memory_bytes" in text
        for line in text.splitlines():  # every sample line is "name{labels} number"
            if line and not line.startswith("#"):
                float(line.rsplit(" ", 1)[1])


def test_openapi_docs(client):
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/analyze",
        "/v1/analyze/batch",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/results",
        "/health",
        "/ready",
        "/metrics",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "application/octet-stream" in body
    params = {p["name"] for p in spec["paths"]["/v1/analyze"]["post"]["parameters"]}
    assert {"threshold", "eyeglasses_occlude", "include_map", "overlay"} <= params
    assert client.get("/docs").status_code == 200


def test_page_is_served_locally(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200, asset
        assert asset in r.text
    from faceocc.server.app import STATIC_DIR

    for f in STATIC_DIR.iterdir():
        text = f.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, f
    _err(client.get("/static/../app.py"), 404, "not_found")


def test_serve_command_is_registered():
    from typer.testing import CliRunner

    from faceocc.cli import app

    out = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--model",
        "--max-upload-mb",
        "--max-pixels",
        "--timeout",
        "--max-concurrency",
        "--api-key",
        "--jobs-root",
        "--queue-size",
    ):
        assert option in out.output, option
    bad = CliRunner().invoke(app, ["serve", "--model", "/nonexistent/model.onnx"])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_settings_validation(tmp_path):
    with pytest.raises(ValueError):
        ServerSettings(max_pixels=0)
    with pytest.raises(ValueError):
        ServerSettings(jobs_root=tmp_path / "missing")
    with pytest.raises(ValueError):
        ServerSettings(max_concurrency=0)
    with pytest.raises(ValueError, match="api_key is empty"):
        ServerSettings(api_key="  ")  # an empty key must not quietly turn authentication off


def test_api_docs_page_is_served_locally(client):
    """The OpenAPI docs page loads its script and styles from this server, not from a CDN."""
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert client.get("/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "faceocc"
