"""The patch and border recipes: textured blobs on the face, and the photo's edge cutting into the crop."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .compose import is_occluding, paste_layer
from .context import Context
from .geometry import coverage_fractions
from .placement import region_point


def _shape_mask(ctx: Context, centre, radius: float, aspect: float, angle: float) -> np.ndarray:
    """An anti-aliased ellipse or random polygon around ``centre``."""
    m = np.zeros((ctx.size, ctx.size), np.float32)
    if ctx.chance(0.5):
        ax = (int(radius * 16), int(radius * aspect * 16))
        cv2.ellipse(m, (int(centre[0] * 16), int(centre[1] * 16)), ax, angle, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    else:
        n = int(ctx.rng.integers(4, 9))
        t = np.sort(ctx.rng.uniform(0, 2 * math.pi, n))
        r = radius * ctx.rng.uniform(0.6, 1.2, n)
        a = math.radians(angle)
        px, py = r * np.cos(t), r * aspect * np.sin(t)
        pts = np.stack(
            [centre[0] + px * math.cos(a) - py * math.sin(a), centre[1] + px * math.sin(a) + py * math.cos(a)], 1
        )
        cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    return m


def add_patch(ctx: Context) -> None:
    """A textured (or plain) blob on the face."""
    f, u = ctx.face, ctx.u
    q = region_point(ctx, (0.2, 0.1, 0.2, 0.25, 0.15, 0.1))
    a = _shape_mask(ctx, q, f.iod * u(0.25, 0.8), u(0.5, 1.4), u(0, 180))
    if ctx.lib.textures:
        tex = ctx.choice(ctx.lib.textures)
        tex = np.rot90(tex, int(ctx.rng.integers(4)))
        s = ctx.size
        z = u(1.0, 2.5)
        big = cv2.resize(tex, (int(s * z), int(s * z)), interpolation=cv2.INTER_LINEAR)
        oy, ox = int(ctx.rng.integers(big.shape[0] - s + 1)), int(ctx.rng.integers(big.shape[1] - s + 1))
        rgb = big[oy : oy + s, ox : ox + s].astype(np.float32)
    else:
        rgb = np.broadcast_to(ctx.rng.uniform(0, 255, 3).astype(np.float32), (ctx.size, ctx.size, 3)).copy()
    paste_layer(ctx, rgb, a, "patch", colour="lum", shadow=True)


def add_border(ctx: Context) -> None:
    """The photo's edge inside the crop (replicated last row, black or a grey pad): a straight cut from one side;
    from the left, right or top sometimes only outside the inner face (a negative)."""
    f, u = ctx.face, ctx.u
    side = ctx.rng.choice(4, p=[0.28, 0.28, 0.14, 0.30])  # left, right, top, bottom
    negative = ctx.chance(0.2) and side != 3
    if side in (0, 1):
        s = -1 if side == 0 else 1
        rx = ctx.frame.face_radii[0] + abs(ctx.frame.face_centre[0])
        x = s * (rx + u(0.08, 0.6) if negative else u(0.3, rx - 0.05))
        p, n = f.pt(x, u(0, 1.5)), s * f.u
    elif side == 2:
        top = ctx.frame.face_top
        p, n = f.pt(u(-0.5, 0.5), top - u(0.05, 0.8) if negative else u(top + 0.05, 0.35)), -f.v
    else:
        p, n = f.pt(u(-0.5, 0.5), u(0.9, 1.5)), f.v
    a = math.radians(u(-12, 12))
    n = np.array([n[0] * math.cos(a) - n[1] * math.sin(a), n[0] * math.sin(a) + n[1] * math.cos(a)], np.float32)
    fr = ctx.frame
    d = (fr.xx - p[0]) * n[0] + (fr.yy - p[1]) * n[1]
    occ = np.clip(d + 0.5, 0, 1).astype(np.float32)
    r = ctx.rng.random()
    if r < 0.6:  # the aligner replicates the last row of the photo
        back = np.maximum(d + 0.5, 0)
        mx, my = (fr.xx - back * n[0]).astype(np.float32), (fr.yy - back * n[1]).astype(np.float32)
        rgb = cv2.remap(ctx.img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        col = np.zeros(3, np.float32) if r < 0.9 else np.full(3, ctx.u(0, 255), np.float32)  # black, or a grey pad
        rgb = np.broadcast_to(col, ctx.img.shape)
    ctx.img = ctx.img * (1 - occ[..., None]) + rgb * occ[..., None]
    np.maximum(ctx.occ, occ, out=ctx.occ)
    frac = coverage_fractions(occ, ctx.frame)
    ctx.contrib["other"] = max(ctx.contrib.get("other", 0.0), float(frac[-1]))
    if is_occluding(frac):
        ctx.flags["other"] = 1.0
