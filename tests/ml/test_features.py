"""Per-image features from encoders (ml.features) and the class-balanced uncertainty."""

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from ml.features import combine, encoder_embeddings, l2_normalise, pooled_encoder_features
from ml.infer import class_balanced_uncertainty, predict_logits
from ml.models import build_segmenter, cpu_profile_specs


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_segmenter(cpu_profile_specs(3)["student"]).eval()


def test_pooled_features_come_from_the_forward_that_runs(student):
    x = torch.randn(2, 3, 64, 64)
    with pooled_encoder_features(student) as collected:
        predict_logits(student, x)
    vectors = collected.vectors()
    assert vectors.shape == (2, student.encoder.channels[-1])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    # the hook is gone afterwards
    predict_logits(student, x)
    assert collected.count == 1


def test_a_window_pass_gives_a_similar_vector(student):
    x = torch.randn(1, 3, 96, 96)
    with pooled_encoder_features(student) as whole:
        predict_logits(student, x)
    with pooled_encoder_features(student) as tiles:
        predict_logits(student, x, window=64)
    assert tiles.count == 4  # 2 x 2 tiles, averaged
    assert float(whole.vectors()[0] @ tiles.vectors()[0]) > 0.5


def test_no_forward_is_an_error(student):
    with pooled_encoder_features(student) as collected:
        pass
    with pytest.raises(RuntimeError, match="No forward"):
        collected.vectors()


def test_encoder_embeddings_of_images(student):
    red = PILImage.fromarray(np.tile(np.array([200, 20, 20], np.uint8), (40, 60, 1)))
    stripes = PILImage.fromarray(((np.indices((40, 60)).sum(0) % 8 < 4) * 255).astype(np.uint8)).convert("RGB")
    vectors = encoder_embeddings(student.encoder, [red, red.copy(), stripes], long_side=32)
    assert vectors.shape == (3, student.encoder.channels[-1])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-4)
    assert float(vectors[0] @ vectors[2]) < 0.999
    assert student.encoder.training is False


def test_combine_weights_parts_equally():
    a = l2_normalise(np.array([[3.0, 0.0]]))
    b = l2_normalise(np.array([[0.0, 0.0, 5.0]]))
    np.testing.assert_allclose(combine(a, b), [[2**-0.5, 0, 0, 0, 2**-0.5]], rtol=1e-6)


def test_class_balanced_uncertainty():
    # Image 0: every pixel sure of class 0. Image 1: every pixel split 0.5/0.5 between 0 and 1.
    probs = torch.zeros(2, 3, 2, 2)
    probs[0, 0] = 1.0
    probs[1, 0] = 0.5
    probs[1, 1] = 0.5
    plain = class_balanced_uncertainty(probs, None)
    assert plain.tolist() == pytest.approx([0.0, 1.0])
    # Doubtful pixels of a rare class weigh more than those of a common one.
    common_zero = class_balanced_uncertainty(probs, torch.tensor([0.9, 0.05, 0.05]))
    rare_zero = class_balanced_uncertainty(probs, torch.tensor([0.05, 0.9, 0.05]))
    assert common_zero[1] == pytest.approx(np.exp(-0.9))
    assert rare_zero[1] > common_zero[1]
