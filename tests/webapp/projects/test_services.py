"""project_create: the class limit holds in the service, so the API (tests/webapp/api/test_projects.py)
and the page refuse alike."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.webapp.projects.test_views import class_rows
from webapp.projects.models import LabelClass, Project
from webapp.projects.services import MAX_CLASSES, TOO_MANY_CLASSES, ClassSpec, project_create

pytestmark = pytest.mark.django_db


def too_many(count: int) -> str:
    return TOO_MANY_CLASSES.format(limit=256, last=255, count=count)


def test_256_classes_are_allowed_the_last_with_index_255(outsider):
    project = project_create(owner=outsider, name="Many", classes=[ClassSpec(f"c{i}") for i in range(MAX_CLASSES)])
    assert MAX_CLASSES == 256
    assert project.label_classes.count() == 256 and project.label_classes.last().index == 255


def test_the_service_refuses_257_classes_and_stores_nothing(outsider):
    with pytest.raises(ValueError) as error:
        project_create(owner=outsider, name="Too many", classes=[ClassSpec(f"c{i}") for i in range(257)])
    assert str(error.value) == too_many(257)
    assert not Project.objects.exists() and not LabelClass.objects.exists()


def test_the_page_refuses_300_classes_with_the_message(client, outsider):
    client.force_login(outsider)
    rows = [(f"c{i}", "#000000", False) for i in range(300)]
    response = client.post(
        reverse("projects:create"), {"name": "Too many", "review_threshold": "0.9", **class_rows(*rows)}
    )
    assert response.status_code == 200
    assert escape(too_many(300)) in response.content.decode()
    assert not Project.objects.exists()


def test_the_page_skips_blank_rows_when_counting(client, outsider):
    client.force_login(outsider)
    rows = [(f"c{i}", "#000000", False) for i in range(256)] + [("", "#000000", False)] * 10
    response = client.post(reverse("projects:create"), {"name": "Full", "review_threshold": "0.9", **class_rows(*rows)})
    assert response.status_code == 302
    assert Project.objects.get().label_classes.count() == 256
