"""Faces carried from one video frame to the next by optical flow, between detector runs.

Each tracked face holds feature points (its 5 landmarks and up to ``MAX_POINTS`` corners found inside its box).
:meth:`LandmarkFlow.propagate` follows them with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``) forwards and
back on a grayscale copy of a window around the face, scaled so that the face is at most ``FACE_PX`` px (the cost
per face does not grow with the face or the frame), keeps the points that come back where they started, fits one
similarity transform (rotation, scale, shift) to them with RANSAC, and moves the face's landmarks and box with it. A
face whose points disagree (too few kept, too few inliers, an implausible jump in scale) is reported as lost: the
caller runs the detector on that frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from .tracking import Track

#: the flow follows a face on a copy where the face is at most this many pixels (larger faces are scaled down)
FACE_PX = 80
#: the window around a face, in face sizes on each side: motion up to about this much per frame is followed
MARGIN = 0.4
#: corners per face, besides its 5 landmarks
MAX_POINTS = 24
#: a face is re-seeded with corners when fewer points than this are left
MIN_POINTS = 8
_WIN = (15, 15)
_LEVELS = 2
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
_FB_ERROR = 1.0  # px (at FACE_PX): forward-backward error above which a point is dropped
_RANSAC_PX = 1.5  # px (at FACE_PX)
_SCALE_STEP = (0.75, 1.33)  # the plausible change of face size from one analysed frame to the next


class LandmarkFlow:
    """Optical-flow propagation of tracked faces from the previous frame given to :meth:`next_frame` to the current one.

    >>> flow = LandmarkFlow()
    >>> flow.next_frame(rgb)            # every analysed frame, in order
    >>> lost = flow.propagate(tracks)   # moves the tracks' landmarks and boxes; returns the tracks it lost
    >>> flow.seed(tracks)               # after a detector run: fresh points for the detected faces
    """

    def __init__(self):
        self.frame: np.ndarray | None = None
        self.previous: np.ndarray | None = None

    def next_frame(self, image: np.ndarray) -> None:
        """Make ``image`` (RGB, not changed afterwards) the current frame (the current one becomes the previous).
        Only the windows around the faces are ever converted to gray: the cost does not grow with the frame."""
        same = self.frame is not None and self.frame.shape == image.shape
        self.previous = self.frame if same else None
        self.frame = image

    def _current(self) -> np.ndarray:
        if self.frame is None:
            raise RuntimeError("LandmarkFlow: no frame yet (call next_frame first)")
        return self.frame

    def seed(self, tracks: list[Track]) -> None:
        """Fresh feature points on the current frame for each of ``tracks``: its landmarks and corners in its box."""
        for track in tracks:
            track.points = self._corners(track)

    def _window(self, track: Track) -> tuple[int, int, int, int, float]:
        """The window around a face (x0, y0, x1, y1 in frame pixels) and the scale that brings the face to FACE_PX."""
        x1, y1, x2, y2 = (float(v) for v in track.box)
        size = max(x2 - x1, y2 - y1, 1.0)
        h, w = self._current().shape[:2]
        m = MARGIN * size
        x0, y0 = int(max(0, x1 - m)), int(max(0, y1 - m))
        xe, ye = int(min(w, np.ceil(x2 + m))), int(min(h, np.ceil(y2 + m)))
        return x0, y0, xe, ye, min(1.0, FACE_PX / size)

    def _crop(self, image: np.ndarray, window) -> np.ndarray:
        """The window of an RGB frame, scaled and in gray."""
        x0, y0, xe, ye, s = window
        crop = image[y0:ye, x0:xe]
        if s < 1.0:
            crop = cv2.resize(
                crop, (max(1, round((xe - x0) * s)), max(1, round((ye - y0) * s))), interpolation=cv2.INTER_LINEAR
            )
        return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)

    def _corners(self, track: Track) -> np.ndarray:
        points = [track.landmarks.reshape(-1, 2)]
        window = self._window(track)
        x0, y0, _, _, s = window
        x1, y1, x2, y2 = (float(v) for v in track.box)
        inset = 0.1 * (x2 - x1)  # corners well inside the face, not on the background around it
        crop = self._crop(self._current(), window)
        mask = np.zeros(crop.shape, np.uint8)
        mask[
            max(0, int((y1 + inset - y0) * s)) : max(0, int((y2 - y0) * s)),
            max(0, int((x1 + inset - x0) * s)) : max(0, int((x2 - inset - x0) * s)),
        ] = 255
        if mask.any():
            found = cv2.goodFeaturesToTrack(crop, MAX_POINTS, 0.01, 4.0, mask=mask)
            if found is not None:
                points.append(found.reshape(-1, 2) / s + [x0, y0])
        return np.concatenate(points).astype(np.float32)

    def propagate(self, tracks: list[Track]) -> list[Track]:
        """Move each of ``tracks`` (landmarks, box, points) from the previous frame to the current one; returns the
        tracks that could not be followed (left where they were)."""
        if self.previous is None:
            return list(tracks)
        return [track for track in tracks if not self._follow(track)]

    def _follow(self, track: Track) -> bool:
        """Follow one face's points from the previous frame to this one and move it; False when it is lost."""
        if track.points is None or len(track.points) < 6:
            return False
        window = self._window(track)
        x0, y0, xe, ye, s = window
        if xe - x0 < 8 or ye - y0 < 8:
            return False
        if self.previous is None:
            return False
        before, after = self._crop(self.previous, window), self._crop(self._current(), window)
        p0 = ((track.points - [x0, y0]) * s).astype(np.float32).reshape(-1, 1, 2)
        p1, st1 = _lucas_kanade(before, after, p0)
        back, st2 = _lucas_kanade(after, before, p1)  # and back again: points that do not return are lost
        fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < _FB_ERROR)
        return self._move(track, p0.reshape(-1, 2), p1.reshape(-1, 2), good, window)

    def _move(self, track: Track, before: np.ndarray, after: np.ndarray, good: np.ndarray, window) -> bool:
        """Fit the face's motion to its good points (window pixels) and move it; False when they do not agree on one."""
        if good.sum() < 6:
            return False
        matrix, inliers = cv2.estimateAffinePartial2D(
            before[good], after[good], method=cv2.RANSAC, ransacReprojThreshold=_RANSAC_PX, maxIters=200
        )
        if matrix is None or inliers is None:
            return False
        inliers = inliers.ravel().astype(bool)
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        if inliers.sum() < max(6, 0.5 * good.sum()) or not _SCALE_STEP[0] <= scale <= _SCALE_STEP[1]:
            return False
        x0, y0, _, _, s = window
        linear = matrix[:, :2].astype(np.float64)
        origin = np.array([x0, y0], np.float64)
        shift = matrix[:, 2] / s + origin - linear @ origin  # the same motion in frame pixels
        landmarks = track.landmarks.reshape(5, 2) @ linear.T + shift
        x1, y1, x2, y2 = (float(v) for v in track.box)
        cx, cy = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) @ linear.T + shift
        hw, hh = scale * (x2 - x1) / 2, scale * (y2 - y1) / 2
        track.move([cx - hw, cy - hh, cx + hw, cy + hh], landmarks)
        kept = after[good][inliers] / s + origin
        track.points = kept.astype(np.float32) if len(kept) >= MIN_POINTS else self._corners(track)
        return True


def _lucas_kanade(before: np.ndarray, after: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pyramidal Lucas-Kanade flow of ``points`` (N x 1 x 2) from ``before`` to ``after``: (new points, found)."""
    moved, found, _ = cv2.calcOpticalFlowPyrLK(
        before,
        after,
        points,
        None,
        winSize=_WIN,  # type: ignore[call-overload]
        maxLevel=_LEVELS,
        criteria=_CRITERIA,
    )
    return moved, found
