"""Per-image feature vectors from a segmenter's encoder: the deepest feature map, globally
average-pooled and L2-normalised. The review queue clusters pseudo-labels by them and seed
suggestions cluster the project's images by them; both read them off a forward pass that
runs anyway (pseudo-labelling) or off the pretrained encoder alone (before any model)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

import numpy as np
import torch
from torch import nn

from ml.infer import image_to_tensor
from ml.runtime import autocast


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


class PooledFeatures:
    """Collects the pooled deepest encoder map of every forward while active.

    A sliding-window prediction runs the encoder once per tile: the tiles' pooled vectors
    are averaged, so a window and a whole-image pass give comparable vectors."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def hook(self, _module, _inputs, outputs) -> None:
        deepest = outputs[-1].detach().float()
        pooled = deepest.mean(dim=(2, 3))
        self.total = pooled if self.total is None else self.total + pooled
        self.count += 1

    def vectors(self) -> np.ndarray:
        """N,D float32, L2-normalised; raises if no forward ran."""
        if self.total is None:
            raise RuntimeError("No forward pass ran while features were being collected.")
        return l2_normalise((self.total / self.count).cpu().numpy())


@contextlib.contextmanager
def pooled_encoder_features(model: nn.Module) -> Iterator[PooledFeatures]:
    """While active, every forward of ``model`` (a ml.models Segmenter) adds its encoder's
    pooled deepest features to the yielded collector."""
    collector = PooledFeatures()
    handle = cast(nn.Module, model.encoder).register_forward_hook(collector.hook)
    try:
        yield collector
    finally:
        handle.remove()


def combine(*parts: np.ndarray) -> np.ndarray:
    """Several normalised feature sets of the same images side by side, weighted equally."""
    return l2_normalise(np.concatenate([l2_normalise(p) for p in parts], axis=1))


@torch.inference_mode()
def encoder_embeddings(
    encoder: nn.Module, images, *, device: torch.device | str = "cpu", amp: bool = False, long_side: int | None = 512
) -> np.ndarray:
    """Pooled deepest features of a bare encoder (an ml.models Encoder, e.g. the pretrained
    student backbone) for PIL images, one at a time: N,D float32, L2-normalised.

    long_side: images are resized so their longer side is at most this (features of a
    pretrained encoder barely change with resolution; the time does)."""
    device = torch.device(device)
    was_training = encoder.training
    encoder.eval()
    rows = []
    try:
        for image in images:
            image = image.convert("RGB")
            if long_side and max(image.size) > long_side:
                scale = long_side / max(image.size)
                image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
            x = image_to_tensor(image).unsqueeze(0).to(device)  # the encoder pads to its multiple
            with autocast(device, amp):
                deepest = encoder(x)[-1].float()
            rows.append(deepest.mean(dim=(2, 3)).cpu().numpy()[0])
    finally:
        encoder.train(was_training)
    return l2_normalise(np.stack(rows)) if rows else np.zeros((0, 0), dtype=np.float32)
