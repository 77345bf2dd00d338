"""Inputs that must work or fail clearly, through the Python API."""

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from faceocc import Analyzer, AnalyzerOptions, InputError, PolicyOptions
from faceocc.io import expand_inputs, load_image


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(AnalyzerOptions(threads=1, keep_maps=True))


def _jpeg_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    """Store the image rotated so that EXIF orientation ``orientation`` restores it."""
    stored = {6: np.rot90(rgb, 1), 8: np.rot90(rgb, -1), 3: rgb[::-1, ::-1]}[orientation]
    im = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=92)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_is_upright(astronaut, tmp_path, orientation):
    path = tmp_path / f"rot{orientation}.jpg"
    path.write_bytes(_jpeg_with_orientation(astronaut, orientation))
    image = load_image(path)
    assert image.shape == astronaut.shape
    assert np.abs(image.astype(int) - astronaut).mean() < 6


def test_formats_decode_to_rgb(astronaut, tmp_path):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([astronaut, np.full(gray.shape, 255, np.uint8)])).save(tmp_path / "alpha.png")
    cv2.imwrite(str(tmp_path / "sixteen.png"), (astronaut[:, :, ::-1].astype(np.uint16) * 257))
    Image.fromarray(astronaut).save(tmp_path / "photo.webp", quality=90)
    for name in ("gray.png", "alpha.png", "sixteen.png", "photo.webp"):
        image = load_image(tmp_path / name)
        assert image.shape == astronaut.shape and image.dtype == np.uint8, name
    np.testing.assert_array_equal(load_image(tmp_path / "sixteen.png"), astronaut)
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.png"), astronaut)


def test_bad_inputs_name_the_file(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(good, "JPEG")
    (tmp_path / "truncated.jpg").write_bytes(good.getvalue()[:40])
    for name, words in (
        ("notes.jpg", "not a readable image"),
        ("empty.png", "empty file"),
        ("truncated.jpg", "not a readable image"),
        ("missing.jpg", "no such file"),
    ):
        with pytest.raises(InputError, match=words) as err:
            load_image(tmp_path / name)
        assert name in str(err.value)


def test_analyze_astronaut_contract(analyzer, astronaut):
    result = analyzer.analyze(astronaut)
    assert (result.width, result.height, result.error) == (512, 512, None)
    assert len(result.faces) == 1
    face = result.to_dict()["faces"][0]
    assert set(face) >= {
        "box",
        "det_score",
        "landmarks",
        "occluded",
        "occlusion_score",
        "occluders",
        "parts",
        "upper",
        "lower",
        "coverage",
        "usable",
        "advice",
    }
    assert set(face["occluders"]) == {"mask", "sunglasses", "eyeglasses", "hand", "other"}
    assert set(face["parts"]) == {"right_eye", "left_eye", "nose", "mouth", "chin"}
    assert 0 <= face["occlusion_score"] <= 1 and 0 <= face["coverage"] <= 1
    assert face["usable"] == (not face["occluded"])
    json.dumps(result.to_dict(include_map=True))
    assert set(result.timings) == {"decode", "detect", "align", "classify"}


def test_inputs_paths_arrays_pil_bytes_and_batches_agree(analyzer, astronaut, tmp_path):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    results = analyzer([str(path), astronaut, Image.fromarray(astronaut), path.read_bytes()])
    scores = [r.faces[0].occlusion_score for r in results]
    assert max(scores) - min(scores) < 1e-4
    assert results[0].path == str(path)


def test_no_face_is_empty_not_error(analyzer):
    result = analyzer.analyze(np.full((240, 320, 3), 200, np.uint8))
    assert result.faces == [] and result.error is None


def test_tiny_face_is_not_assessable(astronaut):
    small = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)  # face ~30 px
    a = Analyzer(AnalyzerOptions(threads=1, policy=PolicyOptions(min_face_size=40)))
    faces = a.analyze(small).faces
    assert len(faces) == 1
    assert faces[0].assessable is False and faces[0].occluded is None and faces[0].usable is False
    assert "too small" in faces[0].reason and faces[0].advice


def test_border_cut_face_counts_as_occluded(analyzer, astronaut):
    cut = astronaut[:150].copy()  # cuts through the mouth and chin
    faces = analyzer.analyze(cut).faces
    assert faces, "the detector still finds the cut face"
    assert faces[0].occluded and faces[0].parts["chin"] > 0.5 and faces[0].lower


def test_tight_crop_of_a_whole_face_is_not_occluded_by_its_border(analyzer, astronaut, astronaut_face):
    """A face crop that keeps eyes, nose and mouth whole (as face datasets hand them over) is not cut by its border,
    although the canonical crop reaches beyond the photo; a cut through the eyes still is."""
    from faceocc.alignment import CROP_SIZE, crop_validity, estimate_transform, part_fractions
    from faceocc.policy import PolicyOptions, border_occludes

    lm = astronaut_face.landmarks
    iod, em = lm[1, 0] - lm[0, 0], lm[3:, 1].mean() - lm[:2, 1].mean()
    x1, x2 = int(lm[:2, 0].mean() - 1.0 * iod), int(lm[:2, 0].mean() + 1.0 * iod)
    y1, y2 = int(lm[:2, 1].mean() - 0.6 * em), int(lm[3:, 1].mean() + 0.6 * em)
    tight = astronaut[y1:y2, x1:x2].copy()  # brows to chin, cheek to cheek
    faces = analyzer.analyze(tight).faces
    assert faces, "the detector finds the face of a tight crop"
    lm = faces[0].landmarks
    cut = part_fractions(1.0 - crop_validity(tight.shape, estimate_transform(lm, CROP_SIZE)))
    assert cut["face"] > 0.01, "the canonical crop does reach beyond the tight crop"
    assert not border_occludes(cut, PolicyOptions())
    eyes_y = int(round(astronaut_face.landmarks[:2, 1].mean()))
    through_eyes = part_fractions(
        1.0 - crop_validity(astronaut[eyes_y:].shape, estimate_transform(astronaut_face.landmarks - [0, eyes_y]))
    )
    assert border_occludes(through_eyes, PolicyOptions())


def test_crop_validity_matches_a_full_size_warp(astronaut_face):
    """Back-projecting the crop's pixels gives the mask a warp of the whole photo gives, at the crop's cost."""
    from faceocc.alignment import CROP_SIZE, crop_validity, estimate_transform

    shape = (300, 512)
    m = estimate_transform(astronaut_face.landmarks - [0, 60], CROP_SIZE)
    fast = crop_validity(shape, m, CROP_SIZE)
    slow = cv2.warpAffine(
        np.ones(shape, np.float32),
        m,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    assert 0.05 < 1 - fast.mean() < 0.95
    assert np.mean(fast != slow) < 0.01  # only pixels on the edge line may differ


def test_batch_goes_on_after_a_bad_file(analyzer, astronaut, tmp_path):
    Image.fromarray(astronaut).save(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    results = list(analyzer.analyze_many([tmp_path / "b.jpg", tmp_path / "a.jpg"]))
    assert results[0].error and "b.jpg" in results[0].error
    assert results[1].error is None and len(results[1].faces) == 1


def test_expand_inputs_directories_globs_and_missing(tmp_path, astronaut):
    (tmp_path / "sub").mkdir()
    for name in ("x.jpg", "sub/y.png", "sub/readme.txt"):
        (tmp_path / name).write_bytes(b"0")
    files, missing = expand_inputs([str(tmp_path), str(tmp_path / "*.jpg"), str(tmp_path / "nope.jpg")])
    assert sorted(p.name for p in files) == ["x.jpg", "y.png"]
    assert missing == [(str(tmp_path / "nope.jpg"), "no such file or directory")]


def test_video_frames_have_time(analyzer, astronaut, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(6):
        writer.write(astronaut[:, :, ::-1])
    writer.release()
    records = list(analyzer.analyze_video(path, every_n=2))
    assert [r.frame for r in records] == [0, 2, 4]
    assert [r.time_s for r in records] == [0.0, 0.2, 0.4]
    assert all(len(r.faces) == 1 for r in records)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="broken.mp4"):
        list(analyzer.analyze_video(tmp_path / "broken.mp4"))


def test_every_exif_orientation_and_channel_order_is_upright_rgb():
    """The OpenCV operations that make a decoded image upright and RGB give what the EXIF orientations and the numpy
    definitions say, as contiguous arrays (gray, RGB, RGBA, 16-bit)."""
    from faceocc.io import _ORIENT, _decode_with_cv2

    numpy_way = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.rot90(a[:, ::-1], 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a[:, ::-1], -1),
        8: lambda a: np.rot90(a, 1),
    }
    rng = np.random.default_rng(0)
    for shape, dtype in (((5, 7), np.uint16), ((5, 7, 3), np.uint8), ((6, 9, 4), np.uint8)):
        image = rng.integers(0, 200, shape).astype(dtype)
        for orientation, expected in numpy_way.items():
            upright = _ORIENT[orientation](image)
            assert upright.flags.c_contiguous and np.array_equal(upright, expected(image)), (orientation, shape)
    bgr = rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)
    ok, png = cv2.imencode(".png", bgr)
    assert np.array_equal(_decode_with_cv2(png.tobytes(), 1), bgr[:, :, ::-1])
