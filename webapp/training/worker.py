"""The worker side of a run: claim it, train through ml.train.train_round, record the model
version, pseudo-label. Every state change is written to the TrainingRun row; the worker holds
nothing the page needs.
"""

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from webapp.training.config import WEIGHTS_UNAVAILABLE
from webapp.training.files import checkpoint_dir_local, checkpoints_upload, models_root
from webapp.training.models import ModelVersion, RunStatus, TrainingRun
from webapp.training.pseudo import images_to_pseudo_label, pseudo_label_project
from webapp.training.selectors import pseudo_seconds_per_image_measured, training_set_for_project
from webapp.training.versions import model_version_create, training_run_ended

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.5  # throttle of progress writes (evaluations are always written)
STOP_POLL_INTERVAL_S = 1.0  # throttle of the cancel-flag read
CANCELLED_DURING_TRAINING = "Cancelled by an admin during training; the latest checkpoints were kept."
NO_TEACHERS = "This training method has no teachers, so no pseudo-labels were made."
RUN_FAILED = "Run {run_id} failed on the worker ({kind}); administrators find the details in the worker's log."


def heartbeat_seconds() -> int:
    return settings.SEGLOOP_RUN_HEARTBEAT_SECONDS


class Heartbeat(threading.Thread):
    """Touches heartbeat_at while the run is running, independent of training progress (a
    long evaluation or a big image must not look like a dead worker)."""

    def __init__(self, run_id: int):
        super().__init__(daemon=True, name=f"heartbeat-run-{run_id}")
        self.run_id = run_id
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(heartbeat_seconds()):
                TrainingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


class RunProgress:
    """ml ProgressEvent -> the run row, at most every PROGRESS_INTERVAL_S plus every evaluation."""

    def __init__(self, run: TrainingRun):
        self.run_id = run.pk
        self.val_history = list(run.val_history or [])
        self.timings = dict(run.timings or {})
        self.last_write = 0.0
        self.stage = None

    def __call__(self, event) -> None:
        now = time.monotonic()
        # The round's time plan (sent when made or re-planned) and notes such as the teacher
        # gate's reason (sent once): kept in timings and written at once, never throttled away.
        plan = getattr(event, "plan", None)
        note = getattr(event, "note", None)
        if plan is not None:
            self.timings["plan"] = plan
        if note:
            self.timings.setdefault("notes", []).append(note)
        stage_changed = event.stage != self.stage
        if stage_changed:
            self.stage = event.stage
            # The stage's first step seen: above 1 when the stage resumed from a checkpoint.
            self.timings["stage_started_at"] = timezone.now().isoformat()
            self.timings["stage_first_step"] = event.step - 1
            self.timings.setdefault("first_step", {})[event.stage] = event.step
        evaluated = event.val_miou is not None
        if evaluated:
            self.val_history.append(
                {
                    "stage": event.stage,
                    "step": event.step,
                    "miou": event.val_miou,
                    "mious": event.val_mious or {},
                    "elapsed": round(event.elapsed, 1),
                }
            )
        last_step = event.step == event.total_steps
        told = plan is not None or bool(note)
        if not (stage_changed or evaluated or last_step or told or now - self.last_write >= PROGRESS_INTERVAL_S):
            return
        self.last_write = now
        TrainingRun.objects.filter(pk=self.run_id).update(
            stage=event.stage,
            step=event.step,
            total_steps=event.total_steps,
            losses={k: round(float(v), 5) for k, v in event.losses.items()},
            learning_rate=event.lr,
            mask_ratio=event.mask_ratio,
            val_history=self.val_history,
            timings=self.timings,
            heartbeat_at=timezone.now(),
        )


class StopFlag:
    """should_stop for ml: true once an admin cancelled, or the run is no longer ours (the
    reaper marked it failed), read from the row at most every STOP_POLL_INTERVAL_S."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.last_read = 0.0
        self.value = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.value and now - self.last_read >= STOP_POLL_INTERVAL_S:
            self.last_read = now
            row = TrainingRun.objects.filter(pk=self.run_id).values("cancel_requested", "status").first()
            self.value = row is None or row["cancel_requested"] or row["status"] != RunStatus.RUNNING
        return self.value


def training_run_claim(*, run_id: int) -> TrainingRun | None:
    """Take a queued run for this worker; None if another worker (or a cancel) got there first."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker_host=socket.gethostname(),
        phase="preparing",
    )
    return TrainingRun.objects.select_related("project").get(pk=run_id) if claimed else None


def _finish(run_id: int, status: str, **fields) -> None:
    """Final state, only if the run is still ours (not reaped meanwhile); webhooks hear of it."""
    if TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    ):
        training_run_ended(run_id=run_id)


def training_run_execute(*, run_id: int) -> None:
    """The whole round on this worker: training, model version, pseudo-labelling."""
    run = training_run_claim(run_id=run_id)
    if run is None:
        log.info("Run %s is not queued any more; nothing to do.", run_id)
        return
    heartbeat = Heartbeat(run.pk)
    heartbeat.start()
    try:
        _execute(run)
    except Exception as error:  # the row must say what went wrong; the worker lives on
        # The traceback (server paths, code) goes to the log; users read a short message.
        log.exception("Run %s failed", run.pk)
        _finish(run.pk, RunStatus.FAILED, error=run_failed_message(run_id=run.pk, error=error))
    finally:
        heartbeat.stop()
        close_old_connections()


def _execute(run: TrainingRun) -> None:
    # Inside: ml.train imports torch, and this module is imported by web processes too (they
    # enqueue the task that calls it); only workers run it.
    from ml.train import TrainConfig, train_round, weight_sources

    # Where each network's weights come from, as this worker sees it (shown while it trains).
    # A config asking for weights that cannot be had here fails the run with ml's message.
    sources = weight_sources(TrainConfig.from_dict(run.config))
    run.weight_sources = [source.to_dict() for source in sources.values()]
    out_dir = models_root() / run.checkpoint_dir
    resume_from = _prepare_resume(run, out_dir)
    training_set = training_set_for_project(project=run.project)
    counts = training_set.counts
    TrainingRun.objects.filter(pk=run.pk).update(
        phase="training",
        num_labeled=counts["labeled"],
        num_pseudo=counts["pseudo_labeled"],
        num_unlabeled=counts["unlabeled"],
        num_validation=counts["validation"],
        weight_sources=run.weight_sources,
    )
    started = time.monotonic()
    stop = StopFlag(run.pk)
    result = train_round(
        run.config,
        labeled=training_set.labeled,
        unlabeled=training_set.unlabeled,
        val=training_set.validation,
        pseudo_labeled=training_set.pseudo_labeled,
        out_dir=out_dir,
        resume_from=resume_from,
        progress=RunProgress(run),
        should_stop=stop,
        pseudo_label_images=len(images_to_pseudo_label(project=run.project)),
        pseudo_seconds_per_image=pseudo_seconds_per_image_measured(project=run.project),
    )
    _record_round(run.pk, result, seconds=time.monotonic() - started)
    if result.cancelled:
        _finish(run.pk, RunStatus.CANCELLED, error=CANCELLED_DURING_TRAINING)
        return
    # Object storage: the round's files go up under their final keys first, then the row that
    # points at them is written, so an upload that dies leaves the served version as it was.
    checkpoints_upload(paths=sorted(path for path in out_dir.rglob("*") if path.is_file()))
    version = _record_model_version(run, result)
    teachers_skipped = bool((getattr(result, "gate", None) or {}).get("skipped"))
    if not (version.su_teacher_path and version.ru_teacher_path) and not teachers_skipped:
        _finish(run.pk, RunStatus.SUCCEEDED, error=NO_TEACHERS)
        return
    started = time.monotonic()
    _add_timing(run.pk, "pseudo_started_at", timezone.now().isoformat())
    TrainingRun.objects.filter(pk=run.pk).update(phase="pseudo-labelling")
    finished = pseudo_label_project(run=run, version=version, should_stop=stop)
    _add_timing(run.pk, "pseudo_s", time.monotonic() - started)
    _finish(
        run.pk,
        RunStatus.SUCCEEDED if finished else RunStatus.CANCELLED,
        phase="done" if finished else "pseudo-labelling",
    )


def _prepare_resume(run: TrainingRun, out_dir: Path) -> Path | None:
    """Resuming a dead run: copy its checkpoints into this run's folder, so train_round
    continues mid-stage from its latest step. Warm start: read the last good round's weights."""
    source = run.resumed_from
    if source is None or not source.checkpoint_dir:
        return None
    if source.status == RunStatus.SUCCEEDED:
        return checkpoint_dir_local(source.checkpoint_dir)
    source_dir = models_root() / source.checkpoint_dir  # a dead run's files: on this worker only
    from ml.checkpoints import copy_checkpoint  # inside: imports torch, loaded only on workers

    out_dir.mkdir(parents=True, exist_ok=True)
    # Atomic copies: if this worker dies mid-copy, the run resumed from this one finds whole files.
    for checkpoint in source_dir.glob("*.pt"):
        copy_checkpoint(checkpoint, out_dir / checkpoint.name)
    # Stages the dead run never reached start from what it started from.
    grand = source.resumed_from
    if grand is None or grand.status != RunStatus.SUCCEEDED:
        return None
    return checkpoint_dir_local(grand.checkpoint_dir)


def _add_timing(run_id: int, key: str, value) -> None:
    run = TrainingRun.objects.only("timings").get(pk=run_id)
    timings = dict(run.timings or {})
    timings[key] = round(value, 2) if isinstance(value, float) else value
    TrainingRun.objects.filter(pk=run_id).update(timings=timings)


def _record_round(run_id: int, result, *, seconds: float) -> None:
    """What train_round reports beyond checkpoints: its duration, the final time plan, the
    teacher gate's decision and the weights each network was actually built from (a hub
    download that failed fell back). Read with getattr: older ml versions lack them."""
    run = TrainingRun.objects.only("timings").get(pk=run_id)
    timings = dict(run.timings or {})
    timings["training_s"] = round(seconds, 2)
    for key in ("plan", "gate"):
        value = getattr(result, key, None)
        if value is not None:
            timings[key] = value
    fields: dict[str, Any] = {"timings": timings}
    weights = getattr(result, "weights", None)
    if weights:
        fields["weight_sources"] = list(weights.values())
    TrainingRun.objects.filter(pk=run_id).update(**fields)


def _record_model_version(run: TrainingRun, result) -> ModelVersion:
    root = models_root()
    paths = {
        role: str(Path(files["best"]).relative_to(root))
        for role, files in result.checkpoints.items()
        if "best" in files
    }
    student_metrics = result.metrics.get("student") or {}
    return model_version_create(
        run=run,
        paths=paths,
        miou=result.best_miou.get("student"),
        per_class_iou=student_metrics.get("per_class_iou") or {},
    )


def run_failed_message(*, run_id: int, error: Exception) -> str:
    """What users read of a failed run: ml's reason where it speaks only of the config (weights
    that cannot be had), else the kind of error and where administrators find the rest."""
    from ml.models.weights import WeightsUnavailableError  # inside: imports torch, loaded only on workers

    if isinstance(error, WeightsUnavailableError):
        return WEIGHTS_UNAVAILABLE.format(error=error)
    return RUN_FAILED.format(run_id=run_id, kind=type(error).__name__)
