"""Hybrid SU encoder [ours]: a pretrained CNN stem, then Swin stages.

No Swin weights can be had offline, and a Swin trained from scratch on a few dozen masks
stays weaker than the student it should teach (docs/benchmarks.md). The hybrid keeps the
transformer's global context where it matters (shifted-window attention over the deep,
coarse stages) while its early features are a pretrained EfficientNet-Lite's.

    image -> CNN stem to stride ``stem_stride`` (8 or 16) -> linear patch embedding
          -> Swin stage at the stem stride -> (patch merging + Swin stage) ... to stride 32

Features come out at strides 4, 8, 16, 32 with channels C/2, C, 2C, 4C (stem stride 8;
C = ``embed_dim``), doubling per stage as the Swin-Unet decoder needs: shallow strides
are the CNN's maps projected by a 1x1 conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.models.swin_transformer import SwinTransformerStage
from torch import nn

from ml.models.encoder import Encoder, pad_to_multiple

STEM_STRIDES = (8, 16)
OUT_STRIDES = (4, 8, 16, 32)


class HybridSwinEncoder(nn.Module):
    """CNN stem (a timm features_only Encoder) + Swin stages; same interface as Encoder.

    Args:
        cnn: timm CNN name of the stem (e.g. "tf_efficientnet_lite0").
        pretrained: load the stem's weights from the hub (package weights are loaded by the
            factory into ``stem``).
        stem_stride: stride at which the Swin stages take over (8 or 16).
        embed_dim: channels of the first Swin stage (at ``stem_stride``).
        depths: Swin blocks per stage, one per stride from ``stem_stride`` to 32.
        num_heads: attention heads per Swin stage (default: channels // 32).
        window_size: Swin attention window.
        img_size: size the windows are planned for (any size works: the blocks pad).

    forward(x: N,3,H,W) -> [N,C_i,H/r_i,W/r_i] for r_i in 4, 8, 16, 32.
    """

    family = "hybrid"

    def __init__(
        self,
        cnn: str,
        *,
        pretrained: bool = False,
        stem_stride: int = 8,
        embed_dim: int = 96,
        depths: Sequence[int] | None = None,
        num_heads: Sequence[int] | None = None,
        window_size: int = 7,
        img_size: int = 224,
    ) -> None:
        super().__init__()
        if stem_stride not in STEM_STRIDES:
            raise ValueError(f"stem_stride must be one of {STEM_STRIDES}, got {stem_stride}")
        swin_strides = [s for s in OUT_STRIDES if s >= stem_stride]
        depths = list(depths) if depths is not None else [2] * len(swin_strides)
        if len(depths) != len(swin_strides):
            raise ValueError(f"depths needs one entry per Swin stride {swin_strides}, got {depths}")
        probe = Encoder(cnn)
        wanted = [i for i, r in enumerate(probe.reductions) if r in OUT_STRIDES and r <= stem_stride]
        self.stem = Encoder(cnn, pretrained=pretrained, out_indices=tuple(wanted))
        self.name = f"{cnn}+swin"
        stem_channels = dict(zip(self.stem.reductions, self.stem.channels, strict=True))
        # channels per output stride, doubling: C at stem_stride
        self.channels = [embed_dim * s // stem_stride for s in OUT_STRIDES]
        self.reductions = list(OUT_STRIDES)
        self.required_multiple = 32
        self.img_size = (img_size, img_size)
        # heads for every output stride (the decoder's stages use the shallow ones too)
        heads = [max(1, c // 32) for c in self.channels]
        if num_heads is not None:
            heads[len(OUT_STRIDES) - len(swin_strides) :] = list(num_heads)
        self.num_heads = heads
        self.ignored_weight_keys: list[str] = []
        # 1x1 projections of the CNN maps below the stem stride (skips) and at it (embedding)
        self.skips = nn.ModuleList(
            nn.Conv2d(stem_channels[s], c, 1)
            for s, c in zip(OUT_STRIDES, self.channels, strict=True)
            if s < stem_stride
        )
        self.embed = nn.Linear(stem_channels[stem_stride], embed_dim)
        self.embed_norm = nn.LayerNorm(embed_dim)
        self.stages = nn.ModuleList()
        dim = embed_dim
        for i, (stride, depth) in enumerate(zip(swin_strides, depths, strict=True)):
            out_dim = self.channels[OUT_STRIDES.index(stride)]
            self.stages.append(
                SwinTransformerStage(
                    dim=dim,
                    out_dim=out_dim,
                    input_resolution=(img_size // stride, img_size // stride),
                    depth=depth,
                    downsample=i > 0,
                    num_heads=heads[OUT_STRIDES.index(stride)],
                    window_size=window_size,
                    dynamic_mask=True,
                )
            )
            dim = out_dim
        self.stem_stride = stem_stride

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = pad_to_multiple(x, self.required_multiple)
        maps = dict(zip(self.stem.reductions, self.stem(x), strict=True))
        # one skip per stride below the stem stride: the first strides, the rest are Swin stages
        out = [proj(maps[s]) for proj, s in zip(self.skips, OUT_STRIDES, strict=False)]
        h = self.embed_norm(self.embed(maps[self.stem_stride].permute(0, 2, 3, 1)))  # N,H,W,C
        for stage in self.stages:
            h = stage(h)
            out.append(h.permute(0, 3, 1, 2).contiguous())
        return out
