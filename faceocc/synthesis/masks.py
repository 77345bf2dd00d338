"""The mask and scarf recipes: cloth over the lower face."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .compose import paste_layer
from .context import Context
from .geometry import affine, warp_sprite
from .sprites import Sprite


def _pseudo_anchors(sprite: Sprite) -> np.ndarray:
    """The six mask anchors of a sprite: its own (templates) or ones made from its body box (frontal masks)."""
    if "anchors" not in sprite.meta:
        x0, y0, x1, y1 = sprite.meta["body"]
        bw, bh, xc = x1 - x0, y1 - y0, (x0 + x1) / 2
        sprite.meta["anchors"] = np.array(
            [
                [x0, y0 + 0.22 * bh],
                [xc, y0],
                [x1, y0 + 0.22 * bh],
                [x0 + 0.1 * bw, y0 + 0.75 * bh],
                [xc, y1],
                [x1 - 0.1 * bw, y0 + 0.75 * bh],
            ],
            np.float32,
        )
    return sprite.meta["anchors"]


def add_mask(ctx: Context) -> None:
    """A face mask warped by a homography from six anchors: over the nose, under it, or on the chin."""
    f, u = ctx.face, ctx.u
    lib = ctx.lib
    templates, frontal = lib.sprites["templates"], lib.sprites["masks"]
    if templates and (not frontal or ctx.chance(0.75)):
        families = sorted({s.meta.get("family", s.name) for s in templates})
        fam = ctx.choice(families)
        variants = [s for s in templates if s.meta.get("family", s.name) == fam]
        # the variant whose nose bridge sits where this face's nose is (frontal or turned)
        target = 0.5 + 0.9 * f.yaw

        def rel(s):
            an = s.meta["anchors"]
            return float((an[1, 0] - an[0, 0]) / max(an[2, 0] - an[0, 0], 1e-3))

        best = min(abs(rel(s) - target) for s in variants)
        sprite = ctx.choice([s for s in variants if abs(rel(s) - target) <= best + 0.05])
    else:
        sprite = ctx.choice(frontal)
    src = _pseudo_anchors(sprite)
    yaw = f.yaw
    r = ctx.rng.random()
    yb = u(0.15, 0.35) if r < 0.85 else (u(0.55, 0.7) if r < 0.96 else u(1.05, 1.2))  # normal, under the nose, chin
    wl, wr = (0.95 + 1.2 * yaw) * u(0.93, 1.08), (0.95 - 1.2 * yaw) * u(0.93, 1.08)
    side_y = yb + u(0.05, 0.18)
    jaw_y = max(u(1.1, 1.3), yb + 0.4)
    dst = np.array(
        [
            f.pt(-wl, side_y),
            f.pt(0.6 * yaw, yb),
            f.pt(wr, side_y),
            f.pt(-0.85 * wl, jaw_y),
            f.pt(0.4 * yaw, max(u(1.65, 1.85), yb + 0.6)),
            f.pt(0.85 * wr, jaw_y),
        ],
        np.float32,
    )
    hm, _ = cv2.findHomography(src.astype(np.float32), dst, 0)
    if hm is None:
        return
    rgb, a = warp_sprite(sprite, hm, ctx.size, perspective=True)
    recolourable = sprite.meta.get("family", "frontal") in ("surgical", "cloth", "proc", "frontal")
    if recolourable and ctx.chance(0.35) and float(a.sum()) > 1:
        gray = rgb.mean(2)
        shade = np.clip(gray / max(float((a.ravel() @ gray.ravel()) / a.sum()), 1.0), 0.45, 1.3)[..., None]
        if lib.textures and ctx.chance(0.6):
            tex = ctx.choice(lib.textures)
            k = int(ctx.rng.integers(4))
            tex = cv2.resize(np.rot90(tex, k), None, fx=ctx.size / 112 * u(1.0, 2.0), fy=ctx.size / 112 * u(1.0, 2.0))
            tex = np.tile(tex, (math.ceil(ctx.size / tex.shape[0]), math.ceil(ctx.size / tex.shape[1]), 1))
            fill = tex[: ctx.size, : ctx.size].astype(np.float32)
        else:
            fill = ctx.rng.uniform(0, 255, 3).astype(np.float32)
        rgb = fill * shade
    paste_layer(ctx, rgb, a, "mask", colour="lum", feather=0.4 * f.unit)


def _face_coords(ctx: Context):
    """(x, y) face-frame coordinates of every crop pixel."""
    f, fr = ctx.face, ctx.frame
    dx, dy = fr.xx - f.eye_mid[0], fr.yy - f.eye_mid[1]
    return (dx * f.u[0] + dy * f.u[1]) / f.iod, (dx * f.v[0] + dy * f.v[1]) / f.em


def add_scarf(ctx: Context) -> None:
    """A scarf from below the crop up to the nose or the mouth (sometimes only over the chin), with a curved top
    edge and folds."""
    f, u = ctx.face, ctx.u
    sprite = ctx.choice(ctx.lib.sprites["scarves"])
    w, h = sprite.size
    rot = 90.0 if h > 1.3 * w else 0.0
    bw, bh = (h, w) if rot else (w, h)
    y_top = u(0.2, 1.05) if ctx.chance(0.85) else u(1.1, 1.4)
    corners_y = [((np.array(c, np.float32) - f.eye_mid) @ f.v) / f.em for c in ((0, ctx.size), (ctx.size, ctx.size))]
    y_bot = max(corners_y) + 0.3
    width = f.iod * u(2.6, 3.6)
    height = (y_bot - y_top + 0.25) * f.em
    centre = f.pt(u(-0.15, 0.15), (y_top - 0.25 + y_bot) / 2)
    sx, sy = width / bw, height / bh
    # limit the stretch: a long scarf is cut rather than squashed
    ratio = sy / sx
    if ratio > 2.0:
        sy = sx * 2.0
    elif ratio < 0.5:
        sx = sy * 2.0
    m = affine(1.0, f.angle + rot + u(-6, 6), (w / 2, h / 2), centre, sx if not rot else sy, sy if not rot else sx)
    rgb, a = warp_sprite(sprite, m, ctx.size)
    fx, fy = _face_coords(ctx)
    top = y_top + u(0.05, 0.45) * (fx - u(-0.2, 0.2)) ** 2 + u(0, 0.06) * np.sin(fx * u(4, 9) + u(0, 6))
    cut = np.clip((fy - top) / 0.04 + 0.5, 0, 1)
    a = a * cut
    if ctx.chance(0.6):  # folds
        rgb = rgb * (1 + u(0.06, 0.15) * np.sin(fy * u(6, 14) + fx * u(-3, 3) + u(0, 6)))[..., None]
    paste_layer(ctx, rgb, a, "scarf", colour="lum", feather=0.5 * f.unit)
