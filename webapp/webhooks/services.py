"""Writes for webhooks: register, change, remove; emit an event; attempt a delivery.

An event creates one Delivery per active webhook of the project that asked for it, and
queues webhook_deliver for each after commit. Emitters call webhook_event_emit from
transaction.on_commit, so a rolled-back change sends nothing.
"""

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from webapp.projects.access import user_has_role
from webapp.projects.models import Project, Role
from webapp.webhooks.models import Delivery, DeliveryStatus, Webhook, WebhookEvent
from webapp.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature
from webapp.webhooks.targets import TargetRefused, target_check

ADMINS_ONLY = "Only project admins can manage webhooks."
EVENTS_REQUIRED = "Choose at least one event."
EVENT_UNKNOWN = "Unknown event {event}; the events are: {valid}."
TOO_MANY = "A project has at most {limit} webhooks."
MAX_WEBHOOKS = 20
USER_AGENT = "segloop-webhooks/1"


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
    _require_admin(project=project, user=user)
    url, events = _checked(url, events)
    Project.objects.select_for_update().filter(pk=project.pk).first()  # counts below hold
    if Webhook.objects.filter(project=project).count() >= MAX_WEBHOOKS:
        raise WebhookRefused(TOO_MANY.format(limit=MAX_WEBHOOKS), field="url")
    return Webhook.objects.create(project=project, url=url, events=events, created_by=user)


@transaction.atomic
def webhook_update(*, webhook: Webhook, user, url: str, events: list[str], active: bool) -> Webhook:
    _require_admin(project=webhook.project, user=user)
    url, events = _checked(url, events)
    webhook.url, webhook.events, webhook.active = url, events, active
    webhook.save(update_fields=["url", "events", "active"])
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, user) -> None:
    """Remove the hook and its delivery log (queued deliveries find no row and stop)."""
    _require_admin(project=webhook.project, user=user)
    webhook.delete()


# ------------------------------------------------------------------ events


def webhook_event_emit(*, project_id: int, event: str, data: dict) -> list[int]:
    """Log and queue a delivery of `event` to each active webhook of the project that asked
    for it; returns the delivery ids. Call it after commit (transaction.on_commit)."""
    # Here, not at the top: tasks imports this module (the task calls delivery_attempt).
    from webapp.webhooks.tasks import webhook_deliver

    if event not in WebhookEvent.values:
        raise ValueError(EVENT_UNKNOWN.format(event=event, valid=", ".join(WebhookEvent.values)))
    hooks = [h for h in Webhook.objects.filter(project_id=project_id, active=True) if event in h.events]
    ids = []
    with transaction.atomic():
        for hook in hooks:
            delivery = Delivery.objects.create(webhook=hook, event=event, payload={})
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


def webhook_event_on_commit(*, project_id: int, event: str, data: dict) -> None:
    """The one-line call for emitters: emit `event` once the current transaction commits."""
    transaction.on_commit(lambda: webhook_event_emit(project_id=project_id, event=event, data=data))


# ------------------------------------------------------------------ delivering


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry_in: float | None  # seconds until the next attempt; None: no more attempts


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to an address the target rule refuses: report it, don't follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def backoff_seconds(attempt: int) -> int:
    """Wait after failed attempt number `attempt` (1-based): base * 2^(attempt-1), capped."""
    return min(
        settings.SEGLOOP_WEBHOOK_BACKOFF_MAX_SECONDS, settings.SEGLOOP_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)
    )


def _post(hook: Webhook, delivery: Delivery) -> tuple[int | None, str]:
    """(HTTP status or None, error text) of one POST of the delivery's signed payload."""
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(secret=hook.secret, body=body, timestamp=int(time.time())),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
    }
    try:
        target_check(hook.url)  # again: the name may resolve elsewhere since registration
        request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
        with _OPENER.open(request, timeout=settings.SEGLOOP_WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except TargetRefused as error:
        return None, str(error)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, f"{type(error).__name__}: {getattr(error, 'reason', error)}"[:500]


def delivery_attempt(*, delivery_id: int) -> Attempt:
    """Send the delivery once and log the attempt; say whether and when to try again.

    A 2xx answer delivers it; anything else (another status, a timeout, a refused target)
    is retried with backoff until SEGLOOP_WEBHOOK_MAX_ATTEMPTS attempts, then it fails.
    A delivery already done, or whose webhook was removed, is left alone."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("webhook").filter(pk=delivery_id).first()
        if delivery is None or delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
            return Attempt(
                delivered=delivery is not None and delivery.status == DeliveryStatus.SUCCEEDED, retry_in=None
            )
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    code, error = _post(delivery.webhook, delivery)
    delivered = code is not None and 200 <= code < 300
    retry_in = None
    if delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.SUCCEEDED,
            timezone.now(),
            None,
        )
    elif delivery.attempts >= settings.SEGLOOP_WEBHOOK_MAX_ATTEMPTS or not delivery.webhook.active:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        retry_in = backoff_seconds(delivery.attempts)
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
    delivery.response_code, delivery.error = code, error
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "response_code", "error"])
    return Attempt(delivered=delivered, retry_in=retry_in)
