"""Counts and pages stay one query each, whatever the project's size."""

import pytest

from webapp.images.models import Image, ImageStatus
from webapp.projects.selectors import project_images_page, project_list_for_user, project_status_counts

pytestmark = pytest.mark.django_db


def test_status_counts_are_one_query_with_zeros_and_a_total(project, make_image, django_assert_num_queries):
    images = [make_image() for _ in range(3)]
    Image.objects.filter(pk=images[0].pk).update(status=ImageStatus.PSEUDO_LABELED)
    with django_assert_num_queries(1):
        counts = project_status_counts(project=project)
    assert counts == {"unlabeled": 2, "pseudo": 1, "in_review": 0, "labeled": 0, "all": 3}


def test_a_page_is_one_query(project, make_image, django_assert_num_queries):
    for _ in range(5):
        make_image()
    first = project_images_page(project=project, per_page=2)
    with django_assert_num_queries(1):
        page = project_images_page(project=project, after=first.next_after, per_page=2)
    assert len(page.images) == 2 and page.prev_before == page.images[0].id


def test_last_page_has_no_next_and_empty_project_has_no_pages(project, make_image):
    assert project_images_page(project=project).images == []
    assert not project_images_page(project=project).has_other_pages
    images = [make_image() for _ in range(3)]
    page = project_images_page(project=project, per_page=3)
    assert [i.id for i in page.images] == [i.id for i in images] and not page.has_other_pages


def test_pages_of_a_status_skip_other_statuses(project, make_image):
    images = [make_image() for _ in range(6)]
    labeled = images[::2]
    Image.objects.filter(pk__in=[i.pk for i in labeled]).update(status=ImageStatus.LABELED)
    first = project_images_page(project=project, status="labeled", per_page=2)
    second = project_images_page(project=project, status="labeled", after=first.next_after, per_page=2)
    assert [i.id for i in first.images + second.images] == [i.id for i in labeled]
    assert second.next_after is None


def test_images_of_other_projects_never_appear(project, owner, make_image):
    from webapp.projects.services import ClassSpec, project_create

    other = project_create(owner=owner, name="Other", classes=[ClassSpec("background")])
    make_image(target=other)
    mine = make_image()
    assert [i.id for i in project_images_page(project=project).images] == [mine.id]
    assert project_status_counts(project=project)["all"] == 1


def test_project_list_is_two_queries(owner, project, make_image, django_assert_num_queries):
    make_image()
    with django_assert_num_queries(2):
        summaries = project_list_for_user(user=owner)
    assert [(s.project.name, s.image_count, s.membership.is_admin) for s in summaries] == [("Streets", 1, True)]
