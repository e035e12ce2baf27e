"""The three events are emitted where they happen, after commit: a round ends (worker finish,
cancel while queued, reaper), a model version is activated, a decision empties the review queue."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.webapp.training.shapes import TINY_CONFIG, add_shapes_images
from webapp.review.services import review_item_accept, review_item_reject
from webapp.training.models import ModelVersion, RunStatus, RunTrigger, TrainingRun
from webapp.training.services import (
    training_run_cancel,
    training_run_start,
    training_runs_reap,
)
from webapp.training.versions import model_version_activate
from webapp.training.worker import training_run_claim, training_run_execute
from webapp.webhooks.models import Delivery, WebhookEvent
from webapp.webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


def emitted(callbacks) -> list[tuple[str, dict]]:
    """Run what was queued for after commit (the emit itself queues its tasks for a commit that
    never comes in this test's transaction) and return the deliveries' (event, data)."""
    for callback in callbacks:
        callback()
    return [(d.event, d.payload["data"]) for d in Delivery.objects.order_by("id")]


def test_cancelling_a_queued_round_emits_round_ended(project, owner, hook, django_capture_on_commit_callbacks):
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.ADMIN)
    with django_capture_on_commit_callbacks() as callbacks:
        training_run_cancel(run=run, user=owner)
    ((event, data),) = emitted(callbacks)
    assert event == WebhookEvent.ROUND_ENDED
    assert data["run"] == run.pk and data["status"] == "cancelled" and data["trigger"] == "admin"
    assert data["model_version"] is None and data["finished_at"]


@pytest.mark.django_db(transaction=True)  # the runner closes its connection when done, as on a worker
def test_a_failed_round_on_the_worker_emits_round_ended_with_the_reason(project, owner, hook, monkeypatch):
    project.training_config = dict(TINY_CONFIG)
    project.save(update_fields=["training_config"])
    add_shapes_images(project, owner, labeled=2, unlabeled=0)
    run = training_run_start(project=project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.filter(pk=run.pk).update(config={**run.config, "weights": {"ru": "hub"}})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    training_run_execute(run_id=run.pk)  # autocommit: emitted at once
    ((event, data),) = emitted([])
    assert data["run"] == run.pk and data["status"] == "failed"
    assert "ru asks for hub weights" in data["error"] and "\n" not in data["error"]  # no traceback


def test_reaping_a_dead_round_emits_round_ended(project, owner, hook, settings, django_capture_on_commit_callbacks):
    settings.SEGLOOP_RUN_STALE_SECONDS = 30
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.AUTO)
    training_run_claim(run_id=run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    with django_capture_on_commit_callbacks() as callbacks:
        assert training_runs_reap(project=project) == 1
    ((event, data),) = emitted(callbacks)
    assert (event, data["run"], data["status"]) == (WebhookEvent.ROUND_ENDED, run.pk, RunStatus.FAILED)


def test_activating_a_model_version_emits_model_activated(project, owner, hook, django_capture_on_commit_callbacks):
    version = ModelVersion.objects.create(project=project, number=3, student_path="v3.pt", miou=0.5)
    with django_capture_on_commit_callbacks() as callbacks:
        model_version_activate(version=version, user=owner)
    assert emitted(callbacks) == [
        (WebhookEvent.MODEL_ACTIVATED, {"model_version": 3, "id": version.pk, "run": None, "miou": 0.5})
    ]


def test_the_decision_that_empties_the_review_queue_emits_queue_emptied(
    project, reviewer, hook, review_items, django_capture_on_commit_callbacks
):
    first, last = review_items
    with django_capture_on_commit_callbacks() as callbacks:
        review_item_reject(item=first, user=reviewer)
    assert emitted(callbacks) == []  # one item still pending
    with django_capture_on_commit_callbacks() as callbacks:
        review_item_accept(item=last, user=reviewer)
    emitted_events = emitted(callbacks)
    assert emitted_events == [
        (WebhookEvent.REVIEW_QUEUE_EMPTIED, {"item": last.pk, "image": last.image_id, "status": "accepted"})
    ]


def test_a_rolled_back_change_emits_nothing(project, owner, hook, django_capture_on_commit_callbacks):
    version = ModelVersion.objects.create(project=project, number=1, student_path="v1.pt")
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                model_version_activate(version=version, user=owner)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert emitted(callbacks) == []


def test_only_active_webhooks_that_asked_for_the_event_get_it(project, owner, django_capture_on_commit_callbacks):
    url = "https://93.184.216.34/"
    wanted = webhook_create(project=project, user=owner, url=url + "a", events=[WebhookEvent.MODEL_ACTIVATED])
    webhook_create(project=project, user=owner, url=url + "b", events=[WebhookEvent.ROUND_ENDED])
    off = webhook_create(project=project, user=owner, url=url + "c", events=[WebhookEvent.MODEL_ACTIVATED])
    off.active = False
    off.save(update_fields=["active"])
    version = ModelVersion.objects.create(project=project, number=1, student_path="v1.pt")
    with django_capture_on_commit_callbacks() as callbacks:
        model_version_activate(version=version, user=owner)
    emitted(callbacks)
    assert [d.webhook_id for d in Delivery.objects.all()] == [wanted.pk]
