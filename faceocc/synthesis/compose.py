"""Pasting one occluder layer (colour match, blur, feathered alpha, drop shadow) and the labelling rule."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..schema import PART_NAMES
from .context import Context
from .geometry import FaceFrame, coverage_fractions
from .kinds import KIND_TYPE

#: an occlusion map counts as occluded when this fraction of the inner face is covered ...
OCCLUDED_COVERAGE = 0.02
#: ... or when one part is covered by more than this
OCCLUDED_PART = 0.10


def is_occluding(fr: np.ndarray) -> bool:
    """Whether coverage fractions (from :func:`coverage_fractions`) make an occlusion."""
    return bool(fr[-1] >= OCCLUDED_COVERAGE or fr[:-1].max() > OCCLUDED_PART)


def labels_from_mask(occlusion: np.ndarray, occluders: dict | None = None) -> dict:
    """Labels by the rules of OCCLUSION.md from an occlusion map in the canonical frame.

    ``coverage``: fraction of the inner face covered; ``parts``: covered fraction of each part;
    ``occluded``: coverage >= OCCLUDED_COVERAGE, or a part covered more than OCCLUDED_PART, or
    sunglasses present. Clear eyeglasses alone are not an occlusion.
    """
    occ = np.asarray(occlusion, np.float32)
    fr = coverage_fractions(occ, FaceFrame.get(occ.shape[0]))
    parts = {n: float(v) for n, v in zip(PART_NAMES, fr[:-1])}
    coverage = float(fr[-1])
    sunglasses = bool(occluders and occluders.get("sunglasses", 0) > 0.5)
    occluded = coverage >= OCCLUDED_COVERAGE or max(parts.values()) > OCCLUDED_PART or sunglasses
    return {"occluded": bool(occluded), "parts": parts, "coverage": coverage}


def _match_colour(ctx: Context, rgb: np.ndarray, alpha: np.ndarray, mode: str, sl=None) -> np.ndarray:
    """Shift the occluder's colour / brightness toward the face's, with a side light and a random gamma."""
    w = float(alpha.sum())
    if w < 1.0:
        return rgb
    mean = (alpha.reshape(-1) @ rgb.reshape(-1, 3)) / w
    if mode == "skin":  # a person's hand has about the skin colour and light of their face
        gain = ((ctx.face_mean + 10) / (mean + 10)) ** ctx.u(0.35, 0.9)
    elif mode == "lum":
        lf, lo = float(ctx.face_mean.mean()), float(mean.mean())
        gain = np.full(3, ((lf + 10) / (lo + 10)) ** ctx.u(0.1, 0.55), np.float32)
    else:
        gain = np.ones(3, np.float32)
    gain = np.clip(gain * ctx.u(0.85, 1.12), 0.4, 2.5).astype(np.float32)
    rgb = rgb * gain
    if ctx.chance(0.35):  # light from one side
        fr = ctx.frame
        xx, yy = (fr.xx[sl], fr.yy[sl]) if sl is not None else (fr.xx, fr.yy)
        d = ctx.u(-0.35, 0.35) / ctx.size
        ang = ctx.u(0, 2 * math.pi)
        rgb *= (1 + d * ((xx - ctx.size / 2) * math.cos(ang) + (yy - ctx.size / 2) * math.sin(ang)))[..., None]
    if ctx.chance(0.3):
        g = math.exp(ctx.u(-0.25, 0.25))
        lut = (255 * (np.arange(256) / 255.0) ** g).astype(np.uint8)
        rgb = cv2.LUT(cv2.convertScaleAbs(rgb), lut).astype(np.float32)
    return rgb


def _shift(arr: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate by whole pixels, filling with zeros."""
    out = np.zeros_like(arr)
    h, w = arr.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src = arr[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = src
    return out


def _drop_shadow(ctx: Context, a: np.ndarray, sl) -> None:
    """Darken the image under the layer's alpha ``a`` (on the region ``sl``), shifted and blurred."""
    size = ctx.size
    ang = ctx.u(0, 2 * math.pi)
    dist = ctx.u(0.04, 0.14) * ctx.face.iod
    full = np.zeros((size, size), np.float32)
    full[sl] = a
    sh = _shift(full, int(round(dist * math.cos(ang))), int(round(dist * math.sin(ang))))
    sh = cv2.GaussianBlur(sh, (0, 0), ctx.u(0.06, 0.18) * ctx.face.iod)
    ctx.img *= (1 - ctx.u(0.2, 0.5) * sh)[..., None]


def paste_layer(
    ctx: Context,
    rgb,
    alpha,
    kind: str,
    colour: str = "lum",
    shadow: bool = False,
    occ=None,
    feather: float | None = None,
    type_: str | None = None,
    count_always: bool = False,
) -> None:
    """Blend one occluder layer into the context; update the occlusion map and the occluder types.

    ``colour``: "skin", "lum" (brightness only) or any other value (kept) for the colour match; ``occ``: the
    layer's occlusion map (default: from its feathered alpha); ``count_always``: report the type even when the
    layer covers too little to be an occlusion. Work is limited to the layer's bounding box (plus the blur margins)."""
    unit = ctx.face.unit
    size = ctx.size
    rows = np.flatnonzero(alpha.max(1) > 1e-3)
    if len(rows) == 0:
        return
    cols = np.flatnonzero(alpha.max(0) > 1e-3)
    sigma = ctx.blur + ctx.u(0.0, 0.45) * unit
    fs = feather if feather is not None else ctx.u(0.3, 0.9) * unit + 0.5 * ctx.blur
    mg = int(3 * max(sigma, fs)) + 2
    y0, y1 = max(rows[0] - mg, 0), min(rows[-1] + mg + 1, size)
    x0, x1 = max(cols[0] - mg, 0), min(cols[-1] + mg + 1, size)
    sl = (slice(y0, y1), slice(x0, x1))
    a = alpha[sl]
    c = _match_colour(ctx, rgb[sl], a, colour, sl)
    if sigma > 0.25:
        c = cv2.GaussianBlur(c, (0, 0), sigma)
    if fs > 0.2:
        a = cv2.GaussianBlur(a, (0, 0), fs)
    if shadow and ctx.chance(0.6):
        _drop_shadow(ctx, a, sl)
    a3 = a[..., None]
    region = ctx.img[sl]
    region += (c - region) * a3
    if occ is None:
        occ = np.zeros((size, size), np.float32)
        occ[sl] = np.clip(a * 1.5 - 0.25, 0, 1)
    np.maximum(ctx.occ, occ, out=ctx.occ)
    t = type_ or KIND_TYPE[kind]
    fr = coverage_fractions(occ, ctx.frame)
    ctx.contrib[t] = max(ctx.contrib.get(t, 0.0), float(fr[-1]))
    if count_always or is_occluding(fr):
        ctx.flags[t] = 1.0
