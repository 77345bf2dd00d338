"""The sunglasses and eyeglasses recipes."""

from __future__ import annotations

import cv2
import numpy as np

from .compose import paste_layer
from .context import Context
from .geometry import affine, apply_affine, flip_matrix, warp_sprite


def add_glasses(ctx: Context, sun: bool) -> None:
    """Glasses placed by a similarity from the eye line: sunglasses (an occlusion) or clear eyeglasses (pasted,
    reported as eyeglasses, with no pixel in the occlusion map)."""
    f, u = ctx.face, ctx.u
    sprite = ctx.choice(ctx.lib.sprites["sunglasses" if sun else "eyeglasses"])
    w, h = sprite.size
    m0 = flip_matrix(w) if ctx.chance(0.5) else np.eye(3)
    lenses = np.stack([apply_affine(m0, p) for p in sprite.meta["lenses"]])
    lenses = lenses[np.argsort(lenses[:, 0])]
    mid = lenses.mean(0)
    lens_d = max(float(lenses[1, 0] - lenses[0, 0]), 1.0)
    width = f.iod * (u(2.0, 2.35) if sun else u(1.95, 2.25))
    scale = width / w
    # keep the lens centres within reach of the eyes whatever the cut-out's margins
    scale = float(np.clip(scale, 0.8 * f.iod / lens_d, 1.3 * f.iod / lens_d))
    drop = u(0.0, 0.12) if (sun or not ctx.chance(0.15)) else u(0.15, 0.3)
    q = f.eye_mid + f.v * f.iod * drop + f.u * f.iod * 0.25 * f.yaw
    m = affine(scale, f.angle + u(-3, 3), mid, q, 1.0, u(0.9, 1.12)) @ m0
    rgb, a = warp_sprite(sprite, m, ctx.size)
    if sun:
        if ctx.chance(0.3):  # tinted lenses: the eyes show faintly, still an occlusion
            a = a * u(0.6, 0.85)
        occ = np.clip(a / 0.35, 0, 1)
        paste_layer(ctx, rgb, a, "sunglasses", colour="lum", occ=occ, feather=0.35 * f.unit, count_always=True)
    else:
        if ctx.chance(0.3):  # a faint glare on the lenses
            g = np.zeros((ctx.size, ctx.size), np.float32)
            for e in f.eyes:
                c = e + f.v * f.iod * u(-0.15, 0.05) + f.u * f.iod * u(-0.1, 0.1)
                cv2.ellipse(
                    g,
                    (int(c[0]), int(c[1])),
                    (max(1, int(0.2 * f.iod)), max(1, int(0.09 * f.iod))),
                    f.angle + u(-40, 40),
                    0,
                    360,
                    1.0,
                    -1,
                    cv2.LINE_AA,
                )
            g = cv2.GaussianBlur(g, (0, 0), 0.08 * f.iod) * u(0.1, 0.3)
            ctx.img = ctx.img * (1 - g[..., None]) + 255 * g[..., None]
        paste_layer(
            ctx, rgb, a, "eyeglasses", colour="lum", occ=np.zeros_like(a), feather=0.3 * f.unit, count_always=True
        )
