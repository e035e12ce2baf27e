"""Reads: what a project serves, and its int8 check. A check or bulk job whose worker went
silent is shown as failed here without being written (a GET changes nothing); the services
record it when an admin acts."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from webapp.projects.models import Project
from webapp.serving.models import BulkPrediction, CheckStatus, Int8Check, JobStatus, Precision, ProjectServing
from webapp.training.files import checkpoint_local
from webapp.training.models import ModelVersion

WORKER_SILENT = "Interrupted: its worker stopped reporting progress."
BULK_INTERRUPTED = INT8_INTERRUPTED = WORKER_SILENT
BULK_STALE_AFTER = timedelta(minutes=10)  # a running job silent this long lost its worker
# A check reports progress at least every few seconds while it works; a queued one may also
# wait behind a bulk job on the default queue, hence a longer limit than the bulk job's.
INT8_STALE_AFTER = timedelta(minutes=30)


def serving_precision(*, project: Project) -> str:
    """The admin's choice (fp32 until one is made)."""
    chosen = ProjectServing.objects.filter(project=project).values_list("precision", flat=True).first()
    return chosen or Precision.FP32


def int8_served_path(*, version: ModelVersion) -> Path | None:
    """The int8 model to serve for ``version``: its project chose int8 and its check passed."""
    relative = (
        Int8Check.objects.filter(
            version=version, status=CheckStatus.PASSED, version__project__serving__precision=Precision.INT8
        )
        .values_list("int8_path", flat=True)
        .first()
    )
    if not relative:
        return None
    try:
        path = checkpoint_local(relative)
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


@dataclass(frozen=True)
class ServingState:
    precision: str  # the admin's choice
    version: ModelVersion | None  # the active one
    check: Int8Check | None  # the active version's int8 check
    bulk: BulkPrediction | None  # the latest bulk prediction

    @property
    def serves(self) -> str:
        """What predictions run in now."""
        passed = self.check is not None and self.check.status == CheckStatus.PASSED
        return Precision.INT8 if self.precision == Precision.INT8 and passed else Precision.FP32

    @property
    def checking(self) -> bool:
        return self.check is not None and self.check.status in (CheckStatus.QUEUED, CheckStatus.RUNNING)

    @property
    def busy(self) -> bool:
        """A check or a bulk prediction is under way: the section polls."""
        return self.checking or (self.bulk is not None and self.bulk.active)


def int8_check_stale(check: Int8Check, *, now: datetime | None = None) -> bool:
    """Queued or running, and silent for longer than INT8_STALE_AFTER: its worker is gone."""
    if check.status not in (CheckStatus.QUEUED, CheckStatus.RUNNING):
        return False
    last = check.heartbeat_at or check.created_at
    return last < (now or timezone.now()) - INT8_STALE_AFTER


def bulk_prediction_stale(job: BulkPrediction, *, now: datetime | None = None) -> bool:
    """Running and silent for longer than BULK_STALE_AFTER: its worker is gone."""
    silent_since = job.heartbeat_at
    return (
        job.status == JobStatus.RUNNING
        and silent_since is not None
        and silent_since < (now or timezone.now()) - BULK_STALE_AFTER
    )


def int8_check_shown(check: Int8Check) -> Int8Check:
    """The check as people see it: a stale one reads as failed (in memory only, never saved)."""
    if int8_check_stale(check):
        check.status, check.message = CheckStatus.FAILED, INT8_INTERRUPTED
    return check


def bulk_prediction_latest(*, project: Project) -> BulkPrediction | None:
    """The project's latest bulk job as people see it: a stale one reads as failed (in memory only, never saved)."""
    job = BulkPrediction.objects.filter(project=project).select_related("model_version").first()
    if job is not None and bulk_prediction_stale(job):
        job.status, job.error = JobStatus.FAILED, BULK_INTERRUPTED
    return job


def serving_state(*, project: Project) -> ServingState:
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    check = Int8Check.objects.filter(version=version).first() if version is not None else None
    return ServingState(
        precision=serving_precision(project=project),
        version=version,
        check=None if check is None else int8_check_shown(check),
        bulk=bulk_prediction_latest(project=project),
    )
