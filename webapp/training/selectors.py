"""Reads for training: what a round trains on, runs, model versions, progress figures."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.projects.models import Project
from webapp.training.files import local_path, pseudo_training_copy_path
from webapp.training.models import ACTIVE_STATUSES, ModelVersion, RunStatus, TrainingRun


@dataclass
class TrainingSet:
    """File paths for one round (what ml.train.train_round takes) and the image ids behind them."""

    labeled: list[tuple[str, str]] = field(default_factory=list)
    pseudo_labeled: list[tuple[str, str]] = field(default_factory=list)
    unlabeled: list[str] = field(default_factory=list)
    validation: list[tuple[str, str]] = field(default_factory=list)
    validation_fallback: str = ""  # why the validation set is not the flagged images, if so

    @property
    def counts(self) -> dict[str, int]:
        return {
            "labeled": len(self.labeled),
            "pseudo_labeled": len(self.pseudo_labeled),
            "unlabeled": len(self.unlabeled),
            "validation": len(self.validation),
        }


def human_labeled_images(*, project: Project) -> QuerySet[Image]:
    return Image.objects.filter(
        project=project, status=ImageStatus.LABELED, current_mask__source=MaskSource.HUMAN
    ).select_related("current_mask")


def training_set_for_project(*, project: Project) -> TrainingSet:
    """Human masks are labeled data; images flagged is_validation among them are the fixed
    validation set. If none is flagged, the labeled image with the smallest checksum is held out
    (stable across rounds); with a single labeled image it serves as both (the only choice that
    still trains; the page says so). Accepted pseudo-labels are pseudo-labeled data (their
    training copy, with unconfident pixels ignored); every other image is unlabeled.
    """
    result = TrainingSet()
    labeled = list(human_labeled_images(project=project).order_by("checksum"))
    held_out = [image for image in labeled if image.is_validation]
    if not held_out and len(labeled) >= 2:
        held_out = [labeled[0]]
        result.validation_fallback = "No labeled image is flagged for validation: one is held out."
    elif not held_out and labeled:
        held_out = labeled[:]
        result.validation_fallback = "Only one labeled image: it is used for training and validation."
    held_ids = {image.pk for image in held_out}
    result.validation = [_pair(image) for image in held_out]
    result.labeled = [_pair(image) for image in labeled if image.pk not in held_ids or len(labeled) == 1]

    pseudo = Image.objects.filter(
        project=project, status=ImageStatus.PSEUDO_LABELED, current_mask__source=MaskSource.PSEUDO
    ).select_related("current_mask")
    for image in pseudo.order_by("id"):
        copy = pseudo_training_copy_path(
            project_id=project.pk, image_id=image.pk, mask_version=image.current_mask.version
        )
        mask_path = str(copy) if copy.exists() else local_path(image.current_mask.file)
        result.pseudo_labeled.append((local_path(image.file), mask_path))

    others = Image.objects.filter(project=project).exclude(pk__in=[i.pk for i in labeled])
    others = others.exclude(status=ImageStatus.PSEUDO_LABELED, current_mask__source=MaskSource.PSEUDO)
    result.unlabeled = [local_path(image.file) for image in others.order_by("id")]
    return result


def training_set_counts(*, project: Project) -> dict[str, int]:
    """What the next round would train on, by count only (no file access: cheap for pages)."""
    labeled = list(human_labeled_images(project=project).values_list("is_validation", flat=True))
    flagged = sum(labeled)
    validation = flagged or min(len(labeled), 1)
    pseudo = Image.objects.filter(
        project=project, status=ImageStatus.PSEUDO_LABELED, current_mask__source=MaskSource.PSEUDO
    ).count()
    total = Image.objects.filter(project=project).count()
    return {
        "labeled": len(labeled) - validation if len(labeled) > 1 else len(labeled),
        "validation": validation,
        "pseudo_labeled": pseudo,
        "unlabeled": total - len(labeled) - pseudo,
    }


def _pair(image: Image) -> tuple[str, str]:
    return local_path(image.file), local_path(image.current_mask.file)


def training_run_active(*, project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).first()


def training_runs_for_project(*, project: Project, limit: int = 20) -> list[TrainingRun]:
    return list(
        TrainingRun.objects.filter(project=project).select_related("triggered_by", "model_version")[:limit]
    )


def model_versions_for_project(*, project: Project) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(project=project).select_related("run"))


def model_version_active(*, project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, is_active=True).first()


def resumable_run_for_project(*, project: Project) -> TrainingRun | None:
    """The project's latest run if it failed (worker lost, crash) after saving checkpoints."""
    last = TrainingRun.objects.filter(project=project).exclude(status__in=ACTIVE_STATUSES).first()
    if last is None or last.status != RunStatus.FAILED or not last.checkpoint_dir:
        return None
    from webapp.training.files import models_root

    directory = models_root() / last.checkpoint_dir
    return last if directory.is_dir() and any(directory.rglob("*latest*")) else None


def run_seconds_left(run: TrainingRun) -> float | None:
    """Time left in the training phase from this stage's step rate; None until measurable.

    The rate is taken from the steps done in this run (a resumed run starts above 0) and
    also applied to the stages still to come.
    """
    if run.status != RunStatus.RUNNING or run.phase != "training":
        return None
    timings = run.timings or {}
    started = timings.get("stage_started_at")
    first_step = timings.get("stage_first_step")
    if started is None or first_step is None or run.step <= first_step:
        return None
    elapsed = (timezone.now() - datetime.fromisoformat(started)).total_seconds()
    rate = (run.step - first_step) / max(elapsed, 1e-6)
    remaining = max(run.total_steps - run.step, 0)
    if run.stage == "teachers":
        remaining += int((run.config or {}).get("student_steps", 0) or 0)
    return remaining / rate


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return str(timedelta(seconds=int(round(seconds))))
