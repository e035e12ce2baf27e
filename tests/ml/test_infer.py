"""Sliding windows, teacher fusion and review scores on tiny hand-checkable tensors."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ml.infer import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    fuse_probs,
    fuse_teachers,
    image_scores,
    image_to_tensor,
    predict_logits,
    predict_probs,
    student_predict,
)
from ml.models import build_segmenter, cpu_profile_specs


class _Const(nn.Module):
    """Returns fixed logits (C,) at every pixel; a parameter gives it a device."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        n, _, h, w = x.shape
        return self.logits.view(1, -1, 1, 1).expand(n, -1, h, w)


def test_image_to_tensor_normalises_pil_and_arrays_alike():
    array = np.zeros((4, 5, 3), dtype=np.uint8)
    array[..., 0] = 255
    from_array = image_to_tensor(array)
    from_pil = image_to_tensor(Image.fromarray(array))
    assert from_array.shape == (3, 4, 5) and from_array.dtype == torch.float32
    assert torch.equal(from_array, from_pil)
    assert from_array[0, 0, 0].item() == pytest.approx((1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0])
    assert from_array[1, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[1] / IMAGENET_STD[1])
    assert image_to_tensor(np.zeros((4, 5), dtype=np.uint8)).shape == (3, 4, 5)


@pytest.mark.parametrize("blend", ["gaussian", "uniform"])
@pytest.mark.parametrize("hw", [(40, 56), (10, 12)])  # larger and smaller than the window
def test_sliding_window_equals_full_image_for_a_pointwise_model(blend, hw):
    model = nn.Conv2d(3, 4, kernel_size=1)  # receptive field 1: tiles cannot change anything
    x = torch.randn(2, 3, *hw)
    full = predict_logits(model, x)
    tiled = predict_logits(model, x, window=16, overlap=0.5, blend=blend)
    assert tiled.shape == (2, 4, *hw)
    torch.testing.assert_close(tiled, full, rtol=1e-5, atol=1e-5)


def test_sliding_window_on_a_real_segmenter_keeps_shape_and_restores_train_mode():
    model = build_segmenter(cpu_profile_specs(3)["student"])
    model.train()
    logits = predict_logits(model, torch.randn(1, 3, 70, 90), window=32, overlap=0.25)
    assert logits.shape == (1, 3, 70, 90) and torch.isfinite(logits).all()
    assert model.training
    # Not an inference tensor: can be a target of a loss that needs grad.
    student = torch.randn(1, 3, 70, 90, requires_grad=True)
    torch.nn.functional.cross_entropy(student, logits.argmax(1)).backward()


def test_fuse_averages_teacher_probabilities():
    su = torch.tensor([0.9, 0.1]).view(1, 2, 1, 1).repeat(1, 1, 1, 2)
    ru = torch.tensor([0.3, 0.7]).view(1, 2, 1, 1).repeat(1, 1, 1, 2)
    fused = fuse_probs(su, ru)
    torch.testing.assert_close(fused.probs[0, :, 0, 0], torch.tensor([0.6, 0.4]))
    assert fused.pred.tolist() == [[[0, 0]]]
    torch.testing.assert_close(fused.confidence, torch.full((1, 1, 2), 0.6))
    assert fused.su_pred.tolist() == [[[0, 0]]] and fused.ru_pred.tolist() == [[[1, 1]]]
    assert fused.disagreement_map.all()


def test_fuse_teachers_runs_both_models():
    su, ru = _Const([2.0, 0.0]), _Const([0.0, 1.0])
    fused = fuse_teachers(su, ru, torch.zeros(1, 3, 3, 4))
    p_su, p_ru = torch.softmax(torch.tensor([2.0, 0.0]), 0), torch.softmax(torch.tensor([0.0, 1.0]), 0)
    torch.testing.assert_close(fused.probs[0, :, 1, 1], (p_su + p_ru) / 2)
    assert fused.probs.shape == (1, 2, 3, 4) and fused.disagreement_map.all()


def test_image_scores_match_hand_counts():
    confidence = torch.tensor([[0.99, 0.5], [0.96, 0.7]])
    su = torch.tensor([[0, 1], [2, 2]])
    ru = torch.tensor([[0, 1], [2, 0]])
    scores = image_scores(confidence, su, ru, tau=0.95)
    assert scores["mean_confidence"] == pytest.approx((0.99 + 0.5 + 0.96 + 0.7) / 4)
    assert scores["confident_fraction"] == pytest.approx(0.5)
    assert scores["disagreement"] == pytest.approx(0.25)


def test_student_predict_returns_mask_and_confidence():
    pred, confidence = student_predict(_Const([0.0, 3.0, 1.0]), torch.zeros(2, 3, 5, 6), window=4)
    assert pred.shape == confidence.shape == (2, 5, 6)
    assert (pred == 1).all()
    expected = torch.softmax(torch.tensor([0.0, 3.0, 1.0]), 0)[1]
    torch.testing.assert_close(confidence, torch.full((2, 5, 6), expected.item()))
    torch.testing.assert_close(
        predict_probs(_Const([0.0, 0.0]), torch.zeros(1, 3, 2, 2)), torch.full((1, 2, 2, 2), 0.5)
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_prediction_matches_cpu():
    model = build_segmenter(cpu_profile_specs(3)["student"]).eval()
    x = torch.randn(1, 3, 64, 64)
    cpu = predict_logits(model, x)
    gpu = predict_logits(model.cuda(), x.cuda())
    assert gpu.dtype == torch.float32 and gpu.device.type == "cuda"
    assert (gpu.argmax(1).cpu() == cpu.argmax(1)).float().mean() > 0.95
