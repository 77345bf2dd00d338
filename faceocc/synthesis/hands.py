"""The hand recipe: a hand cut-out over the mouth, eyes, cheek, chin or forehead, resting on or touching the face,
or along its outline (a hard negative); drawn fingers in contact with the face (``touch``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .compose import paste_layer
from .context import Context
from .geometry import affine, apply_affine, flip_matrix, warp_sprite
from .placement import face_centre, outline_point, slide
from .sprites import Sprite

HAND_MODES = ("mouth", "eyes", "cheek", "chin", "fingers_eye", "forehead", "outline", "rest", "touch")
_HAND_P = (0.17, 0.10, 0.12, 0.10, 0.10, 0.05, 0.12, 0.11, 0.13)
_HAND_P_ARRAY = np.array(_HAND_P) / sum(_HAND_P)


def hand_pose_probabilities(overrides: dict | None = None) -> np.ndarray:
    """Probabilities of HAND_MODES: the defaults, with ``overrides`` ({pose: weight}) in place, normalised."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(HAND_MODES))
    if unknown:
        raise ValueError(f"unknown hand pose(s) {unknown} (known: {', '.join(HAND_MODES)})")
    p = np.array([float(overrides.get(m, d)) for m, d in zip(HAND_MODES, _HAND_P)])
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"hand pose weights must be >= 0 and not all 0, got {overrides}")
    return p / p.sum()


# ------------------------------------------------------------------ fingers drawn in contact with the face


def _capsule_field(ctx: Context, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance of every crop pixel to the segment a-b, position along it 0-1)."""
    fr = ctx.frame
    d = b - a
    length2 = max(float(d @ d), 1e-6)
    t = np.clip(((fr.xx - a[0]) * d[0] + (fr.yy - a[1]) * d[1]) / length2, 0.0, 1.0)
    px, py = a[0] + t * d[0], a[1] + t * d[1]
    return np.hypot(fr.xx - px, fr.yy - py), t


def _skin_tone(ctx: Context, sprite: Sprite) -> np.ndarray:
    """A hand colour: the cut-out's own skin pulled toward the face's (same person, same light)."""
    rgba = sprite.rgba.astype(np.float32)
    w = rgba[..., 3].ravel() / 255.0
    own = (w @ rgba[..., :3].reshape(-1, 3)) / max(float(w.sum()), 1.0)
    k = ctx.u(0.7, 1.0)
    tone = (ctx.face_mean + 8) ** k * (own + 8) ** (1 - k) - 8
    return np.clip(
        tone * np.array([ctx.u(0.98, 1.06), ctx.u(0.95, 1.02), ctx.u(0.93, 1.01)], np.float32) * ctx.u(0.92, 1.1),
        20,
        250,
    )


def _touch_pose(ctx: Context, pose: str, side: int) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(centre of the fingertips, direction base -> tip, number of fingers, finger length) of a touch pose."""
    f, u = ctx.face, ctx.u
    if pose == "cheek":  # fingertips from the side or from below, into the cheek
        tip_c = f.pt(side * u(0.55, 0.95), u(0.35, 1.15))
        ang = math.radians(f.angle + (180 if side > 0 else 0) + side * u(-60, 25))  # pointing inward, up or down
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = int(ctx.rng.integers(1, 5))
        length = f.iod * u(0.7, 1.3)
    elif pose == "chin":  # curled fingers / knuckles under the chin: short fingers nearly across the chin
        tip_c = f.pt(u(-0.3, 0.3), u(1.45, 1.75))
        ang = math.radians(f.angle + (0 if side > 0 else 180) + u(-25, 25) - 90 * u(0.0, 0.35))
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = int(ctx.rng.integers(2, 5))
        length = f.iod * u(0.5, 0.9)
    elif pose == "lips":  # an index finger (and maybe the next) up over the lips
        tip_c = f.pt(u(-0.2, 0.2), u(0.75, 1.0))
        ang = math.radians(f.angle - 90 + u(-25, 25))
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = 1 if ctx.chance(0.7) else 2
        length = f.iod * u(0.9, 1.5)
    else:  # jaw: fingers along the jaw line, tips reaching onto the lower cheek
        tip_c = f.pt(side * u(0.4, 0.75), u(1.1, 1.55))
        ang = math.radians(f.angle + (180 if side > 0 else 0) + side * u(15, 55))
        direction = np.array([math.cos(ang), math.sin(ang)], np.float32)
        n = int(ctx.rng.integers(2, 5))
        length = f.iod * u(0.7, 1.2)
    return tip_c, direction, n, length


def _draw_fingers(ctx: Context, fingers, direction, width: float, length: float, alpha, shade):
    """(alpha, shade) with the fingers [(base, tip, width)] and their shading (round, creases, nails) added."""
    f, u = ctx.face, ctx.u
    nails = ctx.chance(0.5)  # the back of the hand toward the camera
    for base, tip, w in fingers:
        dist, t = _capsule_field(ctx, base - direction * width, tip)
        a = np.clip((w / 2 - dist) / (0.5 * f.unit) + 0.5, 0, 1)
        r = np.clip(dist / (w / 2), 0, 1)
        s_f = 1.04 - 0.3 * r**2 + 0.04 * (1 - r) ** 4  # round across the width, darker at the edges
        if ctx.chance(0.6):  # knuckle creases
            for c in (u(0.35, 0.5), u(0.65, 0.8)):
                s_f = s_f * (1 - u(0.04, 0.1) * np.exp(-(((t - c) * length / (0.03 * f.iod)) ** 2)) * (r < 0.8))
        if nails:
            nd, _ = _capsule_field(ctx, tip - direction * 0.42 * w, tip - direction * 0.12 * w)
            s_f = s_f * (1 + 0.12 * np.clip((0.3 * w - nd) / (0.5 * f.unit) + 0.5, 0, 1))
        shade = np.where(a > alpha * 0.5, s_f, shade)  # later fingers are in front
        alpha = np.maximum(alpha, a)
    return alpha, shade


def _touch(ctx: Context, sprite: Sprite) -> None:
    """Fingers in contact with the face, the way real hands rest on it: fingertips pressed into a cheek, curled
    fingers or knuckles under the chin, a finger across the lips. Drawn finger by finger (rounded, shaded across
    their width, creases, nails), each from a hand whose palm stays outside the inner face; the colour comes from a
    hand cut-out pulled toward the face's skin, so held-out cut-outs give held-out tones."""
    f, u = ctx.face, ctx.u
    size = ctx.size
    width = f.iod * u(0.22, 0.32)  # an adult finger is about a quarter of the inter-ocular distance... and a bit
    pose = ctx.choice(("cheek", "cheek", "chin", "lips", "jaw"))
    side = ctx.choice((-1, 1))
    tip_c, direction, n, length = _touch_pose(ctx, pose, side)
    normal = np.array([-direction[1], direction[0]], np.float32)
    spacing = width * u(0.85, 1.0)
    fingers = []  # (base, tip, width)
    for k in range(n):
        off = (k - (n - 1) / 2) * spacing
        ln = length * (1.0 - 0.18 * abs(k - (n - 1) / 2) / max(n / 2, 1)) * u(0.9, 1.08)
        tip = tip_c + normal * off - direction * (length - ln) * 0.5
        fingers.append((tip - direction * ln, tip, width * u(0.9, 1.08)))
    # the hand behind the fingers: its body continues away from the fingertips (outside the inner face, mostly)
    base_c = np.mean([b for b, _, _ in fingers], axis=0)
    palm_len = f.iod * u(0.9, 1.6)
    palm_w = max(n * spacing, width * 2.2) * u(1.0, 1.25)
    dist, _ = _capsule_field(ctx, base_c, base_c - direction * palm_len)
    palm = np.clip((palm_w / 2 - dist) / (0.6 * f.unit) + 0.5, 0, 1)
    alpha = np.maximum(np.zeros((size, size), np.float32), palm)
    shade = np.where(
        palm > 0, 0.9 + 0.1 * (1 - np.clip(dist / (palm_w / 2), 0, 1) ** 2), np.ones((size, size), np.float32)
    )
    alpha, shade = _draw_fingers(ctx, fingers, direction, width, length, alpha, shade)
    tone = _skin_tone(ctx, sprite)
    rgb = shade[..., None] * tone[None, None, :]
    rgb = rgb * (1 + 0.03 * ctx.rng.standard_normal((size, size, 1)).astype(np.float32))
    paste_layer(ctx, rgb.astype(np.float32), alpha, "hand", colour="keep", shadow=True, feather=0.35 * f.unit)


# ------------------------------------------------------------------ hand cut-outs


@dataclass
class _HandCut:
    """A hand cut-out, maybe mirrored (``m0``), with its wrist -> fingertip axis in level-0 pixels."""

    sprite: Sprite
    m0: np.ndarray
    wrist: np.ndarray
    vec: np.ndarray  # wrist -> fingertip
    src_dir: float  # direction of vec, degrees

    def warp(self, ctx: Context, scale: float, theta: float, fr: float, point):
        """The cut-out scaled, turned to ``theta`` degrees and moved so that the point a fraction ``fr`` of the
        way from the wrist to the fingertips lands on ``point``."""
        m = affine(scale, theta - self.src_dir, self.wrist + fr * self.vec, point) @ self.m0
        return warp_sprite(self.sprite, m, ctx.size)


def _inward(ctx: Context, q: np.ndarray) -> float:
    """Direction (degrees) from ``q`` to the face centre."""
    to_c = face_centre(ctx) - q
    return math.degrees(math.atan2(to_c[1], to_c[0]))


def _hand_rest(ctx: Context, cut: _HandCut, scale: float) -> None:
    """A hand resting on the cheek, jaw or chin: crosses the outline a little (occluded)."""
    u = ctx.u
    q = outline_point(ctx)
    q = q if ctx.chance(0.7) else outline_point(ctx)  # two tries: sides and bottom are both common
    inward = _inward(ctx, q)
    if ctx.chance(0.5):  # palm against the cheek, fingers up along the face
        theta, fr = inward + ctx.choice((-1, 1)) * u(50, 100), u(0.3, 0.7)
    else:  # fingertips or knuckles pressed into the cheek or chin
        theta, fr = inward + u(-35, 35), u(0.85, 1.0)
    k_scale = scale * u(0.75, 1.0)

    def warp_at(point):
        return cut.warp(ctx, k_scale, theta, fr, point)

    start = slide(ctx, warp_at, q, inward=False)[2]  # just outside the inner face ...
    rgb, a, _ = slide(ctx, warp_at, start, inward=True, target=u(0.035, 0.14))  # ... then in
    paste_layer(ctx, rgb, a, "hand", colour="skin", shadow=True)


def _hand_outline(ctx: Context, cut: _HandCut, scale: float) -> None:
    """A hard negative: a hand touching the face outline from outside."""
    u = ctx.u
    best = None
    for _ in range(3):  # keep a placement where the hand stays in the picture
        q = outline_point(ctx)
        inward = _inward(ctx, q)
        if ctx.chance(0.5):  # fingers toward the face, touching it
            theta, fr = inward + u(-40, 40), 1.0
        else:  # along the outline (a hand on the side of the head or under the jaw)
            theta, fr = inward + ctx.choice((-1, 1)) * u(60, 110), u(0.4, 0.8)
        k_scale = scale * u(0.75, 1.0)

        def warp_at(point, k_scale=k_scale, theta=theta, fr=fr):
            return cut.warp(ctx, k_scale, theta, fr, point)

        rgb, a, _ = slide(ctx, warp_at, q, inward=False)
        mass = float(a.sum())
        if best is None or mass > best[2]:
            best = (rgb, a, mass)
        if mass > 0.04 * ctx.size**2:
            break
    assert best is not None
    rgb, a, _ = best
    paste_layer(ctx, rgb, a, "hand", colour="skin", shadow=True)


def _hand_placement(ctx: Context, mode: str, sgn: int) -> tuple[np.ndarray, float, float]:
    """(anchor point, direction of the fingers in degrees, anchor's fraction along wrist -> fingertips)."""
    f, u = ctx.face, ctx.u
    up = -90 + f.angle
    if mode == "mouth":
        return f.pt(u(-0.3, 0.3), u(0.85, 1.2)), up - sgn * u(45, 105), u(0.45, 0.75)
    if mode == "eyes":
        return f.pt(u(-0.6, 0.6), u(-0.15, 0.2)), up - sgn * u(30, 100), u(0.5, 0.8)
    if mode == "cheek":
        return f.pt(sgn * u(0.45, 0.9), u(0.3, 0.95)), up - sgn * u(-15, 45), u(0.45, 0.8)
    if mode == "chin":
        return f.pt(u(-0.3, 0.3), u(1.45, 1.9)), up - sgn * u(30, 100), u(0.35, 0.7)
    if mode == "fingers_eye":
        q = f.pt(sgn * 0.5 + u(-0.2, 0.2), u(-0.2, 0.15))
        return q, up - sgn * u(5, 65), u(0.85, 1.0)
    # forehead
    return f.pt(u(-0.4, 0.4), u(-1.2, -0.6)), up - sgn * u(60, 110), u(0.4, 0.7)


def add_hand(ctx: Context, mode: str | None = None) -> None:
    """The hand recipe, in pose ``mode`` (one of HAND_MODES; drawn from the context's probabilities when None)."""
    f, u = ctx.face, ctx.u
    sprite = ctx.choice(ctx.lib.sprites["hands"])
    if mode is None:
        p = _HAND_P_ARRAY if ctx.hand_p is None else ctx.hand_p
        mode = HAND_MODES[int(ctx.rng.choice(len(HAND_MODES), p=p))]
    elif mode not in HAND_MODES:
        raise ValueError(f"unknown hand mode {mode!r} (known: {', '.join(HAND_MODES)})")
    if mode == "touch":
        _touch(ctx, sprite)
        return
    w, _ = sprite.size
    m0 = flip_matrix(w) if ctx.chance(0.5) else np.eye(3)
    wr, tip = apply_affine(m0, sprite.meta["wrist"]), apply_affine(m0, sprite.meta["tip"])
    vec = tip - wr
    length_src = max(float(np.hypot(*vec)), 1.0)
    cut = _HandCut(sprite, m0, wr, vec, math.degrees(math.atan2(vec[1], vec[0])))
    scale = f.iod * u(1.6, 2.7) / length_src
    scale = min(scale, f.iod * 3.0 / max(sprite.size))  # two-hand cut-outs: not wider than the head
    sgn = ctx.choice((-1, 1))
    if mode == "rest":
        _hand_rest(ctx, cut, scale)
    elif mode == "outline":
        _hand_outline(ctx, cut, scale)
    else:
        q, theta, fr = _hand_placement(ctx, mode, sgn)
        rgb, a = cut.warp(ctx, scale, theta, fr, q)
        paste_layer(ctx, rgb, a, "hand", colour="skin", shadow=True)
