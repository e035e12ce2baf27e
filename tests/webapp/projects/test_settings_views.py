"""The settings page: admins only (members 403, outsiders 404), a GET changes nothing, each
section saves through its service and shows the service's refusal at the field."""

import numpy as np
import pytest
from django.urls import reverse
from django.utils.html import escape

from webapp.images.models import Mask
from webapp.projects import classes
from webapp.projects.forms import CONFIG_JSON_INVALID, THRESHOLD_INVALID
from webapp.projects.models import LabelClass, Membership
from webapp.projects.services import CONFIG_OWN_FIELD, OWNER_STAYS_ADMIN

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def url(name, project, *args):
    return reverse(f"projects:{name}", args=[project.id, *args])


def post_urls(project):
    road = project.label_classes.get(name="road")
    membership = Membership.objects.get(project=project, user__username="reviewer")
    return [
        url("class_add", project),
        url("class_ignore", project),
        url("class_update", project, road.pk),
        url("class_remove", project, road.pk),
        url("review_settings", project),
        url("training_settings", project),
        url("members", project),
        url("member_update", project, membership.pk),
        url("member_remove", project, membership.pk),
    ]


def state(project):
    project.refresh_from_db()
    return (
        list(LabelClass.objects.filter(project=project).values_list("index", "name", "color", "is_ignore")),
        list(Membership.objects.filter(project=project).values_list("user_id", "is_reviewer", "is_admin")),
        project.review_threshold,
        project.training_config,
        Mask.objects.count(),
    )


# ------------------------------------------------------------------ who may


def test_owner_sees_every_section(client, owner, project):
    client.force_login(owner)
    response = client.get(url("settings", project))
    html = response.content.decode()
    assert response.status_code == 200
    for section in ("classes", "review", "training", "members"):
        assert f'id="{section}"' in html
    assert 'name="review_threshold"' in html and 'name="training_config"' in html and 'name="add-name"' in html


@pytest.mark.parametrize("who, status", [("member", 403), ("reviewer", 403), ("outsider", 404)])
def test_non_admins_can_neither_see_nor_change_settings(client, project, request, who, status):
    client.force_login(request.getfixturevalue(who))
    before = state(project)
    assert client.get(url("settings", project)).status_code == status
    for target in post_urls(project):
        data = {"add-name": "bike", "add-color": "#00ff00", "review_threshold": "0.5", "username": "outsider"}
        assert client.post(target, data).status_code == status, target
    assert state(project) == before


def test_outsider_gets_404_also_for_a_project_that_does_not_exist(client, outsider, project):
    client.force_login(outsider)
    assert client.get(reverse("projects:settings", args=[99999])).status_code == 404


def test_a_get_changes_nothing(client, owner, project):
    client.force_login(owner)
    before = state(project)
    client.get(url("settings", project))
    for target in post_urls(project):
        assert client.get(target, {"add-name": "bike", "add-color": "#00ff00"}).status_code in (302, 405), target
    assert state(project) == before


def test_the_members_page_is_the_settings_pages_members_section(client, owner, project):
    client.force_login(owner)
    response = client.get(url("members", project))
    assert response.status_code == 302 and response["Location"] == url("settings", project) + "#members"


# ------------------------------------------------------------------ classes


def test_admin_adds_a_class_and_htmx_gets_the_classes_section(client, owner, project):
    client.force_login(owner)
    response = client.post(url("class_add", project), {"add-name": "bike", "add-color": "#00ff00"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section class="card" id="classes"')
    assert "Class bike added." in html and 'data-class="bike"' in html
    assert project.label_classes.get(name="bike").index == 3


def test_a_plain_post_redirects_back_to_the_section(client, owner, project):
    client.force_login(owner)
    response = client.post(url("class_add", project), {"add-name": "bike", "add-color": "#00ff00"})
    assert response.status_code == 302 and response["Location"] == url("settings", project) + "#classes"


def test_a_class_change_that_needs_a_remap_shows_why_and_changes_nothing(client, owner, project, make_image):
    image = make_image(mask=np.full((24, 32), 3, np.uint8))  # void, the ignore class, in use
    client.force_login(owner)
    before = state(project)
    response = client.post(url("class_add", project), {"add-name": "bike", "add-color": "#00ff00"}, headers=HX)
    assert escape(classes.REMAP_NEEDED.format(count=1, classes="void")) in response.content.decode()
    assert state(project) == before

    road, car = project.label_classes.get(name="road"), project.label_classes.get(name="car")
    seen = classes.masks_seen(project=project)
    prefix = f"r{road.pk}"
    data = {f"{prefix}-into": car.pk, f"{prefix}-rewrite_masks": "on", f"{prefix}-masks_seen": seen}
    response = client.post(url("class_remove", project, road.pk), data, headers=HX)
    assert "Class road removed." in response.content.decode()
    assert [c.name for c in project.label_classes.order_by("index")] == ["background", "car", "void"]
    image.refresh_from_db()
    assert image.current_mask.version == 2 and Mask.objects.filter(image=image).count() == 2


def test_rename_and_recolour_with_a_bad_colour_shows_the_message_at_the_field(client, owner, project):
    client.force_login(owner)
    road = project.label_classes.get(name="road")
    prefix = f"c{road.pk}"
    response = client.post(
        url("class_update", project, road.pk), {f"{prefix}-name": "street", f"{prefix}-color": "red"}, headers=HX
    )
    assert "Colours are written #rrggbb." in response.content.decode()
    client.post(url("class_update", project, road.pk), {f"{prefix}-name": "street", f"{prefix}-color": "#123456"})
    road.refresh_from_db()
    assert (road.name, road.color) == ("street", "#123456")


def test_admin_chooses_the_ignore_class(client, owner, project):
    client.force_login(owner)
    car = project.label_classes.get(name="car")
    seen = classes.masks_seen(project=project)
    client.post(url("class_ignore", project), {"ignore-ignore": car.pk, "ignore-masks_seen": seen}, headers=HX)
    assert project.label_classes.get(is_ignore=True) == car and LabelClass.objects.get(pk=car.pk).index == 3


# ------------------------------------------------------------------ review and training


REVIEW = {"review_threshold": "0.7", "strategy": "random", "batch_size": "30", "target_pixel_error": "2.5"}


def test_admin_saves_the_review_settings(client, owner, project):
    client.force_login(owner)
    response = client.post(url("review_settings", project), {**REVIEW, "audit_share": "10"}, headers=HX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    project.refresh_from_db()
    assert (project.review_threshold, project.queue_strategy, project.review_batch_size) == (0.7, "random", 30)
    assert (project.target_pixel_error, project.audit_share) == (0.025, 0.1)


def test_a_bad_threshold_is_refused_at_the_field(client, owner, project):
    client.force_login(owner)
    response = client.post(url("review_settings", project), {**REVIEW, "review_threshold": "2", "audit_share": "5"})
    assert response.status_code == 200 and escape(THRESHOLD_INVALID) in response.content.decode()
    project.refresh_from_db()
    assert project.review_threshold == 0.9


def test_a_calibrated_project_shows_the_learned_threshold(client, owner, project):
    project.threshold_calibration = {"threshold": 0.8123, "status": "calibrated", "target": 0.05}
    project.save(update_fields=["threshold_calibration"])
    client.force_login(owner)
    assert "0.812" in client.get(url("settings", project)).content.decode()


def test_admin_saves_the_training_settings(client, owner, project):
    client.force_login(owner)
    data = {"auto_retrain_after": "20", "max_minutes": "45", "training_config": '{"batch_size": 2}'}
    response = client.post(url("training_settings", project), data, headers=HX)
    assert "Saved." in response.content.decode()
    project.refresh_from_db()
    assert project.auto_retrain_after == 20 and project.training_config == {"batch_size": 2, "max_minutes": 45.0}


@pytest.mark.parametrize(
    "config, message",
    [
        ("{not json", CONFIG_JSON_INVALID),
        ('{"max_minutes": 3}', CONFIG_OWN_FIELD.format(key="max_minutes")),
        ('{"no_such": 1}', "The training config is invalid: unknown TrainConfig keys"),
    ],
)
def test_a_bad_training_config_is_shown_at_its_field(client, owner, project, config, message):
    client.force_login(owner)
    data = {"auto_retrain_after": "", "max_minutes": "", "training_config": config}
    html = client.post(url("training_settings", project), data, headers=HX).content.decode()
    field = html.split('name="training_config"')[1]
    assert escape(message) in field.split("</p>")[0]  # right after the field, in its paragraph
    project.refresh_from_db()
    assert project.training_config == {}


# ------------------------------------------------------------------ members


def test_admin_adds_a_member_with_htmx(client, owner, outsider, project):
    client.force_login(owner)
    response = client.post(url("members", project), {"username": "outsider", "annotator": "on"}, headers=HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="members"') and "outsider was added" in html
    assert Membership.objects.get(project=project, user=outsider).is_annotator


def test_removing_the_owner_with_htmx_shows_why(client, owner, project):
    client.force_login(owner)
    membership = Membership.objects.get(project=project, user=owner)
    response = client.post(url("member_remove", project, membership.pk), headers=HX)
    assert escape(OWNER_STAYS_ADMIN.format(username="owner")) in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_admin_removes_a_member_with_htmx(client, owner, reviewer, project):
    client.force_login(owner)
    membership = Membership.objects.get(project=project, user=reviewer)
    response = client.post(url("member_remove", project, membership.pk), headers=HX)
    assert "reviewer was removed from the project" in response.content.decode()
    assert not Membership.objects.filter(pk=membership.pk).exists()


# ------------------------------------------------------------------ sections other apps add


@pytest.fixture
def extra_section(tmp_path, settings):
    from webapp.projects import settings_views

    template = '<section id="extra">{{ extra_text }}{% if saved == "extra" %} {{ notice }}{% endif %}</section>'
    (tmp_path / "extra.html").write_text(template)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], tmp_path]}]
    section = settings_views.SettingsSection(
        name="extra",
        template="extra.html",
        context=lambda *, project, bound: {"extra_text": f"Extra of {project.name}"},
    )
    settings_views.settings_section_register(section)
    yield section
    del settings_views.SECTIONS["extra"]


def test_a_section_another_app_registers_is_on_the_page_and_answers_htmx(client, owner, project, rf, extra_section):
    from webapp.projects import settings_views

    client.force_login(owner)
    html = client.get(url("settings", project)).content.decode()
    assert '<section id="extra">Extra of Streets</section>' in html and 'href="#extra"' in html
    request = rf.post("/", headers=HX)
    request.user, request.htmx = owner, True
    response = settings_views.section_response(request, project, "extra", ok=True, notice="Done.")
    assert response.render().content.decode() == '<section id="extra">Extra of Streets Done.</section>'
