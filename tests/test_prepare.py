"""Preparing a dataset (faceocc.prepare, `faceocc prepare`): aligned crops, row counts, labels, and every image that
cannot be used listed with its reason. The images are the generated astronaut photos of the tiny_dataset fixture."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceocc.alignment import TEMPLATE
from faceocc.cli import app
from faceocc.datasets import read_manifest
from faceocc.prepare import CropCache, prepare_dataset, prepare_image

runner = CliRunner()

#: three faces, a photo without a face, a file that is not an image, an empty file
ROWS = [
    ("img/clean0.jpg", "no_mask", "train"),
    ("img/mask1.jpg", "mask", "val"),
    ("img/sun2.jpg", "sunglasses", "test"),
    ("img/blank.png", "no_mask", "train"),
    ("bad/corrupt.jpg", "hand", "train"),
    ("bad/empty.jpg", "clean", "train"),
]


@pytest.fixture
def manifest(tmp_path, write_manifest):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    (tmp_path / "bad" / "empty.jpg").write_bytes(b"")
    return write_manifest(tmp_path, ROWS)


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_prepare_image_aligns_the_face_onto_the_template(tiny_dataset):
    p = prepare_image(tiny_dataset / "img" / "clean0.jpg")
    assert p.error is None and p.det_score > 0.9
    assert p.crop.shape == (112, 112, 3) and p.crop.dtype == np.uint8
    assert p.landmarks.shape == (5, 2)
    assert np.abs(p.landmarks - TEMPLATE).max() < 4.0  # the 5 points land on the canonical template (least squares)
    assert 80 < p.crop.mean() < 200 and p.crop.std() > 20  # a face, not the grey padding


def test_prepare_image_reports_why_an_image_cannot_be_used(tiny_dataset, tmp_path):
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, reason in (
        ("corrupt.jpg", "not a readable image"),
        ("empty.jpg", "empty file"),
        ("gone.jpg", "no such file"),
    ):
        p = prepare_image(tmp_path / name, fallback=True)  # no fallback for a file that is not an image
        assert p.crop is None and p.landmarks is None and p.det_score == 0.0
        assert name in p.error and reason in p.error, p.error
    blank = tiny_dataset / "img" / "blank.png"
    p = prepare_image(blank)
    assert p.crop is None and p.error == "no face found"
    p = prepare_image(blank, fallback=True)  # taken as a tight face crop
    assert p.error is None and p.det_score == 0.0 and p.crop.shape == (112, 112, 3)
    assert np.all(p.crop == 127)  # the blank image, warped


def test_prepare_image_size(tiny_dataset):
    p = prepare_image(tiny_dataset / "img" / "clean0.jpg", size=96)
    assert p.crop.shape == (96, 96, 3) and np.abs(p.landmarks - TEMPLATE * 96 / 112).max() < 4.0


def test_prepare_dataset_counts_labels_and_skipped_files(manifest, tmp_path):
    records = read_manifest(manifest)
    out = tmp_path / "cache"
    summary = prepare_dataset(records, out, root=tmp_path, workers=1, progress=False, fallback=False)
    assert summary == {"images": 6, "faces": 3, "skipped": 3, "crop_size": 112}
    assert json.loads((out / "summary.json").read_text()) == summary
    crops, lms = np.load(out / "crops.npy"), np.load(out / "landmarks.npy")
    assert crops.shape == (3, 112, 112, 3) and crops.dtype == np.uint8
    assert lms.shape == (3, 5, 2) and lms.dtype == np.float32
    index = _csv(out / "index.csv")
    assert [(r["path"], r["label"], r["split"], r["group"], r["source"]) for r in index] == [
        ("img/clean0.jpg", "clean", "train", "g", "gen"),
        ("img/mask1.jpg", "mask", "val", "g", "gen"),
        ("img/sun2.jpg", "sunglasses", "test", "g", "gen"),
    ]  # manifest order, labels normalised, paths relative to root
    assert all(float(r["det_score"]) >= 0.5 for r in index)  # found at the default score threshold
    skipped = {r["path"]: (r["label"], r["reason"]) for r in _csv(out / "skipped.csv")}
    assert set(skipped) == {"img/blank.png", "bad/corrupt.jpg", "bad/empty.jpg"}
    assert skipped["img/blank.png"] == ("clean", "no face found")
    assert skipped["bad/corrupt.jpg"][0] == "hand" and "not a readable image" in skipped["bad/corrupt.jpg"][1]
    assert "empty file" in skipped["bad/empty.jpg"][1]
    # the worker process gives the crops a direct call gives
    direct = prepare_image(tmp_path / "img" / "mask1.jpg")
    np.testing.assert_array_equal(crops[1], direct.crop)
    np.testing.assert_allclose(lms[1], direct.landmarks, atol=1e-4)
    assert not np.array_equal(crops[0], crops[1])
    # read back as the trainer reads it
    cache = CropCache.load(out)
    assert len(cache.rows) == 3 and list(cache.select("val")) == [1] and list(cache.select()) == [0, 1, 2]


def test_prepare_dataset_fallback_and_absolute_paths(manifest, tmp_path):
    records = read_manifest(manifest)
    out = tmp_path / "cache"
    summary = prepare_dataset(records, out, workers=1, progress=False, fallback=True)  # no root: absolute paths
    assert summary == {"images": 6, "faces": 4, "skipped": 2, "crop_size": 112}
    index = _csv(out / "index.csv")
    assert [r["path"] for r in index] == [
        str(tmp_path / n) for n in ("img/clean0.jpg", "img/mask1.jpg", "img/sun2.jpg", "img/blank.png")
    ]
    assert float(index[3]["det_score"]) == 0.0 and index[3]["label"] == "clean"  # the fallback crop
    assert np.all(np.load(out / "crops.npy")[3] == 127)
    assert {r["path"] for r in _csv(out / "skipped.csv")} == {
        str(tmp_path / "bad/corrupt.jpg"),
        str(tmp_path / "bad/empty.jpg"),
    }


def test_prepare_dataset_of_nothing(tmp_path):
    summary = prepare_dataset([], tmp_path / "cache", workers=1, progress=False)
    assert summary == {"images": 0, "faces": 0, "skipped": 0, "crop_size": 112}
    assert np.load(tmp_path / "cache" / "crops.npy").shape == (0, 112, 112, 3)
    assert np.load(tmp_path / "cache" / "landmarks.npy").shape == (0, 5, 2)
    assert _csv(tmp_path / "cache" / "index.csv") == []


def test_prepare_command(manifest, tmp_path):
    out = tmp_path / "cache"
    res = runner.invoke(app, ["prepare", str(manifest), str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {
        "images": 6,
        "faces": 4,
        "skipped": 2,
        "crop_size": 112,
    }  # fallback is the default
    assert f"2 image(s) could not be used: see {out / 'skipped.csv'}" in res.stderr
    assert len(_csv(out / "index.csv")) == 4 and np.load(out / "crops.npy").shape == (4, 112, 112, 3)

    res = runner.invoke(app, ["prepare", str(manifest), str(tmp_path / "strict"), "--workers", "1", "--no-fallback"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["faces"] == 3


def test_prepare_command_refuses_a_bad_manifest_before_any_work(tmp_path, write_manifest):
    bad = write_manifest(
        tmp_path,
        [
            ("img/clean0.jpg", "no_mask", "train"),
            ("img/clean0.jpg", "wizard_hat", "train"),
            ("img/gone.jpg", "mask", "train"),
        ],
    )
    res = runner.invoke(app, ["prepare", str(bad), str(tmp_path / "cache"), "--workers", "1"])
    assert res.exit_code == 2
    assert (
        "manifest.csv:3: unknown label 'wizard_hat'" in res.output
        and "manifest.csv:4: file not found: img/gone.jpg" in res.output
    )
    assert not (tmp_path / "cache").exists()


def test_an_audited_label_is_written_as_a_manifest_label_is(tmp_path):
    from faceocc.datasets import Record, apply_audit, normalise_label

    records = [Record(path=tmp_path / "img" / "a.jpg", label="mask")]
    assert apply_audit(records, {"img/a.jpg": "hand"}, tmp_path) == 1  # a masked face keeps its mask
    assert records[0].label == normalise_label("mask+hand", "here") == "mask+hand"


def test_an_audit_path_is_matched_on_its_longest_unique_suffix(tmp_path):
    """A manifest with absolute paths elsewhere: an audit path is taken on the record whose path it ends, never on a
    file of the same name in another folder; a suffix that ends several files' paths is applied to none of them."""
    from faceocc.datasets import Record, apply_audit, match_audit

    deep = "/d/1/2/3/4/5/6/7/hand/x.jpg"  # more than six folders deep
    records = [Record(path=Path(p), label="clean") for p in ("/data/a/x.jpg", "/data/b/x.jpg", "/data/c/y.jpg", deep)]
    audit = {"b/x.jpg": "hand", "x.jpg": "mask", "y.jpg": "eyeglasses", "1/2/3/4/5/6/7/hand/x.jpg": "hand"}
    match = match_audit(records, audit, root=tmp_path)  # none of them lies under root
    assert match.keys == [None, "b/x.jpg", "y.jpg", "1/2/3/4/5/6/7/hand/x.jpg"]
    assert match.ambiguous == {"x.jpg": ["/data/a/x.jpg"]}  # b/x.jpg has a longer, unique match
    logged: list[str] = []
    assert apply_audit(records, audit, log=logged.append) == 3
    assert [r.label for r in records] == ["clean", "hand", "eyeglasses", "hand"]
    assert len(logged) == 1 and "'x.jpg'" in logged[0] and "/data/a/x.jpg" in logged[0]
    two = [Record(path=Path(p), label="clean") for p in ("/p/a/x.jpg", "/p/b/x.jpg")]
    with pytest.warns(UserWarning, match="ends several"):
        assert apply_audit(two, {"x.jpg": "hand"}) == 0
    faces = [Record(path=Path("/p/a/x.jpg"), label="clean") for _ in range(2)]  # two faces of one photo
    assert apply_audit(faces, {"x.jpg": "hand"}) == 2
