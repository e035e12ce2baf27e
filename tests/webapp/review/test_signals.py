"""Review's own mask hook (webapp/review/signals.py, registered in ReviewConfig.ready)."""

import pytest
from django.db.models.signals import post_save

from webapp.images.models import Mask, MaskSource
from webapp.review import signals


@pytest.mark.django_db
def test_a_human_mask_schedules_reviews_hook_after_commit_and_a_raw_one_does_not(
    queue_items, django_capture_on_commit_callbacks
):
    mask = queue_items[0].pseudo_mask
    mask.source = MaskSource.HUMAN  # in memory only: the signal is sent by hand
    with django_capture_on_commit_callbacks() as raw_callbacks:
        post_save.send(sender=Mask, instance=mask, created=True, raw=True)  # restore's loaddata
    with django_capture_on_commit_callbacks() as callbacks:
        signals.human_mask_saved(sender=Mask, instance=mask, created=True)
    assert raw_callbacks == [] and len(callbacks) == 1


def test_review_registers_its_hook_in_its_own_app():
    # Django keys a receiver connected with a dispatch_uid by (dispatch_uid, sender id).
    assert ("review_mask_saved", id(Mask)) in [entry[0] for entry in post_save.receivers]
