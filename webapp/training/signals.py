"""Mask post_save hooks, kept here rather than in images.services.mask_save so that the images
app needs no knowledge of training or review (and the editor's save path, owned elsewhere, is
covered without changes). They run after commit: post_save fires inside mask_save's
transaction, before the image's current mask and status are updated.
"""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from webapp.images.models import Mask, MaskSource


@receiver(post_save, sender=Mask, dispatch_uid="training_mask_saved")
def human_mask_saved(sender: type[Mask], instance: Mask, created: bool, raw: bool = False, **kwargs: object) -> None:
    # raw: loaddata (manage.py restore) writes rows as they were; nothing reacts to them.
    if raw or not created or instance.source != MaskSource.HUMAN or instance.is_conflict:
        return
    mask_id = instance.pk
    transaction.on_commit(lambda: _after_commit(mask_id))


def _after_commit(mask_id: int) -> None:
    from webapp.review.services import review_on_human_mask
    from webapp.training.services import training_maybe_auto_start

    mask = Mask.objects.select_related("image__project", "author").filter(pk=mask_id).first()
    if mask is None:
        return
    review_on_human_mask(mask=mask)
    training_maybe_auto_start(project=mask.image.project)
