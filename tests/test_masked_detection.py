"""The detector's fallback (DetectorOptions.fallback): faces RetinaFace misses are found again, face-free pictures stay
face-free, and the fallback's faces are ordinary detections.

Generated examples only (the bundled examples/astronaut_mask.jpg, skimage pictures); no data needed. The numbers on
real masked photos come from benchmarks/masked_detection.py.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceocc.centerface import CENTERFACE_PATH, CenterFace
from faceocc.detection import FALLBACKS, DetectorOptions, FaceDetector
from faceocc.fallback import unmirror
from faceocc.io import to_rgb_uint8

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _masked_face() -> np.ndarray:
    """The astronaut in a face mask, head and shoulders (180 x 220 px)."""
    return cv2.imread(str(EXAMPLES / "astronaut_mask.jpg"))[:, :, ::-1][20:240, 120:300].copy()


def _resize(image: np.ndarray, longest: int) -> np.ndarray:
    s = longest / max(image.shape[:2])
    size = (round(image.shape[1] * s), round(image.shape[0] * s))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


@pytest.fixture(scope="module")
def small_masked():
    """A 64 px photo of the masked astronaut (the face about 35 px): RetinaFace at the photo's own scale misses it."""
    return _resize(_masked_face()[:200, :170], 64)


@pytest.fixture(scope="module")
def masked_in_photo():
    """The masked astronaut, face about 60 px, in a 640 x 480 photo of coffee: RetinaFace misses it at any of its
    passes (best score about 0.05); CenterFace finds it (about 0.8). Returns the photo and where the head is."""
    import skimage.data

    photo = cv2.resize(to_rgb_uint8(skimage.data.coffee()), (640, 480), interpolation=cv2.INTER_AREA)
    head = _resize(_masked_face(), 150)
    y, x = 100, 200
    photo[y : y + head.shape[0], x : x + head.shape[1]] = head
    return photo, np.array([x, y, x + head.shape[1], y + head.shape[0]], np.float32)


@pytest.fixture(scope="module")
def detectors():
    return {name: FaceDetector(DetectorOptions(threads=1, fallback=name), device="cpu") for name in FALLBACKS}


def _inside(box: np.ndarray, region: np.ndarray) -> bool:
    return bool(np.all(box[:2] >= region[:2] - 4) and np.all(box[2:] <= region[2:] + 4))


def _landmarks_in_box(face) -> bool:
    margin = 0.1 * face.size
    return bool(np.all(face.landmarks >= face.box[:2] - margin) and np.all(face.landmarks <= face.box[2:] + margin))


def test_default_is_centerface_in_the_automatic_mode_and_options_are_checked():
    assert DetectorOptions().fallback_mode == "centerface" and FALLBACKS == ("none", "tta", "centerface")
    assert DetectorOptions.fast().fallback_mode == "none"  # the fixed mode stays as it was, unless asked
    assert DetectorOptions(max_side=640, fallback="tta").fallback_mode == "tta"
    bad_options = [{"fallback": "mtcnn"}, {"fallback_below": 1.5}, {"fallback_threshold": 0.0}]
    for bad in bad_options + [{"fallback_threshold": 1.2}, {"fallback_side": 16}]:
        with pytest.raises(ValueError):
            DetectorOptions(**bad)


def test_shipped_centerface_model():
    assert CENTERFACE_PATH.is_file() and 6e6 < CENTERFACE_PATH.stat().st_size < 8e6
    assert (CENTERFACE_PATH.parent / "CENTERFACE_LICENSE.md").is_file()


def test_enlarged_and_mirrored_retinaface_find_a_small_masked_face(detectors, small_masked):
    assert detectors["none"].detect(small_masked) == []
    faces = detectors["tta"].detect(small_masked)
    assert len(faces) == 1 and faces[0].score >= 0.6
    assert _landmarks_in_box(faces[0])


def test_centerface_finds_a_masked_face_retinaface_misses(detectors, masked_in_photo):
    photo, head = masked_in_photo
    assert detectors["none"].detect(photo) == []
    assert detectors["tta"].detect(photo) == []  # RetinaFace's mirrored pass misses it too
    runs = detectors["centerface"].fallback_runs
    faces = detectors["centerface"].detect(photo)
    assert detectors["centerface"].fallback_runs == runs + 1
    assert len(faces) == 1
    face = faces[0]
    assert face.score >= DetectorOptions().fallback_threshold and _inside(face.box, head)
    assert face.size >= 40 and face.box.dtype == np.float32 and face.landmarks.shape == (5, 2)
    assert _landmarks_in_box(face)
    eye_left, eye_right, nose, mouth_left, mouth_right = face.landmarks
    assert eye_left[0] < eye_right[0] and mouth_left[0] < mouth_right[0]  # the image-left point first
    assert max(eye_left[1], eye_right[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_fixed_mode_has_no_fallback_unless_asked(masked_in_photo):
    photo, head = masked_in_photo
    assert FaceDetector(DetectorOptions.fast(threads=1), device="cpu").detect(photo) == []
    options = DetectorOptions.fast(threads=1, fallback="centerface")
    faces = FaceDetector(options, device="cpu").detect(photo)
    assert len(faces) == 1 and _inside(faces[0].box, head)


def test_fallback_threshold_is_honoured(masked_in_photo):
    photo, _ = masked_in_photo
    strict = FaceDetector(DetectorOptions(threads=1, fallback="centerface", fallback_threshold=0.99), device="cpu")
    assert strict.detect(photo) == []


@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket", "brick", "grass", "gravel"])
def test_no_false_face_on_face_free_pictures(detectors, name):
    import skimage.data

    image = to_rgb_uint8(getattr(skimage.data, name)())
    detector = detectors["centerface"]
    runs = detector.fallback_runs
    assert detector.detect(image) == []
    assert detector.fallback_runs == runs + 1  # the fallback did look


def test_no_fallback_where_retinaface_finds_a_face(detectors, astronaut):
    detector = detectors["centerface"]
    runs = detector.fallback_runs
    faces = detector.detect(astronaut)
    assert detector.fallback_runs == runs
    plain = detectors["none"].detect(astronaut)
    assert [(f.box.tolist(), f.score) for f in faces] == [(f.box.tolist(), f.score) for f in plain]


def test_fallback_on_a_reduced_decode_returns_photo_pixels(masked_in_photo):
    photo, head = masked_in_photo
    detector = FaceDetector(DetectorOptions(threads=1), device="cpu")
    half = cv2.resize(photo, (320, 240), interpolation=cv2.INTER_AREA)
    faces = detector.detect(half, original_size=(640, 480), input_scale=0.5)
    assert len(faces) == 1 and _inside(faces[0].box, head)


def test_centerface_alone_on_the_astronaut(astronaut, astronaut_face):
    boxes, scores, points = CenterFace(threads=1, device="cpu").detect(astronaut, 0.5)
    assert len(boxes) == 1 and scores[0] > 0.5
    iw = min(boxes[0, 2], astronaut_face.box[2]) - max(boxes[0, 0], astronaut_face.box[0])
    ih = min(boxes[0, 3], astronaut_face.box[3]) - max(boxes[0, 1], astronaut_face.box[1])
    union = np.prod(boxes[0, 2:] - boxes[0, :2]) + astronaut_face.width * astronaut_face.height - iw * ih
    assert iw * ih / union > 0.6
    assert np.abs(points[0] - astronaut_face.landmarks).max() < 0.15 * astronaut_face.size


def test_unmirror_is_its_own_inverse():
    rng = np.random.default_rng(0)
    x1y1 = rng.uniform(0, 50, (3, 2))
    boxes = np.hstack([x1y1, x1y1 + rng.uniform(10, 40, (3, 2))]).astype(np.float32)
    points = rng.uniform(0, 90, (3, 5, 2)).astype(np.float32)
    once_boxes, once_points = unmirror(boxes, points, 100)
    assert np.all(once_boxes[:, 2] > once_boxes[:, 0])
    back_boxes, back_points = unmirror(once_boxes, once_points, 100)
    np.testing.assert_allclose(back_boxes, boxes, atol=1e-4)
    np.testing.assert_allclose(back_points, points, atol=1e-4)


def test_fallback_passes_bound_the_cost():
    detector = FaceDetector(DetectorOptions(threads=1), device="cpu")
    passes, centerface = detector.fallback_passes(192, 192)  # small: enlarged 2x, plain and mirrored, and mirrored
    assert passes == [(2.0, False), (2.0, True), (1.0, True)] and centerface == 1.0
    passes, centerface = detector.fallback_passes(4000, 3000)  # large: one mirrored pass and CenterFace at 640 px
    assert passes == [(0.16, True)] and centerface == 0.16
    tta = FaceDetector(DetectorOptions(threads=1, fallback="tta"), device="cpu")
    assert tta.fallback_passes(640, 480) == ([(0.5, True)], None)
