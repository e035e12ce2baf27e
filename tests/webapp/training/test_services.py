"""Training services without a worker: who may start, what a round trains on, cancel, reaper,
model versions, auto-retrain, progress bookkeeping."""

from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from tests.webapp.training.shapes import TINY_CONFIG, add_shapes_images
from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.images.services import MaskScores, mask_save
from webapp.training import selectors, services
from webapp.training.access import ADMIN_ONLY
from webapp.training.config import WEIGHTS_UNAVAILABLE
from webapp.training.files import models_root, pseudo_training_copy_path
from webapp.training.models import ModelVersion, RunStatus, RunTrigger, TrainingRun
from webapp.training.selectors import training_set_for_project
from webapp.training.services import (
    NO_LABELED_IMAGES,
    RUN_ALREADY_ACTIVE,
    WEIGHTS_FILE_MISSING,
    TrainingRefused,
    training_maybe_auto_start,
    training_run_cancel,
    training_run_start,
    training_runs_reap,
)
from webapp.training.versions import model_version_activate
from webapp.training.worker import (
    RUN_FAILED,
    RunProgress,
    StopFlag,
    _record_round,
    training_run_claim,
    training_run_execute,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled_project(project, owner):
    project.training_config = dict(TINY_CONFIG)
    project.save(update_fields=["training_config"])
    add_shapes_images(project, owner, labeled=3, unlabeled=2)
    return project


def test_training_set_holds_out_one_labeled_image_when_none_is_flagged(labeled_project):
    Image.objects.filter(project=labeled_project).update(is_validation=False)
    training_set = training_set_for_project(project=labeled_project)
    assert training_set.counts == {"labeled": 2, "pseudo_labeled": 0, "unlabeled": 2, "validation": 1}
    assert training_set.validation_fallback
    assert not set(training_set.validation) & set(training_set.labeled)
    assert selectors.training_set_counts(project=labeled_project) == training_set.counts


def test_training_set_uses_flagged_images_as_validation_and_pseudo_training_copies(labeled_project, owner):
    labeled = list(selectors.human_labeled_images(project=labeled_project))
    Image.objects.filter(project=labeled_project).update(is_validation=False)
    Image.objects.filter(pk__in=[labeled[0].pk, labeled[1].pk]).update(is_validation=True)
    unlabeled = Image.objects.filter(project=labeled_project, status=ImageStatus.UNLABELED).first()
    mask = mask_save(
        image=unlabeled,
        base_version=0,
        array=np.zeros((64, 64), np.uint8),
        source=MaskSource.PSEUDO,
        status=ImageStatus.PSEUDO_LABELED,
        scores=MaskScores(0.99, 1.0, 0.0),
    )
    copy = pseudo_training_copy_path(project_id=labeled_project.pk, image_id=unlabeled.pk, mask_version=mask.version)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(b"png")

    training_set = training_set_for_project(project=labeled_project)

    assert training_set.counts == {"labeled": 1, "pseudo_labeled": 1, "unlabeled": 1, "validation": 2}
    assert training_set.pseudo_labeled == [(unlabeled.file.path, str(copy))]
    assert not training_set.validation_fallback


@pytest.mark.parametrize("who", ["member", "reviewer", "outsider"])
def test_only_project_admins_can_start_training(labeled_project, request, who):
    with pytest.raises(PermissionDenied, match=ADMIN_ONLY):
        training_run_start(project=labeled_project, user=request.getfixturevalue(who), trigger=RunTrigger.PAGE)
    assert not TrainingRun.objects.exists()


def test_project_without_human_masks_cannot_be_trained(project, owner, make_image):
    make_image(64, 64)
    with pytest.raises(TrainingRefused) as refused:
        training_run_start(project=project, user=owner, trigger=RunTrigger.PAGE)
    assert str(refused.value) == NO_LABELED_IMAGES
    assert not TrainingRun.objects.exists()


def test_admin_start_queues_a_run_with_the_merged_config(labeled_project, owner):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    assert run.status == RunStatus.QUEUED and run.triggered_by == owner
    assert run.config["teacher_steps"] == 6 and run.config["num_classes"] == 3 and run.config["ignore_index"] == 3
    assert run.config["class_names"] == ["background", "road", "car"]
    assert run.checkpoint_dir == f"project_{labeled_project.pk}/run_{run.pk}"
    assert run.celery_task_id


def test_second_trigger_while_a_run_is_active_is_refused(labeled_project, owner):
    first = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    with pytest.raises(TrainingRefused) as refused:
        training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.ADMIN)
    assert str(refused.value) == RUN_ALREADY_ACTIVE.format(run_id=first.pk, status="queued")
    assert TrainingRun.objects.count() == 1


def test_database_constraint_refusal_becomes_the_same_clear_message(labeled_project, owner, monkeypatch):
    training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    # Simulate the race: the check sees no active run, the partial unique constraint catches it.
    real = services.training_run_active
    calls = []

    def blind_first_check(*, project):
        calls.append(project)
        return None if len(calls) == 1 else real(project=project)

    monkeypatch.setattr(services, "training_run_active", blind_first_check)
    with pytest.raises(TrainingRefused, match="already queued or running"):
        training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    assert TrainingRun.objects.count() == 1


def test_invalid_project_config_is_refused_with_its_reason(labeled_project, owner):
    labeled_project.training_config = {"no_such_knob": 1}
    labeled_project.save(update_fields=["training_config"])
    with pytest.raises(TrainingRefused, match="no_such_knob"):
        training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)


def test_cancel_of_a_queued_run_is_immediate_and_a_running_one_is_flagged(labeled_project, owner, member):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    with pytest.raises(PermissionDenied):
        training_run_cancel(run=run, user=member)
    assert training_run_cancel(run=run, user=owner).status == RunStatus.CANCELLED

    second = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    claimed = training_run_claim(run_id=second.pk)
    assert claimed.status == RunStatus.RUNNING and training_run_claim(run_id=second.pk) is None
    stop = StopFlag(second.pk)
    assert stop() is False
    assert training_run_cancel(run=second, user=owner).cancel_requested
    stop.last_read = 0  # skip the throttle
    assert stop() is True
    with pytest.raises(TrainingRefused, match="already finished"):
        training_run_cancel(run=run, user=owner)


def test_reaper_fails_running_runs_with_old_heartbeats_only(labeled_project, owner, settings):
    settings.SEGLOOP_RUN_STALE_SECONDS = 30
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    training_run_claim(run_id=run.pk)
    assert training_runs_reap(project=labeled_project) == 0
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    assert training_runs_reap() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped sending heartbeats" in run.error and run.finished_at


def test_new_run_resumes_from_a_dead_run_with_checkpoints(labeled_project, owner):
    dead = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.filter(pk=dead.pk).update(status=RunStatus.FAILED)
    checkpoint = models_root() / dead.checkpoint_dir / "su_latest.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(b"x")
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    assert run.resumed_from_id == dead.pk


def _version(project, number, active=False):
    return ModelVersion.objects.create(project=project, number=number, student_path=f"v{number}.pt", is_active=active)


def test_activate_rolls_back_to_an_older_version_for_admins_only(project, owner, member):
    old, new = _version(project, 1), _version(project, 2, active=True)
    with pytest.raises(PermissionDenied):
        model_version_activate(version=old, user=member)
    model_version_activate(version=old, user=owner)
    assert list(ModelVersion.objects.filter(is_active=True)) == [old]
    new.refresh_from_db()
    assert not new.is_active


def test_auto_retrain_starts_after_n_new_human_masks(
    labeled_project, owner, make_image, django_capture_on_commit_callbacks
):
    labeled_project.auto_retrain_after = 2
    labeled_project.save(update_fields=["auto_retrain_after"])
    training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.update(status=RunStatus.SUCCEEDED)
    first, second = make_image(64, 64), make_image(64, 64)
    with django_capture_on_commit_callbacks(execute=True):
        mask_save(image=first, base_version=0, array=np.zeros((64, 64), np.uint8), author=owner)
    assert training_maybe_auto_start(project=labeled_project) is None
    assert TrainingRun.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        mask_save(image=second, base_version=0, array=np.ones((64, 64), np.uint8), author=owner)
    auto = TrainingRun.objects.first()
    assert TrainingRun.objects.count() == 2 and auto.trigger == RunTrigger.AUTO and auto.triggered_by is None


def _event(stage, step, total=10, miou=None):
    return SimpleNamespace(
        stage=stage,
        step=step,
        total_steps=total,
        losses={"loss": 1.0},
        mask_ratio=0.5,
        lr=0.001,
        val_miou=miou,
        val_mious={"su": miou} if miou else None,
        elapsed=1.0,
    )


def test_progress_is_throttled_but_evaluations_and_stage_changes_are_written(labeled_project, owner):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    progress = RunProgress(run)
    progress(_event("teachers", 4))  # first event of a stage: written, resumed above step 1
    progress(_event("teachers", 5))  # within the throttle: not written
    run.refresh_from_db()
    assert (run.stage, run.step) == ("teachers", 4) and run.timings["first_step"] == {"teachers": 4}
    progress(_event("teachers", 6, miou=0.25))  # an evaluation is always written
    run.refresh_from_db()
    assert run.step == 6 and run.val_history[-1]["miou"] == 0.25 and run.learning_rate == 0.001


def test_start_records_where_each_network_gets_its_weights(labeled_project, owner):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    sources = {s["role"]: s for s in run.weight_sources}
    assert list(sources) == ["su", "ru", "student"]
    # Offline (HF_HUB_OFFLINE=1), the default networks get ImageNet weights from their packages.
    assert {s["source"] for s in sources.values()} == {"package"} and sources["ru"]["warning"] is None


def test_config_asking_for_hub_weights_offline_is_refused_at_start_with_the_reason(labeled_project, owner, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    labeled_project.training_config = {**TINY_CONFIG, "weights": {"su": "hub"}}
    labeled_project.save(update_fields=["training_config"])
    with pytest.raises(TrainingRefused) as refused:
        training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    message = str(refused.value)
    assert message.startswith(WEIGHTS_UNAVAILABLE.format(error="")) and "su asks for hub weights" in message
    assert not TrainingRun.objects.exists()


def test_missing_weights_file_is_refused_at_start_without_its_path(labeled_project, owner, tmp_path, caplog):
    gone = tmp_path / "gone.pth"
    labeled_project.training_config = {**TINY_CONFIG, "weights": {"student": str(gone)}}
    labeled_project.save(update_fields=["training_config"])
    with pytest.raises(TrainingRefused) as refused:
        training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    assert str(refused.value) == WEIGHTS_FILE_MISSING and str(tmp_path) not in str(refused.value)
    assert str(gone) in caplog.text  # the server log names the file


@pytest.mark.django_db(transaction=True)  # the worker closes its connection when done
def test_a_failed_run_shows_a_short_message_and_logs_the_traceback(labeled_project, owner, monkeypatch, caplog):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    where = str(models_root() / "nowhere" / "latest.pt")

    def broken(*args, **kwargs):
        raise OSError(f"[Errno 28] No space left on device: {where!r}")

    monkeypatch.setattr("ml.train.train_round", broken)
    training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == RUN_FAILED.format(run_id=run.pk, kind="OSError")
    assert "/" not in run.error and "Traceback" not in run.error
    assert where in caplog.text and "Traceback" in caplog.text


@pytest.mark.django_db(transaction=True)  # the worker closes its connection when done
def test_worker_fails_a_run_whose_weights_cannot_be_had_with_the_reason(labeled_project, owner, monkeypatch):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.filter(pk=run.pk).update(config={**run.config, "weights": {"ru": "hub"}})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # e.g. the worker runs offline, the web process did not
    training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "ru asks for hub weights" in run.error
    assert run.step == 0 and not ModelVersion.objects.exists()


def test_progress_keeps_the_plan_and_notes_at_once(labeled_project, owner):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    progress = RunProgress(run)
    progress(_event("teachers", 1))
    plan = {"budget_s": 900.0, "teacher_steps": 240, "student_steps": 520}
    progress(SimpleNamespace(**vars(_event("teachers", 2)), plan=plan, note=None))  # within the throttle
    run.refresh_from_db()
    assert run.step == 2 and run.timings["plan"] == plan
    progress(SimpleNamespace(**vars(_event("student", 1)), plan={**plan, "student_steps": 500}, note="Teachers lost."))
    run.refresh_from_db()
    assert run.timings["plan"]["student_steps"] == 500 and run.timings["notes"] == ["Teachers lost."]


def test_round_outcome_records_the_plan_the_gate_and_the_actual_weights(labeled_project, owner):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.filter(pk=run.pk).update(timings={"first_step": {"teachers": 1}})
    fallback = {
        "role": "su",
        "encoder": "tf_efficientnet_lite0",
        "source": "random",
        "detail": "download failed",
        "warning": "su starts from random weights.",
    }
    gate = {"used": False, "teachers": {"su": 0.1}, "student": 0.3, "reason": "The teachers lost."}
    result = SimpleNamespace(weights={"su": fallback}, plan={"budget_s": 60.0}, gate=gate)
    _record_round(run.pk, result, seconds=12.345)
    run.refresh_from_db()
    assert run.weight_sources == [fallback]
    assert run.timings == {"first_step": {"teachers": 1}, "training_s": 12.35, "plan": {"budget_s": 60.0}, "gate": gate}


def test_round_outcome_of_an_older_ml_keeps_the_resolved_weights(labeled_project, owner):
    run = training_run_start(project=labeled_project, user=owner, trigger=RunTrigger.PAGE)
    _record_round(run.pk, SimpleNamespace(), seconds=1.0)  # no weights, plan or gate attributes
    resolved = run.weight_sources
    run.refresh_from_db()
    assert run.weight_sources == resolved and run.timings == {"training_s": 1.0}
