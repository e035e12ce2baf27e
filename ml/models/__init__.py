"""Segmentation networks for IGL-DT: SU teacher (Swin-Unet), RU teacher (ResUnet), CNN student.

Public API:
    ModelSpec(kind, encoder, num_classes, ignore_index=255, encoder_kwargs=(),
              decoder_channels=(), decoder_depth=2)            # frozen; to_dict()/from_dict()
    build_segmenter(spec, pretrained=False, weights=None, role=None) -> Segmenter
        (.weight_source says where its weights came from: file, hub, package or random;
        kind "su" with a CNN encoder is the hybrid: pretrained CNN stem + Swin stages)
    build_su_teacher(num_classes, encoder="swin_tiny_patch4_window7_224", **kw) -> Segmenter
    build_ru_teacher(num_classes, encoder="resnet34", **kw) -> Segmenter
    build_student(num_classes, encoder="resnet18", **kw) -> Segmenter
    cpu_profile_specs(num_classes, ignore_index=255) -> {"su"|"ru"|"student": ModelSpec}
    Segmenter(x: N,3,H,W) -> logits N,num_classes,H,W  (any H, W); .spec, .encoder, .decoder
    Encoder(name, pretrained=False, out_indices=None, **timm_kwargs) -> list of NCHW maps;
        .channels, .reductions, .required_multiple
    load_weights(model, path), load_efficientnet_lite0_imagenet(encoder)
    resolve_weight_source(role, encoder, pretrained=..., request=None) -> WeightSource
"""

from ml.models.encoder import KNOWN_CNN_ENCODERS, KNOWN_SWIN_ENCODERS, Encoder, encoder_family
from ml.models.factory import (
    build_ru_teacher,
    build_segmenter,
    build_student,
    build_su_teacher,
    cpu_profile_specs,
)
from ml.models.hybrid_swin import HybridSwinEncoder
from ml.models.segmenter import Segmenter
from ml.models.spec import KINDS, ModelSpec
from ml.models.swin_unet import SwinUnetDecoder
from ml.models.unet import UNetDecoder
from ml.models.weights import (
    WeightsMismatchError,
    WeightSource,
    WeightsUnavailableError,
    load_efficientnet_lite0_imagenet,
    load_weights,
    resolve_weight_source,
)

__all__ = [
    "KINDS",
    "KNOWN_CNN_ENCODERS",
    "KNOWN_SWIN_ENCODERS",
    "Encoder",
    "HybridSwinEncoder",
    "ModelSpec",
    "Segmenter",
    "SwinUnetDecoder",
    "UNetDecoder",
    "WeightSource",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "build_ru_teacher",
    "build_segmenter",
    "build_student",
    "build_su_teacher",
    "cpu_profile_specs",
    "encoder_family",
    "load_efficientnet_lite0_imagenet",
    "load_weights",
    "resolve_weight_source",
]
