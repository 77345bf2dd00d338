"""Videos that behave like live sources: a stream that drops and is reopened, the fallback on face-free frames, the
classification overlapping the next frame's tracking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_video import _write  # the same clip writer

from faceocc.io import InputError

W, H = 320, 240
_CAPTURE = cv2.VideoCapture


@pytest.fixture(scope="module")
def analyzer():
    from faceocc.pipeline import Analyzer

    return Analyzer(threads=1, device="cpu")


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory, astronaut):
    """10 frames: the astronaut's face (about 70 px) moving right 3 px a frame."""
    face = cv2.resize(astronaut[20:260, 100:340], (150, 150), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(10):
        canvas = np.full((H, W, 3), 127, np.uint8)
        canvas[40:190, 40 + 3 * i : 190 + 3 * i] = face
        frames.append(canvas)
    return _write(tmp_path_factory.mktemp("live") / "face.avi", frames)


def _dropping_capture(clip, monkeypatch, limits):
    """cv2.VideoCapture replaced by captures of ``clip`` whatever they are asked to open: the k-th one opened stops
    after ``limits[k]`` frames (None: the whole clip; "closed": it cannot be opened at all)."""
    opened: list = []

    class Capture:
        def __init__(self, source, *args):
            self.limit = limits[min(len(opened), len(limits) - 1)]
            self.cap, self.count = _CAPTURE(str(clip)), 0
            opened.append(self)

        def isOpened(self):
            return self.limit != "closed" and self.cap.isOpened()

        def grab(self):
            if self.limit is not None and self.count >= self.limit:
                return False
            self.count += 1
            return self.cap.grab()

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Capture)
    return opened


def test_a_dropped_stream_is_reopened_and_says_so(analyzer, face_clip, monkeypatch):
    """A live stream stops after 4 frames, delivers 10 more once reopened, then cannot be reopened: 14 records, the
    fifth warning of the reconnection, and an error naming the stream after 3 failed attempts."""
    opened = _dropping_capture(face_clip, monkeypatch, [4, None, "closed"])
    run = analyzer.analyze_video("rtsp://camera.invalid/live", detect_every=5, reconnect_wait_s=0)
    records = []
    with pytest.raises(InputError, match=r"rtsp://camera.invalid/live: .*after frame 13 .*\(3 attempt"):
        for record in run:
            records.append(record)
    assert len(opened) == 5 and run.reconnects == 4 and run.summary()["reconnects"] == 4
    assert [r.frame for r in records] == list(range(14))  # the frame numbers go on after the reconnection
    assert all(len(r.faces) == 1 for r in records)
    assert [bool(r.warnings) for r in records] == [False] * 4 + [True] + [False] * 9
    assert "stopped delivering frames after frame 3; reconnected (attempt 1 of 3)" in records[4].warnings[0]
    assert records[4].time_s >= records[3].time_s
    _dropping_capture(face_clip, monkeypatch, [3, None])
    assert len(list(analyzer.analyze_video("rtsp://camera.invalid/live", reconnect=0))) == 3  # never reopened


def test_a_video_file_played_as_a_stream_is_not_replayed(analyzer, face_clip, monkeypatch):
    opened = _dropping_capture(face_clip, monkeypatch, [4, None])
    run = analyzer.analyze_video(face_clip.resolve().as_uri())
    assert len(list(run)) == 4 and run.reconnects == 0 and len(opened) == 1
    assert not run.live_source and analyzer.analyze_video("http://host.invalid/clip.mp4").live_source is False
    assert analyzer.analyze_video("camera:3").live_source and analyzer.analyze_video("rtsp://cam/1").live_source


def test_face_free_frames_pay_the_fallback_on_every_third_detector_run(analyzer, tmp_path):
    clip = _write(tmp_path / "empty.avi", [np.full((H, W, 3), 90 + i, np.uint8) for i in range(10)])
    before = analyzer.detector.fallback_runs
    run = analyzer.analyze_video(clip, detect_every=1)
    assert all(not r.faces for r in run) and run.detector_runs == 10
    assert run.fallback_runs == 4 and analyzer.detector.fallback_runs - before == 4  # runs 0, 3, 6, 9
    run = analyzer.analyze_video(clip, detect_every=1, fallback_every=1)
    assert len(list(run)) == 10 and run.fallback_runs == 10


def test_overlapped_classification_gives_the_same_records(analyzer, face_clip):
    one_by_one = list(analyzer.analyze_video(face_clip, detect_every=4, overlap=False))
    overlapped = list(analyzer.analyze_video(face_clip, detect_every=4))
    assert [r.frame for r in overlapped] == list(range(10))
    for a, b in zip(one_by_one, overlapped):
        assert [f.to_dict() for f in a.faces] == [f.to_dict() for f in b.faces]


def test_a_face_entering_an_empty_view_is_found_at_once(analyzer, face_clip, tmp_path):
    """The detector ran at frame 0 on an empty view; the face comes in at frame 4: found at frame 4, not 10."""
    cap = cv2.VideoCapture(str(face_clip))
    face = [cap.read()[1][:, :, ::-1] for _ in range(10)]
    cap.release()
    empty = np.full((H, W, 3), 127, np.uint8)
    clip = _write(tmp_path / "entry.avi", [empty] * 4 + face[:8])
    run = analyzer.analyze_video(clip, detect_every=10)
    assert [bool(r.faces) for r in run] == [False] * 4 + [True] * 8 and run.detector_runs == 2
    late = analyzer.analyze_video(clip, detect_every=10, early_entry=False)
    assert [bool(r.faces) for r in late].index(True) == 10  # the next scheduled run
    still = analyzer.analyze_video(_write(tmp_path / "still.avi", [empty] * 12), detect_every=10)
    assert len(list(still)) == 12 and still.detector_runs == 2  # an unchanging view: only the scheduled runs


def test_cpu_threads_sleep_instead_of_spinning(monkeypatch):
    """Two or more fixed intra-op threads do not spin (they stole the cores of decoding and classification)."""
    from faceocc import runtime

    entries = {}

    class FakeSession:
        def __init__(self, source, sess_options=None, providers=None):
            try:
                spin = sess_options.get_session_config_entry("session.intra_op.allow_spinning")
            except RuntimeError:  # not set: onnxruntime's default (spinning)
                spin = None
            entries[sess_options.intra_op_num_threads] = spin

        def get_providers(self):
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(runtime.ort, "InferenceSession", FakeSession)
    for threads in (1, 2, 4):
        runtime.create_session(b"model", threads=threads, device="cpu")
    assert entries == {1: None, 2: "0", 4: "0"}


def test_a_face_entering_beside_a_tracked_one_is_found_early(analyzer, astronaut, tmp_path):
    """One face is tracked from frame 0; a second comes in on the right at frame 4: found by frame 4 + ENTRY_GAP,
    not at the next scheduled run (frame 10); with the first face moving alone, no early runs."""
    from faceocc.video import ENTRY_GAP

    face = cv2.resize(astronaut[20:260, 100:340], (110, 110), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(12):
        canvas = np.full((H, W, 3), 127, np.uint8)
        canvas[60:170, 5 + 2 * i : 115 + 2 * i] = face  # moving slowly right
        if i >= 4:
            canvas[60:170, 205:315] = face
        frames.append(canvas)
    run = analyzer.analyze_video(_write(tmp_path / "second.avi", frames), detect_every=10)
    counts = [len(r.faces) for r in run]
    assert counts[:4] == [1] * 4 and counts.index(2) <= 4 + ENTRY_GAP, counts
    late = analyzer.analyze_video(_write(tmp_path / "second.avi", frames), detect_every=10, early_entry=False)
    assert [len(r.faces) for r in late].index(2) == 10
    alone = analyzer.analyze_video(_write(tmp_path / "alone.avi", [f.copy() for f in frames[:4]] * 3), detect_every=10)
    list(alone)
    assert alone.detector_runs == 2  # frames 0 and 10: the tracked face's own motion starts no early run
