"""Who may call what: anonymous 401, outsider 404, member without the role 403, as the pages."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls(project, make_image):
    image = make_image(mask=[[0] * 32] * 24)
    ids = {"project_id": project.pk}
    img = {**ids, "image_id": image.pk}
    return {
        "project": reverse("api:project-detail", kwargs=ids),
        "classes": reverse("api:class-list", kwargs=ids),
        "images": reverse("api:image-list", kwargs=ids),
        "image": reverse("api:image-detail", kwargs=img),
        "file": reverse("api:image-file", kwargs=img),
        "mask": reverse("api:image-mask", kwargs=img),
        "history": reverse("api:mask-history", kwargs=img),
        "version": reverse("api:mask-version", kwargs={**img, "version": 1}),
        "export": reverse("api:export", kwargs=ids),
        "coco": reverse("api:export-coco", kwargs=ids),
        "models": reverse("api:model-list", kwargs=ids),
    }


READS = ["project", "classes", "images", "image", "file", "mask", "history", "version", "export", "coco", "models"]


@pytest.mark.parametrize("name", READS)
def test_every_member_may_read(api_for, member, reviewer, owner, urls, name):
    for user in (owner, member, reviewer):
        assert api_for(user).get(urls[name]).status_code == 200, (user, name)


@pytest.mark.parametrize("name", READS)
def test_outsider_gets_404(api_for, outsider, urls, name):
    response = api_for(outsider).get(urls[name])
    assert response.status_code == 404
    assert response.json() == {"detail": "No such project."}


@pytest.mark.parametrize("name", READS)
def test_anonymous_gets_401(api_for, urls, name):
    response = api_for(None).get(urls[name])
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_reviewer_without_annotator_role_cannot_write_masks_or_upload(api_for, reviewer, urls):
    client = api_for(reviewer)
    mask = client.put(urls["mask"] + "?base_version=1", b"x", content_type="image/png")
    upload = client.post(urls["images"], {}, format="multipart")
    importing = client.post(urls["project"] + "import/", {}, format="multipart")
    for response in (mask, upload, importing):
        assert response.status_code == 403
        assert response.json() == {"detail": "This needs the annotator role in the project."}


def test_session_login_works_as_well_as_tokens(client, member, urls):
    client.force_login(member)
    assert client.get(urls["project"]).status_code == 200


def test_token_endpoint_gives_a_token_that_authenticates(api_for, member, urls):
    from rest_framework.test import APIClient

    client = APIClient()
    response = client.post(reverse("api:token"), {"username": "member", "password": "pw-member-123"})
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get(urls["project"]).status_code == 200


def test_token_endpoint_refuses_a_wrong_password(api_for, member):
    response = api_for(None).post(reverse("api:token"), {"username": "member", "password": "nope"})
    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize("with_token", [True, False], ids=["token", "anonymous"])
def test_unknown_path_answers_json_404_for_every_method(api_for, member, method, with_token):
    from webapp.api.views.not_found import NO_SUCH_ENDPOINT

    client = api_for(member if with_token else None)
    client.handler.enforce_csrf_checks = True  # as a real client meets it: no CSRF token, no cookie
    response = getattr(client, method)("/api/projects/1/no-such-thing/", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": NO_SUCH_ENDPOINT}
