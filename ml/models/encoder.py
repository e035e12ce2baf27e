"""One adapter over timm backbones, CNN or Swin, so decoders only see channels and strides."""

from __future__ import annotations

import difflib
from typing import Any, cast

import timm
import torch
import torch.nn.functional as F
from torch import nn

# Small, known-good names, listed in error messages so a typo gets a useful answer.
KNOWN_CNN_ENCODERS = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
    "tf_efficientnet_lite0",
    "efficientnet_b0",
    "convnext_tiny",
)
KNOWN_SWIN_ENCODERS = (
    "swin_tiny_patch4_window7_224",
    "swin_small_patch4_window7_224",
    "swin_base_patch4_window7_224",
)

# timm modules whose models are transformers, not CNNs (their features are not conv maps
# with a natural stride pyramid, or come channels-last).
_TRANSFORMER_MODULE_HINTS = ("transformer", "vision_transformer", "vit", "deit", "beit", "eva")


def encoder_family(name: str) -> str:
    """Return "swin" or "cnn" for a timm model name; raise ValueError when unknown to timm.

    Only timm's classic Swin (``timm.models.swin_transformer``) counts as "swin": V2 / CR
    variants use other blocks and are rejected by both families.
    """
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=8, cutoff=0.6)
        raise ValueError(
            f"Unknown encoder {name!r}: not a timm model with features_only support. "
            f"Close matches in timm.list_models(): {close or 'none'}. "
            f"Known-good CNN encoders: {list(KNOWN_CNN_ENCODERS)}; "
            f"known-good Swin encoders: {list(KNOWN_SWIN_ENCODERS)}."
        )
    module = timm.models.model_entrypoint(name).__module__.rsplit(".", 1)[-1]
    if module == "swin_transformer":
        return "swin"
    if any(hint in module for hint in _TRANSFORMER_MODULE_HINTS):
        return "transformer"
    return "cnn"


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad N,C,H,W on the bottom/right so H and W are multiples of ``multiple``.

    Zero is the ImageNet mean after normalisation, i.e. a neutral grey, and unlike reflect
    padding it works for images smaller than the pad.
    """
    h, w = x.shape[-2:]
    pad_h = (multiple - h % multiple) % multiple
    pad_w = (multiple - w % multiple) % multiple
    if pad_h == 0 and pad_w == 0 and not torch.jit.is_tracing():
        return x  # skip the copy; while tracing always pad so the pad stays shape-dependent
    return F.pad(x, (0, pad_w, 0, pad_h))


class Encoder(nn.Module):
    """timm ``features_only`` backbone that returns NCHW feature maps.

    Attributes:
        name: timm model name.
        family: "cnn" or "swin".
        channels: channel count of each returned feature map.
        reductions: stride of each feature map relative to the input.
        required_multiple: input H and W must be multiples of this (forward pads otherwise);
            it is the largest stride, so every downsampling step divides evenly.
        img_size: the (H, W) a Swin was built for (sets its window sizes), None for CNNs.
        num_heads: attention heads per Swin stage, None for CNNs.
        ignored_weight_keys: keys skipped by the last weights load (e.g. the classifier).
    """

    def __init__(
        self,
        name: str,
        *,
        pretrained: bool = False,
        out_indices: tuple[int, ...] | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.name = name
        self.family = encoder_family(name)
        kwargs: dict[str, Any] = dict(timm_kwargs)
        if self.family == "swin":
            # Swin must accept any padded size; timm then builds attention masks per forward.
            kwargs.setdefault("strict_img_size", False)
            kwargs.setdefault("img_size", 224)
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
        try:
            self.model = timm.create_model(name, pretrained=pretrained, features_only=True, **kwargs)
        except (RuntimeError, AssertionError, TypeError, NotImplementedError) as err:
            raise ValueError(
                f"Encoder {name!r} could not be built with features_only=True and {kwargs}: {err}. "
                f"Known-good CNN encoders: {list(KNOWN_CNN_ENCODERS)}; "
                f"known-good Swin encoders: {list(KNOWN_SWIN_ENCODERS)}."
            ) from err
        info: Any = self.model.feature_info  # timm's FeatureInfo (timm ships no types)
        self.channels: list[int] = list(info.channels())
        self.reductions: list[int] = list(info.reduction())
        self.required_multiple: int = max(self.reductions)
        self.img_size: tuple[int, int] | None = None
        self.num_heads: list[int] | None = None
        # Keys of a loaded weights file that this features_only model has no use for.
        self.ignored_weight_keys: list[str] = []
        if self.family == "swin":
            size = kwargs["img_size"]
            self.img_size = (size, size) if isinstance(size, int) else tuple(size)
            self.num_heads = _swin_heads(self.model, len(self.channels))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: N,3,H,W -> list of N,channels[i],H/reductions[i],W/reductions[i] (H, W padded)."""
        x = pad_to_multiple(x, self.required_multiple)
        features = self.model(x)
        if self.family == "swin":
            # timm's Swin returns channels-last (N,H,W,C) maps.
            features = [f.permute(0, 3, 1, 2).contiguous() for f in features]
        return list(features)


def _swin_heads(model: nn.Module, num_stages: int) -> list[int]:
    """Read the attention heads of each Swin stage from the timm model (first block of each)."""
    heads = []
    for module in model.modules():
        if type(module).__name__ == "SwinTransformerStage":
            heads.append(cast(Any, module).blocks[0].attn.num_heads)  # a timm stage: untyped
    # features_only may drop stages after the last out_index; keep the ones we return.
    return heads[:num_stages]
