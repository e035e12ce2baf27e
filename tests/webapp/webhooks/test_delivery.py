"""One delivery against a real HTTP server on 127.0.0.1: signed body, logged attempts,
exponential backoff, the attempt cap. delivery_attempt is what the Celery task runs."""

import hashlib
import hmac
import json
import time

import pytest
from django.utils import timezone

from webapp.webhooks.delivery import WEBHOOK_DISABLED, backoff_seconds, delivery_attempt
from webapp.webhooks.models import Delivery, DeliveryStatus, WebhookEvent
from webapp.webhooks.services import webhook_active_set, webhook_create, webhook_event_emit
from webapp.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER
from webapp.webhooks.targets import URL_PRIVATE

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_hook(project, owner, receiver, allow_private):
    return webhook_create(project=project, user=owner, url=receiver.url, events=[WebhookEvent.ROUND_ENDED])


def emit(project, data=None) -> Delivery:
    (delivery_id,) = webhook_event_emit(project_id=project.pk, event=WebhookEvent.ROUND_ENDED, data=data or {"run": 7})
    return Delivery.objects.get(pk=delivery_id)


def test_delivery_reaches_the_server_with_a_valid_hmac_signature(project, local_hook, receiver):
    delivery = emit(project, {"run": 7, "status": "succeeded"})
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt.delivered and attempt.retry_in is None
    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[EVENT_HEADER] == "round.ended"
    assert request.headers[DELIVERY_HEADER] == str(delivery.pk)
    # The receiver's check, by hand: t=<unix seconds>,v1=HMAC_SHA256(secret, "<t>." + raw body).
    parts = dict(item.split("=", 1) for item in request.headers[SIGNATURE_HEADER].split(","))
    assert abs(time.time() - int(parts["t"])) < 60
    expected = hmac.new(local_hook.secret.encode(), f"{parts['t']}.".encode() + request.body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())
    payload = json.loads(request.body)
    assert payload == {
        "event": "round.ended",
        "delivery": delivery.pk,
        "project": project.pk,
        "created_at": delivery.created_at.isoformat(),
        "data": {"run": 7, "status": "succeeded"},
    }
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None


def test_a_500_is_retried_with_backoff_and_the_next_attempt_delivers(project, local_hook, receiver, settings):
    settings.SEGLOOP_WEBHOOK_BACKOFF_SECONDS = 30
    receiver.statuses = [500]
    delivery = emit(project)
    before = timezone.now()
    first = delivery_attempt(delivery_id=delivery.pk)
    assert not first.delivered and first.retry_in == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.error) == (
        DeliveryStatus.RETRYING,
        1,
        500,
        "HTTP 500",
    )
    assert 29 <= (delivery.next_attempt_at - before).total_seconds() <= 31
    second = delivery_attempt(delivery_id=delivery.pk)
    assert second.delivered and second.retry_in is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.error) == (
        DeliveryStatus.SUCCEEDED,
        2,
        200,
        "",
    )
    assert len(receiver.requests) == 2
    # Each attempt is signed afresh over the same body.
    assert receiver.requests[0].body == receiver.requests[1].body


def test_backoff_doubles_per_attempt_up_to_the_cap(settings):
    settings.SEGLOOP_WEBHOOK_BACKOFF_SECONDS = 30
    settings.SEGLOOP_WEBHOOK_BACKOFF_MAX_SECONDS = 200
    assert [backoff_seconds(n) for n in range(1, 6)] == [30, 60, 120, 200, 200]


def test_after_the_last_attempt_the_delivery_fails(project, local_hook, receiver, settings):
    settings.SEGLOOP_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500, 502, 404]
    delivery = emit(project)
    retries = [delivery_attempt(delivery_id=delivery.pk).retry_in for _ in range(3)]
    assert retries[:2] == [backoff_seconds(1), backoff_seconds(2)] and retries[2] is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.FAILED, 3, 404)
    # A finished delivery is never sent again (a redelivered task does nothing).
    assert delivery_attempt(delivery_id=delivery.pk).retry_in is None
    assert len(receiver.requests) == 3


def test_an_unreachable_server_is_logged_and_retried(project, owner, allow_private):
    hook = webhook_create(project=project, user=owner, url="http://127.0.0.1:9/hook", events=["round.ended"])
    delivery = emit(project)
    assert delivery.webhook_id == hook.pk
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert attempt.retry_in is not None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.response_code is None
    assert delivery.error.startswith("URLError")


def test_a_redirect_is_not_followed(project, local_hook, receiver):
    receiver.statuses = [302]
    delivery = emit(project)
    assert not delivery_attempt(delivery_id=delivery.pk).delivered
    delivery.refresh_from_db()
    assert delivery.response_code == 302 and delivery.status == DeliveryStatus.RETRYING
    assert len(receiver.requests) == 1


def test_a_target_that_became_private_is_refused_at_delivery(project, local_hook, receiver, settings):
    delivery = emit(project)
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = False
    assert not delivery_attempt(delivery_id=delivery.pk).delivered
    delivery.refresh_from_db()
    assert delivery.error == URL_PRIVATE.format(address="127.0.0.1")
    assert receiver.requests == []


def test_a_disabled_webhooks_pending_delivery_fails_without_sending(project, owner, local_hook, receiver):
    delivery = emit(project)
    webhook_active_set(webhook=local_hook, user=owner, active=False)
    assert not delivery_attempt(delivery_id=delivery.pk).delivered
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.FAILED, 0, WEBHOOK_DISABLED)
    assert receiver.requests == []


def test_a_removed_webhooks_delivery_is_left_alone(project, owner, local_hook, receiver):
    delivery = emit(project)
    local_hook.delete()
    attempt = delivery_attempt(delivery_id=delivery.pk)
    assert not attempt.delivered and attempt.retry_in is None
    assert receiver.requests == []
