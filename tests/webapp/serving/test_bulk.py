"""Bulk prediction: every image of the project predicted by the served model on the default
queue, with progress; predictions are stored apart from masks, which stay untouched."""

import io
import json
import time
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from PIL import Image as PILImage

from tests.webapp.serving.conftest import HEIGHT
from webapp.images.models import Mask
from webapp.serving import bulk
from webapp.serving.bulk import bulk_prediction_execute
from webapp.serving.models import BulkPrediction, JobStatus, Prediction
from webapp.serving.services import (
    BULK_INTERRUPTED,
    BULK_RUNNING,
    BULK_STARTED,
    ServingRefused,
    bulk_prediction_start,
)
from webapp.training.prediction import NO_ACTIVE_MODEL

HX = {"HX-Request": "true"}


def masks_state():
    return list(Mask.objects.order_by("pk").values_list("pk", "image_id", "version", "source", "file"))


def prediction_array(prediction: Prediction) -> np.ndarray:
    with prediction.file.open("rb") as handle:
        return np.array(PILImage.open(io.BytesIO(handle.read())))


def assert_two_regions(mask: np.ndarray, width: int):
    assert mask.shape == (HEIGHT, width)
    assert (mask[:, : width // 2 - 8] == 0).mean() > 0.9 and (mask[:, width // 2 + 8 :] == 2).mean() > 0.9


def start(project, owner, django_capture_on_commit_callbacks) -> BulkPrediction:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = bulk_prediction_start(project=project, user=owner)
    assert len(callbacks) == 1 and job.status == JobStatus.QUEUED
    return job


@pytest.mark.slow
def test_a_real_worker_predicts_every_image_and_leaves_masks_alone(
    project, owner, active_model, two_region_images, celery_worker, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = masks_state()
    job = bulk_prediction_start(project=project, user=owner)  # committed: the worker gets it

    deadline = timezone.now() + timedelta(seconds=120)
    while timezone.now() < deadline:
        job.refresh_from_db()
        if not job.active:
            break
        time.sleep(0.25)
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{celery_worker.output()[-3000:]}"
    assert (job.done, job.total, job.skipped) == (5, 5, 0)
    assert job.model_version == active_model and job.precision == "fp32"
    assert masks_state() == before
    for image in two_region_images:
        prediction = Prediction.objects.get(image=image)
        assert prediction.job == job and prediction.model_version == active_model
        assert 0 < prediction.mean_confidence <= 1
        assert_two_regions(prediction_array(prediction), image.width)
        image.refresh_from_db()
        assert image.current_mask.source == "human"


@pytest.mark.django_db
def test_a_second_job_replaces_the_predictions_and_their_files(
    project, owner, active_model, two_region_images, django_capture_on_commit_callbacks
):
    first = start(project, owner, django_capture_on_commit_callbacks)
    bulk_prediction_execute(job_id=first.pk)
    old = Prediction.objects.get(image=two_region_images[0])
    old_name = old.file.name
    second = start(project, owner, django_capture_on_commit_callbacks)
    bulk_prediction_execute(job_id=second.pk)
    new = Prediction.objects.get(image=two_region_images[0])
    assert new.pk == old.pk and new.job == second and new.file.name != old_name
    assert not new.file.storage.exists(old_name) and new.file.storage.exists(new.file.name)
    assert Prediction.objects.count() == 5
    bulk_prediction_execute(job_id=second.pk)  # a redelivered message does nothing
    assert Prediction.objects.get(image=two_region_images[0]).file.name == new.file.name


@pytest.mark.django_db
def test_an_unreadable_image_is_skipped_and_counted(
    project, owner, active_model, two_region_images, django_capture_on_commit_callbacks
):
    broken = two_region_images[1]
    with broken.pixels_file.open("wb") as handle:
        handle.write(b"not an image")
    job = start(project, owner, django_capture_on_commit_callbacks)
    bulk_prediction_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and (job.done, job.total, job.skipped) == (5, 5, 1)
    assert not Prediction.objects.filter(image=broken).exists() and Prediction.objects.count() == 4


@pytest.mark.django_db
def test_a_failure_fails_the_job_without_paths(
    project, owner, active_model, two_region_images, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("/secret/path")

    monkeypatch.setattr(bulk, "predict_pixels", broken)
    job = start(project, owner, django_capture_on_commit_callbacks)
    bulk_prediction_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == bulk.JOB_FAILED and job.finished_at


@pytest.mark.django_db
def test_starting_is_refused_without_an_active_model(project, owner):
    with pytest.raises(ServingRefused) as refused:
        bulk_prediction_start(project=project, user=owner)
    assert str(refused.value) == NO_ACTIVE_MODEL.format(project=project.name)


@pytest.mark.django_db
def test_one_job_at_a_time_and_a_silent_one_is_declared_interrupted(
    project, owner, active_model, django_capture_on_commit_callbacks
):
    job = start(project, owner, django_capture_on_commit_callbacks)
    with pytest.raises(ServingRefused) as refused:
        bulk_prediction_start(project=project, user=owner)
    assert str(refused.value) == BULK_RUNNING
    BulkPrediction.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=11)
    )
    start(project, owner, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == BULK_INTERRUPTED


@pytest.mark.django_db
def test_admin_starts_it_from_the_section_which_polls_and_shows_progress(
    client, owner, member, outsider, project, active_model, django_capture_on_commit_callbacks
):
    url = reverse("serving:bulk", args=[project.pk])
    for user, status in ((member, 403), (outsider, 404)):
        client.force_login(user)
        assert client.post(url).status_code == status
    assert not BulkPrediction.objects.exists()
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False):
        body = client.post(url, headers=HX).content.decode()
    assert escape(BULK_STARTED) in body and 'hx-trigger="every 2s"' in body
    BulkPrediction.objects.update(status=JobStatus.RUNNING, done=3, total=7)
    section = client.get(reverse("serving:section", args=[project.pk])).content.decode()
    assert "3 of 7 images" in section and '<progress value="3" max="7">' in section
    again = client.post(url, headers=HX).content.decode()
    assert escape(BULK_RUNNING) in again


@pytest.mark.django_db
def test_the_zip_export_can_include_the_predictions(
    api_for, member, project, owner, active_model, two_region_images, django_capture_on_commit_callbacks
):
    job = start(project, owner, django_capture_on_commit_callbacks)
    bulk_prediction_execute(job_id=job.pk)
    url = reverse("api:export", kwargs={"project_id": project.pk})
    response = api_for(member).get(url, {"include_predictions": "true"})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert len(manifest) == 5 and json.loads(archive.read("classes.json"))["predictions"] is True
    for entry in manifest:
        assert entry["prediction"].startswith("predictions/") and entry["mask"].startswith("masks/")
        assert (entry["prediction_model_version"], entry["prediction_precision"]) == (1, "fp32")
        mask = np.array(PILImage.open(io.BytesIO(archive.read(entry["prediction"]))))
        assert_two_regions(mask, entry["width"])
    plain = zipfile.ZipFile(io.BytesIO(b"".join(api_for(member).get(url).streaming_content)))
    assert not [name for name in plain.namelist() if name.startswith("predictions/")]
    assert "prediction" not in json.loads(plain.read("manifest.json"))[0]
