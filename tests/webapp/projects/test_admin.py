"""Django admin: every model has working list and change pages for site staff."""

import numpy as np
import pytest
from django.urls import reverse

from webapp.images.models import Mask, MaskSource
from webapp.images.services import mask_save
from webapp.projects.admin import ProjectAdmin
from webapp.review.models import ReviewItem
from webapp.training.models import ModelVersion, RunTrigger, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw-root-123")


@pytest.fixture
def rows(project, make_image):
    image = make_image(mask=np.zeros((24, 32), dtype=np.uint8))
    pseudo = mask_save(
        image=image,
        base_version=1,
        array=np.ones((24, 32), dtype=np.uint8),
        source=MaskSource.PSEUDO,
        status="in_review",
    )
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.ADMIN)
    version = ModelVersion.objects.create(project=project, run=run, number=1, student_path="p/student.pt")
    review = ReviewItem.objects.create(
        project=project,
        image=image,
        pseudo_mask=pseudo,
        run=run,
        score=0.3,
        mean_confidence=0.5,
        confident_fraction=0.4,
        disagreement=0.1,
    )
    return {
        "projects_project": project,
        "images_image": image,
        "images_mask": Mask.objects.get(pk=pseudo.pk),
        "training_trainingrun": run,
        "training_modelversion": version,
        "review_reviewitem": review,
    }


@pytest.mark.parametrize(
    "model",
    [
        "projects_project",
        "images_image",
        "images_mask",
        "training_trainingrun",
        "training_modelversion",
        "review_reviewitem",
    ],
)
def test_admin_list_and_change_pages_render(model, client, admin_user, rows):
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:{model}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{model}_change", args=[rows[model].pk])).status_code == 200


def test_project_change_page_shows_classes_and_members_inline(client, admin_user, project):
    client.force_login(admin_user)
    html = client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()
    assert "label_classes-0-name" in html and "memberships-0-user" in html


def test_images_and_runs_cannot_be_added_by_hand(client, admin_user):
    client.force_login(admin_user)
    for model in ["images_image", "images_mask", "training_trainingrun"]:
        assert client.get(reverse(f"admin:{model}_add")).status_code == 403


def test_project_admin_actions_is_a_list_other_apps_extend():
    assert isinstance(ProjectAdmin.actions, list)


def test_project_members_are_not_site_staff(client, owner, project):
    client.force_login(owner)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
