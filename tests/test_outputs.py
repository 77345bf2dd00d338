"""What `faceocc analyze` and `faceocc sort` write (issue 18.1, 18.6, 18.7; issue 17.4): any file name round-trips,
no output is lost without a word, nothing is replaced without --overwrite, and every output can be traced back."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faceocc.cli import app
from faceocc.outputs import NAME_MAX, FileSaver, OutputError, fit_name
from faceocc.schema import ImageResult

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def astro_jpg(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("astro") / "astro.jpg"
    cv2.imwrite(str(path), astronaut[:, :, ::-1])
    return path


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_of_a_name_that_is_not_utf8_encodes_and_gives_the_bytes_back():
    raw = b"/photos/caf\xe9.jpg"
    line = ImageResult(path=os.fsdecode(raw), width=1, height=1).to_json()
    line.encode("utf-8")  # raised nothing: the line can be written to any UTF-8 file
    assert "\\udce9" in line and os.fsencode(json.loads(line)["path"]) == raw


def test_a_name_that_is_not_utf8_is_analysed_saved_and_sorted(astro_jpg, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/caf\xe9.jpg"
    try:
        shutil.copy(astro_jpg, raw)
    except OSError:
        pytest.skip("this file system takes only UTF-8 names")
    out = tmp_path / "out"
    args = ["--jsonl", out / "r.jsonl", "--csv", out / "r.csv", "--crops", out / "crops", "--annotate", out / "ann"]
    # a subprocess: before the fix, OpenCV crashed the interpreter (exit 139) on such a name
    run = [sys.executable, "-m", "faceocc", "analyze", folder, *args, "--threads", "1", "-q"]
    res = subprocess.run([str(a) for a in run], cwd=ROOT, capture_output=True, text=True, errors="replace")
    assert res.returncode == 0, res.stderr
    (record,) = _records((out / "r.jsonl").read_text(encoding="utf-8"))
    assert os.fsencode(record["path"]) == raw
    crop, annotated = record["faces"][0]["crop_file"], record["annotated_file"]
    assert os.fsencode(crop).endswith(b"/caf\xe9_jpg_face0.png") and Path(crop).is_file()
    assert os.fsencode(annotated).endswith(b"/caf\xe9_jpg.jpg") and Path(annotated).is_file()
    with open(out / "r.csv", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        (row,) = csv.DictReader(fh)
    assert os.fsencode(row["path"]) == raw and row["crop_file"] == crop

    run = [sys.executable, "-m", "faceocc", "sort", folder, out / "sorted"]
    res = subprocess.run([str(a) for a in run], cwd=ROOT, capture_output=True, text=True, errors="replace")
    assert res.returncode == 0, res.stderr
    assert [os.fsencode(p.name) for p in (out / "sorted").rglob("*.jpg")] == [b"caf\xe9_jpg_face0.jpg"]


def test_names_keep_the_source_extension_reruns_are_numbered_and_overwrite_replaces(astronaut, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for ext in ("bmp", "png"):
        cv2.imwrite(str(folder / f"astro.{ext}"), astronaut[:, :, ::-1])
    ann = tmp_path / "ann"

    def annotated(*extra: str) -> dict[str, str]:
        res = runner.invoke(app, ["analyze", str(folder), "--annotate", str(ann), "--threads", "1", "-q", *extra])
        assert res.exit_code == 0, res.output
        return {Path(r["path"]).name: Path(r["annotated_file"]).name for r in _records(res.stdout)}

    assert annotated() == {"astro.bmp": "astro_bmp.jpg", "astro.png": "astro_png.jpg"}
    before = (ann / "astro_bmp.jpg").stat().st_mtime_ns
    assert annotated() == {"astro.bmp": "astro_bmp-1.jpg", "astro.png": "astro_png-1.jpg"}  # the record says so
    assert (ann / "astro_bmp.jpg").stat().st_mtime_ns == before
    assert annotated("--overwrite") == {"astro.bmp": "astro_bmp.jpg", "astro.png": "astro_png.jpg"}
    names = sorted(p.name for p in ann.iterdir())
    assert names == ["astro_bmp-1.jpg", "astro_bmp.jpg", "astro_png-1.jpg", "astro_png.jpg"]


def test_a_255_byte_name_is_still_saved_under_a_shortened_name(astro_jpg, tmp_path):
    long = tmp_path / "in" / ("a" * 251 + ".jpg")
    long.parent.mkdir()
    shutil.copy(astro_jpg, long)
    crops = tmp_path / "crops"
    res = runner.invoke(app, ["analyze", str(long), "--crops", str(crops), "--threads", "1", "-q"])
    assert res.exit_code == 0, res.output
    (saved,) = crops.iterdir()
    assert _records(res.stdout)[0]["faces"][0]["crop_file"] == str(saved)
    assert len(os.fsencode(saved.name)) <= NAME_MAX and saved.name.endswith("_face0.png")


def test_fit_name_is_deterministic_and_keeps_long_names_apart():
    a, b = fit_name("x" * 300 + "1", "_face0.png"), fit_name("x" * 300 + "2", "_face0.png")
    assert a == fit_name("x" * 300 + "1", "_face0.png") and a != b
    assert len(os.fsencode(a)) <= NAME_MAX and a.endswith("_face0.png")
    assert len(os.fsencode(fit_name("é" * 200, ".jpg"))) <= NAME_MAX  # counted in bytes, cut between characters
    assert fit_name("short", ".jpg") == "short.jpg"


def test_a_file_that_cannot_be_written_is_an_error_the_summary_counts(astro_jpg, tmp_path, monkeypatch):
    def refuse(self, folder, stem, tail, data):
        raise OutputError(f"{folder / (stem + tail)}: cannot write (No space left on device)")

    monkeypatch.setattr(FileSaver, "save", refuse)
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--crops", str(tmp_path / "c"), "--threads", "1"])
    assert res.exit_code == 1
    assert "1 output(s) not written" in res.stderr and "No space left on device" in res.stderr
    assert _records(res.stdout)[0]["faces"][0]["crop_file"] is None


def test_an_unwritable_outdir_fails_before_any_work(astro_jpg, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = runner.invoke(app, ["sort", str(astro_jpg), str(blocker / "out")])
    assert res.exit_code == 2 and "cannot write files in this folder" in res.stderr and "sorted: " not in res.stderr
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--annotate", str(blocker), "-q"])
    assert res.exit_code == 2 and "exists and is not a folder" in res.stderr
    saver = FileSaver()
    with pytest.raises(OutputError, match="cannot write"):
        saver.save(tmp_path / "gone", "x", ".png", b"data")


def test_record_files_are_refused_replaced_or_written_as_the_user_means(astro_jpg, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text("precious\n")
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--jsonl", str(out), "-q"])
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    assert out.read_text() == "precious\n" and sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--jsonl", str(out), "-q", "--overwrite"])
    assert res.exit_code == 0 and len(_records(out.read_text())) == 1

    null_one = Path("/dev/null-1").exists()
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--jsonl", "/dev/null", "-q"])
    assert res.exit_code == 0 and Path("/dev/null-1").exists() == null_one
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--jsonl", "-", "-q"])
    assert res.exit_code == 0 and len(_records(res.stdout)) == 1

    read, write = os.pipe()  # what a shell's >(...) gives: /dev/fd/N
    try:
        res = runner.invoke(app, ["analyze", str(astro_jpg), "--jsonl", f"/dev/fd/{write}", "-q"])
        os.close(write)
        with os.fdopen(read) as fh:
            assert res.exit_code == 0 and len(_records(fh.read())) == 1
    finally:
        for fd in (read, write):
            try:
                os.close(fd)
            except OSError:
                pass

    res = runner.invoke(app, ["analyze", str(astro_jpg), "--csv", "-", "-q"])
    assert res.exit_code == 2 and "standard output" in res.stderr
    res = runner.invoke(app, ["analyze", str(astro_jpg), "--tracks", str(out), "-q"])
    assert res.exit_code == 2 and out.read_text().startswith("{")


def test_prepare_and_synth_grid_refuse_to_replace_their_outputs(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "crops.npy").write_bytes(b"precious")
    res = runner.invoke(app, ["prepare", str(tmp_path / "manifest.csv"), str(cache)])
    assert res.exit_code == 2 and "already holds a crop cache" in res.stderr
    assert (cache / "crops.npy").read_bytes() == b"precious"
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"precious")
    res = runner.invoke(app, ["synth-grid", "--out", str(grid), "--n", "1"])
    assert res.exit_code == 2 and "--overwrite" in res.stderr and grid.read_bytes() == b"precious"


def test_sort_skips_videos_and_copies_faceless_images_into_no_face(astro_jpg, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(astro_jpg, folder / "astro.jpg")
    cv2.imwrite(str(folder / "wall.png"), np.full((120, 160, 3), 90, np.uint8))
    video = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 64))
    for _ in range(3):
        video.write(np.zeros((64, 64, 3), np.uint8))
    video.release()
    res = runner.invoke(app, ["sort", str(folder), str(tmp_path / "sorted")])
    assert res.exit_code == 0, res.output
    assert "skipped 1 video(s)" in res.stderr and "no_face 1" in res.stderr
    files = sorted(p.relative_to(tmp_path / "sorted").as_posix() for p in (tmp_path / "sorted").rglob("*.*"))
    assert files == ["clean/astro_jpg_face0.jpg", "no_face/wall.png"]
