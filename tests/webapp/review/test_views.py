"""The review page: access, the leased item with its layers, decisions through the forms."""
import pytest
from django.urls import reverse

from webapp.review.models import ReviewItem, ReviewStatus

pytestmark = pytest.mark.django_db


def test_outsider_gets_404_on_every_review_url(client, outsider, queue_items):
    project, item = queue_items[0].project, queue_items[0]
    client.force_login(outsider)
    assert client.get(reverse("review:queue", args=[project.pk])).status_code == 404
    assert client.post(reverse("review:decide", args=[project.pk, item.pk, "accept"])).status_code == 404
    assert client.get(reverse("review:layer", args=[project.pk, item.pk, "labels"])).status_code == 404


def test_annotator_without_reviewer_role_gets_403(client, member, queue_items):
    project, item = queue_items[0].project, queue_items[0]
    client.force_login(member)
    assert client.get(reverse("review:queue", args=[project.pk])).status_code == 403
    assert client.post(reverse("review:decide", args=[project.pk, item.pk, "accept"])).status_code == 403
    assert client.get(reverse("review:layer", args=[project.pk, item.pk, "confidence"])).status_code == 403
    assert ReviewItem.objects.filter(status=ReviewStatus.PENDING).count() == 3


def test_reviewer_sees_the_least_confident_item_with_its_layers_and_shortcuts(client, reviewer, queue_items):
    project = queue_items[0].project
    client.force_login(reviewer)
    page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
    lowest = queue_items[1]
    assert f'data-item="{lowest.pk}"' in page and "3 pending" in page
    assert reverse("annotation:editor", args=[project.pk, lowest.image_id]) + f"?review={lowest.pk}" in page
    assert "js/review.js" in page
    for name in ("labels", "confidence", "disagreement"):
        layer = client.get(reverse("review:layer", args=[project.pk, lowest.pk, name]))
        assert layer.status_code == 200 and layer["Content-Type"] == "image/png" and layer.content[:4] == b"\x89PNG"


def test_accept_reject_and_skip_through_the_forms(client, reviewer, queue_items):
    project = queue_items[0].project
    client.force_login(reviewer)
    queue = reverse("review:queue", args=[project.pk])
    client.get(queue)  # leases the 0.1 item
    first, second, third = sorted(queue_items, key=lambda i: i.score)
    client.post(reverse("review:decide", args=[project.pk, first.pk, "accept"]), {"seconds": "3.5"})
    page = client.get(queue).content.decode()
    assert f'data-item="{second.pk}"' in page
    client.post(reverse("review:decide", args=[project.pk, second.pk, "skip"]))
    page = client.get(queue).content.decode()
    assert f'data-item="{third.pk}"' in page  # the skipped one comes back once the rest is done
    client.post(reverse("review:decide", args=[project.pk, third.pk, "reject"]))
    assert f'data-item="{second.pk}"' in client.get(queue).content.decode()
    statuses = {i.pk: i.status for i in ReviewItem.objects.all()}
    assert statuses == {first.pk: "accepted", second.pk: "pending", third.pk: "rejected"}
    assert ReviewItem.objects.get(pk=first.pk).seconds_spent == 3.5
