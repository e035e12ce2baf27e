"""Joint image + mask augmentations on tensors.

Images enter as uint8 (3, H, W) tensors, masks as long (H, W) tensors of class indices
(or None). Geometric (weak) transforms move the image, the mask and a ``valid`` map
together; photometric (strong) transforms touch the image only, so a pseudo-label made
on the weak view stays aligned with the strong view built from it. All randomness comes
from torch's global generator (seeded by the trainer, per worker by the DataLoader).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as TF

from ml.imagenet import normalize


def _rand(lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand(()).item()


def weak_augment(
    image: Tensor,
    mask: Tensor | None,
    *,
    crop_size: int,
    scale_range: tuple[float, float] = (0.5, 2.0),
    hflip: bool = True,
    ignore_index: int = 255,
) -> tuple[Tensor, Tensor, Tensor]:
    """Random scale, pad + random crop to crop_size, horizontal flip, jointly.

    image uint8 or float (3, H, W); mask long (H, W) or None (then an all-ignore mask is
    used). Returns (image float (3, c, c) in [0, 1], mask long (c, c), valid bool (c, c));
    padding is black in the image, ``ignore_index`` in the mask and False in ``valid``.
    """
    img = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
    _, h, w = img.shape
    if mask is None:
        mask = torch.full((h, w), ignore_index, dtype=torch.long)
    valid = torch.ones(h, w, dtype=torch.bool)
    s = _rand(*scale_range) if scale_range[0] != scale_range[1] else scale_range[0]
    if s != 1.0:
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
        mask = F.interpolate(mask[None, None].float(), size=(nh, nw), mode="nearest")[0, 0].long()
        valid = torch.ones(nh, nw, dtype=torch.bool)
        h, w = nh, nw
    ph, pw = max(0, crop_size - h), max(0, crop_size - w)
    if ph or pw:
        img = F.pad(img, (0, pw, 0, ph), value=0.0)
        mask = F.pad(mask, (0, pw, 0, ph), value=ignore_index)
        valid = F.pad(valid, (0, pw, 0, ph), value=False)
        h, w = h + ph, w + pw
    top = int(torch.randint(0, h - crop_size + 1, ()).item())
    left = int(torch.randint(0, w - crop_size + 1, ()).item())
    sl = (slice(top, top + crop_size), slice(left, left + crop_size))
    img, mask, valid = img[:, sl[0], sl[1]], mask[sl], valid[sl]
    if hflip and torch.rand(()).item() < 0.5:
        img, mask, valid = img.flip(-1), mask.flip(-1), valid.flip(-1)
    return img.contiguous(), mask.contiguous(), valid.contiguous()


@dataclass
class StrongAugment:
    """Photometric (image-only) strong augmentation, UniMatch-style.

    Colour jitter (brightness, contrast, saturation, hue) with probability p_jitter,
    grayscale with p_gray, Gaussian blur with sigma in blur_sigma and probability p_blur.
    Input and output: float (3, H, W) in [0, 1].
    """

    jitter: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.25)
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_blur: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)

    def __post_init__(self) -> None:
        self._jitter = T.ColorJitter(*self.jitter)

    def __call__(self, img: Tensor) -> Tensor:
        if torch.rand(()).item() < self.p_jitter:
            img = self._jitter(img)
        if torch.rand(()).item() < self.p_gray:
            img = TF.rgb_to_grayscale(img, num_output_channels=3)
        if torch.rand(()).item() < self.p_blur:
            sigma = _rand(*self.blur_sigma)
            k = 2 * math.ceil(2 * sigma) + 1
            img = TF.gaussian_blur(img, kernel_size=[k, k], sigma=[sigma, sigma])
        return img.clamp(0.0, 1.0)


@dataclass
class LabeledTransform:
    """Training transform for labeled (or pseudo-labeled) pairs.

    Returns {"image": float (3, c, c) normalised, "mask": long (c, c), "valid": bool (c, c)}.
    """

    crop_size: int
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True
    ignore_index: int = 255

    def __call__(self, image: Tensor, mask: Tensor | None) -> dict:
        img, m, v = weak_augment(
            image,
            mask,
            crop_size=self.crop_size,
            scale_range=self.scale_range,
            hflip=self.hflip,
            ignore_index=self.ignore_index,
        )
        return {"image": normalize(img), "mask": m, "valid": v}


@dataclass
class UnlabeledTransform:
    """Training transform for unlabeled images: a weak view and a strong view of it.

    Returns {"image_w": normalised weak view (3, c, c), "image_s": normalised strong
    view (3, c, c) (same geometry), "valid": bool (c, c)}. A partly labeled image comes with
    its mask: only the pixels it leaves at ``ignore_index`` are valid (unlabeled data), the
    labeled ones train as labeled data elsewhere. Without a mask every image pixel is valid.
    """

    crop_size: int
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True
    strong: StrongAugment | None = None
    ignore_index: int = 255

    def __post_init__(self) -> None:
        if self.strong is None:
            self.strong = StrongAugment()

    def __call__(self, image: Tensor, mask: Tensor | None = None) -> dict:
        strong = self.strong or StrongAugment()  # set by __post_init__; this tells the type checker
        img, m, v = weak_augment(
            image,
            mask,
            crop_size=self.crop_size,
            scale_range=self.scale_range,
            hflip=self.hflip,
            ignore_index=self.ignore_index,
        )
        if mask is not None:
            v = v & (m == self.ignore_index)
        return {"image_w": normalize(img), "image_s": normalize(strong(img)), "valid": v}


@dataclass
class EvalTransform:
    """Full image, no augmentation: {"image": normalised (3, H, W), "mask": long (H, W)}."""

    ignore_index: int = 255

    def __call__(self, image: Tensor, mask: Tensor | None) -> dict:
        img = image.float() / 255.0
        if mask is None:
            mask = torch.full(img.shape[1:], self.ignore_index, dtype=torch.long)
        return {"image": normalize(img), "mask": mask}


# --------------------------------------------------------------------------- CutMix


def cutmix_boxes(
    n: int,
    h: int,
    w: int,
    *,
    p: float = 0.5,
    area: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.3, 1 / 0.3),
    device: torch.device | str = "cpu",
) -> Tensor:
    """Bool (N, H, W) boxes, True where the partner image is pasted; each sample gets a
    box with probability p (else all False). Box area is a fraction in ``area`` of the
    image, aspect ratio in ``ratio`` (UniMatch's obtain_cutmix_box)."""
    boxes = torch.zeros(n, h, w, dtype=torch.bool, device=device)
    for i in range(n):
        if torch.rand(()).item() >= p:
            continue
        for _ in range(10):
            a = _rand(*area) * h * w
            r = math.exp(_rand(math.log(ratio[0]), math.log(ratio[1])))
            bw, bh = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
            if 0 < bw <= w and 0 < bh <= h:
                x = int(torch.randint(0, w - bw + 1, ()).item())
                y = int(torch.randint(0, h - bh + 1, ()).item())
                boxes[i, y : y + bh, x : x + bw] = True
                break
    return boxes


def apply_cutmix(box: Tensor, x: Tensor, perm: Tensor) -> Tensor:
    """Mix a batch with its partners: where(box, x[perm], x).

    box bool (N, H, W); x (N, H, W) or (N, C, H, W) (images, masks, probabilities,
    confidences, valid maps alike); perm long (N,) partner index of each sample.
    """
    b = box if x.dim() == 3 else box.unsqueeze(1)
    return torch.where(b, x[perm], x)


def cutmix(images: Tensor, *targets: Tensor, p: float = 0.5, perm: Tensor | None = None):
    """CutMix a batch with itself shifted by one (or ``perm``), mixing ``targets``
    (masks, pseudo-labels, probability maps: (N, H, W) or (N, C, H, W)) consistently.

    Returns (mixed_images, [mixed_targets...], box (N, H, W) bool, perm (N,)).
    """
    n, _, h, w = images.shape
    if perm is None:
        perm = torch.roll(torch.arange(n, device=images.device), 1)
    box = cutmix_boxes(n, h, w, p=p, device=images.device)
    return apply_cutmix(box, images, perm), [apply_cutmix(box, t, perm) for t in targets], box, perm
