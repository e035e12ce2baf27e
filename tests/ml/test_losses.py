"""Each loss against values worked out by hand on 1-4 pixel tensors."""

import math

import pytest
import torch

from ml import losses as L

IGN = 255


def logits_from_probs(*pixels):
    """(1, C, 1, P) logits whose softmax at pixel j is pixels[j]."""
    p = torch.tensor(pixels, dtype=torch.float32).t()  # C, P
    return p.log().unsqueeze(0).unsqueeze(2)


def test_ce_mean_over_non_ignored_pixels():
    z = logits_from_probs([0.5, 0.5], [0.75, 0.25])
    t = torch.tensor([[[0, 0]]])
    assert L.ce_loss(z, t, IGN).item() == pytest.approx((math.log(2) + math.log(4 / 3)) / 2, rel=1e-5)
    t_ign = torch.tensor([[[0, IGN]]])
    assert L.ce_loss(z, t_ign, IGN).item() == pytest.approx(math.log(2), rel=1e-5)


def test_ce_pixel_weight():
    z = logits_from_probs([0.5, 0.5], [0.75, 0.25])
    t = torch.tensor([[[0, 0]]])
    w = torch.tensor([[[1.0, 3.0]]])
    want = (math.log(2) + 3 * math.log(4 / 3)) / 4
    assert L.ce_loss(z, t, IGN, pixel_weight=w).item() == pytest.approx(want, rel=1e-5)


def test_all_ignored_gives_zero_with_gradient():
    z = torch.zeros(1, 2, 2, 2, requires_grad=True)
    t = torch.full((1, 2, 2), IGN)
    loss = L.supervised_loss(z, t, IGN)
    assert loss.item() == 0.0
    loss.backward()
    assert z.grad is not None


def test_dice_by_hand():
    z = logits_from_probs([0.5, 0.5], [0.75, 0.25])
    t = torch.tensor([[[0, 1]]])
    dice0 = 2 * 0.5 / (0.5 + 0.75 + 1)
    dice1 = 2 * 0.25 / (0.5 + 0.25 + 1)
    assert L.dice_loss(z, t, IGN).item() == pytest.approx(1 - (dice0 + dice1) / 2, rel=1e-5)


def test_dice_ignores_pixels_and_absent_classes():
    z = logits_from_probs([0.5, 0.5], [0.75, 0.25])
    t = torch.tensor([[[0, IGN]]])
    # only pixel 0, only class 0 present: 2*0.5 / (0.5 + 1)
    assert L.dice_loss(z, t, IGN).item() == pytest.approx(1 - 2 / 3, rel=1e-5)


def test_pseudo_label_ce_normalisations():
    z = torch.zeros(1, 2, 1, 2)  # ce = ln 2 at each pixel
    lab = torch.tensor([[[0, 1]]])
    m = torch.tensor([[[True, False]]])
    assert L.pseudo_label_ce(z, lab, m).item() == pytest.approx(math.log(2) / 2, rel=1e-5)
    assert L.pseudo_label_ce(z, lab, m, normalize="confident").item() == pytest.approx(math.log(2), rel=1e-5)
    valid = torch.tensor([[[1.0, 0.0]]])
    all_m = torch.ones(1, 1, 2, dtype=torch.bool)
    assert L.pseudo_label_ce(z, lab, all_m, valid).item() == pytest.approx(math.log(2), rel=1e-5)
    with pytest.raises(ValueError):
        L.pseudo_label_ce(z, lab, m, normalize="bogus")


def test_cps_only_confident_partner_supervises():
    za = torch.zeros(1, 2, 1, 2)
    zb = torch.zeros(1, 2, 1, 2)
    pa = torch.tensor([0.97, 0.03]).view(1, 2, 1, 1).expand(1, 2, 1, 2)
    pb = torch.tensor([0.6, 0.4]).view(1, 2, 1, 1).expand(1, 2, 1, 2)
    # b is never confident -> a gets nothing; a is confident everywhere -> b gets ln 2
    assert L.cps_loss(za, zb, pa, pb, tau=0.95).item() == pytest.approx(math.log(2), rel=1e-5)
    # tau = 0: plain CPS, both directions count
    assert L.cps_loss(za, zb, pa, pb, tau=0.0).item() == pytest.approx(2 * math.log(2), rel=1e-5)


def test_discrepancy_by_hand():
    zs = logits_from_probs([0.5, 0.5])
    zr = logits_from_probs([0.75, 0.25])
    assert L.discrepancy_loss(zs, zr, eps=0.0).item() == pytest.approx(4.0, rel=1e-5)
    assert L.discrepancy_loss(zs, zr, eps=0.05).item() == pytest.approx(1 / 0.3, rel=1e-5)
    # invalid pixels are left out of the mean
    zs2 = logits_from_probs([0.5, 0.5], [0.5, 0.5])
    zr2 = logits_from_probs([0.75, 0.25], [0.5, 0.5])
    valid = torch.tensor([[[1, 0]]])
    assert L.discrepancy_loss(zs2, zr2, valid, eps=0.0).item() == pytest.approx(4.0, rel=1e-5)


def test_discrepancy_gradient_pushes_teachers_apart():
    zs = logits_from_probs([0.5, 0.5]).requires_grad_()
    zr = logits_from_probs([0.75, 0.25])
    L.discrepancy_loss(zs, zr).backward()
    # descending the gradient lowers p_SU(class 0), moving it away from p_RU = 0.75
    assert zs.grad[0, 0, 0, 0] > 0 > zs.grad[0, 1, 0, 0]


def test_global_context_by_hand():
    zs = torch.zeros(1, 2, 1, 2)
    pt = torch.tensor([[1.0, 0.5], [0.0, 0.5]]).view(1, 2, 1, 2)
    # K_S = (0.5, 0.5), K_T = (0.75, 0.25)
    assert L.global_context_loss(zs, pt).item() == pytest.approx(0.25, rel=1e-5)
    valid = torch.tensor([[[1, 0]]])  # K_T = (1, 0)
    assert L.global_context_loss(zs, pt, valid).item() == pytest.approx(0.5, rel=1e-5)


def test_local_regional_by_hand():
    zs = torch.zeros(1, 2, 2, 2)
    c0 = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    pt = torch.stack([c0, 1 - c0]).unsqueeze(0)
    assert L.local_regional_loss(zs, pt, r=1).item() == pytest.approx(0.25, rel=1e-5)
    assert L.local_regional_loss(zs, pt, r=2).item() == pytest.approx(0.0, abs=1e-6)


def test_local_regional_partial_region():
    zs = torch.zeros(1, 2, 2, 3)
    c0 = torch.tensor([[0.5, 0.5, 1.0], [0.5, 0.5, 1.0]])
    pt = torch.stack([c0, 1 - c0]).unsqueeze(0)
    # regions: [2x2] -> diff 0, partial [2x1] column -> diff 0.5 per class
    assert L.local_regional_loss(zs, pt, r=2).item() == pytest.approx(0.25, rel=1e-5)


def test_ramp_and_decay():
    assert L.sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5))
    assert L.sigmoid_rampup(5, 10) == pytest.approx(math.exp(-5 * 0.25))
    assert L.sigmoid_rampup(20, 10) == 1.0
    assert L.sigmoid_rampup(3, 0) == 1.0
    assert L.linear_decay(5, 10) == pytest.approx(0.5)
    assert L.linear_decay(5, 10, power=2) == pytest.approx(0.25)
    assert L.linear_decay(15, 10) == 0.0
    assert L.linear_decay(5, 10, power=0) == 1.0
