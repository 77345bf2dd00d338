"""Drawing results on images: boxes, covered-part overlay (the occlusion map warped back), verdicts."""

from __future__ import annotations

import cv2
import numpy as np

from .alignment import estimate_transform

GREEN, RED, GREY, YELLOW = (40, 200, 80), (230, 50, 50), (160, 160, 160), (250, 200, 40)


def map_to_image(occlusion_map: np.ndarray, landmarks, shape: tuple[int, int], crop_size: int = 112) -> np.ndarray:
    """Warp a face's occlusion map (canonical crop frame) back onto the image: H x W float 0-1."""
    matrix = estimate_transform(np.asarray(landmarks, np.float32), crop_size)
    big = cv2.resize(np.asarray(occlusion_map, np.float32), (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)
    return cv2.warpAffine(
        big,
        matrix,
        (shape[1], shape[0]),
        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _label(face) -> tuple[str, tuple[int, int, int]]:
    """The caption and colour of a decided face (its ``face_class`` says everything; nothing is decided here)."""
    if not face.assessable:
        return "not assessable", GREY
    if face.occluded:
        return f"{face.occluder} {face.occlusion_score:.2f} cov {face.coverage:.0%}", RED
    extra = " +glasses" if face.face_class == "eyeglasses" else ""
    return f"clear {face.occlusion_score:.2f}{extra}", GREEN


def draw_result(image: np.ndarray, result, alpha: float = 0.45) -> np.ndarray:
    """An RGB copy of ``image`` with every face of ``result`` (an ImageResult) drawn."""
    canvas = image.copy()
    h, w = canvas.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    for face in result.faces:
        if face.occluded and face.occlusion_map is not None:
            warped = map_to_image(face.occlusion_map, face.landmarks, (h, w))
            sel = warped > 0.5
            if sel.any():
                canvas[sel] = (canvas[sel] * (1 - alpha) + np.array(RED) * alpha).astype(np.uint8)
    for face in result.faces:
        text, color = _label(face)
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
        for x, y in face.landmarks:
            cv2.circle(canvas, (int(x), int(y)), thick + 1, YELLOW, -1, cv2.LINE_AA)
        scale = max(0.4, min(1.2, (x2 - x1) / 180))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 4 if y1 - th - 6 > 0 else y2 + th + 4
        cv2.rectangle(canvas, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), color, -1)
        cv2.putText(canvas, text, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        if face.advice and face.occluded:
            cv2.putText(
                canvas,
                face.advice[0],
                (x1, min(h - 4, y2 + th + 8)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale * 0.8,
                color,
                1,
                cv2.LINE_AA,
            )
    return canvas
