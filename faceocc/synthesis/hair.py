"""The hair recipe: opaque locks and fringes, or thin semi-transparent strands in the person's own hair colour."""

from __future__ import annotations

import cv2
import numpy as np

from .compose import paste_layer
from .context import Context

HAIR_MODES = ("eye", "forehead", "strands", "strands_forehead")
#: hair colours (RGB) of the locks, and of the strands when the person's own colour is not found
HAIR_PALETTE = np.array(
    [
        [20, 16, 14],
        [40, 28, 20],
        [70, 48, 32],
        [105, 75, 50],
        [170, 140, 95],
        [200, 175, 130],
        [120, 55, 30],
        [140, 140, 140],
    ],
    np.float32,
)
_HAIR_P = np.array([0.25, 0.25, 0.15, 0.1, 0.08, 0.05, 0.07, 0.05])


_T18 = np.linspace(0, 1, 18, dtype=np.float32)[None, :, None]


def _bezier(p0, p1, p2) -> np.ndarray:
    """Quadratic Bezier curves, (L, 18, 2) from (L, 2) control points."""
    p0, p1, p2 = (np.asarray(p, np.float32)[:, None] for p in (p0, p1, p2))
    t = _T18
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _draw_locks(ctx: Context, alpha, curves: np.ndarray, width: np.ndarray, n_strands: int):
    """Locks of hair along ``curves`` (L, n, 2) with widths (L, n): opaque cores plus strands of uneven
    length (ragged tips and edges). Returns the strands (int32 polylines, 1/16 px) in three shade groups."""
    rng, f = ctx.rng, ctx.face
    nl, n = curves.shape[:2]
    tang = np.empty_like(curves)
    tang[:, 1:-1] = curves[:, 2:] - curves[:, :-2]
    tang[:, 0], tang[:, -1] = curves[:, 1] - curves[:, 0], curves[:, -1] - curves[:, -2]
    tang /= np.maximum(np.sqrt((tang**2).sum(-1, keepdims=True)), 1e-3)
    normal = np.stack([-tang[..., 1], tang[..., 0]], -1)
    core_n = max(2, int(n * rng.uniform(0.7, 0.9)))
    half = 0.42 * width[:, :core_n, None]
    c, nm = curves[:, :core_n], normal[:, :core_n]
    polys = np.concatenate([c + nm * half, (c - nm * half)[:, ::-1]], 1)
    cv2.fillPoly(alpha, list(np.round(polys * 16).astype(np.int32)), 1.0, cv2.LINE_AA, 4)
    k = nl * n_strands
    lock = np.repeat(np.arange(nl), n_strands)
    offs = rng.uniform(-0.5, 0.5, (k, 1, 1)).astype(np.float32)
    lens = np.maximum((n * rng.uniform(0.65, 1.0, k)).astype(int), 2)
    phase = rng.uniform(0, 6.28, (k, 1, 1)).astype(np.float32)
    shade = rng.integers(0, 3, k)
    pts = curves[lock] + normal[lock] * (width[lock][..., None] * offs + f.iod * 0.03 * np.sin(_T18 * 9 + phase))
    pts = np.round(pts * 16).astype(np.int32)
    groups: list[list[np.ndarray]] = [[], [], []]
    for i in range(k):
        groups[shade[i]].append(pts[i, : lens[i]])
    return groups


#: probability that the hair recipe draws thin, semi-transparent strands in the person's own hair colour
HAIR_STRANDS_P = 0.4
#: a strand pixel counts as covered in the occlusion map where its (combined) alpha is at least this
STRAND_COVER_ALPHA = 0.5


def own_hair_colour(ctx: Context) -> np.ndarray | None:
    """The person's own hair colour, from the crop's top band (above the brows, top corners included): the median
    of the pixels that look neither like the face's skin nor like a plain light background. None when too few are
    left (a bald head, a wall, a hat): the caller falls back to ``HAIR_PALETTE``."""
    s = ctx.size
    band = ctx.crop[: max(2, int(0.16 * s))].reshape(-1, 3).astype(np.float32)
    skin = ctx.face_mean
    skin_like = np.sqrt(((band - skin) ** 2).sum(1)) < 0.22 * float(np.linalg.norm(skin)) + 12
    chroma = band.max(1) - band.min(1)
    background = (chroma < 22) & (band.mean(1) > 130)  # white / grey walls, sky
    unnatural = (band[:, 2] > band[:, 0] + 12) | (band[:, 1] > band[:, 0] + 12)  # blue / green: a background
    keep = band[~skin_like & ~background & ~unnatural]
    if len(keep) < 0.2 * len(band):
        return None
    return np.median(keep, 0).astype(np.float32)


#: alpha levels of the strands
_STRAND_LEVELS = np.array([0.35, 0.45, 0.55, 0.65, 0.8])
#: strands are drawn this many times supersampled on 8-bit canvases (OpenCV anti-aliases only 8-bit images), then
#: area-downsampled
_SS = 4


def _strand_colour(ctx: Context) -> tuple[np.ndarray, str]:
    """(strand colour, "own" or "palette"): the person's hair colour, or one of HAIR_PALETTE when none is found."""
    rng = ctx.rng
    own = own_hair_colour(ctx)
    if own is not None:
        base, source = own * rng.uniform(0.92, 1.08, 3), "own"
    else:
        base = HAIR_PALETTE[int(rng.choice(len(HAIR_PALETTE), p=_HAIR_P))] * rng.uniform(0.85, 1.15, 3)
        source = "palette"
    return np.clip(base, 0, 255).astype(np.float32), source


def _strand_curves(ctx: Context, negative: bool) -> np.ndarray:
    """Curves (k, 18, 2) of the strands, in clumps: over one eye, or (``negative``) a fringe above the brows."""
    f, u, rng = ctx.face, ctx.u, ctx.rng
    side = ctx.choice((-1, 1))
    top = -2.2
    n_clumps = int(rng.integers(3, 7))
    if negative:  # a fringe across the forehead, above the brows
        centres = np.linspace(-u(0.4, 0.9), u(0.4, 0.9), n_clumps) + rng.uniform(-0.1, 0.1, n_clumps)
    else:  # over one eye (the eye at x = side * 0.5)
        centres = side * 0.5 + np.linspace(-u(0.15, 0.35), u(0.15, 0.35), n_clumps) + rng.uniform(-0.06, 0.06, n_clumps)
    sweep = u(-0.5, 0.5)  # the strands come from the parting, sideways
    bend = u(-0.35, 0.35)  # and fall in a common curve
    counts = rng.integers(5, 14, n_clumps)
    k = int(counts.sum())
    spread = np.repeat(rng.uniform(0.02, 0.06, n_clumps), counts)
    x = np.repeat(centres, counts) + rng.normal(0, 1, k) * spread
    if negative:
        ye = ctx.frame.face_top - rng.uniform(0.08, 0.45, k) - 0.25 * (x / 1.2) ** 2
    else:
        ye = np.where(rng.random(k) < 0.85, rng.uniform(0.15, 0.9, k), rng.uniform(-0.05, 0.15, k))
    ends = f.pt(x[:, None] + side * rng.uniform(0.0, 0.25, (k, 1)), ye[:, None])
    starts = f.pt(x[:, None] + sweep + rng.uniform(-0.15, 0.15, (k, 1)), np.full((k, 1), top))
    ctrl = (starts + ends) / 2 + f.u * f.iod * (bend + rng.uniform(-0.08, 0.08, (k, 1)))
    curves = _bezier(starts, ctrl, ends)
    wave = np.sin(_T18[..., 0] * rng.uniform(4, 9, (k, 1)) + rng.uniform(0, 6.3, (k, 1)))
    return curves + f.u * f.iod * 0.02 * wave[..., None]


def _draw_strands(curves, lev, th, shade, lens, rgb: np.ndarray, alpha: np.ndarray) -> bool:
    """Draw the strands into ``alpha`` (levels ``lev``, thinner fainter tips) and shade ``rgb`` under them (darker,
    base, lighter by ``shade``), in place. ``th``: thickness in supersampled pixels; ``lens``: points drawn of each
    curve. False when the strands' bounding box is empty (nothing drawn)."""
    size, ss, k = alpha.shape[0], _SS, len(curves)
    pts = np.round(curves * ss).astype(np.int32)
    # only the strands' bounding box is drawn (speed)
    lo = np.clip(pts.reshape(-1, 2).min(0) // ss - 3, 0, size)
    hi = np.clip(pts.reshape(-1, 2).max(0) // ss + 4, 0, size)
    if (hi <= lo).any():
        return False
    pts -= (lo * ss).astype(np.int32)
    bw, bh = int(hi[0] - lo[0]), int(hi[1] - lo[1])
    big_a = np.zeros((bh * ss, bw * ss), np.uint8)
    big_c = np.zeros((bh * ss, bw * ss), np.uint8)  # shade of each strand, 128 = the base colour
    body = [pts[i, : max(lens[i] - 4, 2)] for i in range(k)]
    tips = [pts[i, max(lens[i] - 5, 1) : lens[i]] for i in range(k)]  # thinner, fainter tips
    tip_lev = np.maximum(lev - 2, 0)
    for li in range(len(_STRAND_LEVELS)):  # weakest first: an overlap keeps the stronger alpha
        val = int(255 * _STRAND_LEVELS[li])
        for t in np.unique(th):
            sel = np.flatnonzero((lev == li) & (th == t))
            if len(sel):
                cv2.polylines(big_a, [body[i] for i in sel], False, val, int(t))
            sel = np.flatnonzero((tip_lev == li) & (th == t))
            if len(sel):
                cv2.polylines(big_a, [tips[i] for i in sel], False, val, max(2, int(t) // 2))
    for si, val in enumerate((96, 128, 164)):
        for t in np.unique(th):
            sel = np.flatnonzero((shade == si) & (th == t))
            if len(sel):
                cv2.polylines(big_c, [pts[i, : lens[i]] for i in sel], False, val, int(t))
    box = (slice(int(lo[1]), int(hi[1])), slice(int(lo[0]), int(hi[0])))
    alpha[box] = cv2.resize(big_a, (bw, bh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    drawn = cv2.resize((big_c > 0).astype(np.float32), (bw, bh), interpolation=cv2.INTER_AREA)
    shade_map = cv2.resize(big_c.astype(np.float32), (bw, bh), interpolation=cv2.INTER_AREA)
    rgb[box] *= np.clip(np.where(drawn > 1e-3, shade_map / np.maximum(drawn, 1e-3) / 128.0, 1.0), 0.6, 1.5)[..., None]
    return True


def hair_strands_layer(ctx: Context, negative: bool):
    """Thin strands (1-3 px at 112 px) falling from the forehead, in clumps with gaps: across one eye to the cheek,
    or (``negative``) a fringe ending above the brows. Returns (rgb, alpha, colour, source of the colour)."""
    f, u, rng = ctx.face, ctx.u, ctx.rng
    base, source = _strand_colour(ctx)
    size = ctx.size
    alpha = np.zeros((size, size), np.float32)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = base
    curves = _strand_curves(ctx, negative)
    k = len(curves)
    lev = rng.integers(0, len(_STRAND_LEVELS), k)
    th = np.array([3, 4, 4, 5, 6, 8, 10, 12])[rng.integers(0, 8, k)] * max(1, round(f.unit))  # 0.75-3 px at 112 px
    shade = rng.integers(0, 3, k)  # darker, base, lighter
    lens = rng.integers(12, 19, k)  # ragged ends: strands stop at different lengths
    if not _draw_strands(curves, lev, th, shade, lens, rgb, alpha):
        return rgb, alpha, base, source
    # a faint veil between the strands of a clump (alone it never counts as covering: alpha < STRAND_COVER_ALPHA)
    veil = np.minimum(cv2.GaussianBlur(alpha, (0, 0), 1.2 * f.unit) * u(0.25, 0.5), 0.3)
    alpha = np.clip(1 - (1 - alpha) * (1 - veil), 0, 0.8)
    return rgb, alpha.astype(np.float32), base, source


def _hair_strands(ctx: Context, negative: bool) -> None:
    """Paste thin strands (see :func:`hair_strands_layer`); covered where their alpha >= STRAND_COVER_ALPHA."""
    rgb, alpha, _, _ = hair_strands_layer(ctx, negative)
    # Semi-transparent strands: a pixel counts as covered where the strands' alpha is >= STRAND_COVER_ALPHA (0.5);
    # the faint veil and the thin translucent tips stay below it, so the eye showing through them is not "covered".
    occ = (alpha >= STRAND_COVER_ALPHA).astype(np.float32)
    ctx.modes.append("hair:strands_forehead" if negative else "hair:strands")
    paste_layer(ctx, rgb, alpha, "hair", colour="none", feather=0.0, shadow=False, occ=occ)


def add_hair(ctx: Context, negative: bool | None = None, strands: bool | None = None) -> None:
    """The hair recipe: locks over an eye, a fringe (above the brows when ``negative``: a hard negative) or thin
    strands (``strands``); each choice left None is drawn at random."""
    f, u = ctx.face, ctx.u
    rng = ctx.rng
    if negative is None:
        negative = ctx.chance(0.35)
    if strands is None:
        strands = ctx.chance(HAIR_STRANDS_P)
    if strands:
        _hair_strands(ctx, negative)
        return
    ctx.modes.append("hair:forehead" if negative else "hair:locks")
    base = HAIR_PALETTE[int(rng.choice(len(HAIR_PALETTE), p=_HAIR_P))] * rng.uniform(0.85, 1.15, 3)
    if ctx.chance(0.4):  # the colour at the top corners of the crop (often the person's own hair)
        s = ctx.size
        corners = np.concatenate(
            [ctx.img[: s // 6, : s // 6].reshape(-1, 3), ctx.img[: s // 6, -(s // 6) :].reshape(-1, 3)]
        )
        col = np.median(corners, 0)
        if col.mean() < 110:
            base = col
    size = ctx.size
    alpha = np.zeros((size, size), np.float32)
    top = -2.2
    ones = np.ones(18, np.float32)
    if negative or ctx.chance(0.3):  # a fringe: above the brows (negative) or straight bangs down to the eyes
        nl = int(rng.integers(4, 8))
        xe = np.linspace(-u(0.5, 1.2), u(0.5, 1.2), nl)
        xe = xe + rng.uniform(-0.12, 0.12, nl)
        span = max(np.abs(xe).max(), 1e-3)
        if negative:
            ye = ctx.frame.face_top - rng.uniform(0.03, 0.45, nl) - 0.3 * (xe / span) ** 2
        else:
            ye = u(-0.2, 0.2) + rng.uniform(-0.08, 0.08, nl) - 0.35 * (xe / span) ** 2
        xs = 0.6 * xe + rng.uniform(-0.3, 0.3, nl)
        ends = np.stack([f.pt(x, y) for x, y in zip(xe, ye)])
        starts = np.stack([f.pt(x, top) for x in xs])
        ctrl = (starts + ends) / 2 + f.u * f.iod * rng.uniform(-0.12, 0.12, (nl, 1))
        widths = f.iod * rng.uniform(0.35, 0.6, (nl, 1)) * ones
        groups = _draw_locks(ctx, alpha, _bezier(starts, ctrl, ends), widths.astype(np.float32), 10)
    else:  # a side-swept lock over one eye, ending at the side of the face
        side = ctx.choice((-1, 1))
        nl = 1 if ctx.chance(0.6) else 2
        starts = np.stack([f.pt(-side * u(0.0, 0.7), top) for _ in range(nl)])
        over = np.stack([f.pt(side * 0.5 + u(-0.25, 0.25), u(-0.05, 0.2)) for _ in range(nl)])
        ends = np.stack([f.pt(side * u(0.9, 1.4), u(0.0, 0.6)) for _ in range(nl)])
        ctrl = 2 * over - 0.5 * (starts + ends)  # the curve passes through `over`
        taper = 1 - (1 - rng.uniform(0.5, 0.9, (nl, 1))) * _T18[0, :, 0][None]
        widths = f.iod * rng.uniform(0.35, 0.75, (nl, 1)) * taper
        groups = _draw_locks(ctx, alpha, _bezier(starts, ctrl, ends), widths.astype(np.float32), 30)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = base
    thick = 1 if f.unit < 1.5 else 2
    for k, factor in enumerate((0.6, 1.0, 1.45)):
        if groups[k]:
            col = np.clip(base * factor * u(0.9, 1.1), 0, 255).tolist()
            cv2.polylines(rgb, groups[k], False, col, thick, cv2.LINE_AA, 4)
            cv2.polylines(alpha, groups[k], False, 1.0, thick, cv2.LINE_AA, 4)
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.35 * f.unit)
    paste_layer(ctx, rgb, alpha, "hair", colour="none", feather=0.4 * f.unit, shadow=True)
