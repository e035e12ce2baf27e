"""Tiny synthetic segmentation sets for the ml tests: coloured shapes on a background,
where each class has its own colour, so a mask can be recovered from the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PALETTE = np.array([[30, 30, 120], [220, 40, 40], [40, 200, 60]], dtype=np.uint8)


def make_sample(rng: np.random.Generator, size: int = 64, noise: int = 0):
    """(image uint8 HxWx3, mask uint8 HxW) with a rectangle (class 1) and a disc (class 2)."""
    mask = np.zeros((size, size), np.uint8)
    h0, w0 = rng.integers(4, size // 2, 2)
    hh, ww = rng.integers(size // 6, size // 3, 2)
    mask[h0 : h0 + hh, w0 : w0 + ww] = 1
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    r = rng.integers(size // 10, size // 5)
    yy, xx = np.mgrid[:size, :size]
    mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
    img = PALETTE[mask].astype(np.int16)
    if noise:
        img = img + rng.integers(-noise, noise + 1, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def write_set(
    root: Path,
    n: int,
    *,
    seed: int = 0,
    size: int = 64,
    noise: int = 10,
    void_value: int | None = None,
    masks: bool = True,
):
    """Write n images (root/images) and masks (root/masks); returns [(img, mask|None)]."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    if masks:
        (root / "masks").mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(n):
        img, mask = make_sample(rng, size, noise)
        if void_value is not None:
            mask[:2, :] = void_value
        ip = root / "images" / f"s{i:03d}.png"
        Image.fromarray(img).save(ip)
        mp = None
        if masks:
            mp = root / "masks" / f"s{i:03d}.png"
            Image.fromarray(mask, mode="L").save(mp)
        pairs.append((ip, mp))
    return pairs


def synth_sets(root: Path, labeled: int = 8, unlabeled: int = 8, val: int = 4) -> dict:
    """Labeled pairs, unlabeled paths and val pairs of 48 px synthetic images under root."""
    return {
        "labeled": write_set(root / "lab", labeled, seed=1, size=48),
        "unlabeled": [p for p, _ in write_set(root / "unl", unlabeled, seed=2, size=48, masks=False)],
        "val": write_set(root / "val", val, seed=3, size=48),
    }
