"""The review queue's order and the learned auto-accept threshold.

The order is computed when a round re-scores the queue (and when an admin changes the
strategy), never per request: each pending item gets a ``queue_rank`` and the reason a
reviewer is shown, and ``review_item_next`` only reads the ranks. Strategies
(Project.queue_strategy): ``diverse`` (ml.selection.diverse_order over the items' teacher
features), ``least_confident`` (lowest score first) and ``random``. Audits of auto-accepted
labels are spread through the order (every AUDIT_EVERY-th place) so they get decided.

The threshold: ml.calibration.calibrate_threshold over the decided items' (score, pixel
error); review_threshold stays the fallback until enough decisions exist.
"""

from __future__ import annotations

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from ml.calibration import CALIBRATED, UNMET, Calibration, ErrorEstimate, calibrate_threshold, error_estimate
from ml.selection import (
    DOUBTFUL,
    LEAST_CONFIDENT,
    RANDOM,
    TYPICAL,
    Pick,
    diverse_order,
    least_confident_order,
    random_order,
)
from ml.vectors import vector_from_bytes
from webapp.images.models import Image, ImageStatus, Mask
from webapp.images.services import mask_read
from webapp.projects.access import user_has_role
from webapp.projects.models import Project, QueueStrategy, Role
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.training.selectors import human_labeled_images

CALIBRATION_DECISIONS = 500  # the latest decisions calibrate: scores of older models drift
HEDGE_SHARE = 0.1  # share of the diverse order given to uniformly random picks
AUDIT_EVERY = 5  # an audit item at every 5th place until the audits are placed
FEW_LABELS_PER_CLASS = 5  # below this many human masks per class, typical images first
CLASS_SHARE_MASKS = 500  # human masks read to estimate class shares (evenly spread)
AUDIT = "audit"
UNLIKE_ANY = "An image unlike any other pending one."

PICK_REASONS = {
    DOUBTFUL: "Most doubtful of a group of {n} similar images.",
    TYPICAL: "Most typical of a group of {n} similar images: a good example to teach from.",
    RANDOM: "A random pick, a hedge against the model's blind spots.",
    LEAST_CONFIDENT: "The model's least confident pseudo-label.",
    AUDIT: "An audit: a random sample of the pseudo-labels the model would accept, to check their quality.",
}


def pick_reason(item: ReviewItem) -> str:
    """Why the item is where it is in the queue, for the review page."""
    if item.is_audit:
        return PICK_REASONS[AUDIT]
    template = PICK_REASONS.get(item.pick_kind)
    if template is None:
        return PICK_REASONS[LEAST_CONFIDENT]
    if item.pick_kind in (DOUBTFUL, TYPICAL) and item.pick_group_size <= 1:
        return UNLIKE_ANY
    return template.format(n=item.pick_group_size)


def label_class_shares(*, project: Project) -> np.ndarray | None:
    """Share of each class among the project's human-labeled pixels (ignore class excluded),
    indexed like the model's outputs (channel c predicts label value c); None without human
    masks."""
    outputs = project.num_classes
    if not outputs:
        return None
    masks = list(human_labeled_images(project=project).order_by("id").values_list("current_mask_id", flat=True))
    if not masks:
        return None
    step = max(1, len(masks) // CLASS_SHARE_MASKS)
    counts = np.zeros(256, dtype=np.int64)
    for mask in Mask.objects.filter(pk__in=masks[::step]):
        counts += np.bincount(mask_read(mask).ravel(), minlength=256)[:256]
    kept = counts[:outputs].astype(np.float64)
    ignore = project.ignore_index
    if ignore is not None and ignore < outputs:
        kept[ignore] = 0.0
    total = kept.sum()
    return kept / total if total else None


def _is_few_labels(project: Project) -> bool:
    labeled = human_labeled_images(project=project).count()
    return labeled < FEW_LABELS_PER_CLASS * max(1, project.num_classes)


def _order(project: Project, items: list[ReviewItem], seed: int) -> list[Pick]:
    strategy = project.queue_strategy
    if strategy == QueueStrategy.RANDOM:
        return random_order(len(items), seed)
    with_features = [i for i in items if i.features is not None]
    if strategy == QueueStrategy.LEAST_CONFIDENT or len(with_features) < len(items) or not items:
        return least_confident_order(np.array([i.score for i in items]))
    features = np.stack([vector_from_bytes(i.features) for i in items])
    uncertainty = np.array([i.class_uncertainty if i.class_uncertainty is not None else 1.0 - i.score for i in items])
    return diverse_order(
        features,
        uncertainty,
        k=project.review_batch_size,
        typical_first=_is_few_labels(project),
        hedge_share=HEDGE_SHARE,
        seed=seed,
    )


def _with_audits(order: list[Pick], audits: list[int]) -> list[tuple[int, str, int]]:
    """(row, kind, group size) for every item: the strategy's order (audits excluded) with
    the audit rows placed at every AUDIT_EVERY-th position until they are all placed."""
    out: list[tuple[int, str, int]] = []
    waiting = list(audits)
    for pick in order:
        if waiting and (len(out) + 1) % AUDIT_EVERY == 0:
            out.append((waiting.pop(0), AUDIT, 0))
        out.append((pick.index, pick.kind, pick.cluster_size))
    out.extend((row, AUDIT, 0) for row in waiting)
    return out


def review_queue_reorder(*, project: Project, seed: int | None = None) -> int:
    """Rank every pending item of the project by its strategy; returns the number ranked.

    The order is computed without locks (k-means takes a moment, and reviewers must keep
    getting items meanwhile: review_item_next skips locked rows) and written in one short
    UPDATE batch. An item decided in between keeps a harmless rank; one added in between
    waits unranked behind the ranked ones until the next reorder. Items a reviewer holds
    stay theirs (the lease, not the rank, keeps them). seed: defaults to the number of
    decided items, so a re-score gives a fresh random hedge and the same state the same order."""
    items = list(
        ReviewItem.objects.filter(project=project, status=ReviewStatus.PENDING)
        .only("id", "score", "features", "class_uncertainty", "is_audit")
        .order_by("score", "id")
    )
    if seed is None:
        seed = ReviewItem.objects.filter(project=project).exclude(status=ReviewStatus.PENDING).count()
    audits = [n for n, item in enumerate(items) if item.is_audit]
    regular = [n for n, item in enumerate(items) if not item.is_audit]
    picks = _order(project, [items[n] for n in regular], seed)
    order = [Pick(regular[p.index], p.kind, p.cluster, p.cluster_size) for p in picks]
    for rank, (row, kind, group) in enumerate(_with_audits(order, audits)):
        item = items[row]
        item.queue_rank, item.pick_kind, item.pick_group_size = rank, kind, group
    with transaction.atomic():
        ReviewItem.objects.bulk_update(items, ["queue_rank", "pick_kind", "pick_group_size"], batch_size=500)
    return len(items)


# ------------------------------------------------------------------ the learned threshold


def _decided(project: Project):
    return ReviewItem.objects.filter(project=project, pixel_error__isnull=False).exclude(status=ReviewStatus.PENDING)


def review_threshold_calibrate(*, project: Project) -> Calibration:
    """Learn the threshold from every decided item (audits included) and store it on the
    project; pseudo-labelling then routes with review_threshold_effective."""
    latest = _decided(project).order_by("-reviewed_at", "-id")[:CALIBRATION_DECISIONS]
    decided = list(latest.values_list("score", "pixel_error"))
    scores = [s for s, _ in decided]
    errors = [e for _, e in decided]
    calibration = calibrate_threshold(
        scores, errors, target=project.target_pixel_error, fallback=project.review_threshold
    )
    project.threshold_calibration = {
        **calibration.__dict__,
        "target": project.target_pixel_error,
        "at": timezone.now().isoformat(),
    }
    project.save(update_fields=["threshold_calibration"])
    return calibration


def review_threshold_effective(project: Project) -> float:
    """The learned threshold when there is one (calibrated, or raised because no score range
    met the target), else the project's review_threshold as it is now."""
    calibration = project.threshold_calibration or {}
    if calibration.get("status") in (CALIBRATED, UNMET):
        return float(calibration["threshold"])
    return float(project.review_threshold)


def accepted_error_estimate(*, project: Project) -> ErrorEstimate:
    """Estimated pixel error of auto-accepted pseudo-labels, from the latest decided audits
    (capped like the calibration: older models' labels drift, and the bootstrap grows with n)."""
    latest = _decided(project).filter(is_audit=True).order_by("-reviewed_at", "-id")[:CALIBRATION_DECISIONS]
    errors = list(latest.values_list("pixel_error", flat=True))
    return error_estimate(errors)


def unlabeled_share_accepted(*, project: Project) -> tuple[int, int]:
    """(accepted pseudo-labels, images without a human mask)."""
    without_human = Image.objects.filter(project=project).exclude(status=ImageStatus.LABELED).count()
    accepted = Image.objects.filter(project=project, status=ImageStatus.PSEUDO_LABELED).count()
    return accepted, without_human


# ------------------------------------------------------------------ the admins' settings

ADMINS_ONLY = "Only project admins can change the queue settings."
SETTING_INVALID = "Invalid queue setting {field}: {reason}"
REORDERING_FIELDS = ("queue_strategy", "review_batch_size")  # what the order depends on


def review_settings_update(
    *,
    project: Project,
    user,
    strategy: str,
    batch_size: int,
    target_pixel_error: float,
    audit_share: float,
    review_threshold: float | None = None,
) -> list[str]:
    """Change how the project's queue is ordered and audited; returns the fields that changed.

    The review page and the project settings page both save through here. review_threshold
    (the fallback until a round has calibrated): None leaves it as it is.
    target_pixel_error and audit_share are fractions (0.05 = 5 %). The values are checked
    against the model's bounds (ValueError, nothing saved); a new strategy or batch size
    re-ranks the pending items, a new target re-learns the threshold when one was learned
    (so the page never shows a calibration against the old target)."""
    if not user_has_role(user=user, project=project, role=Role.ADMIN):
        raise PermissionDenied(ADMINS_ONLY)
    values = {
        "queue_strategy": strategy,
        "review_batch_size": batch_size,
        "target_pixel_error": target_pixel_error,
        "audit_share": audit_share,
    }
    if review_threshold is not None:
        values["review_threshold"] = review_threshold
    for name, value in values.items():
        field = Project._meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is a relation"  # values holds only the settings' columns
        try:
            values[name] = field.clean(value, project)
        except ValidationError as error:
            raise ValueError(SETTING_INVALID.format(field=field.name, reason=" ".join(error.messages))) from error
    with transaction.atomic():
        changed = [name for name, value in values.items() if getattr(project, name) != value]
        for name in changed:
            setattr(project, name, values[name])
        if changed:
            project.save(update_fields=changed)
        if set(changed) & set(REORDERING_FIELDS):
            review_queue_reorder(project=project)
        if "target_pixel_error" in changed and project.threshold_calibration:
            review_threshold_calibrate(project=project)
    return changed
