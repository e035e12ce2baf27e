"""The webhooks API: admins list, register, change, remove and read the log; members 403,
outsiders 404, anonymous 401; the endpoints are in the OpenAPI schema."""

import pytest
from django.urls import reverse

from tests.webapp.webhooks.conftest import PUBLIC_URL
from webapp.projects.services import ClassSpec, project_create
from webapp.webhooks.models import Webhook, WebhookEvent
from webapp.webhooks.services import webhook_event_emit
from webapp.webhooks.targets import URL_PRIVATE

pytestmark = pytest.mark.django_db


def url(name, project, **kwargs):
    return reverse(f"api:{name}", kwargs={"project_id": project.pk, **kwargs})


def test_owner_registers_a_webhook_and_gets_its_secret(api_for, project, owner):
    response = api_for(owner).post(url("webhook-list", project), {"url": PUBLIC_URL}, format="json")
    assert response.status_code == 201
    body = response.json()
    hook = Webhook.objects.get()
    assert body["id"] == hook.pk and body["secret"] == hook.secret and body["active"] is True
    assert body["events"] == sorted(WebhookEvent.values)  # all when left out


def test_owner_lists_reads_changes_and_deletes(api_for, project, owner, hook):
    client = api_for(owner)
    assert [h["id"] for h in client.get(url("webhook-list", project)).json()] == [hook.pk]
    detail = url("webhook-detail", project, webhook_id=hook.pk)
    assert client.get(detail).json()["url"] == PUBLIC_URL
    response = client.patch(detail, {"active": False, "events": ["review.queue_emptied"]}, format="json")
    assert response.status_code == 200
    assert (response.json()["active"], response.json()["events"]) == (False, ["review.queue_emptied"])
    rotated = client.patch(detail, {"rotate_secret": True}, format="json").json()
    assert rotated["secret"] != hook.secret
    assert client.delete(detail).status_code == 204
    assert not Webhook.objects.exists()


def test_the_delivery_log_shows_status_and_attempts(api_for, project, owner, hook):
    (delivery_id,) = webhook_event_emit(project_id=project.pk, event=WebhookEvent.ROUND_ENDED, data={"run": 4})
    body = api_for(owner).get(url("webhook-deliveries", project), {"webhook": hook.pk}).json()
    assert [(d["id"], d["webhook"], d["event"], d["status"], d["attempts"]) for d in body] == [
        (delivery_id, hook.pk, "round.ended", "pending", 0)
    ]
    assert body[0]["payload"]["data"] == {"run": 4}
    assert api_for(owner).get(url("webhook-deliveries", project), {"webhook": hook.pk + 1}).json() == []


def test_refusals_are_400_with_the_services_words(api_for, project, owner, hook, settings):
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = False
    client = api_for(owner)
    response = client.post(url("webhook-list", project), {"url": "http://192.168.0.2/x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": URL_PRIVATE.format(address="192.168.0.2"), "field": "url"}
    response = client.post(url("webhook-list", project), {"url": PUBLIC_URL, "events": []}, format="json")
    assert response.status_code == 400 and "events" in response.json()
    response = client.post(url("webhook-list", project), {"url": PUBLIC_URL, "events": ["nope"]}, format="json")
    assert response.status_code == 400
    assert Webhook.objects.count() == 1


@pytest.mark.parametrize(("who", "code"), [("member", 403), ("reviewer", 403), ("outsider", 404), (None, 401)])
def test_non_admins_get_403_outsiders_404_anonymous_401(api_for, project, hook, request, who, code):
    client = api_for(request.getfixturevalue(who) if who else None)
    detail = url("webhook-detail", project, webhook_id=hook.pk)
    assert client.get(url("webhook-list", project)).status_code == code
    assert client.post(url("webhook-list", project), {"url": PUBLIC_URL}, format="json").status_code == code
    assert client.get(detail).status_code == code
    assert client.patch(detail, {"active": False}, format="json").status_code == code
    assert client.delete(detail).status_code == code
    assert client.get(url("webhook-deliveries", project)).status_code == code
    hook.refresh_from_db()
    assert hook.active and Webhook.objects.count() == 1


def test_another_projects_webhook_is_404(api_for, project, owner, hook):
    other = project_create(owner=owner, name="Other", classes=[ClassSpec("background")])
    assert api_for(owner).get(url("webhook-detail", other, webhook_id=hook.pk)).status_code == 404


def test_the_endpoints_are_in_the_openapi_schema(client):
    paths = client.get(reverse("api:schema") + "?format=json").json()["paths"]
    hooks = "/api/projects/{project_id}/webhooks/"
    assert {"get", "post"} <= set(paths[hooks])
    assert {"get", "patch", "delete"} <= set(paths[hooks + "{webhook_id}/"])
    assert "get" in paths[hooks + "deliveries/"]
    assert {"201", "400", "401", "403", "404"} <= set(paths[hooks]["post"]["responses"])
