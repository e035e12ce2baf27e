"""Projects: list your own, read one, create one with classes."""
import pytest
from django.urls import reverse

from webapp.projects.models import Project

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
    response = api_for(outsider).post(reverse("api:project-list"), {
        "name": "Fields", "classes": [{"name": "soil"}, {"name": "crop", "color": "#00ff00"},
                                      {"name": "void", "is_ignore": True}],
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["roles"] == ["annotator", "reviewer", "admin"]
    assert [(c["index"], c["name"], c["is_ignore"]) for c in body["classes"]] == [
        (0, "soil", False), (1, "crop", False), (2, "void", True)]
    assert body["classes"][1]["color"] == "#00ff00"


def test_create_refuses_ignore_class_not_last_and_stores_nothing(api_for, outsider):
    response = api_for(outsider).post(reverse("api:project-list"), {
        "name": "Fields", "classes": [{"name": "void", "is_ignore": True}, {"name": "crop"}],
    }, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "The ignore class must be the last class."}
    assert not Project.objects.filter(name="Fields").exists()


def test_create_refuses_bad_colour(api_for, outsider):
    response = api_for(outsider).post(reverse("api:project-list"), {
        "name": "Fields", "classes": [{"name": "crop", "color": "green"}]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"classes": {"0": {"color": ["Colours are written #rrggbb."]}}}


def test_classes_endpoint_lists_index_name_colour(api_for, member, project):
    body = api_for(member).get(reverse("api:class-list", kwargs={"project_id": project.pk})).json()
    assert body[3] == {"index": 3, "name": "void", "color": body[3]["color"], "is_ignore": True}
