"""Bulk prediction over the API: admins start it (202, queued on the default queue), any
member reads the latest job's progress; a GET writes nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from webapp.api.views.bulk_predictions import NO_BULK_PREDICTION
from webapp.serving.bulk import bulk_prediction_execute
from webapp.serving.models import BulkPrediction, JobStatus
from webapp.serving.selectors import BULK_INTERRUPTED
from webapp.serving.services import BULK_RUNNING
from webapp.training.prediction import NO_ACTIVE_MODEL

pytestmark = pytest.mark.django_db


def bulk_url(project):
    return reverse("api:bulk-prediction", kwargs={"project_id": project.pk})


def test_outsider_gets_404_and_a_member_who_is_not_admin_403_and_nothing_is_queued(
    api_for, member, reviewer, outsider, project, active_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for user, status in ((member, 403), (reviewer, 403), (outsider, 404), (None, 401)):
            assert api_for(user).post(bulk_url(project)).status_code == status
    assert not callbacks and not BulkPrediction.objects.exists()
    assert api_for(outsider).get(bulk_url(project)).status_code == 404


def test_admin_start_is_202_with_the_job_and_queues_the_bulk_task(
    api_for, owner, project, active_model, published_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_for(owner).post(bulk_url(project))
    assert response.status_code == 202, response.content
    body = response.json()
    job = BulkPrediction.objects.get()
    assert body["id"] == job.pk and body["status"] == JobStatus.QUEUED and job.requested_by == owner
    assert (body["done"], body["total"], body["progress"], body["error"]) == (0, 0, 0.0, "")
    assert body["created_at"] and body["finished_at"] is None
    # The queued callback sends the bulk prediction of this job to the broker; its body, run
    # here as the worker would, finishes the job.
    assert len(callbacks) == 1 and not published_tasks
    callbacks[0]()
    assert published_tasks == [("webapp.serving.bulk_prediction", (job.pk,))]
    bulk_prediction_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.model_version == active_model


def test_a_second_start_while_one_is_under_way_is_409(
    api_for, owner, project, active_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        assert api_for(owner).post(bulk_url(project)).status_code == 202
        again = api_for(owner).post(bulk_url(project))
    assert again.status_code == 409 and again.json() == {"detail": BULK_RUNNING}
    assert BulkPrediction.objects.count() == 1


def test_start_without_an_active_model_is_409_with_the_reason(api_for, owner, project):
    response = api_for(owner).post(bulk_url(project))
    assert response.status_code == 409
    assert response.json() == {"detail": NO_ACTIVE_MODEL.format(project=project.name)}


def test_any_member_reads_the_latest_jobs_progress_and_404_before_the_first(
    api_for, owner, reviewer, project, active_model
):
    missing = api_for(reviewer).get(bulk_url(project))
    assert missing.status_code == 404 and missing.json() == {"detail": NO_BULK_PREDICTION}
    BulkPrediction.objects.create(project=project, status=JobStatus.SUCCEEDED)
    latest = BulkPrediction.objects.create(
        project=project, status=JobStatus.RUNNING, done=3, total=8, model_version=active_model, precision="fp32"
    )
    body = api_for(reviewer).get(bulk_url(project)).json()
    assert (body["id"], body["status"], body["done"], body["total"]) == (latest.pk, JobStatus.RUNNING, 3, 8)
    assert body["progress"] == 0.375 and (body["model_version"], body["precision"]) == (1, "fp32")


def test_a_silent_job_reads_as_interrupted_but_the_get_writes_nothing(api_for, member, project):
    job = BulkPrediction.objects.create(
        project=project, status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=11)
    )
    body = api_for(member).get(bulk_url(project)).json()
    assert body["status"] == JobStatus.FAILED and body["error"] == BULK_INTERRUPTED
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.error == ""


def test_the_schema_documents_both_operations(client):
    paths = client.get(reverse("api:schema") + "?format=json").json()["paths"]
    operations = paths["/api/projects/{project_id}/predictions/bulk/"]
    assert {"202", "409", "403", "404"} <= set(operations["post"]["responses"])
    assert {"200", "404"} <= set(operations["get"]["responses"])
