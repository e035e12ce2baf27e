"""Data pipeline: datasets from path pairs, joint augmentations, CutMix, loaders."""

from ml.imagenet import IMAGENET_MEAN, IMAGENET_STD

from .dataset import (
    IMAGE_EXTENSIONS,
    SegmentationDataset,
    from_folders,
    list_images,
    load_image,
    load_mask,
    pairs_from_folders,
    read_pair_list,
)
from .loaders import InfiniteSampler, RankSampler, infinite_loader, val_loader
from .transforms import (
    EvalTransform,
    LabeledTransform,
    StrongAugment,
    UnlabeledTransform,
    apply_cutmix,
    cutmix,
    cutmix_boxes,
    normalize,
    weak_augment,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "SegmentationDataset",
    "from_folders",
    "list_images",
    "load_image",
    "load_mask",
    "pairs_from_folders",
    "read_pair_list",
    "InfiniteSampler",
    "RankSampler",
    "infinite_loader",
    "val_loader",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "EvalTransform",
    "LabeledTransform",
    "StrongAugment",
    "UnlabeledTransform",
    "apply_cutmix",
    "cutmix",
    "cutmix_boxes",
    "normalize",
    "weak_augment",
]
