"""Reads for the review queue."""
from django.db.models import Avg, Count, Q

from webapp.project_counts import counts_cached
from webapp.projects.models import Project
from webapp.review.models import ReviewItem, ReviewStatus


def review_counts(*, project: Project) -> dict:
    """{pending, accepted, corrected, rejected, reviewed, avg_seconds} for the project; up to
    FRESH_FOR_S old on big projects (webapp.project_counts)."""
    return counts_cached(f"review-counts:{project.pk}", lambda: _review_counts(project),
                         lambda c: c["pending"] + c["reviewed"])


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


def review_recent(*, project: Project, limit: int = 10) -> list[ReviewItem]:
    return list(
        ReviewItem.objects.filter(project=project).exclude(status=ReviewStatus.PENDING)
        .select_related("image", "reviewed_by").order_by("-reviewed_at", "-id")[:limit]
    )
