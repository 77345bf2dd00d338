"""What was measured of one face: the detection, the crop-to-photo transform, the model's outputs, the photo border.

A :class:`FaceMeasurement` is made once per face (by the analyzer, or from stored model outputs by the evaluation
code) and never changed afterwards; :func:`faceocc.policy.decide` turns it into the verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .schema import OCCLUDER_TYPES, PART_NAMES


@dataclass(frozen=True)
class ModelScores:
    """The occlusion model's outputs for one aligned crop."""

    occlusion_score: float
    occluders: Mapping[str, float]  # OCCLUDER_TYPES -> probability
    parts: Mapping[str, float]  # PART_NAMES -> covered fraction
    coverage: float
    occlusion_map: np.ndarray | None = field(default=None, repr=False)  # M x M, canonical frame

    @classmethod
    def from_arrays(
        cls, score: float, occluders, parts=None, coverage: float = 0.0, occlusion_map: np.ndarray | None = None
    ) -> ModelScores:
        """From the rows of the model's output arrays (``occluders`` and ``parts`` in the vocabulary's order)."""
        parts = np.zeros(len(PART_NAMES)) if parts is None else parts
        return cls(
            float(score),
            {t: float(v) for t, v in zip(OCCLUDER_TYPES, occluders)},
            {p: float(v) for p, v in zip(PART_NAMES, parts)},
            float(coverage),
            occlusion_map,
        )


@dataclass(frozen=True)
class FaceMeasurement:
    """One face as measured.

    ``transform`` maps photo pixels onto the canonical crop (2 x 3); ``outside`` is, on the occlusion map's grid, the
    share of each cell that lies outside the photo (None when the whole crop is inside it) and ``border_cut`` the
    fraction of each part (and of the inner ``face``) the photo's edge cuts off. ``scores`` is None for a face that was
    not classified (too small or too uncertain to assess).
    """

    box: tuple[float, float, float, float]
    det_score: float
    landmarks: np.ndarray = field(repr=False)  # 5 x 2, photo pixels
    transform: np.ndarray | None = field(default=None, repr=False)
    scores: ModelScores | None = None
    outside: np.ndarray | None = field(default=None, repr=False)
    border_cut: Mapping[str, float] = field(default_factory=dict)

    @property
    def size(self) -> float:
        """The shorter side of the face box, in photo pixels."""
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @classmethod
    def of_scores(cls, scores: ModelScores, det_score: float = 1.0, size: float = 1e6) -> FaceMeasurement:
        """A measurement that holds only model outputs (an aligned crop scored without its photo)."""
        return cls(
            box=(0.0, 0.0, float(size), float(size)),
            det_score=det_score,
            landmarks=np.zeros((5, 2), np.float32),
            scores=scores,
        )
