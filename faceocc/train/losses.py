"""Losses: focal / weighted BCE for the verdict and types, pixel BCE for the map, weighted MSE for coverage."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_bce(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    pos_weight: float = 1.0,
    neg_weight: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary focal loss (gamma 0 is plain BCE) with class weights and optional per-element weights."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if gamma > 0:
        p = torch.sigmoid(logits)
        pt = p * target + (1 - p) * (1 - target)
        bce = bce * (1 - pt).pow(gamma)
    w = target * pos_weight + (1 - target) * neg_weight
    if weight is not None:
        w = w * weight
    return (bce * w).sum() / w.sum().clamp_min(1e-6)


def coverage_weighted_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """MSE weighted by ``1/30 + true_coverage`` (errors on clearly covered faces count more)."""
    w = 1.0 / 30.0 + target
    if weight is not None:
        w = w * weight
    return (w * (pred - target) ** 2).sum() / w.sum().clamp_min(1e-6)


def map_bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * weight).sum() / weight.sum().clamp_min(1.0)


def distillation_loss(
    logits: torch.Tensor, map_logits: torch.Tensor, teacher_logits: torch.Tensor, teacher_map_logits: torch.Tensor
) -> torch.Tensor:
    """BCE of the student's verdict/type logits and map against the teacher's probabilities (maps resized to the
    student's)."""
    soft = torch.sigmoid(teacher_logits)
    cls = F.binary_cross_entropy_with_logits(logits, soft)
    tmap = torch.sigmoid(teacher_map_logits)
    if tmap.shape[-1] != map_logits.shape[-1]:
        tmap = F.interpolate(
            tmap[:, None],
            size=map_logits.shape[-2:],
            mode="area" if tmap.shape[-1] > map_logits.shape[-1] else "bilinear",
        )[:, 0]
    return cls + F.binary_cross_entropy_with_logits(map_logits, tmap)
