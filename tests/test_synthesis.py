"""Tests of the synthetic occlusion engine (no data folder needed: procedural occluders, a drawn face)."""

import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from faceocc.alignment import CROP_SIZE, TEMPLATE
from faceocc.datasets import OCCLUDER_TYPES
from faceocc.synthesis import (
    DEFAULT_WEIGHTS,
    HAND_MODES,
    KINDS,
    OccluderLibrary,
    Synthesized,
    labels_from_mask,
    synthesize,
)


def face_crop(size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A drawn face-like crop (skin ellipse, eyes, brows, nose, mouth at the canonical landmarks)."""
    k = size / CROP_SIZE
    lm = (TEMPLATE * k).astype(np.float32)
    img = np.full((size, size, 3), (90, 110, 140), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    img[(yy - 60 * k) ** 2 / (50 * k) ** 2 + (xx - 56 * k) ** 2 / (38 * k) ** 2 < 1] = (225, 180, 150)
    for e in lm[:2]:
        cv2.ellipse(img, (int(e[0]), int(e[1])), (int(6 * k), int(3 * k)), 0, 0, 360, (60, 40, 30), -1)
        cv2.line(img, (int(e[0] - 8 * k), int(e[1] - 8 * k)), (int(e[0] + 8 * k), int(e[1] - 9 * k)), (70, 50, 40), 2)
    cv2.circle(img, (int(lm[2, 0]), int(lm[2, 1])), int(3 * k), (190, 140, 120), -1)
    cv2.line(img, tuple(int(v) for v in lm[3]), tuple(int(v) for v in lm[4]), (160, 60, 60), max(1, int(3 * k)))
    return img, lm


@pytest.fixture(scope="module")
def lib():
    return OccluderLibrary.procedural(0)


@pytest.fixture(scope="module")
def face():
    return face_crop()


def test_every_kind_shapes_and_types(lib, face):
    crop, lm = face
    rng = np.random.default_rng(0)
    assert set(lib.kinds()) == set(KINDS)
    for kind in KINDS:
        for _ in range(5):
            s = synthesize(crop, lm, lib, rng, kind=kind)
            assert isinstance(s, Synthesized)
            assert s.image.shape == crop.shape and s.image.dtype == np.uint8
            assert s.occlusion.shape == crop.shape[:2] and s.occlusion.dtype == np.float32
            assert 0.0 <= s.occlusion.min() and s.occlusion.max() <= 1.0
            assert set(s.occluders) == set(OCCLUDER_TYPES)
            assert all(v in (0.0, 1.0) for v in s.occluders.values())
            assert s.kind == kind
    s = synthesize(crop, lm, lib, rng, kind="none", postprocess=False)
    assert np.array_equal(s.image, crop) and s.occlusion.max() == 0 and not any(s.occluders.values())


def test_default_weights():
    assert set(DEFAULT_WEIGHTS) <= set(KINDS)
    assert abs(sum(DEFAULT_WEIGHTS.values()) - 1.0) < 1e-6


def test_sampled_kinds_follow_weights(lib, face):
    crop, lm = face
    rng = np.random.default_rng(1)
    kinds = [synthesize(crop, lm, lib, rng, weights={"hand": 1.0, "border": 1.0}).kind for _ in range(40)]
    assert set(kinds) == {"hand", "border"}
    with pytest.raises(ValueError):
        synthesize(crop, lm, lib, rng, kind="unicorn")


def test_hand_over_mouth(lib, face):
    crop, lm = face
    rng = np.random.default_rng(2)
    mouth, eyes = [], []
    for _ in range(20):
        s = synthesize(crop, lm, lib, rng, kind="hand", mode="mouth", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert lab["occluded"] and s.occluders["hand"] == 1.0
        mouth.append(lab["parts"]["mouth"])
        eyes.append(max(lab["parts"]["right_eye"], lab["parts"]["left_eye"]))
    assert np.mean(mouth) > 0.6 and min(mouth) > 0.3
    assert np.mean(eyes) < 0.2


def test_sunglasses_cover_both_eyes(lib, face):
    crop, lm = face
    rng = np.random.default_rng(3)
    for _ in range(10):
        s = synthesize(crop, lm, lib, rng, kind="sunglasses", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert s.occluders["sunglasses"] == 1.0 and lab["occluded"]
        assert lab["parts"]["right_eye"] > 0.3 and lab["parts"]["left_eye"] > 0.3
        assert lab["parts"]["mouth"] < 0.05


def test_eyeglasses_alone_are_not_an_occlusion(lib, face):
    crop, lm = face
    rng = np.random.default_rng(4)
    for _ in range(10):
        s = synthesize(crop, lm, lib, rng, kind="eyeglasses", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert s.occluders["eyeglasses"] == 1.0
        assert sum(v for t, v in s.occluders.items() if t != "eyeglasses") == 0
        assert not lab["occluded"] and lab["coverage"] < 1e-6
        assert not np.array_equal(s.image, crop)  # something was drawn


def test_hard_negatives_stay_clean(lib, face):
    crop, lm = face
    rng = np.random.default_rng(5)
    clean = visible = 0
    for _ in range(20):
        s = synthesize(crop, lm, lib, rng, kind="hand", mode="outline", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert lab["occluded"] == bool(s.occluders["hand"])  # the labels and the types agree
        clean += not lab["occluded"]
        visible += s.occlusion.sum() > 100  # the hand is in the picture
    assert clean >= 16 and visible >= 16
    for _ in range(10):
        s = synthesize(crop, lm, lib, rng, kind="hair", mode="forehead", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert not lab["occluded"] and s.occluders["other"] == 0.0 and s.occlusion.max() > 0.5
        s = synthesize(crop, lm, lib, rng, kind="hair", mode="eye", second=False)
        assert labels_from_mask(s.occlusion, s.occluders)["occluded"] and s.occluders["other"] == 1.0


def test_resting_hands_cross_the_outline_a_little(lib, face):
    """The positive twin of the outline negatives: a hand on the cheek or jaw covering a few percent of the face."""
    crop, lm = face
    rng = np.random.default_rng(6)
    small = 0
    for _ in range(20):
        s = synthesize(crop, lm, lib, rng, kind="hand", mode="rest", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert lab["occluded"] and s.occluders["hand"] == 1.0
        small += 0.02 <= lab["coverage"] <= 0.25
    assert small >= 16


def test_touching_fingers_are_small_skin_coloured_occlusions(lib, face):
    """The `touch` pose: fingertips on a cheek, knuckles under the chin, a finger on the lips. Most cover a few
    percent of the inner face (occluded), the hand's body stays mostly outside it, and its colour is the face's."""
    from faceocc.alignment import part_masks

    crop, lm = face
    inner = part_masks(CROP_SIZE)["face"] > 0.5
    rng = np.random.default_rng(8)
    occluded, small, outside, colour = 0, 0, [], []
    for _ in range(40):
        s = synthesize(crop, lm, lib, rng, kind="hand", mode="touch", second=False)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert lab["occluded"] == bool(s.occluders["hand"])  # the labels and the types agree
        occluded += lab["occluded"]
        small += 0.02 <= lab["coverage"] <= 0.2
        covered = s.occlusion > 0.5
        outside.append((covered & ~inner).sum() / max(covered.sum(), 1))
        colour.append(np.abs(s.image[covered].mean(0) - np.array([225, 180, 150])).max())
    assert occluded >= 30 and small >= 25
    assert np.median(outside) > 0.4
    assert np.median(colour) < 50


def test_hand_pose_weights_choose_the_poses(lib, face):
    from faceocc.synthesis import hand_pose_probabilities

    p = hand_pose_probabilities({"touch": 0.0, "forehead": 1.0})
    assert p.sum() == pytest.approx(1.0) and p[HAND_MODES.index("touch")] == 0.0
    crop, lm = face
    rng = np.random.default_rng(9)
    only = {m: 0.0 for m in HAND_MODES} | {"mouth": 1.0}
    for _ in range(5):  # every hand goes over the mouth
        s = synthesize(crop, lm, lib, rng, kind="hand", second=False, hand_weights=only)
        assert labels_from_mask(s.occlusion, s.occluders)["parts"]["mouth"] > 0.3
    with pytest.raises(ValueError, match="unknown hand pose"):
        hand_pose_probabilities({"elbow": 1.0})


def test_flags_agree_with_labels(lib, face):
    crop, lm = face
    rng = np.random.default_rng(6)
    for _ in range(150):
        s = synthesize(crop, lm, lib, rng)
        lab = labels_from_mask(s.occlusion, s.occluders)
        occluding = any(s.occluders[t] for t in ("mask", "sunglasses", "hand", "other"))
        assert lab["occluded"] == occluding, (s.layers, lab, s.occluders)


def test_deterministic(lib, face):
    """For each of several seeds, two generators with that seed give the same sequence of samples (every call
    draws the same numbers); different seeds give different sequences, and a rebuilt library the same samples."""
    crop, lm = face
    a = [synthesize(crop, lm, lib, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(a[0].image, a[1].image) and np.array_equal(a[0].occlusion, a[1].occlusion)
    sequences = {}
    for seed in range(11, 17):
        r1, r2 = np.random.default_rng(seed), np.random.default_rng(seed)
        s1 = [synthesize(crop, lm, lib, r1) for _ in range(10)]
        s2 = [synthesize(crop, lm, lib, r2) for _ in range(10)]
        for x, y in zip(s1, s2, strict=True):
            assert x.kind == y.kind and x.layers == y.layers and x.modes == y.modes and x.occluders == y.occluders
            assert np.array_equal(x.image, y.image) and np.array_equal(x.occlusion, y.occlusion)
        assert r1.random() == r2.random()  # and left both generators in the same state
        sequences[seed] = b"".join(x.image.tobytes() + x.occlusion.tobytes() for x in s1)
    assert len(set(sequences.values())) == len(sequences)  # the seed matters
    lib2 = OccluderLibrary.procedural(0)
    s3 = synthesize(crop, lm, lib2, np.random.default_rng(7))
    assert np.array_equal(s3.image, a[0].image)


def test_other_sizes_and_jittered_landmarks(lib):
    crop, lm = face_crop(224)
    rng = np.random.default_rng(8)
    for kind in KINDS:
        s = synthesize(crop, lm + rng.normal(0, 2, lm.shape).astype(np.float32), lib, rng, kind=kind)
        assert s.image.shape == (224, 224, 3) and s.occlusion.shape == (224, 224)
    s = synthesize(crop, lm, lib, rng, kind="sunglasses", second=False)
    lab = labels_from_mask(s.occlusion, s.occluders)
    assert lab["parts"]["right_eye"] > 0.3 and lab["parts"]["left_eye"] > 0.3


def test_labels_from_mask():
    occ = np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    lab = labels_from_mask(occ, {})
    assert lab == {"occluded": False, "parts": lab["parts"], "coverage": 0.0}
    assert set(lab["parts"]) == {"right_eye", "left_eye", "nose", "mouth", "chin"}
    assert labels_from_mask(occ, {"sunglasses": 1.0})["occluded"]
    assert not labels_from_mask(occ, {"eyeglasses": 1.0})["occluded"]
    full = labels_from_mask(np.ones_like(occ))
    assert full["occluded"] and abs(full["coverage"] - 1) < 1e-5
    occ[:20] = 1  # forehead only
    assert not labels_from_mask(occ)["occluded"]
    occ[:] = 0
    m = TEMPLATE[3:].mean(0)
    cv2.circle(occ, (int(m[0]), int(m[1])), 10, 1.0, -1)
    lab = labels_from_mask(occ)
    assert lab["occluded"] and lab["parts"]["mouth"] > 0.5 and lab["parts"]["left_eye"] == 0


def test_speed_sanity(lib, face):
    crop, lm = face
    rng = np.random.default_rng(9)
    synthesize(crop, lm, lib, rng)
    t = time.perf_counter()
    for _ in range(100):
        synthesize(crop, lm, lib, rng)
    assert (time.perf_counter() - t) / 100 < 0.02  # ~1-2 ms expected; generous for loaded CI machines


def _write_png(path, rgba):
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def test_from_folder_split(tmp_path):
    rng = np.random.default_rng(0)

    def blob(h=40, w=60, colour=None):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = colour if colour is not None else rng.integers(0, 255, 3)
        cv2.ellipse(rgba, (w // 2, h // 2), (w // 2 - 4, h // 2 - 4), 0, 0, 360, (*rgba[0, 0, :3].tolist(), 255), -1)
        rgba[..., 3] = np.where(rgba[..., 3] > 0, 255, 0)
        return rgba

    for folder in ("hands", "sunglasses", "eyeglasses", "scarves", "masks"):
        (tmp_path / folder).mkdir()
        for i in range(10):
            _write_png(tmp_path / folder / f"{folder}_{i}.png", blob())
    (tmp_path / "objects").mkdir()
    for i in range(3):
        _write_png(tmp_path / "objects" / f"object_train_thing ({i + 30}).png", blob())
        _write_png(tmp_path / "objects" / f"object_test_thing{i}.png", blob())
    tdir = tmp_path / "mask_templates" / "templates"
    tdir.mkdir(parents=True)
    (tmp_path / "mask_templates" / "textures").mkdir()
    cfg = []
    for fam in ("alpha", "beta", "gamma", "delta", "eps"):
        for var in ("", "_left"):
            _write_png(tdir / f"{fam}{var}.png", blob(100, 120))
            cfg.append(
                f"[{fam}{var}]\ntemplate: masks/templates/{fam}{var}.png\nmask_a: 5, 20\nmask_b: 60, 5\n"
                f"mask_c: 115, 20\nmask_d: 10, 70\nmask_e: 60, 95\nmask_f: 110, 70\n"
            )
    (tmp_path / "mask_templates" / "masks.cfg").write_text("\n".join(cfg))
    for i in range(5):
        cv2.imwrite(
            str(tmp_path / "mask_templates" / "textures" / f"tex{i}.png"), rng.integers(0, 255, (32, 32, 3), np.uint8)
        )

    train = OccluderLibrary.from_folder(tmp_path, split="train")
    test = OccluderLibrary.from_folder(tmp_path, split="test")
    every = OccluderLibrary.from_folder(tmp_path, split="all")
    again = OccluderLibrary.from_folder(tmp_path, split="test")
    for cat in ("sunglasses", "eyeglasses", "scarves", "masks"):
        a = {s.name for s in train.sprites[cat]}
        b = {s.name for s in test.sprites[cat]}
        assert not a & b and len(a | b) == 10 and len(b) == 2
        assert b == {s.name for s in again.sprites[cat]}
        assert {s.name for s in every.sprites[cat]} == a | b
    objs_train = {s.name for s in train.sprites["objects"] if s.name.startswith("object_")}
    objs_test = {s.name for s in test.sprites["objects"] if s.name.startswith("object_")}
    assert all(n.startswith("object_train_") for n in objs_train) and len(objs_train) == 3
    assert all(n.startswith("object_test_") for n in objs_test) and len(objs_test) == 3
    fam_train = {s.meta["family"] for s in train.sprites["templates"]}
    fam_test = {s.meta["family"] for s in test.sprites["templates"]}
    assert len(fam_test) == 1 and not fam_train & fam_test and len(fam_train) == 4
    crop, lm = face_crop()
    rng = np.random.default_rng(0)
    for kind in train.kinds():
        synthesize(crop, lm, train, rng, kind=kind)
        synthesize(crop, lm, test, rng, kind=kind)


def test_no_torch_import():
    code = "import sys, faceocc.synthesis; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ thin hair strands, objects at the mouth corner


@pytest.fixture(scope="module")
def astro(astronaut, astronaut_face):
    """The astronaut, aligned to the canonical 112 px crop (as the grid and the crop cache do)."""
    from faceocc.alignment import align_face, estimate_transform, transform_points

    lm = np.asarray(astronaut_face.landmarks, np.float32)
    crop = align_face(astronaut, lm, CROP_SIZE)
    return crop, transform_points(lm, estimate_transform(lm, CROP_SIZE)).astype(np.float32)


def _eye_parts(lab):
    return max(lab["parts"]["right_eye"], lab["parts"]["left_eye"])


def test_hair_strands_over_an_eye_are_labelled_by_the_eye(lib, astro):
    from faceocc.synthesis import OCCLUDED_PART

    crop, lm = astro
    rng = np.random.default_rng(20)
    occluded = 0
    for _ in range(10):
        s = synthesize(crop, lm, lib, rng, kind="hair", mode="strands", second=False, postprocess=False)
        assert s.modes == ("hair:strands",)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert set(np.unique(s.occlusion)) <= {0.0, 1.0}  # covered where the strands' alpha >= 0.5
        assert lab["occluded"] == bool(s.occluders["other"])
        if lab["occluded"]:
            occluded += 1
            assert _eye_parts(lab) > OCCLUDED_PART  # it is the eye that is covered
            assert min(lab["parts"]["mouth"], lab["parts"]["chin"]) < 0.05
    assert occluded >= 8


def test_hair_strands_are_thin_semi_transparent_and_in_the_own_hair_colour(lib, astro):
    from faceocc.alignment import part_masks
    from faceocc.synthesis.context import Context
    from faceocc.synthesis.hair import hair_strands_layer, own_hair_colour

    crop, lm = astro
    own = own_hair_colour(Context(crop, lm, lib, np.random.default_rng(0)))
    hair = np.median(crop[2:14, 40:72].reshape(-1, 3), 0)  # the astronaut's hair, on top of her head
    assert own is not None and np.abs(own - hair).max() < 45  # her hair: lit top vs darker sides
    eyes = (part_masks(CROP_SIZE)["right_eye"] + part_masks(CROP_SIZE)["left_eye"]) > 0.5
    for seed in range(6):
        ctx = Context(crop, lm, lib, np.random.default_rng(seed))
        rgb, alpha, colour, source = hair_strands_layer(ctx, negative=False)
        assert source == "own" and np.abs(colour - own).max() < 0.1 * 255
        drawn = alpha > 0.05
        assert drawn.sum() > 100 and alpha.max() <= 0.8 + 1e-6  # never opaque
        assert ((alpha >= 0.35) & (alpha <= 0.8)).sum() > 50
        over_eye = drawn & eyes
        assert over_eye.sum() > 20
        assert (alpha[eyes & (alpha > 0.05) | eyes] < 0.5).mean() > 0.2  # gaps: the eye shows through
        assert np.abs(rgb[alpha > 0.3].mean(0) - colour).max() < 40  # strands in the person's hair colour
    # in the final image the covered pixels moved toward the hair colour
    s = synthesize(
        crop, lm, lib, np.random.default_rng(3), kind="hair", mode="strands", second=False, postprocess=False
    )
    cov = (s.occlusion > 0.5) & (np.arange(CROP_SIZE)[:, None] > 40)
    assert cov.sum() > 20
    before = np.abs(crop[cov].astype(np.float32) - own).mean()
    after = np.abs(s.image[cov].astype(np.float32) - own).mean()
    assert after < 0.8 * before


def test_hair_colour_falls_back_to_the_palette(lib, face):
    from faceocc.synthesis.context import Context
    from faceocc.synthesis.hair import HAIR_PALETTE, hair_strands_layer, own_hair_colour

    crop, lm = face  # skin and a blue-grey background: no hair to sample
    ctx = Context(crop, lm, lib, np.random.default_rng(0))
    assert own_hair_colour(ctx) is None
    _, _, colour, source = hair_strands_layer(ctx, negative=False)
    assert source == "palette" and np.abs(HAIR_PALETTE - colour).max(1).min() < 0.16 * 255


def test_strand_fringe_above_the_brows_is_a_negative(lib, astro):
    crop, lm = astro
    rng = np.random.default_rng(21)
    for _ in range(10):
        s = synthesize(crop, lm, lib, rng, kind="hair", mode="strands_forehead", second=False, postprocess=False)
        assert s.modes == ("hair:strands_forehead",)
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert not lab["occluded"] and s.occluders["other"] == 0.0
        assert s.occlusion.max() > 0.5 and _eye_parts(lab) == 0.0


def test_hair_and_object_sub_modes_are_sampled(lib, astro):
    crop, lm = astro
    rng = np.random.default_rng(22)
    hair = [synthesize(crop, lm, lib, rng, kind="hair", second=False).modes[0] for _ in range(60)]
    assert {"hair:strands", "hair:strands_forehead", "hair:locks", "hair:forehead"} <= set(hair)
    assert 0.2 < np.mean([m.startswith("hair:strands") for m in hair]) < 0.65
    obj = [synthesize(crop, lm, lib, rng, kind="object", second=False).modes[0] for _ in range(60)]
    assert 0.15 < np.mean([m == "object:mouth_corner" for m in obj]) < 0.6 and "object:free" in obj
    with pytest.raises(ValueError, match="unknown hair mode"):
        synthesize(crop, lm, lib, rng, kind="hair", mode="mouth_corner")
    with pytest.raises(ValueError, match="unknown object mode"):
        synthesize(crop, lm, lib, rng, kind="object", mode="strands")


@pytest.mark.parametrize("folder", [False, True])
def test_object_at_the_mouth_corner(lib, astro, folder, monkeypatch):
    from pathlib import Path

    from faceocc.alignment import part_masks

    crop, lm = astro
    if folder:
        root = Path("/work/shared/data/occluders")
        if not (root / "objects").is_dir():
            pytest.skip("no occluder folder")
        lib = OccluderLibrary.from_folder(root, split="train")
    mouth = part_masks(CROP_SIZE)["mouth"] > 0.5
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    yy, xx = np.mgrid[:CROP_SIZE, :CROP_SIZE]
    rng = np.random.default_rng(23)
    for _ in range(16):
        s = synthesize(crop, lm, lib, rng, kind="object", mode="mouth_corner", second=False, postprocess=False)
        assert s.modes == ("object:mouth_corner",)
        covered = s.occlusion > 0.5
        lab = labels_from_mask(s.occlusion, s.occluders)
        assert (covered & mouth).sum() > 0  # on the lips
        assert lab["occluded"] and s.occluders["other"] == 1.0
        assert sum(s.occluders.values()) == 1.0
        near = min(np.hypot(xx - c[0], yy - c[1])[covered].min() for c in lm[3:])
        assert near < 0.35 * iod  # at a corner, not floating away
        assert lab["parts"]["mouth"] < 0.9  # a tip, not the whole mouth
    if not folder:  # the procedural microphone, phone and cigarette all come to the mouth corner
        from faceocc.synthesis import objects

        seen = []
        real = objects.object_mouth_corner
        monkeypatch.setattr(objects, "object_mouth_corner", lambda ctx, sp, sub: (seen.append(sub), real(ctx, sp, sub)))
        for _ in range(40):
            synthesize(crop, lm, lib, rng, kind="object", mode="mouth_corner", second=False)
        assert {"microphone", "phone", "cigarette"} <= set(seen) and "cup" not in seen
