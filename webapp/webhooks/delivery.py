"""Sending one delivery: POST the signed payload once, log the attempt, say when to retry.

The Celery task (tasks.webhook_deliver) is the only caller outside tests; it retries with the
countdown returned here.
"""

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.webhooks.models import Delivery, DeliveryStatus, Webhook
from webapp.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature
from webapp.webhooks.targets import TargetRefused, target_check

USER_AGENT = "segloop-webhooks/1"
ERROR_CHARS = 500  # Delivery.error's length
WEBHOOK_DISABLED = "The webhook was disabled; not retried."


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry_in: int | None  # seconds until the next attempt; None: no more attempts


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to an address the target rule refuses: report it, don't follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def backoff_seconds(attempt: int) -> int:
    """Wait after failed attempt number `attempt` (1-based): base * 2^(attempt-1), capped."""
    base, cap = settings.SEGLOOP_WEBHOOK_BACKOFF_SECONDS, settings.SEGLOOP_WEBHOOK_BACKOFF_MAX_SECONDS
    return int(min(cap, base * 2 ** (attempt - 1)))


def payload_body(payload: dict) -> bytes:
    """The exact bytes sent and signed: compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _post(hook: Webhook, delivery: Delivery) -> tuple[int | None, str]:
    """(HTTP status or None, error text) of one POST of the delivery's signed payload."""
    body = payload_body(delivery.payload)
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
    except urllib.error.HTTPError as error:  # 4xx, 5xx and (not followed) redirects
        return error.code, f"HTTP {error.code}"
    except TargetRefused as error:
        return None, str(error)[:ERROR_CHARS]
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, f"{type(error).__name__}: {getattr(error, 'reason', error)}"[:ERROR_CHARS]


def delivery_attempt(*, delivery_id: int) -> Attempt:
    """Send the delivery once and log the attempt in its row; say whether and when to try again.

    A 2xx answer delivers it; anything else (another status, a timeout, a refused target)
    is retried with backoff until SEGLOOP_WEBHOOK_MAX_ATTEMPTS attempts, then it fails; a
    disabled webhook's delivery fails at once. A delivery already done, or whose webhook was
    removed, is left alone (a redelivered task sends nothing twice)."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
            delivered = delivery is not None and delivery.status == DeliveryStatus.SUCCEEDED
            return Attempt(delivered=delivered, retry_in=None)
        hook = Webhook.objects.get(pk=delivery.webhook_id)
        if not hook.active:
            delivery.status, delivery.next_attempt_at, delivery.error = DeliveryStatus.FAILED, None, WEBHOOK_DISABLED
            delivery.save(update_fields=["status", "next_attempt_at", "error"])
            return Attempt(delivered=False, retry_in=None)
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    code, error = _post(hook, delivery)
    delivered = code is not None and 200 <= code < 300
    retry_in = None
    now = timezone.now()
    if delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
    elif delivery.attempts >= settings.SEGLOOP_WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        retry_in = backoff_seconds(delivery.attempts)
        delivery.status, delivery.next_attempt_at = DeliveryStatus.RETRYING, now + timedelta(seconds=retry_in)
    delivery.response_code, delivery.error = code, error
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "response_code", "error"])
    return Attempt(delivered=delivered, retry_in=retry_in)
