"""Review queue services: order, leases, decisions, the corrected hook, counts."""

import threading
from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.images.services import mask_read, mask_save
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.selectors import review_counts
from webapp.review.services import (
    ALREADY_DECIDED,
    IMAGE_CHANGED,
    LEASED_TO_OTHER,
    REVIEWERS_ONLY,
    ReviewRefused,
    review_item_accept,
    review_item_next,
    review_item_reject,
)


@pytest.mark.django_db
def test_next_gives_the_least_confident_item_and_keeps_it_for_the_same_reviewer(queue_items, reviewer):
    item = review_item_next(project=queue_items[0].project, user=reviewer)
    assert item.score == 0.1 and item.leased_by == reviewer and item.lease_expires_at > timezone.now()
    assert review_item_next(project=item.project, user=reviewer).pk == item.pk


@pytest.mark.django_db
def test_two_reviewers_get_different_items_and_an_expired_lease_is_free_again(queue_items, reviewer, owner):
    project = queue_items[0].project
    first = review_item_next(project=project, user=reviewer)
    second = review_item_next(project=project, user=owner)
    assert (first.score, second.score) == (0.1, 0.2)
    ReviewItem.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert review_item_next(project=project, user=owner).pk in (first.pk, second.pk)


@pytest.mark.django_db(transaction=True)
def test_concurrent_reviewers_never_get_the_same_item(queue_items, reviewer, owner):
    project = queue_items[0].project
    barrier = threading.Barrier(2)
    got = {}

    def ask(user):
        try:
            barrier.wait()
            got[user.username] = review_item_next(project=project, user=user).pk
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(user,)) for user in (reviewer, owner)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 2 and got["reviewer"] != got["owner"]
    assert ReviewItem.objects.filter(leased_by__isnull=False).count() == 2


@pytest.mark.django_db
def test_annotators_without_the_reviewer_role_cannot_review(queue_items, member):
    with pytest.raises(PermissionDenied, match=REVIEWERS_ONLY):
        review_item_next(project=queue_items[0].project, user=member)
    with pytest.raises(PermissionDenied):
        review_item_accept(item=queue_items[0], user=member)


@pytest.mark.django_db
def test_accept_turns_the_pseudo_label_into_the_reviewers_human_mask(queue_items, reviewer):
    item = review_item_next(project=queue_items[0].project, user=reviewer)
    review_item_accept(item=item, user=reviewer, seconds=7.5)
    image = Image.objects.select_related("current_mask").get(pk=item.image_id)
    assert image.status == ImageStatus.LABELED
    assert image.current_mask.source == MaskSource.HUMAN and image.current_mask.author == reviewer
    assert (mask_read(image.current_mask) == mask_read(item.pseudo_mask)).all()
    assert (item.status, item.reviewed_by, item.seconds_spent, item.leased_by) == (
        ReviewStatus.ACCEPTED,
        reviewer,
        7.5,
        None,
    )
    with pytest.raises(ReviewRefused) as refused:
        review_item_reject(item=item, user=reviewer)
    assert str(refused.value) == ALREADY_DECIDED.format(status="accepted", who="reviewer")


@pytest.mark.django_db
@pytest.mark.parametrize("sent", [float("inf"), float("nan"), 1e300])
def test_a_broken_client_timer_is_bounded(queue_items, reviewer, sent):
    from webapp.review.services import MAX_DECISION_SECONDS

    item = review_item_next(project=queue_items[0].project, user=reviewer)
    spent = review_item_reject(item=item, user=reviewer, seconds=sent).seconds_spent
    assert 0 <= spent <= MAX_DECISION_SECONDS


@pytest.mark.django_db
def test_seconds_default_to_the_time_since_the_lease_began(queue_items, reviewer):
    item = review_item_next(project=queue_items[0].project, user=reviewer)
    ReviewItem.objects.filter(pk=item.pk).update(lease_expires_at=item.lease_expires_at - timedelta(seconds=30))
    item.refresh_from_db()
    assert 29 <= review_item_reject(item=item, user=reviewer).seconds_spent <= 40


@pytest.mark.django_db
def test_reject_sends_the_image_back_to_unlabeled_and_keeps_the_pseudo_mask_in_history(queue_items, reviewer):
    item = queue_items[1]
    review_item_reject(item=item, user=reviewer)
    image = Image.objects.get(pk=item.image_id)
    assert image.status == ImageStatus.UNLABELED and image.current_mask is None
    assert image.masks.filter(pk=item.pseudo_mask_id).exists()


@pytest.mark.django_db
def test_an_item_leased_to_someone_else_cannot_be_decided(queue_items, reviewer, owner):
    item = review_item_next(project=queue_items[0].project, user=reviewer)
    with pytest.raises(ReviewRefused) as refused:
        review_item_accept(item=item, user=owner)
    assert str(refused.value) == LEASED_TO_OTHER.format(who="reviewer")
    item.refresh_from_db()
    assert item.status == ReviewStatus.PENDING


@pytest.mark.django_db
def test_human_mask_from_the_leasing_reviewer_marks_the_item_corrected(
    queue_items, reviewer, django_capture_on_commit_callbacks
):
    item = review_item_next(project=queue_items[0].project, user=reviewer)
    image = item.image
    with django_capture_on_commit_callbacks(execute=True):
        mask_save(
            image=image,
            base_version=image.mask_version,
            array=np.zeros((12, 16), np.uint8),
            author=reviewer,
            editing_seconds=12.0,
        )
    item.refresh_from_db()
    assert (item.status, item.reviewed_by, item.seconds_spent) == (ReviewStatus.CORRECTED, reviewer, 12.0)
    # The pseudo-label is stale now: accepting it would overwrite the human mask.
    other = queue_items[0]
    other_image = other.image
    mask_save(
        image=other_image, base_version=other_image.mask_version, array=np.zeros((12, 16), np.uint8), author=reviewer
    )
    with pytest.raises(ReviewRefused) as refused:
        review_item_accept(item=other, user=reviewer)
    assert str(refused.value) == IMAGE_CHANGED.format(current=2, pseudo=1)


@pytest.mark.django_db
def test_counts_by_decision(queue_items, reviewer):
    review_item_accept(item=queue_items[0], user=reviewer, seconds=2)
    review_item_reject(item=queue_items[1], user=reviewer, seconds=4)
    counts = review_counts(project=queue_items[0].project)
    assert {k: counts[k] for k in ("pending", "accepted", "corrected", "rejected", "reviewed")} == {
        "pending": 1,
        "accepted": 1,
        "corrected": 0,
        "rejected": 1,
        "reviewed": 2,
    }
    assert counts["avg_seconds"] == 3
