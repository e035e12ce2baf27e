"""An int8 check whose worker died: shown as failed when read (nothing written on a GET),
re-queued when an admin chooses int8 again; a working check keeps it fresh."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from webapp.serving import checks
from webapp.serving.models import CheckStatus, Int8Check, Precision, ProjectServing
from webapp.serving.selectors import INT8_INTERRUPTED, INT8_STALE_AFTER, serving_state
from webapp.serving.services import INT8_CHECKING, serving_precision_set

pytestmark = pytest.mark.django_db

SILENT = INT8_STALE_AFTER + timedelta(minutes=1)


def int8_chosen_with_check(project, version, status, heartbeat_at) -> Int8Check:
    ProjectServing.objects.create(project=project, precision=Precision.INT8)
    check = Int8Check.objects.create(version=version, status=status)
    Int8Check.objects.filter(pk=check.pk).update(heartbeat_at=heartbeat_at)
    return check


@pytest.mark.parametrize("status", [CheckStatus.QUEUED, CheckStatus.RUNNING])
def test_a_silent_check_reads_as_interrupted_and_the_get_writes_nothing(client, owner, project, active_model, status):
    check = int8_chosen_with_check(project, active_model, status, timezone.now() - SILENT)
    state = serving_state(project=project)
    assert state.check.status == CheckStatus.FAILED and state.check.message == INT8_INTERRUPTED
    assert not state.checking and not state.busy and state.serves == Precision.FP32
    client.force_login(owner)
    section = client.get(reverse("serving:section", args=[project.pk])).content.decode()
    assert escape(INT8_INTERRUPTED) in section and "every 2s" not in section
    check.refresh_from_db()
    assert check.status == status and check.message == ""


def test_a_check_never_heard_from_counts_from_its_creation(project, active_model):
    check = int8_chosen_with_check(project, active_model, CheckStatus.QUEUED, None)
    Int8Check.objects.filter(pk=check.pk).update(created_at=timezone.now() - SILENT)
    assert serving_state(project=project).check.status == CheckStatus.FAILED


def test_choosing_int8_again_requeues_a_silent_check(project, active_model, django_capture_on_commit_callbacks):
    check = int8_chosen_with_check(project, active_model, CheckStatus.RUNNING, timezone.now() - SILENT)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notice = serving_precision_set(project=project, precision=Precision.INT8)
    assert notice == INT8_CHECKING.format(number=1) and len(callbacks) == 1
    check.refresh_from_db()
    assert check.status == CheckStatus.QUEUED and check.heartbeat_at > timezone.now() - timedelta(minutes=1)
    assert serving_state(project=project).checking


def test_a_check_that_reports_progress_is_left_running(project, active_model, django_capture_on_commit_callbacks):
    check = int8_chosen_with_check(project, active_model, CheckStatus.RUNNING, timezone.now() - timedelta(minutes=2))
    assert serving_state(project=project).checking
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        serving_precision_set(project=project, precision=Precision.INT8)
    check.refresh_from_db()
    assert check.status == CheckStatus.RUNNING and not callbacks


def test_a_working_check_beats_its_heart(project, active_model, monkeypatch):
    check = int8_chosen_with_check(project, active_model, CheckStatus.RUNNING, timezone.now() - SILENT)
    monkeypatch.setattr(checks, "HEARTBEAT_EVERY_SECONDS", 0.0)
    checks.Heartbeat(check.pk)()
    check.refresh_from_db()
    assert check.heartbeat_at > timezone.now() - timedelta(minutes=1)


def test_claiming_a_check_sets_its_heartbeat(project, active_model):
    check = int8_chosen_with_check(project, active_model, CheckStatus.QUEUED, timezone.now() - SILENT)
    Int8Check.objects.filter(pk=check.pk).update(created_at=timezone.now() - SILENT)
    checks.int8_check_execute(check_id=check.pk)  # no validation images: refused quickly
    check.refresh_from_db()
    assert check.status == CheckStatus.REFUSED and check.heartbeat_at > timezone.now() - timedelta(minutes=1)
