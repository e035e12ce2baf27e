"""Images: upload many with per-file results, list with filters and pages, read, download."""

import io

import pytest
from django.urls import reverse

from tests.conftest import noise_png
from webapp.images.models import Image
from webapp.images.validation import NOT_AN_IMAGE

pytestmark = pytest.mark.django_db


def upload(name, data):
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_upload_many_reports_each_file_and_stores_the_good_ones(api_for, member, project):
    files = [upload("a.png", noise_png(seed=1)), upload("broken.png", b"nope"), upload("b.png", noise_png(seed=2))]
    response = api_for(member).post(
        reverse("api:image-list", kwargs={"project_id": project.pk}), {"files": files}, format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["failed"]) == (2, 1)
    assert [r["name"] for r in body["results"]] == ["a.png", "broken.png", "b.png"]
    assert body["results"][1] == {"name": "broken.png", "image": None, "error": NOT_AN_IMAGE.format(name="broken.png")}
    assert body["results"][0]["image"]["width"] == 32
    assert sorted(project.images.values_list("original_name", flat=True)) == ["a.png", "b.png"]


def test_upload_with_only_bad_files_is_400_and_stores_nothing(api_for, member, project):
    response = api_for(member).post(
        reverse("api:image-list", kwargs={"project_id": project.pk}),
        {"files": [upload("x.png", b"nope")]},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["created"] == 0
    assert not Image.objects.exists()


def test_upload_without_files_says_how(api_for, member, project):
    response = api_for(member).post(
        reverse("api:image-list", kwargs={"project_id": project.pk}), {}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Send the images as multipart form data in the field `files`."}


def test_list_filters_by_status_and_pages(api_for, member, project, make_image):
    labeled = [make_image(mask=[[1] * 32] * 24) for _ in range(3)]
    make_image()
    url = reverse("api:image-list", kwargs={"project_id": project.pk})
    body = api_for(member).get(url, {"status": "labeled", "page_size": 2}).json()
    assert body["count"] == 3
    assert [i["id"] for i in body["results"]] == [labeled[0].pk, labeled[1].pk]
    assert body["results"][0]["mask_version"] == 1 and body["results"][0]["mask_source"] == "human"
    second = api_for(member).get(body["next"]).json()
    assert [i["id"] for i in second["results"]] == [labeled[2].pk]
    both = api_for(member).get(url + "?status=labeled&status=unlabeled").json()
    assert both["count"] == 4


def test_list_refuses_unknown_status(api_for, member, project):
    response = api_for(member).get(reverse("api:image-list", kwargs={"project_id": project.pk}), {"status": "done"})
    assert response.status_code == 400
    assert "done" in response.json()["detail"]


def test_file_download_is_the_uploaded_bytes(api_for, member, project, make_image):
    image = make_image()
    response = api_for(member).get(reverse("api:image-file", kwargs={"project_id": project.pk, "image_id": image.pk}))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == noise_png(32, 24, 0)


def test_image_of_another_project_is_404(api_for, owner, outsider, project, make_image):
    from webapp.projects.services import ClassSpec, project_create

    other = project_create(owner=outsider, name="Other", classes=[ClassSpec("a")])
    image = make_image(target=other)
    response = api_for(owner).get(reverse("api:image-detail", kwargs={"project_id": project.pk, "image_id": image.pk}))
    assert response.status_code == 404
