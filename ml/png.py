"""The one PNG encoder for 2-D 8-bit maps: stored masks, pseudo-labels, teacher labels and the
confidence / disagreement maps. numpy and Pillow only (no torch, no Django), so web processes
and workers share it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

NOT_A_MAP = "A label map must be 2-D with values 0..255, got shape {shape} and dtype {dtype}."


def gray_png(array: np.ndarray) -> bytes:
    """H,W values 0..255 -> grayscale (mode L) PNG bytes; the pixel values are kept exactly.

    uint8 and bool arrays go as they are; other integer arrays must hold values 0..255.
    Raises ValueError otherwise (a silent wrap-around would store wrong classes).
    """
    if array.ndim != 2 or not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(NOT_A_MAP.format(shape=array.shape, dtype=array.dtype))
    if array.dtype != np.uint8:
        if array.size and (int(array.min()) < 0 or int(array.max()) > 255):
            raise ValueError(NOT_A_MAP.format(shape=array.shape, dtype=array.dtype))
        array = array.astype(np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()
