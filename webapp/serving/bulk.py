"""Predict every image of a project with its served model (fp32, or int8 once checked): a
default-queue job whose row holds status and progress. Each image's mask goes to its
Prediction row, never to its masks, so human masks and pseudo-labels are untouched. A job
that finds its row no longer queued (a redelivered message) does nothing."""

import logging
import time

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.images.models import Image
from webapp.images.validation import InvalidUpload, encode_mask_png
from webapp.serving.models import BulkPrediction, JobStatus, Prediction
from webapp.training.models import ModelVersion
from webapp.training.prediction import LoadedModel, NoActiveModel, image_pixels, predict_pixels, served_model

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0
JOB_FAILED = "The bulk prediction failed; the server log has the details."


def bulk_prediction_execute(*, job_id: int) -> None:
    claimed = BulkPrediction.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    if not claimed:
        return
    job = BulkPrediction.objects.select_related("project").get(pk=job_id)
    status, error = JobStatus.SUCCEEDED, ""
    try:
        _predict_all(job)
    except NoActiveModel as refusal:
        status, error = JobStatus.FAILED, str(refusal)
    except Exception:  # noqa: BLE001  the model, the storage or the database: the row says failed
        logger.exception("Bulk prediction %s of project %s failed", job.pk, job.project_id)
        status, error = JobStatus.FAILED, JOB_FAILED
    BulkPrediction.objects.filter(pk=job.pk).update(status=status, error=error, finished_at=timezone.now())


def _predict_all(job: BulkPrediction) -> None:
    loaded = served_model(project=job.project)
    version = ModelVersion.objects.filter(project=job.project, number=loaded.number).first()
    images = Image.objects.filter(project=job.project).order_by("id")
    total = images.count()
    BulkPrediction.objects.filter(pk=job.pk).update(total=total, model_version=version, precision=loaded.precision)
    done = skipped = 0
    last = time.monotonic()
    for image in images.iterator(chunk_size=100):
        try:
            _predict_one(job=job, image=image, loaded=loaded, version=version)
        except (InvalidUpload, OSError, IntegrityError):  # unreadable, or deleted meanwhile
            logger.warning("Bulk prediction %s: image %s skipped", job.pk, image.pk, exc_info=True)
            skipped += 1
        done += 1
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
            last = time.monotonic()
            BulkPrediction.objects.filter(pk=job.pk).update(done=done, skipped=skipped, heartbeat_at=timezone.now())
    BulkPrediction.objects.filter(pk=job.pk).update(done=done, skipped=skipped, heartbeat_at=timezone.now())


def _predict_one(*, job: BulkPrediction, image: Image, loaded: LoadedModel, version: ModelVersion | None) -> None:
    """Write the new mask file first, then switch the row to it, then remove the old file."""
    mask, scores = predict_pixels(loaded, image_pixels(image))
    prediction = Prediction.objects.filter(image=image).first() or Prediction(image=image)
    old_name = prediction.file.name or ""
    prediction.file.save(
        f"{job.pk}-v{loaded.number}-{loaded.precision}.png", ContentFile(encode_mask_png(mask)), save=False
    )
    prediction.model_version = version
    prediction.precision = loaded.precision
    prediction.mean_confidence = scores["mean_confidence"]
    prediction.confident_fraction = scores["confident_fraction"]
    prediction.job = job
    try:
        with transaction.atomic():
            prediction.save()
    except IntegrityError:
        default_storage.delete(prediction.file.name or "")
        raise
    if old_name and old_name != prediction.file.name:
        default_storage.delete(old_name)
