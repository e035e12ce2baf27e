"""Build the three IGL-DT networks (SU teacher, RU teacher, student) from a small spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.models import weights as weights_mod
from ml.models.encoder import KNOWN_CNN_ENCODERS, KNOWN_SWIN_ENCODERS, Encoder, encoder_family
from ml.models.hybrid_swin import HybridSwinEncoder
from ml.models.segmenter import Segmenter
from ml.models.spec import ModelSpec
from ml.models.swin_unet import SwinUnetDecoder
from ml.models.unet import UNetDecoder

# U-Net widths when the spec leaves decoder_channels empty: the student is lighter.
DEFAULT_DECODER_CHANNELS = {
    "ru": (256, 128, 64, 32, 16),
    "student": (128, 64, 32, 16, 16),
}


def build_segmenter(
    spec: ModelSpec,
    pretrained: bool = False,
    weights: str | Path | None = None,
    role: str | None = None,
) -> Segmenter:
    """Build the network described by ``spec``, with its starting weights resolved.

    Args:
        spec: what to build. Kind "su" takes a Swin encoder (pure Swin-Unet) or a CNN
            encoder (the hybrid: that CNN as a pretrained stem, Swin stages on top; its
            encoder_kwargs are HybridSwinEncoder's: stem_stride, embed_dim, depths, ...).
        pretrained: follow the source order file > hub (when downloads are allowed) >
            package > random (``ml.models.weights``).
        weights: a local .pth/.safetensors (whole segmenter or its encoder), or "hub" /
            "package" / "random" to insist on that source.
        role: name used in messages and in ``model.weight_source`` (default: spec.kind).

    The model's ``weight_source`` (a WeightSource) says where its weights came from.

    Raises:
        ValueError: unknown kind/encoder, or an encoder of the wrong family for the kind.
        WeightsUnavailableError: an insisted source that cannot be had.
    """
    role = role or spec.kind
    family = encoder_family(spec.encoder)
    if spec.kind == "su" and family not in ("swin", "cnn"):
        raise ValueError(
            f"Kind 'su' (Swin-Unet teacher) requires a Swin encoder or a CNN stem for the hybrid, "
            f"got {spec.encoder!r} ({family}). Valid Swin encoders include {list(KNOWN_SWIN_ENCODERS)}."
        )
    if spec.kind in ("ru", "student") and family != "cnn":
        raise ValueError(
            f"Kind {spec.kind!r} requires a CNN encoder, got {spec.encoder!r} ({family}). "
            f"Valid CNN encoders include {list(KNOWN_CNN_ENCODERS)}."
        )
    request = None if weights is None else str(weights)
    source = weights_mod.resolve_weight_source(role, spec.encoder, pretrained=pretrained, request=request)
    try:
        encoder = _build_encoder(spec, family, hub=source.source == "hub")
    except OSError as err:  # the hub could not be reached after all: next source in the order
        if request == "hub":
            raise weights_mod.WeightsUnavailableError(
                f"{role}: downloading hub weights of {spec.encoder!r} failed: {err}"
            ) from err
        source = weights_mod.resolve_weight_source(
            role, spec.encoder, pretrained=pretrained, request=request, hub=False
        )
        encoder = _build_encoder(spec, family, hub=False)
    if source.source == "package":
        weights_mod.load_package_weights(encoder.stem if isinstance(encoder, HybridSwinEncoder) else encoder)

    decoder: SwinUnetDecoder | UNetDecoder
    if spec.kind == "su":
        decoder = SwinUnetDecoder(
            encoder.channels,
            encoder.reductions,
            num_heads=encoder.num_heads,
            img_size=encoder.img_size or (224, 224),
            depth=spec.decoder_depth,
            window_size=int(spec.encoder_options.get("window_size", 7)),
        )
    else:
        widths = spec.decoder_channels or DEFAULT_DECODER_CHANNELS[spec.kind]
        decoder = UNetDecoder(encoder.channels, encoder.reductions, widths, output_stride=spec.output_stride)

    model = Segmenter(spec, encoder, decoder)
    if source.source == "file":
        weights_mod.load_weights(model, source.detail)
    model.weight_source = source
    return model


def _build_encoder(spec: ModelSpec, family: str, *, hub: bool) -> Encoder | HybridSwinEncoder:
    kwargs = spec.encoder_options
    if spec.kind == "su" and family == "cnn":
        return HybridSwinEncoder(spec.encoder, pretrained=hub, **kwargs)
    return Encoder(spec.encoder, pretrained=hub, **kwargs)


def build_su_teacher(
    num_classes: int,
    encoder: str = "swin_tiny_patch4_window7_224",
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **spec_fields: Any,
) -> Segmenter:
    """Swin-Unet teacher; ``spec_fields`` go to ModelSpec (ignore_index, encoder_kwargs, ...)."""
    spec = ModelSpec(kind="su", encoder=encoder, num_classes=num_classes, **spec_fields)
    return build_segmenter(spec, pretrained=pretrained, weights=weights)


def build_ru_teacher(
    num_classes: int,
    encoder: str = "resnet34",
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **spec_fields: Any,
) -> Segmenter:
    """ResUnet teacher (CNN encoder + residual U-Net decoder)."""
    spec = ModelSpec(kind="ru", encoder=encoder, num_classes=num_classes, **spec_fields)
    return build_segmenter(spec, pretrained=pretrained, weights=weights)


def build_student(
    num_classes: int,
    encoder: str = "resnet18",
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **spec_fields: Any,
) -> Segmenter:
    """Light CNN student (the only network served at inference time)."""
    spec = ModelSpec(kind="student", encoder=encoder, num_classes=num_classes, **spec_fields)
    return build_segmenter(spec, pretrained=pretrained, weights=weights)


# Reduced Swin for the `cpu` benchmark profile: half the width, shallower, no pretrained weights.
CPU_SWIN_KWARGS = {"embed_dim": 48, "depths": (2, 2, 2, 2), "num_heads": (3, 6, 12, 24)}


def cpu_profile_specs(num_classes: int, ignore_index: int = 255) -> dict[str, ModelSpec]:
    """Small specs for CPU benchmarks/tests: {"su": ..., "ru": ..., "student": ...}."""
    return {
        "su": ModelSpec(
            "su",
            "swin_tiny_patch4_window7_224",
            num_classes,
            ignore_index,
            encoder_kwargs=CPU_SWIN_KWARGS,
            decoder_depth=1,
        ),
        "ru": ModelSpec("ru", "resnet18", num_classes, ignore_index, decoder_channels=(128, 64, 32, 16, 16)),
        "student": ModelSpec(
            "student", "mobilenetv3_small_100", num_classes, ignore_index, decoder_channels=(64, 32, 24, 16, 16)
        ),
    }
