"""Writes for the review queue: create items, lease the next one, accept / correct / reject.

Leases: an item is held by one reviewer for LEASE (then anyone may take it). Claiming is a
conditional UPDATE (where still pending and unleased or expired), which is atomic on every
database; on PostgreSQL the candidate is also picked with SELECT ... FOR UPDATE SKIP LOCKED so
concurrent reviewers do not even queue behind each other.
"""

import math
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from ml.calibration import pixel_error
from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.services import mask_read, mask_save, mask_save_png
from webapp.projects.access import user_has_role
from webapp.projects.models import Project, Role
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.regions import (
    PAINT,
    PARTIAL,
    PSEUDO,
    RU,
    SU,
    RegionChoice,
    RegionsUnavailable,
    item_region_layers,
    region_mask_compose,
    unknown_regions,
)
from webapp.review.selectors import QUEUE_ORDER, claimable, review_item_held
from webapp.webhooks.models import WebhookEvent
from webapp.webhooks.services import webhook_event_on_commit

LEASE = timedelta(minutes=10)
MAX_DECISION_SECONDS = 12 * 3600  # a client timer past this is a broken clock, not work
CLAIM_ATTEMPTS = 5
ACCEPTED_ERROR, REJECTED_ERROR = 0.0, 1.0  # pixel error recorded for the calibration

REVIEWERS_ONLY = "Only reviewers and admins can review pseudo-labels."
ALREADY_DECIDED = "This item was already {status} by {who}."
LEASED_TO_OTHER = "{who} is reviewing this item right now; take the next one."
IMAGE_CHANGED = (
    "This image has a newer mask (version {current}) than the pseudo-label (version {pseudo}); "
    "open it in the editor instead."
)
# Review by region.
UNKNOWN_REGIONS = "Not regions of this image: {ids}. Reload the item and review it again."
UNKNOWN_CLASS = "Class {label} is not one of this project's classes: paint with a class from the picker."
PARTIAL_NEEDS_IGNORE = (
    "This project has no ignore class, so regions cannot be left unlabeled: check every doubtful "
    "region, or accept the rest."
)
SHOWN_IDS = 10  # region ids named in a refusal


class ReviewRefused(Exception):
    """The decision cannot be recorded; the message is for the user. Nothing was changed."""


def _require_reviewer(*, project: Project, user) -> None:
    if not user_has_role(user=user, project=project, role=Role.REVIEWER):
        raise PermissionDenied(REVIEWERS_ONLY)


def review_item_create(
    *,
    image: Image,
    mask: Mask,
    run,
    score: float,
    scores: dict,
    confidence_png: bytes,
    disagreement_png: bytes,
    features: bytes | None = None,
    class_uncertainty: float | None = None,
    is_audit: bool = False,
    su_label_png: bytes | None = None,
    ru_label_png: bytes | None = None,
) -> ReviewItem:
    """A doubtful pseudo-label (or an audit of one the model would accept) enters the queue,
    with its per-pixel maps for the reviewer and both teachers' labels (8-bit PNGs of class
    indices, for review by region). Its rank comes with the next queue reorder
    (webapp.review.queue); until then it waits behind the ranked items."""
    item = ReviewItem(
        project_id=image.project_id,
        image=image,
        pseudo_mask=mask,
        run=run,
        score=score,
        mean_confidence=scores["mean_confidence"],
        confident_fraction=scores["confident_fraction"],
        disagreement=scores["disagreement"],
        features=features,
        class_uncertainty=class_uncertainty,
        is_audit=is_audit,
    )
    name = f"{image.project_id}-{image.pk}-v{mask.version}.png"
    item.confidence_map.save(name, ContentFile(confidence_png), save=False)
    item.disagreement_map.save(name, ContentFile(disagreement_png), save=False)
    if su_label_png is not None:
        item.su_label.save(name, ContentFile(su_label_png), save=False)
    if ru_label_png is not None:
        item.ru_label.save(name, ContentFile(ru_label_png), save=False)
    item.save()
    return item


def review_item_supersede(*, image: Image) -> bool:
    """Withdraw the image's pending item so a newer model can re-score it. Refused (False)
    while a reviewer holds the lease: what they are looking at must not change under them.
    Call inside a transaction; no human decision is lost (the item was never decided)."""
    now = timezone.now()
    item = ReviewItem.objects.select_for_update(of=("self",)).filter(image=image, status=ReviewStatus.PENDING).first()
    if item is None:
        return True
    if item.leased_by_id is not None and item.lease_expires_at and item.lease_expires_at > now:
        return False
    maps = [f.name for f in (item.confidence_map, item.disagreement_map, item.su_label, item.ru_label) if f.name]
    item.delete()

    def maps_delete() -> None:
        for name in maps:
            default_storage.delete(name)

    transaction.on_commit(maps_delete)
    return True


def review_item_next(*, project: Project, user, exclude_ids=()) -> ReviewItem | None:
    """The reviewer's current item if they hold one, else the first free item in the
    project's queue order, leased to them. Two reviewers asking at once get different items. None: queue empty."""
    _require_reviewer(project=project, user=user)
    item = review_item_held(project=project, user=user, exclude_ids=exclude_ids)
    if item is not None:
        return item
    now = timezone.now()
    for _ in range(CLAIM_ATTEMPTS):  # lost a race: someone claimed our candidate, try the next
        with transaction.atomic():
            candidates = (
                ReviewItem.objects.filter(claimable(now), project=project)
                .exclude(pk__in=exclude_ids)
                .select_related("image", "pseudo_mask")
            )
            if connection.features.has_select_for_update_skip_locked:
                # of=self: lock the item row only, not the joined image and mask.
                candidates = candidates.select_for_update(skip_locked=True, of=("self",))
            candidate = candidates.order_by(*QUEUE_ORDER).first()
            if candidate is None:
                return None
            lease = {"leased_by": user, "lease_expires_at": now + LEASE}
            claimed = ReviewItem.objects.filter(claimable(now), pk=candidate.pk).update(**lease)
        if claimed:
            for field, value in lease.items():  # what the UPDATE wrote: no need to read it back
                setattr(candidate, field, value)
            return candidate
    return None


def review_item_release(*, item: ReviewItem, user) -> None:
    """Give the item back (skip): it returns to the queue for others."""
    ReviewItem.objects.filter(pk=item.pk, status=ReviewStatus.PENDING, leased_by=user).update(
        leased_by=None, lease_expires_at=None
    )


def _seconds_spent(item: ReviewItem, user, seconds: float | None, now) -> float:
    """Client timer if given (bounded to 0..MAX_DECISION_SECONDS; NaN and inf are ignored),
    else from the start of the user's lease to now."""
    if seconds is not None and math.isfinite(float(seconds)):
        return min(max(0.0, float(seconds)), MAX_DECISION_SECONDS)
    if item.leased_by_id == user.pk and item.lease_expires_at is not None:
        started = item.lease_expires_at - LEASE
        return max(0.0, min((now - started).total_seconds(), LEASE.total_seconds()))
    return 0.0


def _lock_pending(item: ReviewItem, user) -> ReviewItem:
    """The item, locked, if it is still pending and not held by someone else; else ReviewRefused."""
    # No join under FOR UPDATE (see images.services._mask_store): the users are read after the lock.
    locked = ReviewItem.objects.select_for_update().get(pk=item.pk)
    if locked.status != ReviewStatus.PENDING:
        who = locked.reviewed_by.get_username() if locked.reviewed_by else "someone"
        raise ReviewRefused(ALREADY_DECIDED.format(status=locked.get_status_display().lower(), who=who))
    now = timezone.now()
    if locked.leased_by_id not in (None, user.pk) and locked.lease_expires_at and locked.lease_expires_at > now:
        who = locked.leased_by.get_username() if locked.leased_by else "someone"
        raise ReviewRefused(LEASED_TO_OTHER.format(who=who))
    return locked


def _decide(item: ReviewItem, user, status: str, seconds: float, error: float | None) -> None:
    ReviewItem.objects.filter(pk=item.pk).update(
        status=status,
        reviewed_by=user,
        reviewed_at=timezone.now(),
        seconds_spent=seconds,
        leased_by=None,
        lease_expires_at=None,
        pixel_error=error,
    )
    item.refresh_from_db()
    webhook_event_on_commit(
        project_id=item.project_id,
        event=WebhookEvent.REVIEW_QUEUE_EMPTIED,
        data={"item": item.pk, "image": item.image_id, "status": status},
        when=lambda: not ReviewItem.objects.filter(project_id=item.project_id, status=ReviewStatus.PENDING).exists(),
    )


def review_item_accept(*, item: ReviewItem, user, seconds: float | None = None) -> ReviewItem:
    """The pseudo-label becomes the image's human mask, authored by the reviewer."""
    _require_reviewer(project=item.project, user=user)
    with transaction.atomic():
        locked = _lock_pending(item, user)
        image = Image.objects.select_for_update().get(pk=locked.image_id)  # no join: see images.services._mask_store
        if image.current_mask_id != locked.pseudo_mask_id:
            raise ReviewRefused(IMAGE_CHANGED.format(current=image.mask_version, pseudo=locked.pseudo_mask.version))
        spent = _seconds_spent(locked, user, seconds, timezone.now())
        # Decided first, so the mask hook (which closes pending items as corrected) leaves it be.
        _decide(locked, user, ReviewStatus.ACCEPTED, spent, ACCEPTED_ERROR)
        with locked.pseudo_mask.file.open("rb") as handle:
            pseudo_png = handle.read()  # kept byte for byte: no decode-and-encode round trip
        mask_save_png(
            image=image,
            base_version=locked.pseudo_mask.version,
            png=pseudo_png,
            author=user,
            source=MaskSource.HUMAN,
            editing_seconds=spent,
        )
    item.refresh_from_db()
    return item


def review_item_reject(*, item: ReviewItem, user, seconds: float | None = None) -> ReviewItem:
    """Back to unlabeled: the pseudo mask stays in the history but is no longer current."""
    _require_reviewer(project=item.project, user=user)
    with transaction.atomic():
        locked = _lock_pending(item, user)
        _decide(
            locked, user, ReviewStatus.REJECTED, _seconds_spent(locked, user, seconds, timezone.now()), REJECTED_ERROR
        )
        Image.objects.filter(pk=locked.image_id, current_mask_id=locked.pseudo_mask_id).update(
            status=ImageStatus.UNLABELED, current_mask=None
        )
    item.refresh_from_db()
    return item


def review_item_mark_corrected(
    *, item: ReviewItem, user, seconds: float | None = None, human_mask: Mask | None = None
) -> bool:
    """A human saved their own mask for the item's image (the editor, opened from review).
    With the human mask, the share of pixels they changed is recorded for the threshold's
    calibration. Returns False if the item was decided meanwhile."""
    now = timezone.now()
    error = _pixel_error(item, human_mask) if human_mask is not None else None
    with transaction.atomic():
        locked = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != ReviewStatus.PENDING:
            return False
        _decide(locked, user, ReviewStatus.CORRECTED, _seconds_spent(locked, user, seconds, now), error)
    return True


def _pixel_error(item: ReviewItem, human_mask: Mask) -> float | None:
    """Share of the human mask's pixels (ignore class excluded) that the pseudo-label got
    wrong; None when the two cannot be compared (another size)."""
    pseudo, human = mask_read(item.pseudo_mask), mask_read(human_mask)
    if pseudo.shape != human.shape:
        return None
    return pixel_error(pseudo, human, item.project.ignore_index)


def review_on_human_mask(*, mask: Mask) -> None:
    """Hook after a human mask is committed: it answers the image's pending review item.

    The reviewer who leased the item gets it recorded as corrected with their editing time;
    a human mask from anyone else answers the question too, so the item leaves the queue
    (as corrected by that author) instead of offering a stale pseudo-label.
    """
    if mask.source != MaskSource.HUMAN or mask.is_conflict or mask.author_id is None:
        return
    item = ReviewItem.objects.filter(image_id=mask.image_id, status=ReviewStatus.PENDING).first()
    if item is None:
        return
    seconds = mask.editing_seconds if mask.editing_seconds else None
    review_item_mark_corrected(item=item, user=mask.author, seconds=seconds, human_mask=mask)


def review_item_finish_regions(
    *,
    item: ReviewItem,
    user,
    mode: str,
    decisions: dict[int, RegionChoice],
    seconds: float | None = None,
    activity: dict[int, dict] | None = None,
) -> ReviewItem:
    """Finish a review by region: the server composes the mask (webapp.review.regions) from
    the pseudo mask, the teachers' labels and the superpixels, and saves it as the reviewer's
    human mask, based on the pseudo mask's version.

    mode ACCEPT_REST: the regions not decided keep the pseudo-label. PARTIAL: the doubtful
    regions not decided get the project's ignore index (refused without an ignore class).
    The item is accepted when the mask is the pseudo-label as it was (nothing taken from a
    teacher or painted, nothing left unlabeled), else corrected, with the pixel error; its
    region_log records the mode, the regions touched and, from `activity` (region id ->
    {"seconds", "keys"}), the time and keys per region. One transaction; ReviewRefused (the
    same refusals as accept) leaves everything as it was.
    """
    project = item.project
    _require_reviewer(project=project, user=user)
    activity = activity or {}
    ignore_index = project.ignore_index
    if mode == PARTIAL and ignore_index is None:
        raise ReviewRefused(PARTIAL_NEEDS_IGNORE)
    classes = {c.index for c in project.label_classes.all() if not c.is_ignore}
    for choice in decisions.values():
        if choice.source == PAINT and choice.label not in classes:
            raise ReviewRefused(UNKNOWN_CLASS.format(label=choice.label))
    with transaction.atomic():
        locked = _lock_pending(item, user)
        image = Image.objects.select_for_update().get(pk=locked.image_id)  # no join: see images.services._mask_store
        if image.current_mask_id != locked.pseudo_mask_id:
            raise ReviewRefused(IMAGE_CHANGED.format(current=image.mask_version, pseudo=locked.pseudo_mask.version))
        try:
            layers = item_region_layers(
                item=locked, image=image, teachers={c.source for c in decisions.values()} & {SU, RU}
            )
        except RegionsUnavailable as missing:
            raise ReviewRefused(str(missing)) from missing
        unknown = unknown_regions(layers.superpixels, [*decisions, *activity])
        if unknown:
            shown = ", ".join(map(str, unknown[:SHOWN_IDS])) + (" …" if len(unknown) > SHOWN_IDS else "")
            raise ReviewRefused(UNKNOWN_REGIONS.format(ids=shown))
        unchecked = [r.id for r in layers.doubtful if r.id not in decisions] if mode == PARTIAL else []
        mask = region_mask_compose(
            superpixels=layers.superpixels,
            pseudo=layers.pseudo,
            su=layers.su,
            ru=layers.ru,
            choices=decisions,
            unlabeled=unchecked,
            ignore_index=ignore_index,
        )
        touched = [region_id for region_id, choice in decisions.items() if choice.source != PSEUDO]
        unchanged = not touched and not unchecked
        spent = _seconds_spent(locked, user, seconds, timezone.now())
        error = ACCEPTED_ERROR if unchanged else pixel_error(layers.pseudo, mask, ignore_index)
        _decide(locked, user, ReviewStatus.ACCEPTED if unchanged else ReviewStatus.CORRECTED, spent, error)
        human = mask_save(
            image=image,
            base_version=locked.pseudo_mask.version,
            array=mask,
            author=user,
            source=MaskSource.HUMAN,
            editing_seconds=spent,
        )
        ReviewItem.objects.filter(pk=locked.pk).update(
            region_mask=human,
            unlabeled_share=float((mask == ignore_index).mean()) if unchecked else 0.0,
            region_log=_region_log(mode, decisions, touched, unchecked, layers.doubtful, activity),
        )
    item.refresh_from_db()
    return item


def _region_log(mode, decisions, touched, unchecked, doubtful, activity) -> dict:
    """What region_log keeps: {mode, doubtful (their count), checked and touched (ids, in
    the order decided), unchecked (left unlabeled), regions: {id: {seconds, keys, source,
    class}}, keys: {key: times used}}."""
    regions = {}
    for region_id in sorted(set(decisions) | set(activity)):
        entry = dict(activity.get(region_id, {"seconds": 0.0, "keys": []}))
        choice = decisions.get(region_id)
        if choice is not None:
            entry["source"] = choice.source
            if choice.source == PAINT:
                entry["class"] = choice.label
        regions[str(region_id)] = entry
    keys: dict[str, int] = {}
    for entry in activity.values():
        for key in entry["keys"]:
            keys[key] = keys.get(key, 0) + 1
    return {
        "mode": mode,
        "doubtful": len(doubtful),
        "checked": list(decisions),
        "touched": touched,
        "unchecked": unchecked,
        "regions": regions,
        "keys": keys,
    }
