"""Partly labeled images: the unlabeled view of an (image, mask) pair is valid only where
the mask holds the ignore index, and a round takes such pairs in its unlabeled set."""

import numpy as np
import torch
from PIL import Image

from ml.data import SegmentationDataset, UnlabeledTransform
from ml.train import train_round
from tests.ml.tiny_config import cfg

IGNORE = 255


def partial_copy(pair, tmp_path):
    """The pair's mask with its left half left unlabeled."""
    image, mask_path = pair
    mask = np.array(Image.open(mask_path))
    mask[:, : mask.shape[1] // 2] = IGNORE
    target = tmp_path / "partial.png"
    Image.fromarray(mask, mode="L").save(target)
    return image, target, mask


def test_only_the_ignored_pixels_of_a_partial_mask_are_unlabeled_data(synth, tmp_path):
    image, mask_path, mask = partial_copy(synth["labeled"][0], tmp_path)
    transform = UnlabeledTransform(48, (1.0, 1.0), hflip=False, ignore_index=IGNORE)
    with_mask = SegmentationDataset([(image, mask_path)], num_classes=3, transform=transform)[0]
    assert torch.equal(with_mask["valid"], torch.from_numpy(mask == IGNORE))
    without = SegmentationDataset([(image, None)], num_classes=3, transform=transform)[0]
    assert without["valid"].all()
    assert torch.equal(with_mask["image_w"], without["image_w"])  # same view either way


def test_a_round_trains_on_a_partial_pair_in_both_sets(synth, tmp_path):
    image, mask_path, _ = partial_copy(synth["labeled"][0], tmp_path)
    events = []
    result = train_round(
        cfg(teacher_steps=2, student_steps=2),
        labeled=[*synth["labeled"][1:], (image, mask_path)],
        unlabeled=[(image, mask_path), *synth["unlabeled"]],
        val=synth["val"],
        out_dir=tmp_path / "round",
        progress=events.append,
    )
    assert result.status == "completed"
    assert {"sup", "cps"} <= set(events[0].losses) and 0.0 <= events[0].mask_ratio <= 1.0
