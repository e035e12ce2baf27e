"""A project's webhooks and the log of their deliveries."""

import secrets

from django.conf import settings
from django.db import models

from webapp.projects.models import Project


class WebhookEvent(models.TextChoices):
    ROUND_ENDED = "round.ended", "A training round ended (finished, failed or cancelled)"
    MODEL_ACTIVATED = "model.activated", "A model version was activated"
    REVIEW_QUEUE_EMPTIED = "review.queue_emptied", "A review decision left the queue empty"


def new_secret() -> str:
    return secrets.token_hex(32)


class Webhook(models.Model):
    """A URL that receives the project's events as signed JSON (see docs/api.md, Webhooks)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    # The HMAC-SHA256 key of the X-Segloop-Signature header; shown to the project's admins.
    secret = models.CharField(max_length=64, default=new_secret)
    events = models.JSONField(default=list, help_text="WebhookEvent values this URL receives.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event sent to one webhook: every attempt updates the row."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["webhook", "-id"], name="delivery_webhook_latest")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.status})"
