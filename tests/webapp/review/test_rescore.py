"""A newer model re-scores the queue, but never an item a reviewer holds."""

import numpy as np
import pytest

from webapp.images.models import Image, ImageStatus
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.services import review_item_next
from webapp.training.models import ModelVersion, RunTrigger, TrainingRun
from webapp.training.pseudo import images_to_pseudo_label, pseudo_label_store

pytestmark = pytest.mark.django_db


def _store(project, image, score):
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.PAGE, status="succeeded")
    version = ModelVersion.objects.create(project=project, run=run, number=run.pk, student_path="unused.pt")
    shape = (image.height, image.width)
    return pseudo_label_store(
        image=image,
        run=run,
        version=version,
        tau=0.9,
        scores={"mean_confidence": score, "confident_fraction": 0.8, "disagreement": 0.0},
        pred=np.full(shape, 2, np.uint8),
        confidence=np.full(shape, score, np.float32),
        disagreement=np.zeros(shape, bool),
    )


def test_held_items_are_left_out_and_free_items_are_rescored(project, reviewer, queue_items):
    held = review_item_next(project=project, user=reviewer)  # the least confident (0.1)
    free = [item for item in queue_items if item.pk != held.pk]

    listed = {image.pk for image in images_to_pseudo_label(project=project)}
    assert listed == {item.image_id for item in free}

    confident = _store(project, free[0].image, score=0.99)  # now above the threshold
    assert confident is not None
    assert not ReviewItem.objects.filter(pk=free[0].pk).exists()
    assert Image.objects.get(pk=free[0].image_id).status == ImageStatus.PSEUDO_LABELED

    doubtful = _store(project, free[1].image, score=0.05)  # still doubtful: queued anew
    requeued = ReviewItem.objects.get(image_id=free[1].image_id, status=ReviewStatus.PENDING)
    assert requeued.pk != free[1].pk and requeued.score == pytest.approx(0.05)
    assert requeued.pseudo_mask_id == doubtful.pk

    assert _store(project, held.image, score=0.99) is None  # the reviewer's item is untouched
    held.refresh_from_db()
    assert held.status == ReviewStatus.PENDING and held.leased_by_id == reviewer.pk
    assert Image.objects.get(pk=held.image_id).status == ImageStatus.IN_REVIEW
