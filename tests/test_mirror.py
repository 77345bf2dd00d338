"""The mirror look (faces near the threshold predicted again on their mirror image, outputs averaged) and mirror
averaging built into a model file (faceocc.train.mirror): the mirror's eyes swap and its map is flipped back."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from faceocc.model import DEFAULT_MODEL, OcclusionModel
from faceocc.schema import MIRRORED_PARTS, PART_NAMES


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """The bundled astronaut's aligned crop and variants with a band blacked out on one side (the mirror image sees it
    on the other), noise on top: scores spread from clearly clean to clearly occluded."""
    from faceocc import Analyzer
    from faceocc.alignment import align_face
    from faceocc.io import load_image

    image = load_image("examples/astronaut.jpg")
    with Analyzer() as analyzer:
        face = analyzer.analyze(image).faces[0]
    crop = align_face(image, np.asarray(face.landmarks, np.float32))
    rng = np.random.default_rng(0)
    out = [crop]
    for i in range(1, 12):
        noisy = crop.astype(np.int16) + rng.integers(-30, 30, crop.shape)
        noisy[:, : 8 * i] = 0
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return np.stack(out)


def _mean_with_mirror(model: OcclusionModel, crops: np.ndarray):
    a, b = model.predict(crops), model.predict(np.ascontiguousarray(crops[:, :, ::-1]))
    return (
        a,
        b,
        {
            "occluded": (a.occluded + b.occluded) / 2,
            "occluders": (a.occluders + b.occluders) / 2,
            "parts": (a.parts + b.parts[:, list(MIRRORED_PARTS)]) / 2,
            "coverage": (a.coverage + b.coverage) / 2,
            "occlusion_map": (a.occlusion_map + b.occlusion_map[:, :, ::-1]) / 2,
        },
    )


def test_the_mirror_image_swaps_the_eyes_only():
    assert [PART_NAMES[i] for i in MIRRORED_PARTS] == ["left_eye", "right_eye", "nose", "mouth", "chin"]


def test_the_default_looks_again_at_the_faces_near_its_threshold_and_only_those(crops):
    default, once = OcclusionModel(), OcclusionModel(mirror_margin=0)
    assert default.mirror_margin == 0.25 and once.mirror_margin == 0
    single, mirrored, mean = _mean_with_mirror(once, crops)
    near = np.abs(single.occluded - default.threshold) <= default.mirror_margin
    assert 0 < near.sum() < len(crops), single.occluded  # the crops cover both cases
    assert not np.allclose(single.occluded[near], mirrored.occluded[near], atol=1e-3)  # the sides differ
    got = default.predict(crops)
    for name, want in mean.items():
        value = getattr(got, name)
        np.testing.assert_allclose(value[near], want[near], atol=1e-5, err_msg=name)
        np.testing.assert_allclose(value[~near], getattr(single, name)[~near], atol=1e-6, err_msg=name)
    # the band follows the threshold it is given (a policy's own threshold)
    high = OcclusionModel().predict(crops, threshold=0.95)
    near_high = np.abs(single.occluded - 0.95) <= 0.25
    np.testing.assert_allclose(high.occluded[near_high], mean["occluded"][near_high], atol=1e-5)
    np.testing.assert_allclose(high.occluded[~near_high], single.occluded[~near_high], atol=1e-6)
    assert len(default.predict(crops[:0])) == 0 and len(default.predict(crops[0])) == 1


def test_the_analyzer_centres_the_mirror_look_on_the_threshold_in_force(monkeypatch):
    from faceocc import Analyzer, AnalyzerOptions, PolicyOptions

    seen = []
    with Analyzer(AnalyzerOptions(policy=PolicyOptions(occlusion_threshold=0.8))) as analyzer:
        real = analyzer.model.predict
        monkeypatch.setattr(analyzer.model, "predict", lambda c, **kw: seen.append(kw) or real(c, **kw))
        analyzer.analyze("examples/astronaut.jpg")
    assert seen == [{"threshold": 0.8}]


def test_a_bad_mirror_margin_is_refused():
    with pytest.raises(ValueError, match="mirror_margin"):
        OcclusionModel(mirror_margin=1.5)


onnx = pytest.importorskip("onnx")


def test_mirror_averaging_in_the_graph_predicts_the_mean_for_every_face(crops, tmp_path):
    from faceocc.train.mirror import add_mirror_average, is_mirror_averaged, set_mirror_margin

    single_file = tmp_path / "single.onnx"
    shutil.copy(DEFAULT_MODEL, single_file)
    with pytest.raises(ValueError, match="mirror look"):  # the default looks twice already
        add_mirror_average(single_file, tmp_path / "four_times.onnx")
    set_mirror_margin(single_file, 0)
    add_mirror_average(single_file, tmp_path / "mirrored.onnx")
    mirrored = OcclusionModel(tmp_path / "mirrored.onnx")
    single = OcclusionModel(single_file)
    assert is_mirror_averaged(mirrored.metadata) and mirrored.threshold == single.threshold
    _, _, mean = _mean_with_mirror(single, crops)
    got = mirrored.predict(crops)
    for name, want in mean.items():
        np.testing.assert_allclose(getattr(got, name), want, atol=1e-5, err_msg=name)
    assert len(mirrored.predict(crops[:0])) == 0 and len(mirrored.predict(crops[0])) == 1
    with pytest.raises(ValueError, match="already mirror-averaged"):
        add_mirror_average(tmp_path / "mirrored.onnx", tmp_path / "twice.onnx")
    with pytest.raises(ValueError, match="already mirror-averaged"):
        set_mirror_margin(tmp_path / "mirrored.onnx", 0.2)


def test_the_shipped_drop_in_classifier_gives_the_logits_of_the_mean_probability(crops, tmp_path):
    import onnxruntime as ort

    from faceocc.model import MODELS_DIR
    from faceocc.train.export import crops_to_imagenet224
    from faceocc.train.mirror import is_mirror_averaged

    shipped = onnx.load(str(MODELS_DIR / "faceocc_binary224.onnx"))
    assert is_mirror_averaged({p.key: p.value for p in shipped.metadata_props})
    x = crops_to_imagenet224(crops)
    logits = ort.InferenceSession(str(MODELS_DIR / "faceocc_binary224.onnx")).run(None, {"input": x})[0]
    _, _, mean = _mean_with_mirror(OcclusionModel(mirror_margin=0), crops)
    score_threshold = float({p.key: p.value for p in shipped.metadata_props}["score_threshold"])
    # column 0 is the constant logit(T); softmax(...)[:, 1] >= 0.5 is the verdict of the mean score at T
    np.testing.assert_allclose(logits[:, 0], np.log(score_threshold / (1 - score_threshold)), atol=1e-4)
    sigmoid = 1 / (1 + np.exp(-logits[:, 1]))
    # the fp32 graph against the int8 default (int8 moves scores by 0.015 on average)
    np.testing.assert_allclose(sigmoid, mean["occluded"], atol=0.06)


def test_only_faceocc_files_are_mirrored(tmp_path):
    from onnx import TensorProto, helper

    from faceocc.train.mirror import add_mirror_average, set_mirror_margin

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(ValueError, match="not a faceocc model file"):
        add_mirror_average(tmp_path / "other.onnx", tmp_path / "out.onnx")
    with pytest.raises(ValueError, match="needs a full faceocc model"):
        set_mirror_margin(tmp_path / "other.onnx", 0.2)


def test_a_teacher_can_be_distilled_with_its_mirror_look():
    torch = pytest.importorskip("torch")
    from faceocc.train.network import OcclusionNet
    from faceocc.train.trainer import _teacher_logits

    torch.manual_seed(0)
    net = OcclusionNet(input_size=64, pretrained=False).eval()
    x = torch.rand(3, 3, 64, 64) * 255
    with torch.no_grad():
        logits, maps = _teacher_logits(net, x, mirror=True)
        a, am = net.forward_logits(x)
        b, bm = net.forward_logits(x.flip(-1))
    want = (torch.sigmoid(a) + torch.sigmoid(b)) / 2
    torch.testing.assert_close(torch.sigmoid(logits), want, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        torch.sigmoid(maps), (torch.sigmoid(am) + torch.sigmoid(bm.flip(-1))) / 2, atol=1e-5, rtol=0
    )
