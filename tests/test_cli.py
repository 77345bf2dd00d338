"""The command line as a user runs it."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceocc.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut):
    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(astronaut).save(root / "astronaut.jpg")
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(root / "empty_wall.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    return root


def test_analyze_writes_jsonl_csv_annotations_and_crops(photos, tmp_path):
    out = tmp_path / "out.jsonl"
    res = runner.invoke(
        app,
        [
            "analyze",
            str(photos),
            "--jsonl",
            str(out),
            "--csv",
            str(tmp_path / "faces.csv"),
            "--annotate",
            str(tmp_path / "ann"),
            "--crops",
            str(tmp_path / "crops"),
            "--threads",
            "1",
        ],
    )
    assert res.exit_code == 1, res.output  # one input could not be read
    # the summary says where every output went
    assert f"records (JSON Lines): {out}" in res.output and f"CSV rows: {tmp_path / 'faces.csv'}" in res.output
    assert f"face crops: {tmp_path / 'crops'} (1 file(s))" in res.output
    assert f"annotated copies: {tmp_path / 'ann'} (2 file(s))" in res.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in records}
    assert set(by_name) == {"astronaut.jpg", "empty_wall.png", "corrupt.jpg"}
    assert len(by_name["astronaut.jpg"]["faces"]) == 1 and by_name["astronaut.jpg"]["error"] is None
    assert by_name["empty_wall.png"]["faces"] == [] and by_name["empty_wall.png"]["error"] is None
    assert "corrupt.jpg" in by_name["corrupt.jpg"]["error"]
    rows = list(csv.DictReader(open(tmp_path / "faces.csv")))
    assert any(r["path"].endswith("astronaut.jpg") and r["face"] == "0" for r in rows)
    assert (tmp_path / "ann" / "astronaut_jpg.jpg").is_file()
    assert len(list((tmp_path / "crops").iterdir())) == 1
    assert "summary:" in res.output and "1 error(s)" in res.output


def test_analyze_exit_zero_when_all_read(photos, tmp_path):
    res = runner.invoke(app, ["analyze", str(photos / "astronaut.jpg"), "--quiet"])
    assert res.exit_code == 0
    assert json.loads(res.stdout.splitlines()[0])["faces"][0]["det_score"] > 0.9


def test_missing_path_is_reported(tmp_path):
    res = runner.invoke(app, ["analyze", str(tmp_path / "nope.jpg")])
    assert res.exit_code == 1
    assert "nope.jpg: no such file or directory" in res.output


def test_analyze_never_overwrites_outputs(photos, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text("precious\n")
    res = runner.invoke(app, ["analyze", str(photos / "astronaut.jpg"), "--jsonl", str(out), "-q"])
    assert res.exit_code == 2 and out.read_text() == "precious\n"  # refused (tests/test_outputs.py: --overwrite)


def test_sort_copies_without_overwriting(photos, tmp_path):
    outdir = tmp_path / "sorted"
    for _ in range(2):
        res = runner.invoke(app, ["sort", str(photos / "astronaut.jpg"), str(outdir)])
        assert res.exit_code == 0, res.output
    files = sorted(p.relative_to(outdir).as_posix() for p in outdir.rglob("*.jpg"))
    assert len(files) == 2 and files[0].split("/")[0] == files[1].split("/")[0]
    res = runner.invoke(app, ["sort", str(photos / "astronaut.jpg"), str(tmp_path / "whole"), "--whole-image"])
    assert res.exit_code == 0 and len(list((tmp_path / "whole").rglob("astronaut.jpg"))) == 1


def test_bad_model_file_says_so(photos, tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not onnx")
    res = runner.invoke(app, ["analyze", str(photos / "astronaut.jpg"), "--model", str(fake)])
    assert res.exit_code == 2 and "not a readable ONNX model" in res.output


def test_threshold_file_is_used(photos, tmp_path):
    tf = tmp_path / "threshold.json"
    tf.write_text(json.dumps({"threshold": 0.0}))
    res = runner.invoke(app, ["analyze", str(photos / "astronaut.jpg"), "--threshold-file", str(tf), "-q"])
    assert json.loads(res.stdout.splitlines()[0])["faces"][0]["occluded"] is True
