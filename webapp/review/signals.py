"""Review's reaction to a saved mask: a human mask answers the image's pending review item
(review_on_human_mask). Registered in ReviewConfig.ready, so the images app needs no knowledge
of review and every save path (the editor, the API, a reviewer's region review) is covered.
It runs after commit: post_save fires inside mask_save's transaction, before the image's
current mask and status are updated.
"""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from webapp.images.models import Mask, MaskSource
from webapp.review.services import review_on_human_mask


@receiver(post_save, sender=Mask, dispatch_uid="review_mask_saved")
def human_mask_saved(sender: type[Mask], instance: Mask, created: bool, raw: bool = False, **kwargs: object) -> None:
    # raw: loaddata (manage.py restore) writes rows as they were; nothing reacts to them.
    if raw or not created or instance.source != MaskSource.HUMAN or instance.is_conflict:
        return
    mask_id = instance.pk
    transaction.on_commit(lambda: _after_commit(mask_id))


def _after_commit(mask_id: int) -> None:
    mask = Mask.objects.select_related("image__project", "author").filter(pk=mask_id).first()
    if mask is not None:
        review_on_human_mask(mask=mask)
