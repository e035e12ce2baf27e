"""The CamVid-like folder: its train files, images resized for import, ground truth at the
stored size."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage


def train_files(data: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in (data / "train").iterdir() if p.suffix.lower() == ".png")
    return files[:limit] if limit else files


def resized_png(path: Path, long_side: int | None) -> bytes:
    with PILImage.open(path) as im:
        im = im.convert("RGB")
        if long_side and max(im.size) != long_side:
            s = long_side / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), PILImage.BILINEAR)
        buffer = io.BytesIO()
        im.save(buffer, format="PNG")
    return buffer.getvalue()


def ground_truth(mask_path: str, width: int, height: int) -> np.ndarray:
    """The annotation at the stored image's size (nearest neighbour)."""
    with PILImage.open(mask_path) as im:
        if im.size != (width, height):
            im = im.resize((width, height), PILImage.NEAREST)
        return np.array(im, dtype=np.uint8)
