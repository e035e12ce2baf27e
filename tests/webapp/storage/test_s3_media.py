"""Images and masks on S3-compatible object storage (a real server: moto's, started by the tests):
uploads land in the bucket and nowhere on disk, members get the bytes through the app's views,
outsiders get 404, workers' local copies follow the content, and settings come from the env."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.fields.files import FieldFile
from django.urls import reverse

from tests.conftest import noise_png
from tests.webapp.storage.conftest import files_under
from webapp.images.models import Image
from webapp.images.services import mask_read
from webapp.training.files import content_addressed, local_path

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]


def test_an_upload_is_stored_in_the_bucket_and_not_under_media_root(s3, client, project, member, settings):
    client.force_login(member)
    data = noise_png(40, 30, seed=7)
    response = client.post(reverse("images:upload", args=[project.id]), {"files": [SimpleUploadedFile("a.png", data)]})
    assert response.status_code in (200, 302)

    image = Image.objects.get(project=project, original_name="a.png")
    assert s3.read(f"media/{image.file.name}") == data
    assert f"media/{image.thumbnail.name}" in s3.keys("media/")
    assert files_under(settings.MEDIA_ROOT) == []


def test_the_owner_gets_image_and_mask_bytes_through_the_views(s3, client, owner, make_image):
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[:, 16:] = 2
    image = make_image(mask=mask)
    client.force_login(owner)

    response = client.get(reverse("images:file", args=[image.project_id, image.id]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == s3.read(f"media/{image.file.name}")
    response = client.get(reverse("images:mask_file", args=[image.project_id, image.id, 1]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == s3.read(f"media/{image.current_mask.file.name}")


@pytest.mark.parametrize("kind", ["images:file", "images:thumbnail", "images:mask_file"])
def test_outsider_gets_404(s3, client, outsider, make_image, kind):
    image = make_image(mask=np.zeros((24, 32), dtype=np.uint8))
    client.force_login(outsider)
    args = [image.project_id, image.id, 1] if kind == "images:mask_file" else [image.project_id, image.id]
    assert client.get(reverse(kind, args=args)).status_code == 404


def test_no_url_of_a_stored_file_is_public(s3, make_image):
    """Nothing in the app hands out storage URLs; should something ask, the URL is signed and short-lived."""
    image = make_image()
    url = image.file.url
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url


def test_local_copy_follows_the_content_of_the_stored_file(s3, settings):
    """Workers read through local copies keyed by the object's ETag and size: a file rewritten
    under the same name is downloaded again, never served stale."""
    name = default_storage.save("cache-check/picture.png", ContentFile(noise_png(seed=1)))
    field = FieldFile(None, Image._meta.get_field("file"), name)

    first = Path(local_path(field))
    assert first.read_bytes() == noise_png(seed=1)
    assert first.is_relative_to(settings.SEGLOOP_FILE_CACHE)
    assert Path(local_path(field)) == first  # the same content: the same copy, not downloaded again

    default_storage.delete(name)
    assert default_storage.save(name, ContentFile(noise_png(seed=2))) == name
    second = Path(local_path(field))
    assert second != first and second.read_bytes() == noise_png(seed=2)


def test_an_images_cached_pixels_are_read_by_name_alone(s3, make_image):
    """An image is stored under the SHA-256 of its bytes, so once cached it needs no request to
    the storage (a pseudo-labelling pass then costs none): shown by deleting the object, which
    the cached copy outlives. A mask's name is not content-addressed: it is checked each time."""
    image = make_image(mask=np.ones((24, 32), dtype=np.uint8))
    assert content_addressed(image.file.name) and not content_addressed(image.current_mask.file.name)
    stored = s3.read(f"media/{image.file.name}")
    first = Path(local_path(image.file))
    s3.client.delete_object(Bucket=s3.name, Key=f"media/{image.file.name}")
    assert Path(local_path(image.file)) == first and first.read_bytes() == stored
    local_path(image.current_mask.file)
    s3.client.delete_object(Bucket=s3.name, Key=f"media/{image.current_mask.file.name}")
    with pytest.raises(FileNotFoundError):
        local_path(image.current_mask.file)


def test_a_workers_copy_of_a_mask_is_the_stored_object(s3, make_image):
    image = make_image(mask=np.ones((24, 32), dtype=np.uint8))
    stored = s3.read(f"media/{image.current_mask.file.name}")
    assert Path(local_path(image.current_mask.file)).read_bytes() == stored
    assert (mask_read(image.current_mask) == 1).all()


def _settings_from_env(extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEGLOOP_S3_", "AWS_"))}
    env.update(extra, DJANGO_SETTINGS_MODULE="webapp.settings")
    code = "import json, django; from django.conf import settings; print(json.dumps(settings.STORAGES, default=str))"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_settings_read_the_bucket_from_the_environment():
    storages = _settings_from_env(
        {
            "SEGLOOP_S3_BUCKET": "media-bucket",
            "SEGLOOP_S3_ENDPOINT_URL": "http://minio.internal:9000",
            "SEGLOOP_S3_REGION": "eu-west-1",
            "SEGLOOP_S3_PREFIX": "team-a/",
            "AWS_ACCESS_KEY_ID": "key",
            "AWS_SECRET_ACCESS_KEY": "secret",
        }
    )
    media, checkpoints = storages["default"], storages["checkpoints"]
    assert media["BACKEND"] == checkpoints["BACKEND"] == "storages.backends.s3.S3Storage"
    assert media["OPTIONS"]["bucket_name"] == "media-bucket"
    assert media["OPTIONS"]["endpoint_url"] == "http://minio.internal:9000"
    assert (media["OPTIONS"]["access_key"], media["OPTIONS"]["secret_key"]) == ("key", "secret")
    assert media["OPTIONS"]["default_acl"] == "private" and media["OPTIONS"]["querystring_auth"] is True
    assert media["OPTIONS"]["querystring_expire"] == 300
    assert (media["OPTIONS"]["location"], checkpoints["OPTIONS"]["location"]) == ("team-a/media", "team-a/models")


def test_without_a_bucket_the_media_stay_on_the_local_filesystem():
    storages = _settings_from_env({})
    assert storages == {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
