"""The data pipeline keeps image and mask aligned and rejects bad input clearly."""

import numpy as np
import pytest
import torch
from PIL import Image

from ml import data as D
from tests.ml.synth_data import PALETTE, make_sample, write_set

IGN = 255
PAL = torch.tensor(PALETTE, dtype=torch.float32) / 255.0


def denorm(img):
    mean = torch.tensor(D.IMAGENET_MEAN).view(-1, 3, 1, 1)
    std = torch.tensor(D.IMAGENET_STD).view(-1, 3, 1, 1)
    return img * std + mean


def colour_class(img):
    """(N?, 3, H, W) image in [0, 1] -> class of the nearest palette colour, (N?, H, W)."""
    x = img if img.dim() == 4 else img[None]
    d = ((x.unsqueeze(1) - PAL.view(1, -1, 3, 1, 1)) ** 2).sum(2)
    out = d.argmin(1)
    return out if img.dim() == 4 else out[0]


def assert_aligned(img01, mask, min_agree=0.97):
    keep = mask != IGN
    assert keep.sum() > 0
    agree = (colour_class(img01)[keep] == mask[keep]).float().mean().item()
    assert agree >= min_agree, agree


@pytest.fixture()
def sample():
    img, mask = make_sample(np.random.default_rng(3), 64)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous(), torch.from_numpy(mask).long()


@pytest.mark.parametrize("seed", range(6))
def test_weak_augment_keeps_alignment(sample, seed):
    torch.manual_seed(seed)
    img, mask, valid = D.weak_augment(*sample, crop_size=48, scale_range=(0.5, 1.5))
    assert img.shape == (3, 48, 48) and mask.shape == valid.shape == (48, 48)
    assert (mask[~valid] == IGN).all()
    assert_aligned(img, mask)


def test_padding_is_ignored(sample):
    torch.manual_seed(0)
    img, mask, valid = D.weak_augment(*sample, crop_size=96, scale_range=(1.0, 1.0))
    assert (~valid).sum() == 96 * 96 - 64 * 64
    assert (mask[~valid] == IGN).all() and (mask[valid] != IGN).all()


def test_hflip_moves_image_and_mask_together(sample):
    img0, mask0 = sample
    flipped = False
    for seed in range(8):
        torch.manual_seed(seed)
        img, mask, _ = D.weak_augment(img0, mask0, crop_size=64, scale_range=(1.0, 1.0))
        assert_aligned(img, mask, 1.0)
        flipped |= bool((mask == mask0.flip(-1)).all() and not (mask == mask0).all())
    assert flipped


def test_labeled_transform_and_strong_view_alignment(sample):
    torch.manual_seed(1)
    out = D.LabeledTransform(crop_size=48)(*sample)
    assert_aligned(denorm(out["image"])[0], out["mask"])
    # strong aug is photometric only: dark left half stays darker than the bright right half
    half = torch.zeros(3, 32, 32)
    half[:, :, 16:] = 1.0
    for seed in range(10):
        torch.manual_seed(seed)
        s = D.StrongAugment()(half.clone())
        assert s.shape == half.shape
        assert s[:, :, :12].mean() < s[:, :, 20:].mean()


def test_unlabeled_transform_views_share_geometry(sample):
    torch.manual_seed(2)
    out = D.UnlabeledTransform(crop_size=48, strong=D.StrongAugment(p_jitter=0, p_gray=0, p_blur=0))(*sample)
    assert torch.allclose(out["image_w"], out["image_s"])
    assert out["valid"].shape == (48, 48)


def test_cutmix_mixes_images_and_masks_consistently(sample):
    torch.manual_seed(0)
    imgs, masks = [], []
    for seed in range(4):
        i, m = make_sample(np.random.default_rng(seed + 10), 64)
        imgs.append(torch.from_numpy(i).permute(2, 0, 1).float() / 255)
        masks.append(torch.from_numpy(m).long())
    x, y = torch.stack(imgs), torch.stack(masks)
    probs = torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).float()
    mx, (my, mp), box, perm = D.cutmix(x, y, probs, p=1.0)
    assert box.any(dim=(1, 2)).all()
    assert (colour_class(mx) == my).all()
    assert (mp.argmax(1) == my).all()
    assert torch.equal(my[box], y[perm][box]) and torch.equal(my[~box], y[~box])


def test_dataset_from_folders_remap_and_cache(tmp_path):
    write_set(tmp_path, 3, void_value=11)
    ds = D.from_folders(tmp_path / "images", tmp_path / "masks", num_classes=3, remap={11: IGN})
    assert len(ds) == 3 and ds.has_masks
    s = ds[0]
    assert s["image"].shape == (3, 64, 64) and s["mask"].shape == (64, 64)
    assert (s["mask"][:2] == IGN).all()
    assert_aligned(denorm(s["image"])[0], s["mask"])
    assert ds.load(0)[0] is ds.load(0)[0]  # cached


def test_long_side_resize(tmp_path):
    write_set(tmp_path, 1)
    ds = D.from_folders(tmp_path / "images", tmp_path / "masks", num_classes=3, long_side=32)
    img, mask = ds.load(0)
    assert img.shape == (3, 32, 32) and mask.shape == (32, 32)


def test_bad_mask_values_raise_naming_file_and_values(tmp_path):
    write_set(tmp_path, 2, void_value=11)
    ds = D.from_folders(tmp_path / "images", tmp_path / "masks", num_classes=3)
    with pytest.raises(ValueError) as e:
        ds.preload()
    msg = str(e.value)
    assert "s000.png" in msg and "11" in msg and "0..2" in msg and "255" in msg


def test_rgb_mask_raises(tmp_path):
    write_set(tmp_path, 1)
    p = tmp_path / "masks" / "s000.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(p)
    with pytest.raises(ValueError, match="single-channel"):
        D.load_mask(p, num_classes=3)


def test_missing_mask_and_empty_folder(tmp_path):
    write_set(tmp_path, 2)
    (tmp_path / "masks" / "s001.png").unlink()
    with pytest.raises(ValueError, match="s001.png"):
        D.pairs_from_folders(tmp_path / "images", tmp_path / "masks")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        D.pairs_from_folders(tmp_path / "empty")


def test_empty_labeled_set_errors():
    ds = D.SegmentationDataset([], num_classes=3)
    with pytest.raises(ValueError, match="labeled set is empty"):
        D.infinite_loader(ds, 2, name="labeled")


def test_infinite_loader_repeats_small_sets(tmp_path):
    pairs = write_set(tmp_path, 3)
    ds = D.SegmentationDataset(pairs, num_classes=3, transform=D.LabeledTransform(crop_size=32))
    it = D.infinite_loader(ds, 4, seed=0)
    for _ in range(3):
        b = next(it)
        assert b["image"].shape == (4, 3, 32, 32) and b["mask"].shape == (4, 32, 32)
        assert b["weight"].shape == (4,)


def test_read_pair_list(tmp_path):
    pairs = write_set(tmp_path, 2)
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nimages/s000.png, masks/s000.png\n\nimages/s001.png\n")
    got = D.read_pair_list(lst)
    assert got == [(pairs[0][0], pairs[0][1]), (pairs[1][0], None)]
