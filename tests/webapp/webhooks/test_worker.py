"""End to end through a real Celery worker process (no eager mode): an event is emitted after
commit, the worker POSTs it to the local server, which answers 500 once; the task retries after
the backoff and the second attempt is delivered."""

import hashlib
import hmac
import json
import time

import pytest

from webapp.celery import app as celery_app
from webapp.training.models import RunStatus, RunTrigger, TrainingRun
from webapp.training.services import training_run_cancel
from webapp.webhooks.models import Delivery, DeliveryStatus, WebhookEvent
from webapp.webhooks.services import webhook_create
from webapp.webhooks.signing import SIGNATURE_HEADER, signature_valid

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float, worker, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{worker.output()[-4000:]}")


def test_a_cancelled_round_is_delivered_by_the_worker_after_one_retry(
    project, owner, receiver, start_worker, monkeypatch, settings
):
    # The worker reads its settings from the environment: 127.0.0.1 allowed, a 1 s backoff.
    monkeypatch.setenv("SEGLOOP_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("SEGLOOP_WEBHOOK_BACKOFF_SECONDS", "1")
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = True
    celery_app.control.purge()  # nothing left over from other tests on this run's broker
    worker = start_worker()
    hook = webhook_create(project=project, user=owner, url=receiver.url, events=[WebhookEvent.ROUND_ENDED])
    receiver.statuses = [500]
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.ADMIN, status=RunStatus.QUEUED)

    training_run_cancel(run=run, user=owner)  # queued: cancelled at once, round.ended after commit

    delivery = wait_for(
        lambda: Delivery.objects.filter(webhook=hook, status=DeliveryStatus.SUCCEEDED).first(),
        60,
        worker,
        "the delivery to succeed",
    )
    assert delivery.attempts == 2 and delivery.response_code == 200
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        assert signature_valid(secret=hook.secret, body=request.body, header=request.headers[SIGNATURE_HEADER])
        t, v1 = (part.split("=", 1)[1] for part in request.headers[SIGNATURE_HEADER].split(","))
        assert v1 == hmac.new(hook.secret.encode(), f"{t}.".encode() + request.body, hashlib.sha256).hexdigest()
    payload = json.loads(receiver.requests[1].body)
    assert payload["event"] == "round.ended" and payload["delivery"] == delivery.pk
    assert payload["data"]["run"] == run.pk and payload["data"]["status"] == "cancelled"
    assert "webapp.webhooks.tasks.webhook_deliver" in worker.output()
