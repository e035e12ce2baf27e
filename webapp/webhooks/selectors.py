"""Reads for webhooks: a project's hooks with their latest deliveries."""

from webapp.projects.models import Project
from webapp.webhooks.models import Webhook

RECENT_DELIVERIES = 5


def webhooks_for_project(*, project: Project) -> list[Webhook]:
    """The project's webhooks, each with `.recent`: its latest deliveries, newest first (one
    small query per hook: a project has at most MAX_WEBHOOKS)."""
    hooks = list(Webhook.objects.filter(project=project).order_by("id"))
    for hook in hooks:
        hook.recent = list(hook.deliveries.order_by("-id")[:RECENT_DELIVERIES])
    return hooks
