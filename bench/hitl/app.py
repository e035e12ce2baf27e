"""The simulation's steps through the app: the project and its images, seed labels, a training
round run by the real worker, the served student scored on val.

Django and webapp imports sit inside the functions: they can only be imported once
AppEnvironment.start() has pointed the settings at the state folder and called django.setup().
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from harness import AppEnvironment  # bench/ is on sys.path when a script runs
from PIL import Image as PILImage

from .config import ADMIN, AUDIT, POLL_S, REVIEWER, VOID, DataSource, device_for
from .data import ground_truth, resized_png, train_files
from .state import SimulationState

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from webapp.projects.models import Project
    from webapp.review.models import ReviewItem


def setup_project(
    source: DataSource, train_config: dict, *, with_masks: bool, validation_share: float = 0.0
) -> SimulationState:
    """Users, the CamVid project and every train image, through the app's services.

    validation_share: the project's share of images flagged for validation at import (the
    HITL curves use 0: they evaluate on CamVid val and the app holds out one labeled image)."""
    from django.contrib.auth import get_user_model

    from webapp.images.services import image_import
    from webapp.projects.management.commands.create_project import CAMVID_CLASSES
    from webapp.projects.services import membership_set, project_create

    users = get_user_model().objects
    admin = users.create_user(username=ADMIN, password="hitl-admin-pw")
    reviewer = users.create_user(username=REVIEWER, password="hitl-reviewer-pw")
    project = project_create(
        owner=admin, name="CamVid HITL simulation", classes=CAMVID_CLASSES, review_threshold=source.review_threshold
    )
    membership_set(project=project, user=reviewer, annotator=True, reviewer=True)
    # By default no train image is held out: the benchmark evaluates on CamVid val itself; the
    # app then holds out one labeled image for its own in-run score.
    project.validation_share = validation_share
    project.training_config = train_config
    project.save(update_fields=["validation_share", "training_config"])

    gt_paths = {}
    files = train_files(Path(source.data), source.train_limit)
    started = time.monotonic()
    for n, path in enumerate(files, 1):
        mask_path = Path(source.data) / "trainannot" / path.name
        data = resized_png(path, train_config.get("long_side"))
        mask_data = None
        if with_masks:
            with PILImage.open(io.BytesIO(data)) as im:
                size = im.size
            buffer = io.BytesIO()
            PILImage.fromarray(ground_truth(str(mask_path), *size), mode="L").save(buffer, format="PNG")
            mask_data = buffer.getvalue()
        image = image_import(project=project, name=path.name, data=data, uploaded_by=admin, mask_data=mask_data)
        gt_paths[str(image.pk)] = str(mask_path)
        if n % 50 == 0:
            print(f"imported {n}/{len(files)} images ({time.monotonic() - started:.0f} s)", flush=True)
    return SimulationState(project_id=project.pk, gt=gt_paths, train_config=train_config)


def set_queue_strategy(state: SimulationState, strategy: str, budget: int) -> None:
    """The project's queue settings for a strategy (the random strategy does not use the queue
    but keeps the project consistent); the app ranks the pending items by the new order."""
    from webapp.review.queue import review_queue_reorder

    project, _, _ = actors(state)
    if (project.queue_strategy, project.review_batch_size) == (strategy, budget):
        return
    project.queue_strategy = strategy
    project.review_batch_size = budget
    project.save(update_fields=["queue_strategy", "review_batch_size"])
    review_queue_reorder(project=project)


def set_target_error(state: SimulationState, target: float | None) -> None:
    """The project's target pixel error for auto-accept (None leaves the app's default)."""
    if target is None:
        return
    project, _, _ = actors(state)
    project.target_pixel_error = target
    project.save(update_fields=["target_pixel_error"])


def seed_labels(state: SimulationState, n: int, seed: int) -> None:
    from webapp.images.models import Image
    from webapp.images.services import mask_save

    project, admin, _ = actors(state)
    ids = sorted(int(i) for i in state.gt)
    chosen = np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False)
    for image in Image.objects.filter(pk__in=[int(i) for i in chosen]).order_by("id"):
        gt = ground_truth(state.gt[str(image.pk)], image.width, image.height)
        mask_save(image=image, base_version=image.mask_version, array=gt, author=admin)
    state.seeded = sorted(int(i) for i in chosen)


def actors(state: SimulationState) -> tuple[Project, User, User]:
    """The project, its admin and its reviewer."""
    from django.contrib.auth import get_user_model

    from webapp.projects.models import Project

    users = get_user_model().objects
    return Project.objects.get(pk=state.project_id), users.get(username=ADMIN), users.get(username=REVIEWER)


def close_orphan_runs(project: Project) -> None:
    """A run left queued/running by a killed earlier call: its worker and broker are gone, so
    mark it failed; the next start resumes from its checkpoints (the app's resume path)."""
    from django.utils import timezone

    from webapp.training.models import ACTIVE_STATUSES, TrainingRun

    n = TrainingRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).update(
        status="failed",
        error="The HITL simulation was restarted while this run was active.",
        finished_at=timezone.now(),
    )
    if n:
        print(f"marked {n} orphaned run(s) failed; the next run resumes from their checkpoints", flush=True)


def train_and_wait(
    env: AppEnvironment,
    state: SimulationState,
    timeout_s: float,
    on_poll: Callable[[object, float], None] | None = None,
) -> dict:
    """Start a round as the project admin and poll its row until it ends; ``on_poll(row,
    elapsed_s)`` sees the row at every poll (bench/app_round.py samples the page's estimate)."""
    from webapp.training.models import ACTIVE_STATUSES, RunStatus, RunTrigger, TrainingRun
    from webapp.training.services import training_run_start

    project, admin, _ = actors(state)
    close_orphan_runs(project)
    env.start_worker()
    run = training_run_start(project=project, user=admin, trigger=RunTrigger.COMMAND)
    print(f"run {run.pk} queued", flush=True)
    started = time.monotonic()
    last = ""
    while True:
        row = TrainingRun.objects.get(pk=run.pk)
        if on_poll is not None:
            on_poll(row, time.monotonic() - started)
        line = f"run {run.pk}: {row.status} {row.phase} {row.stage} {row.step}/{row.total_steps}"
        if row.phase == "pseudo-labelling":
            line += f" pseudo {row.pseudo_done}/{row.pseudo_total}"
        if line != last:
            print(f"[{time.monotonic() - started:6.0f} s] {line}", flush=True)
            last = line
        if row.status not in ACTIVE_STATUSES:
            break
        if not env.worker_alive():
            raise RuntimeError(f"The worker died during run {run.pk}; see {env.worker_log}")
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"Run {run.pk} did not finish in {timeout_s:.0f} s; see {env.worker_log}")
        time.sleep(min(POLL_S, 0.5 + (time.monotonic() - started) / 10))
    if row.status != RunStatus.SUCCEEDED:
        raise RuntimeError(f"Run {run.pk} ended {row.status}: {row.error}")
    return {
        "run_id": row.pk,
        "run_wall_s": round(time.monotonic() - started, 1),
        "timings": row.timings,
        "num_labeled": row.num_labeled,
        "num_pseudo": row.num_pseudo,
        "num_unlabeled": row.num_unlabeled,
        "num_validation": row.num_validation,
        "pseudo_total": row.pseudo_total,
        "weight_sources": row.weight_sources,
    }


def evaluate_active(state: SimulationState, source: DataSource, train_config: dict) -> dict:
    """The served student (active ModelVersion.student_path) on CamVid val, void ignored."""
    import torch  # here, as ml below: --table and --help need no torch

    from ml.checkpoints import load_model
    from ml.data import SegmentationDataset, pairs_from_folders, val_loader
    from ml.data.transforms import EvalTransform
    from ml.metrics import evaluate
    from webapp.training.files import models_root
    from webapp.training.selectors import model_version_active

    project, _, _ = actors(state)
    version = model_version_active(project=project)
    device = "cuda" if device_for(source.profile) == "auto" and torch.cuda.is_available() else "cpu"
    model, _ = load_model(models_root() / version.student_path, map_location=device)
    pairs = pairs_from_folders(Path(source.data) / "val", Path(source.data) / "valannot")
    if source.val_limit:
        pairs = pairs[: source.val_limit]
    dataset = SegmentationDataset(
        pairs,
        num_classes=11,
        ignore_index=VOID,
        transform=EvalTransform(VOID),
        long_side=train_config.get("long_side"),
        cache=False,
    )
    names = [c.name for c in project.label_classes.all() if not c.is_ignore]
    metrics = evaluate(model, val_loader(dataset), 11, VOID, device, class_names=names)
    return {
        "model_version": version.number,
        "val_miou": metrics["miou"],
        "val_pixel_accuracy": metrics["pixel_accuracy"],
        "per_class_iou": metrics["per_class_iou"],
        "val_images": len(pairs),
    }


def changed_pixels(before: np.ndarray, gt: np.ndarray) -> int:
    return int(((before != gt) & (gt != VOID)).sum())


def pick_kind(item: ReviewItem) -> str:
    return AUDIT if item.is_audit else item.pick_kind


def image_size(image_id: int | str) -> tuple[int, int]:
    from webapp.images.models import Image

    image = Image.objects.only("width", "height").get(pk=int(image_id))
    return image.width, image.height
