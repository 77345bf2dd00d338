"""Videos as videos: tracks, smoothing, per-track summaries, streams, optical-flow frames, providers."""

from __future__ import annotations

import csv
import json
import threading

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faceocc import runtime
from faceocc.cli import app
from faceocc.io import VideoReader, camera_index, is_stream, iter_video
from faceocc.measurement import FaceMeasurement, ModelScores
from faceocc.policy import PolicyOptions, decide
from faceocc.tracking import TRACK_CSV_FIELDS, Tracker, smooth_scores

runner = CliRunner()
W, H = 480, 360


@pytest.fixture(scope="module")
def analyzer():
    from faceocc.pipeline import Analyzer

    return Analyzer(threads=1, device="cpu")


@pytest.fixture(scope="module")
def face_patch(astronaut):
    return astronaut


def _frame(face, places, sunglasses=False):
    """A gray W x H frame with the astronaut at each (x, y, side, angle) of ``places``; sunglasses painted on."""
    canvas = np.full((H, W, 3), 127, np.uint8)
    for x, y, side, angle in places:
        patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        m[:, 2] += [x, y]
        warped = cv2.warpAffine(patch, m, (W, H), borderValue=(0, 0, 0))
        inside = cv2.warpAffine(np.ones((side, side), np.uint8), m, (W, H)).astype(bool)
        canvas[inside] = warped[inside]
        if sunglasses:  # the astronaut's eyes lie at about (0.40, 0.20) and (0.48, 0.20) of the photo
            for ex, ey in ((0.399, 0.198), (0.48, 0.203)):
                centre = m @ np.array([ex * side, ey * side, 1.0])
                axes = (int(0.033 * side), int(0.02 * side))
                cv2.ellipse(canvas, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, (10, 10, 10), -1)
    return canvas


def _write(path, frames, fps=10.0):
    """An MJPG clip of RGB ``frames`` (all of one size) at ``path``; also used by test_video_live."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    for f in frames:
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory, face_patch):
    """20 frames: one face moving right 5 px a frame and turning slowly."""
    frames = [_frame(face_patch, [(40 + 5 * i, 30, 300, 0.4 * i)]) for i in range(20)]
    return _write(tmp_path_factory.mktemp("v") / "moving.avi", frames)


@pytest.fixture(scope="module")
def sunglasses_clip(tmp_path_factory, face_patch):
    """12 frames: a clean face growing (frames 0-5, largest at 5), then wearing sunglasses (frames 6-11)."""
    frames = [_frame(face_patch, [(60, 10, 260 + 12 * i, 0)]) for i in range(6)]
    frames += [_frame(face_patch, [(60, 10, 320, 0)], sunglasses=True) for _ in range(6)]
    return _write(tmp_path_factory.mktemp("v") / "sunglasses.avi", frames)


def _centre_x(face):
    return (face.box[0] + face.box[2]) / 2


# -- tracks ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("detect_every", [1, 5])
def test_track_id_stays_with_a_moving_face(analyzer, moving_clip, detect_every):
    # the whole photo moves (a pan): early entry would run the detector every ENTRY_GAP frames; here the schedule
    run = analyzer.analyze_video(moving_clip, detect_every=detect_every, early_entry=False)
    records = list(run)
    assert [r.frame for r in records] == list(range(20))  # every frame gets its result
    assert all(len(r.faces) == 1 for r in records)
    assert {r.faces[0].track_id for r in records} == {0}
    truth = []  # where the face's centre is: (0.44, 0.23) of the photo, moved and turned as _frame does
    for i in range(20):
        m = cv2.getRotationMatrix2D((150, 150), 0.4 * i, 1.0)
        truth.append((m @ [0.44 * 300, 0.23 * 300, 1.0])[0] + 40 + 5 * i)
    x = np.array([_centre_x(r.faces[0]) for r in records])
    error = x - np.array(truth)
    assert np.abs(error - error.mean()).max() < 3, error  # the box follows the face
    assert run.detector_runs == (20 if detect_every == 1 else 4)
    assert json.loads(records[3].to_json())["faces"][0]["track_id"] == 0


def test_flow_frames_match_detected_frames(analyzer, moving_clip):
    """Landmarks carried by optical flow land where the detector finds them (within 2 px on a 50 px face)."""
    detected = list(analyzer.analyze_video(moving_clip, detect_every=1))
    tracked = list(analyzer.analyze_video(moving_clip, detect_every=10))
    for d, t in zip(detected, tracked):
        diff = np.abs(np.array(d.faces[0].landmarks) - np.array(t.faces[0].landmarks))
        assert diff.mean() < 2.0, (d.frame, diff)


def test_two_faces_keep_distinct_ids(analyzer, tmp_path, face_patch):
    frames = [_frame(face_patch, [(-20 + 3 * i, 40, 260, 0), (200 - 3 * i, 60, 260, 0)]) for i in range(12)]
    clip = _write(tmp_path / "two.avi", frames)
    for detect_every in (1, 4):
        records = list(analyzer.analyze_video(clip, detect_every=detect_every))
        assert all(len(r.faces) == 2 for r in records)
        left = {min(r.faces, key=_centre_x).track_id for r in records}
        right = {max(r.faces, key=_centre_x).track_id for r in records}
        assert len(left) == 1 and len(right) == 1 and left != right


def test_a_lost_face_is_detected_again_on_the_same_frame(analyzer, tmp_path, face_patch):
    """The face jumps 150 px: the flow loses it, the detector runs on that frame and a new track starts."""
    frames = [_frame(face_patch, [(20, 30, 260, 0)]) for _ in range(4)]
    frames += [_frame(face_patch, [(170, 60, 260, 0)]) for _ in range(4)]
    run = analyzer.analyze_video(_write(tmp_path / "jump.avi", frames), detect_every=10)
    records = list(run)
    assert all(len(r.faces) == 1 for r in records)
    assert _centre_x(records[4].faces[0]) - _centre_x(records[3].faces[0]) == pytest.approx(150, abs=3)
    assert [r.faces[0].track_id for r in records] == [0] * 4 + [1] * 4
    assert run.detector_runs == 2


def test_tracker_matches_by_overlap_and_ends_missed_tracks():
    box = np.array([10, 10, 60, 70], np.float32)
    lm = np.array([[25, 30], [45, 30], [35, 42], [27, 55], [43, 55]], np.float32)
    other_box, other_lm = box + [200, 0, 200, 0], lm + [200, 0]
    tracker = Tracker(max_missed=2)
    found, _ = tracker.update([box, other_box], [lm, other_lm], [0.9, 0.9])
    assert [t.id for t in found] == [0, 1]
    found, missed = tracker.update([other_box + [4, 0, 4, 0], box + [3, 2, 3, 2]], [other_lm + 4, lm + 3], [0.9, 0.9])
    assert [t.id for t in found] == [1, 0] and not missed  # matched whatever the order of the detections
    found, missed = tracker.update([box], [lm], [0.9])
    assert [t.id for t in found] == [0] and [t.id for t in missed] == [1]
    found, missed = tracker.update([box], [lm], [0.9])
    assert [t.id for t in found] == [0] and not missed  # missed twice: ended
    found, _ = tracker.update([box, other_box], [lm, other_lm], [0.9, 0.9])
    assert [t.id for t in found] == [0, 2]  # an ended track's id is never given again


# -- smoothing and the summary ---------------------------------------------------------------------------------------


def _scores(score, sunglasses=0.0):
    return ModelScores.from_arrays(score, [0.0, sunglasses, 0.0, 0.0, 0.0], [sunglasses, sunglasses, 0, 0, 0])


def test_smoothing_removes_a_one_frame_spike():
    policy, seq = PolicyOptions(), [0.1, 0.1, 0.95, 0.1, 0.1, 0.95, 0.95, 0.95]
    raw = [decide(FaceMeasurement.of_scores(_scores(s, s)), policy).occluded for s in seq]
    assert raw == [False, False, True, False, False, True, True, True]
    smoothed, verdicts = None, []
    for s in seq:
        smoothed = smooth_scores(smoothed, _scores(s, s), 0.3)
        verdicts.append(decide(FaceMeasurement.of_scores(smoothed), policy).occluded)
    assert verdicts == [False] * 6 + [True, True]  # the spike is gone, the lasting change is not
    assert smoothed.occluders["sunglasses"] == pytest.approx(smoothed.occlusion_score)
    assert smooth_scores(None, _scores(0.7), 0.3).occlusion_score == pytest.approx(0.7)
    assert smooth_scores(_scores(0.1), _scores(0.7), 1.0).occlusion_score == pytest.approx(0.7)


def test_smoothing_removes_a_spike_in_a_video(analyzer, tmp_path, face_patch):
    """One frame of sunglasses: occluded frame by frame, not occluded along the smoothed track."""
    frames = [_frame(face_patch, [(60, 30, 300, 0)], sunglasses=i == 4) for i in range(8)]
    clip = _write(tmp_path / "spike.avi", frames)
    raw = [r.faces[0].occluded for r in analyzer.analyze_video(clip, detect_every=1, smooth=1.0)]
    assert raw == [False] * 4 + [True] + [False] * 3
    records = list(analyzer.analyze_video(clip, detect_every=1))
    assert [r.faces[0].occluded for r in records] == [False] * 8
    spike = records[4].faces[0]  # the record keeps the frame's own score beside the smoothed one
    assert spike.raw_occlusion_score > 0.5 > spike.occlusion_score
    assert records[4].to_dict()["faces"][0]["raw_occlusion_score"] == pytest.approx(spike.raw_occlusion_score, abs=1e-4)


def test_track_summary_of_a_small_clip(analyzer, sunglasses_clip):
    run = analyzer.analyze_video(sunglasses_clip, detect_every=3)
    records = list(run)
    assert all(len(r.faces) == 1 for r in records)
    occluded = [r.frame for r in records if r.faces[0].occluded]
    summary = run.summary()
    assert summary["frames"] == 12 and summary["fps"] == 10.0 and len(summary["tracks"]) == 1
    track = summary["tracks"][0]
    assert (track["frames"], track["first_frame"], track["last_frame"]) == (12, 0, 11)
    assert (track["first_time_s"], track["last_time_s"], track["duration_s"]) == (0.0, 1.1, 1.1)
    assert occluded == list(range(7, 12))  # one frame of lag from the smoothing
    assert track["assessable_frames"] == 12 and track["occluded_frames"] == 5
    assert track["occluded_share"] == pytest.approx(5 / 12, abs=1e-4)
    assert track["main_occluder"] == "sunglasses" and track["usable_frames"] == 7
    best = track["best_frame"]
    assert best["frame"] == 5 and best["time_s"] == 0.5  # the largest clean frame
    assert 0.3 < best["score"] <= 1.0 and best["box"] == [round(v, 1) for v in records[5].faces[0].box]


# -- the command line: tracks files, streams, progress -------------------------------------------------------------


class _Bar:
    """A stand-in for tqdm that remembers its total and its updates."""

    made: list = []

    def __init__(self, total=None, unit="", **kwargs):
        self.total, self.unit, self.count = total, unit, 0
        _Bar.made.append(self)

    def update(self, n=1):
        self.count += n

    def close(self):
        pass


def test_cli_writes_tracks_json_and_csv_and_refuses_to_overwrite(sunglasses_clip, tmp_path, monkeypatch):
    import tqdm

    monkeypatch.setattr(tqdm, "tqdm", _Bar)
    _Bar.made.clear()
    tracks, tracks_csv = tmp_path / "tracks.json", tmp_path / "tracks.csv"
    tracks.write_text("keep me")
    tracks_csv.write_text("keep me too")
    res = runner.invoke(app, ["analyze", str(sunglasses_clip), "--tracks", str(tracks), "--tracks-csv", "-"])
    assert res.exit_code == 2 and "--overwrite" in res.output  # refused before any work
    tracks, tracks_csv = tmp_path / "tracks-1.json", tmp_path / "tracks-1.csv"
    res = runner.invoke(
        app,
        [
            "analyze",
            str(sunglasses_clip),
            "--jsonl",
            str(tmp_path / "out.jsonl"),
            "--tracks",
            str(tracks),
            "--tracks-csv",
            str(tracks_csv),
            "--threads",
            "1",
            "--detect-every",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "tracks.json").read_text() == "keep me"
    assert (tmp_path / "tracks.csv").read_text() == "keep me too"
    data = json.loads((tmp_path / "tracks-1.json").read_text())
    assert [v["path"] for v in data["videos"]] == [str(sunglasses_clip)]
    (track,) = data["videos"][0]["tracks"]
    assert track["frames"] == 12 and track["main_occluder"] == "sunglasses" and track["best_frame"]["frame"] == 5
    rows = list(csv.DictReader(open(tmp_path / "tracks-1.csv")))
    assert list(rows[0]) == TRACK_CSV_FIELDS and len(rows) == 1
    assert rows[0]["frames"] == "12" and rows[0]["best_frame"] == "5" and rows[0]["main_occluder"] == "sunglasses"
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == 12 and all(r["faces"][0]["track_id"] == 0 for r in records)
    assert "1 track(s) in 1 video(s)" in res.output and "tracks-1.json" in res.output
    frame_bars = [bar for bar in _Bar.made if bar.unit == "frame"]
    assert [(bar.total, bar.count) for bar in frame_bars] == [(12, 12)]  # progress per frame, total from the count


def test_stream_url_is_read_as_a_stream(analyzer, moving_clip, tmp_path, monkeypatch):
    """A generated file played as a stream (file://, the code path of rtsp:// and http://): no frame count, every
    frame analysed, each record flushed as soon as it is written."""
    url = moving_clip.resolve().as_uri()
    assert url.startswith("file://") and is_stream(url) and is_stream("rtsp://cam/1") and is_stream("camera:0")
    assert not is_stream(str(moving_clip)) and not is_stream("C:/videos/a.mp4")
    assert camera_index("camera:2") == 2 and camera_index(0) == 0 and camera_index(url) is None
    reader = VideoReader(url)
    info = reader.open()
    assert info.stream and info.frame_count is None and info.frames_to_read is None
    assert (info.width, info.height) == (W, H)
    reader.close()
    run = analyzer.analyze_video(url, detect_every=5)
    records = list(run)
    assert len(records) == 20 and {r.faces[0].track_id for r in records} == {0}
    assert [r.time_s for r in records[:3]] == [0.0, 0.1, 0.2]

    from faceocc.cli import analyze as cli_analyze

    flushes = []
    real_write = cli_analyze._Outputs.write
    monkeypatch.setattr(
        cli_analyze._Outputs,
        "write",
        lambda self, result, include_map=False, flush=False: (
            flushes.append(flush),
            real_write(self, result, include_map, flush),
        ),
    )
    out = tmp_path / "stream.jsonl"
    res = runner.invoke(
        app, ["analyze", url, "--jsonl", str(out), "--threads", "1", "--tracks", str(tmp_path / "t.json")]
    )
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 20 and flushes == [True] * 20
    assert json.loads((tmp_path / "t.json").read_text())["videos"][0]["path"] == url


def test_missing_camera_and_stream_fail_cleanly(tmp_path):
    res = runner.invoke(app, ["analyze", "--camera", "57", "--jsonl", str(tmp_path / "o.jsonl"), "-q"])
    assert res.exit_code == 1
    record = json.loads((tmp_path / "o.jsonl").read_text())
    assert record["path"] == "camera:57" and "camera" in record["error"]
    res = runner.invoke(app, ["analyze"])
    assert res.exit_code == 2 and "--camera" in res.output


def test_prefetching_reader_stops_its_thread(moving_clip, tmp_path):
    frames = iter_video(moving_clip, prefetch=2)
    assert next(frames).index == 0 and next(frames).index == 1
    frames.close()
    assert not [t for t in threading.enumerate() if t.name == "faceocc-video-reader"]
    assert [f.index for f in iter_video(moving_clip, every_n=7, prefetch=3)] == [0, 7, 14]
    assert VideoReader(moving_clip, every_n=7).open().frames_to_read == 3
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(Exception, match="bad.mp4"):
        list(iter_video(tmp_path / "bad.mp4", prefetch=2))


# -- providers -------------------------------------------------------------------------------------------------------


def test_providers_follow_the_device(monkeypatch):
    with_gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runtime.choose_providers("auto", with_gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runtime.choose_providers("cuda", with_gpu) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runtime.choose_providers("cpu", with_gpu) == ["CPUExecutionProvider"]
    assert runtime.choose_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(runtime.DeviceError, match="onnxruntime-gpu"):
        runtime.choose_providers("cuda", ["CPUExecutionProvider"])
    with pytest.raises(runtime.DeviceError, match="unknown device"):
        runtime.choose_providers("tpu", with_gpu)
    seen = []

    class FakeSession:
        def __init__(self, source, sess_options=None, providers=None):
            seen.append(providers)

        def get_providers(self):
            return seen[-1]

    monkeypatch.setattr(runtime, "available_providers", lambda: with_gpu)
    monkeypatch.setattr(runtime.ort, "InferenceSession", FakeSession)
    assert runtime.device_name(runtime.create_session(b"model").get_providers()) == "cuda"
    runtime.create_session(b"model", device="cpu")
    assert seen == [["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]]


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runtime, "available_providers", lambda: ["CPUExecutionProvider"])
    from faceocc.pipeline import Analyzer

    with pytest.raises(runtime.DeviceError, match="cuda"):
        Analyzer(device="cuda")
    assert Analyzer(device="auto", threads=1).device == "cpu"
    res = runner.invoke(app, ["analyze", "x.jpg", "--device", "cuda"])
    assert res.exit_code == 2 and "onnxruntime-gpu" in res.output


def test_default_detect_every_is_documented():
    import inspect

    from faceocc.cli.analyze import analyze
    from faceocc.video import DEFAULT_DETECT_EVERY, DEFAULT_SMOOTH

    params = inspect.signature(analyze).parameters
    assert f"Default {DEFAULT_DETECT_EVERY}." in params["detect_every"].default.help
    assert f"Default {DEFAULT_SMOOTH}." in params["smooth"].default.help
    from faceocc.video import DEFAULT_FALLBACK_EVERY, DEFAULT_RECONNECT

    assert f"Default {DEFAULT_FALLBACK_EVERY}." in params["fallback_every"].default.help
    assert f"Default {DEFAULT_RECONNECT}." in params["reconnect"].default.help


def test_cli_video_options_reach_the_video_run(sunglasses_clip, tmp_path, monkeypatch):
    from faceocc import pipeline

    seen = []
    real = pipeline.VideoRun

    def recording(*args, options, **kwargs):
        seen.append(options)
        return real(*args, options=options, **kwargs)

    monkeypatch.setattr(pipeline, "VideoRun", recording)
    outs = {}
    for name, flags in {
        "default": [],
        "changed": ["--no-overlap", "--no-early-entry", "--fallback-every", "1", "--reconnect", "0"],
    }.items():
        out = tmp_path / f"{name}.jsonl"
        res = runner.invoke(app, ["analyze", str(sunglasses_clip), "--jsonl", str(out), "-q", "--threads", "1", *flags])
        assert res.exit_code == 0, res.output
        outs[name] = [[f["occluded"] for f in json.loads(line)["faces"]] for line in out.read_text().splitlines()]
    default, changed = seen
    assert (default.overlap, default.early_entry, default.fallback_every, default.reconnect) == (True, True, 3, 3)
    assert (changed.overlap, changed.early_entry, changed.fallback_every, changed.reconnect) == (False, False, 1, 0)
    assert outs["changed"] == outs["default"]  # the same verdicts, frame by frame, on this file
    res = runner.invoke(app, ["analyze", str(sunglasses_clip), "--fallback-every", "0"])
    assert res.exit_code == 2 and "--fallback-every" in res.output
