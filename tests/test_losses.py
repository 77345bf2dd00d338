"""Training losses (faceocc.train.losses) against numbers worked out by hand.

The inputs are chosen so that the probabilities are round: logit 0 -> p 1/2, logit ln 3 -> p 3/4, logit -ln 3 -> p 1/4.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="the training losses need PyTorch (pip install 'faceocc[train]')")

from faceocc.evaluate.metrics import coverage_errors  # noqa: E402
from faceocc.train.losses import coverage_weighted_mse, distillation_loss, focal_bce, map_bce  # noqa: E402

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


# p = 1/2, 3/4, 1/4 with targets 1, 0, 0. BCE: ln 2, ln 4, ln 4/3; p_t (probability of the true class): 1/2, 1/4, 3/4
LOGITS, TARGET = t(0.0, LN3, -LN3), t(1.0, 0.0, 0.0)
BCE = (LN2, LN4, math.log(4 / 3))
FOCAL = (0.25 * LN2, 0.5625 * LN4, 0.0625 * math.log(4 / 3))  # BCE * (1 - p_t)^2


def test_focal_bce_gamma_zero_is_the_mean_bce():
    assert focal_bce(LOGITS, TARGET, gamma=0.0).item() == pytest.approx(sum(BCE) / 3, rel=1e-5)


def test_focal_bce_down_weights_easy_examples():
    assert focal_bce(LOGITS, TARGET, gamma=2.0).item() == pytest.approx(sum(FOCAL) / 3, rel=1e-5)
    # gamma 1: BCE * (1 - p_t)
    want = (0.5 * BCE[0] + 0.75 * BCE[1] + 0.25 * BCE[2]) / 3
    assert focal_bce(LOGITS, TARGET, gamma=1.0).item() == pytest.approx(want, rel=1e-5)


def test_focal_bce_class_weights_make_a_weighted_mean():
    # positives weigh 2, negatives 1: (2 * f0 + f1 + f2) / (2 + 1 + 1)
    got = focal_bce(LOGITS, TARGET, gamma=2.0, pos_weight=2.0, neg_weight=1.0).item()
    assert got == pytest.approx((2 * FOCAL[0] + FOCAL[1] + FOCAL[2]) / 4, rel=1e-5)
    got = focal_bce(LOGITS, TARGET, gamma=0.0, pos_weight=0.5, neg_weight=3.0).item()
    assert got == pytest.approx((0.5 * BCE[0] + 3 * BCE[1] + 3 * BCE[2]) / 6.5, rel=1e-5)
    # only positives: the class weight cancels out
    assert focal_bce(t(0.0), t(1.0), gamma=0.0, pos_weight=7.0).item() == pytest.approx(LN2, rel=1e-5)


def test_focal_bce_element_weights_and_soft_targets():
    w = t(1.0, 0.0, 2.0)  # the middle example is left out
    got = focal_bce(LOGITS, TARGET, gamma=2.0, weight=w).item()
    assert got == pytest.approx((FOCAL[0] + 2 * FOCAL[2]) / 3, rel=1e-5)
    # a 2-D (batch x types) input with a target weight of 0 for an unknown type, as for label "occluded"
    logits = torch.tensor([[0.0, 20.0], [LN3, -LN3]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    weight = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # 20.0 against target 0 would cost ~20; its weight is 0
    assert focal_bce(logits, target, gamma=2.0, weight=weight).item() == pytest.approx(sum(FOCAL) / 3, rel=1e-5)
    # every weight 0: a loss of 0, not NaN
    assert focal_bce(LOGITS, TARGET, weight=torch.zeros(3)).item() == 0.0
    # a soft target 1/2 on logit 0: BCE ln 2; p_t = 1/2 -> focal factor 1/4
    assert focal_bce(t(0.0), t(0.5), gamma=2.0).item() == pytest.approx(0.25 * LN2, rel=1e-5)


def test_focal_bce_gradient_pushes_towards_the_target():
    x = LOGITS.clone().requires_grad_(True)
    focal_bce(x, TARGET, gamma=2.0).backward()
    assert x.grad[0] < 0 and x.grad[1] > 0 and x.grad[2] > 0


# -- coverage ---------------------------------------------------------------------------------------------------------


def test_coverage_weighted_mse_by_hand():
    pred, target = t(0.1, 0.3), t(0.0, 0.5)
    # w = 1/30 + target = 1/30, 16/30; sum w e^2 = (0.01 + 16 * 0.04) / 30 = 0.65 / 30; sum w = 17/30
    assert coverage_weighted_mse(pred, target, torch.ones(2)).item() == pytest.approx(0.65 / 17, rel=1e-5)
    # a measure weight of 0 leaves a face out: only the first: 0.01 (its own weight cancels)
    assert coverage_weighted_mse(pred, target, t(1.0, 0.0)).item() == pytest.approx(0.01, rel=1e-4)
    # weight 3 on the second: (0.01 + 3 * 0.64) / 30 / ((1 + 3 * 16) / 30)
    assert coverage_weighted_mse(pred, target, t(1.0, 3.0)).item() == pytest.approx(1.93 / 49, rel=1e-5)
    assert coverage_weighted_mse(target, target, torch.ones(2)).item() == 0.0
    # no face counts: 0, not NaN
    assert coverage_weighted_mse(pred, target, torch.zeros(2)).item() == 0.0


def test_coverage_weighted_mse_matches_the_evaluation_metric():
    pred, target = t(0.1, 0.3, 0.0, 0.7), t(0.0, 0.5, 0.2, 0.6)
    want = coverage_errors(target.numpy(), pred.numpy())["weighted_mse"]
    assert coverage_weighted_mse(pred, target, torch.ones(4)).item() == pytest.approx(want, rel=1e-5)


def test_coverage_weighted_mse_without_weights_equals_unit_weights():
    pred, target = t(0.1, 0.3), t(0.0, 0.5)
    assert coverage_weighted_mse(pred, target).item() == pytest.approx(0.65 / 17, rel=1e-5)


# -- occlusion map ----------------------------------------------------------------------------------------------------


def test_map_bce_is_a_weighted_mean_over_the_cells():
    logits = torch.tensor([[[0.0, LN3], [-LN3, 0.0]]])  # p 1/2, 3/4, 1/4, 1/2
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # BCE ln 2, ln 4, ln 4/3, ln 2
    ones = torch.ones(1, 2, 2)
    want = (LN2 + LN4 + math.log(4 / 3) + LN2) / 4
    assert map_bce(logits, target, ones).item() == pytest.approx(want, rel=1e-5)
    weight = torch.tensor([[[2.0, 1.0], [0.0, 0.0]]])  # (2 ln 2 + ln 4) / 3
    assert map_bce(logits, target, weight).item() == pytest.approx((2 * LN2 + LN4) / 3, rel=1e-5)
    # a batch whose maps are all unknown (weight 0) costs nothing
    assert map_bce(logits, target, torch.zeros(1, 2, 2)).item() == 0.0


# -- distillation -----------------------------------------------------------------------------------------------------


def test_distillation_loss_by_hand_with_an_area_resized_teacher_map():
    # verdict/types: student logit ln 3 (3/4), teacher logit 0 (1/2): BCE against 1/2 = -(ln 3/4 + ln 1/4) / 2
    student, teacher = torch.full((1, 6), LN3), torch.zeros(1, 6)
    cls = -(math.log(0.75) + math.log(0.25)) / 2
    # maps: the teacher's is 8 x 8 and the student's 2 x 2. The teacher is sure (p 1) on one cell of each 4 x 4 block
    # and sure of 0 elsewhere, so each area-averaged cell is 1/16 (a bilinear resize would read 0 there)
    t_map = torch.full((1, 8, 8), -30.0)
    t_map[0, ::4, ::4] = 30.0
    s_map = torch.full((1, 2, 2), LN3)
    soft = 1 / 16
    map_term = -(soft * math.log(0.75) + (1 - soft) * math.log(0.25))
    got = distillation_loss(student, s_map, teacher, t_map).item()
    assert got == pytest.approx(cls + map_term, rel=1e-4)
    # same-size maps: no resize; the student matching the teacher still pays the teacher's entropy (BCE, not KL)
    same = distillation_loss(torch.zeros(2, 6), torch.zeros(2, 3, 3), torch.zeros(2, 6), torch.zeros(2, 3, 3)).item()
    assert same == pytest.approx(2 * LN2, rel=1e-5)


def test_distillation_loss_upsamples_a_smaller_teacher_map():
    # a constant teacher map stays constant when resized up (bilinear): p 1/4 everywhere; student p 3/4 everywhere
    t_map, s_map = torch.full((1, 2, 2), -LN3), torch.full((1, 4, 4), LN3)
    map_term = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    got = distillation_loss(torch.zeros(1, 6), s_map, torch.zeros(1, 6), t_map).item()
    assert got == pytest.approx(LN2 + map_term, rel=1e-5)
