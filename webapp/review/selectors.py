"""Reads for the review queue. Nothing here writes: the page's GET shows what the reviewer
already holds, and only services.review_item_next (behind a POST) leases an item."""

from django.db.models import Avg, Count, F, Q
from django.utils import timezone

from webapp.project_counts import counts_cached
from webapp.projects.models import Project
from webapp.review.models import ReviewItem, ReviewStatus

# The project's order (webapp.review.queue ranks it when a round re-scores the queue);
# items not ranked yet wait behind, least confident first.
QUEUE_ORDER = (F("queue_rank").asc(nulls_last=True), "score", "id")


def claimable(now) -> Q:
    """Items anyone may lease at `now`: pending, and unleased or their lease expired."""
    return Q(status=ReviewStatus.PENDING) & (Q(leased_by__isnull=True) | Q(lease_expires_at__lte=now))


def review_counts(*, project: Project) -> dict:
    """{pending, accepted, corrected, rejected, reviewed, avg_seconds} for the project; up to
    FRESH_FOR_S old on big projects (webapp.project_counts)."""
    return counts_cached(
        f"review-counts:{project.pk}", lambda: _review_counts(project), lambda c: c["pending"] + c["reviewed"]
    )


def _review_counts(project: Project) -> dict:
    row = ReviewItem.objects.filter(project=project).aggregate(
        **{status.value: Count("pk", filter=Q(status=status)) for status in ReviewStatus},
        avg_seconds=Avg("seconds_spent", filter=~Q(status=ReviewStatus.PENDING)),
    )
    row["reviewed"] = row["accepted"] + row["corrected"] + row["rejected"]
    return row


def review_item_for_project(*, project: Project, item_id) -> ReviewItem:
    """The item if it belongs to the project; ReviewItem.DoesNotExist otherwise."""
    return ReviewItem.objects.select_related("image", "pseudo_mask", "leased_by").get(pk=item_id, project=project)


def review_item_held(*, project: Project, user, exclude_ids=()) -> ReviewItem | None:
    """The pending item `user` holds in the project (a lease that has not expired), first in
    queue order; None when they hold none. Only reads."""
    held = ReviewItem.objects.filter(
        project=project, status=ReviewStatus.PENDING, leased_by=user, lease_expires_at__gt=timezone.now()
    ).exclude(pk__in=exclude_ids)
    return held.select_related("image", "pseudo_mask").order_by(*QUEUE_ORDER).first()


def review_item_free_exists(*, project: Project) -> bool:
    """Whether some item of the project could be leased now (pending, nobody holds it)."""
    return ReviewItem.objects.filter(claimable(timezone.now()), project=project).exists()


def review_recent(*, project: Project, limit: int = 10) -> list[ReviewItem]:
    return list(
        ReviewItem.objects.filter(project=project)
        .exclude(status=ReviewStatus.PENDING)
        .select_related("image", "reviewed_by")
        .order_by("-reviewed_at", "-id")[:limit]
    )
