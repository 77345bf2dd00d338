"""Annotated images: the caption and the whole advice come from the face's decision, are wrapped inside the image,
and a legend says what the numbers mean (issue 17, point 3). No model is run: faces are decided by policy.decide
from made-up measurements."""

from __future__ import annotations

import numpy as np
import pytest

from faceocc.draw import MARGIN, caption, draw_result, face_layout, layout, legend_lines, wrap_text
from faceocc.measurement import FaceMeasurement, ModelScores
from faceocc.policy import PolicyOptions, decide
from faceocc.schema import ImageResult

ADVICE = "Make sure nothing covers your eyes, nose and mouth (hair, scarf, phone or other objects)."


def _face(box, occluders, score=0.9, parts=None, det_score=0.99):
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    landmarks = np.float32(
        [[x1 + 0.3 * w, y1 + 0.4 * h], [x1 + 0.7 * w, y1 + 0.4 * h], [x1 + 0.5 * w, y1 + 0.6 * h]]
        + [[x1 + 0.35 * w, y1 + 0.8 * h], [x1 + 0.65 * w, y1 + 0.8 * h]]
    )
    parts = parts or {"right_eye": 0.6, "left_eye": 0.6, "nose": 0.7, "mouth": 0.8, "chin": 0.5}
    scores = ModelScores(
        score, {"mask": 0, "sunglasses": 0, "eyeglasses": 0, "hand": 0, "other": 0, **occluders}, parts, 0.5
    )
    m = FaceMeasurement(box=tuple(map(float, box)), det_score=det_score, landmarks=landmarks, scores=scores)
    return decide(m, PolicyOptions(), 0.5)


def _inside(box, size):
    w, h = size
    return box.x >= 0 and box.y >= 0 and box.right <= w and box.bottom <= h


def test_wrap_text_keeps_every_word_and_fits():
    lines = wrap_text(ADVICE, 120, 0.5)
    assert len(lines) > 2
    assert " ".join(lines) == ADVICE
    from faceocc.draw import _text_width

    assert all(_text_width(line, 0.5) <= 120 for line in lines)


def test_wrap_text_splits_a_word_longer_than_the_line():
    word = "Supercalifragilisticexpialidocious"
    lines = wrap_text(f"a {word} b", 60, 0.5)
    assert "".join(lines).replace(" ", "") == f"a{word}b"
    assert len(lines) >= 3


def test_whole_advice_is_laid_out_inside_the_image_at_the_right_edge():
    """The advice used to be one sentence, drawn from the box's left edge and clipped at the image's right edge."""
    size = (320, 240)
    face = _face((230, 60, 315, 160), {"mask": 0.9, "other": 0.8})
    assert face.occluded and len(face.advice) == 2  # "Remove your face mask." and the 'other' sentence
    boxes = face_layout(face, size)
    assert all(_inside(b, size) for b in boxes)
    cap, advice = boxes
    assert " ".join(advice.lines) == " ".join(face.advice)


def test_caption_and_advice_come_from_the_same_decision():
    face = _face((60, 40, 200, 190), {"mask": 0.55, "other": 0.6})
    assert face.occluder == "other"
    text, _ = caption(face)
    assert text.startswith("occluded: other 0.90") and "cov 50%" in text
    cap, advice = face_layout(face, (400, 300))
    assert cap.lines == (text,)
    assert " ".join(advice.lines) == " ".join(face.advice)  # every sentence, not the mask one alone


def test_clear_and_not_assessable_captions():
    clear = _face((60, 40, 200, 190), {"eyeglasses": 0.8}, score=0.29)
    assert caption(clear)[0] == "clear 0.29, eyeglasses" and not clear.advice
    small = _face((10, 10, 30, 30), {}, det_score=0.99)
    assert caption(small)[0] == "not assessable"
    _, advice = face_layout(small, (200, 200))  # its advice (a better photo) is drawn too
    assert " ".join(advice.lines) == " ".join(small.advice)


def test_legend_names_the_score_and_the_threshold():
    assert "occlusion probability" in legend_lines()[0] and "0.55" not in legend_lines()[0]
    face = _face((60, 40, 200, 190), {"hand": 0.9})
    size = (400, 300)
    boxes = layout([face], size, threshold=0.55)
    legend = boxes[-1]
    assert legend.lines[0] == "score = occlusion probability (0-1), occluded from 0.55"
    assert legend.x == MARGIN and legend.bottom == size[1] - MARGIN
    assert layout([], size) == []  # no faces, no legend


@pytest.mark.parametrize("size", [(160, 120), (640, 480)])
def test_drawn_pixels_are_the_laid_out_boxes(size):
    w, h = size
    face = _face((int(w * 0.6), int(h * 0.3), int(w * 0.95), int(h * 0.7)), {"mask": 0.9, "other": 0.8})
    image = np.full((h, w, 3), 128, np.uint8)
    drawn = draw_result(image, ImageResult("x.png", w, h, faces=[face]), threshold=0.5)
    assert drawn.shape == image.shape and (image == 128).all()  # a copy; the input is left alone
    changed = (drawn != image).any(axis=2)
    allowed = np.zeros_like(changed)
    for b in layout([face], size, 0.5):
        assert _inside(b, size)
        allowed[b.y : b.bottom, b.x : b.right] = True
    x1, y1, x2, y2 = (int(v) for v in face.box)
    allowed[max(0, y1 - 6) : y2 + 7, max(0, x1 - 6) : x2 + 7] = True  # box outline and landmarks
    assert changed.sum() > 500 and not (changed & ~allowed).any()
