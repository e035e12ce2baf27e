"""Reads for projects: lists, image counts by status and pages of images.

Built to stay fast for a project of 100,000 images: the counts are one GROUP BY over the
(project, status, id) index, and pages are keyset pages on the same index (WHERE id > last
ORDER BY id LIMIT n), so no page runs a COUNT(*) or an OFFSET scan.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count

from webapp.images.models import Image, ImageStatus
from webapp.project_counts import counts_cached
from webapp.projects.models import Membership, Project

ALL = "all"


@dataclass(frozen=True)
class ProjectSummary:
    project: Project
    membership: Membership
    image_count: int


def project_list_for_user(*, user) -> list[ProjectSummary]:
    """The user's projects with their roles and image counts, in two queries."""
    memberships = list(
        Membership.objects.filter(user=user).select_related("project").order_by("project__name", "project_id")
    )
    counts = dict(
        Image.objects.filter(project_id__in=[m.project_id for m in memberships])
        .values_list("project_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [ProjectSummary(m.project, m, counts.get(m.project_id, 0)) for m in memberships]


def project_status_counts(*, project: Project) -> dict[str, int]:
    """Images per status (every status present, zeros included) plus "all", in one query;
    up to FRESH_FOR_S old on big projects (webapp.project_counts)."""
    return counts_cached(f"image-status-counts:{project.pk}", lambda: _status_counts(project), lambda c: c[ALL])


def _status_counts(project: Project) -> dict[str, int]:
    rows = Image.objects.filter(project=project).values_list("status").annotate(n=Count("id")).order_by()
    counts = {status.value: 0 for status in ImageStatus}
    counts.update(dict(rows))
    counts[ALL] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class ImagePage:
    images: list[Image]
    # Cursors for the neighbouring pages: pass as `after` / `before`; None when there is none.
    next_after: int | None
    prev_before: int | None

    @property
    def has_other_pages(self) -> bool:
        return self.next_after is not None or self.prev_before is not None


def project_images_page(
    *,
    project: Project,
    status: str | None = None,
    after: int | None = None,
    before: int | None = None,
    per_page: int | None = None,
) -> ImagePage:
    """One page of the project's images in id order, optionally of one status.

    Keyset pagination: `after` gives the page following that image id, `before` the page
    preceding it, neither the first page. One query fetches per_page + 1 rows to learn
    whether a further page exists.
    """
    per_page = per_page or settings.SEGLOOP_IMAGES_PER_PAGE
    images = Image.objects.filter(project=project).only(
        "id", "project_id", "original_name", "status", "width", "height"
    )
    if status and status != ALL:
        images = images.filter(status=status)
    if before is not None:
        rows = list(images.filter(id__lt=before).order_by("-id")[: per_page + 1])
        if len(rows) > per_page:
            rows = rows[:per_page][::-1]
            return ImagePage(images=rows, next_after=rows[-1].id, prev_before=rows[0].id)
        # Back at the start: show a full first page rather than a short one.
        return project_images_page(project=project, status=status, per_page=per_page)
    if after is not None:
        images = images.filter(id__gt=after)
    rows = list(images.order_by("id")[: per_page + 1])
    more_after = len(rows) > per_page
    rows = rows[:per_page]
    return ImagePage(
        images=rows,
        next_after=rows[-1].id if rows and more_after else None,
        prev_before=rows[0].id if rows and after is not None else None,
    )


def project_settings_values(*, project: Project) -> dict:
    """The review and training settings as the settings page and the API show them: the
    round's time budget (training_config["max_minutes"]) apart from the rest of the config."""
    config = dict(project.training_config or {})
    max_minutes = config.pop("max_minutes", None)
    return {
        "review_threshold": project.review_threshold,
        "queue_strategy": project.queue_strategy,
        "review_batch_size": project.review_batch_size,
        "target_pixel_error": project.target_pixel_error,
        "audit_share": project.audit_share,
        "threshold_calibration": project.threshold_calibration or {},
        "auto_retrain_after": project.auto_retrain_after,
        "max_minutes": max_minutes,
        "training_config": config,
    }
