"""Reads for training: what a round trains on, runs, model versions, progress figures."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, TypeVar

from django.db.models import F, QuerySet
from django.utils import timezone

from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.projects.models import Project
from webapp.review.models import ReviewItem
from webapp.training.files import local_path, models_root, pseudo_training_copy_local
from webapp.training.models import ACTIVE_STATUSES, ModelVersion, RunStatus, TrainingRun


@dataclass
class TrainingSet:
    """File paths for one round (what ml.train.train_round takes) and the image ids behind them."""

    labeled: list[tuple[str, str]] = field(default_factory=list)
    pseudo_labeled: list[tuple[str, str]] = field(default_factory=list)
    # image paths; a partly labeled image is an (image, mask) pair: its ignored pixels
    unlabeled: list[str | tuple[str, str]] = field(default_factory=list)
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


# A human mask that leaves at least this share of its pixels at the ignore index on purpose
# (a partial finish of a review by region) also trains as unlabeled data: its labeled pixels
# are labeled data, the rest unlabeled.
PARTIAL_LABEL_SHARE = 0.2


def partially_labeled_image_ids(*, project: Project) -> set[int]:
    """Images whose current mask is a partial region review's with at least
    PARTIAL_LABEL_SHARE of its pixels unlabeled (webapp.review records the share)."""
    return set(
        ReviewItem.objects.filter(
            project=project,
            unlabeled_share__gte=PARTIAL_LABEL_SHARE,
            region_mask_id=F("image__current_mask_id"),
        ).values_list("image_id", flat=True)
    )


class _LabeledRow(Protocol):
    """An image or a values_list row: what the validation split needs."""

    @property
    def pk(self) -> int: ...

    @property
    def is_validation(self) -> bool: ...


_Row = TypeVar("_Row", bound=_LabeledRow)


class _IdRow(NamedTuple):
    pk: int
    is_validation: bool


def _held_out(labeled: list[_Row]) -> tuple[list[_Row], str]:
    """The validation images among the labeled ones (ordered by checksum; each has pk and
    is_validation), and why they are not the flagged ones, if so."""
    flagged = [image for image in labeled if image.is_validation]
    if flagged:
        return flagged, ""
    if len(labeled) >= 2:
        return [labeled[0]], "No labeled image is flagged for validation: one is held out."
    return labeled[:], "Only one labeled image: it is used for training and validation." if labeled else ""


def _training(labeled: list[_Row], held_out: list[_Row]) -> list[_Row]:
    held_ids = {image.pk for image in held_out}
    return [image for image in labeled if image.pk not in held_ids or len(labeled) == 1]


def training_set_for_project(*, project: Project) -> TrainingSet:
    """Human masks are labeled data; images flagged is_validation among them are the fixed
    validation set. If none is flagged, the labeled image with the smallest checksum is held out
    (stable across rounds); with a single labeled image it serves as both (the only choice that
    still trains; the page says so). Accepted pseudo-labels are pseudo-labeled data (their
    training copy, with unconfident pixels ignored); every other image is unlabeled. A partly
    labeled training image (partially_labeled_image_ids) is also unlabeled data, as an
    (image, mask) pair: ml counts only its ignored pixels as unlabeled.
    """
    result = TrainingSet()
    labeled = list(human_labeled_images(project=project).order_by("checksum"))
    held_out, result.validation_fallback = _held_out(labeled)
    training = _training(labeled, held_out)
    result.validation = [_pair(image) for image in held_out]
    result.labeled = [_pair(image) for image in training]
    partial = partially_labeled_image_ids(project=project)

    pseudo = Image.objects.filter(
        project=project, status=ImageStatus.PSEUDO_LABELED, current_mask__source=MaskSource.PSEUDO
    ).select_related("current_mask")
    for image in pseudo.order_by("id"):
        mask = image.current_mask
        assert mask is not None, "filtered on current_mask__source"
        copy = pseudo_training_copy_local(project_id=project.pk, image_id=image.pk, mask_version=mask.version)
        mask_path = str(copy) if copy is not None else local_path(mask.file)
        result.pseudo_labeled.append((local_path(image.pixels_file), mask_path))

    others = Image.objects.filter(project=project).exclude(pk__in=[i.pk for i in labeled])
    others = others.exclude(status=ImageStatus.PSEUDO_LABELED, current_mask__source=MaskSource.PSEUDO)
    unlabeled: list[tuple[int, str | tuple[str, str]]] = [(image.pk, local_path(image.pixels_file)) for image in others]
    unlabeled += [(image.pk, _pair(image)) for image in training if image.pk in partial]
    result.unlabeled = [entry for _, entry in sorted(unlabeled, key=lambda pair: pair[0])]
    return result


def training_set_counts(*, project: Project) -> dict[str, int]:
    """What the next round would train on, by count only (no file access: cheap for pages)."""
    rows = human_labeled_images(project=project).select_related(None).order_by("checksum")
    labeled = [_IdRow(pk, is_validation) for pk, is_validation in rows.values_list("pk", "is_validation")]
    held_out, _ = _held_out(labeled)
    training = _training(labeled, held_out)
    partial = partially_labeled_image_ids(project=project)
    pseudo = Image.objects.filter(
        project=project, status=ImageStatus.PSEUDO_LABELED, current_mask__source=MaskSource.PSEUDO
    ).count()
    total = Image.objects.filter(project=project).count()
    return {
        "labeled": len(training),
        "validation": len(held_out),
        "pseudo_labeled": pseudo,
        "unlabeled": total - len(labeled) - pseudo + sum(1 for image in training if image.pk in partial),
    }


def _pair(image: Image) -> tuple[str, str]:
    """An image with a current mask (a human-labeled one) as (image path, mask path)."""
    assert image.current_mask is not None, "human_labeled_images filters on current_mask__source"
    return local_path(image.pixels_file), local_path(image.current_mask.file)


def training_run_active(*, project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).first()


def training_runs_for_project(*, project: Project, limit: int = 20) -> list[TrainingRun]:
    return list(TrainingRun.objects.filter(project=project).select_related("triggered_by", "model_version")[:limit])


def model_versions_for_project(*, project: Project) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(project=project).select_related("run"))


def model_version_active(*, project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, is_active=True).first()


def resumable_run_for_project(*, project: Project) -> TrainingRun | None:
    """The project's latest run if it failed (worker lost, crash) after saving checkpoints."""
    last = TrainingRun.objects.filter(project=project).exclude(status__in=ACTIVE_STATUSES).first()
    if last is None or last.status != RunStatus.FAILED or not last.checkpoint_dir:
        return None
    directory = models_root() / last.checkpoint_dir
    return last if directory.is_dir() and any(directory.rglob("*latest*")) else None


def pseudo_seconds_per_image_measured(*, project: Project) -> float | None:
    """Seconds per image that the project's last finished pseudo-labelling took (for the next
    round's time plan); None before any."""
    run = (
        TrainingRun.objects.filter(project=project, status=RunStatus.SUCCEEDED, pseudo_total__gt=0)
        .order_by("-finished_at")
        .only("timings", "pseudo_total")
        .first()
    )
    if run is None:
        return None
    seconds = (run.timings or {}).get("pseudo_s")
    return float(seconds) / run.pseudo_total if seconds else None


def run_seconds_left(run: TrainingRun) -> float | None:
    """Time left in the round; None until measurable.

    With a time plan (timings["plan"], rounds with max_minutes): the current stage's remaining
    steps at the rate measured in this run (the plan's step time until a step is measured),
    then the student stage's planned steps at its planned step time and the validation passes
    while stage 1 runs, then the time reserved for pseudo-labelling; while pseudo-labelling,
    the images left at the rate measured so far.

    Without a plan: the training phase only, from this stage's step rate (taken from the steps
    done in this run: a resumed run starts above 0), also applied to the stages still to come.
    """
    if run.status != RunStatus.RUNNING:
        return None
    timings = run.timings or {}
    plan = timings.get("plan")
    if plan:
        return _seconds_left_planned(run, timings, plan)
    if run.phase != "training":
        return None
    step_s = _measured_step_seconds(run, timings)
    if step_s is None:
        return None
    remaining = max(run.total_steps - run.step, 0)
    if run.stage == "teachers":
        remaining += int((run.config or {}).get("student_steps", 0) or 0)
    return remaining * step_s


def _measured_step_seconds(run: TrainingRun, timings: dict) -> float | None:
    """Seconds per step of the current stage, from the steps this run has done in it."""
    started = timings.get("stage_started_at")
    first_step = timings.get("stage_first_step")
    if started is None or first_step is None or run.step <= first_step:
        return None
    elapsed = (timezone.now() - datetime.fromisoformat(started)).total_seconds()
    return max(elapsed, 1e-6) / (run.step - first_step)


MEASURED_STEPS = 3  # steps of a stage before its own rate replaces the plan's step time


def _seconds_left_planned(run: TrainingRun, timings: dict, plan: dict) -> float | None:
    pseudo_s = float(plan.get("pseudo_s") or 0.0)
    if run.phase == "pseudo-labelling":
        return _pseudo_seconds_left(run, timings, pseudo_s)
    if run.phase != "training":
        return None
    stage = "teacher" if run.stage == "teachers" else "student"
    # A stage's first steps carry its start-up (building batches, an evaluation): the plan's
    # measured step time is the better guess until a few steps are done.
    steps_measured = run.step - timings.get("stage_first_step", 0)
    measured = _measured_step_seconds(run, timings) if steps_measured >= MEASURED_STEPS else None
    step_s = measured or float(plan.get(f"{stage}_step_s") or 0.0)
    if not step_s:
        return None
    left = max(run.total_steps - run.step, 0) * step_s
    if run.stage == "teachers":
        left += int(plan.get("student_steps") or 0) * float(plan.get("student_step_s") or 0.0)
        left += float(plan.get("eval_s") or 0.0)
    return left + pseudo_s


def _pseudo_seconds_left(run: TrainingRun, timings: dict, pseudo_s: float) -> float | None:
    """Images left at the rate measured since pseudo-labelling began; the plan's reserve
    (less the time already spent) until the first batch is done."""
    started = timings.get("pseudo_started_at")
    elapsed = (timezone.now() - datetime.fromisoformat(started)).total_seconds() if started else 0.0
    if run.pseudo_done and run.pseudo_total and started:
        return max(run.pseudo_total - run.pseudo_done, 0) * elapsed / run.pseudo_done
    return max(pseudo_s - elapsed, 0.0) if pseudo_s else None


# What the page says about a run's plan, its teacher gate and its starting weights.
PLAN_FITS = "Planned to fit {minutes} min: {parts}."
PLAN_TEACHERS = "{steps} teacher steps at {step_s} s"
PLAN_STUDENT = "{steps} student steps at {step_s} s"
PLAN_PSEUDO = "{minutes:.1f} min reserved for pseudo-labelling {images} images"
GATE_USED = "Teachers beat the supervised student ({teachers} vs {student}): pseudo-labels guide stage 2."
PSEUDO_BY_STUDENT = "The unlabeled images are pseudo-labelled by the student as well, for the same reason."
RANDOM_WEIGHTS = "{role} ({encoder}) starts from random weights: expect much weaker results from few labels."


@dataclass
class RunFacts:
    """The run page's account of a run: starting weights, time plan, teacher gate, notes."""

    weight_sources: list[dict] = field(default_factory=list)  # [{role, encoder, source, detail, warning}]
    random_warnings: list[str] = field(default_factory=list)  # one per network starting from random weights
    plan: str = ""
    plan_note: str = ""
    gate: str = ""
    gate_used: bool | None = None
    notes: list[str] = field(default_factory=list)


def run_facts(run: TrainingRun) -> RunFacts:
    timings = run.timings or {}
    sources = [s for s in (run.weight_sources or []) if isinstance(s, dict)]
    plan = timings.get("plan") or {}
    gate = timings.get("gate") or {}
    facts = RunFacts(
        weight_sources=sources,
        random_warnings=[
            s.get("warning") or RANDOM_WEIGHTS.format(role=s.get("role"), encoder=s.get("encoder"))
            for s in sources
            if s.get("source") == "random"
        ],
        plan=plan_summary(plan, pseudo_images=run.pseudo_total or run.num_unlabeled) if plan else "",
        plan_note=plan.get("note") or "",
        gate=gate_summary(gate) if gate else "",
        gate_used=gate.get("used") if gate else None,
    )
    shown = {gate.get("reason"), facts.plan_note}
    facts.notes = [note for note in timings.get("notes") or [] if note and note not in shown]
    return facts


def plan_summary(plan: dict, *, pseudo_images: int = 0) -> str:
    """ "Planned to fit 15 min: 240 teacher steps at 1.9 s, 520 student steps at 0.8 s, 3.1 min
    reserved for pseudo-labelling 322 images." (parts a round does not have are left out)."""
    parts = []
    if plan.get("teacher_steps"):
        parts.append(
            PLAN_TEACHERS.format(steps=plan["teacher_steps"], step_s=_step_seconds(plan.get("teacher_step_s")))
        )
    if plan.get("student_steps"):
        parts.append(PLAN_STUDENT.format(steps=plan["student_steps"], step_s=_step_seconds(plan.get("student_step_s"))))
    if plan.get("pseudo_s"):
        images = plan.get("pseudo_images") or pseudo_images
        parts.append(PLAN_PSEUDO.format(minutes=float(plan["pseudo_s"]) / 60, images=images))
    minutes = float(plan.get("budget_s") or 0.0) / 60
    return PLAN_FITS.format(minutes=f"{minutes:.1f}".removesuffix(".0"), parts=", ".join(parts))


def gate_summary(gate: dict) -> str:
    """The teacher gate's decision in words: when the teachers won, their scores and the
    student's in percent (best teacher first); otherwise ml's reason (why stage 2 trained
    supervised, or why the gate could not compare)."""
    teachers = {role: miou for role, miou in (gate.get("teachers") or {}).items() if miou is not None}
    student = gate.get("student")
    if gate.get("used") and teachers and student is not None:
        ranked = sorted(teachers.items(), key=lambda item: item[1], reverse=True)
        words = ", ".join(f"{role.upper()} {miou * 100:.1f}" for role, miou in ranked)
        return GATE_USED.format(teachers=words, student=f"{student * 100:.1f}")
    if gate.get("used") is False and not gate.get("skipped"):  # webapp.training.pseudo labels with the student
        return f"{gate.get('reason') or ''} {PSEUDO_BY_STUDENT}".strip()
    return gate.get("reason") or ""  # ml's words: why stage 2 trained supervised, or why unchecked


def _step_seconds(value) -> str:
    seconds = float(value or 0.0)
    return f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2g}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return str(timedelta(seconds=int(round(seconds))))
