"""Drawing results on images: boxes, covered-part overlay (the occlusion map warped back), verdicts, advice, legend.

Nothing is decided here: every caption and every line of advice is a field of the face's :class:`FaceResult`
(made by :func:`faceocc.policy.decide`). :func:`layout` places the text (wrapped, inside the image) and
:func:`draw_result` paints it, so the placement can be checked without looking at pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .alignment import estimate_transform

GREEN, RED, GREY, YELLOW = (40, 200, 80), (230, 50, 50), (160, 160, 160), (250, 200, 40)
WHITE, DARK = (255, 255, 255), (20, 20, 20)
FONT = cv2.FONT_HERSHEY_SIMPLEX
MARGIN = 2  # pixels kept free between text and the image's edge
PAD = 3  # pixels around the lines of a text box


@dataclass(frozen=True)
class TextBox:
    """Lines of text placed on an image: top-left corner ``(x, y)``, outer size, font scale and colours.

    ``fill`` is the background colour; ``opaque`` False blends it with the photo (advice, legend)."""

    lines: tuple[str, ...]
    x: int
    y: int
    width: int
    height: int
    scale: float
    line_height: int
    color: tuple[int, int, int] = WHITE
    fill: tuple[int, int, int] = DARK
    opaque: bool = False

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


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


def caption(face) -> tuple[str, tuple[int, int, int]]:
    """The caption and colour of a decided face, from its own fields (nothing is decided here)."""
    if not face.assessable:
        return "not assessable", GREY
    if face.occluded:
        cov = f", cov {face.coverage:.0%}" if face.coverage is not None else ""
        return f"occluded: {face.occluder or face.face_class} {face.occlusion_score:.2f}{cov}", RED
    extra = ", eyeglasses" if face.face_class == "eyeglasses" else ""
    return f"clear {face.occlusion_score:.2f}{extra}", GREEN


def legend_lines(threshold: float | None = None) -> list[str]:
    """What the numbers on an annotated image mean."""
    first = "score = occlusion probability (0-1)"
    if threshold is not None:
        first += f", occluded from {threshold:.2f}"
    return [first, "cov = covered share of the face; red = covered parts"]


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, FONT, scale, 1)[0][0]


def _line_height(scale: float) -> int:
    (_, th), base = cv2.getTextSize("Ag", FONT, scale, 1)
    return th + base + 2


def wrap_text(text: str, max_width: int, scale: float) -> list[str]:
    """``text`` in lines no wider than ``max_width`` pixels at font ``scale``: words are kept whole where they fit,
    a word wider than a line is split. Joined with spaces, the lines give back the words of ``text``."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        while _text_width(word, scale) > max_width and len(word) > 1:
            if current:
                lines.append(current)
                current = ""
            cut = max([1] + [n for n in range(1, len(word)) if _text_width(word[:n], scale) <= max_width])
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if current and _text_width(candidate, scale) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _box(paragraphs: list[str], max_width: int, scale: float, max_height: int, **style) -> TextBox:
    """A text box of ``paragraphs`` (each wrapped to ``max_width`` outer pixels), its font made smaller (down to
    0.3) until it is no taller than ``max_height``; placed at (0, 0)."""
    while True:
        inner = max(1, max_width - 2 * PAD)
        lines = [line for p in paragraphs for line in wrap_text(p, inner, scale)]
        lh = _line_height(scale)
        height = lh * len(lines) + 2 * PAD
        if height <= max_height or scale <= 0.3:
            break
        scale = max(0.3, scale * 0.85)
    width = max(_text_width(line, scale) for line in lines) + 2 * PAD
    return TextBox(tuple(lines), 0, 0, width, height, scale, lh, **style)


def _at(box: TextBox, x: int, y: int, size: tuple[int, int]) -> TextBox:
    """``box`` moved to ``(x, y)``, pushed back inside a ``size`` = (width, height) image."""
    w, h = size
    x = min(max(MARGIN, x), max(MARGIN, w - MARGIN - box.width))
    y = min(max(MARGIN, y), max(MARGIN, h - MARGIN - box.height))
    return TextBox(**{**box.__dict__, "x": int(x), "y": int(y)})


def face_layout(face, size: tuple[int, int]) -> list[TextBox]:
    """The caption (above the box, or below it where there is no room) and the whole advice (below the box or the
    caption, or above where there is no room) of one face, wrapped and placed inside a ``size`` = (w, h) image."""
    w, h = size
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    scale = max(0.4, min(1.0, (x2 - x1) / 180))
    usable_w = max(8, w - 2 * MARGIN)
    text, color = caption(face)
    cap = _box([text], usable_w, scale, h // 3, color=WHITE, fill=color, opaque=True)
    above = y1 - cap.height - 1 >= MARGIN
    cap = _at(cap, x1, y1 - cap.height - 1 if above else y2 + 1, size)
    boxes = [cap]
    if face.advice:
        wrap_w = min(usable_w, max(x2 - x1, int(360 * scale)))
        adv = _box(list(face.advice), wrap_w, scale * 0.8, h // 2, color=WHITE, fill=DARK)
        below = cap.bottom + 1 if not above else y2 + 1
        if below + adv.height > h - MARGIN:
            top = min(cap.y, y1) if above else y1
            below = top - adv.height - 1
        boxes.append(_at(adv, x1, below, size))
    return boxes


def layout(faces, size: tuple[int, int], threshold: float | None = None, legend: bool = True) -> list[TextBox]:
    """Every text box of an annotated ``size`` = (width, height) image: each face's caption and advice, and the
    legend (bottom left) saying what the numbers mean."""
    w, h = size
    boxes = [box for face in faces for box in face_layout(face, size)]
    if legend and faces:
        scale = max(0.35, min(0.6, min(w, h) / 1400))
        key = _box(legend_lines(threshold), w - 2 * MARGIN, scale, h // 4, color=WHITE, fill=DARK)
        boxes.append(_at(key, MARGIN, h - MARGIN - key.height, size))
    return boxes


def _paint(canvas: np.ndarray, box: TextBox) -> None:
    x0, y0, x1, y1 = box.x, box.y, box.right, box.bottom
    if box.opaque:
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), box.fill, -1)
    else:
        region = canvas[y0:y1, x0:x1]
        region[:] = (region * 0.35 + np.array(box.fill) * 0.65).astype(np.uint8)
    (_, th), _base = cv2.getTextSize("Ag", FONT, box.scale, 1)
    for i, line in enumerate(box.lines):
        baseline_y = y0 + PAD + i * box.line_height + th
        cv2.putText(canvas, line, (x0 + PAD, baseline_y), FONT, box.scale, box.color, 1, cv2.LINE_AA)


def draw_result(
    image: np.ndarray, result, alpha: float = 0.45, threshold: float | None = None, legend: bool = True
) -> np.ndarray:
    """An RGB copy of ``image`` with every face of ``result`` (an ImageResult) drawn: box, landmarks, covered parts
    (red), caption, the whole advice, and a legend (``threshold``: the occlusion threshold the faces were judged at,
    shown in it when given)."""
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
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), caption(face)[1], thick, cv2.LINE_AA)
        for x, y in face.landmarks:
            cv2.circle(canvas, (int(x), int(y)), thick + 1, YELLOW, -1, cv2.LINE_AA)
    for box in layout(result.faces, (w, h), threshold, legend):
        _paint(canvas, box)
    return canvas
