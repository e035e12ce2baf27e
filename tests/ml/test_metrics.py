"""ConfusionMatrix against a plain numpy loop and a hand-computed example; evaluate()."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ml.metrics import ConfusionMatrix, evaluate


def _reference_iou(pred, target, num_classes, ignore_index):
    """Per-class IoU the slow, obvious way."""
    valid = target != ignore_index
    ious = []
    for c in range(num_classes):
        p, t = (pred == c) & valid, (target == c) & valid
        union = (p | t).sum()
        ious.append((p & t).sum() / union if union else math.nan)
    return np.array(ious), (pred == target)[valid].mean()


def test_matches_numpy_reference_on_random_batches():
    rng = np.random.default_rng(0)
    num_classes, ignore = 5, 255
    matrix = ConfusionMatrix(num_classes, ignore)
    preds, targets = [], []
    for _ in range(3):
        pred = rng.integers(0, num_classes - 1, size=(2, 16, 16))  # class 4 never predicted
        target = rng.integers(0, num_classes, size=(2, 16, 16))
        target[rng.random(target.shape) < 0.2] = ignore
        matrix.update(torch.from_numpy(pred), torch.from_numpy(target))
        preds.append(pred)
        targets.append(target)
    iou, accuracy = _reference_iou(np.concatenate(preds), np.concatenate(targets), num_classes, ignore)
    np.testing.assert_allclose(matrix.per_class_iou().numpy(), iou)
    assert matrix.miou() == pytest.approx(np.nanmean(iou))
    assert matrix.pixel_accuracy() == pytest.approx(accuracy)


def test_hand_computed_example_with_ignore_and_absent_class():
    target = torch.tensor([[0, 0, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 2]])  # the ignored pixel's prediction must not count
    matrix = ConfusionMatrix(num_classes=4, ignore_index=255)
    matrix.update(pred, target)
    # class 0: tp 1, union 2; class 1: tp 1, union 2; classes 2, 3: absent -> NaN.
    iou = matrix.per_class_iou()
    assert iou[:2].tolist() == [0.5, 0.5]
    assert iou[2:].isnan().all()
    assert matrix.miou() == 0.5
    assert matrix.pixel_accuracy() == pytest.approx(2 / 3)
    summary = matrix.as_dict(["sky", "road", "car", "tree"])
    assert summary == {
        "miou": 0.5,
        "pixel_accuracy": pytest.approx(2 / 3),
        "per_class_iou": {"sky": 0.5, "road": 0.5, "car": None, "tree": None},
        "num_pixels": 3,
    }


def test_logits_are_argmaxed():
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 1, 0, 1] = 1.0
    matrix = ConfusionMatrix(2)
    matrix.update(logits, torch.tensor([[[0, 1]]]))
    assert matrix.pixel_accuracy() == 1.0


def test_out_of_range_target_raises_but_ignore_index_does_not():
    matrix = ConfusionMatrix(3, ignore_index=255)
    matrix.update(torch.tensor([0, 1]), torch.tensor([255, 1]))
    with pytest.raises(ValueError, match="outside"):
        matrix.update(torch.tensor([0, 1]), torch.tensor([3, 1]))
    with pytest.raises(ValueError, match="outside"):
        matrix.update(torch.tensor([0, 1]), torch.tensor([-1, 1]))


def test_empty_matrix_gives_nan_and_none():
    matrix = ConfusionMatrix(2)
    assert math.isnan(matrix.miou()) and math.isnan(matrix.pixel_accuracy())
    assert matrix.as_dict()["miou"] is None


class _Oracle(nn.Module):
    """Predicts class 1 where the first channel is positive, else class 0."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        positive = (x[:, :1] > 0).float() * self.scale
        return torch.cat([1 - positive, positive], dim=1)


@pytest.mark.parametrize("window", [None, 8])
def test_evaluate_scores_a_perfect_model_as_one(window):
    images = torch.randn(2, 3, 12, 20)
    masks = (images[:, 0] > 0).long()
    masks[:, 0, 0] = 255
    loader = [{"image": images[:1], "mask": masks[:1]}, {"image": images[1:], "mask": masks[1:]}]
    result = evaluate(_Oracle(), loader, num_classes=2, ignore_index=255, device="cpu", window=window)
    assert result["miou"] == 1.0 and result["pixel_accuracy"] == 1.0
    assert result["num_pixels"] == 2 * 12 * 20 - 2
