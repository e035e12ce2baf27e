"""Writes for webhooks: register, change, remove; emit an event.

An event creates one Delivery per active webhook of the project that asked for it, and
queues webhook_deliver for each after commit. Emitters call webhook_event_on_commit, so a
rolled-back change sends nothing and a webhook problem never breaks the emitter's work.
Sending and retrying: webapp.webhooks.delivery.
"""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from webapp.projects.access import user_has_role
from webapp.projects.models import Project, Role
from webapp.webhooks.models import Delivery, Webhook, WebhookEvent, new_secret
from webapp.webhooks.targets import TargetRefused, target_check
from webapp.webhooks.tasks import webhook_deliver

ADMINS_ONLY = "Only project admins can manage webhooks."
EVENTS_REQUIRED = "Choose at least one event."
EVENT_UNKNOWN = "Unknown event {event}; the events are: {valid}."
TOO_MANY = "A project has at most {limit} webhooks."
MAX_WEBHOOKS = 20


class WebhookRefused(ValueError):
    """Bad input for a webhook; the message is for people, `field` names it. Nothing changed."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def _require_admin(*, project: Project, user) -> None:
    if not user_has_role(user=user, project=project, role=Role.ADMIN):
        raise PermissionDenied(ADMINS_ONLY)


def _checked(url: str, events: list[str]) -> tuple[str, list[str]]:
    try:
        target_check(url)
    except TargetRefused as error:
        raise WebhookRefused(str(error), field="url") from error
    if not events:
        raise WebhookRefused(EVENTS_REQUIRED, field="events")
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise WebhookRefused(
            EVENT_UNKNOWN.format(event=unknown[0], valid=", ".join(WebhookEvent.values)), field="events"
        )
    return url, sorted(set(events))


@transaction.atomic
def webhook_create(*, project: Project, user, url: str, events: list[str]) -> Webhook:
    """Register a URL with a new random secret (the HMAC key; shown to the project's admins)."""
    _require_admin(project=project, user=user)
    url, events = _checked(url, events)
    Project.objects.select_for_update().filter(pk=project.pk).first()  # the count below holds
    if Webhook.objects.filter(project=project).count() >= MAX_WEBHOOKS:
        raise WebhookRefused(TOO_MANY.format(limit=MAX_WEBHOOKS), field="url")
    return Webhook.objects.create(project=project, url=url, events=events, created_by=user)


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    user,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> Webhook:
    """Change what is given (None: keep); `rotate_secret` draws a new secret."""
    _require_admin(project=webhook.project, user=user)
    url, events = _checked(webhook.url if url is None else url, webhook.events if events is None else events)
    webhook.url, webhook.events = url, events
    if active is not None:
        webhook.active = active
    if rotate_secret:
        webhook.secret = new_secret()
    webhook.save(update_fields=["url", "events", "active", "secret"])
    return webhook


@transaction.atomic
def webhook_active_set(*, webhook: Webhook, user, active: bool) -> Webhook:
    """Enable or disable; a disabled hook gets no new deliveries and its pending ones fail."""
    _require_admin(project=webhook.project, user=user)
    webhook.active = active
    webhook.save(update_fields=["active"])
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, user) -> None:
    """Remove the hook and its delivery log (queued deliveries find no row and stop)."""
    _require_admin(project=webhook.project, user=user)
    webhook.delete()


# ------------------------------------------------------------------ events


def webhook_event_emit(*, project_id: int, event: str, data: dict) -> list[int]:
    """Log and queue a delivery of `event` to each active webhook of the project that asked
    for it; returns the delivery ids. The payload is
    {"event", "delivery", "project", "created_at", "data"}; deliveries are queued after commit."""
    if event not in WebhookEvent.values:
        raise ValueError(EVENT_UNKNOWN.format(event=event, valid=", ".join(WebhookEvent.values)))
    hooks = [h for h in Webhook.objects.filter(project_id=project_id, active=True) if event in h.events]
    ids = []
    with transaction.atomic():
        for hook in hooks:
            delivery = Delivery.objects.create(webhook=hook, event=event, payload={}, next_attempt_at=timezone.now())
            delivery.payload = {
                "event": event,
                "delivery": delivery.pk,
                "project": project_id,
                "created_at": delivery.created_at.isoformat(),
                "data": data,
            }
            delivery.save(update_fields=["payload"])
            ids.append(delivery.pk)
            webhook_deliver.delay_on_commit(delivery.pk)
    return ids


def webhook_event_on_commit(*, project_id: int, event: str, data: dict, when: Callable[[], bool] | None = None) -> None:
    """The one call for emitters: emit `event` once the current transaction commits (at once
    outside one); `when`, if given, is asked after the commit whether the event happened (what
    other transactions committed meanwhile counts). Robust: a failure is logged by Django,
    never raised into the emitter's work."""

    def emit() -> None:
        if when is None or when():
            webhook_event_emit(project_id=project_id, event=event, data=data)

    transaction.on_commit(emit, robust=True)
