"""Superpixels per image: computed once after import (service, task, command), stored as a
lossless RGB PNG named by the image's checksum, and served to project members only; a GET
never computes them."""

import io
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image as PILImage

from ml.superpixels import decode_labels_rgb, superpixel_labels
from webapp.images import tasks
from webapp.images.models import Image
from webapp.images.services import image_import
from webapp.images.superpixels import (
    images_without_superpixels,
    superpixels_compute,
    superpixels_compute_missing,
    superpixels_read,
)
from webapp.images.views import SUPERPIXELS_CACHE, SUPERPIXELS_NOT_READY

WIDTH, HEIGHT = 96, 64
WORKER_TIMEOUT_S = 90


def picture(seed: int = 0) -> np.ndarray:
    """Two colours split by a slanted edge, with noise (distinct per seed)."""
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    left = (x < 30 + y // 2)[..., None]
    rgb = np.where(left, np.array([30, 80, 160]), np.array([230, 210, 40])).astype(np.int16)
    rgb += np.random.default_rng(seed).integers(-10, 11, rgb.shape, dtype=np.int16)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def add_image(project, owner, seed: int = 0) -> Image:
    return image_import(project=project, name=f"scene-{seed}.png", data=png(picture(seed)), uploaded_by=owner)


def url(image: Image) -> str:
    return reverse("images:superpixels", args=[image.project_id, image.id])


# ---------------------------------------------------------------- the service


def test_compute_stores_the_labels_as_a_full_size_png_named_by_checksum(db, project, owner):
    image = add_image(project, owner, seed=100)  # a picture no other test stores: its name is free
    assert superpixels_read(image) is None
    assert superpixels_compute(image=image) is True
    stored = Image.objects.get(pk=image.pk)
    assert stored.superpixels.name == f"projects/{project.id}/superpixels/{image.checksum[:2]}/{image.checksum}.png"
    labels = superpixels_read(stored)
    assert labels.dtype == np.int32 and labels.shape == (HEIGHT, WIDTH)
    assert np.array_equal(labels, superpixel_labels(picture(100)))  # lossless
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    with stored.superpixels.open("rb") as handle, PILImage.open(handle) as file:
        assert (file.format, file.mode, file.size) == ("PNG", "RGB", (WIDTH, HEIGHT))


def test_compute_is_idempotent(db, project, owner):
    image = add_image(project, owner)
    assert superpixels_compute(image=image) is True
    name = Image.objects.get(pk=image.pk).superpixels.name
    assert superpixels_compute(image=image) is False
    assert superpixels_compute(image=Image.objects.get(pk=image.pk)) is False
    assert Image.objects.get(pk=image.pk).superpixels.name == name


def test_a_row_whose_file_went_missing_is_computed_again(db, project, owner):
    image = add_image(project, owner, seed=3)
    superpixels_compute(image=image)
    image.superpixels.storage.delete(image.superpixels.name)
    assert superpixels_read(image) is None
    assert superpixels_compute(image=Image.objects.get(pk=image.pk)) is True
    assert np.array_equal(superpixels_read(Image.objects.get(pk=image.pk)), superpixel_labels(picture(3)))


def test_a_second_worker_that_loses_the_race_keeps_the_first_file_and_removes_its_own(
    db, project, owner, settings, media_files
):
    image = add_image(project, owner)
    stale = Image.objects.get(pk=image.pk)  # read before the other worker stored them
    before = media_files()
    assert superpixels_compute(image=image) is True
    assert superpixels_compute(image=stale) is False
    assert stale.superpixels.name == image.superpixels.name
    assert media_files() - before == {Path(settings.MEDIA_ROOT) / image.superpixels.name}


def test_compute_missing_does_every_image_once_and_skips_unreadable_files(db, project, owner, caplog):
    images = [add_image(project, owner, seed) for seed in range(3)]
    images[0].file.storage.delete(images[0].file.name)
    progress = []
    assert superpixels_compute_missing(project=project, on_progress=progress.append) == 2
    assert sum(progress) == 3
    assert "could not be read for its superpixels" in caplog.text
    assert list(images_without_superpixels(project=project)) == [images[0]]
    assert superpixels_compute_missing(project=project) == 0


def test_should_stop_ends_the_run(db, project, owner):
    add_image(project, owner)
    assert superpixels_compute_missing(project=project, should_stop=lambda: True) == 0
    assert images_without_superpixels(project=project).count() == 1


def test_command_computes_an_existing_project(db, project, owner, capsys):
    add_image(project, owner, 0)
    add_image(project, owner, 1)
    call_command("compute_superpixels", project=project.id)
    assert images_without_superpixels(project=project).count() == 0
    assert "Computed the superpixels of 2 images of Streets." in capsys.readouterr().out
    with pytest.raises(CommandError, match="No project with id 0"):
        call_command("compute_superpixels", project=0)


# ---------------------------------------------------------------- the endpoint


@pytest.fixture
def computed(db, project, owner) -> Image:
    image = add_image(project, owner)
    superpixels_compute(image=image)
    return Image.objects.get(pk=image.pk)


def test_member_gets_the_png_that_decodes_to_the_stored_labels(client, member, computed):
    client.force_login(member)
    response = client.get(url(computed))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == SUPERPIXELS_CACHE
    with PILImage.open(io.BytesIO(b"".join(response.streaming_content))) as file:
        served = decode_labels_rgb(np.asarray(file.convert("RGB")))
    assert np.array_equal(served, superpixels_read(computed))


def test_outsider_gets_404(client, outsider, computed):
    client.force_login(outsider)
    assert client.get(url(computed)).status_code == 404


def test_anonymous_is_sent_to_log_in(client, computed):
    response = client.get(url(computed))
    assert response.status_code == 302 and "login" in response["Location"]


def test_an_image_of_another_project_is_not_found(client, member, computed, project):
    client.force_login(member)
    other = reverse("images:superpixels", args=[project.id + 1000, computed.id])
    assert client.get(other).status_code == 404


def test_not_computed_yet_is_a_404_that_says_so_and_is_not_cached(db, client, member, project, owner):
    image = add_image(project, owner)
    client.force_login(member)
    response = client.get(url(image))
    assert response.status_code == 404
    assert response.content.decode() == SUPERPIXELS_NOT_READY
    assert response["Cache-Control"] == "no-store"


def test_a_get_computes_nothing_and_writes_nothing(db, client, member, project, owner, computed):
    pending = add_image(project, owner, seed=7)
    client.force_login(member)
    before = list(Image.objects.order_by("pk").values())
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url(pending)).status_code == 404
        assert client.get(url(computed)).status_code == 200
    assert list(Image.objects.order_by("pk").values()) == before
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_post_is_refused(client, member, computed):
    client.force_login(member)
    assert client.post(url(computed)).status_code == 405


# ---------------------------------------------------------------- enqueue on import, the worker


def test_a_burst_of_imports_queues_one_task_until_it_starts(
    db, project, owner, monkeypatch, django_capture_on_commit_callbacks
):
    key = tasks.SUPERPIXELS_PENDING_KEY.format(project_id=project.id)
    tasks._redis().delete(key)
    queued = []
    monkeypatch.setattr(tasks.image_superpixels_task, "delay", queued.append)
    monkeypatch.setattr(tasks.image_embeddings_task, "delay", lambda project_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        add_image(project, owner, 0)
        add_image(project, owner, 1)
    assert queued == [project.id]
    assert tasks.image_superpixels_task(project.id) == 2  # clears the flag, then computes
    assert images_without_superpixels(project=project).count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        add_image(project, owner, 2)
    assert queued == [project.id, project.id]
    tasks._redis().delete(key, tasks.PENDING_KEY.format(project_id=project.id))


def test_an_unreachable_broker_is_logged_not_raised(db, project, monkeypatch, caplog):
    def refuse():
        raise redis.ConnectionError("no broker")

    monkeypatch.setattr(tasks, "_redis", refuse)
    tasks.image_superpixels_enqueue(project_id=project.id)
    assert f"run `manage.py compute_superpixels --project {project.id}`" in caplog.text


@pytest.mark.slow
def test_upload_queues_superpixels_that_a_real_worker_computes(start_worker, client, project, member):
    tasks._redis().delete(tasks.SUPERPIXELS_PENDING_KEY.format(project_id=project.id))
    worker = start_worker("default")
    client.force_login(member)
    payload = {"files": [SimpleUploadedFile(f"scene-{seed}.png", png(picture(seed))) for seed in range(2)]}
    assert client.post(reverse("images:upload", args=[project.id]), payload).status_code == 200
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while images_without_superpixels(project=project).exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not images_without_superpixels(project=project).exists(), worker.output()
    assert "webapp.images.tasks.image_superpixels_task" in worker.output()
    image = Image.objects.filter(project=project).first()
    response = client.get(url(image))
    assert response.status_code == 200
    worker.kill()  # its work is done and acknowledged; a clean shutdown only costs seconds
