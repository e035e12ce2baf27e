"""Masks over the API: PNG with ETag, PUT with base version, 409 on conflict, 400 on bad masks."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from tests.conftest import mask_png
from webapp.annotation.services import (
    BAD_BASE_VERSION,
    BAD_EDITING_SECONDS,
    BASE_VERSION_REQUIRED,
    MAX_EDITING_SECONDS,
    NO_MASK_SENT,
)
from webapp.images.models import Mask
from webapp.images.services import MASK_CONFLICT, mask_read
from webapp.images.validation import MASK_UNKNOWN_CLASSES, MASK_WRONG_SIZE

pytestmark = pytest.mark.django_db


def labels(value=1):
    return np.full((24, 32), value, dtype=np.uint8)


def mask_url(image):
    return reverse("api:image-mask", kwargs={"project_id": image.project_id, "image_id": image.pk})


def test_get_mask_is_png_of_class_indices_with_version_headers(api_for, member, make_image):
    image = make_image(mask=labels(2))
    response = api_for(member).get(mask_url(image))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert (response["ETag"], response["X-Mask-Version"]) == ('"1"', "1")
    png = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
    assert png.mode == "L" and np.array_equal(np.array(png), labels(2))


def test_get_mask_with_matching_etag_is_304(api_for, member, make_image):
    image = make_image(mask=labels())
    assert api_for(member).get(mask_url(image), HTTP_IF_NONE_MATCH='"1"').status_code == 304


def test_image_without_mask_is_404_with_reason(api_for, member, make_image):
    response = api_for(member).get(mask_url(make_image()))
    assert response.status_code == 404
    assert response.json() == {"detail": "This image has no mask yet."}


def test_put_mask_with_base_version_stores_a_new_human_version(api_for, member, make_image):
    image = make_image(mask=labels(1))
    response = api_for(member).put(
        mask_url(image) + "?base_version=1&editing_seconds=12.5", mask_png(labels(2)), content_type="image/png"
    )
    assert response.status_code == 201, response.content
    assert response["ETag"] == '"2"'
    assert response.json()["mask"]["author"] == "member"
    image.refresh_from_db()
    assert image.mask_version == 2 and image.current_mask.editing_seconds == 12.5
    assert np.array_equal(mask_read(image.current_mask), labels(2))


def test_put_mask_with_if_match_header(api_for, member, make_image):
    image = make_image()
    response = api_for(member).put(mask_url(image), mask_png(labels(2)), content_type="image/png", HTTP_IF_MATCH='"0"')
    assert response.status_code == 201
    image.refresh_from_db()
    assert image.mask_version == 1 and image.status == "labeled"


def test_stale_base_version_is_409_and_both_versions_are_kept(api_for, member, owner, make_image):
    image = make_image(mask=labels(0))
    assert (
        api_for(owner)
        .put(mask_url(image) + "?base_version=1", mask_png(labels(1)), content_type="image/png")
        .status_code
        == 201
    )
    response = api_for(member).put(mask_url(image) + "?base_version=1", mask_png(labels(2)), content_type="image/png")
    assert response.status_code == 409
    assert response.json() == {
        "detail": MASK_CONFLICT.format(current=2, base=1, saved=3),
        "current_version": 2,
        "saved_version": 3,
    }
    image.refresh_from_db()
    assert image.mask_version == 2  # the owner's version stays current
    kept = Mask.objects.get(image=image, version=3)
    assert kept.is_conflict and np.array_equal(mask_read(kept), labels(2))
    history = (
        api_for(member)
        .get(reverse("api:mask-history", kwargs={"project_id": image.project_id, "image_id": image.pk}))
        .json()
    )
    assert [(m["version"], m["is_conflict"], m["is_current"]) for m in history] == [
        (1, False, False),
        (2, False, True),
        (3, True, False),
    ]
    old = api_for(member).get(
        reverse("api:mask-version", kwargs={"project_id": image.project_id, "image_id": image.pk, "version": 3})
    )
    assert np.array_equal(np.array(PILImage.open(io.BytesIO(b"".join(old.streaming_content)))), labels(2))


@pytest.mark.parametrize(
    "body, message",
    [
        (mask_png(np.full((24, 32), 9, dtype=np.uint8)), MASK_UNKNOWN_CLASSES.format(values=[9], valid="0..3")),
        (mask_png(np.zeros((10, 10), dtype=np.uint8)), MASK_WRONG_SIZE.format(mw=10, mh=10, iw=32, ih=24)),
        (b"\x89PNG not really", "The mask must be a PNG of class indices."),
        (b"", NO_MASK_SENT),
    ],
)
def test_bad_mask_is_400_with_the_reason_and_nothing_is_stored(api_for, member, make_image, body, message):
    image = make_image(mask=labels(1))
    response = api_for(member).put(mask_url(image) + "?base_version=1", body, content_type="image/png")
    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert Mask.objects.filter(image=image).count() == 1


def test_put_without_base_version_is_400_and_stores_nothing(api_for, member, make_image):
    image = make_image(mask=labels(1))
    response = api_for(member).put(mask_url(image), mask_png(labels(2)), content_type="image/png")
    assert response.status_code == 400
    assert response.json() == {"detail": BASE_VERSION_REQUIRED}
    assert Mask.objects.filter(image=image).count() == 1


@pytest.mark.parametrize(
    "query, message",
    [
        ("base_version=one", BAD_BASE_VERSION),
        ("base_version=-1", BAD_BASE_VERSION),
        ("base_version=1&editing_seconds=-1", BAD_EDITING_SECONDS),
        (f"base_version=1&editing_seconds={MAX_EDITING_SECONDS + 1}", BAD_EDITING_SECONDS),
        ("base_version=1&editing_seconds=nan", BAD_EDITING_SECONDS),
    ],
)
def test_put_follows_the_editors_rules_for_versions_and_seconds(api_for, member, make_image, query, message):
    image = make_image(mask=labels(1))
    response = api_for(member).put(mask_url(image) + "?" + query, mask_png(labels(2)), content_type="image/png")
    assert (response.status_code, response.json()) == (400, {"detail": message})
    assert Mask.objects.filter(image=image).count() == 1


def test_put_takes_twelve_hours_of_editing_and_a_weak_etag(api_for, member, make_image):
    image = make_image(mask=labels(1))
    response = api_for(member).put(
        mask_url(image) + f"?editing_seconds={MAX_EDITING_SECONDS}",
        mask_png(labels(2)),
        content_type="image/png",
        HTTP_IF_MATCH='W/"1"',
    )
    assert response.status_code == 201
    assert Mask.objects.get(image=image, version=2).editing_seconds == MAX_EDITING_SECONDS


def test_put_json_body_is_415(api_for, member, make_image):
    image = make_image(mask=labels(1))
    response = api_for(member).put(mask_url(image) + "?base_version=1", {"a": 1}, format="json")
    assert response.status_code == 415
