"""ModelSpec: everything needed to rebuild a network (stored in every checkpoint)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("su", "ru", "student")


def _freeze(value: Any) -> Any:
    """Lists (e.g. from JSON) -> tuples, dicts -> sorted tuples of pairs, so specs stay hashable."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network (stored in every checkpoint).

    Args:
        kind: "su" (Swin-Unet teacher), "ru" (ResUnet teacher) or "student" (CNN U-Net).
        encoder: timm model name (Swin for "su", a CNN otherwise).
        num_classes: number of output classes.
        ignore_index: label of void pixels (carried along for losses and metrics).
        encoder_kwargs: extra timm.create_model kwargs, as a dict or tuple of (name, value)
            pairs; stored as sorted pairs so the spec stays hashable. For example a reduced
            Swin for CPU runs: {"embed_dim": 48, "depths": (2, 2, 2, 2)}, or {"img_size": 256}.
        decoder_channels: U-Net block widths ("ru"/"student"); empty = per-kind default.
        decoder_depth: Swin blocks per Swin-Unet decoder stage ("su").
        output_stride: U-Net kinds: stride at which the decoder stops, its logits then
            upsampled bilinearly (1 = full-resolution decoder; 4 makes a light student about
            twice as fast, see docs/benchmarks.md).
    """

    kind: str
    encoder: str
    num_classes: int
    ignore_index: int = 255
    # a dict is accepted and frozen to sorted (name, value) pairs by __post_init__
    encoder_kwargs: tuple[tuple[str, Any], ...] | Mapping[str, Any] = field(default=())
    decoder_channels: tuple[int, ...] = field(default=())
    decoder_depth: int = 2
    output_stride: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown model kind {self.kind!r}; valid kinds: {list(KINDS)}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.kind == "su" and self.output_stride != 1:
            raise ValueError("output_stride applies to the U-Net kinds ('ru', 'student'), not 'su'.")
        object.__setattr__(self, "encoder_kwargs", _freeze(dict(self.encoder_kwargs)))
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))

    @property
    def encoder_options(self) -> dict[str, Any]:
        """encoder_kwargs as a dict (values stay frozen: tuples, not lists)."""
        return dict(self.encoder_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists when serialised)."""
        data = asdict(self)
        data["encoder_kwargs"] = {k: _thaw(v) for k, v in self.encoder_options.items()}
        data["decoder_channels"] = list(self.decoder_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown ModelSpec fields {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**data)
