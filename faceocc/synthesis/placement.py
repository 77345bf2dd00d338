"""Where the recipes put things: points on the face, just outside its outline, and sliding a layer in or out."""

from __future__ import annotations

import math

import numpy as np

from .context import Context
from .geometry import coverage_fractions


def region_point(ctx: Context, weights=None) -> np.ndarray:
    """A point on the face, biased to the parts objects usually cover."""
    regions = ("mouth", "chin", "cheek", "eye", "nose", "any")
    p = np.array(weights or (0.35, 0.15, 0.15, 0.15, 0.1, 0.1), np.float64)
    r = regions[int(ctx.rng.choice(len(regions), p=p / p.sum()))]
    f, u = ctx.face, ctx.u
    if r == "mouth":
        return f.pt(u(-0.3, 0.3), u(0.85, 1.15))
    if r == "chin":
        return f.pt(u(-0.3, 0.3), u(1.3, 1.6))
    if r == "cheek":
        return f.pt(ctx.choice((-1, 1)) * u(0.45, 0.85), u(0.3, 0.9))
    if r == "eye":
        return f.pt(ctx.choice((-0.5, 0.5)) + u(-0.2, 0.2), u(-0.15, 0.15))
    if r == "nose":
        return f.pt(f.yaw + u(-0.15, 0.15), u(0.3, 0.6))
    return f.pt(u(-0.8, 0.8), u(-0.3, 1.5))


def face_centre(ctx: Context) -> np.ndarray:
    """Centre of the inner face, moved with the head's turn."""
    cx, cy = ctx.frame.face_centre
    return ctx.face.pt(cx + 0.3 * ctx.face.yaw, cy)


def outline_point(ctx: Context, top: bool = False) -> np.ndarray:
    """A point just outside the inner-face outline (sides and bottom, or the top)."""
    f = ctx.face
    phi = math.radians(ctx.u(-150, -30) if top else ctx.u(-25, 205))
    rx, ry = ctx.frame.face_radii
    k = ctx.u(1.0, 1.12)
    p = face_centre(ctx) + k * rx * f.iod * math.cos(phi) * f.u + k * ry * f.em * math.sin(phi) * f.v
    return p.astype(np.float32)


def slide(ctx: Context, warp_at, q: np.ndarray, inward: bool, target: float = 0.01):
    """Re-place a layer along the line through its anchor ``q`` and the face centre: outward until it covers less
    than ``target`` of the inner face (a hard negative), or inward until it covers at least ``target`` (a hand
    resting on the cheek or jaw). ``warp_at(point)`` warps the cut-out anchored at a point, so the layer is never
    cut by the crop edge the way shifting pixels would cut it. Returns (rgb, alpha, anchor point used)."""
    f = ctx.face
    d = face_centre(ctx) - q
    d = d / max(float(np.hypot(*d)), 1e-3)
    d = d if inward else -d
    point = q
    rgb, a = warp_at(q)
    for k in range(1, 25):
        fr = coverage_fractions(a, ctx.frame)
        done = fr[-1] >= target if inward else (fr[-1] < target and fr[:-1].max() < 0.04)
        if done:
            break
        point = (q + d * 0.04 * f.iod * k).astype(np.float32)
        rgb, a = warp_at(point)
    return rgb, a, point
