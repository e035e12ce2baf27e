"""Checkpoints that rebuild their own model: {"model": state_dict, "spec": ModelSpec dict, **extra}."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml.atomic import write_atomically
from ml.models import ModelSpec, Segmenter, build_segmenter

RESERVED_KEYS = ("model", "spec")


def _unwrap(model: nn.Module) -> nn.Module:
    """The underlying Segmenter of a DDP- or torch.compile-wrapped model."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # type: ignore[assignment]  # checked just above
        else:
            return model


def save_checkpoint(path: str | Path, *, model: nn.Module, extra: dict[str, Any] | None = None) -> Path:
    """Write {"model": state_dict, "spec": spec.to_dict(), **extra} to ``path`` atomically.

    The file is written to a temporary file in the same directory, flushed to disk, then renamed
    over ``path``, so a process killed mid-write never leaves a truncated checkpoint: readers see
    the old file or the new one (``write_atomically``). ``extra`` (optimizer state, step,
    best_score, ...) should hold only tensors and plain Python values, since
    ``load_checkpoint`` reads with weights_only=True.
    """
    path = Path(path)
    model = _unwrap(model)
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise TypeError("save_checkpoint needs a model built by ml.models (with a .spec)")
    extra = dict(extra or {})
    clash = [k for k in RESERVED_KEYS if k in extra]
    if clash:
        raise ValueError(f"extra must not use the reserved keys {clash}")
    payload = {"model": model.state_dict(), "spec": spec.to_dict(), **extra}

    write_atomically(path, lambda f: torch.save(payload, f))
    return path


def copy_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Copy a checkpoint file as atomically as ``save_checkpoint`` writes one (a resumed run
    takes over a dead run's checkpoints: a copy cut short must not look like a checkpoint)."""
    target = Path(target)
    with open(source, "rb") as src:
        write_atomically(target, lambda f: shutil.copyfileobj(src, f, 1024 * 1024))
    shutil.copystat(source, target)
    return target


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict (tensors and plain values only: weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or "spec" not in checkpoint:
        raise ValueError(f"{path} is not a segloop checkpoint (needs 'model' and 'spec' keys)")
    return checkpoint


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Segmenter, dict[str, Any]]:
    """Rebuild the model from the checkpoint's spec alone and load its weights.

    Returns (model in eval mode on ``map_location``, the full checkpoint dict).
    """
    checkpoint = load_checkpoint(path, map_location=map_location)
    spec = ModelSpec.from_dict(checkpoint["spec"])
    model = build_segmenter(spec)
    model.load_state_dict(checkpoint["model"], strict=True)
    return model.to(map_location).eval(), checkpoint
