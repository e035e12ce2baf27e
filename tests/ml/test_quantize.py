"""int8 static quantization of a tiny student's ONNX export, calibrated on its own images."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from ml.export import export_onnx
from ml.infer import image_to_tensor, predict_logits
from ml.metrics import ConfusionMatrix
from ml.models import build_student
from ml.quantize import NoCalibrationImages, OnnxSegmenter, quantize_onnx

NUM_CLASSES = 3


def two_region(width: int, height: int, seed: int, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Dark half (class 0), bright half (class 2), noisy; mirrored with ``flip``."""
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    labels = np.zeros((height, width), dtype=np.int64)
    pixels[:, : width // 2] = rng.integers(0, 40, (height, width // 2, 3))
    pixels[:, width // 2 :] = rng.integers(215, 255, (height, width - width // 2, 3))
    labels[:, width // 2 :] = 2
    if flip:
        pixels, labels = pixels[:, ::-1].copy(), labels[:, ::-1].copy()
    return pixels, labels


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    """A tiny student trained a few steps on two-region images, and its fp32 ONNX export."""
    torch.manual_seed(0)
    model = build_student(NUM_CLASSES, encoder="mobilenetv3_small_100", decoder_channels=(32, 24, 16, 16, 16))
    pairs = [two_region(64, 64, seed, flip=seed % 2 == 1) for seed in range(4)]
    x = torch.stack([image_to_tensor(p) for p, _ in pairs])
    y = torch.from_numpy(np.stack([label for _, label in pairs]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    return model, export_onnx(model, tmp_path_factory.mktemp("onnx") / "student.onnx")


def miou(model, pairs) -> float:
    matrix = ConfusionMatrix(NUM_CLASSES)
    for pixels, labels in pairs:
        logits = predict_logits(model, image_to_tensor(pixels).unsqueeze(0))
        matrix.update(logits.argmax(1), torch.from_numpy(labels).unsqueeze(0))
    return matrix.miou()


def test_int8_model_is_smaller_and_within_one_miou_point_of_fp32(fp32_onnx, tmp_path):
    model, fp32_path = fp32_onnx
    calibration = [image_to_tensor(two_region(64, 48, 10 + i, flip=i % 2 == 1)[0]) for i in range(4)]
    int8_path = quantize_onnx(fp32_path, tmp_path / "int8" / "student.int8.onnx", calibration)
    assert int8_path.is_file() and int8_path.stat().st_size < fp32_path.stat().st_size / 2
    assert [p.name for p in int8_path.parent.iterdir()] == ["student.int8.onnx"]  # no scratch left
    validation = [two_region(96, 64, 100 + i, flip=i % 2 == 1) for i in range(4)]
    fp32_miou, int8_miou = miou(model, validation), miou(OnnxSegmenter(int8_path, spec=model.spec), validation)
    assert fp32_miou > 0.9
    assert fp32_miou - int8_miou <= 0.01


def test_onnx_segmenter_runs_whole_images_and_sliding_windows_like_its_session(fp32_onnx, tmp_path):
    model, fp32_path = fp32_onnx
    onnx_model = OnnxSegmenter(fp32_path, spec=model.spec, threads=1)
    assert onnx_model.spec.num_classes == NUM_CLASSES
    x = image_to_tensor(two_region(90, 70, 7)[0]).unsqueeze(0)
    (direct,) = onnx_model.session.run(None, {"image": x.numpy()})
    torch.testing.assert_close(predict_logits(onnx_model, x), torch.from_numpy(direct))
    torch.testing.assert_close(predict_logits(onnx_model, x), predict_logits(model, x), rtol=1e-3, atol=1e-4)
    windowed = predict_logits(onnx_model, x, window=64)
    assert windowed.shape == (1, NUM_CLASSES, 70, 90)
    assert torch.equal(windowed.argmax(1), predict_logits(model, x, window=64).argmax(1))


def test_quantizing_without_calibration_images_is_refused(fp32_onnx, tmp_path):
    _, fp32_path = fp32_onnx
    with pytest.raises(NoCalibrationImages):
        quantize_onnx(fp32_path, tmp_path / "int8.onnx", [])
    assert list(tmp_path.iterdir()) == []
