import cv2
import numpy as np
import pytest

from faceocc.alignment import (
    CROP_SIZE,
    PART_NAMES,
    TEMPLATE,
    align_face,
    estimate_transform,
    part_fractions,
    part_masks,
    transform_points,
)
from faceocc.detection import DetectorOptions, FaceDetector, to_rgb_uint8

# Reference values measured on skimage.data.astronaut() (512 x 512, public domain).
ASTRONAUT_BOX = [178.0, 57.0, 273.0, 177.0]
ASTRONAUT_LEFT_EYE_IMAGE = [204.8, 100.8]


def test_detects_astronaut_face(astronaut):
    faces = FaceDetector().detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.99
    np.testing.assert_allclose(face.box, ASTRONAUT_BOX, atol=4)
    np.testing.assert_allclose(face.landmarks[0], ASTRONAUT_LEFT_EYE_IMAGE, atol=3)
    # the person's right eye is on the image's left, the nose between the eyes
    assert face.landmarks[0, 0] < face.landmarks[2, 0] < face.landmarks[1, 0]


def test_grayscale_rgba_16bit_and_large_inputs_work(astronaut):
    detector = FaceDetector()
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    sixteen = astronaut.astype(np.uint16) * 257
    big = cv2.resize(astronaut, (2048, 2048))
    for image, scale in ((gray, 1), (rgba, 1), (sixteen, 1), (big, 4)):
        faces = detector.detect(image)
        assert len(faces) == 1
        np.testing.assert_allclose(faces[0].box / scale, ASTRONAUT_BOX, atol=6)


def test_no_face_is_an_empty_list():
    assert FaceDetector().detect(np.full((300, 400, 3), 127, np.uint8)) == []
    assert FaceDetector().detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_min_face_size_and_options_validation(astronaut):
    assert FaceDetector(DetectorOptions(min_face_size=200)).detect(astronaut) == []
    with pytest.raises(ValueError, match="score_threshold"):
        DetectorOptions(score_threshold=2)


def test_to_rgb_composites_alpha_on_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert (to_rgb_uint8(rgba) == 255).all()


def test_alignment_puts_landmarks_on_template(astronaut, astronaut_face):
    matrix = estimate_transform(astronaut_face.landmarks)
    mapped = transform_points(astronaut_face.landmarks, matrix)
    assert np.abs(mapped - TEMPLATE).mean() < 3.5 and np.abs(mapped - TEMPLATE).max() < 7.0
    crop = align_face(astronaut, astronaut_face.landmarks)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    # the aligned crop of a face, redetected, has its eyes where the template says
    again = FaceDetector(DetectorOptions(score_threshold=0.5)).detect(
        cv2.copyMakeBorder(crop, 40, 40, 40, 40, cv2.BORDER_REPLICATE)
    )
    assert again and np.abs(again[0].landmarks[:2] - 40 - TEMPLATE[:2]).max() < 4.0


def test_part_regions_are_where_the_parts_are():
    masks = part_masks(CROP_SIZE)
    assert set(masks) == set(PART_NAMES) | {"face"}
    for name, (x, y) in zip(("right_eye", "left_eye", "nose"), TEMPLATE[:3]):
        assert masks[name][int(y), int(x)] > 0.9, name
    mouth = TEMPLATE[3:].mean(0)
    assert masks["mouth"][int(mouth[1]), int(mouth[0])] > 0.9
    for name in PART_NAMES:  # every part lies inside the inner face
        inside = (masks[name] * masks["face"]).sum() / masks[name].sum()
        assert inside > 0.9, name
    # covering the lower half of the crop covers mouth and chin, not the eyes
    occ = np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    occ[int(TEMPLATE[2, 1]) + 6 :] = 1
    fr = part_fractions(occ)
    assert fr["mouth"] > 0.95 and fr["chin"] > 0.95 and fr["right_eye"] == 0 and 0.2 < fr["face"] < 0.6
