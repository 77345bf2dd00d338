"""The second look at low-scoring candidates (DetectorOptions.candidate_threshold) and the box merge it relies on."""

import numpy as np

from faceocc import DetectorOptions, FaceDetector
from faceocc.boxes import merge
from faceocc.evaluate import bench
from faceocc.fallback import second_look


def test_a_low_scoring_box_around_a_face_drops_nothing_in_the_merge():
    boxes = np.array([[0, 0, 400, 400], [100, 100, 180, 180]], np.float32)
    points = np.zeros((2, 5, 2), np.float32)
    kept, _, _ = merge(boxes, np.array([0.3, 0.9], np.float32), points, 0.4, sure=0.6)
    assert len(kept) == 2  # the 0.3 box is only a candidate: the face inside it stays
    kept, _, _ = merge(boxes, np.array([0.9, 0.8], np.float32), points, 0.4, sure=0.6)
    assert len(kept) == 1  # a sure large face still drops a part of it


def test_second_look_confirms_a_face_and_not_a_blank_patch():
    photo = bench.test_photo()
    detector = FaceDetector(DetectorOptions(threads=1))
    face = detector.detect(photo)[0]
    blank = np.array([[10, 10, 60, 60]], np.float32)
    looks = second_look(photo, (1.0, 1.0), np.stack([face.box, blank[0]]), detector._network, 0.6, 64)
    assert looks[0] is not None and looks[1] is None
    box = looks[0][0][0]
    assert np.abs(box - face.box).max() < 0.1 * face.size
    opted_in = FaceDetector(DetectorOptions(threads=1, candidate_threshold=0.1)).detect(photo)
    assert len(opted_in) == 1


def test_a_face_only_centerface_confirmed_does_not_stop_the_fallback():
    detector = FaceDetector(DetectorOptions(threads=1))
    box = np.array([[10, 10, 110, 110]], np.float32)
    assert detector._wants_fallback(box, np.array([0.35], np.float32))  # below score_threshold: look again
    assert not detector._wants_fallback(box, np.array([0.9], np.float32))
    assert detector._wants_fallback(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
