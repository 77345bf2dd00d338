"""The object recipe: held objects on the face, at a corner of the mouth, or a hat brim."""

from __future__ import annotations

import math

import numpy as np

from ..schema import PART_NAMES
from .compose import OCCLUDED_COVERAGE, OCCLUDED_PART, paste_layer
from .context import Context
from .geometry import affine, apply_affine, coverage_fractions, flip_matrix, warp_sprite
from .placement import outline_point, region_point, slide
from .sprites import Sprite

OBJECT_MODES = ("free", "mouth_corner")
#: probability that the object recipe puts the object's tip at a corner of the mouth
OBJECT_MOUTH_CORNER_P = 0.35


def _object_axis(sprite: Sprite, sub: str) -> tuple[np.ndarray, np.ndarray]:
    """(tip, tail) of an object cut-out in its level-0 pixels: the end that goes to the mouth, and the far end."""
    w, h = sprite.size
    if sub == "cigarette":
        return np.array([2.0, h / 2], np.float32), np.array([w - 1.0, h / 2], np.float32)
    if sub == "microphone":
        return np.array([w / 2, 2.0], np.float32), np.array([w / 2, h - 1.0], np.float32)
    if sub == "phone":
        return np.array([w / 2, 2.0], np.float32), np.array([w / 2, h - 1.0], np.float32)
    tip, tail = np.asarray(sprite.meta["tip"], np.float32), np.asarray(sprite.meta["wrist"], np.float32)
    if float(np.hypot(*(tip - tail))) < 2:
        tip, tail = np.array([w / 2, 0.0], np.float32), np.array([w / 2, h - 1.0], np.float32)
    return tip, tail


def object_mouth_corner(ctx: Context, sprite: Sprite, sub: str) -> None:
    """A cigarette, microphone, phone or other object whose tip overlaps a corner of the mouth by a small to moderate
    amount, coming in from the side or from below at an angle. Pushed a little deeper when the first placement would
    not cover enough of the face to be an occlusion (the tip must be on the lips)."""
    f, u = ctx.face, ctx.u
    w, h = sprite.size
    m0 = flip_matrix(w) if ctx.chance(0.5) and sub != "cigarette" else np.eye(3)
    tip, tail = (apply_affine(m0, p) for p in _object_axis(sprite, sub))
    side = ctx.choice((0, 1))
    out = 1.0 if side else -1.0  # lm[3] is on the image left: out = -1 points outward there
    corner = f.lm[3 + side]
    if sub == "cigarette" or ctx.chance(0.6):  # from the side, level or rising a little (a cigarette always)
        t = math.radians(u(-15, 45))
    else:  # from below, at an angle
        t = math.radians(u(50, 80))
    dirn = -out * math.cos(t) * f.u - math.sin(t) * f.v  # direction of travel: tail -> tip, into the corner
    ds = tip - tail
    rot = math.degrees(math.atan2(dirn[1], dirn[0]) - math.atan2(ds[1], ds[0]))
    sy = 1.0
    if sub == "cigarette":
        scale, sy = f.iod * u(0.9, 1.4) / w, u(1.3, 2.0)  # thin: 3-5 px at 112 px, or it never covers enough
    elif sub == "microphone":
        scale = f.iod * u(0.5, 0.85) / w
    elif sub == "phone":
        scale = f.iod * u(1.6, 2.4) / h
    else:
        scale = f.iod * u(0.7, 1.6) / max(w, h, 1)
    # the tip goes past the corner into the lips by 0 to 0.3 inter-ocular distances
    depth = u(0.0, 0.3) * f.iod

    def render(d):
        q = corner + dirn * d
        m = affine(scale, rot, tip, q, 1.0, sy) @ m0
        return warp_sprite(sprite, m, ctx.size)

    rgb, a = render(depth)
    mouth = PART_NAMES.index("mouth")
    for _ in range(12):  # with a margin: the paste's feathering takes a little of the coverage
        fr = coverage_fractions(np.clip(a * 1.5 - 0.25, 0, 1), ctx.frame)
        if (fr[-1] >= 1.5 * OCCLUDED_COVERAGE or fr[:-1].max() > 1.5 * OCCLUDED_PART) and fr[mouth] > 0.05:
            break
        if depth > 0.4 * f.iod:  # deep enough: a thin object gets a little thicker instead
            sy *= 1.12
        else:
            depth += 0.05 * f.iod
        rgb, a = render(depth)
    ctx.modes.append("object:mouth_corner")
    paste_layer(ctx, rgb, a, "object", shadow=True, feather=ctx.u(0.3, 0.6) * f.unit + 0.3 * ctx.blur)


def add_object(ctx: Context, mode: str | None = None) -> None:
    """An object (phone, cup, microphone, cigarette ...) on the face, at a corner of the mouth (``mode``
    "mouth_corner"), elsewhere ("free"), or drawn at random (None: sometimes a hat brim above the brows)."""
    f, u = ctx.face, ctx.u
    lib = ctx.lib
    if mode == "mouth_corner" or (mode is None and ctx.chance(OBJECT_MOUTH_CORNER_P)):
        # cups and balls are not held at a corner of the mouth
        pool = [s for s in lib.sprites["objects"] if s.meta.get("subkind") not in ("cup", "ball")]
        sprite = ctx.choice(pool or lib.sprites["objects"])
        object_mouth_corner(ctx, sprite, sprite.meta.get("subkind", "generic"))
        return
    if lib.sprites["hats"] and mode is None and ctx.chance(0.07):  # hat brim above the brows (a negative, mostly)
        sprite = ctx.choice(lib.sprites["hats"])
        x0, y0, x1, y1 = sprite.meta["body"]
        scale = f.iod * u(2.2, 3.0) / max(x1 - x0, 1)
        brim = f.pt(u(-0.1, 0.1), ctx.frame.face_top + u(-0.3, 0.02))
        m = affine(scale, f.angle + u(-8, 8), ((x0 + x1) / 2, y1), brim)
        rgb, a = warp_sprite(sprite, m, ctx.size)
        ctx.modes.append("object:hat")
        paste_layer(ctx, rgb, a, "object", shadow=True)
        return
    sprite = ctx.choice(lib.sprites["objects"])
    sub = sprite.meta.get("subkind", "generic")
    w, h = sprite.size
    m0 = flip_matrix(w) if ctx.chance(0.5) and sub != "cigarette" else np.eye(3)
    c = apply_affine(m0, sprite.meta["centroid"])
    longest = max(w, h)
    outline = ctx.chance(0.12)
    sy = 1.0
    src: tuple | np.ndarray  # the sprite point that goes to q (level-0 pixels, before the flip; c is after it)
    if sub == "cigarette":
        side = ctx.choice((0, 1))
        out = 1 if side else -1  # lm[3] is on the image left
        lip = f.mouth_mid + (f.lm[3 + side] - f.mouth_mid) * u(-0.35, 0.35)  # held between the lips
        ang = f.angle + (0 if out > 0 else 180) + out * u(5, 45)
        scale, src, q, rot = f.iod * u(1.0, 1.5) / w, (2.0, h / 2), lip, ang
        sy = u(1.0, 1.6)  # cigarette or cigar
    elif sub == "microphone":
        scale = f.iod * u(0.55, 0.95) / w
        src, q, rot = (w / 2, w / 2), f.pt(u(-0.35, 0.35), u(1.05, 1.5)), f.angle + u(-30, 30)
    elif sub == "phone":
        scale = f.iod * u(1.8, 2.6) / h
        src = c
        if ctx.chance(0.5):
            q, rot = f.pt(ctx.choice((-1, 1)) * u(0.75, 1.1), u(0.2, 0.9)), f.angle + u(-30, 30)
        else:
            q, rot = region_point(ctx, (0.2, 0.1, 0.1, 0.3, 0.2, 0.1)), f.angle + u(-35, 35)
    elif sub == "cup":
        scale = f.iod * u(0.9, 1.5) / w
        src, q, rot = (w / 2, 0.0), f.pt(u(-0.3, 0.3), u(0.8, 1.05)), f.angle + u(-40, 40)
    else:
        scale = f.iod * u(0.7, 2.2) / longest
        src, q, rot = c, region_point(ctx), f.angle + u(-45, 45)
    if outline:
        q = outline_point(ctx)

    def render(qq):
        m = affine(scale, rot, apply_affine(m0, src) if src is not c else c, qq, 1.0, sy) @ m0
        return warp_sprite(sprite, m, ctx.size)

    rgb, a = slide(ctx, render, q, inward=False)[:2] if outline else render(q)
    ctx.modes.append("object:free")
    paste_layer(ctx, rgb, a, "object", shadow=True)
