"""``faceocc.prepare`` detects with the score threshold it is given on every call (issue 15: its cached detector used
to keep the threshold of the first call for the life of the process, so a later, different threshold was ignored)."""

from __future__ import annotations

from faceocc.prepare import get_detector, prepare_image


def test_each_call_detects_at_its_own_score_threshold(astronaut):
    # the astronaut's face scores 0.9997: found at 0.5, not at 0.9999, whichever threshold came first
    assert prepare_image(astronaut, score_threshold=0.9999).error == "no face found"
    found = prepare_image(astronaut, score_threshold=0.5)
    assert found.error is None and 0.999 < found.det_score < 0.9999
    assert prepare_image(astronaut, score_threshold=0.9999).error == "no face found"


def test_one_detector_per_threshold():
    strict, loose = get_detector(0.97), get_detector(0.51)
    assert strict.options.score_threshold == 0.97 and loose.options.score_threshold == 0.51
    assert get_detector(0.97) is strict  # built once per process and threshold
    assert (strict.options.max_side, strict.options.min_face_size, strict.options.threads) == (640, 8, 1)
