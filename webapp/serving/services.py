"""Writes: the project's serving precision. Choosing int8 for a model version that has not
been checked queues its check (webapp.serving.checks), and so does activating another version
while int8 is chosen; int8 is served once it passes."""

from django.db import transaction
from django.utils import timezone

from webapp.projects.models import Project
from webapp.serving.models import BulkPrediction, CheckStatus, Int8Check, JobStatus, Precision, ProjectServing
from webapp.serving.selectors import (
    BULK_INTERRUPTED,
    BULK_STALE_AFTER,
    int8_check_stale,
    serving_precision,
)
from webapp.serving.tasks import bulk_prediction, int8_check
from webapp.training.models import ModelVersion
from webapp.training.prediction import NO_ACTIVE_MODEL

FP32_CHOSEN = "Predictions run in fp32 (PyTorch)."
INT8_CHECKING = (
    "int8 is being checked for model v{number}: quantized on the project's images, then compared with "
    "fp32 on its validation images. Predictions stay in fp32 until it passes."
)
INT8_SERVED = "Predictions run in int8 (ONNX Runtime) with model v{number}."
BULK_STARTED = "Predicting every image of the project with its served model; masks are not touched."
BULK_RUNNING = "A bulk prediction of this project is already under way."


class ServingRefused(Exception):
    """A choice that cannot be served; the message is for the admin."""


@transaction.atomic
def serving_precision_set(*, project: Project, precision: str) -> str:
    """Record the admin's choice and return what happens now. int8 with a version whose check
    was refused raises ServingRefused with the check's message (and the choice stays fp32)."""
    serving, _ = ProjectServing.objects.select_for_update().get_or_create(project=project)
    if precision == Precision.FP32:
        serving.precision = Precision.FP32
        serving.save(update_fields=["precision"])
        return FP32_CHOSEN
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    if version is None:
        raise ServingRefused(NO_ACTIVE_MODEL.format(project=project.name))
    check = _int8_check_queue(version=version)
    if check.status == CheckStatus.REFUSED:
        raise ServingRefused(check.message)
    serving.precision = Precision.INT8
    serving.save(update_fields=["precision"])
    if check.status == CheckStatus.PASSED:
        return INT8_SERVED.format(number=version.number)
    return INT8_CHECKING.format(number=version.number)


def int8_check_follow_activation(*, version: ModelVersion) -> None:
    """A version became active while its project chose int8: check it, so that int8 resumes
    without the admin choosing it again (fp32 is served meanwhile). Runs in the activation's
    transaction; the check is queued after commit."""
    if serving_precision(project=version.project) == Precision.INT8:
        _int8_check_queue(version=version)


def _int8_check_queue(*, version: ModelVersion) -> Int8Check:
    """The version's check, queued (after commit) when it is new, failed, or its worker went
    silent (reads show that one as failed; it is rewritten here, where an admin acts); a
    queued, running, passed or refused one is returned as it is."""
    check, created = Int8Check.objects.select_for_update().get_or_create(version=version)
    if created or check.status == CheckStatus.FAILED or int8_check_stale(check):  # tried again
        check.status, check.message, check.fp32_miou, check.int8_miou = CheckStatus.QUEUED, "", None, None
        check.finished_at, check.heartbeat_at = None, timezone.now()
        check.save(update_fields=["status", "message", "fp32_miou", "int8_miou", "finished_at", "heartbeat_at"])
        transaction.on_commit(lambda: int8_check.delay(check.pk))
    return check


@transaction.atomic
def bulk_prediction_start(*, project: Project, user) -> BulkPrediction:
    """Queue "predict every image" (one job per project at a time); the default-queue worker runs it."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one start at a time
    if not ModelVersion.objects.filter(project=project, is_active=True).exists():
        raise ServingRefused(NO_ACTIVE_MODEL.format(project=project.name))
    BulkPrediction.objects.filter(
        project=project, status=JobStatus.RUNNING, heartbeat_at__lt=timezone.now() - BULK_STALE_AFTER
    ).update(status=JobStatus.FAILED, error=BULK_INTERRUPTED, finished_at=timezone.now())
    if BulkPrediction.objects.filter(project=project, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
        raise ServingRefused(BULK_RUNNING)
    job = BulkPrediction.objects.create(project=project, requested_by=user)
    transaction.on_commit(lambda: bulk_prediction.delay(job.pk))
    return job
