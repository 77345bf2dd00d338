"""`faceocc train` and `faceocc export` run end to end on a tiny generated dataset (one epoch of two steps), and
load_faces, which turns a dataset into the training crops. The images are the tiny_dataset fixture's."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch", reason="training needs PyTorch (pip install 'faceocc[train]')")

from faceocc.cli import app  # noqa: E402
from faceocc.model import OcclusionModel  # noqa: E402
from faceocc.train.config import TrainConfig  # noqa: E402
from faceocc.train.trainer import load_faces  # noqa: E402

runner = CliRunner()

#: 6 faces and the blank photo (a fallback crop) to train on, 3 faces to validate on
TRAIN_ROWS = [
    ("img/clean0.jpg", "no_mask", "train"),
    ("img/clean1.jpg", "no_mask", "train"),
    ("img/mask0.jpg", "mask", "train"),
    ("img/mask1.jpg", "mask", "train"),
    ("img/sun0.jpg", "sunglasses", "train"),
    ("img/sun1.jpg", "sunglasses", "train"),
    ("img/blank.png", "no_mask", "train"),
    ("img/clean2.jpg", "no_mask", "val"),
    ("img/mask2.jpg", "mask", "val"),
    ("img/sun2.jpg", "sunglasses", "val"),
]
QUICK = [
    "epochs=1",
    "batch_size=3",
    "max_steps_per_epoch=2",
    "pretrained=false",
    "progress=false",
    "tensorboard=false",
    "val_synth=4",
    "threads=2",
    "workers=0",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, write_manifest):
    """One `faceocc train` run: (CliRunner result, run folder, data folder)."""
    data = tmp_path_factory.mktemp("train_data")
    manifest = write_manifest(data, TRAIN_ROWS)
    out = data / "run"
    res = runner.invoke(app, ["train", f"data={manifest}", f"out={out}", *QUICK])
    return res, out, data


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- load_faces -------------------------------------------------------------------------------------------------------


def _config(tmp_path, manifest, **kw):
    return TrainConfig(data=str(manifest), out=str(tmp_path / "run"), workers=1, progress=False, **kw)


def test_load_faces_splits_labels_and_reports_unusable_images(tmp_path, write_manifest):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "corrupt.jpg").write_bytes(b"not an image at all")
    manifest = write_manifest(
        tmp_path,
        [
            ("img/mask1.jpg", "with_mask", "train"),
            ("img/sun2.jpg", "sunglasses", "val"),
            ("img/clean0.jpg", "no_mask", "train"),
            ("img/blank.png", "no_mask", "train"),
            ("bad/corrupt.jpg", "hand", "train"),
        ],
    )
    logs = []
    faces = load_faces(_config(tmp_path, manifest, fallback_crops=False), logs.append)
    assert set(faces) == {"train", "val"}
    train, val = faces["train"], faces["val"]
    assert len(train) == 2 and len(val) == 1
    assert sorted(train.labels) == ["clean", "mask"] and val.labels == ["sunglasses"]  # aliases normalised
    assert train.sources == ["gen", "gen"] and train.groups == ["g", "g"]
    assert (
        train.crops.shape == (2, 112, 112, 3) and train.crops.dtype == np.uint8 and train.landmarks.shape == (2, 5, 2)
    )
    assert any(m.startswith("preparing aligned crops of 5 images into") for m in logs)
    assert any(m.startswith("2 image(s) could not be used") for m in logs)  # the blank photo and the corrupt file
    cache = tmp_path / "run" / "cache"
    assert len(_csv(cache / "index.csv")) == 3 and len(_csv(cache / "skipped.csv")) == 2

    # a second run reads the cache: no new preparation, the same crops
    logs.clear()
    again = load_faces(_config(tmp_path, manifest, fallback_crops=False), logs.append)
    assert not any("preparing" in m for m in logs)
    np.testing.assert_array_equal(again["train"].crops, train.crops)
    assert again["train"].labels == train.labels


def test_load_faces_with_fallback_crops_and_a_label_audit(tmp_path, write_manifest):
    manifest = write_manifest(
        tmp_path,
        [
            ("img/clean0.jpg", "no_mask", "train"),
            ("img/clean1.jpg", "no_mask", "train"),
            ("img/blank.png", "no_mask", "train"),
        ],
    )
    audit = tmp_path / "audit.csv"
    audit.write_text("path,label\nimg/clean1.jpg,hand\nimg/unknown.jpg,mask\n")
    logs = []
    faces = load_faces(_config(tmp_path, manifest, audit=str(audit)), logs.append)  # fallback_crops is the default
    train = faces["train"]
    assert len(train) == 3  # the blank photo is used as a tight face crop
    by_label = sorted(train.labels)
    assert by_label == ["clean", "clean", "hand"]
    assert any(m == f"label audit {audit}: 1 label(s) corrected" for m in logs)
    assert not any("could not be used" in m for m in logs)


def test_load_faces_never_takes_another_folders_file_of_the_same_name(tmp_path, write_manifest):
    write_manifest(tmp_path, [("img/clean0.jpg", "no_mask", "train")], "unused.csv")  # copies clean0.jpg here
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "img" / "clean0.jpg").rename(tmp_path / "b" / "x.jpg")
    (tmp_path / "a" / "x.jpg").write_bytes(b"not an image")  # cannot be used: listed in skipped.csv
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label,split\nb/x.jpg,no_mask,train\na/x.jpg,hand,train\n")
    faces = load_faces(_config(tmp_path, manifest), lambda m: None)
    assert faces["train"].labels == ["clean"]


# -- faceocc train ----------------------------------------------------------------------------------------------------


def test_train_command_runs_one_epoch_and_writes_the_run(trained):
    res, out, data = trained
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["best_epoch"] == 1 and summary["epochs_run"] == 1 and summary["out"] == str(out)
    assert json.loads((out / "summary.json").read_text())["best_epoch"] == 1
    for name in ("best.ckpt", "last.ckpt", "metrics.csv", "config.json", "cache/index.csv", "cache/crops.npy"):
        assert (out / name).is_file(), name
    assert not (out / "tensorboard").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 1 and config["batch_size"] == 3 and config["data"] == str(data / "manifest.csv")
    # the data: 7 training faces (the blank photo as a fallback crop), 3 validation faces, nothing skipped
    assert len(_csv(out / "cache" / "index.csv")) == 10 and _csv(out / "cache" / "skipped.csv") == []
    assert "preparing aligned crops of 10 images" in res.stderr and "training faces: 7 " in res.stderr
    rows = _csv(out / "metrics.csv")
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    ckpt = torch.load(out / "best.ckpt", weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["input_size"] == 112 and "optimizer" not in ckpt
    assert len(ckpt["history"]) == 1
    row = ckpt["history"][0]
    assert math.isfinite(row["train_loss"]) and row["train_loss"] > 0
    assert row["train_loss"] == pytest.approx(float(rows[0]["train_loss"]))
    for key in ("occ", "types", "map", "parts", "coverage"):  # every loss term was computed
        assert math.isfinite(row[f"train_{key}"]), key
    # validation on the 3 real faces: one mask (caught or not), one clean face (flagged or not)
    assert row["real_mask_tpr"] in (0.0, 1.0) and row["real_clean_fpr"] in (0.0, 1.0)
    assert 0.0 <= row["real_auc"] <= 1.0
    last = torch.load(out / "last.ckpt", weights_only=False)
    assert "optimizer" in last and last["best_epoch"] == 1


def test_train_without_an_occluder_folder_uses_procedural_occluders(trained):
    res, out, _ = trained
    assert res.exit_code == 0, res.output
    row = torch.load(out / "best.ckpt", weights_only=False)["history"][0]
    assert "synth_tpr" in row


@pytest.mark.parametrize(
    "args, message",
    [
        (["epochs=1"], "no dataset: give data=PATH"),
        (["data=x.csv", "learning_rate=0.1"], "unknown config key 'learning_rate'"),
        (
            ["data=x.csv", "sampling=sometimes"],
            "config: sampling must be one of ('none', 'oversample', 'undersample', 'sqrt')",
        ),
    ],
)
def test_train_command_refuses_bad_settings(tmp_path, args, message):
    res = runner.invoke(app, ["train", f"out={tmp_path / 'run'}", *args])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "run").exists()


def test_train_command_without_training_faces_or_with_a_bad_manifest(tmp_path, write_manifest):
    manifest = write_manifest(tmp_path, [("img/clean0.jpg", "no_mask", "val")])
    res = runner.invoke(app, ["train", f"data={manifest}", f"out={tmp_path / 'run'}", *QUICK])
    assert res.exit_code == 2 and "the dataset has no training faces" in res.output, res.output
    bad = write_manifest(tmp_path, [("img/gone.jpg", "no_mask", "train")], "bad.csv")
    res = runner.invoke(app, ["train", f"data={bad}", f"out={tmp_path / 'run2'}", *QUICK])
    assert res.exit_code == 2 and "bad.csv:2: file not found: img/gone.jpg" in res.output, res.output


# -- faceocc export ---------------------------------------------------------------------------------------------------


@pytest.mark.slow  # fp32 + int8 export: about 10 s of CPU
def test_export_command_fp32_and_int8_from_the_trained_run(trained, tmp_path):
    res, out, _ = trained
    assert res.exit_code == 0, res.output
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"an older export")  # --force overwrites it
    res = runner.invoke(
        app,
        [
            "export",
            str(out / "best.ckpt"),
            str(onnx),
            "--int8",
            "--calibration",
            str(out / "cache"),
            "--calibration-count",
            "8",
            "--threshold",
            "0.42",
            "--force",
        ],
    )
    assert res.exit_code == 0, res.output
    fp32_info, int8_info = (json.loads(line) for line in res.stdout.strip().splitlines())
    assert fp32_info["max_abs_diff"] < 1e-4  # ONNX agrees with PyTorch on the calibration crops
    int8 = tmp_path / "m_int8.onnx"
    assert int8.is_file() and int8_info["bytes"] < fp32_info["bytes"] / 2.5
    crops = np.load(out / "cache" / "crops.npy")[:4]
    for path in (onnx, int8):
        model = OcclusionModel(path)
        assert model.threshold == pytest.approx(0.42) and model.input_size == 112
        assert model.metadata["faceocc_format"] == "faceocc-occlusion-v1"
        p = model.predict(crops)
        assert p.occluded.shape == (4,) and p.occluders.shape == (4, 5) and p.occlusion_map.shape == (4, 28, 28)
        assert np.all((p.occluded >= 0) & (p.occluded <= 1))
    # the exported model gives the checkpoint's outputs
    from faceocc.train.export import load_checkpoint

    net, _ = load_checkpoint(out / "best.ckpt")
    with torch.no_grad():
        want = net(torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2)))["occluded"].numpy()
    np.testing.assert_allclose(OcclusionModel(onnx).predict(crops).occluded, want, atol=1e-4)

    # an existing file is not overwritten without --force (nor its int8 sibling)
    before = onnx.read_bytes()
    res = runner.invoke(app, ["export", str(out / "best.ckpt"), str(onnx)])
    assert res.exit_code == 2 and f"{onnx} exists; use --force to overwrite it" in res.output
    other = tmp_path / "other.onnx"
    (tmp_path / "other_int8.onnx").write_bytes(b"x")
    res = runner.invoke(
        app, ["export", str(out / "best.ckpt"), str(other), "--int8", "--calibration", str(out / "cache")]
    )
    assert res.exit_code == 2 and "other_int8.onnx exists; use --force" in res.output
    assert onnx.read_bytes() == before and not other.exists()


def test_export_command_refuses_bad_input(tmp_path, tiny_checkpoint):
    res = runner.invoke(app, ["export", str(tmp_path / "none.ckpt"), str(tmp_path / "m.onnx")])
    assert res.exit_code == 2 and "checkpoint not found" in res.output
    res = runner.invoke(app, ["export", str(tiny_checkpoint), str(tmp_path / "m.onnx"), "--format", "tflite"])
    assert res.exit_code == 2 and "unknown format 'tflite'" in res.output
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow  # an fp32 export (about 5 s of CPU)
def test_export_int8_without_calibration_fails_before_writing(tmp_path, tiny_checkpoint):
    res = runner.invoke(app, ["export", str(tiny_checkpoint), str(tmp_path / "m.onnx"), "--int8"])
    assert res.exit_code == 2 and "--int8 needs --calibration" in res.output
    assert not (tmp_path / "m.onnx").exists()


def test_export_help_names_the_real_threshold_default():
    res = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "240", "TERM": "dumb"})
    text = " ".join(res.output.replace("│", " ").split())
    assert res.exit_code == 0 and "default: the checkpoint's threshold" in text and "(default: 0.5)" not in text


@pytest.mark.slow  # two fp32 exports (about 10 s of CPU)
def test_export_writes_the_mirror_look_or_mirror_averaging(tmp_path, tiny_checkpoint):
    from faceocc.train.mirror import is_mirror_averaged

    res = runner.invoke(
        app, ["export", str(tiny_checkpoint), str(tmp_path / "a.onnx"), "--mirror-average", "--mirror-margin", "0.2"]
    )
    assert res.exit_code == 2 and "use --mirror-average" in res.output and not (tmp_path / "a.onnx").exists()
    res = runner.invoke(
        app,
        ["export", str(tiny_checkpoint), str(tmp_path / "b.onnx"), "--format", "binary224", "--mirror-margin", "0.2"],
    )
    assert res.exit_code == 2 and "needs the faceocc format" in res.output and not (tmp_path / "b.onnx").exists()

    res = runner.invoke(app, ["export", str(tiny_checkpoint), str(tmp_path / "look.onnx"), "--mirror-margin", "0.2"])
    assert res.exit_code == 0, res.output
    look = OcclusionModel(tmp_path / "look.onnx")
    assert look.mirror_margin == 0.2 and not is_mirror_averaged(look.metadata)
    res = runner.invoke(app, ["export", str(tiny_checkpoint), str(tmp_path / "avg.onnx"), "--mirror-average"])
    assert res.exit_code == 0, res.output
    averaged = OcclusionModel(tmp_path / "avg.onnx")
    assert averaged.mirror_margin == 0 and is_mirror_averaged(averaged.metadata)
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    both = OcclusionModel(tmp_path / "look.onnx", mirror_margin=1.0).predict(crops)  # two looks at every face
    np.testing.assert_allclose(averaged.predict(crops).occluded, both.occluded, atol=1e-5)
