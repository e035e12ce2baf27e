"""Writes for training from the web side: start, cancel, reap dead runs, auto-retrain.

Model versions (created by the worker, activated here by admins) live in `versions.py`; the
worker side (claiming a run, progress, pseudo-labelling) in `worker.py`, reached only through
the Celery task in `tasks.py`.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.images.models import Mask, MaskSource
from webapp.projects.models import Project
from webapp.training.access import training_admin_require
from webapp.training.config import WEIGHTS_UNAVAILABLE, training_config_for_project
from webapp.training.files import run_dir_relative
from webapp.training.models import RunStatus, RunTrigger, TrainingRun
from webapp.training.selectors import human_labeled_images, resumable_run_for_project, training_run_active
from webapp.training.tasks import training_run_execute
from webapp.training.versions import training_run_ended

log = logging.getLogger(__name__)

RUN_ALREADY_ACTIVE = "Run {run_id} is already {status} for this project: wait for it to finish or cancel it."
NO_LABELED_IMAGES = "This project has no labeled images yet: paint at least one mask before training."
BAD_CONFIG = "The project's training config is invalid: {error}"
# A file error would name a path on the server: users read of the config, the log names the file.
WEIGHTS_FILE_MISSING = (
    "The training config names a starting-weights file that this server does not have: "
    "an administrator finds which one in the server log."
)
RUN_NOT_ACTIVE = "Run {run_id} has already finished ({status})."
WORKER_LOST = (
    "The worker stopped sending heartbeats (last one {seconds:.0f} s ago): it was killed or lost. "
    "Start a new run to resume from the last checkpoint."
)

# Model-defining config keys: a previous round's weights fit only if these are unchanged.
_MODEL_KEYS = (
    "method",
    "teachers",
    "num_classes",
    "su_encoder",
    "su_kwargs",
    "ru_encoder",
    "ru_kwargs",
    "student_encoder",
    "student_kwargs",
)


class TrainingRefused(Exception):
    """The request cannot be done; the message is for the user. Nothing was changed."""


def stale_after_seconds() -> int:
    """A running run whose heartbeat is older than this is taken as dead."""
    return settings.SEGLOOP_RUN_STALE_SECONDS


def _validated_config(project: Project) -> tuple[dict, list[dict]]:
    """The project's next round config and where each network's weights would come from.

    Refused when the config is invalid or asks for weights that cannot be had here (hub
    weights while downloads are off, a missing file): better now than on the worker.
    """
    # Inside: both import torch, which web processes load only when an admin starts a round.
    from ml.models.weights import WeightsUnavailableError
    from ml.train import TrainConfig, weight_sources

    try:
        config = training_config_for_project(project=project)
        train_config = TrainConfig.from_dict(config)
    except (TypeError, ValueError) as error:
        raise TrainingRefused(BAD_CONFIG.format(error=error)) from error
    try:
        sources = weight_sources(train_config)
    except WeightsUnavailableError as error:  # ml's words: roles, encoders, packages; no paths
        raise TrainingRefused(WEIGHTS_UNAVAILABLE.format(error=error)) from error
    except FileNotFoundError as error:
        log.warning("Project %s: training refused, %s", project.pk, error)
        raise TrainingRefused(WEIGHTS_FILE_MISSING) from error
    return config, [source.to_dict() for source in sources.values()]


def _warm_start_source(*, project: Project, config: dict) -> TrainingRun | None:
    """Where the new round starts from: a dead run to resume, else the last good round (if its
    models have the same shape), else nothing (from scratch)."""
    dead = resumable_run_for_project(project=project)
    if dead is not None and all(dead.config.get(k) == config.get(k) for k in _MODEL_KEYS):
        return dead
    last_good = TrainingRun.objects.filter(project=project, status=RunStatus.SUCCEEDED).first()
    if last_good is not None and all(last_good.config.get(k) == config.get(k) for k in _MODEL_KEYS):
        return last_good
    return None


def training_run_start(*, project: Project, user, trigger: str) -> TrainingRun:
    """Queue a training round for the project's GPU workers (enqueued after commit).

    Only admins may start one (automatic starts pass user=None with trigger "auto").
    Raises PermissionDenied, or TrainingRefused with a message for the user.
    """
    if not (trigger == RunTrigger.AUTO and user is None):
        training_admin_require(project=project, user=user)
    training_runs_reap(project=project)  # a dead run must not block the new one
    active = training_run_active(project=project)
    if active is not None:
        raise TrainingRefused(RUN_ALREADY_ACTIVE.format(run_id=active.pk, status=active.get_status_display().lower()))
    if not human_labeled_images(project=project).exists():
        raise TrainingRefused(NO_LABELED_IMAGES)
    config, sources = _validated_config(project)
    task_id = str(uuid.uuid4())
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project,
                trigger=trigger,
                triggered_by=user,
                config=config,
                celery_task_id=task_id,
                resumed_from=_warm_start_source(project=project, config=config),
                weight_sources=sources,
            )
            run.checkpoint_dir = run_dir_relative(project_id=project.pk, run_id=run.pk)
            run.save(update_fields=["checkpoint_dir"])
    except IntegrityError as err:  # one_active_run_per_project: a concurrent start won
        active = training_run_active(project=project)
        raise TrainingRefused(
            RUN_ALREADY_ACTIVE.format(run_id=active.pk if active else "?", status="queued or running")
        ) from err
    transaction.on_commit(lambda: training_run_execute.apply_async(args=[run.pk], task_id=task_id))
    return run


def training_run_cancel(*, run: TrainingRun, user) -> TrainingRun:
    """A queued run is cancelled at once; a running one is asked to stop (the worker saves its
    latest checkpoints and ends the run `cancelled` within a step or two)."""
    training_admin_require(project=run.project, user=user)
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now
    ):
        training_run_ended(run_id=run.pk)
    elif not TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True):
        run.refresh_from_db()
        raise TrainingRefused(RUN_NOT_ACTIVE.format(run_id=run.pk, status=run.get_status_display().lower()))
    run.refresh_from_db()
    return run


def training_runs_reap(*, project: Project | None = None) -> int:
    """Mark running runs whose worker stopped sending heartbeats as failed. Returns how many.

    Cheap enough to call on every page load and progress poll (one indexed query), so no
    Celery beat is needed.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=stale_after_seconds())
    runs = TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale)
    if project is not None:
        runs = runs.filter(project=project)
    reaped = 0
    for run in runs.only("pk", "heartbeat_at"):
        assert run.heartbeat_at is not None, "filtered on heartbeat_at__lt"
        error = WORKER_LOST.format(seconds=(now - run.heartbeat_at).total_seconds())
        # Conditional: a heartbeat that lands meanwhile keeps the run alive.
        if TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, heartbeat_at__lt=stale).update(
            status=RunStatus.FAILED, error=error, finished_at=now
        ):
            reaped += 1
            training_run_ended(run_id=run.pk)
    return reaped


def human_masks_since_last_run(*, project: Project) -> int:
    last = TrainingRun.objects.filter(project=project).order_by("-created_at").first()
    masks = Mask.objects.filter(image__project=project, source=MaskSource.HUMAN, is_conflict=False)
    if last is not None:
        masks = masks.filter(created_at__gt=last.created_at)
    return masks.count()


def training_maybe_auto_start(*, project: Project) -> TrainingRun | None:
    """Start a round when the project asks for one after N new human masks; else do nothing."""
    project.refresh_from_db(fields=["auto_retrain_after"])
    threshold = project.auto_retrain_after
    if not threshold or training_run_active(project=project) is not None:
        return None
    if human_masks_since_last_run(project=project) < threshold:
        return None
    try:
        return training_run_start(project=project, user=None, trigger=RunTrigger.AUTO)
    except TrainingRefused:  # e.g. a concurrent start won; the next mask tries again
        return None
