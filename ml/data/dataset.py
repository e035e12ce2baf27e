"""Segmentation datasets built from explicit (image, mask) path pairs.

This is how the web app hands a project over: a list of pairs, the mask None for
unlabeled images. Masks are single-channel PNGs whose pixel values are class indices.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from .transforms import EvalTransform

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PathLike = str | os.PathLike
Pair = tuple[PathLike, PathLike | None]


def _resize_long_side(size: tuple[int, int], long_side: int | None) -> tuple[int, int] | None:
    w, h = size
    if not long_side or max(w, h) == long_side:
        return None
    s = long_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def load_image(path: PathLike, long_side: int | None = None) -> Tensor:
    """RGB image -> uint8 (3, H, W); resized (bilinear) so its longer side is long_side."""
    with Image.open(path) as opened:
        im = opened.convert("RGB")
        new = _resize_long_side(im.size, long_side)
        if new:
            im = im.resize(new, Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def load_mask(
    path: PathLike,
    *,
    num_classes: int,
    ignore_index: int = 255,
    remap: Mapping[int, int] | None = None,
    long_side: int | None = None,
) -> Tensor:
    """Single-channel PNG of class indices -> long (H, W), remapped and checked.

    ``remap`` maps raw values to new ones before the check (CamVid: {11: 255}).
    Raises ValueError naming the file if the PNG has colour channels, or if a value
    is neither in [0, num_classes) nor ignore_index.
    """
    with Image.open(path) as im:
        if im.mode not in ("L", "P", "I", "I;16", "1"):
            raise ValueError(f"mask {path}: expected a single-channel PNG of class indices, got mode {im.mode!r}")
        new = _resize_long_side(im.size, long_side)
        resized = im.resize(new, Image.Resampling.NEAREST) if new else im
        arr = np.asarray(resized).astype(np.int64)
    if remap:
        out = arr.copy()
        for src, dst in remap.items():
            out[arr == int(src)] = int(dst)
        arr = out
    bad = np.unique(arr[(arr >= num_classes) & (arr != ignore_index) | (arr < 0)])
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
        raise ValueError(
            f"mask {path}: invalid class values {shown}; valid are 0..{num_classes - 1} "
            f"and the ignore index {ignore_index}"
        )
    return torch.from_numpy(arr)


class SegmentationDataset(Dataset):
    """Images with optional masks, decoded once and optionally cached in memory.

    items: sequence of (image_path, mask_path or None). transform: callable
    (image uint8 (3, H, W), mask long (H, W) or None) -> dict of tensors (default
    :class:`EvalTransform`, the full image). Each sample also gets "index" and "weight"
    (the dataset's ``weight``, e.g. < 1 for pseudo-labeled data). ``long_side`` resizes
    every image (bilinear) and mask (nearest) once at decode time, so its longer side is
    long_side pixels: the cheap way to train at a reduced resolution.
    """

    def __init__(
        self,
        items: Sequence[Pair],
        *,
        num_classes: int,
        ignore_index: int = 255,
        remap: Mapping[int, int] | None = None,
        transform: Callable[[Tensor, Tensor | None], dict] | None = None,
        long_side: int | None = None,
        cache: bool = True,
        weight: float = 1.0,
    ) -> None:
        self.items = [(Path(i), Path(m) if m is not None else None) for i, m in items]
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.remap = dict(remap or {})
        self.transform = transform or EvalTransform(ignore_index)
        self.long_side = long_side
        self.cache = cache
        self.weight = float(weight)
        self._cache: dict[int, tuple[Tensor, Tensor | None]] = {}

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_masks(self) -> bool:
        return all(m is not None for _, m in self.items)

    def load(self, index: int) -> tuple[Tensor, Tensor | None]:
        """Decoded (image uint8 (3, H, W), mask long (H, W) or None), cached if enabled."""
        if index in self._cache:
            return self._cache[index]
        img_path, mask_path = self.items[index]
        image = load_image(img_path, self.long_side)
        mask = None
        if mask_path is not None:
            mask = load_mask(
                mask_path,
                num_classes=self.num_classes,
                ignore_index=self.ignore_index,
                remap=self.remap,
                long_side=self.long_side,
            )
            if tuple(mask.shape) != tuple(image.shape[1:]):
                raise ValueError(
                    f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {img_path} "
                    f"is {image.shape[2]}x{image.shape[1]}"
                )
        if self.cache:
            self._cache[index] = (image, mask)
        return image, mask

    def preload(self) -> SegmentationDataset:
        """Decode (and check) every image and mask now; errors surface before training."""
        for i in range(len(self)):
            self.load(i)
        return self

    def with_transform(self, transform) -> SegmentationDataset:
        """A view of the same files (sharing the decode cache) with another transform."""
        other = object.__new__(SegmentationDataset)
        other.__dict__.update(self.__dict__)
        other.transform = transform
        return other

    def __getitem__(self, index: int) -> dict:
        image, mask = self.load(index)
        sample = self.transform(image, mask)
        sample["index"] = index
        sample["weight"] = torch.tensor(self.weight)
        return sample


def list_images(folder: PathLike) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def pairs_from_folders(image_dir: PathLike, mask_dir: PathLike | None = None) -> list[Pair]:
    """(image, mask) pairs matched by file name stem (``a.jpg`` <-> ``a.png``).

    With mask_dir None every mask is None (unlabeled). Raises ValueError if an image
    has no mask, or if the folder holds no image.
    """
    images = list_images(image_dir)
    if not images:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {image_dir}")
    if mask_dir is None:
        return [(p, None) for p in images]
    masks = {p.stem: p for p in list_images(mask_dir)}
    missing = [p.name for p in images if p.stem not in masks]
    if missing:
        raise ValueError(
            f"{len(missing)} image(s) in {image_dir} have no mask in {mask_dir}: "
            + ", ".join(missing[:5])
            + (" ..." if len(missing) > 5 else "")
        )
    return [(p, masks[p.stem]) for p in images]


def from_folders(image_dir: PathLike, mask_dir: PathLike | None = None, **kwargs) -> SegmentationDataset:
    """:class:`SegmentationDataset` over the images of a folder and their same-named masks."""
    return SegmentationDataset(pairs_from_folders(image_dir, mask_dir), **kwargs)


def read_pair_list(path: PathLike) -> list[Pair]:
    """Read a list file: one image per line, optionally followed by its mask path,
    separated by a comma, tab or whitespace. Relative paths are relative to the file;
    blank lines and lines starting with # are skipped."""
    base = Path(path).parent
    pairs: list[Pair] = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in line.replace(",", " ").replace("\t", " ").split() if p]
        img = base / parts[0]
        mask = base / parts[1] if len(parts) > 1 else None
        pairs.append((img, mask))
    return pairs
