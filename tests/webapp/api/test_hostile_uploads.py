"""Hostile files sent to every endpoint that decodes user bytes: the API mask PUT, the editor's
save, the API upload and prediction. Each answers 400 with the user's message and stores nothing."""

import io

import numpy as np
import pytest
from django.urls import reverse

from tests.conftest import mask_png, noise_png
from tests.webapp.hostile_files import png_bomb, truncated
from tests.webapp.images.conftest import media_files  # noqa: F401  (a fixture)
from webapp.images.models import Image, Mask
from webapp.images.validation import MASK_NOT_PNG, MASK_TOO_LARGE, TOO_MANY_PIXELS_UNKNOWN, TRUNCATED, pixel_limit

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(make_image):
    return make_image(32, 24, mask=np.zeros((24, 32), dtype=np.uint8))


MASKS = {
    "bomb-1-bit": (lambda: png_bomb(bit_depth=1), lambda: MASK_TOO_LARGE.format(limit=pixel_limit(), iw=32, ih=24)),
    "bomb-8-bit": (lambda: png_bomb(bit_depth=8), lambda: MASK_TOO_LARGE.format(limit=pixel_limit(), iw=32, ih=24)),
    "truncated": (lambda: truncated(mask_png(np.random.default_rng(0).integers(0, 3, (24, 32)))), lambda: MASK_NOT_PNG),
}


@pytest.mark.parametrize("case", MASKS)
def test_api_mask_put_refuses_hostile_masks_with_400(case, api_for, member, image, media_files):
    make, message = MASKS[case]
    before = media_files()
    url = reverse("api:image-mask", kwargs={"project_id": image.project_id, "image_id": image.pk})
    response = api_for(member).put(url + "?base_version=1", make(), content_type="image/png")
    assert response.status_code == 400
    assert response.json() == {"detail": message()}
    assert Mask.objects.filter(image=image).count() == 1 and media_files() == before


@pytest.mark.parametrize("case", MASKS)
def test_editor_save_refuses_hostile_masks_with_400(case, client, member, image, media_files):
    make, message = MASKS[case]
    before = media_files()
    client.force_login(member)
    upload = io.BytesIO(make())
    upload.name = "mask.png"
    url = reverse("annotation:save", kwargs={"project_id": image.project_id, "image_id": image.pk})
    response = client.post(url, {"mask": upload, "base_version": 1, "editing_seconds": "3"})
    assert response.status_code == 400
    assert response.json() == {"error": message()}
    assert Mask.objects.filter(image=image).count() == 1 and media_files() == before


def test_editor_save_of_a_raw_png_body_refuses_a_bomb(client, member, image):
    client.force_login(member)
    url = reverse("annotation:save", kwargs={"project_id": image.project_id, "image_id": image.pk})
    response = client.post(url + "?base_version=1", png_bomb(), content_type="image/png")
    assert response.status_code == 400
    assert response.json() == {"error": MASK_TOO_LARGE.format(limit=pixel_limit(), iw=32, ih=24)}


@pytest.mark.parametrize("bit_depth", [1, 8])
def test_api_upload_refuses_an_image_bomb(bit_depth, api_for, member, project, media_files):
    before = media_files()
    upload = io.BytesIO(png_bomb(bit_depth=bit_depth))
    upload.name = "bomb.png"
    response = api_for(member).post(
        reverse("api:image-list", kwargs={"project_id": project.pk}), {"files": [upload]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["results"][0]["error"] == TOO_MANY_PIXELS_UNKNOWN.format(
        name="bomb.png", limit=pixel_limit()
    )
    assert not Image.objects.exists() and media_files() == before


@pytest.mark.parametrize(
    "data, message",
    [
        (lambda: png_bomb(), lambda: TOO_MANY_PIXELS_UNKNOWN.format(name="upload", limit=pixel_limit())),
        (lambda: truncated(noise_png(64, 48, seed=3)), lambda: TRUNCATED.format(name="upload")),
    ],
)
def test_predict_refuses_hostile_images_with_400(data, message, api_for, member, project, active_model):
    upload = io.BytesIO(data())
    upload.name = "x.png"
    response = api_for(member).post(
        reverse("api:predict", kwargs={"project_id": project.pk}), {"file": upload}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": message()}
