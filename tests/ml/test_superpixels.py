"""Superpixels (ml.superpixels): contiguous ids that cover the image, regions that follow a
sharp colour edge (with and without the shrunk copy that large images go through), the RGB
encoding the app stores, and the per-region summaries the region reviewer reads."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import label as connected_components

from ml.superpixels import (
    MAX_REGIONS,
    SLIC_LONG_SIDE,
    decode_labels_rgb,
    encode_labels_rgb,
    region_majority,
    region_sizes,
    region_stats,
    relabel_contiguous,
    superpixel_labels,
)

DARK, LIGHT = (40, 60, 150), (220, 200, 60)


def disc_picture(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A light disc (off the region grid) on a dark ground, with noise: (rgb, inside)."""
    y, x = np.mgrid[:height, :width]
    inside = (y - 0.47 * height) ** 2 + (x - 0.53 * width) ** 2 < (0.31 * min(height, width)) ** 2
    picture = np.where(inside[..., None], np.array(LIGHT), np.array(DARK)).astype(np.int16)
    picture += np.random.default_rng(seed).integers(-12, 13, picture.shape, dtype=np.int16)
    return np.clip(picture, 0, 255).astype(np.uint8), inside


def check_contiguous_cover(labels: np.ndarray, shape: tuple[int, int]) -> int:
    assert labels.shape == shape and labels.dtype == np.int32
    n = int(labels.max()) + 1
    assert labels.min() == 0
    assert np.array_equal(np.unique(labels), np.arange(n))
    return n


def straddle_px(labels: np.ndarray, inside: np.ndarray) -> float:
    """How far past the edge any region reaches: for each region, the pixels on its minority
    side, and the largest distance of one of them from the edge (0 when none straddles)."""
    n = int(labels.max()) + 1
    share_inside = region_stats(labels, inside, n)
    majority_inside = share_inside >= 0.5
    stray = inside != majority_inside[labels]
    if not stray.any():
        return 0.0
    # distance of every pixel to the nearest pixel of the other side
    distance = np.where(inside, ndimage.distance_transform_edt(inside), ndimage.distance_transform_edt(~inside))
    return float(distance[stray].max())


def test_labels_are_contiguous_cover_the_image_and_are_connected():
    picture, _ = disc_picture(180, 240)
    labels = superpixel_labels(picture, region_px=400)
    n = check_contiguous_cover(labels, (180, 240))
    assert 180 * 240 / 400 / 2 <= n <= 180 * 240 / 400 * 1.5
    # every region is one 4-connected piece: as many components as ids
    assert connected_components(labels, background=-1, connectivity=1).max() == n
    assert np.array_equal(superpixel_labels(picture, region_px=400), labels)  # deterministic


def test_region_px_sets_the_region_count():
    picture, _ = disc_picture(180, 240)
    coarse = int(superpixel_labels(picture, region_px=1600).max()) + 1
    fine = int(superpixel_labels(picture, region_px=200).max()) + 1
    assert fine > 4 * coarse


def test_regions_follow_a_sharp_colour_edge():
    picture, inside = disc_picture(180, 240)
    labels = superpixel_labels(picture, region_px=300)
    assert straddle_px(labels, inside) <= 2


def test_large_images_are_segmented_on_a_shrunk_copy_and_still_follow_the_edge():
    height, width = 1500, 2000  # shrunk to 1024 x 768: 1.95 full-size pixels a shrunk pixel
    picture, inside = disc_picture(height, width)
    labels = superpixel_labels(picture, region_px=2048)
    n = check_contiguous_cover(labels, (height, width))
    assert height * width / 2048 / 2 <= n <= height * width / 2048 * 1.5
    scale = width / SLIC_LONG_SIDE
    assert straddle_px(labels, inside) <= 2 * scale + 1
    # nearest-neighbour growth keeps regions whole
    assert connected_components(labels, background=-1, connectivity=1).max() == n


def test_a_tiny_image_gets_at_least_one_region():
    labels = superpixel_labels(np.zeros((3, 5, 3), np.uint8))
    check_contiguous_cover(labels, (3, 5))


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)]
)
def test_anything_but_uint8_rgb_is_refused(bad):
    with pytest.raises(ValueError, match="uint8 H,W,3"):
        superpixel_labels(bad)


def test_relabel_contiguous_keeps_the_order_of_ids():
    assert relabel_contiguous(np.array([[7, 7, 2], [40, 2, 7]])).tolist() == [[1, 1, 0], [2, 0, 1]]


# --------------------------------------------------------------------------- storage


def test_encode_decode_round_trip_including_ids_past_65535():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, MAX_REGIONS, (31, 17)).astype(np.int32)
    labels[0, :4] = [0, 255, 65535, MAX_REGIONS - 1]
    labels[1, :3] = [256, 65536, 70_000]
    encoded = encode_labels_rgb(labels)
    assert encoded.dtype == np.uint8 and encoded.shape == (31, 17, 3)
    assert encoded[1, 2].tolist() == [70_000 % 256, (70_000 // 256) % 256, 70_000 // 65536]
    assert np.array_equal(decode_labels_rgb(encoded), labels)
    assert decode_labels_rgb(encoded).dtype == np.int32


@pytest.mark.parametrize("value", [-1, MAX_REGIONS])
def test_ids_out_of_the_three_bytes_are_refused(value):
    with pytest.raises(ValueError, match="Region ids"):
        encode_labels_rgb(np.array([[0, value]]))


# --------------------------------------------------------------------------- per-region summaries


LABELS = np.array([[0, 0, 1, 1], [0, 0, 1, 2]])


def test_region_stats_are_per_region_means():
    confidence = np.array([[255, 255, 0, 100], [255, 55, 200, 9]], np.uint8)
    assert region_stats(LABELS, confidence).tolist() == [205.0, 100.0, 9.0]
    disagree = np.array([[True, False, True, True], [False, False, False, False]])
    assert region_stats(LABELS, disagree).tolist() == [0.25, 2 / 3, 0.0]
    padded = region_stats(LABELS, confidence, n=4)  # an id with no pixel
    assert padded[:3].tolist() == [205.0, 100.0, 9.0] and np.isnan(padded[3])
    assert region_sizes(LABELS).tolist() == [4, 3, 1]


def test_region_majority_ignores_the_ignore_index():
    classes = np.array([[3, 3, 11, 11], [1, 11, 2, 11]], np.uint8)
    assert region_majority(LABELS, classes).tolist() == [3, 11, 11]
    assert region_majority(LABELS, classes, ignore_index=11).tolist() == [3, 2, -1]
