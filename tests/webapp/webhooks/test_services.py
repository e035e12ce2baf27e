"""Registering, changing and removing webhooks: admins only, checked URLs and events."""

import pytest
from django.core.exceptions import PermissionDenied

from tests.webapp.webhooks.conftest import PUBLIC_URL
from webapp.webhooks.models import Webhook, WebhookEvent
from webapp.webhooks.services import (
    ADMINS_ONLY,
    EVENT_UNKNOWN,
    EVENTS_REQUIRED,
    MAX_WEBHOOKS,
    TOO_MANY,
    WebhookRefused,
    webhook_active_set,
    webhook_create,
    webhook_delete,
    webhook_event_emit,
    webhook_update,
)
from webapp.webhooks.targets import URL_PRIVATE

pytestmark = pytest.mark.django_db


def test_admin_registers_a_webhook_with_a_fresh_secret(project, owner):
    first = webhook_create(project=project, user=owner, url=PUBLIC_URL, events=["round.ended", "round.ended"])
    second = webhook_create(project=project, user=owner, url=PUBLIC_URL, events=list(WebhookEvent.values))
    assert first.events == ["round.ended"] and first.active and first.created_by == owner
    assert len(first.secret) == 64 and first.secret != second.secret


@pytest.mark.parametrize("who", ["member", "reviewer", "outsider"])
def test_only_admins_manage_webhooks(project, hook, request, who):
    user = request.getfixturevalue(who)
    for call in (
        lambda: webhook_create(project=project, user=user, url=PUBLIC_URL, events=["round.ended"]),
        lambda: webhook_update(webhook=hook, user=user, active=False),
        lambda: webhook_active_set(webhook=hook, user=user, active=False),
        lambda: webhook_delete(webhook=hook, user=user),
    ):
        with pytest.raises(PermissionDenied, match=ADMINS_ONLY):
            call()
    hook.refresh_from_db()
    assert hook.active and Webhook.objects.count() == 1


def test_private_url_is_refused_at_the_url_field(project, owner, settings):
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookRefused) as refused:
        webhook_create(project=project, user=owner, url="http://127.0.0.1:8000/", events=["round.ended"])
    assert (str(refused.value), refused.value.field) == (URL_PRIVATE.format(address="127.0.0.1"), "url")
    assert not Webhook.objects.exists()


def test_events_are_required_and_known(project, owner):
    with pytest.raises(WebhookRefused, match=EVENTS_REQUIRED):
        webhook_create(project=project, user=owner, url=PUBLIC_URL, events=[])
    with pytest.raises(WebhookRefused) as refused:
        webhook_create(project=project, user=owner, url=PUBLIC_URL, events=["image.deleted"])
    assert str(refused.value) == EVENT_UNKNOWN.format(event="image.deleted", valid=", ".join(WebhookEvent.values))
    assert refused.value.field == "events"


def test_a_project_has_at_most_max_webhooks(project, owner):
    Webhook.objects.bulk_create(Webhook(project=project, url=PUBLIC_URL, events=["round.ended"]) for _ in range(20))
    assert MAX_WEBHOOKS == 20
    with pytest.raises(WebhookRefused, match=TOO_MANY.format(limit=MAX_WEBHOOKS)):
        webhook_create(project=project, user=owner, url=PUBLIC_URL, events=["round.ended"])


def test_update_changes_what_is_given_and_can_rotate_the_secret(hook, owner):
    secret = hook.secret
    webhook_update(webhook=hook, user=owner, events=["model.activated"], active=False)
    hook.refresh_from_db()
    assert (hook.url, hook.events, hook.active, hook.secret) == (PUBLIC_URL, ["model.activated"], False, secret)
    webhook_update(webhook=hook, user=owner, rotate_secret=True)
    hook.refresh_from_db()
    assert hook.secret != secret and len(hook.secret) == 64


def test_delete_removes_the_hook_and_its_log(project, hook, owner):
    webhook_event_emit(project_id=project.pk, event="round.ended", data={})
    assert hook.deliveries.count() == 1
    webhook_delete(webhook=hook, user=owner)
    assert not Webhook.objects.exists()


def test_an_unknown_event_cannot_be_emitted(project):
    with pytest.raises(ValueError):
        webhook_event_emit(project_id=project.pk, event="nope", data={})
