"""Training samples: cached aligned crops, synthetic occluders pasted on the fly, augmentation, targets."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..alignment import part_masks
from ..datasets import OCCLUDER_TYPES, label_targets


@dataclass
class FaceSet:
    """Aligned crops with their landmarks (crop pixels) and labels; a view on a CropCache."""

    crops: np.ndarray  # N x S x S x 3 uint8
    landmarks: np.ndarray  # N x 5 x 2
    labels: list[str]
    sources: list[str]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> FaceSet:
        idx = np.asarray(idx, dtype=int)
        return FaceSet(
            np.asarray(self.crops[idx]),
            self.landmarks[idx],
            [self.labels[i] for i in idx],
            [self.sources[i] for i in idx],
            [self.groups[i] for i in idx],
        )


def pseudo_mask_map(size: int) -> np.ndarray:
    """Where a worn face mask sits in the canonical frame: lower nose, mouth and chin."""
    masks = part_masks(size)
    nose = masks["nose"].copy()
    nose[: int(size * 0.56)] = 0.0  # the mask covers the lower part of the nose
    return np.clip(np.maximum.reduce([nose, masks["mouth"], masks["chin"]]), 0, 1)


def _random_affine(rng: np.random.Generator, size: int, strength: float) -> np.ndarray:
    angle = rng.normal(0, 6 * strength)
    scale = 1.0 + rng.normal(0, 0.06 * strength)
    tx, ty = rng.normal(0, 2.5 * strength, 2) * size / 112
    m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += (tx, ty)
    return m


def augment(image: np.ndarray, occ: np.ndarray, rng: np.random.Generator, strength: float = 1.0):
    """Photometric and small geometric augmentation; the occlusion map follows the geometry."""
    size = image.shape[0]
    if rng.random() < 0.5:
        image, occ = image[:, ::-1], occ[:, ::-1]
    if strength > 0:
        m = _random_affine(rng, size, strength)
        image = cv2.warpAffine(
            np.ascontiguousarray(image), m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        occ = cv2.warpAffine(
            np.ascontiguousarray(occ), m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    img: np.ndarray = image.astype(np.float32)  # float64 after the white balance
    if strength > 0:
        img = img * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)  # contrast, brightness
        img = img * rng.uniform(0.9, 1.1, size=3)  # white balance
        if rng.random() < 0.1:
            img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
        img = np.clip(img, 0, 255)
        if rng.random() < 0.25:
            k = rng.choice([3, 5])
            img = cv2.GaussianBlur(img, (k, k), 0)
        if rng.random() < 0.25:  # low resolution
            f = rng.uniform(0.3, 0.7)
            small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.3:
            ok, enc = cv2.imencode(
                ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))]
            )
            decoded = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
            assert decoded is not None  # our own JPEG
            img = decoded.astype(np.float32)
        if rng.random() < 0.2:
            img = img + rng.normal(0, rng.uniform(2, 8), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), np.ascontiguousarray(occ)


#: real labels whose occluder can be cut out and moved to another face (not face masks: the synthetic ones are good)
TRANSPLANT_TYPES = ("hand", "other", "sunglasses")


@dataclass
class RealOccluders:
    """Real occluders (hands, microphones, hair, sunglasses...) cut out of real occluded training faces, to be moved
    onto other faces at the same place of the canonical frame ("transplants").

    Synthetic cut-outs teach the shapes of flat open hands; real hands curl, rest a chin on their knuckles and press
    fingertips into a cheek. The few real occluded faces are learned by heart when they are only shown as they are;
    moved onto thousands of other faces they teach what the occluder looks like rather than which photo it is in.
    The cut-out mask is a model's occlusion map (soft, about as coarse as its 28 x 28 grid).
    """

    crops: np.ndarray  # K x S x S x 3 uint8: the source faces
    alphas: np.ndarray  # K x S x S float32 0-1: where their occluder is
    types: np.ndarray  # K x 5: occluder types of the source label
    skin: np.ndarray  # K x 3: the source face's mean skin colour (for colour transfer to the new face)

    def __len__(self) -> int:
        return len(self.crops)

    @classmethod
    def from_faces(cls, faces: FaceSet, model, min_coverage: float = 0.03) -> RealOccluders:
        """Cut the occluders out of ``faces`` whose label is a real occlusion of TRANSPLANT_TYPES (no face mask) with
        ``model``'s occlusion map (an :class:`faceocc.model.OcclusionModel`). Sources whose map covers less than
        ``min_coverage`` of the inner face are left out (the model does not see where their occluder is)."""
        from ..synthesis import FaceFrame

        keep = [
            i
            for i, lab in enumerate(faces.labels)
            if set(lab.split("+")) & set(TRANSPLANT_TYPES) and "mask" not in lab.split("+")
        ]
        size = faces.crops.shape[1]
        empty = cls(
            np.zeros((0, size, size, 3), np.uint8),
            np.zeros((0, size, size), np.float32),
            np.zeros((0, len(OCCLUDER_TYPES)), np.float32),
            np.zeros((0, 3), np.float32),
        )
        if not keep:
            return empty
        crops = np.asarray(faces.crops[np.array(keep)])
        maps = model.predict(crops).occlusion_map
        frame = FaceFrame.get(size)
        face_w = frame.face_w.reshape(size, size)
        rows = []
        for k, i in enumerate(keep):
            m = cv2.resize(maps[k], (size, size), interpolation=cv2.INTER_LINEAR)
            # opaque where the map is confident, a soft edge of a pixel or two: never a ghost of the source
            alpha = cv2.GaussianBlur(np.clip((m - 0.35) / 0.15, 0, 1).astype(np.float32), (0, 0), 1.0 * size / 112)
            if float((alpha * face_w).sum()) < min_coverage:
                continue
            img = crops[k].reshape(-1, 3).astype(np.float32)
            w = frame.skin_w * (1.0 - alpha.ravel())
            rows.append((crops[k], alpha, label_targets(faces.labels[i])[1], (w @ img) / max(float(w.sum()), 1e-6)))
        if not rows:
            return empty
        c, a, t, sk = zip(*rows)
        return cls(
            np.stack(c), np.stack(a).astype(np.float32), np.stack(t).astype(np.float32), np.stack(sk).astype(np.float32)
        )

    def paste(self, crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image, occlusion 0-1, occluder types) with one real occluder moved onto ``crop`` (same frame, a small
        random flip / shift / scale / turn, its colour moved toward the new face's skin)."""
        from ..synthesis import FaceFrame

        k = int(rng.integers(len(self)))
        size = crop.shape[0]
        src, alpha = self.crops[k].astype(np.float32), self.alphas[k]
        if rng.random() < 0.5:  # the canonical frame is symmetric
            src, alpha = src[:, ::-1], alpha[:, ::-1]
        m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.normal(0, 4), rng.uniform(0.94, 1.06))
        m[:, 2] += rng.normal(0, 2.0, 2) * size / 112
        src = cv2.warpAffine(
            np.ascontiguousarray(src), m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        alpha = cv2.warpAffine(np.ascontiguousarray(alpha), m, (size, size), flags=cv2.INTER_LINEAR)
        img = crop.astype(np.float32)
        frame = FaceFrame.get(size)
        target_skin = frame.skin_w @ img.reshape(-1, 3)
        ratio = (target_skin + 10) / (self.skin[k] + 10)
        hand = self.types[k][OCCLUDER_TYPES.index("hand")] > 0.5
        # a person's hand has the colour and the light of their face; other objects keep their colour, take the light
        gain = ratio ** rng.uniform(0.6, 1.0) if hand else np.full(3, float(ratio.mean()) ** rng.uniform(0.3, 0.7))
        out = img * (1 - alpha[..., None]) + np.clip(src * gain.astype(np.float32), 0, 255) * alpha[..., None]
        return np.clip(out, 0, 255).astype(np.uint8), alpha.astype(np.float32), self.types[k].copy()


class OcclusionTrainingSet(Dataset):
    """Each item: one face, maybe with a pasted occluder, augmented, with all targets.

    Returns a dict of tensors: ``image`` (3 x S x S uint8), ``occluded``, ``types``
    (5), ``types_w`` (5; 0 where the type is unknown), ``map`` (M x M target),
    ``map_w`` (M x M pixel weights; 0 where unknown), ``measure_w`` (weight of the
    parts/coverage targets derived from the map), ``label_id``.
    """

    def __init__(
        self,
        faces: FaceSet,
        library=None,
        synth_prob: float = 0.55,
        synth_on_occluded: float = 0.15,
        pseudo_mask_map_weight: float = 0.3,
        augment_strength: float = 1.0,
        seed: int = 0,
        fixed: bool = False,
        synth_weights: dict | None = None,
        output_size: int | None = None,
        hand_weights: dict | None = None,
        transplants: RealOccluders | None = None,
        transplant_prob: float = 0.0,
        transplant_weight: float = 0.3,
        boundary_weight: float = 0.0,
        boundary_coverage: float = 0.06,
    ):
        self.faces = faces
        # extra verdict-loss weight for pasted occluders covering little of the inner face (0 < coverage <
        # boundary_coverage): small positives (a fingertip on the mouth) and the hard negatives next to them
        self.boundary_weight = boundary_weight
        self.boundary_coverage = boundary_coverage
        self.transplants = transplants if transplants is not None and len(transplants) else None
        self.transplant_prob = transplant_prob if self.transplants is not None else 0.0
        self.transplant_weight = transplant_weight  # map / measure weight of a transplant (its mask is a model's)
        self.library = library
        self.synth_prob = synth_prob if library is not None else 0.0
        self.synth_on_occluded = synth_on_occluded if library is not None else 0.0
        self.pseudo_weight = pseudo_mask_map_weight
        self.strength = augment_strength
        self.seed = seed
        self.fixed = fixed  # the same sample for an index every time (validation sets)
        self.synth_weights = synth_weights
        self.hand_weights = hand_weights
        self.size = faces.crops.shape[1]  # occluders are pasted at the crop's own resolution ...
        self.output_size = output_size or self.size  # ... and the result is resized to the network's input
        self.map_size = self.output_size // 4
        self.keep_full = False  # also return the crop-size image (for a distillation teacher with a larger input)
        self.pseudo = pseudo_mask_map(self.size)
        self.face_region = part_masks(self.size)["face"]
        self.epoch = 0
        self.label_names = sorted(set(faces.labels))

    def __len__(self) -> int:
        return len(self.faces)

    def _rng(self, index: int) -> np.random.Generator:
        if self.fixed:
            return np.random.default_rng([self.seed, index])
        return np.random.default_rng([self.seed, self.epoch, index, np.random.randint(1 << 30)])

    def sample(self, index: int) -> dict:
        """The numpy sample (before tensors): also used for grids and synthetic test sets."""
        rng = self._rng(index)
        crop = np.asarray(self.faces.crops[index])
        landmarks = self.faces.landmarks[index]
        label = self.faces.labels[index]
        occluded, types, types_w = label_targets(label)
        size = self.size
        occ = np.zeros((size, size), np.float32)
        occ_w = np.ones((size, size), np.float32)
        measure_w = 1.0
        verdict_w = 1.0
        kind = "none"
        if label != "clean" and label != "eyeglasses":
            if "mask" in label.split("+") and self.pseudo_weight > 0:
                occ = self.pseudo.copy()
                occ_w = np.maximum(
                    np.maximum.reduce([m for k, m in part_masks(size).items() if k != "face"]) * self.pseudo_weight, 0
                )
                measure_w = self.pseudo_weight
            else:
                occ_w[:] = 0.0  # real occlusion without a map: no pixel supervision
                measure_w = 0.0
        p = self.synth_prob if not occluded else self.synth_on_occluded
        image = crop
        if (
            label == "clean"
            and self.transplants is not None
            and self.transplant_prob > 0
            and rng.random() < self.transplant_prob
        ):
            image, occ, moved = self.transplants.paste(crop, rng)
            occ_w = np.full((size, size), self.transplant_weight, np.float32)
            measure_w = self.transplant_weight
            types, types_w = moved, np.ones(len(OCCLUDER_TYPES), np.float32)
            occluded, kind = 1.0, "transplant"
        elif self.library is not None and rng.random() < p:
            from ..synthesis import synthesize

            syn = synthesize(
                crop, landmarks, self.library, rng, weights=self.synth_weights, hand_weights=self.hand_weights
            )
            image, kind = syn.image, syn.kind
            pasted = syn.occlusion.astype(np.float32)
            occ = np.maximum(occ, pasted)
            occ_w = np.where(pasted > 0.5, 1.0, occ_w).astype(np.float32)
            for i, name in enumerate(OCCLUDER_TYPES):
                if syn.occluders.get(name, 0) > 0.5:
                    types[i] = 1.0
                    types_w[i] = 1.0
            from ..synthesis import labels_from_mask

            pasted_labels = labels_from_mask(pasted, syn.occluders)
            occluded = float(occluded > 0.5 or pasted_labels["occluded"])
            if self.boundary_weight > 0 and 0.0 < pasted_labels["coverage"] < self.boundary_coverage:
                verdict_w = 1.0 + self.boundary_weight
        image, occ = augment(image, np.stack([occ, occ_w], axis=2), rng, self.strength)
        occ, occ_w = occ[..., 0], occ[..., 1]
        full = image
        if self.output_size != size:
            image = cv2.resize(image, (self.output_size, self.output_size), interpolation=cv2.INTER_AREA)
        small = cv2.resize(occ, (self.map_size, self.map_size), interpolation=cv2.INTER_AREA)
        small_w = cv2.resize(occ_w, (self.map_size, self.map_size), interpolation=cv2.INTER_AREA)
        return {
            "image": image,
            "occluded": float(occluded),
            "types": types,
            "types_w": types_w,
            "map": small,
            "map_w": small_w,
            "measure_w": float(measure_w),
            "verdict_w": float(verdict_w),
            "kind": kind,
            "label": label,
            **({"image_full": full} if self.keep_full else {}),
        }

    def __getitem__(self, index: int) -> dict:
        s = self.sample(index)
        extra = (
            {"image_full": torch.from_numpy(np.ascontiguousarray(s["image_full"].transpose(2, 0, 1)))}
            if self.keep_full
            else {}
        )
        return extra | {
            "image": torch.from_numpy(np.ascontiguousarray(s["image"].transpose(2, 0, 1))),  # uint8; float in the loop
            "occluded": torch.tensor(s["occluded"], dtype=torch.float32),
            "types": torch.from_numpy(s["types"]),
            "types_w": torch.from_numpy(s["types_w"]),
            "map": torch.from_numpy(s["map"]),
            "map_w": torch.from_numpy(s["map_w"]),
            "measure_w": torch.tensor(s["measure_w"], dtype=torch.float32),
            "verdict_w": torch.tensor(s["verdict_w"], dtype=torch.float32),
        }


def sampling_weights(labels: list[str], mode: str) -> tuple[np.ndarray, int] | None:
    """Per-sample weights and epoch length for re-sampling by label (None: plain shuffling).

    ``oversample``: every label as often as the largest; ``undersample``: as often as the smallest;
    ``sqrt``: a label's share grows with the square root of its count (rare labels seen more often,
    without repeating a handful of images thousands of times); the epoch keeps the dataset's length.
    """
    if mode == "none":
        return None
    values, counts = np.unique(labels, return_counts=True)
    per_label = dict(zip(values, counts))
    power = 0.5 if mode == "sqrt" else 1.0
    weights = np.array([1.0 / per_label[label] ** power for label in labels])
    if mode == "sqrt":
        n = len(labels)
    else:
        n = len(values) * (counts.max() if mode == "oversample" else counts.min())
    return weights / weights.sum(), int(n)


def class_weights(positive_fraction: float, mode: str) -> tuple[float, float]:
    """(weight of negatives, weight of positives) for the occluded head.

    ``balanced``: n / (2 n_c) (scikit-learn's formula); ``inverse``: 1 / frequency,
    normalised so that the two weights average 1; ``none``: (1, 1).
    """
    p = float(np.clip(positive_fraction, 1e-3, 1 - 1e-3))
    if mode == "balanced":
        return 1.0 / (2 * (1 - p)), 1.0 / (2 * p)
    if mode == "inverse":
        w0, w1 = 1 / (1 - p), 1 / p
        s = (w0 + w1) / 2
        return w0 / s, w1 / s
    return 1.0, 1.0
