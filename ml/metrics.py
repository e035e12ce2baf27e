"""Segmentation metrics from a confusion matrix (mIoU, per-class IoU, pixel accuracy)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn


class ConfusionMatrix:
    """Accumulates a num_classes x num_classes matrix: rows = target class, columns = prediction.

    Pixels whose target is ``ignore_index`` are skipped; any other target (or prediction)
    outside [0, num_classes) is a bug upstream and raises ValueError.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)

    def reset(self) -> None:
        self.matrix.zero_()

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch.

        Args:
            pred: N,H,W class indices, or N,C,H,W logits/probabilities (argmax over C).
            target: N,H,W class indices with ``ignore_index`` for void pixels.
        """
        if pred.dim() == target.dim() + 1:
            pred = pred.argmax(dim=1)
        if pred.shape != target.shape:
            raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        pred = pred.reshape(-1).long()
        target = target.reshape(-1).long()
        valid = target != self.ignore_index
        pred, target = pred[valid], target[valid]
        n = self.num_classes
        if target.numel() and (target.min() < 0 or target.max() >= n):
            raise ValueError(f"target has labels outside [0, {n}) other than ignore_index={self.ignore_index}")
        if pred.numel() and (pred.min() < 0 or pred.max() >= n):
            raise ValueError(f"pred has labels outside [0, {n})")
        counts = torch.bincount(target * n + pred, minlength=n * n)
        self.matrix += counts.reshape(n, n).cpu()

    def per_class_iou(self) -> torch.Tensor:
        """IoU per class (float64, length num_classes); NaN where a class is absent in both."""
        m = self.matrix.double()
        tp = m.diag()
        union = m.sum(0) + m.sum(1) - tp
        return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))

    def miou(self) -> float:
        """Mean IoU over the classes present in prediction or target (NaN if none)."""
        iou = self.per_class_iou()
        return float(iou.nanmean()) if not iou.isnan().all() else math.nan

    def pixel_accuracy(self) -> float:
        """Correct pixels / counted pixels (NaN if none were counted)."""
        total = int(self.matrix.sum())
        return float(self.matrix.diag().sum()) / total if total else math.nan

    def as_dict(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-ready summary; NaN becomes None (JSON and Postgres reject NaN).

        Returns {"miou", "pixel_accuracy", "per_class_iou": {name: iou}, "num_pixels"}.
        """
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(f"{len(names)} class names for {self.num_classes} classes")
        return {
            "miou": _none_if_nan(self.miou()),
            "pixel_accuracy": _none_if_nan(self.pixel_accuracy()),
            "per_class_iou": {n: _none_if_nan(float(v)) for n, v in zip(names, self.per_class_iou(), strict=True)},
            "num_pixels": int(self.matrix.sum()),
        }


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def evaluate(
    model: nn.Module,
    loader: Iterable[dict[str, torch.Tensor]],
    num_classes: int,
    ignore_index: int = 255,
    device: str | torch.device = "cpu",
    *,
    window: int | None = None,
    overlap: float = 0.25,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run ``model`` over ``loader`` and return ``ConfusionMatrix.as_dict``.

    Args:
        loader: yields dicts with "image" N,3,H,W (normalised) and "mask" N,H,W long.
        window: sliding-window size for large images (None = whole image at once).
    """
    from ml.infer import predict_logits  # infer imports nothing from here; keeps import light

    model = model.to(device)
    matrix = ConfusionMatrix(num_classes, ignore_index)
    for batch in loader:
        logits = predict_logits(model, batch["image"].to(device), window=window, overlap=overlap)
        matrix.update(logits.argmax(dim=1), batch["mask"].to(logits.device))
    return matrix.as_dict(class_names)
