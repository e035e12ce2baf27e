"""Synthetic 64x64 images of coloured shapes with exact masks (road = red box, car = blue box)."""

import io

import numpy as np
from PIL import Image as PILImage

from webapp.images.services import image_import

# Tiny CPU round of the app's default networks (pretrained from their packages), 64 px crops,
# exactly these step counts: no time budget, which would plan the steps to fill its minutes.
TINY_CONFIG = {
    "crop_size": 64,
    "batch_size": 2,
    "unlabeled_batch_size": 2,
    "teacher_steps": 6,
    "student_steps": 4,
    "eval_every": 3,
    "save_every": 2,
    "device": "cpu",
    "tau": 0.5,
    "scale_range": [0.8, 1.2],
    "max_minutes": None,
}


def shapes_sample(seed: int, size: int = 64) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), (60, 120, 60), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    for label, colour in ((1, (210, 40, 40)), (2, (40, 40, 210))):
        w, h = rng.integers(12, 28, 2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        image[y : y + h, x : x + w] = colour
        mask[y : y + h, x : x + w] = label
    image = np.clip(image.astype(int) + rng.integers(-12, 12, image.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue(), mask


def mask_bytes(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(mask).save(buffer, format="PNG")
    return buffer.getvalue()


def add_shapes_images(project, user, *, labeled: int, unlabeled: int, seed: int = 100):
    """Import `labeled` images with human masks and `unlabeled` without; returns (labeled, unlabeled)."""
    with_masks, without = [], []
    for i in range(labeled + unlabeled):
        data, mask = shapes_sample(seed + i)
        image = image_import(
            project=project,
            name=f"shapes{seed + i}.png",
            data=data,
            uploaded_by=user,
            mask_data=mask_bytes(mask) if i < labeled else None,
        )
        (with_masks if i < labeled else without).append(image)
    return with_masks, without
