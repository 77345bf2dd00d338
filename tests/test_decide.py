"""One decision: policy.decide turns a measurement into verdicts, and every consumer uses what it returns."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from faceocc.measurement import FaceMeasurement, ModelScores
from faceocc.policy import PolicyOptions, decide, decide_scores, label_of, redecide
from faceocc.schema import OCCLUDER_TYPES


def _scores(score=0.1, **types):
    occ = [types.get(t, 0.02) for t in OCCLUDER_TYPES]
    return ModelScores.from_arrays(score, occ, [0.0] * 5, 0.0)


def test_eyeglasses_only_face_is_occluded_by_eyeglasses_when_they_count():
    m = FaceMeasurement.of_scores(_scores(0.2, eyeglasses=0.9, other=0.3))
    counted = decide(m, PolicyOptions(eyeglasses_occlude=True), 0.5)
    assert counted.occluded and counted.occluder == "eyeglasses" and counted.face_class == "eyeglasses"
    assert "Take off your glasses." in counted.advice and not counted.usable
    plain = decide(m, PolicyOptions(), 0.5)
    assert plain.occluded is False and plain.occluder is None and plain.face_class == "eyeglasses" and plain.usable


def test_report_and_audit_classes_follow_the_decision():
    from faceocc.evaluate.audit import suggested_label
    from faceocc.evaluate.report import face_class

    glasses = np.array([0.02, 0.02, 0.9, 0.02, 0.3])  # OCCLUDER_TYPES order: eyeglasses 0.9, other 0.3
    assert face_class(0.2, glasses, 0.5, eyeglasses_occlude=True) == "eyeglasses"  # was "other" before decide
    assert face_class(0.2, glasses, 0.5) == "eyeglasses"
    assert face_class(0.7, glasses, 0.5) == "other"
    assert suggested_label(0.7, glasses, 0.5) == "eyeglasses+other"
    assert suggested_label(0.2, glasses, 0.5) == "eyeglasses"
    assert suggested_label(0.2, np.zeros(5), 0.5) == "clean"


def test_the_models_threshold_is_used_unless_the_policy_sets_one():
    m = FaceMeasurement.of_scores(_scores(0.45, hand=0.8))
    assert decide(m, PolicyOptions(), 0.40).occluded is True
    assert decide(m, PolicyOptions(), 0.50).occluded is False
    assert decide(m, PolicyOptions(occlusion_threshold=0.3), 0.50).occluded is True


def test_not_assessable_faces_get_no_verdict():
    small = FaceMeasurement(box=(0, 0, 20, 20), det_score=0.99, landmarks=np.zeros((5, 2)), scores=_scores(0.9))
    face = decide(small, PolicyOptions(min_face_size=32))
    assert face.assessable is False and face.occluded is None and face.face_class == "not_assessable"
    assert "too small" in face.reason and face.usable is False and face.advice
    unsure = replace(small, box=(0, 0, 100, 100), det_score=0.3)
    assert "uncertain" in decide(unsure, PolicyOptions()).reason
    assert label_of(decide(unsure, PolicyOptions()), PolicyOptions()) == "not_assessable"


def test_border_rule_lives_in_the_decision():
    outside = np.zeros((28, 28), np.float32)
    outside[:, :11] = 1.0  # the photo's edge runs through the right eye
    cut = {"right_eye": 0.6, "left_eye": 0.0, "nose": 0.0, "mouth": 0.0, "chin": 0.0, "face": 0.2}
    scores = ModelScores(
        0.1,
        dict(zip(OCCLUDER_TYPES, [0.01] * 5)),
        dict.fromkeys(("right_eye", "left_eye", "nose", "mouth", "chin"), 0.0),
        0.0,
        np.zeros((28, 28), np.float32),
    )
    m = FaceMeasurement(
        box=(0, 0, 100, 100), det_score=0.9, landmarks=np.zeros((5, 2)), scores=scores, outside=outside, border_cut=cut
    )
    face = decide(m, PolicyOptions(), 0.5)
    assert face.border and face.occluded and face.occluder == "other" and face.occlusion_score == pytest.approx(0.8)
    assert face.parts["right_eye"] > 0.3 and face.upper
    assert m.scores.occlusion_score == 0.1  # the measurement is not rewritten
    lenient = decide(m, PolicyOptions(border_part_cut=0.7), 0.5)
    assert not lenient.border and not lenient.occluded


def test_redecide_changes_the_verdict_not_the_measurement():
    m = FaceMeasurement.of_scores(_scores(0.45, hand=0.8))
    first = decide(m, PolicyOptions(), 0.5)
    again = redecide(first, PolicyOptions(occlusion_threshold=0.4), 0.5)
    assert not first.occluded and again.occluded and again.occluder == "hand"
    assert again.measurement is m and first.occlusion_score == again.occlusion_score


def test_decide_scores_equals_decide_on_a_bare_measurement():
    occ = np.array([0.1, 0.7, 0.05, 0.2, 0.1])
    a = decide_scores(0.8, occ, PolicyOptions(), 0.5)
    assert (a.occluded, a.occluder, a.face_class) == (True, "sunglasses", "sunglasses")
    assert "Remove your sunglasses." in a.advice


def test_validation_judges_at_the_operating_threshold():
    torch = pytest.importorskip("torch")  # noqa: F841 - the trainer module imports torch
    from faceocc.train.trainer import validation_metrics

    pred = np.array([0.45, 0.45, 0.1, 0.9])
    real = {"pred": {"occluded": pred}, "target": {"occluded": np.array([0.0, 0.0, 0.0, 1.0])}}
    labels = ["clean", "clean", "clean", "mask"]
    at_half = validation_metrics(real, labels, None, [], threshold=0.5)
    at_model = validation_metrics(real, labels, None, [], threshold=0.4)
    assert at_half["real_clean_fpr"] == 0.0
    assert at_model["real_clean_fpr"] == pytest.approx(2 / 3)


def test_int8_agreement_is_judged_at_each_models_threshold(tmp_path):
    onnx = pytest.importorskip("onnx")
    from faceocc.model import DEFAULT_MODEL, OcclusionModel
    from faceocc.train.export import compare_models

    lax = onnx.load(str(DEFAULT_MODEL))
    for p in lax.metadata_props:
        if p.key == "threshold":
            p.value = "0.0"  # flags every face
    onnx.save(lax, str(tmp_path / "lax.onnx"))
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (8, 112, 112, 3), dtype=np.uint8)
    flagged = OcclusionModel(DEFAULT_MODEL).predict(crops).occluded >= OcclusionModel(DEFAULT_MODEL).threshold
    got = compare_models(DEFAULT_MODEL, tmp_path / "lax.onnx", crops)["verdict_agreement"]
    assert got == pytest.approx(flagged.mean())  # at 0.5 for both it would read 1.0


def test_measuring_a_face_in_a_24_megapixel_photo_costs_a_crop_not_a_photo():
    from faceocc import Analyzer
    from faceocc.detection import Detection

    analyzer = Analyzer()
    photo = np.full((4000, 6000, 3), 128, np.uint8)
    lm = np.array([[2950, 1950], [3050, 1950], [3000, 2010], [2960, 2060], [3040, 2060]], np.float32)
    det = Detection(box=np.array([2900, 1880, 3100, 2120], np.float32), score=0.99, landmarks=lm)
    analyzer.measure(photo, [det])  # warm up the sessions
    tracemalloc.start()
    faces = analyzer.analyze_faces(photo, [det])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(faces) == 1 and faces[0].assessable
    assert peak < 8_000_000  # a photo-sized float mask alone would be 96 MB


def test_analyzer_keeps_its_options_and_returns_timings():
    from faceocc import Analyzer, AnalyzerOptions
    from faceocc.detection import DetectorOptions

    options = AnalyzerOptions(threads=1, detector=DetectorOptions())
    with Analyzer(options, keep_maps=True) as analyzer:
        assert options.detector.threads == 0 and options.keep_maps is False  # the caller's object is not changed
        assert analyzer.options.detector.threads == 1 and analyzer.options.keep_maps
        result = analyzer.analyze(np.full((120, 160, 3), 90, np.uint8))
        assert result.faces == [] and set(result.timings) >= {"decode", "detect"}
        assert not hasattr(analyzer, "timings")
