"""The int8 check of a model version (run by a default-queue worker): export the student to
ONNX, quantize it statically on the project's own training images (ml.quantize), then compare
int8 with fp32 on the project's validation images. It passes when int8 loses at most
MAX_MIOU_LOSS_POINTS mIoU points; only then is it served."""

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.images.models import Image, MaskSource
from webapp.images.services import mask_read
from webapp.serving.models import CheckStatus, Int8Check, Precision, ProjectServing
from webapp.training.config import project_ignore_index
from webapp.training.files import checkpoints_upload
from webapp.training.model_files import student_export_path
from webapp.training.prediction import LoadedModel, image_pixels, model_input, predict_pixels, version_model

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_SECONDS = 5.0  # far below selectors.INT8_STALE_AFTER
MAX_MIOU_LOSS_POINTS = 1.0
CALIBRATION_IMAGES = 32  # spread over the project's training images (any of its images without them)
INT8_FILE = "student.int8.onnx"

PASSED = (
    "int8 passed for model v{number}: {int8:.1f} mIoU on {images} validation images against "
    "{fp32:.1f} in fp32 ({loss:+.1f} points lost; at most {limit:g} allowed)."
)
REFUSED = (
    "int8 refused for model v{number}: {int8:.1f} mIoU on {images} validation images against "
    "{fp32:.1f} in fp32, {loss:.1f} points lost where at most {limit:g} is allowed. "
    "Predictions stay in fp32."
)
NO_VALIDATION = (
    "int8 refused for model v{number}: the project has no validation images with human masks to "
    "compare it with fp32. Predictions stay in fp32."
)
NO_IMAGES = "int8 refused for model v{number}: the project has no images to calibrate it on."
FAILED = "The int8 check of model v{number} failed; predictions stay in fp32. The server log has the details."


class CheckRefused(Exception):
    pass


def int8_check_execute(*, check_id: int) -> None:
    """Claim a queued check, run it, record the outcome; a check that is not queued is left alone."""
    claimed = Int8Check.objects.filter(pk=check_id, status=CheckStatus.QUEUED).update(
        status=CheckStatus.RUNNING, heartbeat_at=timezone.now()
    )
    if not claimed:
        return
    check = Int8Check.objects.select_related("version__project").get(pk=check_id)
    number = check.version.number
    try:
        _measure(check, Heartbeat(check_id))
    except CheckRefused as refusal:
        check.status, check.message = CheckStatus.REFUSED, str(refusal)
    except Exception:  # noqa: BLE001  anything from export, ONNX Runtime or the files fails the check
        logger.exception("int8 check %s of model v%s failed", check.pk, number)
        check.status, check.message = CheckStatus.FAILED, FAILED.format(number=number)
    check.finished_at = timezone.now()
    with transaction.atomic():
        check.save()
        if check.status != CheckStatus.PASSED:  # the admin's int8 choice falls back to fp32
            ProjectServing.objects.filter(project=check.version.project).update(precision=Precision.FP32)


class Heartbeat:
    """Records that the check is alive, at most every HEARTBEAT_EVERY_SECONDS: a check whose
    worker died goes silent and reads as interrupted (selectors.int8_check_stale)."""

    def __init__(self, check_id: int) -> None:
        self.check_id = check_id
        self.last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last >= HEARTBEAT_EVERY_SECONDS:
            self.last = time.monotonic()
            Int8Check.objects.filter(pk=self.check_id).update(heartbeat_at=timezone.now())


def calibration_images(*, project) -> list[Image]:
    """CALIBRATION_IMAGES of the project's training images, evenly spaced in upload order.

    The first ones by id would do for shuffled uploads, but projects are uploaded a sequence
    or a site at a time: on CamVid the first 32 are all dusk frames, and int8 ranges fitted to
    them lost 10.7 mIoU points on daylight images (docs/benchmarks.md, serving)."""
    images = Image.objects.filter(project=project, is_validation=False)
    if not images.exists():
        images = Image.objects.filter(project=project)
    ids = list(images.order_by("id").values_list("id", flat=True))
    if len(ids) > CALIBRATION_IMAGES:
        picks = np.linspace(0, len(ids) - 1, CALIBRATION_IMAGES).round().astype(int)
        ids = [ids[i] for i in sorted(set(picks.tolist()))]
    return list(Image.objects.filter(pk__in=ids).order_by("id"))


def _measure(check: Int8Check, beat: Heartbeat) -> None:
    # torch and ONNX Runtime stay off web start-up: the web imports this module to enqueue the task.
    from ml.quantize import OnnxSegmenter, quantize_onnx

    version = check.version
    project = version.project
    fp32 = version_model(version=version)
    validation = list(
        Image.objects.filter(project=project, is_validation=True, current_mask__source=MaskSource.HUMAN).select_related(
            "current_mask"
        )
    )
    if not validation:
        raise CheckRefused(NO_VALIDATION.format(number=version.number))
    calibration = calibration_images(project=project)
    if not calibration:
        raise CheckRefused(NO_IMAGES.format(number=version.number))

    fp32_onnx = student_export_path(version=version, fmt="onnx")
    target = fp32_onnx.parent / INT8_FILE
    inputs = (model_input(fp32, image_pixels(image)) for image in _beating(calibration, beat))
    quantize_onnx(fp32_onnx, target, inputs)
    int8 = dataclasses.replace(fp32, int8=OnnxSegmenter(target, spec=fp32.model.spec))

    ignore_index = project_ignore_index(project)
    fp32_miou, int8_miou = _mious((fp32, int8), _beating(validation, beat), ignore_index=ignore_index)
    loss = 100 * (fp32_miou - int8_miou)
    check.fp32_miou, check.int8_miou, check.num_images = fp32_miou, int8_miou, len(validation)
    check.int8_path = str(target.relative_to(Path(settings.MODELS_ROOT)))
    checkpoints_upload(paths=[target])  # object storage: up before the row says where it is
    values = {
        "number": version.number,
        "int8": 100 * int8_miou,
        "fp32": 100 * fp32_miou,
        "images": len(validation),
        "loss": loss,
        "limit": MAX_MIOU_LOSS_POINTS,
    }
    if loss > MAX_MIOU_LOSS_POINTS:
        raise CheckRefused(REFUSED.format(**values))
    check.status, check.message = CheckStatus.PASSED, PASSED.format(**values)


def _beating(images: Iterable[Image], beat: Heartbeat) -> Iterator[Image]:
    """The images, beating the heart before each one is worked on."""
    for image in images:
        beat()
        yield image


def _mious(models: tuple[LoadedModel, ...], images: Iterable[Image], *, ignore_index: int) -> list[float]:
    """mIoU of each model's predictions (as served) against the images' human masks, in [0, 1]."""
    import torch  # kept off web start-up, as in _measure

    from ml.metrics import ConfusionMatrix

    num_classes = models[0].model.spec.num_classes
    matrices = [ConfusionMatrix(num_classes, ignore_index=255) for _ in models]
    for image in images:
        assert image.current_mask is not None  # filtered on its source
        target = mask_read(image.current_mask).astype(np.int64)
        target[(target == ignore_index) | (target >= num_classes)] = 255
        pixels = image_pixels(image)
        for loaded, matrix in zip(models, matrices, strict=True):
            pred, _ = predict_pixels(loaded, pixels)
            matrix.update(torch.from_numpy(pred).long()[None], torch.from_numpy(target)[None])
    mious = [matrix.miou() for matrix in matrices]
    if any(math.isnan(value) for value in mious):
        raise ValueError("no labeled pixels in the validation masks")
    return mious
