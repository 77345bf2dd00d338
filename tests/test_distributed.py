"""faceocc on Ray Data (faceocc.batch, ``faceocc batch``): the same records as ``faceocc analyze``, Parquet rows,
resuming, and a killed actor. A local Ray with 2 CPUs, started here; a few small generated files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray")  # the faceocc[ray] extra (pyarrow comes with ray[data])

import pyarrow.parquet as pq  # noqa: E402

from faceocc.batch import BatchOptions, run_batch  # noqa: E402
from faceocc.batch.store import OutputError  # noqa: E402
from faceocc.batch.worker import AnalyzeWorker  # noqa: E402
from faceocc.cli import app  # noqa: E402
from faceocc.evaluate.bench_photos import make_folder  # noqa: E402
from faceocc.evaluate.bench_photos import test_photo as astronaut_photo  # noqa: E402
from faceocc.pipeline import AnalyzerOptions  # noqa: E402

runner = CliRunner()
OPTIONS = AnalyzerOptions(device="cpu", threads=1)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """3 photos with a face, one without (grey), a corrupt JPEG, an empty PNG and a 6-frame video."""
    root = tmp_path_factory.mktemp("media")
    make_folder(root, count=3)
    (root / "bad.jpg").write_bytes(b"not a jpeg")
    (root / "empty.png").write_bytes(b"")
    cv2.imwrite(str(root / "grey.png"), np.full((200, 300, 3), 127, np.uint8))
    size = (320, 240)
    writer = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    frame = cv2.resize(astronaut_photo(), size)[:, :, ::-1]
    for i in range(6):
        shift = np.float32([[1, 0, 3 * i], [0, 1, 0]])
        writer.write(np.ascontiguousarray(cv2.warpAffine(frame, shift, size, borderValue=(127, 127, 127))))
    writer.release()
    return root


def _records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda r: (r["path"], r.get("frame", -1)))


@pytest.mark.slow  # > 20 s on a loaded 2-core machine: Ray and its actors start
def test_the_ray_engine_writes_the_records_of_the_local_engine(local_ray, media, tmp_path):
    missing = str(media / "missing.jpg")
    local = runner.invoke(
        app, ["analyze", str(media), missing, "--jsonl", str(tmp_path / "local.jsonl"), "--threads", "1", "-q"]
    )
    assert local.exit_code == 1, local.output  # the bad inputs
    out = tmp_path / "out"
    args = ["batch", str(media), missing, "--out", str(out), "--num-workers", "2", "--batch-size", "2", "-q"]
    batch = runner.invoke(app, [*args, "--device", "cpu"])
    assert batch.exit_code == 1, batch.output
    expected = _records(tmp_path / "local.jsonl")
    assert _records(out / "records.jsonl") == expected
    assert sum(r.get("frame") is not None for r in expected) == 6 and sum(bool(r["error"]) for r in expected) == 3
    assert any(r["path"].endswith("grey.png") and not r["faces"] and not r["error"] for r in expected)

    table = pq.read_table(out / "faces")  # one row per face, one per record without faces
    assert table.num_rows == sum(len(r["faces"]) or 1 for r in expected)
    rows = table.to_pylist()
    faces = [f for r in expected for f in r["faces"]]
    assert sorted(r["occlusion_score"] for r in rows if r["face"] is not None) == sorted(
        f["occlusion_score"] for f in faces
    )
    face = next(r for r in rows if r["face"] is not None and r["track_id"] is not None)
    assert set(face["occluders"]) == {"mask", "sunglasses", "eyeglasses", "hand", "other"}  # a struct
    assert len(face["landmarks"]) == 5 and face["frame"] is not None
    errors = {r["path"]: r["error"] for r in rows if r["error"]}
    assert errors == {r["path"]: r["error"] for r in expected if r["error"]}

    # faceocc analyze --engine ray: the same records, in the local engine's order, where --jsonl says
    args = ["analyze", str(media), missing, "--engine", "ray", "--num-workers", "2", "--device", "cpu", "-q"]
    on_ray = runner.invoke(app, [*args, "--jsonl", str(tmp_path / "ray.jsonl")])
    assert on_ray.exit_code == 1, on_ray.output
    lines = [(tmp_path / name).read_text().splitlines() for name in ("local.jsonl", "ray.jsonl")]
    assert [json.loads(line) for line in lines[1]] == [json.loads(line) for line in lines[0]]


@pytest.mark.slow  # > 20 s on a loaded 2-core machine: Ray and its actors start
def test_a_run_resumes_where_it_stopped(local_ray, media, tmp_path):
    photos = sorted(str(p) for p in media.glob("bench_*.jpg"))
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(photos[:2]) + "\n")
    out, options = tmp_path / "out", BatchOptions(num_workers=1, progress=False)
    first = run_batch([str(listing)], out, OPTIONS, options)
    assert first.stats["images"] == 2 and first.skipped == 0
    # an interrupted commit: JSON lines without their part, a part not renamed into place
    with open(out / "records.jsonl", "a") as fh:
        fh.write('{"path": "half a commit"')
    (out / "faces" / ".part-000009.parquet.tmp").write_bytes(b"PAR1")
    listing.write_text("\n".join(photos) + "\n")
    second = run_batch([str(listing)], out, OPTIONS, options)
    assert second.skipped == 2 and second.stats["images"] == 1 and second.dropped_bytes > 0
    assert sorted(r["path"] for r in _records(out / "records.jsonl")) == photos
    assert sorted(pq.read_table(out / "faces").column("input").to_pylist()) == photos
    assert not list((out / "faces").glob(".*"))
    third = run_batch([str(listing)], out, OPTIONS, options)  # all done: nothing runs
    assert third.skipped == 3 and third.stats["images"] == 0 and third.workers == 0
    with pytest.raises(OutputError, match="other options"):
        run_batch([str(listing)], out, AnalyzerOptions(device="cpu", threads=1, model="other.onnx"), options)


@pytest.mark.slow  # > 20 s on a loaded 2-core machine: Ray and its actors start
def test_a_killed_actor_loses_and_repeats_no_record(local_ray, media, tmp_path):
    killed = tmp_path / "killed"

    class DiesOnce(AnalyzeWorker):
        """Kills its actor on its first call (Ray Data restarts it and runs the call again)."""

        def __call__(self, batch):
            if not killed.exists():
                killed.touch()
                ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
            return super().__call__(batch)

    photos = sorted(str(p) for p in media.glob("*.jpg")) + [str(media / "grey.png")]
    options = BatchOptions(num_workers=2, batch_size=1, progress=False)
    summary = run_batch(photos, tmp_path / "out", OPTIONS, options, worker=DiesOnce)
    assert killed.exists()
    records = _records(tmp_path / "out" / "records.jsonl")
    assert [r["path"] for r in records] == sorted(photos)
    assert summary.stats["images"] == 4 and len(summary.errors) == 1


def test_a_run_writes_to_and_resumes_from_a_filesystem_uri(tmp_path):
    # inputs that name nothing are committed by the driver (no Ray needed); the folder is a file:// URI
    out = f"file://{tmp_path}/out"
    names = [str(tmp_path / "gone-1.jpg"), str(tmp_path / "gone-2.jpg")]
    first = run_batch(names[:1], out, OPTIONS)
    assert first.errors and first.where.startswith(out)
    records = tmp_path / "out" / "records"
    (records / "part-000007.jsonl").write_text('{"path": "a commit cut short"}\n')
    (tmp_path / "out" / "faces" / ".part-000007.parquet.tmp").write_bytes(b"PAR1")
    second = run_batch(names, out, OPTIONS)
    assert second.skipped == 1 and len(second.errors) == 1
    lines = [json.loads(line) for part in sorted(records.iterdir()) for line in part.read_text().splitlines()]
    assert [r["path"] for r in lines] == names and all(r["error"] for r in lines)
    assert sorted(pq.read_table(tmp_path / "out" / "faces").column("input").to_pylist()) == names
    assert sorted(p.name for p in (tmp_path / "out" / "faces").iterdir()) == [
        "part-000000.parquet",
        "part-000001.parquet",
    ]
    with pytest.raises(OutputError, match="other options"):
        run_batch(names, out, AnalyzerOptions(device="cpu", threads=1, model="other.onnx"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("a user's file")
    with pytest.raises(OutputError, match="holds no faceocc batch"):
        run_batch(names, f"file://{tmp_path}/other", OPTIONS)
    assert (tmp_path / "other" / "mine.txt").read_text() == "a user's file"


def test_the_batch_command_analyses_with_the_options_given(tmp_path):
    # an input that names nothing: committed by the driver, no Ray started; run.json holds the analyzer's options
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "gone.jpg"), "--out", str(out), "--smallest-face", "40", "--device", "cpu", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert json.loads((out / "run.json").read_text())["config"]["analyzer"]["detector"]["smallest_face"] == 40


def test_analyze_on_ray_refuses_what_the_ray_engine_does_not_have(tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"")
    result = runner.invoke(app, ["analyze", str(photo), "--engine", "ray", "--crops", str(tmp_path / "c")])
    assert result.exit_code == 2 and "--crops" in result.output and "--engine ray" in result.output
    result = runner.invoke(app, ["analyze", "rtsp://camera/1", "--engine", "ray"])
    assert result.exit_code == 2 and "rtsp://camera/1" in result.output
    result = runner.invoke(app, ["analyze", str(photo), "--engine", "spark"])
    assert result.exit_code == 2 and "not an engine" in result.output
    assert not (tmp_path / "c").exists()


def test_without_ray_the_command_names_the_extra(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    result = runner.invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "faceocc[ray]" in result.output
