"""A version activated while the project chooses int8 gets its int8 check queued at once, so
int8 resumes when it passes; in fp32 nothing is queued."""

import pytest

from webapp.serving import checks
from webapp.serving.models import CheckStatus, Int8Check, Precision, ProjectServing
from webapp.serving.selectors import serving_state
from webapp.training.models import ModelVersion
from webapp.training.versions import model_version_activate

pytestmark = pytest.mark.django_db


def second_version(active_model) -> ModelVersion:
    return ModelVersion.objects.create(
        project=active_model.project,
        number=2,
        student_path=active_model.student_path,
        config=active_model.config,
        miou=0.6,
    )


def test_activating_a_version_while_int8_is_chosen_queues_its_check(
    project, owner, active_model, published_tasks, django_capture_on_commit_callbacks
):
    ProjectServing.objects.create(project=project, precision=Precision.INT8)
    Int8Check.objects.create(version=active_model, status=CheckStatus.PASSED)
    version = second_version(active_model)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        model_version_activate(version=version, user=owner)
    check = Int8Check.objects.get(version=version)
    assert check.status == CheckStatus.QUEUED and check.heartbeat_at is not None
    state = serving_state(project=project)
    assert state.checking and state.serves == Precision.FP32 and state.precision == Precision.INT8
    # The callback sends v2's check to the broker; its body, run here as the worker would,
    # finishes it (refused: the project has no validation images).
    for callback in callbacks:
        callback()
    assert published_tasks == [("webapp.serving.int8_check", (check.pk,))]
    checks.int8_check_execute(check_id=check.pk)
    check.refresh_from_db()
    assert check.status == CheckStatus.REFUSED and check.message == checks.NO_VALIDATION.format(number=2)


def test_activating_a_version_in_fp32_queues_no_check(project, owner, active_model, django_capture_on_commit_callbacks):
    version = second_version(active_model)
    with django_capture_on_commit_callbacks(execute=False):
        model_version_activate(version=version, user=owner)
    assert not Int8Check.objects.exists()


def test_activating_a_version_whose_check_passed_serves_int8_at_once(
    project, owner, active_model, django_capture_on_commit_callbacks
):
    ProjectServing.objects.create(project=project, precision=Precision.INT8)
    version = second_version(active_model)
    Int8Check.objects.create(version=version, status=CheckStatus.PASSED)
    with django_capture_on_commit_callbacks(execute=False):
        model_version_activate(version=version, user=owner)
    assert Int8Check.objects.get(version=version).status == CheckStatus.PASSED
    assert serving_state(project=project).serves == Precision.INT8
