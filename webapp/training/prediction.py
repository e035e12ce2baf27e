"""Masks from the project's served model (the student of its active ModelVersion).

The model is loaded once per process and kept, keyed by (version id, checkpoint mtime, int8
file): a re-activated or overwritten checkpoint, or a switch between fp32 and int8
(webapp.serving), is picked up, and requests never pay the load. In int8 the project's
checked, statically quantized ONNX model runs in ONNX Runtime instead of PyTorch.
Images up to settings.SEGLOOP_PREDICT_WHOLE_IMAGE_PIXELS go through the (fully convolutional)
model in one forward pass; only larger ones through ml.infer's sliding window of the training
crop, which bounds memory but costs several forwards and overlapping work.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from webapp.images.models import Image
from webapp.images.validation import decode_image_rgb
from webapp.projects.models import Project
from webapp.serving.selectors import int8_served_path
from webapp.training.files import checkpoint_local
from webapp.training.models import ModelVersion

if TYPE_CHECKING:  # for the annotation only: torch is imported only by processes that predict
    import torch
    from torch import nn

    from ml.models import Segmenter
    from ml.quantize import OnnxSegmenter

logger = logging.getLogger(__name__)

NO_ACTIVE_MODEL = "Project “{project}” has no active model yet: train one and activate it first."
# Errors speak of the project's models, never of files or paths on the server (those go to the log).
MODEL_FILE_MISSING = (
    "Model v{number} of project “{project}” cannot be served: its trained weights are missing. "
    "Activate another model or train a new one."
)
MODEL_UNREADABLE = (
    "Model v{number} of project “{project}” cannot be served: its trained weights cannot be read. "
    "Activate another model or train a new one."
)
CLASS_COUNT_MISMATCH = (
    "Model v{number} predicts {model} classes but the project has {project} trainable classes; "
    "train and activate a model for the current classes."
)
DEFAULT_CROP_SIZE = 256  # ml.train.TrainConfig's default, for versions without a stored config
DEFAULT_TAU = 0.95
CACHE_SIZE = 2  # models held per process (a few projects served by one worker)


class NoActiveModel(Exception):
    """The project cannot predict: no active model, or its files are unusable. Message is for users."""


@dataclass(frozen=True)
class LoadedModel:
    model: Segmenter  # in eval mode
    number: int
    crop_size: int
    long_side: int | None
    tau: float
    int8: OnnxSegmenter | None = None  # served instead of `model` when the project chose int8 and it passed

    @property
    def precision(self) -> str:
        return "fp32" if self.int8 is None else "int8"

    @property
    def runner(self) -> nn.Module:
        """The module predictions run: the int8 ONNX model, else the PyTorch one."""
        return self.model if self.int8 is None else self.int8


_cache: OrderedDict[tuple[int, float, str], LoadedModel] = OrderedDict()
_lock = threading.Lock()


def predict_image_array(
    *, project: Project, image: Image | None = None, data: bytes | None = None
) -> tuple[np.ndarray, dict]:
    """The active model's mask for a stored image or uploaded bytes.

    Returns (HxW uint8 array of the project's class indices, scores) where scores holds
    mean_confidence, confident_fraction (share of pixels with confidence >= tau), tau and
    model_version (its number). Raises NoActiveModel, or InvalidUpload for bad bytes.
    """
    if (image is None) == (data is None):
        raise ValueError("Pass exactly one of image or data.")
    loaded = served_model(project=project)
    if image is not None:
        return predict_pixels(loaded, image_pixels(image))
    assert data is not None, "checked above: exactly one of image and data"
    return predict_pixels(loaded, decode_image_rgb(name="upload", data=data))


def image_pixels(image: Image) -> PILImage.Image:
    """A stored image's RGB pixels as models see them: upright and windowed, as trained on."""
    with image.pixels_file.open("rb") as handle:
        return decode_image_rgb(name=image.original_name, data=handle.read())


def served_model(*, project: Project) -> LoadedModel:
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    if version is None:
        raise NoActiveModel(NO_ACTIVE_MODEL.format(project=project.name))
    int8 = int8_served_path(version=version)
    try:
        path = checkpoint_local(version.student_path)
        key = (version.pk, path.stat().st_mtime, str(int8 or ""))
    except OSError as err:
        logger.warning("Model v%s of project %s: no checkpoint %s", version.number, project.pk, version.student_path)
        raise NoActiveModel(MODEL_FILE_MISSING.format(number=version.number, project=project.name)) from err
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        try:
            loaded = _load(version, path, int8)
        except Exception as err:  # noqa: BLE001  a damaged or foreign file: torch and pickle raise many kinds
            logger.exception("Model v%s of project %s: cannot load %s", version.number, project.pk, path)
            raise NoActiveModel(MODEL_UNREADABLE.format(number=version.number, project=project.name)) from err
        for stale in [k for k in _cache if k[0] == version.pk]:
            del _cache[stale]
        _cache[key] = loaded
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    if loaded.model.spec.num_classes != project.num_classes:
        raise NoActiveModel(
            CLASS_COUNT_MISMATCH.format(
                number=version.number, model=loaded.model.spec.num_classes, project=project.num_classes
            )
        )
    return loaded


def cached_model_count() -> int:
    return len(_cache)


def version_model(*, version: ModelVersion) -> LoadedModel:
    """The fp32 model of any version, loaded now and not cached (for checks, not requests)."""
    return _load(version, checkpoint_local(version.student_path), None)


def _load(version: ModelVersion, path: Path, int8: Path | None) -> LoadedModel:
    from ml.checkpoints import load_model  # torch is imported only by processes that predict
    from ml.quantize import OnnxSegmenter

    model, _checkpoint = load_model(path, map_location="cpu")
    config = version.config or {}
    return LoadedModel(
        model=model,
        number=version.number,
        crop_size=int(config.get("crop_size") or DEFAULT_CROP_SIZE),
        long_side=config.get("long_side") or None,
        tau=float(config.get("tau", DEFAULT_TAU)),
        int8=None if int8 is None else OnnxSegmenter(int8, spec=model.spec),
    )


def prediction_window(*, height: int, width: int, crop_size: int) -> int | None:
    """None (one whole-image forward) up to the pixel budget; beyond it the training crop as window."""
    if height * width <= settings.SEGLOOP_PREDICT_WHOLE_IMAGE_PIXELS or max(height, width) <= crop_size:
        return None
    return crop_size


def model_input(loaded: LoadedModel, pixels: PILImage.Image) -> torch.Tensor:
    """1,3,h,w normalised input at the scale the model saw in training (its long side)."""
    from ml.infer import image_to_tensor

    width, height = pixels.size
    if loaded.long_side and max(width, height) != loaded.long_side:
        ratio = loaded.long_side / max(width, height)
        pixels = pixels.resize(
            (max(1, round(width * ratio)), max(1, round(height * ratio))), PILImage.Resampling.BILINEAR
        )
    return image_to_tensor(pixels).unsqueeze(0)


def predict_pixels(loaded: LoadedModel, pixels: PILImage.Image) -> tuple[np.ndarray, dict]:
    """(HxW uint8 class indices, scores) of decoded RGB pixels by ``loaded.runner``, at the
    scale and crop its model trained at."""
    import torch
    import torch.nn.functional as F

    from ml.infer import predict_probs

    width, height = pixels.size
    x = model_input(loaded, pixels)
    window = prediction_window(height=x.shape[-2], width=x.shape[-1], crop_size=loaded.crop_size)
    probs = predict_probs(loaded.runner, x, window=window)
    if probs.shape[-2:] != (height, width):
        probs = F.interpolate(probs, size=(height, width), mode="bilinear", align_corners=False)
    with torch.inference_mode():
        confidence, pred = probs[0].max(dim=0)
    scores = {
        "mean_confidence": float(confidence.mean()),
        "confident_fraction": float((confidence >= loaded.tau).float().mean()),
        "tau": loaded.tau,
        "model_version": loaded.number,
        "precision": loaded.precision,
    }
    return pred.numpy().astype(np.uint8), scores
