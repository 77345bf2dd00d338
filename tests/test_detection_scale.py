"""Detection that follows the photo: automatic scale, tiles, coarse passes, reduced JPEG decoding, min_face_px.

The photos are generated (faceocc.evaluate.bench.group_photo: the astronaut's face pasted onto textures), no data
needed.
"""

import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceocc import Analyzer, AnalyzerOptions, DetectorOptions, FaceDetector, pipeline
from faceocc.detection import TILE_OVERLAP, _tile_spans
from faceocc.evaluate import bench
from faceocc.evaluate.bench import encode_jpeg, group_photo, matched_faces


@pytest.fixture(scope="module")
def group():
    """2400 x 1800, 9 faces of about 90 px (clean and sunglasses: the kinds found reliably at 45 px)."""
    return group_photo(2400, 1800, 9, 90.0, seed=0, kinds=["clean", "sunglasses"])


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(AnalyzerOptions(threads=1))


def _count(detector, image, truth):
    faces = detector.detect(image)
    return int(matched_faces([f.box for f in faces], truth).sum()), len(faces)


def test_default_finds_every_face_of_a_group_photo_the_fixed_320_mode_fewer(group):
    image, truth, _ = group
    assert _count(FaceDetector(DetectorOptions(threads=1)), image, truth) == (9, 9)
    found, _ = _count(FaceDetector(DetectorOptions(max_side=320, threads=1)), image, truth)
    assert found < 9
    assert FaceDetector(DetectorOptions.fast()).options.max_side == 320


def test_tiles_merge_duplicates_at_the_seams(group):
    image, truth, _ = group
    detector = FaceDetector(DetectorOptions(threads=1, tile_side=320, max_pass_side=320))
    plan = detector.plan(2400, 1800)
    assert plan.tiles[0] > 1 and plan.scales[0] == 0.5
    # some faces straddle a seam: a tile edge inside the photo cuts their box at the tile scale
    edges = {e for s, n in _tile_spans(1200, 320) for e in (s, s + n)} - {0, 1200}
    cut = [b for b in truth * 0.5 if any(b[0] < e < b[2] for e in edges)]
    assert cut
    faces = detector.detect(image)
    hits = [int(matched_faces([f.box], truth).sum()) for f in faces]
    per_face = [int(matched_faces([f.box for f in faces], truth[i : i + 1]).sum()) for i in range(len(truth))]
    assert len(faces) == 9 and hits == [1] * 9 and per_face == [1] * 9  # every face once, nothing twice
    # and whole: each box is the one the untiled pass finds, not a part cut at a seam
    whole = np.array([f.box for f in FaceDetector(DetectorOptions(threads=1)).detect(image)])
    assert all(matched_faces(whole, f.box[None], iou=0.8)[0] for f in faces)


def test_tile_spans_cover_with_overlap():
    for length in (321, 1000, 1200, 2000, 5657):
        spans = _tile_spans(length, 1024)
        assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == length
        assert all(n <= max(1024, length if len(spans) == 1 else 0) for _, n in spans)
        for (a, n), (b, _) in zip(spans, spans[1:]):
            assert a + n - b >= TILE_OVERLAP


def test_640x480_runs_one_pass_like_the_fast_mode():
    photo = bench.test_photo()
    auto = FaceDetector(DetectorOptions(threads=1))
    plan = auto.plan(640, 480)
    assert plan.scales == [0.5] and plan.runs == 1 and plan.min_face_px == 64
    calls = []
    run = auto.session.run
    auto.session = type("Counting", (), {"run": lambda self, *a: calls.append(1) or run(*a)})()
    faces = auto.detect(photo)
    assert len(calls) == 1
    fast = FaceDetector(DetectorOptions(max_side=320, threads=1)).detect(photo)
    assert len(faces) == len(fast) == 1
    np.testing.assert_allclose(faces[0].box, fast[0].box, atol=1e-3)


def test_large_photos_get_coarser_passes_and_large_faces_are_found():
    detector = FaceDetector(DetectorOptions(threads=1))
    plan = detector.plan(4000, 3000)
    assert plan.scales == [0.5, 0.125] and plan.runs == 2
    # a face of about 1045 x 1320 px: 522 px at half resolution, too large for that pass; the 1/8 pass finds it
    import cv2
    import skimage.data

    crop = cv2.resize(skimage.data.astronaut()[45:200, 160:290], None, fx=11, fy=11, interpolation=cv2.INTER_CUBIC)
    image = np.full((1800, 2400, 3), 127, np.uint8)
    image[40 : 40 + crop.shape[0], 400 : 400 + crop.shape[1]] = crop
    expected = FaceDetector(DetectorOptions(max_side=480)).detect(image)
    assert detector.plan(2400, 1800).scales == [0.5, 0.125]
    faces = detector.detect(image)
    assert len(expected) == 1 and len(faces) == 1 and faces[0].size > 900
    np.testing.assert_allclose(faces[0].box, expected[0].box, atol=60)  # 5% of the face


def test_min_face_px_in_the_result_and_json(analyzer, group):
    photo = encode_jpeg(bench.test_photo())
    result = analyzer.analyze(photo)
    assert result.min_face_px == 64 and json.loads(result.to_json())["min_face_px"] == 64
    assert analyzer.min_face_px(2400, 1800) == 64
    assert Analyzer(AnalyzerOptions(detector=DetectorOptions(max_side=320))).min_face_px(2400, 1800) == 240
    assert Analyzer(AnalyzerOptions(detector=DetectorOptions(smallest_face=32))).min_face_px(2400, 1800) == 32
    assert analyzer.analyze(b"nope", raise_errors=False).to_dict()["min_face_px"] is None


def test_options_that_exclude_each_other():
    with pytest.raises(ValueError, match="exclude"):
        DetectorOptions(max_side=640, smallest_face=32)
    with pytest.raises(ValueError, match="tile_side"):
        DetectorOptions(tile_side=100)
    assert DetectorOptions().automatic and not DetectorOptions.fast().automatic


def _decodes(monkeypatch):
    calls = []
    real = pipeline.decode

    def spy(data, name="<bytes>", reduce=1, **kwargs):
        calls.append(reduce)
        return real(data, name, reduce, **kwargs)

    monkeypatch.setattr(pipeline, "decode", spy)
    return calls


def test_big_jpeg_is_decoded_reduced_and_cropped_from_full_pixels_only_when_needed(analyzer, group, monkeypatch):
    calls = _decodes(monkeypatch)
    big_face = encode_jpeg(group_photo(2400, 1800, 1, 500.0, seed=2, kinds=["clean"])[0])
    reduced = analyzer.analyze(big_face)
    assert calls == [2]  # half resolution is all the detector and the crop need
    small_faces = encode_jpeg(group[0])
    grouped = analyzer.analyze(small_faces)
    assert calls == [2, 2, 1]  # 90 px faces: their crops come from the full-resolution pixels
    assert len(grouped.faces) == 9 and (grouped.width, grouped.height) == (2400, 1800)
    monkeypatch.setattr(pipeline, "REDUCED_DECODE_PIXELS", 10**12)
    for data, got in ((big_face, reduced), (small_faces, grouped)):
        full = analyzer.analyze(data)
        assert len(full.faces) == len(got.faces)
        for a, b in zip(sorted(full.faces, key=lambda f: f.box), sorted(got.faces, key=lambda f: f.box)):
            np.testing.assert_allclose(a.box, b.box, atol=3)
            assert abs(a.occlusion_score - b.occlusion_score) < 0.1 and a.occluded == b.occluded


def test_reduced_decode_keeps_exif_rotation(analyzer, monkeypatch):
    image = group_photo(2400, 1800, 1, 500.0, seed=2, kinds=["clean"])[0]
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: decoders must turn it upright (1800 x 2400)
    Image.fromarray(np.ascontiguousarray(np.rot90(image, 1))).save(buf, "JPEG", exif=exif, quality=90)
    calls = _decodes(monkeypatch)
    result = analyzer.analyze(buf.getvalue())
    assert calls == [2] and (result.width, result.height) == (2400, 1800)
    expected = analyzer.analyze(encode_jpeg(image))
    np.testing.assert_allclose(result.faces[0].box, expected.faces[0].box, atol=4)


def test_cli_fast_and_the_summary_line(tmp_path):
    from faceocc.cli import app

    path = tmp_path / "p.jpg"
    path.write_bytes(encode_jpeg(bench.test_photo()))
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", str(path), "--jsonl", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    assert "faces of 64 px and larger were searched for" in res.output
    res = runner.invoke(app, ["analyze", str(path), "--fast", "--jsonl", str(tmp_path / "f.jsonl")])
    assert res.exit_code == 0 and json.loads((tmp_path / "f.jsonl").read_text())["min_face_px"] == 64
    res = runner.invoke(app, ["analyze", str(path), "--fast", "--smallest-face", "32"])
    assert res.exit_code == 2 and "--smallest-face" in res.output


def test_masked_faces_of_a_group_photo_are_found_by_the_default_second_look():
    """Masked faces of ~110 px at half resolution score below 0.6; the second look (from 0.2) confirms them."""
    image, truth, _ = group_photo(2400, 1800, 6, 110.0, seed=0, kinds=["mask"])
    found, reported = _count(FaceDetector(DetectorOptions(threads=1)), image, truth)
    assert found >= 5 and reported == found  # no false face either
    without, _ = _count(FaceDetector(DetectorOptions(threads=1, candidate_threshold=0.6)), image, truth)
    assert without <= 3
