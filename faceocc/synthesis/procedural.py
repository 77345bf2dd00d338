"""Generated occluders (hands, glasses, masks, scarves, objects, textures): no files needed."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .sprites import Sprite, make_sprite

_SKIN = np.array(
    [[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96], [161, 102, 68], [117, 71, 46], [84, 52, 36]],
    np.float32,
)


def _rgba_canvas(h, w):
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)


def _finish(name, rgb, alpha, meta=None, blur=0.6) -> Sprite:
    if blur:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur)
    rgba = np.dstack([np.clip(rgb, 0, 255), np.clip(alpha, 0, 1) * 255]).astype(np.uint8)
    sprite = make_sprite(name, rgba, meta, crop=False, bleed=False)  # colours already fill the canvas
    assert sprite is not None  # never None without crop
    return sprite


def procedural_hand(rng, i) -> Sprite:
    """An open hand, fingers up, wrist at the bottom, in one of the skin tones."""
    h, w = 160, 128
    rgb, a = _rgba_canvas(h, w)
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.9, 1.08, 3)
    cx, cy = 64, 100
    cv2.ellipse(a, (cx, cy), (30, 34), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.rectangle(a, (cx - 22, cy + 10), (cx + 22, h), 1.0, -1)
    spread = rng.uniform(4, 14)
    lengths = rng.uniform(0.85, 1.1) * np.array([46, 56, 52, 40])
    for k, (dx, ln) in enumerate(zip((-21, -7, 7, 21), lengths)):
        ang = math.radians(-90 + (k - 1.5) * spread)
        x0, y0 = cx + dx, cy - 22
        x1, y1 = x0 + ln * math.cos(ang), y0 + ln * math.sin(ang)
        cv2.line(a, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, int(rng.integers(11, 14)), cv2.LINE_AA)
    tang = math.radians(rng.uniform(-170, -130))
    tx0, ty0 = cx - 24, cy + 5
    cv2.line(a, (tx0, ty0), (int(tx0 + 40 * math.cos(tang)), int(ty0 + 40 * math.sin(tang))), 1.0, 14, cv2.LINE_AA)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    shade = 0.85 + 0.25 * (xx / w) + 0.05 * np.sin(yy / 9.0)
    rgb[:] = skin[None, None] * shade[..., None]
    crease = np.zeros((h, w), np.float32)
    for k in range(3):
        cv2.line(crease, (cx - 14 + 14 * k, cy - 24), (cx - 14 + 14 * k, cy - 50), 1.0, 1, cv2.LINE_AA)
    rgb *= (1 - 0.25 * cv2.GaussianBlur(crease, (0, 0), 1.0))[..., None]
    return _finish(f"proc_hand_{i}", rgb, a)


def procedural_glasses(rng, i, sun: bool) -> Sprite:
    """A pair of glasses: frame only (``sun`` False) or with tinted lenses (sunglasses)."""
    h, w = 48, 128
    rgb, a = _rgba_canvas(h, w)
    frame_col = rng.uniform(0, 60, 3) if rng.random() < 0.7 else rng.uniform(0, 255, 3)
    ax, ay = int(rng.integers(22, 27)), int(rng.integers(13, 19))
    centres = ((33, 24), (95, 24))
    thick = int(rng.integers(2, 5)) if sun else int(rng.integers(1, 3))
    if sun:
        lens_col = rng.uniform(0, 70, 3) if rng.random() < 0.7 else rng.uniform(0, 200, 3)
        lens_alpha = rng.uniform(0.8, 1.0)
        for c in centres:
            cv2.ellipse(a, c, (ax, ay), 0, 0, 360, lens_alpha, -1, cv2.LINE_AA)
            cv2.ellipse(rgb, c, (ax, ay), 0, 0, 360, lens_col.tolist(), -1, cv2.LINE_AA)
        yy = np.arange(h, dtype=np.float32)[:, None, None] / h
        rgb *= 0.8 + 0.4 * yy  # gradient tint
        # a highlight
        hl = np.zeros((h, w), np.float32)
        cv2.ellipse(hl, (26, 16), (8, 3), -20, 0, 360, 1.0, -1, cv2.LINE_AA)
        rgb += 60 * cv2.GaussianBlur(hl, (0, 0), 2)[..., None]
    fr = np.zeros((h, w), np.float32)
    for c in centres:
        cv2.ellipse(fr, c, (ax, ay), 0, 0, 360, 1.0, thick, cv2.LINE_AA)
    cv2.line(fr, (33 + ax - 2, 20), (95 - ax + 2, 20), 1.0, thick, cv2.LINE_AA)
    cv2.line(fr, (0, 18), (33 - ax + 1, 20), 1.0, thick, cv2.LINE_AA)
    cv2.line(fr, (w - 1, 18), (95 + ax - 1, 20), 1.0, thick, cv2.LINE_AA)
    rgb = rgb * (1 - fr[..., None]) + frame_col * fr[..., None]
    a = np.maximum(a, fr)
    return _finish(f"proc_{'sun' if sun else 'eye'}glasses_{i}", rgb, a, blur=0.4)


def procedural_mask(rng, i) -> Sprite:
    """A pleated face mask with the six MaskTheFace anchors."""
    h, w = 170, 210
    rgb, a = _rgba_canvas(h, w)
    anchors = np.array([[10, 40], [105, 8], [200, 40], [22, 120], [105, 165], [188, 120]], np.float32)
    t = np.linspace(0, 1, 9)[:, None]
    top = [
        (1 - t) ** 2 * anchors[0] + 2 * (1 - t) * t * np.array([55, 0]) + t**2 * anchors[1],
        (1 - t) ** 2 * anchors[1] + 2 * (1 - t) * t * np.array([155, 0]) + t**2 * anchors[2],
    ]
    bottom = [
        (1 - t) ** 2 * anchors[5] + 2 * (1 - t) * t * np.array([170, 160]) + t**2 * anchors[4],
        (1 - t) ** 2 * anchors[4] + 2 * (1 - t) * t * np.array([40, 160]) + t**2 * anchors[3],
    ]
    poly = np.concatenate(top + [anchors[2:3]] + bottom + [anchors[3:4]])
    cv2.fillPoly(a, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    palette = np.array([[150, 200, 230], [235, 235, 235], [30, 30, 35], [120, 170, 150], [200, 80, 90]], np.float32)
    col = palette[i % len(palette)] * rng.uniform(0.9, 1.1)
    rgb[:] = col
    for y in (60, 90, 120):  # pleats
        cv2.line(rgb, (20, y), (190, y + 5), (col * 0.8).tolist(), 2, cv2.LINE_AA)
    return _finish(f"proc_mask_{i}", rgb, a, {"anchors": anchors, "family": "proc"})


def procedural_scarf(rng, i) -> Sprite:
    """An opaque striped, knitted rectangle of cloth."""
    h, w = 110, 160
    rgb, a = _rgba_canvas(h, w)
    a[:] = 1.0
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    period = rng.uniform(8, 24)
    stripes = (np.sin((yy + 0.3 * xx) * 2 * np.pi / period) > 0).astype(np.float32)
    rgb[:] = c1 * stripes[..., None] + c2 * (1 - stripes[..., None])
    rgb *= (0.85 + 0.15 * np.sin(xx / 2.0) * np.sin(yy / 2.0))[..., None]  # knit
    return _finish(f"proc_scarf_{i}", rgb, a, blur=0)


def procedural_objects(rng, n) -> list[Sprite]:
    """``n`` objects, in turn a phone, cup, microphone, cigarette, bottle and ball."""
    makers = (_obj_phone, _obj_cup, _obj_microphone, _obj_cigarette, _obj_bottle, _obj_ball)
    return [makers[i % len(makers)](rng, i) for i in range(n)]


def _obj_phone(rng, i):
    h, w = 140, 72
    rgb, a = _rgba_canvas(h, w)
    cv2.rectangle(a, (2, 2), (w - 3, h - 3), 1.0, -1)
    a = cv2.GaussianBlur(a, (0, 0), 2.5)
    a = (a > 0.5).astype(np.float32)
    body = rng.uniform(10, 60, 3) if rng.random() < 0.6 else rng.uniform(120, 240, 3)
    rgb[:] = body
    if rng.random() < 0.6:  # screen side
        yy = np.linspace(0, 1, h - 20, dtype=np.float32)[:, None, None]
        scr = rng.uniform(0, 255, 3) * (1 - yy) + rng.uniform(0, 255, 3) * yy
        rgb[10 : h - 10, 5 : w - 5] = scr[:, :1] * np.ones((1, w - 10, 1), np.float32)
    else:  # back with camera
        cv2.circle(rgb, (16, 16), 7, (20, 20, 20), -1, cv2.LINE_AA)
    return _finish(f"proc_phone_{i}", rgb, a, {"subkind": "phone"}, blur=0.5)


def _obj_cup(rng, i):
    h, w = 110, 120
    rgb, a = _rgba_canvas(h, w)
    poly = np.array([[10, 5], [90, 5], [80, 105], [20, 105]], np.int32)
    cv2.fillPoly(a, [poly], 1.0, cv2.LINE_AA)
    cv2.ellipse(a, (92, 50), (20, 26), 0, -90, 90, 1.0, 9, cv2.LINE_AA)
    col = rng.uniform(40, 250, 3)
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    rgb[:] = col * (1.0 - 0.35 * xx**2)
    cv2.ellipse(rgb, (50, 7), (40, 5), 0, 0, 360, (col * 0.5).tolist(), -1, cv2.LINE_AA)
    return _finish(f"proc_cup_{i}", rgb, a, {"subkind": "cup"})


def _obj_microphone(rng, i):
    h, w = 170, 60
    rgb, a = _rgba_canvas(h, w)
    cv2.circle(a, (30, 30), 27, 1.0, -1, cv2.LINE_AA)
    cv2.fillPoly(a, [np.array([[18, 52], [42, 52], [36, h - 1], [24, h - 1]], np.int32)], 1.0, cv2.LINE_AA)
    handle = rng.uniform(10, 50, 3)
    rgb[:] = handle
    yy, xx = np.mgrid[:60, :60].astype(np.float32)
    mesh = 140 + 50 * ((np.sin(xx * 1.6) * np.sin(yy * 1.6)) > 0) - 60 * (((xx - 30) ** 2 + (yy - 30) ** 2) / 900)
    rgb[:60] = mesh[..., None] * np.ones(3, np.float32)
    return _finish(f"proc_mic_{i}", rgb, a, {"subkind": "microphone"})


def _obj_cigarette(rng, i):
    h, w = 14, 120
    rgb, a = _rgba_canvas(h, w)
    cv2.rectangle(a, (0, 3), (w - 1, 10), 1.0, -1)
    rgb[:] = (240, 238, 230)
    filt = rng.uniform(0, 1) < 0.7
    rgb[:, :35] = (210, 150, 80) if filt else (240, 238, 230)
    rgb[:, w - 8 :] = (150, 60, 30) if rng.random() < 0.5 else (90, 90, 90)
    yy = np.abs(np.arange(h, dtype=np.float32) - 6.5)[:, None, None] / 4
    rgb *= 1 - 0.25 * yy
    return _finish(f"proc_cigarette_{i}", rgb, a, {"subkind": "cigarette"}, blur=0.4)


def _obj_bottle(rng, i):
    h, w = 180, 64
    rgb, a = _rgba_canvas(h, w)
    cv2.rectangle(a, (22, 0), (42, 40), 1.0, -1)
    cv2.fillPoly(
        a, [np.array([[22, 40], [42, 40], [60, 75], [60, h - 1], [4, h - 1], [4, 75]], np.int32)], 1.0, cv2.LINE_AA
    )
    col = rng.uniform(20, 230, 3)
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    rgb[:] = col * (1.0 - 0.4 * xx**2) + 60 * np.exp(-((xx + 0.4) ** 2) / 0.01)
    rgb[100:140] = rng.uniform(0, 255, 3)  # label
    return _finish(f"proc_bottle_{i}", rgb, a, {"subkind": "cup"})


def _obj_ball(rng, i):
    s = 100
    rgb, a = _rgba_canvas(s, s)
    cv2.circle(a, (50, 50), 47, 1.0, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[:s, :s].astype(np.float32)
    col = rng.uniform(30, 250, 3)
    light = 1.15 - 0.6 * (((xx - 35) ** 2 + (yy - 35) ** 2) / 5000)
    rgb[:] = col * light[..., None]
    return _finish(f"proc_ball_{i}", rgb, a, {"subkind": "fruit"})


def procedural_textures(rng, n) -> list[np.ndarray]:
    """``n`` 64 px RGB textures: in turn low-frequency noise, stripes, checks and a grainy gradient."""
    out = []
    yy, xx = np.mgrid[:64, :64].astype(np.float32)
    for i in range(n):
        kind = i % 4
        c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        if kind == 0:  # low-frequency noise
            noise = cv2.resize(rng.random((6, 6)).astype(np.float32), (64, 64), interpolation=cv2.INTER_CUBIC)
            t = np.clip(noise, 0, 1)[..., None]
        elif kind == 1:  # stripes
            t = (np.sin((xx * rng.uniform(-1, 1) + yy) / rng.uniform(2, 6)) > 0).astype(np.float32)[..., None]
        elif kind == 2:  # checks
            p = rng.uniform(5, 14)
            t = (((xx // p) + (yy // p)) % 2)[..., None]
        else:  # gradient with grain
            t = (xx / 64)[..., None] + rng.normal(0, 0.08, (64, 64, 1)).astype(np.float32)
        out.append(np.clip(c1 * t + c2 * (1 - t), 0, 255).astype(np.uint8))
    return out
