"""Training on generated data, config validation, ONNX export parity, int8 agreement, dataset errors."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceocc.alignment import align_face, estimate_transform, transform_points  # noqa: E402
from faceocc.datasets import DatasetError, read_manifest  # noqa: E402
from faceocc.model import ModelError, OcclusionModel  # noqa: E402
from faceocc.train.config import load_config  # noqa: E402
from faceocc.train.data import FaceSet, class_weights, sampling_weights  # noqa: E402


def _generated_faces(astronaut, face, n=48, seed=0) -> FaceSet:
    """Jittered aligned crops of the astronaut: a tiny generated dataset (half labelled mask)."""
    rng = np.random.default_rng(seed)
    crops, lms = [], []
    for _ in range(n):
        lm = face.landmarks + rng.normal(0, 1.5, face.landmarks.shape).astype(np.float32)
        crops.append(align_face(astronaut, lm))
        lms.append(transform_points(face.landmarks, estimate_transform(lm)))
    labels = ["clean" if i % 2 else "mask" for i in range(n)]
    return FaceSet(
        np.stack(crops),
        np.stack(lms).astype(np.float32),
        labels,
        ["gen"] * n,
        ["a" if i % 3 else "b" for i in range(n)],
    )


def test_two_epochs_on_generated_data_lower_the_loss(astronaut, astronaut_face, tmp_path):
    from faceocc.synthesis import OccluderLibrary
    from faceocc.train.trainer import train

    faces = _generated_faces(astronaut, astronaut_face)
    cfg = load_config(
        None,
        {
            "out": str(tmp_path / "run"),
            "epochs": 3,
            "batch_size": 16,
            "pretrained": False,
            "lr": 3e-3,
            "progress": False,
            "tensorboard": False,
            "val_synth": 16,
            "early_stopping": 0,
            "threads": 2,
        },
    )
    library = OccluderLibrary.procedural(seed=0)
    summary = train(cfg, faces={"train": faces, "val": faces.subset(range(16))}, library=library, log=lambda m: None)
    history = torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)["history"]
    assert len(history) == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "run" / "best.ckpt").is_file() and (tmp_path / "run" / "metrics.csv").is_file()
    assert summary["best_epoch"] >= 1
    # resume continues from the last epoch
    cfg2 = load_config(None, {**cfg.to_dict(), "epochs": 4, "resume": str(tmp_path / "run" / "last.ckpt")})
    train(cfg2, faces={"train": faces, "val": faces.subset(range(16))}, library=library, log=lambda m: None)
    assert len(torch.load(tmp_path / "run" / "last.ckpt", weights_only=False)["history"]) == 4


def test_config_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "cfg.json"
    bad.write_text(json.dumps({"epochs": 2, "learning_rate": 0.1}))
    with pytest.raises(ValueError, match="unknown config key.*learning_rate"):
        load_config(bad)
    with pytest.raises(ValueError, match="unknown config key 'epoch'"):
        load_config(None, ["epoch=3"])
    with pytest.raises(ValueError, match="sampling"):
        load_config(None, ["sampling=sometimes"])
    assert load_config(None, ["epochs=3", "focal_gamma=0", "pretrained=false"]).epochs == 3


def test_class_weights_and_sampling():
    w0, w1 = class_weights(0.25, "balanced")
    assert w0 == pytest.approx(1 / (2 * 0.75)) and w1 == pytest.approx(2.0)
    assert class_weights(0.25, "none") == (1.0, 1.0)
    i0, i1 = class_weights(0.2, "inverse")
    assert i1 / i0 == pytest.approx(4.0) and (i0 + i1) / 2 == pytest.approx(1.0)
    weights, n = sampling_weights(["a", "a", "a", "b"], "oversample")
    assert n == 6 and weights[3] == pytest.approx(3 * weights[0])
    assert sampling_weights(["a", "a", "a", "b"], "undersample")[1] == 2
    w, n = sampling_weights(["a"] * 9 + ["b"], "sqrt")  # label shares 3 : 1 (square roots of 9 : 1)
    assert n == 10 and w[:9].sum() / w[9] == pytest.approx(3.0)


def test_manifest_errors_name_the_line(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    m = tmp_path / "manifest.csv"
    m.write_text("path,label\na.jpg,mask\nmissing.jpg,clean\na.jpg,banana\n")
    with pytest.raises(DatasetError) as err:
        read_manifest(m)
    text = str(err.value)
    assert "manifest.csv:3: file not found: missing.jpg" in text and "manifest.csv:4: unknown label 'banana'" in text
    m.write_text("path,label,group\na.jpg,no_mask,x\na.jpg,mask+hand,y\n")
    recs = read_manifest(m)
    assert [r.label for r in recs] == ["clean", "mask+hand"] and recs[1].group == "y"


def test_export_parity_and_int8_agreement(tiny_checkpoint, astronaut, astronaut_face, tmp_path):
    from faceocc.train.export import export_onnx, quantize_int8

    faces = _generated_faces(astronaut, astronaut_face, n=32)
    fp32 = tmp_path / "m.onnx"
    info = export_onnx(tiny_checkpoint, fp32, sample=faces.crops[:8])
    assert info["max_abs_diff"] < 1e-4
    model = OcclusionModel(fp32)
    assert model.metadata["faceocc_format"] == "faceocc-occlusion-v1" and model.metadata["occluders"][0] == "mask"
    out = model.predict(faces.crops[:4])
    assert out.occluders.shape == (4, 5) and out.parts.shape == (4, 5) and out.occlusion_map.shape == (4, 28, 28)
    q = quantize_int8(fp32, tmp_path / "m_int8.onnx", faces.crops)
    assert q["bytes"] < info["bytes"] / 2.5
    assert q["occluded_mean_abs_diff"] < 0.05 and q["coverage_mean_abs_diff"] < 0.05
    # the classifier's head stays float: scores are not rounded onto a few shared levels (1/255 steps)
    import onnx

    graph = onnx.load(str(tmp_path / "m_int8.onnx")).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    assert producer["occluded"] != "DequantizeLinear" and producer["occluders"] != "DequantizeLinear"
    scores = OcclusionModel(tmp_path / "m_int8.onnx").predict(faces.crops).occluded
    assert np.abs(scores * 255 - np.round(scores * 255)).max() > 0.01


def test_shipped_models_by_name():
    from faceocc.model import DEFAULT_MODEL, ModelError, resolve_model_path

    assert resolve_model_path("default") == DEFAULT_MODEL == resolve_model_path("faceocc_mbv2_112_int8.onnx")
    assert OcclusionModel("faceocc_mbv2_112_int8.onnx").input_size == 112
    with pytest.raises(ModelError, match="not found"):
        OcclusionModel("faceocc_mbv2_96_int8.onnx")  # a name of an old release is not a file


def test_non_faceocc_onnx_is_rejected(tmp_path):
    from faceocc.detection import DETECTOR_PATH

    with pytest.raises(ModelError, match="not a faceocc occlusion model"):
        OcclusionModel(DETECTOR_PATH)
    with pytest.raises(ModelError, match="model file not found"):
        OcclusionModel(tmp_path / "none.onnx")


def test_config_lists_and_dicts_from_the_command_line():
    cfg = load_config(None, ["drop_blocks=10,13,16", 'synth_weights={"eyeglasses": 0.2}', "input_size=96"])
    assert cfg.drop_blocks == [10, 13, 16] and cfg.synth_weights == {"eyeglasses": 0.2} and cfg.input_size == 96
    with pytest.raises(ValueError, match="synth_weights has unknown recipe"):
        load_config(None, ['synth_weights={"banana": 1}'])
    with pytest.raises(ValueError, match="input_size must be a multiple of 16"):
        load_config(None, ["input_size=100"])
    with pytest.raises(ValueError, match="drop_blocks must be JSON"):
        load_config(None, ["drop_blocks=[1,"])
    assert load_config(None, ['hand_pose_weights={"forehead": 0.12}']).hand_pose_weights == {"forehead": 0.12}
    with pytest.raises(ValueError, match=r"hand_pose_weights: unknown hand pose\(s\) \['elbow'\]"):
        load_config(None, ['hand_pose_weights={"elbow": 1}'])


def test_smaller_network_fine_tunes_from_a_full_checkpoint_and_exports(
    tiny_checkpoint, astronaut, astronaut_face, tmp_path
):
    """A 96 px network without some residual blocks starts from a 112 px checkpoint's weights, trains on 112 px crops
    (resized in the data pipeline) with the 112 px network as a distillation teacher, exports, and takes 112 px crops
    at inference (resized by the model)."""
    from faceocc.synthesis import OccluderLibrary
    from faceocc.train.export import export_onnx
    from faceocc.train.network import OcclusionNet
    from faceocc.train.trainer import load_matching_weights, train

    full = torch.load(tiny_checkpoint, weights_only=False)["model"]
    small = OcclusionNet(96, pretrained=False, drop_blocks=(6, 10, 13, 16))
    loaded, skipped = load_matching_weights(small, full)
    assert skipped == ["regions"] and loaded > 200  # every weight maps; only the 24 x 24 part regions are new
    with pytest.raises(ValueError, match="not residual blocks"):
        OcclusionNet(96, pretrained=False, drop_blocks=(7,))

    faces = _generated_faces(astronaut, astronaut_face, n=32)
    cfg = load_config(
        None,
        {
            "out": str(tmp_path / "run"),
            "epochs": 1,
            "batch_size": 16,
            "pretrained": False,
            "input_size": 96,
            "drop_blocks": [6, 10, 13, 16],
            "init": str(tiny_checkpoint),
            "teacher": str(tiny_checkpoint),
            "distill_weight": 0.5,
            "synth_weights": {"eyeglasses": 0.5},
            "progress": False,
            "tensorboard": False,
            "val_synth": 8,
            "threads": 2,
        },
    )
    train(
        cfg,
        faces={"train": faces, "val": faces.subset(range(8))},
        library=OccluderLibrary.procedural(seed=0),
        log=lambda m: None,
    )
    ckpt = torch.load(tmp_path / "run" / "best.ckpt", weights_only=False)
    assert ckpt["history"][0]["train_distill"] > 0  # the 112 px teacher's outputs were learned too
    assert ckpt["arch"] == {"input_size": 96, "drop_blocks": [6, 10, 13, 16], "head_conv": True}
    info = export_onnx(tmp_path / "run" / "best.ckpt", tmp_path / "small.onnx")
    assert info["max_abs_diff"] < 1e-4
    model = OcclusionModel(tmp_path / "small.onnx")
    assert (
        model.input_size == 96
        and json.loads(model.session.get_modelmeta().custom_metadata_map["architecture"])["drop_blocks"]
    )
    out = model.predict(faces.crops[:3])  # 112 px crops
    assert out.occlusion_map.shape == (3, 24, 24)
    from faceocc.model import resize_crops

    same = model.predict(resize_crops(faces.crops[:3], 96))
    np.testing.assert_allclose(out.occluded, same.occluded, atol=1e-6)
    with pytest.raises(ValueError, match="square RGB crops"):
        model.predict(np.zeros((2, 96, 80, 3), np.uint8))


def test_a_trainable_network_is_recovered_from_fp32_and_int8_onnx(tiny_checkpoint, astronaut, astronaut_face, tmp_path):
    """The folded, quantized ONNX graph goes back into Conv + BatchNorm: the same outputs as the checkpoint in eval
    mode, the same in train mode on the calibration crops (BatchNorm statistics re-estimated on them), and
    ``init=`` / ``teacher=`` accept the ONNX file."""
    from faceocc.synthesis import OccluderLibrary
    from faceocc.train.export import export_onnx, load_checkpoint, quantize_int8
    from faceocc.train.from_onnx import network_from_onnx
    from faceocc.train.trainer import train

    faces = _generated_faces(astronaut, astronaut_face, n=32)
    fp32 = tmp_path / "m.onnx"
    export_onnx(tiny_checkpoint, fp32, sample=faces.crops[:8])
    int8 = tmp_path / "m_int8.onnx"
    quantize_int8(fp32, int8, faces.crops)
    reference, _ = load_checkpoint(tiny_checkpoint)
    x = torch.from_numpy(faces.crops[:16].astype(np.float32).transpose(0, 3, 1, 2))
    with torch.no_grad():
        want = reference(x)

    net, info = network_from_onnx(fp32, calibration=faces.crops[:16])
    assert info["arch"] == {"input_size": 112, "drop_blocks": [], "head_conv": True} and info["threshold"] == 0.5
    with torch.no_grad():
        got = net(x)
        for name in ("occluded", "occluders", "coverage", "occlusion_map"):
            np.testing.assert_allclose(got[name].numpy(), want[name].numpy(), atol=2e-4, err_msg=name)
        net.train()  # batch statistics of the calibration crops are the ones the BatchNorms were given
        np.testing.assert_allclose(net(x)["occlusion_map"].numpy(), want["occlusion_map"].numpy(), atol=2e-3)

    net8, _ = network_from_onnx(int8)
    with torch.no_grad():
        got8 = net8(x)
    runtime = OcclusionModel(int8).predict(faces.crops[:16])
    assert np.abs(got8["occluded"].numpy() - runtime.occluded).mean() < 0.03  # int8 weights; float activations
    assert np.abs(got8["coverage"].numpy() - want["coverage"].numpy()).mean() < 0.05

    cfg = load_config(
        None,
        {
            "out": str(tmp_path / "run"),
            "epochs": 1,
            "batch_size": 16,
            "pretrained": False,
            "init": str(int8),
            "teacher": str(fp32),
            "distill_weight": 0.5,
            "progress": False,
            "tensorboard": False,
            "val_synth": 8,
            "threads": 2,
        },
    )
    logs = []
    train(
        cfg,
        faces={"train": faces, "val": faces.subset(range(8))},
        library=OccluderLibrary.procedural(seed=0),
        log=logs.append,
    )
    assert any(f"weights initialised from {int8}" in m and "left at their initial values" not in m for m in logs)
    assert torch.load(tmp_path / "run" / "best.ckpt", weights_only=False)["history"][0]["train_distill"] > 0


def test_a_non_faceocc_onnx_cannot_start_training(tmp_path):
    from faceocc.detection import DETECTOR_PATH
    from faceocc.train.from_onnx import network_from_onnx

    with pytest.raises(ValueError, match="not a faceocc model"):
        network_from_onnx(DETECTOR_PATH)


def test_missing_init_file_fails_before_training(tmp_path):
    from faceocc.train.config import TrainConfig
    from faceocc.train.trainer import train

    config = TrainConfig(out=str(tmp_path / "run"), init=str(tmp_path / "gone.onnx"))
    with pytest.raises(ValueError, match="init=.*gone.onnx.*no such file"):
        train(config)
    assert not (tmp_path / "run").exists()


def test_boundary_weight_emphasises_small_pasted_occluders_only(astronaut, astronaut_face):
    """boundary_weight adds verdict-loss weight exactly where a pasted occluder covers 0 < coverage <
    boundary_coverage."""
    from faceocc.synthesis import OccluderLibrary, labels_from_mask, synthesize
    from faceocc.train.data import OcclusionTrainingSet

    faces = _generated_faces(astronaut, astronaut_face, n=40)
    faces.labels[:] = ["clean"] * len(faces)
    library = OccluderLibrary.procedural(seed=0)
    ds = OcclusionTrainingSet(
        faces,
        library,
        synth_prob=1.0,
        augment_strength=0.0,
        fixed=True,
        seed=3,
        boundary_weight=2.0,
        boundary_coverage=0.06,
    )
    plain = OcclusionTrainingSet(faces, library, synth_prob=1.0, augment_strength=0.0, fixed=True, seed=3)
    seen = set()
    for i in range(len(ds)):
        s, p = ds.sample(i), plain.sample(i)
        assert p["verdict_w"] == 1.0 and s["occluded"] == p["occluded"]  # the weight changes nothing else
        rng = ds._rng(i)  # the same draws as sample(): rebuild the pasted occluder's own labels
        rng.random()  # the synth_prob draw
        syn = synthesize(np.asarray(faces.crops[i]), faces.landmarks[i], library, rng)
        cov = labels_from_mask(syn.occlusion.astype(np.float32), syn.occluders)["coverage"]
        assert s["verdict_w"] == (3.0 if 0.0 < cov < 0.06 else 1.0)
        seen.add(s["verdict_w"])
    assert seen == {1.0, 3.0}  # both cases occur in 40 faces
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    assert batch["verdict_w"].shape == (4,)
    with pytest.raises(ValueError, match="boundary_weight"):
        load_config(None, ["boundary_weight=-1"])
