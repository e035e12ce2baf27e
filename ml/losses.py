"""Losses of the IGL-DT method and its baselines.

Shapes used throughout:
    N batch, C classes, H x W pixels.
    logits  float (N, C, H, W), raw network outputs.
    probs   float (N, C, H, W), softmax over dim 1 (teacher outputs, no gradient needed).
    target  long  (N, H, W), class indices in [0, C) or ``ignore_index``.
    valid   bool/float (N, H, W), 1 where a pixel exists (0 on crop padding); optional.

Every function returns a scalar tensor and honours ``ignore_index`` / ``valid``: ignored
pixels contribute neither to the numerator nor to the denominator of a mean. A batch
with no valid pixel gives a zero loss that still carries a gradient path (so
``loss.backward()`` never fails).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ce_loss",
    "dice_loss",
    "supervised_loss",
    "pseudo_label_ce",
    "cps_loss",
    "discrepancy_loss",
    "global_context_loss",
    "local_regional_loss",
    "sigmoid_rampup",
    "linear_decay",
]


def _valid_float(valid: Tensor | None, like: Tensor) -> Tensor:
    """(N, H, W) float mask of 1/0, all ones when ``valid`` is None."""
    if valid is None:
        return torch.ones(like.shape[0], *like.shape[2:], device=like.device, dtype=like.dtype)
    return valid.to(dtype=like.dtype)


def ce_loss(
    logits: Tensor,
    target: Tensor,
    ignore_index: int = 255,
    pixel_weight: Tensor | None = None,
) -> Tensor:
    """Pixel-wise cross-entropy, mean over pixels whose target != ignore_index.

    logits (N, C, H, W), target (N, H, W) long. ``pixel_weight`` (N, H, W) optional
    non-negative weights (e.g. a per-image weight for pseudo-labeled images broadcast to
    its pixels): the result is sum(w * ce) / sum(w) over non-ignored pixels.
    """
    ce = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="none")
    keep = (target != ignore_index).to(ce.dtype)
    if pixel_weight is not None:
        keep = keep * pixel_weight.to(ce.dtype)
    return (ce * keep).sum() / keep.sum().clamp_min(1e-8) if keep.sum() > 0 else ce.sum() * 0.0


def dice_loss(
    logits: Tensor,
    target: Tensor,
    ignore_index: int = 255,
    smooth: float = 0.0,
    eps: float = 1e-7,
) -> Tensor:
    """Soft multi-class Dice loss, 1 - mean Dice over the classes present in ``target``.

    logits (N, C, H, W), target (N, H, W) long. Per class c, over non-ignored pixels:
    dice_c = (2 * sum(p_c * y_c) + smooth) / (sum(p_c) + sum(y_c) + smooth + eps), with
    p = softmax(logits) and y the one-hot target. Classes absent from the (non-ignored)
    target are left out of the mean (their false positives are punished by the CE term),
    as in segmentation_models.pytorch.
    """
    num_classes = logits.shape[1]
    probs = logits.float().softmax(dim=1)
    keep = target != ignore_index
    safe = torch.where(keep, target, torch.zeros_like(target))
    onehot = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).to(probs.dtype)
    k = keep.unsqueeze(1).to(probs.dtype)
    probs, onehot = probs * k, onehot * k
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    card = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (card + smooth + eps)
    present = onehot.sum(dims) > 0
    if not present.any():
        return logits.sum() * 0.0
    return 1.0 - dice[present].mean()


def supervised_loss(
    logits: Tensor, target: Tensor, ignore_index: int = 255, pixel_weight: Tensor | None = None
) -> Tensor:
    """CE + Dice, the supervised term of both stages. Shapes as :func:`ce_loss`."""
    return ce_loss(logits, target, ignore_index, pixel_weight) + dice_loss(logits, target, ignore_index)


def pseudo_label_ce(
    logits: Tensor,
    pseudo: Tensor,
    conf_mask: Tensor,
    valid: Tensor | None = None,
    normalize: str = "valid",
) -> Tensor:
    """Confidence-masked pseudo-label cross-entropy (UniMatch's math).

    logits (N, C, H, W); pseudo (N, H, W) long hard labels; conf_mask (N, H, W) bool or
    float, 1 where the teacher's confidence passed tau; valid (N, H, W), 0 on padding.

    normalize="valid" (default, UniMatch): sum(CE * m * valid) / sum(valid), so a low
    mask ratio also shrinks the loss. normalize="confident": sum(CE * m * valid) /
    sum(m * valid), the plain mean over confident pixels (method.md's L_pl form).
    """
    v = _valid_float(valid, logits.float())
    m = conf_mask.to(v.dtype) * v
    ce = F.cross_entropy(logits.float(), pseudo.long(), reduction="none")
    if normalize == "valid":
        denom = v.sum()
    elif normalize == "confident":
        denom = m.sum()
    else:
        raise ValueError(f"normalize must be 'valid' or 'confident', got {normalize!r}")
    if denom <= 0:
        return logits.sum() * 0.0
    return (ce * m).sum() / denom


def cps_loss(
    logits_a: Tensor,
    logits_b: Tensor,
    probs_a_weak: Tensor,
    probs_b_weak: Tensor,
    tau: float = 0.95,
    valid: Tensor | None = None,
    normalize: str = "valid",
) -> Tensor:
    """Cross Pseudo Supervision with confidence masks.

    logits_a / logits_b (N, C, H, W): the two models on the (strong) view; probs_*_weak
    (N, C, H, W): their softmax outputs on the weak view (detached; already CutMix-ed
    like the strong view when CutMix is used). Model b's hard label supervises model a
    where max p_b >= tau, and vice versa:
    ``pl_ce(a, argmax p_b, m_b) + pl_ce(b, argmax p_a, m_a)``. tau = 0 is plain CPS.
    """
    conf_a, lab_a = probs_a_weak.detach().max(dim=1)
    conf_b, lab_b = probs_b_weak.detach().max(dim=1)
    return pseudo_label_ce(logits_a, lab_b, conf_b >= tau, valid, normalize) + pseudo_label_ce(
        logits_b, lab_a, conf_a >= tau, valid, normalize
    )


def discrepancy_loss(logits_su: Tensor, logits_ru: Tensor, valid: Tensor | None = None, eps: float = 1e-2) -> Tensor:
    """Discrepancy Learning: ``1 / (mean |softmax(z_SU) - softmax(z_RU)| + eps)``.

    logits_* (N, C, H, W), both with gradients; the mean runs over N, C and the valid
    pixels. Minimising it pushes the two teachers' class maps apart, so they do not
    collapse into one opinion. ``eps`` bounds the loss by 1/eps.
    """
    diff = (logits_su.float().softmax(1) - logits_ru.float().softmax(1)).abs()
    v = _valid_float(valid, diff).unsqueeze(1)
    denom = (v.sum() * diff.shape[1]).clamp_min(1.0)
    return 1.0 / ((diff * v).sum() / denom + eps)


def global_context_loss(student_logits: Tensor, teacher_probs: Tensor, valid: Tensor | None = None) -> Tensor:
    """Global Context Learning: L1 between per-class global average pools.

    student_logits (N, C, H, W); teacher_probs (N, C, H, W) (SU teacher, no gradient).
    K = GAP(class-probability map) has shape (N, C), averaged over the valid pixels;
    the loss is mean over N and C of |K_S - K_T| = (1/C) sum_i |K_S,i - K_T,i| per image.
    """
    ps = student_logits.float().softmax(1)
    pt = teacher_probs.detach().float()
    v = _valid_float(valid, ps).unsqueeze(1)
    area = v.sum(dim=(2, 3)).clamp_min(1.0)
    ks = (ps * v).sum(dim=(2, 3)) / area
    kt = (pt * v).sum(dim=(2, 3)) / area
    return (ks - kt).abs().mean()


def local_regional_loss(
    student_logits: Tensor, teacher_probs: Tensor, r: int = 8, valid: Tensor | None = None
) -> Tensor:
    """Local Regional Learning: L1 between class maps average-pooled over r x r regions.

    student_logits (N, C, H, W); teacher_probs (N, C, H, W) (RU teacher, no gradient).
    Both maps are zeroed outside ``valid``, pooled with an r x r window and stride r
    (a partial last row/column of regions is averaged over the pixels it holds), and
    compared with the mean absolute difference over (N, C, H/r, W/r).
    """
    ps = student_logits.float().softmax(1)
    pt = teacher_probs.detach().float()
    v = _valid_float(valid, ps).unsqueeze(1)

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=r, stride=r, ceil_mode=True, count_include_pad=False)

    return (pool(ps * v) - pool(pt * v)).abs().mean()


def sigmoid_rampup(step: float, length: float) -> float:
    """Sigmoid ramp-up exp(-5 (1 - t)^2), t = clip(step / length, 0, 1); 1.0 when length <= 0."""
    if length <= 0:
        return 1.0
    t = min(max(step / length, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


def linear_decay(step: float, total: float, power: float = 1.0) -> float:
    """(1 - step / total) ** power, clipped to [0, 1]; power 0 gives a constant 1."""
    if total <= 0 or power == 0:
        return 1.0
    return float(max(0.0, 1.0 - step / total) ** power)
