"""Inference helpers: image -> tensor, (sliding-window) logits, teacher fusion, per-image scores."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.imagenet import IMAGENET_MEAN as IMAGENET_MEAN  # re-exported for existing callers
from ml.imagenet import IMAGENET_STD as IMAGENET_STD
from ml.imagenet import normalize
from ml.runtime import autocast


def image_to_tensor(image) -> torch.Tensor:
    """PIL image or H,W[,C] array -> 3,H,W float32, ImageNet-normalised.

    uint8 arrays are scaled by 1/255; float arrays must already be in [0, 1]. Grey images
    are repeated to 3 channels, an alpha channel is dropped.
    """
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an H,W,3 image, got shape {array.shape}")
    array = array[..., :3]
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) / scale).permute(2, 0, 1)
    return normalize(x)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Predict with BatchNorm/Dropout in eval mode, then restore the caller's mode."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _run(model: nn.Module, x: torch.Tensor, amp: bool = False) -> torch.Tensor:
    """One forward, in bf16 autocast on CUDA (and on bf16-capable CPUs with ``amp``); always
    returns float32 logits. CPU predictions that users see stay fp32 unless asked."""
    if x.device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return model(x).float()
    with autocast(x.device, amp):
        return model(x).float()


def _blend_weights(window: int, blend: str, device: torch.device) -> torch.Tensor:
    """window x window weights: a Gaussian (sigma = window/8, as nnU-Net) or all ones.

    The Gaussian trusts window centres more than borders, where context is cut off.
    """
    if blend == "uniform":
        return torch.ones(window, window, device=device)
    if blend != "gaussian":
        raise ValueError(f"blend must be 'gaussian' or 'uniform', got {blend!r}")
    coords = torch.arange(window, device=device, dtype=torch.float32) - (window - 1) / 2
    g = torch.exp(-(coords**2) / (2 * (window / 8) ** 2))
    w = g[:, None] * g[None, :]
    return (w / w.max()).clamp(min=1e-3)  # no zero weights: every pixel stays covered


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window start offsets covering [0, size), the last one flush with the end."""
    starts = list(range(0, size - window, stride)) + [size - window]
    return sorted(set(starts))


def predict_logits(
    model: nn.Module,
    x: torch.Tensor,
    window: int | None = None,
    overlap: float = 0.25,
    blend: str = "gaussian",
    amp: bool = False,
) -> torch.Tensor:
    """Logits of ``model`` for x: N,3,H,W -> N,C,H,W float32 (on x's device).

    With ``window`` the image is cut into window x window tiles overlapping by ``overlap``
    (fraction of the window); tile logits are blended with ``blend`` weights ("gaussian" or
    "uniform"). Images smaller than the window are zero-padded (the ImageNet mean) and the
    result cropped. Runs under inference_mode, in eval mode, with bf16 autocast on CUDA
    (and on bf16-capable CPUs with ``amp``, as pseudo-labelling does).
    The result is cloned out of inference mode, so it can serve as a loss target
    (inference tensors cannot be saved for backward).
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    with torch.inference_mode(), _eval_mode(model):
        logits = _predict_logits(model, x.to(_model_device(model), non_blocking=True), window, overlap, blend, amp)
    return logits.to(x.device).clone()


def _predict_logits(
    model: nn.Module, x: torch.Tensor, window: int | None, overlap: float, blend: str, amp: bool
) -> torch.Tensor:
    """predict_logits without the mode handling; x already on the model's device."""
    device = x.device
    if window is None:
        return _run(model, x, amp)
    n, _, h, w = x.shape
    padded = F.pad(x, (0, max(0, window - w), 0, max(0, window - h)))
    ph, pw = padded.shape[-2:]
    stride = max(1, int(window * (1 - overlap)))
    weights = _blend_weights(window, blend, device)
    total = None
    weight_sum = torch.zeros(ph, pw, device=device)
    for top in _starts(ph, window, stride):
        for left in _starts(pw, window, stride):
            tile = _run(model, padded[..., top : top + window, left : left + window], amp)
            if total is None:
                total = torch.zeros(n, tile.shape[1], ph, pw, device=device)
            total[..., top : top + window, left : left + window] += tile * weights
            weight_sum[top : top + window, left : left + window] += weights
    assert total is not None  # _starts yields at least one tile per axis
    return (total / weight_sum)[..., :h, :w]


def predict_probs(
    model: nn.Module, x: torch.Tensor, window: int | None = None, overlap: float = 0.25, amp: bool = False
) -> torch.Tensor:
    """Softmax probabilities: N,3,H,W -> N,C,H,W."""
    return predict_logits(model, x, window=window, overlap=overlap, amp=amp).softmax(dim=1)


@dataclass
class FusedPrediction:
    """Fused teacher output for a batch.

    probs: N,C,H,W = (p_SU + p_RU) / 2; pred: N,H,W argmax of probs; confidence: N,H,W max
    of probs; su_pred, ru_pred: N,H,W each teacher's argmax; disagreement_map: N,H,W bool,
    True where su_pred != ru_pred.
    """

    probs: torch.Tensor
    pred: torch.Tensor
    confidence: torch.Tensor
    su_pred: torch.Tensor
    ru_pred: torch.Tensor
    disagreement_map: torch.Tensor


def fuse_probs(su_probs: torch.Tensor, ru_probs: torch.Tensor) -> FusedPrediction:
    """Fuse two teachers' probabilities (N,C,H,W each) as in method.md stage 2."""
    probs = (su_probs + ru_probs) / 2
    confidence, pred = probs.max(dim=1)
    su_pred, ru_pred = su_probs.argmax(dim=1), ru_probs.argmax(dim=1)
    return FusedPrediction(probs, pred, confidence, su_pred, ru_pred, su_pred != ru_pred)


def fuse_teachers(
    su: nn.Module,
    ru: nn.Module,
    x: torch.Tensor,
    window: int | None = None,
    overlap: float = 0.25,
    amp: bool = False,
) -> FusedPrediction:
    """Run both teachers on x: N,3,H,W and fuse their probabilities."""
    return fuse_probs(
        predict_probs(su, x, window=window, overlap=overlap, amp=amp),
        predict_probs(ru, x, window=window, overlap=overlap, amp=amp),
    )


def single_model_prediction(
    model: nn.Module,
    x: torch.Tensor,
    window: int | None = None,
    overlap: float = 0.25,
    amp: bool = False,
) -> FusedPrediction:
    """One model's output in a fused prediction's shape, for pseudo-labels that come from the
    student (when the teachers lost the gate): su_pred = ru_pred = pred, no disagreement."""
    probs = predict_probs(model, x, window=window, overlap=overlap, amp=amp)
    confidence, pred = probs.max(dim=1)
    return FusedPrediction(probs, pred, confidence, pred, pred, torch.zeros_like(pred, dtype=torch.bool))


def image_scores(
    confidence: torch.Tensor, su_pred: torch.Tensor, ru_pred: torch.Tensor, tau: float
) -> dict[str, float]:
    """Review-queue scores of one image (method.md "Pseudo-labels and the human review queue").

    Args:
        confidence: H,W max fused probability; su_pred, ru_pred: H,W teacher argmaxes.
        tau: confidence threshold.

    Returns {"mean_confidence", "confident_fraction" (share of pixels with c >= tau),
    "disagreement" (share of pixels where the teachers' argmaxes differ)}.
    """
    return {
        "mean_confidence": float(confidence.float().mean()),
        "confident_fraction": float((confidence >= tau).float().mean()),
        "disagreement": float((su_pred != ru_pred).float().mean()),
    }


def student_predict(
    model: nn.Module, x: torch.Tensor, window: int | None = None, overlap: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Student mask and confidence: N,3,H,W -> (pred N,H,W long, confidence N,H,W float)."""
    confidence, pred = predict_probs(model, x, window=window, overlap=overlap).max(dim=1)
    return pred, confidence


def class_balanced_uncertainty(probs: torch.Tensor, class_share: torch.Tensor | None) -> torch.Tensor:
    """Per image: mean over pixels of (1 - margin) * exp(-p_c) (Cai et al. CVPR 2021).

    probs: N,C,H,W; margin: top-1 minus top-2 probability; c: the pixel's predicted class;
    class_share: C, the share of each class among the project's labeled pixels (None:
    uniform weights, plain margin uncertainty). Returns N floats in [0, 1]: doubtful pixels
    of rare classes count most, so an image full of uncertain sky does not outrank one
    with an uncertain cyclist."""
    top2 = probs.float().topk(2, dim=1)
    margin = top2.values[:, 0] - top2.values[:, 1]
    if class_share is None:
        weight = torch.ones_like(margin)
    else:
        weight = torch.exp(-class_share.to(probs.device).float())[top2.indices[:, 0]]
    return ((1.0 - margin) * weight).mean(dim=(1, 2))
