"""Where and how tensors run: device choice and bf16 autocast (CUDA, and CPUs with native bf16)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache

import torch


def resolve_device(name: str) -> torch.device:
    """ "auto" -> CUDA when present, else CPU; anything else as torch names it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matmuls and convolutions run faster than fp32 (1.3-1.7x in
    training here, bench/train_throughput.py); without them autocast only adds casts."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, enabled: bool = True) -> AbstractContextManager:
    """bf16 autocast where it pays (CUDA, bf16-capable CPUs); a no-op elsewhere or when disabled."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if enabled and device.type == "cpu" and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()
