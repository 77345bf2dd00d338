"""Per-face drawings in image coordinates, for the web page and any client that wants to draw.

The occlusion map lives in the aligned crop frame (``faceocc.alignment``); here it is
projected back into the photo with the inverse of the alignment transform:

- ``overlay``: the map as a heat image (RGBA PNG, data URL) to be drawn at
  ``x, y, width, height`` (image pixels), masked to the inner face;
- ``covered_parts``: for each part covered by at least the part threshold, its
  outline as a polygon in image pixels;
- ``crop_to_image``: the 2x3 affine matrix taking aligned-crop pixels to image pixels.
"""

from __future__ import annotations

import base64
from functools import lru_cache

import cv2
import numpy as np

from ..alignment import PART_NAMES, estimate_transform, part_masks, transform_points

MAX_OVERLAY_SIDE = 192


@lru_cache(maxsize=4)
def _part_polygons(size: int) -> dict[str, np.ndarray]:
    polys = {}
    for name, mask in part_masks(size).items():
        contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if contours:
            c = max(contours, key=cv2.contourArea)
            c = cv2.approxPolyDP(c, 0.6, True).reshape(-1, 2).astype(np.float32) + 0.5
            polys[name] = c
    return polys


@lru_cache(maxsize=4)
def _face_mask(map_size: int, crop_size: int) -> np.ndarray:
    return cv2.resize(part_masks(crop_size)["face"], (map_size, map_size), interpolation=cv2.INTER_AREA)


_COLORS = np.array([[255, 214, 0], [255, 120, 0], [230, 20, 40]], np.float32)  # low -> high coverage


def _heat_rgba(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    v = np.clip(values, 0, 1)
    t = np.clip((v - 0.3) / 0.7, 0, 1)[..., None]
    rgb = np.where(
        t < 0.5,
        _COLORS[0] + (_COLORS[1] - _COLORS[0]) * (t / 0.5),
        _COLORS[1] + (_COLORS[2] - _COLORS[1]) * ((t - 0.5) / 0.5),
    )
    alpha = 210.0 * np.clip((v - 0.25) / 0.5, 0, 1) * weight
    return np.dstack([rgb, alpha]).clip(0, 255).astype(np.uint8)


def face_drawing(face, crop_size: int, image_size: tuple[int, int], part_threshold: float = 0.3) -> dict:
    """Drawing data for one face (see the module docstring); empty when the face was not assessed."""
    if face.landmarks is None or len(face.landmarks) != 5:
        return {}
    width, height = image_size
    forward = estimate_transform(np.asarray(face.landmarks, np.float32), crop_size)
    back = cv2.invertAffineTransform(forward)
    out: dict = {"crop_to_image": [[round(float(v), 5) for v in row] for row in back], "crop_size": crop_size}
    polys = _part_polygons(crop_size)
    covered = []
    for name in PART_NAMES:
        frac = face.parts.get(name)
        if frac is None or frac < part_threshold or name not in polys:
            continue
        pts = transform_points(polys[name], back)
        covered.append(
            {
                "part": name,
                "covered": round(float(frac), 4),
                "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in pts],
            }
        )
    out["covered_parts"] = covered
    occ = face.occlusion_map
    if occ is None:
        return out
    m = occ.shape[0]
    corners = transform_points(
        np.array([[0, 0], [crop_size, 0], [crop_size, crop_size], [0, crop_size]], np.float32), back
    )
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    k = min(1.0, MAX_OVERLAY_SIDE / max(x1 - x0, y1 - y0))
    ow, oh = max(1, int(round((x1 - x0) * k))), max(1, int(round((y1 - y0) * k)))
    # map cell u -> crop pixel s*u + (s-1)/2 -> image pixel (inverse alignment) -> overlay pixel (scaled by k)
    s = crop_size / m
    scale_map = np.array([[s, 0, (s - 1) / 2], [0, s, (s - 1) / 2], [0, 0, 1]], np.float64)
    back3 = np.vstack([back.astype(np.float64), [0, 0, 1]])
    to_out = np.array([[k, 0, -k * x0 + 0.5 * k - 0.5], [0, k, -k * y0 + 0.5 * k - 0.5], [0, 0, 1]], np.float64)
    matrix = (to_out @ back3 @ scale_map)[:2]
    rgba_map = _heat_rgba(occ.astype(np.float32), _face_mask(m, crop_size))
    warped = cv2.warpAffine(
        rgba_map, matrix, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0)
    )
    ok, png = cv2.imencode(".png", cv2.cvtColor(warped, cv2.COLOR_RGBA2BGRA))
    if ok:
        out["overlay"] = {
            "x": int(x0),
            "y": int(y0),
            "width": int(x1 - x0),
            "height": int(y1 - y0),
            "png": "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii"),
        }
    return out
