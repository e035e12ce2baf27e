"""int8 serving: static quantization of the student's ONNX export with ONNX Runtime.

``quantize_onnx`` calibrates activation ranges on the caller's images (a project's own, so
the int8 ranges fit its data) and writes a QDQ model: int8 weights per channel (7 bits of
range, see quantize_onnx), uint8 activations, which ONNX Runtime's CPU provider runs as
integer kernels. ``OnnxSegmenter`` wraps an InferenceSession as an ``nn.Module``, so
ml.infer's whole-image and sliding-window prediction (and ml.metrics.evaluate) run it like
the PyTorch model.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from ml.export import INPUT_NAME, load_onnx_session


class ImageCalibrationReader(CalibrationDataReader):
    """Feeds ``images`` (each 3,H,W or 1,3,H,W, ImageNet-normalised, torch or numpy) one at a
    time as the model's input; sizes may differ between images."""

    def __init__(self, images: Iterable[torch.Tensor | np.ndarray]) -> None:
        self._images: Iterator[torch.Tensor | np.ndarray] = iter(images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self._images, None)
        if image is None:
            return None
        array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if array.ndim == 3:
            array = array[None]
        return {INPUT_NAME: np.ascontiguousarray(array, dtype=np.float32)}


class NoCalibrationImages(ValueError):
    pass


def quantize_onnx(
    fp32_path: str | Path,
    int8_path: str | Path,
    calibration_images: Iterable[torch.Tensor | np.ndarray],
    *,
    per_channel: bool = True,
    method: CalibrationMethod = CalibrationMethod.MinMax,
) -> Path:
    """Write the int8 (QDQ) model of ``fp32_path`` to ``int8_path`` and return it.

    The fp32 graph is pre-processed first (shape inference and graph optimisation, as ONNX
    Runtime recommends), then calibrated on ``calibration_images`` (see
    ImageCalibrationReader). Raises NoCalibrationImages when the iterable is empty. The file
    is written beside the target and renamed into place, so readers never see half of it.
    """
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".quantize-", dir=int8_path.parent))
    try:
        prepared = scratch / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        reader = _CountingReader(ImageCalibrationReader(calibration_images))
        made = scratch / "int8.onnx"
        quantize_static(
            str(prepared),
            str(made),
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            # 7-bit weights: x86 runs uint8 x int8 through VPMADDUBSW, whose 16-bit sums
            # saturate; with full-range weights an app-default student lost 2.8-11 mIoU points
            # (sky 72 -> 55 IoU), with 7 bits 0.7, at the same speed (uint8 weights avoid it
            # too but ran 3x slower). ONNX Runtime's documented fix for this.
            reduce_range=True,
            calibrate_method=method,
        )
        made.replace(int8_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return int8_path


class _CountingReader(CalibrationDataReader):
    """Raises before calibration when there is no image at all (ORT would fail obscurely)."""

    def __init__(self, inner: ImageCalibrationReader) -> None:
        self.inner = inner
        self._first: dict[str, np.ndarray] | None = inner.get_next()
        if self._first is None:
            raise NoCalibrationImages("int8 calibration needs at least one image")

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return self.inner.get_next()


class OnnxSegmenter(nn.Module):
    """An ONNX segmenter (fp32 or int8) behind the PyTorch interface: N,3,H,W -> N,C,H,W logits.

    It has no parameters, so it runs on the CPU; ``spec`` is carried over from the model it
    was exported from when given. Thread settings are ONNX Runtime's (``threads`` = intra-op
    threads, 0 for its default).
    """

    def __init__(self, path: str | Path, *, spec: Any = None, threads: int = 0) -> None:
        super().__init__()
        self.path = Path(path)
        self.spec = spec
        self.session = load_onnx_session(self.path, threads=threads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().float().numpy())
        (logits,) = self.session.run(None, {INPUT_NAME: array})
        return torch.from_numpy(logits)
