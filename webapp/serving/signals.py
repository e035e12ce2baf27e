"""Serving's reaction to a newly served model version: while the project chooses int8, the
version's int8 check is queued at once, so int8 resumes when it passes instead of staying on
fp32 until an admin chooses int8 again."""

from django.dispatch import receiver

from webapp.serving.services import int8_check_follow_activation
from webapp.training.models import ModelVersion
from webapp.training.versions import model_version_activated


@receiver(model_version_activated, sender=ModelVersion, dispatch_uid="serving_model_version_activated")
def model_version_served(sender: type[ModelVersion], version: ModelVersion, **kwargs: object) -> None:
    int8_check_follow_activation(version=version)
