"""The review queue page: one leased item at a time, in the project's queue order, with why
it was picked.

Reviewers and admins only (annotators get 403, outsiders 404). Only POSTs lease: the page
(GET) shows the item the reviewer already holds, or a "Start reviewing" form that POSTs to
`next`, which leases the first free item and redirects back (PRG). Decisions are plain POST
forms (the keyboard shortcuts in static/js/review.js submit them) that lease the next item
before they redirect back to the queue, so a reviewer keeps flowing with one POST per item.
Review by region (static/js/review/regions.js) loads the item's doubtful regions with a
separate JSON request and posts its decisions as JSON; the server composes the mask.
The auto-accept panel (learned threshold, accepted share, audited error) is a partial the page
loads after itself, so serving the next item never waits for its queries; admins change the
queue settings with a POST form that redirects back.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from ml.calibration import CALIBRATED, MIN_SUPPORT, TOO_FEW, UNMET
from webapp.projects.access import project_get_for_user
from webapp.projects.models import Role
from webapp.review import maps
from webapp.review.forms import InvalidRegionReview, QueueSettingsForm, region_review_parse
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.queue import (
    REORDERING_FIELDS,
    accepted_error_estimate,
    pick_reason,
    review_settings_update,
    review_threshold_effective,
    unlabeled_share_accepted,
)
from webapp.review.regions import RegionsUnavailable, item_doubtful_regions_cached
from webapp.review.selectors import (
    review_counts,
    review_item_for_project,
    review_item_free_exists,
    review_item_held,
    review_recent,
)
from webapp.review.services import (
    ReviewRefused,
    review_item_accept,
    review_item_finish_regions,
    review_item_next,
    review_item_reject,
    review_item_release,
)

PAGE = "review/queue.html"
NO_SUCH_ITEM = "No such review item in this project."
DECIDED = {
    "accept": "Accepted: the pseudo-label is now a human mask.",
    "reject": "Rejected: the image is unlabeled again.",
}
REGIONS_ACCEPTED = "Accepted: every region kept the pseudo-label, which is now a human mask."
REGIONS_CORRECTED = "Saved: the regions you chose, with the pseudo-label elsewhere, are now a human mask."
REGIONS_PARTIAL = "Saved partially: {n} unchecked region{s} left unlabeled; the rest is now a human mask."
SETTINGS_SAVED = "Queue settings saved."
SETTINGS_REORDERED = "Queue settings saved; the pending items were put in the new order."
SETTINGS_UNCHANGED = "The queue settings were already these."

# The auto-accept panel. Thresholds are scores (0..1), errors and targets percentages.
THRESHOLD_FROM = {
    CALIBRATED: "Learned from {decisions} decisions: pseudo-labels scoring ≥ {threshold} had {error} % wrong "
    "pixels on average (target {target} %).",
    TOO_FEW: "Too few decisions yet ({decisions} of {min_support}): the project's threshold {threshold} is used.",
    UNMET: "No score range met the {target} % target yet: only labels above {threshold} are accepted.",
    None: "Not calibrated yet: the project's threshold {threshold}.",
}
ACCEPTED_SHARE = "{accepted} of {without_human} images without a human mask are accepted pseudo-labels ({share} %)."
NO_UNLABELED = "Every image has a human mask."
ERROR_WITH_INTERVAL = "{mean} % ({level} % CI {low}–{high} %), from {n} audits"
ERROR_ONE_AUDIT = "{mean} %, from 1 audit (too few for an interval)"
NO_AUDITS = "no audits decided yet"


def _skipped_key(project) -> str:
    return f"review-skipped-{project.pk}"


def _item_or_404(project, item_id) -> ReviewItem:
    try:
        return review_item_for_project(project=project, item_id=item_id)
    except ReviewItem.DoesNotExist as err:
        raise Http404(NO_SUCH_ITEM) from err


def _editor_url(project, item) -> str:
    return reverse("annotation:editor", args=[project.pk, item.image_id]) + f"?review={item.pk}"


def _lease_next(request, project) -> ReviewItem | None:
    """Lease the reviewer's next item (the one they hold, else the first free one that they
    did not skip); None when the queue has nothing free."""
    skipped = request.session.get(_skipped_key(project), [])
    item = review_item_next(project=project, user=request.user, exclude_ids=skipped)
    if item is None and skipped:  # only skipped items are left: offer them again
        request.session[_skipped_key(project)] = []
        item = review_item_next(project=project, user=request.user)
    return item


@login_required
@require_safe
def queue(request, project_id: int):
    """The item the reviewer holds, or a form to start (never leases: a GET changes nothing)."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    item = review_item_held(project=project, user=request.user)
    context = {
        "project": project,
        "item": item,
        "can_start": item is None and review_item_free_exists(project=project),
        "counts": review_counts(project=project),
        "recent": review_recent(project=project),
        "classes": [c for c in project.label_classes.all() if not c.is_ignore],
        "editor_url": _editor_url(project, item) if item else "",
        "pick_reason": pick_reason(item) if item else "",
        "settings_form": QueueSettingsForm.for_project(project) if project.membership.is_admin else None,
    }
    return TemplateResponse(request, PAGE, context)


@login_required
@require_POST
def next_item(request, project_id: int):
    """Lease the next item, then show it on the page (303: the page is a GET)."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER, classes=False)
    _lease_next(request, project)
    return HttpResponseRedirect(reverse("review:queue", args=[project.pk]), status=303)


def _score(value: float) -> str:
    return f"{value:.2f}"


def _pct(share: float, digits: int = 1) -> str:
    """A share as a percentage without trailing zeros: 0.05 -> "5", 0.031 -> "3.1"."""
    return f"{round(share * 100, digits):g}"


def _threshold_text(project) -> str:
    calibration = project.threshold_calibration or {}
    status = calibration.get("status") if calibration.get("status") in (CALIBRATED, TOO_FEW, UNMET) else None
    target = calibration.get("target", project.target_pixel_error)
    return THRESHOLD_FROM[status].format(
        decisions=calibration.get("decisions", 0),
        min_support=MIN_SUPPORT,
        threshold=_score(review_threshold_effective(project) if status else project.review_threshold),
        error=_pct(calibration.get("mean_error") or 0.0),
        target=_pct(target, 2),
    )


def _error_text(project) -> str:
    estimate = accepted_error_estimate(project=project)
    if estimate.n == 0 or estimate.mean is None:  # the mean is None exactly when n is 0
        return NO_AUDITS
    if estimate.low is None or estimate.high is None:  # both None exactly when n is 1
        return ERROR_ONE_AUDIT.format(mean=_pct(estimate.mean))
    return ERROR_WITH_INTERVAL.format(
        mean=_pct(estimate.mean),
        level=_pct(estimate.level, 0),
        low=_pct(estimate.low),
        high=_pct(estimate.high),
        n=estimate.n,
    )


def _accepted_text(project) -> str:
    accepted, without_human = unlabeled_share_accepted(project=project)
    if not without_human:
        return NO_UNLABELED
    return ACCEPTED_SHARE.format(
        accepted=accepted, without_human=without_human, share=_pct(accepted / without_human, 0)
    )


@login_required
@require_safe
def auto_accept(request, project_id: int):
    """The auto-accept panel, loaded by the page after itself (its queries grow with the
    project, the next item must not wait for them)."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER, classes=False)
    context = {
        "project": project,
        "threshold": _score(review_threshold_effective(project)),
        "threshold_text": _threshold_text(project),
        "accepted_text": _accepted_text(project),
        "error_text": _error_text(project),
    }
    return TemplateResponse(request, f"{PAGE}#auto-accept", context)


@login_required
@require_POST
def queue_settings(request, project_id: int):
    """Admins: the queue's strategy, batch size, target pixel error and audit share."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ADMIN)
    form = QueueSettingsForm(request.POST)
    if not form.is_valid():
        for message in form.messages():
            messages.error(request, message)
        return redirect("review:queue", project_id=project.pk)
    changed = review_settings_update(project=project, user=request.user, **form.settings())
    reordered = any(name in changed for name in REORDERING_FIELDS)
    messages.success(request, SETTINGS_REORDERED if reordered else SETTINGS_SAVED if changed else SETTINGS_UNCHANGED)
    return redirect("review:queue", project_id=project.pk)


def _seconds(request) -> float | None:
    try:
        return float(request.POST["seconds"])
    except (KeyError, ValueError):
        return None


@login_required
@require_POST
def decide(request, project_id: int, item_id: int, decision: str):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    item = _item_or_404(project, item_id)
    if decision == "skip":
        review_item_release(item=item, user=request.user)
        key = _skipped_key(project)
        request.session[key] = [*request.session.get(key, []), item.pk]
        _lease_next(request, project)
        return redirect("review:queue", project_id=project.pk)
    action = {"accept": review_item_accept, "reject": review_item_reject}.get(decision)
    if action is None:
        raise Http404(NO_SUCH_ITEM)
    try:
        action(item=item, user=request.user, seconds=_seconds(request))
    except ReviewRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, DECIDED[decision])
    _lease_next(request, project)  # the page shows it: no GET has to lease
    return redirect("review:queue", project_id=project.pk)


@login_required
@require_safe
def regions(request, project_id: int, item_id: int):
    """The item's doubtful regions (JSON, most doubtful first) and where the page finds the
    superpixels and the layers it previews choices with."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    item = _item_or_404(project, item_id)
    try:
        doubtful = item_doubtful_regions_cached(item=item)
    except RegionsUnavailable as missing:
        return JsonResponse({"error": str(missing)}, status=409)
    layers = {name: reverse("review:layer", args=[project.pk, item.pk, name]) for name in ("labels", "su", "ru")}
    return JsonResponse(
        {
            "item": item.pk,
            "width": item.image.width,
            "height": item.image.height,
            **doubtful.as_json(),
            "superpixels_url": reverse("images:superpixels", args=[project.pk, item.image_id]),
            "layers": layers,
            "teachers": bool(item.su_label and item.ru_label),
        }
    )


@login_required
@require_POST
def finish_regions(request, project_id: int, item_id: int):
    """Finish a review by region (JSON body: forms.region_review_parse). 400 on a malformed
    request, 409 with the refusal when the decision cannot be recorded."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    item = _item_or_404(project, item_id)
    try:
        review = region_review_parse(request.body)
        item = review_item_finish_regions(
            item=item,
            user=request.user,
            mode=review.mode,
            decisions=review.decisions,
            seconds=review.seconds,
            activity=review.activity,
        )
    except InvalidRegionReview as invalid:
        return JsonResponse({"error": str(invalid)}, status=400)
    except ReviewRefused as refusal:
        return JsonResponse({"error": str(refusal)}, status=409)
    assert item.region_log is not None, "review_item_finish_regions records the region log"
    unchecked = len(item.region_log["unchecked"])
    if item.status == ReviewStatus.ACCEPTED:
        message = REGIONS_ACCEPTED
    elif unchecked:
        message = REGIONS_PARTIAL.format(n=unchecked, s="s" if unchecked != 1 else "")
    else:
        message = REGIONS_CORRECTED
    messages.success(request, message)
    _lease_next(request, project)  # the page the client goes to next shows it
    next_url = reverse("review:queue", args=[project.pk])
    return JsonResponse({"status": item.status, "message": message, "next": next_url})


@login_required
@require_safe
def layer(request, project_id: int, item_id: int, name: str):
    """The item's overlays as RGBA PNGs: pseudo-label and each teacher's label in class
    colours, confidence heat map, teacher disagreement. Members with the reviewer role only,
    like the page."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    item = _item_or_404(project, item_id)
    render = {
        "labels": maps.labels_png,
        "confidence": maps.confidence_png,
        "disagreement": maps.disagreement_png,
        "su": maps.su_png,
        "ru": maps.ru_png,
    }
    if name not in render:
        raise Http404(NO_SUCH_ITEM)
    return maps.png_response(render[name](project=project, item=item))
