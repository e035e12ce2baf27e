"""Swin-Unet decoder (Cao et al. 2021): Swin blocks + patch expanding, with skip connections.

Works channels-last internally (N,H,W,C) like timm's Swin blocks; takes and returns NCHW.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from timm.models.swin_transformer import SwinTransformerBlock
from torch import nn


class PatchExpand(nn.Module):
    """Linear layer then pixel rearrangement: N,H,W,C -> N,H*s,W*s,out_channels.

    The linear maps C to s*s*out_channels; each output pixel of an s x s cell takes one slice
    (Swin-Unet: s=2 with out=C/2 between stages, s=4 with out=C for the final expand).
    """

    def __init__(self, dim: int, out_channels: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.out_channels = out_channels
        self.expand = nn.Linear(dim, scale * scale * out_channels, bias=False)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, _ = x.shape
        s, c = self.scale, self.out_channels
        x = self.expand(x).reshape(n, h, w, s, s, c)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(n, h * s, w * s, c)
        return self.norm(x)


class SwinDecoderStage(nn.Module):
    """Concatenate a skip, project back to ``dim`` (Swin-Unet's "concat back dim"), Swin blocks.

    x, skip: N,H,W,dim -> N,H,W,dim.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        feat_size: tuple[int, int],
        window_size: int = 7,
    ) -> None:
        super().__init__()
        self.concat_back = nn.Linear(2 * dim, dim)
        # dynamic_mask: the shifted-window mask is rebuilt for whatever size comes in.
        self.blocks = nn.Sequential(
            *[
                SwinTransformerBlock(
                    dim=dim,
                    input_resolution=feat_size,
                    num_heads=num_heads,
                    window_size=window_size,
                    shift_size=0 if i % 2 == 0 else window_size // 2,
                    dynamic_mask=True,
                )
                for i in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.concat_back(torch.cat([x, skip], dim=-1))
        return self.blocks(x)


class SwinUnetDecoder(nn.Module):
    """Decoder mirroring a Swin encoder (strides e.g. 4, 8, 16, 32; channels C, 2C, 4C, 8C).

    The encoder's last stage is the bottleneck. Each decoder step patch-expands x2 (halving
    channels), fuses the skip of that stride and runs ``depth`` Swin blocks; a final x4
    (= shallowest stride) patch expand returns to input resolution with C channels.

    Args:
        encoder_channels: channels per encoder stage, shallow to deep; each must be half of
            the next, as in Swin.
        encoder_reductions: stride per stage, shallow to deep.
        num_heads: heads per stage (same as the encoder's), shallow to deep.
        img_size: size the encoder was built for; sets the window sizes as in the encoder.
        depth: Swin blocks per decoder stage.
        window_size: Swin attention window.

    forward(features) with features[i]: N,C_i,H/r_i,W/r_i -> N,out_channels,H,W.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_reductions: Sequence[int],
        num_heads: Sequence[int] | None = None,
        img_size: tuple[int, int] = (224, 224),
        depth: int = 2,
        window_size: int = 7,
    ) -> None:
        super().__init__()
        channels = list(encoder_channels)
        for shallow, deep in pairwise(channels):
            if deep != 2 * shallow:
                raise ValueError(f"Swin-Unet needs channels doubling per stage, got {channels}")
        if num_heads is None:
            num_heads = [max(1, c // 32) for c in channels]
        self.expands = nn.ModuleList()
        self.stages = nn.ModuleList()
        for i in range(len(channels) - 2, -1, -1):
            feat = (img_size[0] // encoder_reductions[i], img_size[1] // encoder_reductions[i])
            self.expands.append(PatchExpand(channels[i + 1], channels[i], scale=2))
            self.stages.append(SwinDecoderStage(channels[i], depth, num_heads[i], feat, window_size))
        self.final_expand = PatchExpand(channels[0], channels[0], scale=encoder_reductions[0])
        self.out_channels = channels[0]

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        nhwc = [f.permute(0, 2, 3, 1) for f in features]
        x = nhwc[-1]
        skips = nhwc[:-1][::-1]
        for expand, stage, skip in zip(self.expands, self.stages, skips, strict=True):
            x = stage(expand(x), skip)
        x = self.final_expand(x)
        return x.permute(0, 3, 1, 2).contiguous()
