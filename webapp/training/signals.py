"""Training's reaction to a saved mask: a human mask may start an automatic round
(training_maybe_auto_start, when the project asks for one after N new human masks). Kept here
rather than in images.services.mask_save so that the images app needs no knowledge of
training; review registers its own hook (webapp/review/signals.py). It runs after commit:
post_save fires inside mask_save's transaction, before the image's current mask and status
are updated.
"""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from webapp.images.models import Mask, MaskSource
from webapp.training.services import training_maybe_auto_start


@receiver(post_save, sender=Mask, dispatch_uid="training_mask_saved")
def human_mask_saved(sender: type[Mask], instance: Mask, created: bool, raw: bool = False, **kwargs: object) -> None:
    # raw: loaddata (manage.py restore) writes rows as they were; nothing reacts to them.
    if raw or not created or instance.source != MaskSource.HUMAN or instance.is_conflict:
        return
    mask_id = instance.pk
    transaction.on_commit(lambda: _after_commit(mask_id))


def _after_commit(mask_id: int) -> None:
    mask = Mask.objects.select_related("image__project").filter(pk=mask_id).first()
    if mask is not None:
        training_maybe_auto_start(project=mask.image.project)
