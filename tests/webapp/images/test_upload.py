"""Upload through the page: every bad file is refused with its exact message and leaves nothing."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape

from tests.conftest import noise_png
from tests.webapp.images.conftest import png_claiming
from webapp.images.models import Image
from webapp.images.validation import (
    DUPLICATE,
    NOT_AN_IMAGE,
    TOO_LARGE_BYTES,
    TOO_MANY_PIXELS,
    TOO_MANY_PIXELS_UNKNOWN,
    TRUNCATED,
)
from webapp.images.views import NO_FILES

pytestmark = pytest.mark.django_db


def upload(client, project, *files, htmx=True):
    """POST (name, bytes) pairs as the page's multiple-file input does."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files]}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("images:upload", args=[project.id]), payload, headers=headers)


def test_upload_page_shows_multiple_file_input_and_progress_bar(client, project, member):
    client.force_login(member)
    page = client.get(reverse("images:upload", args=[project.id])).content.decode()
    assert 'type="file" name="files" multiple' in page and "webkitdirectory" in page
    # Progress is reported by the page's ES module (no inline script: the CSP forbids them).
    assert "<progress" in page and '<script type="module" src="/static/js/upload.js">' in page
    assert "htmx:xhr:progress" in (settings.BASE_DIR / "static/js/upload.js").read_text()


def test_member_uploads_several_files_and_the_broken_one_is_reported(client, project, member, media_files):
    client.force_login(member)
    response = upload(
        client, project, ("a.png", noise_png(seed=1)), ("broken.png", b"not an image"), ("b.png", noise_png(seed=2))
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert sorted(Image.objects.filter(project=project).values_list("original_name", flat=True)) == ["a.png", "b.png"]
    assert html.count('data-result="created"') == 2
    assert escape(NOT_AN_IMAGE.format(name="broken.png")) in html
    assert "2 created, 1 refused" in html
    assert "<html" not in html  # htmx gets the results fragment, not the page
    assert all(img.uploaded_by == member for img in Image.objects.filter(project=project))


def test_upload_without_htmx_renders_the_whole_page_with_results(client, project, member):
    client.force_login(member)
    html = upload(client, project, ("a.png", noise_png(seed=3)), htmx=False).content.decode()
    assert "<html" in html and "1 created, 0 refused" in html


def test_upload_with_no_files_says_so(client, project, member):
    client.force_login(member)
    response = client.post(reverse("images:upload", args=[project.id]), {}, headers={"HX-Request": "true"})
    assert escape(NO_FILES) in response.content.decode()
    assert not Image.objects.exists()


def truncated_png() -> bytes:
    data = noise_png(64, 64, seed=4)
    return data[: len(data) // 2]


BAD_FILES = {
    "not-an-image": (lambda settings: b"%PDF-1.4 hello", lambda name: NOT_AN_IMAGE.format(name=name)),
    "truncated": (lambda settings: truncated_png(), lambda name: TRUNCATED.format(name=name)),
    "bomb-over-our-limit": (
        lambda settings: setattr(settings, "SEGLOOP_MAX_IMAGE_PIXELS", 1_000_000) or png_claiming(5000, 4000),
        lambda name: TOO_MANY_PIXELS.format(name=name, width=5000, height=4000, limit=1_000_000),
    ),
    "bomb-over-pillows-limit": (
        lambda settings: png_claiming(60_000, 60_000),
        lambda name: TOO_MANY_PIXELS_UNKNOWN.format(name=name, limit=100_000_000),
    ),
    "over-size-limit": (
        lambda settings: setattr(settings, "SEGLOOP_MAX_UPLOAD_BYTES", 2048) or noise_png(64, 64, seed=5),
        lambda name: TOO_LARGE_BYTES.format(
            name=name, size_mb=len(noise_png(64, 64, seed=5)) / 2**20, limit_mb=2048 / 2**20
        ),
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_refused_with_its_message_and_leaves_nothing(case, client, project, member, settings, media_files):
    make_data, expected = BAD_FILES[case]
    data = make_data(settings)
    client.force_login(member)
    before = media_files()
    html = upload(client, project, ("bad.png", data)).content.decode()
    assert escape(expected("bad.png")) in html
    assert not Image.objects.exists()
    assert media_files() == before


def test_duplicate_is_refused_naming_the_first_copy_and_leaves_nothing(client, project, member, media_files):
    client.force_login(member)
    upload(client, project, ("first.png", noise_png(seed=6)))
    before = media_files()
    html = upload(client, project, ("again.png", noise_png(seed=6))).content.decode()
    assert escape(DUPLICATE.format(name="again.png", existing="first.png")) in html
    assert Image.objects.count() == 1
    assert media_files() == before


def test_same_file_twice_in_one_upload_creates_it_once(client, project, member):
    client.force_login(member)
    html = upload(client, project, ("x.png", noise_png(seed=7)), ("y.png", noise_png(seed=7))).content.decode()
    assert Image.objects.count() == 1
    assert escape(DUPLICATE.format(name="y.png", existing="x.png")) in html


def test_stored_file_takes_the_suffix_of_its_real_format(client, project, member):
    client.force_login(member)
    upload(client, project, ("photo.jpg", noise_png(seed=8)))  # a PNG under a JPEG name
    assert Image.objects.get().file.name.endswith(".png")


def test_reviewer_without_annotator_role_may_not_upload(client, project, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("images:upload", args=[project.id])).status_code == 403
    assert upload(client, project, ("a.png", noise_png(seed=9))).status_code == 403
    assert not Image.objects.exists()


def test_outsider_gets_404_on_upload_and_stores_nothing(client, project, outsider):
    client.force_login(outsider)
    assert client.get(reverse("images:upload", args=[project.id])).status_code == 404
    assert upload(client, project, ("a.png", noise_png(seed=10))).status_code == 404
    assert not Image.objects.exists()
