"""The webhooks page: admins manage the project's webhooks; members get 403, outsiders 404."""

import pytest
from django.urls import reverse

from tests.webapp.webhooks.conftest import PUBLIC_URL
from webapp.projects.services import ClassSpec, project_create
from webapp.webhooks.forms import EVENTS_INVALID
from webapp.webhooks.models import Webhook, WebhookEvent
from webapp.webhooks.services import webhook_event_emit
from webapp.webhooks.targets import URL_PRIVATE
from webapp.webhooks.views import ADDED, DISABLED, ENABLED, REMOVED

pytestmark = pytest.mark.django_db


def page(project):
    return reverse("webhooks:page", args=[project.pk])


def logged_in(client, user):
    client.force_login(user)
    return client


def test_owner_sees_hooks_secrets_and_the_delivery_log(client, project, owner, hook):
    webhook_event_emit(project_id=project.pk, event=WebhookEvent.ROUND_ENDED, data={"run": 1})
    response = logged_in(client, owner).get(page(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert PUBLIC_URL in html and hook.secret in html
    assert 'data-delivery="' in html and "round.ended" in html and "Pending" in html
    assert "<script" not in html.split("</head>", 1)[1]  # no inline script in the page body


@pytest.mark.parametrize(("who", "code"), [("member", 403), ("reviewer", 403), ("outsider", 404)])
def test_non_admins_get_403_and_outsiders_404(client, project, hook, request, who, code):
    client = logged_in(client, request.getfixturevalue(who))
    assert client.get(page(project)).status_code == code
    data = {"webhook-url": PUBLIC_URL, "webhook-events": ["round.ended"]}
    assert client.post(page(project), data).status_code == code
    assert client.post(reverse("webhooks:active", args=[project.pk, hook.pk]), {"active": "0"}).status_code == code
    assert client.post(reverse("webhooks:remove", args=[project.pk, hook.pk])).status_code == code
    hook.refresh_from_db()
    assert hook.active and Webhook.objects.count() == 1


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(page(project))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_owner_adds_a_webhook_and_is_redirected_with_a_message(client, project, owner):
    data = {"webhook-url": PUBLIC_URL, "webhook-events": ["round.ended", "model.activated"]}
    response = logged_in(client, owner).post(page(project), data, follow=True)
    assert response.redirect_chain[-1][0] == page(project)
    hook = Webhook.objects.get()
    assert hook.events == ["model.activated", "round.ended"] and hook.created_by == owner
    html = response.content.decode()
    assert ADDED in html and hook.secret in html


def test_a_private_url_is_refused_at_the_field(client, project, owner, settings):
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = False
    data = {"webhook-url": "http://10.0.0.8/hook", "webhook-events": ["round.ended"]}
    response = logged_in(client, owner).post(page(project), data)
    assert response.status_code == 200
    assert URL_PRIVATE.format(address="10.0.0.8") in response.content.decode()
    assert not Webhook.objects.exists()


def test_no_event_is_refused(client, project, owner):
    response = logged_in(client, owner).post(page(project), {"webhook-url": PUBLIC_URL})
    assert EVENTS_INVALID in response.content.decode() and not Webhook.objects.exists()


def test_htmx_post_gets_the_hooks_section_only(client, project, owner):
    data = {"webhook-url": PUBLIC_URL, "webhook-events": ["round.ended"]}
    response = logged_in(client, owner).post(page(project), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and ADDED in html and "<html" not in html
    assert Webhook.objects.get().secret in html


def test_owner_disables_enables_and_removes_a_webhook(client, project, owner, hook):
    client = logged_in(client, owner)
    active = reverse("webhooks:active", args=[project.pk, hook.pk])
    response = client.post(active, {"active": "0"}, follow=True)
    assert DISABLED in response.content.decode() and "data-inactive" in response.content.decode()
    hook.refresh_from_db()
    assert not hook.active
    response = client.post(active, {"active": "1"}, HTTP_HX_REQUEST="true")
    assert ENABLED in response.content.decode()
    hook.refresh_from_db()
    assert hook.active
    response = client.post(reverse("webhooks:remove", args=[project.pk, hook.pk]), follow=True)
    assert REMOVED in response.content.decode() and not Webhook.objects.exists()


def test_another_projects_webhook_is_404(client, project, owner, hook):
    other = project_create(owner=owner, name="Other", classes=[ClassSpec("background")])
    response = logged_in(client, owner).post(reverse("webhooks:remove", args=[other.pk, hook.pk]))
    assert response.status_code == 404 and Webhook.objects.count() == 1


def test_a_get_on_the_actions_is_refused(client, project, owner, hook):
    client = logged_in(client, owner)
    assert client.get(reverse("webhooks:remove", args=[project.pk, hook.pk])).status_code == 405
    assert Webhook.objects.count() == 1


def test_the_project_page_links_admins_only_to_the_webhooks_page(client, project, owner, member):
    detail = reverse("projects:detail", args=[project.pk])
    assert page(project) in logged_in(client, owner).get(detail).content.decode()
    assert page(project) not in logged_in(client, member).get(detail).content.decode()
