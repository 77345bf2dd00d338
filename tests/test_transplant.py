"""Real occluders cut out of training faces by a model's map and moved onto other faces (train/data.RealOccluders)."""

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")

from faceocc.alignment import CROP_SIZE, part_masks  # noqa: E402
from faceocc.datasets import OCCLUDER_TYPES  # noqa: E402
from faceocc.train.config import load_config  # noqa: E402
from faceocc.train.data import FaceSet, OcclusionTrainingSet, RealOccluders  # noqa: E402

S = CROP_SIZE
MOUTH = (slice(78, 100), slice(36, 76))  # rows, columns of the canonical mouth region


class MapModel:
    """Stands in for an OcclusionModel: its occlusion map is 1 over the mouth of the faces labelled occluded."""

    def predict(self, crops):
        maps = np.zeros((len(crops), S // 4, S // 4), np.float32)
        for k, crop in enumerate(crops):
            if crop[89, 56, 1] < 100:  # the drawn occluder (green channel low)
                maps[k, MOUTH[0].start // 4 : MOUTH[0].stop // 4, MOUTH[1].start // 4 : MOUTH[1].stop // 4] = 1.0
        return SimpleNamespace(occlusion_map=maps)


def _faces() -> FaceSet:
    skin = np.array([200, 160, 130], np.uint8)
    crops = np.tile(skin, (5, S, S, 1)).astype(np.uint8)
    crops[0][MOUTH] = (150, 60, 40)  # a "hand" over the mouth, darker than the skin
    crops[1][MOUTH] = (40, 40, 40)  # a "microphone"
    crops[3][MOUTH] = (150, 60, 40)  # a masked face: not a source
    crops[4][MOUTH] = (90, 90, 220)  # occluded, but the label says clean: not a source
    labels = ["hand", "other", "clean", "mask", "clean"]
    lms = np.zeros((5, 5, 2), np.float32)
    return FaceSet(crops, lms, labels, ["gen"] * 5, [""] * 5)


def test_real_occluders_are_cut_out_by_the_map_and_moved_with_the_face_colour():
    bank = RealOccluders.from_faces(_faces(), MapModel())
    assert len(bank) == 2  # the hand and the microphone; not the mask, not the clean faces
    hand = OCCLUDER_TYPES.index("hand")
    assert bank.types[0, hand] == 1 and bank.types[1, OCCLUDER_TYPES.index("other")] == 1 and bank.types[1, hand] == 0
    assert bank.alphas[0][89, 56] > 0.99 and bank.alphas[0][20, 20] == 0.0
    np.testing.assert_allclose(bank.skin[0], (200, 160, 130), atol=2)  # the source's skin, the occluder left out

    darker = np.full((S, S, 3), (100, 80, 65), np.uint8)  # a face half as bright as the source's
    rng = np.random.default_rng(0)
    for _ in range(10):
        image, occ, types = bank.paste(darker, rng)
        moved = np.abs(image.astype(int) - darker).max(axis=2) > 10
        assert occ[89, 56] > 0.9 and occ[10, 10] == 0 and moved[89, 56] and not moved[10, 10]
        assert np.array_equal(moved, moved & (occ > 0.05))  # pixels change only under the occlusion map
        frac = float((occ * part_masks(S)["face"]).sum() / part_masks(S)["face"].sum())
        assert 0.03 < frac < 0.3
        if types[hand]:  # a hand takes the new face's colour and light: darker than it was on its own face
            assert image[89, 56].mean() < np.mean((150, 60, 40)) * 0.85


def test_training_set_transplants_onto_clean_faces_only():
    faces = _faces()
    bank = RealOccluders.from_faces(faces, MapModel())
    ds = OcclusionTrainingSet(faces, None, augment_strength=0.0, fixed=True, transplants=bank, transplant_prob=1.0)
    s = ds.sample(2)  # a clean face
    assert s["kind"] == "transplant" and s["occluded"] == 1.0 and s["types"].sum() == 1
    assert s["map"].max() > 0.9 and s["measure_w"] == pytest.approx(0.3)
    assert ds.sample(3)["kind"] == "none"  # the masked face keeps its own label
    assert OcclusionTrainingSet(faces, None, transplants=None, transplant_prob=1.0).sample(2)["kind"] == "none"
    with pytest.raises(ValueError, match="transplant_prob"):
        load_config(None, ["transplant_prob=1.5"])
