"""Encoder + decoder + 1x1 head, for any input size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ml.models.encoder import Encoder, pad_to_multiple
from ml.models.hybrid_swin import HybridSwinEncoder
from ml.models.spec import ModelSpec
from ml.models.swin_unet import SwinUnetDecoder
from ml.models.unet import UNetDecoder

if TYPE_CHECKING:  # weights imports this module
    from ml.models.weights import WeightSource


class Segmenter(nn.Module):
    """Semantic segmentation network built by ``ml.models.build_segmenter``.

    forward(x: N,3,H,W ImageNet-normalised float) -> logits N,num_classes,H,W for any H, W:
    the input is zero-padded to ``encoder.required_multiple`` and the logits cropped back.

    Attributes:
        spec: the ``ModelSpec`` it was built from (saved in checkpoints to rebuild it).
        encoder, decoder, head: the three parts; ``head`` is a 1x1 conv to class logits.
    """

    def __init__(
        self, spec: ModelSpec, encoder: Encoder | HybridSwinEncoder, decoder: UNetDecoder | SwinUnetDecoder
    ) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = encoder
        self.decoder = decoder
        self.head = nn.Conv2d(decoder.out_channels, spec.num_classes, kernel_size=1)
        self.weight_source: WeightSource | None = None  # set by build_segmenter

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.encoder.required_multiple)
        logits = self.head(self.decoder(self.encoder(x)))
        if getattr(self.decoder, "output_stride", 1) > 1:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :h, :w]
