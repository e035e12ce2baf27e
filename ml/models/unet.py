"""U-Net decoder made of residual blocks (RU teacher and student)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a (projected) shortcut, then ReLU.

    x: N,in_channels,H,W -> N,out_channels,H,W.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class UpBlock(nn.Module):
    """Upsample to the skip's size, concatenate the skip (if any), one residual block."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = ResidualBlock(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = torch.cat([x, skip], dim=1)
        else:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.block(x)


class UNetDecoder(nn.Module):
    """Decode an encoder's feature pyramid back to full resolution.

    One UpBlock per skip connection (deepest to shallowest), then skip-less x2 UpBlocks until
    the stride is ``output_stride`` (1: the input's resolution whatever the shallowest stride).

    Args:
        encoder_channels: channels of each encoder feature map, shallow to deep.
        encoder_reductions: stride of each map, shallow to deep (powers of two).
        decoder_channels: output channels of the successive UpBlocks; the last value is
            repeated if there are more blocks than values.
        output_stride: stride of the output map (a power of two); the Segmenter upsamples
            its logits from there.

    forward(features) with features[i]: N,encoder_channels[i],H/r_i,W/r_i
        -> N,out_channels,H/output_stride,W/output_stride.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_reductions: Sequence[int],
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        output_stride: int = 1,
    ) -> None:
        super().__init__()
        if len(encoder_channels) != len(encoder_reductions):
            raise ValueError("encoder_channels and encoder_reductions must have the same length")
        _log2(output_stride)
        if output_stride > encoder_reductions[-1]:
            raise ValueError(f"output_stride {output_stride} is coarser than the encoder's deepest map")
        # Skips finer than output_stride are not used: the blocks at stride 2 and 1 cost most
        # of a light decoder's compute, and the head's logits are upsampled instead.
        self.skip_indices = [i for i, r in enumerate(encoder_reductions[:-1]) if r >= output_stride][::-1]
        shallowest = min([encoder_reductions[i] for i in self.skip_indices] or [encoder_reductions[-1]])
        num_final = _log2(shallowest) - _log2(output_stride)
        skips = [encoder_channels[i] for i in self.skip_indices]
        widths = list(decoder_channels) + [decoder_channels[-1]] * (len(skips) + num_final)
        blocks = []
        in_ch = encoder_channels[-1]
        for i, skip_ch in enumerate(skips + [0] * num_final):
            blocks.append(UpBlock(in_ch, skip_ch, widths[i]))
            in_ch = widths[i]
        self.blocks = nn.ModuleList(blocks)
        self.num_skips = len(skips)
        self.out_channels = in_ch
        self.output_stride = output_stride

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = [features[i] for i in self.skip_indices]
        x = features[-1]
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < self.num_skips else None)
        return x


def _log2(stride: int) -> int:
    """Number of x2 upsamplings from ``stride`` to 1; strides must be powers of two."""
    if stride < 1 or stride & (stride - 1):
        raise ValueError(f"encoder stride {stride} is not a power of two")
    return stride.bit_length() - 1
