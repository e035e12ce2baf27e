"""The loop end to end on a REAL Celery worker process and real Redis (no eager mode):
train, record the model, pseudo-label, review, retrain; cancel; a worker killed mid-run."""

import statistics
import time

import numpy as np
import pytest

from ml.checkpoints import load_checkpoint
from ml.vectors import vector_from_bytes
from tests.webapp.training.shapes import TINY_CONFIG, add_shapes_images
from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.services import mask_save
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.services import review_item_accept, review_item_next
from webapp.training.files import models_root
from webapp.training.models import ModelVersion, RunStatus, RunTrigger, TrainingRun
from webapp.training.selectors import run_facts, training_set_for_project
from webapp.training.services import training_run_cancel, training_run_start, training_runs_reap

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Workers inherit this: on a shared 2-core machine one thread is several times faster."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def wait_for(predicate, timeout: float, worker=None, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    log = worker.output()[-4000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def run_ends(run, worker, timeout=120):
    def ended():
        run.refresh_from_db()
        return run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)

    wait_for(ended, timeout, worker, f"run {run.pk} to end")
    return run


def configure(project, **changes):
    project.training_config = {**TINY_CONFIG, **changes}
    project.save(update_fields=["training_config"])


def test_admin_retrain_trains_pseudo_labels_and_feeds_review_into_the_next_round(
    project, owner, reviewer, celery_worker
):
    add_shapes_images(project, owner, labeled=4, unlabeled=6)
    # No gate: the teachers label in both rounds, so round 2's scores repeat round 1's (a gate
    # lost in round 1 would hand the labelling to the student; tests/ml cover the gate).
    configure(project, teacher_gate=False)
    project.review_threshold = 0.0  # round 1: every pseudo-label is accepted (no score is < 0)
    project.audit_share = 0.0  # the routing by score is checked exactly; audits in test_review_queue_*
    project.save(update_fields=["review_threshold", "audit_share"])

    first = run_ends(training_run_start(project=project, user=owner, trigger=RunTrigger.ADMIN), celery_worker)

    assert first.status == RunStatus.SUCCEEDED, first.error
    assert (first.num_labeled + first.num_validation, first.num_unlabeled) == (4, 6)
    assert first.stage == "student" and first.step == first.total_steps == 4
    assert [p["stage"] for p in first.val_history].count("teachers") == 2  # evaluated at steps 3 and 6
    assert first.pseudo_done == first.pseudo_total == 6
    # The default networks start from the ImageNet weights their packages ship (offline).
    assert [(s["role"], s["source"]) for s in first.weight_sources] == [
        ("su", "package"),
        ("ru", "package"),
        ("student", "package"),
    ]
    version = ModelVersion.objects.get(project=project)
    assert version.number == 1 and version.is_active and version.run == first
    assert set(version.per_class_iou) == {"background", "road", "car"}
    assert (models_root() / version.student_path).is_file()
    assert version.student_path == f"project_{project.pk}/run_{first.pk}/student_best.pt"
    pseudo = Mask.objects.filter(image__project=project, source=MaskSource.PSEUDO, model_version=version)
    assert pseudo.count() == 6 and all(m.mean_confidence is not None and m.disagreement is not None for m in pseudo)
    scores = sorted(m.mean_confidence for m in pseudo)

    # Round 2: same teachers (0 steps, warm start from round 1) so the scores repeat exactly;
    # the threshold at their median sends the lower half to review.
    configure(project, teacher_steps=0, student_steps=0, teacher_gate=False)
    project.review_threshold = statistics.median(scores)
    project.save(update_fields=["review_threshold"])
    second = run_ends(training_run_start(project=project, user=owner, trigger=RunTrigger.PAGE), celery_worker)
    project.refresh_from_db()

    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.resumed_from_id == first.pk and second.num_pseudo == 6
    assert ModelVersion.objects.get(is_active=True).number == 2
    queue = list(ReviewItem.objects.filter(project=project, status=ReviewStatus.PENDING).order_by("score", "id"))
    below = [s for s in scores if s < project.review_threshold]
    assert [round(item.score, 6) for item in queue] == [round(s, 6) for s in below] and len(queue) >= 1
    assert all(
        item.image.status == ImageStatus.IN_REVIEW and item.confidence_map and item.disagreement_map for item in queue
    )
    accepted_pseudo = Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED).count()
    assert accepted_pseudo == 6 - len(queue)
    # The pseudo-labelling pass stored each item's teacher features and uncertainty, and the
    # queue was ranked in the project's (diverse) order at the end of the round.
    assert all(len(vector_from_bytes(item.features)) > 0 and 0.0 <= item.class_uncertainty <= 1.0 for item in queue)
    assert sorted(item.queue_rank for item in queue) == list(range(len(queue)))
    assert project.threshold_calibration["status"] == "too_few"

    # A reviewer accepts the first item of the queue and corrects the next in the editor.
    item = review_item_next(project=project, user=reviewer)
    assert item.queue_rank == 0
    review_item_accept(item=item, user=reviewer, seconds=4.0)
    corrected_item = review_item_next(project=project, user=reviewer)
    if corrected_item is not None:
        image = corrected_item.image
        mask_save(
            image=image,
            base_version=image.mask_version,
            array=np.ones((64, 64), np.uint8),
            author=reviewer,
            editing_seconds=9.0,
        )
        corrected_item = wait_for(
            lambda: ReviewItem.objects.filter(pk=corrected_item.pk, status=ReviewStatus.CORRECTED).first(),
            5,
            what="the item to be marked corrected",
        )
        assert corrected_item.reviewed_by == reviewer and corrected_item.seconds_spent == 9.0
    reviewed = 2 if corrected_item is not None else 1

    counts = training_set_for_project(project=project).counts
    assert counts["labeled"] + counts["validation"] == 4 + reviewed
    assert counts["pseudo_labeled"] == accepted_pseudo
    assert counts["unlabeled"] == len(queue) - reviewed


def test_a_round_too_short_for_the_teachers_trains_and_labels_with_the_student(project, owner, celery_worker):
    """min_teacher_steps: a budget that leaves the teachers too few steps skips them; the
    round still ends with a served student that pseudo-labels every unlabeled image."""
    add_shapes_images(project, owner, labeled=4, unlabeled=3)
    configure(project, teacher_steps=100000, student_steps=100000, max_minutes=0.25, min_teacher_steps=10**9)
    project.review_threshold = 0.0
    project.save(update_fields=["review_threshold"])

    run = run_ends(training_run_start(project=project, user=owner, trigger=RunTrigger.ADMIN), celery_worker)

    assert run.status == RunStatus.SUCCEEDED and not run.error, run.error
    gate = run.timings["gate"]
    assert gate["skipped"] is True and gate["used"] is False and "min_teacher_steps" in gate["reason"]
    assert [s["role"] for s in run.weight_sources] == ["student"]
    assert run_facts(run).gate == gate["reason"]  # the page gives ml's reason as it is
    version = ModelVersion.objects.get(project=project)
    assert version.is_active and not version.su_teacher_path and not version.ru_teacher_path
    pseudo = Mask.objects.filter(image__project=project, source=MaskSource.PSEUDO, model_version=version)
    assert pseudo.count() == 3 and run.pseudo_done == run.pseudo_total == 3
    assert not (models_root() / run.checkpoint_dir / "su_latest.pt").exists()


def test_cancel_ends_a_running_run_cancelled_soon(project, owner, celery_worker):
    add_shapes_images(project, owner, labeled=2, unlabeled=1)
    configure(project, teacher_steps=2000, eval_every=1000)
    run = training_run_start(project=project, user=owner, trigger=RunTrigger.PAGE)
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, step__gte=2).exists(), 90, celery_worker, "training steps")

    training_run_cancel(run=run, user=owner)
    asked = time.monotonic()
    run = run_ends(run, celery_worker, timeout=30)

    assert run.status == RunStatus.CANCELLED and time.monotonic() - asked < 15
    assert run.step < 2000 and not ModelVersion.objects.filter(project=project).exists()
    assert (models_root() / run.checkpoint_dir / "su_latest.pt").is_file()  # kept for a resume


def test_killed_worker_is_reaped_and_the_next_run_resumes_from_its_checkpoint(
    project, owner, start_worker, settings, monkeypatch
):
    monkeypatch.setenv("SEGLOOP_RUN_HEARTBEAT_SECONDS", "1")
    settings.SEGLOOP_RUN_STALE_SECONDS = 4
    add_shapes_images(project, owner, labeled=2, unlabeled=1)
    configure(project, teacher_steps=2000, eval_every=1000, save_every=2)
    worker = start_worker()
    dead = training_run_start(project=project, user=owner, trigger=RunTrigger.PAGE)
    latest = models_root() / dead.checkpoint_dir / "su_latest.pt"
    wait_for(
        lambda: TrainingRun.objects.filter(pk=dead.pk, step__gte=5).exists() and latest.is_file(),
        90,
        worker,
        "a saved checkpoint",
    )

    worker.kill()
    saved_step = load_checkpoint(latest)["step"]
    assert training_runs_reap(project=project) == 0  # the heartbeat is still fresh
    time.sleep(settings.SEGLOOP_RUN_STALE_SECONDS + 1)
    assert training_runs_reap(project=project) == 1
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "stopped sending heartbeats" in dead.error

    configure(project, teacher_steps=saved_step + 3, student_steps=2, eval_every=1000, save_every=2)
    worker = start_worker()
    resumed = run_ends(training_run_start(project=project, user=owner, trigger=RunTrigger.PAGE), worker)

    assert resumed.status == RunStatus.SUCCEEDED, resumed.error
    assert resumed.resumed_from_id == dead.pk
    assert resumed.timings["first_step"]["teachers"] == saved_step + 1  # continued, not restarted
