"""Files are served only to members, with their content type and private, long-lived caching."""

import numpy as np
import pytest
from django.urls import reverse

from webapp.images.views import IMMUTABLE
from webapp.projects.services import ClassSpec, project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(make_image):
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[:, 16:] = 2
    return make_image(mask=mask, name="street.png")


def file_urls(image):
    args = [image.project_id, image.id]
    return {
        "file": (reverse("images:file", args=args), "image/png"),
        "thumbnail": (reverse("images:thumbnail", args=args), "image/jpeg"),
        "mask_file": (reverse("images:mask_file", args=[*args, 1]), "image/png"),
    }


@pytest.mark.parametrize("user_fixture", ["owner", "member", "reviewer"])
@pytest.mark.parametrize("kind", ["file", "thumbnail", "mask_file"])
def test_members_get_the_file_with_type_and_private_cache(kind, user_fixture, request, client, image):
    client.force_login(request.getfixturevalue(user_fixture))
    url, content_type = file_urls(image)[kind]
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == IMMUTABLE
    assert b"".join(response.streaming_content)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")


def test_mask_file_holds_the_saved_class_indices(client, owner, image):
    from io import BytesIO

    from PIL import Image as PILImage

    client.force_login(owner)
    response = client.get(file_urls(image)["mask_file"][0])
    array = np.array(PILImage.open(BytesIO(b"".join(response.streaming_content))))
    assert array.shape == (24, 32) and set(np.unique(array)) == {0, 2}


@pytest.mark.parametrize("kind", ["file", "thumbnail", "mask_file"])
def test_outsider_gets_404(kind, client, outsider, image):
    client.force_login(outsider)
    assert client.get(file_urls(image)[kind][0]).status_code == 404


@pytest.mark.parametrize("kind", ["file", "thumbnail", "mask_file"])
def test_anonymous_is_sent_to_login(kind, client, image):
    url = file_urls(image)[kind][0]
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_image_of_another_project_is_not_found_through_this_one(client, owner, project, make_image):
    other = project_create(owner=owner, name="Other", classes=[ClassSpec("background")])
    foreign = make_image(target=other)
    client.force_login(owner)
    assert client.get(reverse("images:file", args=[project.id, foreign.id])).status_code == 404
    assert client.get(reverse("images:file", args=[other.id, foreign.id])).status_code == 200


def test_missing_mask_version_is_404(client, owner, image):
    client.force_login(owner)
    assert client.get(reverse("images:mask_file", args=[image.project_id, image.id, 2])).status_code == 404


def test_file_views_refuse_writes(client, owner, image):
    client.force_login(owner)
    assert client.post(file_urls(image)["file"][0]).status_code == 405
