"""Reads for webhooks: a project's hooks with their latest deliveries, and the delivery log."""

from django.db.models import QuerySet

from webapp.projects.models import Project
from webapp.webhooks.models import Delivery, Webhook

RECENT_DELIVERIES = 5
LOG_LIMIT = 100


def webhooks_for_project(*, project: Project, recent: int = RECENT_DELIVERIES) -> list[Webhook]:
    """The project's webhooks, each with `.recent`: its latest deliveries, newest first (one
    small query per hook: a project has at most services.MAX_WEBHOOKS)."""
    hooks = list(Webhook.objects.filter(project=project).order_by("id"))
    for hook in hooks:
        hook.recent = list(hook.deliveries.order_by("-id")[:recent])  # type: ignore[attr-defined]
    return hooks


def deliveries_for_project(*, project: Project, webhook_id: int | None = None) -> QuerySet[Delivery]:
    """The project's delivery log (or one webhook's), newest first, at most LOG_LIMIT rows."""
    deliveries = Delivery.objects.filter(webhook__project=project).select_related("webhook")
    if webhook_id is not None:
        deliveries = deliveries.filter(webhook_id=webhook_id)
    return deliveries.order_by("-id")[:LOG_LIMIT]
