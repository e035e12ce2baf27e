"""Superpixels: an image cut into small regions of similar colour that follow its edges.

The editor's superpixel tool paints a region per click, region review (issue 13) asks about a
region at a time, and the HITL simulation's region reviewer costs its work per region. All of
them read one label map per image, computed once (webapp.images.superpixels) with
``superpixel_labels``: SLIC (Achanta et al., TPAMI 2012, scikit-image's implementation) on a
copy of the image shrunk to at most SLIC_LONG_SIDE pixels on its longer side, the labels
brought back to full size by nearest neighbour. Shrinking is what keeps a 4000x3000 photo
within about a second (bench/superpixels.py); region boundaries are then exact to about one
shrunk pixel, i.e. 4 full-size pixels on a 4000-pixel-wide image.

A label map is stored as an RGB PNG (lossless, read back exactly by a browser canvas): region
id = R + 256 G + 65536 B (``encode_labels_rgb`` / ``decode_labels_rgb``).

``region_stats``, ``region_sizes`` and ``region_majority`` summarise per-pixel maps (a
confidence map, a disagreement map, a label map) per region in one np.bincount pass each.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from skimage.segmentation import slic

# The mean region's area at full size: about 23 x 23 pixels. On CamVid at 480x360 that is ~300
# regions an image, and 92.6 % of the pixels carry their region's majority class (the most a
# one-click-per-region label can get right; 1024 px: 90.4 %, 256 px: 94.2 % but twice the
# regions to look at).
REGION_PX = 512
SLIC_LONG_SIDE = 1024  # SLIC runs on a copy at most this long; 4000x3000 -> 1024x768
# Colour against distance (Lab units). scikit-image's default, 10, lets regions fray on noisy
# flat areas (the fragments are then merged: a third of the asked count on a noisy synthetic
# image); 20 keeps the count near the asked one. On CamVid at 32x32 regions both let 91.8 %
# of the pixels be labelled right by their region's majority class.
SLIC_COMPACTNESS = 20.0
SLIC_ITERATIONS = 10
MIN_SHRUNK_REGION_PX = 36  # a region covers at least ~6 x 6 pixels of the shrunk copy
MAX_REGIONS = 256**3  # what three 8-bit channels can hold


def superpixel_labels(rgb: np.ndarray, *, region_px: int = REGION_PX) -> np.ndarray:
    """Superpixels of an RGB image: an int32 H,W map of region ids 0..n-1, every id present.

    rgb: uint8 H,W,3. region_px: the wanted mean area of a region in full-size pixels (the
    count is H*W / region_px; SLIC's connectivity step merges the smallest, so there are
    usually a few less). Regions are 4-connected.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 H,W,3 image, got {rgb.dtype} {rgb.shape}.")
    if region_px < 1:
        raise ValueError(f"region_px must be at least 1, got {region_px}.")
    height, width = rgb.shape[:2]
    scale = min(1.0, SLIC_LONG_SIDE / max(height, width))
    small = rgb
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # BOX = the mean of the pixels each shrunk pixel covers: no aliasing, and fast.
        small = np.asarray(PILImage.fromarray(rgb).resize(size, PILImage.Resampling.BOX))
    small_px = small.shape[0] * small.shape[1]
    n_segments = max(1, min(height * width // region_px, small_px // MIN_SHRUNK_REGION_PX, MAX_REGIONS))
    labels = slic(
        small,
        n_segments=n_segments,
        compactness=SLIC_COMPACTNESS,
        max_num_iter=SLIC_ITERATIONS,
        start_label=0,
        enforce_connectivity=True,
        channel_axis=-1,
    ).astype(np.int32, copy=False)
    labels = relabel_contiguous(labels)  # on the small map: growing it keeps every id (below)
    return _upscale_nearest(labels, height, width) if scale < 1.0 else labels


def _upscale_nearest(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest neighbour by pixel centres. Every shrunk pixel maps to at least one full-size
    pixel (the map is onto when growing), so no region is lost and each stays connected."""
    rows = ((np.arange(height) + 0.5) * (labels.shape[0] / height)).astype(np.intp)
    cols = ((np.arange(width) + 0.5) * (labels.shape[1] / width)).astype(np.intp)
    return np.take(labels[rows], cols, axis=1)  # np.take: several times faster than [:, cols]


def relabel_contiguous(labels: np.ndarray) -> np.ndarray:
    """The same regions numbered 0..n-1 in the order of their old ids (int32)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return labels.astype(np.int32)
    if labels.min() < 0:
        raise ValueError("Region ids must not be negative.")
    present = np.bincount(labels.ravel()) > 0
    if present.all():
        return labels.astype(np.int32, copy=False)
    lookup = (np.cumsum(present) - 1).astype(np.int32)
    return lookup[labels]


# --------------------------------------------------------------------------- storage


def encode_labels_rgb(labels: np.ndarray) -> np.ndarray:
    """uint8 H,W,3 with id = R + 256 G + 65536 B, for a lossless RGB PNG."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"Expected an H,W label map, got shape {labels.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() >= MAX_REGIONS):
        raise ValueError(f"Region ids must lie in 0..{MAX_REGIONS - 1}.")
    # The low three bytes of each little-endian uint32 are R, G and B: one copy, no arithmetic.
    ids = np.ascontiguousarray(labels, dtype="<u4")
    return np.ascontiguousarray(ids.view(np.uint8).reshape(*labels.shape, 4)[..., :3])


def decode_labels_rgb(rgb: np.ndarray) -> np.ndarray:
    """The int32 H,W label map of encode_labels_rgb's output."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"Expected an H,W,3 image, got shape {rgb.shape}.")
    out = rgb[..., 0].astype(np.int32)
    out |= rgb[..., 1].astype(np.int32) << 8
    out |= rgb[..., 2].astype(np.int32) << 16
    return out


# --------------------------------------------------------------------------- per-region summaries


def region_count(labels: np.ndarray) -> int:
    return int(labels.max()) + 1 if labels.size else 0


def region_sizes(labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Pixels per region (int64, length n, default max id + 1)."""
    n = region_count(labels) if n is None else n
    return np.bincount(labels.ravel(), minlength=n)[:n]


def region_stats(labels: np.ndarray, values: np.ndarray, n: int | None = None) -> np.ndarray:
    """The mean of `values` (H,W, any numeric or bool) over each region: float64, length n
    (default max id + 1); NaN for a region with no pixel. A bool map gives the share of True."""
    labels = np.asarray(labels)
    values = np.asarray(values)
    if values.shape != labels.shape:
        raise ValueError(f"values {values.shape} and labels {labels.shape} differ in shape.")
    n = region_count(labels) if n is None else n
    flat = labels.ravel()
    sums = np.bincount(flat, weights=values.ravel().astype(np.float64, copy=False), minlength=n)[:n]
    sizes = np.bincount(flat, minlength=n)[:n]
    means = np.full(n, np.nan)
    np.divide(sums, sizes, out=means, where=sizes > 0)
    return means


def region_majority(
    labels: np.ndarray, classes: np.ndarray, n: int | None = None, *, ignore_index: int | None = None
) -> np.ndarray:
    """The most frequent class of each region (int64, length n), `ignore_index` not counted;
    -1 where a region holds no counted pixel. Ties go to the lower class index.

    classes: H,W of non-negative class indices (a mask, a pseudo-label)."""
    labels = np.asarray(labels)
    classes = np.asarray(classes)
    if classes.shape != labels.shape:
        raise ValueError(f"classes {classes.shape} and labels {labels.shape} differ in shape.")
    n = region_count(labels) if n is None else n
    k = int(classes.max()) + 1 if classes.size else 1
    if ignore_index is not None:
        k = max(k, ignore_index + 1)
    keys = labels.ravel().astype(np.int64) * k + classes.ravel()
    counts = np.bincount(keys, minlength=n * k)[: n * k].reshape(n, k)
    if ignore_index is not None:
        counts[:, ignore_index] = 0
    majority = counts.argmax(axis=1)
    majority[counts.sum(axis=1) == 0] = -1
    return majority
