"""Whole-project counts: exact on small projects, kept FRESH_FOR_S seconds on big ones."""

import pytest
from django.core.cache import cache

from webapp import project_counts
from webapp.projects.selectors import ALL, project_status_counts
from webapp.review.selectors import review_counts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_small_project_counts_are_always_exact(project, make_image):
    make_image()
    assert project_status_counts(project=project)[ALL] == 1
    make_image()
    assert project_status_counts(project=project)[ALL] == 2
    assert review_counts(project=project)["pending"] == 0


def test_big_project_counts_are_kept_until_they_expire(project, make_image, monkeypatch):
    monkeypatch.setattr(project_counts, "CACHE_FROM_ROWS", 2)
    make_image()
    assert project_status_counts(project=project)[ALL] == 1  # under the size: not kept
    make_image()
    assert project_status_counts(project=project)[ALL] == 2  # kept from here on
    make_image()
    assert project_status_counts(project=project)[ALL] == 2
    cache.delete(f"image-status-counts:{project.pk}")  # what FRESH_FOR_S seconds do
    assert project_status_counts(project=project)[ALL] == 3
