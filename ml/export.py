"""Export the served student to TorchScript and ONNX (dynamic batch, height and width)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ml.checkpoints import load_model

ONNX_OPSET = 17  # supported by the installed torch.onnx (TorchScript-based) exporter and onnxruntime
INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def _example(model: nn.Module, example_hw: tuple[int, int]) -> torch.Tensor:
    return torch.randn(1, 3, *example_hw)


def export_torchscript(model: nn.Module, path: str | Path, example_hw: tuple[int, int] = (64, 64)) -> Path:
    """Trace ``model`` (moved to CPU, eval mode) and save it; loads with ``torch.jit.load``.

    Tracing records the pad/crop arithmetic on the input's shape symbolically, so the saved
    module accepts any N, H, W (tests check this at a second size).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    with torch.no_grad(), warnings.catch_warnings():
        # TracerWarnings flag the shape arithmetic of pad/crop, which is traced dynamically
        # (checked by tests at a second size); FutureWarning is the jit deprecation notice.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, _example(model, example_hw), check_trace=False)
    traced.save(str(path))
    return path


def export_onnx(model: nn.Module, path: str | Path, example_hw: tuple[int, int] = (64, 64)) -> Path:
    """Export to ONNX with dynamic batch/height/width: input "image" N,3,H,W -> "logits" N,C,H,W.

    Uses the TorchScript-based exporter (dynamo=False): the dynamo exporter needs onnxscript,
    which is not a dependency.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (_example(model, example_hw),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"},
            },
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return path


def load_onnx_session(path: str | Path, threads: int = 0):
    """onnxruntime InferenceSession on the CPU; run with ``{"image": array}``.

    ``threads``: intra-op threads (0: ONNX Runtime's default, one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def export_student(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    formats: tuple[str, ...] = ("torchscript", "onnx"),
    example_hw: tuple[int, int] = (64, 64),
) -> dict[str, Path]:
    """Export the model of a checkpoint; returns {"torchscript": path, "onnx": path}.

    Files are named "<checkpoint stem>.ts" and "<checkpoint stem>.onnx" in ``out_dir``.
    """
    exporters = {"torchscript": (export_torchscript, ".ts"), "onnx": (export_onnx, ".onnx")}
    unknown = [f for f in formats if f not in exporters]
    if unknown:
        raise ValueError(f"unknown export formats {unknown}; valid: {sorted(exporters)}")
    model, _ = load_model(checkpoint_path)
    out_dir = Path(out_dir)
    stem = Path(checkpoint_path).stem
    return {fmt: exporters[fmt][0](model, out_dir / f"{stem}{exporters[fmt][1]}", example_hw) for fmt in formats}
