"""Review queue and training over the API: reviewers review, admins train and activate."""

import numpy as np
import pytest
from django.urls import reverse

from tests.webapp.api.conftest import png_of
from webapp.images.models import ImageStatus, MaskSource
from webapp.images.services import MaskScores, mask_save
from webapp.projects.access import ROLE_REQUIRED
from webapp.review.models import ReviewStatus
from webapp.review.services import review_item_create
from webapp.training.models import ModelVersion, RunStatus
from webapp.training.services import NO_LABELED_IMAGES

pytestmark = pytest.mark.django_db


def queue_item(image, score):
    mask = mask_save(
        image=image,
        base_version=image.mask_version,
        array=np.ones((24, 32), np.uint8),
        source=MaskSource.PSEUDO,
        status=ImageStatus.IN_REVIEW,
        scores=MaskScores(score, score, 0.1),
    )
    grey = png_of(np.zeros((24, 32), np.uint8))
    return review_item_create(
        image=image,
        mask=mask,
        run=None,
        score=score,
        scores={"mean_confidence": score, "confident_fraction": score, "disagreement": 0.1},
        confidence_png=grey,
        disagreement_png=grey,
    )


def url(name, project, **kwargs):
    return reverse(f"api:{name}", kwargs={"project_id": project.pk, **kwargs})


def test_next_gives_the_least_confident_item_and_accept_makes_it_a_human_mask(api_for, reviewer, project, make_image):
    queue_item(make_image(), 0.7)
    doubtful = queue_item(make_image(), 0.2)
    client = api_for(reviewer)
    body = client.post(url("review-next", project)).json()
    assert (body["id"], body["score"], body["status"]) == (doubtful.pk, 0.2, "pending")
    assert body["pseudo_mask_url"].endswith(f"/masks/{body['pseudo_mask_version']}/")
    accepted = client.post(url("review-accept", project, item_id=doubtful.pk), {"seconds": 4}, format="json")
    assert accepted.status_code == 200
    assert (accepted.json()["status"], accepted.json()["seconds_spent"]) == ("accepted", 4.0)
    doubtful.image.refresh_from_db()
    assert doubtful.image.current_mask.source == MaskSource.HUMAN and doubtful.image.status == ImageStatus.LABELED


def test_reject_sends_the_image_back_to_unlabeled_and_a_second_decision_is_409(
    api_for, reviewer, owner, project, make_image
):
    item = queue_item(make_image(), 0.3)
    response = api_for(reviewer).post(url("review-reject", project, item_id=item.pk), {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == ReviewStatus.REJECTED
    item.image.refresh_from_db()
    assert item.image.status == ImageStatus.UNLABELED and item.image.masks.count() == 1  # kept in history
    again = api_for(owner).post(url("review-accept", project, item_id=item.pk), {}, format="json")
    assert again.status_code == 409
    assert again.json() == {"detail": "This item was already rejected by reviewer."}


def test_empty_queue_is_204(api_for, reviewer, project):
    assert api_for(reviewer).post(url("review-next", project)).status_code == 204


def test_annotator_without_reviewer_role_gets_403_and_outsider_404(api_for, member, outsider, project, make_image):
    item = queue_item(make_image(), 0.3)
    for name, kwargs in (
        ("review-next", {}),
        ("review-accept", {"item_id": item.pk}),
        ("review-reject", {"item_id": item.pk}),
    ):
        response = api_for(member).post(url(name, project, **kwargs))
        assert response.status_code == 403
        assert response.json() == {"detail": ROLE_REQUIRED.format(role="reviewer")}
        assert api_for(outsider).post(url(name, project, **kwargs)).status_code == 404
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING


def test_admin_starts_a_run_sees_its_progress_and_cancels_it(api_for, owner, member, project, make_image):
    make_image(mask=np.zeros((24, 32), np.uint8))
    client = api_for(owner)
    started = client.post(url("run-list", project))
    assert started.status_code == 201, started.content
    run = started.json()
    assert (run["status"], run["trigger"], run["progress"]) == ("queued", "api", 0.0)
    again = client.post(url("run-list", project))
    assert again.status_code == 409
    assert f"Run {run['id']} is already queued" in again.json()["detail"]
    status = api_for(member).get(url("run-detail", project, run_id=run["id"]))
    assert status.status_code == 200 and status.json()["id"] == run["id"]
    assert [r["id"] for r in api_for(member).get(url("run-list", project)).json()] == [run["id"]]
    cancelled = client.post(url("run-cancel", project, run_id=run["id"]))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == RunStatus.CANCELLED


def test_start_without_labeled_images_is_409_with_the_reason(api_for, owner, project):
    response = api_for(owner).post(url("run-list", project))
    assert response.status_code == 409
    assert response.json() == {"detail": NO_LABELED_IMAGES}


def test_non_admin_member_cannot_start_cancel_or_activate(api_for, member, reviewer, project, make_image):
    make_image(mask=np.zeros((24, 32), np.uint8))
    version = ModelVersion.objects.create(project=project, number=1, student_path="x.pt")
    for user in (member, reviewer):
        client = api_for(user)
        for response in (
            client.post(url("run-list", project)),
            client.post(url("model-activate", project, version_id=version.pk)),
        ):
            assert response.status_code == 403
            assert response.json() == {"detail": ROLE_REQUIRED.format(role="admin")}
    assert not project.training_runs.exists()


def test_admin_activates_a_version_and_the_list_shows_it(api_for, owner, member, project):
    old = ModelVersion.objects.create(project=project, number=1, student_path="a.pt", is_active=True)
    new = ModelVersion.objects.create(project=project, number=2, student_path="b.pt")
    response = api_for(owner).post(url("model-activate", project, version_id=new.pk))
    assert response.status_code == 200 and response.json()["is_active"]
    listed = api_for(member).get(url("model-list", project)).json()
    assert [(v["number"], v["is_active"]) for v in listed] == [(2, True), (1, False)]
    old.refresh_from_db()
    assert not old.is_active
