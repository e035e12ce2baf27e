"""The project settings endpoints: admins only (members 403, outsiders 404, anonymous 401), the
same services and words as the settings page, nothing changed on a refusal."""

import numpy as np
import pytest
from django.urls import reverse

from webapp.images.models import Mask
from webapp.images.services import mask_read
from webapp.projects import classes
from webapp.projects.forms import UNKNOWN_USER
from webapp.projects.models import Membership
from webapp.projects.services import (
    ALREADY_MEMBER,
    AUTO_RETRAIN_INVALID,
    AUTO_RETRAIN_MAX,
    CONFIG_OWN_FIELD,
    OWNER_STAYS_ADMIN,
)

pytestmark = pytest.mark.django_db


def api_url(name, project, **kwargs):
    return reverse(f"api:{name}", kwargs={"project_id": project.pk, **kwargs})


@pytest.fixture
def admin_api(api_for, owner):
    return api_for(owner)


# ------------------------------------------------------------------ who may


@pytest.fixture
def calls(project):
    road = project.label_classes.get(name="road")
    reviewer = Membership.objects.get(project=project, user__username="reviewer")
    return [
        ("get", api_url("project-settings", project), None),
        ("patch", api_url("project-settings", project), {"review_threshold": 0.5}),
        ("get", api_url("settings-class-list", project), None),
        ("post", api_url("settings-class-list", project), {"name": "bike"}),
        ("patch", api_url("settings-class-detail", project, class_id=road.pk), {"name": "street"}),
        ("post", api_url("settings-class-remove", project, class_id=road.pk), {}),
        ("post", api_url("settings-class-ignore", project), {"ignore": None}),
        ("get", api_url("member-list", project), None),
        ("post", api_url("member-list", project), {"username": "outsider"}),
        ("patch", api_url("member-detail", project, membership_id=reviewer.pk), {"admin": True}),
        ("delete", api_url("member-detail", project, membership_id=reviewer.pk), None),
    ]


@pytest.mark.parametrize("who, code", [("member", 403), ("reviewer", 403), ("outsider", 404), (None, 401)])
def test_only_admins_may_read_or_change_settings(api_for, request, project, calls, who, code):
    client = api_for(request.getfixturevalue(who) if who else None)
    for method, target, body in calls:
        response = getattr(client, method)(target, body, format="json")
        assert response.status_code == code, (method, target)
    project.refresh_from_db()
    assert project.review_threshold == 0.9 and project.label_classes.count() == 4
    assert Membership.objects.filter(project=project).count() == 3


# ------------------------------------------------------------------ review and training


def test_settings_read_and_patch(admin_api, project):
    url = api_url("project-settings", project)
    body = admin_api.get(url).json()
    assert body["review_threshold"] == 0.9 and body["max_minutes"] is None and body["training_config"] == {}
    response = admin_api.patch(
        url,
        {"review_threshold": 0.75, "queue_strategy": "random", "auto_retrain_after": 12, "max_minutes": 20},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["review_threshold"], body["queue_strategy"], body["auto_retrain_after"]) == (0.75, "random", 12)
    assert body["max_minutes"] == 20 and body["training_config"] == {}
    project.refresh_from_db()
    assert project.review_threshold == 0.75 and project.training_config == {"max_minutes": 20.0}
    assert project.review_batch_size == 20  # left out: stays


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"auto_retrain_after": 0}, "auto_retrain_after", AUTO_RETRAIN_INVALID.format(limit=AUTO_RETRAIN_MAX)),
        ({"training_config": {"num_classes": 2}}, "training_config", CONFIG_OWN_FIELD.format(key="num_classes")),
    ],
)
def test_bad_training_settings_are_refused_with_the_services_words(admin_api, project, change, field, message):
    response = admin_api.patch(api_url("project-settings", project), {"review_threshold": 0.5, **change}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": message, "field": field}
    project.refresh_from_db()
    assert project.review_threshold == 0.9 and project.auto_retrain_after is None  # all or nothing


def test_a_threshold_out_of_bounds_is_refused(admin_api, project):
    response = admin_api.patch(api_url("project-settings", project), {"review_threshold": 1.5}, format="json")
    assert response.status_code == 400 and "review_threshold" in response.json()["detail"]
    project.refresh_from_db()
    assert project.review_threshold == 0.9


# ------------------------------------------------------------------ classes


def test_add_rename_and_choose_the_ignore_class(admin_api, project):
    response = admin_api.post(api_url("settings-class-list", project), {"name": "bike", "color": "#00ff00"})
    assert response.status_code == 201
    names = [(c["index"], c["name"], c["is_ignore"]) for c in response.json()["classes"]]
    assert names[-2:] == [(3, "bike", False), (4, "void", True)]
    bike = project.label_classes.get(name="bike")
    response = admin_api.patch(api_url("settings-class-detail", project, class_id=bike.pk), {"name": "cycle"})
    assert response.status_code == 200 and project.label_classes.get(pk=bike.pk).name == "cycle"
    response = admin_api.post(api_url("settings-class-ignore", project), {"ignore": None}, format="json")
    assert response.status_code == 200 and not any(c["is_ignore"] for c in response.json()["classes"])


def test_a_class_in_use_is_refused_then_remapped_into_a_new_version(admin_api, project, make_image):
    array = np.zeros((24, 32), np.uint8)
    array[:, 16:] = 2  # car
    image = make_image(mask=array)
    layout = admin_api.get(api_url("settings-class-list", project)).json()
    car = project.label_classes.get(name="car")
    road = project.label_classes.get(name="road")
    url = api_url("settings-class-remove", project, class_id=car.pk)

    response = admin_api.post(url, {"masks_seen": layout["masks_seen"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": classes.CLASS_IN_USE.format(name="car", count=1), "field": "into"}
    assert project.label_classes.count() == 4 and Mask.objects.filter(image=image).count() == 1

    body = {"into": road.pk, "rewrite_masks": True, "masks_seen": layout["masks_seen"]}
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 200, response.content
    assert [c["name"] for c in response.json()["classes"]] == ["background", "road", "void"]
    image.refresh_from_db()
    expected = array.copy()
    expected[array == 2] = 1
    assert image.current_mask.version == 2 and np.array_equal(mask_read(image.current_mask), expected)
    assert np.array_equal(mask_read(Mask.objects.get(image=image, version=1)), array)


def test_a_class_of_another_project_is_refused(admin_api, project, owner):
    from webapp.projects.services import ClassSpec, project_create

    other = project_create(owner=owner, name="Other", classes=[ClassSpec("x")])
    road = project.label_classes.get(name="road")
    response = admin_api.post(
        api_url("settings-class-remove", project, class_id=road.pk),
        {"into": other.label_classes.get().pk, "rewrite_masks": True},
        format="json",
    )
    assert response.status_code == 400 and response.json()["detail"] == classes.INTO_UNKNOWN
    other_class = other.label_classes.get()
    response = admin_api.patch(api_url("settings-class-detail", project, class_id=other_class.pk), {"name": "y"})
    assert response.status_code == 404


# ------------------------------------------------------------------ members


def test_members_add_change_and_remove(admin_api, project, outsider):
    url = api_url("member-list", project)
    response = admin_api.post(url, {"username": "outsider", "reviewer": True}, format="json")
    assert response.status_code == 201
    added = response.json()
    assert (added["username"], added["annotator"], added["reviewer"], added["admin"]) == ("outsider", True, True, False)
    detail = api_url("member-detail", project, membership_id=added["id"])
    response = admin_api.patch(detail, {"admin": True}, format="json")
    assert response.status_code == 200 and response.json()["admin"] and response.json()["reviewer"]
    assert admin_api.delete(detail).status_code == 204
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    listed = admin_api.get(url).json()
    assert [(m["username"], m["is_owner"]) for m in listed] == [("member", False), ("owner", True), ("reviewer", False)]


@pytest.mark.parametrize(
    "username, body",
    [
        ("nobody", {"username": [UNKNOWN_USER.format(username="nobody")]}),
        ("member", {"detail": ALREADY_MEMBER.format(username="member")}),
    ],
)
def test_adding_an_unknown_user_or_a_member_again_is_refused(admin_api, project, username, body):
    response = admin_api.post(api_url("member-list", project), {"username": username, "admin": True}, format="json")
    assert response.status_code == 400 and response.json() == body
    assert Membership.objects.filter(project=project, is_admin=True).count() == 1


def test_the_owner_stays_admin_and_is_not_removed(admin_api, project, owner):
    membership = Membership.objects.get(project=project, user=owner)
    detail = api_url("member-detail", project, membership_id=membership.pk)
    expected = {"detail": OWNER_STAYS_ADMIN.format(username="owner")}
    response = admin_api.patch(detail, {"admin": False}, format="json")
    assert response.status_code == 400 and response.json() == expected
    response = admin_api.delete(detail)
    assert response.status_code == 400 and response.json() == expected
    membership.refresh_from_db()
    assert membership.is_admin


def test_the_schema_documents_the_settings_endpoints(client):
    paths = client.get(reverse("api:schema") + "?format=json").json()["paths"]
    base = "/api/projects/{project_id}/settings/"
    assert {"get", "patch"} <= set(paths[base])
    assert {"get", "post"} <= set(paths[base + "classes/"])
    assert "patch" in paths[base + "classes/{class_id}/"]
    assert "post" in paths[base + "classes/{class_id}/remove/"] and "post" in paths[base + "classes/ignore/"]
    assert {"get", "post"} <= set(paths[base + "members/"])
    member = paths[base + "members/{membership_id}/"]
    assert {"patch", "delete"} <= set(member) and {"400", "403", "404"} <= set(member["delete"]["responses"])
