"""The review page: access, the leased item with its layers, decisions through the forms.

Only POSTs lease: the page (GET) shows the item the reviewer holds or a form to start,
`review:next` leases the next item, and every decision leases the one after."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from webapp.review.models import ReviewItem, ReviewStatus

pytestmark = pytest.mark.django_db


def claim(client, project):
    """POST "Start reviewing": leases the next item and sends the browser back to the page."""
    response = client.post(reverse("review:next", args=[project.pk]))
    assert response.status_code == 303 and response["Location"] == reverse("review:queue", args=[project.pk])
    return response


def rows() -> list[dict]:
    return list(ReviewItem.objects.order_by("pk").values())


def held_by(user) -> list[int]:
    return list(
        ReviewItem.objects.filter(leased_by=user, lease_expires_at__gt=timezone.now()).values_list("pk", flat=True)
    )


def test_outsider_gets_404_on_every_review_url(client, outsider, queue_items):
    project, item = queue_items[0].project, queue_items[0]
    client.force_login(outsider)
    before = rows()
    assert client.get(reverse("review:queue", args=[project.pk])).status_code == 404
    assert client.post(reverse("review:next", args=[project.pk])).status_code == 404
    assert client.post(reverse("review:decide", args=[project.pk, item.pk, "accept"])).status_code == 404
    assert client.get(reverse("review:layer", args=[project.pk, item.pk, "labels"])).status_code == 404
    assert rows() == before


def test_annotator_without_reviewer_role_gets_403(client, member, queue_items):
    project, item = queue_items[0].project, queue_items[0]
    client.force_login(member)
    before = rows()
    assert client.get(reverse("review:queue", args=[project.pk])).status_code == 403
    assert client.post(reverse("review:next", args=[project.pk])).status_code == 403
    assert client.post(reverse("review:decide", args=[project.pk, item.pk, "accept"])).status_code == 403
    assert client.get(reverse("review:layer", args=[project.pk, item.pk, "confidence"])).status_code == 403
    assert ReviewItem.objects.filter(status=ReviewStatus.PENDING).count() == 3
    assert rows() == before


def test_reviewer_sees_the_least_confident_item_with_its_layers_and_shortcuts(client, reviewer, queue_items):
    project = queue_items[0].project
    client.force_login(reviewer)
    claim(client, project)
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
    claim(client, project)  # leases the 0.1 item
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


def test_get_without_a_held_item_leases_nothing_and_offers_to_start(client, reviewer, queue_items):
    project = queue_items[0].project
    client.force_login(reviewer)
    before = rows()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("review:queue", args=[project.pk]))
        assert client.head(reverse("review:queue", args=[project.pk])).status_code == 200
    assert rows() == before and held_by(reviewer) == []
    assert [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")] == []
    page = response.content.decode()
    assert "data-item=" not in page and 'id="queue-empty"' not in page
    assert f'action="{reverse("review:next", args=[project.pk])}"' in page and "Start reviewing" in page
    assert "csrfmiddlewaretoken" in page
    assert "3 pending" in page and reverse("review:auto_accept", args=[project.pk]) in page  # the counts and panels


def test_next_is_post_only(client, reviewer, queue_items):
    project = queue_items[0].project
    client.force_login(reviewer)
    before = rows()
    assert client.get(reverse("review:next", args=[project.pk])).status_code == 405
    assert client.head(reverse("review:next", args=[project.pk])).status_code == 405
    assert rows() == before


def test_post_claims_and_the_following_get_shows_the_item(client, reviewer, queue_items):
    project, lowest = queue_items[0].project, queue_items[1]
    client.force_login(reviewer)
    claim(client, project)
    assert held_by(reviewer) == [lowest.pk]
    before = rows()
    for _ in range(2):  # the page shows the held item, and showing it changes nothing
        page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
        assert f'data-item="{lowest.pk}"' in page and "Held for you until" in page and "Start reviewing" not in page
    assert rows() == before
    claim(client, project)  # asking again while holding one keeps it
    assert held_by(reviewer) == [lowest.pk]


def test_an_expired_lease_is_not_shown_and_not_renewed_by_a_get(client, reviewer, queue_items):
    project, lowest = queue_items[0].project, queue_items[1]
    client.force_login(reviewer)
    claim(client, project)
    ReviewItem.objects.filter(pk=lowest.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    before = rows()
    page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
    assert "data-item=" not in page and "Start reviewing" in page
    assert rows() == before


def test_two_reviewers_posting_get_different_items(client, owner, reviewer, queue_items):
    project = queue_items[0].project
    shown = {}
    for user in (reviewer, owner):
        client.force_login(user)
        claim(client, project)
        page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
        shown[user.username] = held_by(user)
        assert len(shown[user.username]) == 1 and f'data-item="{shown[user.username][0]}"' in page
    assert shown["reviewer"] != shown["owner"]
    assert sorted(shown["reviewer"] + shown["owner"]) == sorted(i.pk for i in queue_items[1:])  # 0.1 and 0.2


def test_a_decision_post_leases_the_next_item(client, reviewer, queue_items):
    project = queue_items[0].project
    first, second, third = sorted(queue_items, key=lambda i: i.score)
    client.force_login(reviewer)
    claim(client, project)
    response = client.post(reverse("review:decide", args=[project.pk, first.pk, "reject"]))
    assert response.status_code == 302 and response["Location"] == reverse("review:queue", args=[project.pk])
    assert held_by(reviewer) == [second.pk]  # leased by the POST itself, before any GET
    client.post(reverse("review:decide", args=[project.pk, second.pk, "skip"]))
    assert held_by(reviewer) == [third.pk]  # a skip moves on too, past the skipped item
    client.post(reverse("review:decide", args=[project.pk, third.pk, "accept"]))
    assert held_by(reviewer) == [second.pk]  # only the skipped one is left: offered again
    before = rows()
    assert f'data-item="{second.pk}"' in client.get(reverse("review:queue", args=[project.pk])).content.decode()
    assert rows() == before


def test_a_refused_decision_still_shows_the_reviewers_next_item(client, owner, reviewer, queue_items):
    project = queue_items[0].project
    first, second, _ = sorted(queue_items, key=lambda i: i.score)
    client.force_login(owner)
    claim(client, project)  # the owner holds the 0.1 item
    client.force_login(reviewer)
    client.post(reverse("review:decide", args=[project.pk, first.pk, "accept"]))
    assert ReviewItem.objects.get(pk=first.pk).status == ReviewStatus.PENDING
    assert held_by(reviewer) == [second.pk]
    page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
    assert "owner is reviewing this item right now; take the next one." in page
    assert f'data-item="{second.pk}"' in page


def test_an_empty_queue_says_so(client, reviewer, queue_items):
    project = queue_items[0].project
    ReviewItem.objects.update(status=ReviewStatus.ACCEPTED)
    client.force_login(reviewer)
    page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
    assert 'id="queue-empty"' in page and "Start reviewing" not in page
    claim(client, project)
    page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
    assert 'id="queue-empty"' in page and "Nothing to review right now." in page and "data-item=" not in page


def test_items_all_held_by_others_are_no_start(client, owner, reviewer, queue_items):
    project = queue_items[0].project
    ReviewItem.objects.update(leased_by=owner, lease_expires_at=timezone.now() + timedelta(minutes=5))
    client.force_login(reviewer)
    before = rows()
    page = client.get(reverse("review:queue", args=[project.pk])).content.decode()
    assert "The 3 pending items are held by other reviewers." in page and "Start reviewing" not in page
    claim(client, project)
    assert rows() == before
