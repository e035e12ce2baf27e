"""Projects: list your own, read one, create one with classes."""

import pytest
from django.urls import reverse

from webapp.projects.models import Project
from webapp.projects.services import TOO_MANY_CLASSES

pytestmark = pytest.mark.django_db


def test_list_shows_only_the_users_projects_with_roles(api_for, member, outsider, project):
    body = api_for(member).get(reverse("api:project-list")).json()
    assert body["count"] == 1
    listed = body["results"][0]
    assert (listed["id"], listed["roles"]) == (project.pk, ["annotator"])
    assert [c["name"] for c in listed["classes"]] == ["background", "road", "car", "void"]
    assert api_for(outsider).get(reverse("api:project-list")).json()["count"] == 0


def test_detail_shows_the_callers_roles(api_for, owner, project):
    body = api_for(owner).get(reverse("api:project-detail", kwargs={"project_id": project.pk})).json()
    assert body["roles"] == ["annotator", "reviewer", "admin"]


def test_create_project_with_classes_makes_the_creator_admin(api_for, outsider):
    response = api_for(outsider).post(
        reverse("api:project-list"),
        {
            "name": "Fields",
            "classes": [{"name": "soil"}, {"name": "crop", "color": "#00ff00"}, {"name": "void", "is_ignore": True}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["roles"] == ["annotator", "reviewer", "admin"]
    assert [(c["index"], c["name"], c["is_ignore"]) for c in body["classes"]] == [
        (0, "soil", False),
        (1, "crop", False),
        (2, "void", True),
    ]
    assert body["classes"][1]["color"] == "#00ff00"


def test_create_refuses_ignore_class_not_last_and_stores_nothing(api_for, outsider):
    response = api_for(outsider).post(
        reverse("api:project-list"),
        {
            "name": "Fields",
            "classes": [{"name": "void", "is_ignore": True}, {"name": "crop"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The ignore class must be the last class."}
    assert not Project.objects.filter(name="Fields").exists()


def test_create_refuses_bad_colour(api_for, outsider):
    response = api_for(outsider).post(
        reverse("api:project-list"), {"name": "Fields", "classes": [{"name": "crop", "color": "green"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"classes": {"0": {"color": ["Colours are written #rrggbb."]}}}


def test_classes_endpoint_lists_index_name_colour(api_for, member, project):
    body = api_for(member).get(reverse("api:class-list", kwargs={"project_id": project.pk})).json()
    assert body[3] == {"index": 3, "name": "void", "color": body[3]["color"], "is_ignore": True}


def test_project_shows_its_queue_settings_and_calibration_read_only(api_for, owner, project):
    Project.objects.filter(pk=project.pk).update(
        threshold_calibration={
            "threshold": 0.83,
            "status": "calibrated",
            "support": 12,
            "decisions": 40,
            "mean_error": 0.031,
            "target": 0.05,
            "at": "2025-01-01T00:00:00+00:00",
        }
    )
    url = reverse("api:project-detail", kwargs={"project_id": project.pk})
    body = api_for(owner).get(url).json()
    assert {k: body[k] for k in ("queue_strategy", "review_batch_size", "target_pixel_error", "audit_share")} == {
        "queue_strategy": "diverse",
        "review_batch_size": 20,
        "target_pixel_error": 0.05,
        "audit_share": 0.05,
    }
    assert body["threshold_calibration"]["threshold"] == 0.83
    assert body["threshold_calibration"]["status"] == "calibrated"
    Project.objects.filter(pk=project.pk).update(threshold_calibration={})
    assert api_for(owner).get(url).json()["threshold_calibration"] == {}


def test_create_project_with_queue_settings(api_for, outsider):
    response = api_for(outsider).post(
        reverse("api:project-list"),
        {
            "name": "Fields",
            "classes": [{"name": "soil"}],
            "queue_strategy": "least_confident",
            "review_batch_size": 50,
            "target_pixel_error": 0.02,
            "audit_share": 0.1,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["queue_strategy"], body["review_batch_size"], body["target_pixel_error"], body["audit_share"]) == (
        "least_confident",
        50,
        0.02,
        0.1,
    )
    assert body["threshold_calibration"] == {}
    project = Project.objects.get(name="Fields")
    assert (project.queue_strategy, project.review_batch_size, project.target_pixel_error, project.audit_share) == (
        "least_confident",
        50,
        0.02,
        0.1,
    )


@pytest.mark.parametrize(
    "field, value",
    [("review_batch_size", 0), ("target_pixel_error", 0.8), ("audit_share", 0.6), ("queue_strategy", "best")],
)
def test_create_refuses_out_of_range_queue_settings_and_stores_nothing(api_for, outsider, field, value):
    response = api_for(outsider).post(
        reverse("api:project-list"), {"name": "Fields", "classes": [{"name": "soil"}], field: value}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Project.objects.filter(name="Fields").exists()


def test_the_api_refuses_300_classes_with_the_message(api_for, outsider):
    response = api_for(outsider).post(
        reverse("api:project-list"),
        {"name": "Too many", "classes": [{"name": f"c{i}"} for i in range(300)]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": TOO_MANY_CLASSES.format(limit=256, last=255, count=300)}
    assert not Project.objects.exists()
