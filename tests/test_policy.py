"""faceocc.policy: thresholds, eyeglasses on and off, faces that cannot be assessed, the covered side, advice wording,
the image-border rule. Every expected value is written out by hand from the rules in the module's docstring.

The tests call the policy through one helper, :func:`judge`, which measures a face and calls ``policy.decide`` (the
one decision function since issue 15). Porting the tests to a changed API means changing :func:`judge` only.
"""

from __future__ import annotations

import numpy as np
import pytest

from faceocc import policy
from faceocc.measurement import FaceMeasurement, ModelScores
from faceocc.policy import PolicyOptions, advice_for, border_occludes
from faceocc.schema import FaceResult

OCCLUDERS = ("mask", "sunglasses", "eyeglasses", "hand", "other")
PARTS = ("right_eye", "left_eye", "nose", "mouth", "chin")
OTHER_ADVICE = "Make sure nothing covers your {} (hair, scarf, phone or other objects)."


def judge(
    score: float,
    occluders: dict | None = None,
    parts: dict | None = None,
    options: PolicyOptions | None = None,
    model_threshold: float = 0.5,
    size: float = 100.0,
    det_score: float = 0.9,
):
    """The policy's decision for one detected face (box ``size`` px, detection score ``det_score``) whose model outputs
    are ``score`` and the given occluder and part scores (others 0)."""
    options = options or PolicyOptions()
    occ = {t: 0.0 for t in OCCLUDERS}
    occ.update(occluders or {})
    covered = {p: 0.0 for p in PARTS}
    covered.update(parts or {})
    m = FaceMeasurement(
        box=(10.0, 10.0, 10.0 + size, 10.0 + size),
        det_score=det_score,
        landmarks=np.zeros((5, 2), np.float32),
        scores=ModelScores(score, occ, covered, 0.1),
    )
    return policy.decide(m, options, model_threshold)


# -- options ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"occlusion_threshold": 1.2}, "occlusion_threshold must be within [0, 1], got 1.2"),
        ({"type_threshold": -0.1}, "type_threshold must be within [0, 1], got -0.1"),
        ({"part_threshold": 2.0}, "part_threshold must be within [0, 1], got 2.0"),
        ({"min_det_score": 1.5}, "min_det_score must be within [0, 1], got 1.5"),
        ({"border_part_cut": -1.0}, "border_part_cut must be within [0, 1], got -1.0"),
        ({"min_face_size": -1}, "min_face_size must be >= 0, got -1"),
    ],
)
def test_options_out_of_range_are_refused(kwargs, message):
    with pytest.raises(ValueError) as err:
        PolicyOptions(**kwargs)
    assert str(err.value) == message


def test_option_defaults():
    o = PolicyOptions()
    assert (
        o.occlusion_threshold,
        o.type_threshold,
        o.part_threshold,
        o.eyeglasses_occlude,
        o.min_face_size,
        o.min_det_score,
        o.border_part_cut,
    ) == (None, 0.5, 0.3, False, 32, 0.6, 0.2)


# -- the verdict ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "score, threshold, model_threshold, occluded",
    [
        (0.4235, None, 0.4235, True),  # at the model's own threshold: occluded (>=)
        (0.4234, None, 0.4235, False),  # just below it
        (0.45, None, 0.4235, True),  # above the shipped model's threshold although below 0.5
        (0.5, None, 0.5, True),
        (0.49, None, 0.5, False),
        (0.6, 0.7, 0.3, False),  # the policy's own threshold wins over the model's
        (0.35, 0.3, 0.9, True),
        (0.0, 0.0, 0.5, True),  # threshold 0: every face is occluded
    ],
)
def test_occluded_when_the_score_reaches_the_threshold_in_force(score, threshold, model_threshold, occluded):
    face = judge(score, options=PolicyOptions(occlusion_threshold=threshold), model_threshold=model_threshold)
    assert face.occluded is occluded
    assert face.usable is (not occluded) and face.assessable is True and face.reason is None
    if not occluded:
        assert face.advice == [] and face.upper is False and face.lower is False


def test_model_threshold_defaults_to_one_half():
    def run(score):
        m = FaceMeasurement.of_scores(ModelScores.from_arrays(score, [0.0] * 5))
        return policy.decide(m, PolicyOptions())

    assert run(0.5).occluded is True and run(0.4999).occluded is False


def test_clear_eyeglasses_do_not_occlude_by_default():
    face = judge(0.1, {"eyeglasses": 0.95}, {"right_eye": 0.1})
    assert face.occluded is False and face.usable is True and face.advice == []
    assert face.upper is False and face.lower is False


def test_eyeglasses_occlude_when_the_option_is_on():
    options = PolicyOptions(eyeglasses_occlude=True)
    face = judge(0.1, {"eyeglasses": 0.95}, {"right_eye": 0.1, "left_eye": 0.15}, options)
    assert face.occluded is True and face.usable is False
    assert face.advice == ["Take off your glasses."]
    assert (face.upper, face.lower) == (True, False)  # no part reaches 0.3: the side with more covered, the eyes
    # the eyeglasses score must reach type_threshold
    assert judge(0.1, {"eyeglasses": 0.49}, options=options).occluded is False
    assert judge(0.1, {"eyeglasses": 0.5}, options=options).occluded is True
    assert (
        judge(0.1, {"eyeglasses": 0.45}, options=PolicyOptions(eyeglasses_occlude=True, type_threshold=0.4)).occluded
        is True
    )
    # occluded by the score alone: the glasses advice only when glasses count
    assert "Take off your glasses." not in judge(0.9, {"eyeglasses": 0.95, "hand": 0.8}).advice
    assert judge(0.9, {"eyeglasses": 0.95, "hand": 0.8}, options=options).advice == [
        "Take off your glasses.",  # the occluder (the highest counted type) first
        "Move your hand away from your face.",
    ]


def test_an_eyeglasses_only_face_is_occluded_by_eyeglasses_when_they_count():
    face = judge(0.1, {"eyeglasses": 0.9, "other": 0.05}, options=PolicyOptions(eyeglasses_occlude=True))
    assert face.occluded is True
    assert face.occluder == "eyeglasses"


def test_the_occluder_is_the_most_likely_type_that_counts():
    assert judge(0.9, {"mask": 0.3, "hand": 0.8, "other": 0.6}).occluder == "hand"
    assert judge(0.9, {"eyeglasses": 0.99, "sunglasses": 0.7}).occluder == "sunglasses"  # glasses do not count
    assert judge(0.1, {"mask": 0.9}).occluder is None  # not occluded: no occluder


# -- faces that cannot be assessed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, det_score, reason, advice",
    [
        (
            31.0,
            0.9,
            "face too small to assess (31 px < 32 px)",
            "Move closer to the camera or use a higher-resolution photo.",
        ),
        (
            20.4,
            0.3,
            "face too small to assess (20 px < 32 px)",
            "Move closer to the camera or use a higher-resolution photo.",
        ),
        (100.0, 0.59, "face detection too uncertain (score 0.59 < 0.6)", "Face the camera in good, even light."),
    ],
)
def test_small_or_uncertain_faces_are_not_assessed(size, det_score, reason, advice):
    face = judge(0.99, {"mask": 0.99}, {"mouth": 0.9}, size=size, det_score=det_score)
    assert face.assessable is False and face.reason == reason and face.advice == [advice]
    assert face.occluded is None and face.upper is None and face.lower is None  # faceocc does not guess
    assert face.usable is False


def test_the_limits_themselves_are_assessable():
    face = judge(0.1, size=32.0, det_score=0.6)
    assert face.assessable is True and face.occluded is False and face.usable is True
    lax = PolicyOptions(min_face_size=0, min_det_score=0.0)
    assert judge(0.1, size=4.0, det_score=0.05, options=lax).usable is True
    strict = PolicyOptions(min_face_size=200, min_det_score=0.95)
    assert judge(0.1, size=150.0, det_score=0.99, options=strict).reason == "face too small to assess (150 px < 200 px)"
    assert (
        judge(0.1, size=250.0, det_score=0.9, options=strict).reason
        == "face detection too uncertain (score 0.90 < 0.95)"
    )


# -- which side is covered --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts, upper, lower",
    [
        ({"right_eye": 0.3}, True, False),  # a part at part_threshold counts (>=)
        ({"left_eye": 0.5, "chin": 0.4}, True, True),
        ({"nose": 0.31}, False, True),
        ({"mouth": 0.29, "chin": 0.1}, False, True),  # none reaches 0.3: the side with the larger fraction
        ({"right_eye": 0.2, "mouth": 0.1}, True, False),
        ({"left_eye": 0.1, "chin": 0.1}, True, False),  # a tie goes to the upper side
        ({"right_eye": 0.29, "nose": 0.3}, False, True),  # a part that reaches it beats a larger fallback
    ],
)
def test_covered_side(parts, upper, lower):
    face = judge(0.9, {"other": 0.9}, parts)
    assert face.occluded is True and (face.upper, face.lower) == (upper, lower)


def test_covered_side_follows_part_threshold_and_is_false_when_not_occluded():
    face = judge(0.9, {"hand": 0.9}, {"nose": 0.4, "right_eye": 0.45}, PolicyOptions(part_threshold=0.5))
    assert (face.upper, face.lower) == (True, False)  # neither reaches 0.5; the eyes have more covered
    face = judge(0.1, {"hand": 0.9}, {"right_eye": 0.9, "mouth": 0.9})
    assert face.occluded is False and (face.upper, face.lower) == (False, False)


# -- advice -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "occluders, parts, advice",
    [
        ({"sunglasses": 0.8}, {"right_eye": 0.6, "left_eye": 0.6}, ["Remove your sunglasses."]),
        ({"mask": 0.9}, {"nose": 0.5, "mouth": 0.7, "chin": 0.6}, ["Remove your face mask."]),
        ({"hand": 0.7}, {"mouth": 0.5, "chin": 0.4}, ["Move your hand away from your mouth and chin."]),
        (
            {"hand": 0.7},
            {"right_eye": 0.5, "left_eye": 0.4, "nose": 0.35},
            ["Move your hand away from your eyes and nose."],
        ),
        (
            {"hand": 0.5},
            {"right_eye": 0.5, "nose": 0.5, "mouth": 0.5, "chin": 0.5},
            ["Move your hand away from your eyes, nose, mouth and chin."],
        ),
        ({"hand": 0.7}, {"mouth": 0.2}, ["Move your hand away from your face."]),  # no part reaches part_threshold
        ({"other": 0.6}, {"mouth": 0.4}, [OTHER_ADVICE.format("mouth")]),
        ({"other": 0.6}, {}, [OTHER_ADVICE.format("face")]),
        (
            {"mask": 0.4, "hand": 0.49},
            {"nose": 0.3},
            [OTHER_ADVICE.format("nose")],
        ),  # no type is sure: the general advice
        ({"mask": 0.9, "sunglasses": 0.8}, {}, ["Remove your face mask.", "Remove your sunglasses."]),  # mask first
        ({"other": 0.9, "mask": 0.55}, {}, [OTHER_ADVICE.format("face"), "Remove your face mask."]),  # as labelled
        ({"mask": 0.9, "other": 0.6}, {"mouth": 0.5}, ["Remove your face mask.", OTHER_ADVICE.format("mouth")]),
        ({"eyeglasses": 0.9}, {"left_eye": 0.3}, [OTHER_ADVICE.format("eyes")]),  # glasses do not count by default
    ],
)
def test_advice_names_the_occluder_and_the_covered_parts(occluders, parts, advice):
    face = judge(0.9, occluders, parts)
    assert face.occluded is True and face.advice == advice


def test_hand_advice_leaves_out_the_eyes_when_only_the_lower_face_is_covered():
    face = FaceResult(
        box=[0, 0, 99, 99],
        det_score=0.9,
        landmarks=[[0.0, 0.0]] * 5,
        occluded=True,
        occluders={"hand": 0.9},
        parts={"right_eye": 0.5, "nose": 0.1, "mouth": 0.5},
        upper=False,
        lower=True,
    )
    assert advice_for(face, PolicyOptions()) == ["Move your hand away from your mouth."]
    face.upper = True
    assert advice_for(face, PolicyOptions()) == ["Move your hand away from your eyes and mouth."]
    assert advice_for(face, PolicyOptions(part_threshold=0.6)) == ["Move your hand away from your face."]
    assert advice_for(face, PolicyOptions(type_threshold=0.95)) == [OTHER_ADVICE.format("eyes and mouth")]


# -- the image border -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut, occludes",
    [
        ({"nose": 0.2}, True),  # border_part_cut 0.2 is enough (>=)
        ({"nose": 0.19}, False),
        ({"right_eye": 0.5, "chin": 0.0}, True),
        ({"left_eye": 0.25, "mouth": 0.1}, True),
        ({"mouth": 0.21}, True),
        ({"chin": 1.0}, False),  # a cut chin is left to the network
        ({"chin": 1.0, "face": 0.6}, False),
        ({}, False),
    ],
)
def test_border_occludes_when_it_cuts_an_eye_the_nose_or_the_mouth(cut, occludes):
    assert border_occludes(cut, PolicyOptions()) is occludes


def test_border_part_cut_option():
    assert border_occludes({"mouth": 0.3}, PolicyOptions(border_part_cut=0.5)) is False
    assert border_occludes({"mouth": 0.5}, PolicyOptions(border_part_cut=0.5)) is True
    assert border_occludes({"right_eye": 0.05}, PolicyOptions(border_part_cut=0.05)) is True
