"""COCO RLE against examples worked out by hand from the COCO format description."""

import numpy as np
import pytest

from webapp.datasets.coco import (
    bbox,
    coco_annotations,
    counts_to_string,
    rle_counts,
    rle_decode,
    rle_encode,
    string_to_counts,
)

# 0 1 0      column-major: 0 0 0 | 1 1 0 | 0 1 0
# 0 1 1      runs: 3 zeros, 2 ones, 2 zeros, 1 one, 1 zero  -> [3, 2, 2, 1, 1]
# 0 0 0      string: 3->'3', 2->'2', 2->'2', 1-2=-1->'O', 1-2=-1->'O'
HAND = np.array([[0, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)


def test_counts_run_column_major_starting_with_zeros():
    assert rle_counts(HAND) == [3, 2, 2, 1, 1]


def test_mask_starting_with_a_one_begins_with_an_empty_zero_run():
    assert rle_counts(np.array([[1, 0], [1, 1]], dtype=bool)) == [0, 2, 1, 1]


def test_compressed_string_of_the_hand_example():
    assert rle_encode(HAND) == {"size": [3, 3], "counts": "322OO"}


def test_large_counts_take_several_characters():
    # 100 = 0b11_00100: low group 4 with "more" (0x20) -> chr(48+36)='T', then 3 -> '3'.
    assert counts_to_string([100]) == "T3"
    assert string_to_counts("T3") == [100]


@pytest.mark.parametrize("seed", range(5))
def test_decode_inverts_encode_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((17, 23)) < rng.random()
    assert np.array_equal(rle_decode(rle_encode(mask)), mask)
    assert np.array_equal(rle_decode({"size": [17, 23], "counts": rle_counts(mask)}), mask)


def test_bbox_is_x_y_width_height():
    assert bbox(HAND) == [1, 0, 2, 2]


def test_annotations_one_per_present_class_skipping_the_ignore_class():
    labels = np.array([[0, 1], [3, 1]], dtype=np.uint8)  # 3 = ignore, not a category
    annotations = coco_annotations(label_map=labels, image_id=7, category_ids={0: 1, 1: 2, 2: 3}, first_id=10)
    assert [(a["id"], a["category_id"], a["area"]) for a in annotations] == [(10, 1, 1), (11, 2, 2)]
    assert annotations[1]["segmentation"] == {"size": [2, 2], "counts": "22"}
