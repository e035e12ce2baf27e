"""The review queue page: one leased item at a time, least confident first.

Reviewers and admins only (annotators get 403, outsiders 404). Decisions are plain POST forms
(the keyboard shortcuts in static/js/review.js submit them) that redirect back to the queue.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST, require_safe

from webapp.projects.access import project_get_for_user
from webapp.projects.models import Role
from webapp.review import maps
from webapp.review.models import ReviewItem
from webapp.review.selectors import review_counts, review_item_for_project, review_recent
from webapp.review.services import (
    ReviewRefused,
    review_item_accept,
    review_item_next,
    review_item_reject,
    review_item_release,
)

PAGE = "review/queue.html"
NO_SUCH_ITEM = "No such review item in this project."
DECIDED = {"accept": "Accepted: the pseudo-label is now a human mask.", "reject": "Rejected: the image is unlabeled again."}


def _skipped_key(project) -> str:
    return f"review-skipped-{project.pk}"


def _item_or_404(project, item_id) -> ReviewItem:
    try:
        return review_item_for_project(project=project, item_id=item_id)
    except ReviewItem.DoesNotExist:
        raise Http404(NO_SUCH_ITEM)


def _editor_url(project, item) -> str:
    try:
        return reverse("annotation:editor", args=[project.pk, item.image_id]) + f"?review={item.pk}"
    except NoReverseMatch:  # the editor app is not installed
        return ""


@login_required
@require_safe
def queue(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    skipped = request.session.get(_skipped_key(project), [])
    item = review_item_next(project=project, user=request.user, exclude_ids=skipped)
    if item is None and skipped:  # only skipped items are left: offer them again
        request.session[_skipped_key(project)] = []
        item = review_item_next(project=project, user=request.user)
    context = {
        "project": project,
        "item": item,
        "counts": review_counts(project=project),
        "recent": review_recent(project=project),
        "classes": [c for c in project.label_classes.all() if not c.is_ignore],
        "editor_url": _editor_url(project, item) if item else "",
    }
    return TemplateResponse(request, PAGE, context)


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
    return redirect("review:queue", project_id=project.pk)


@login_required
@require_safe
def layer(request, project_id: int, item_id: int, name: str):
    """The item's overlays as RGBA PNGs: pseudo-label in class colours, confidence heat map,
    teacher disagreement. Members with the reviewer role only, like the page."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.REVIEWER)
    item = _item_or_404(project, item_id)
    render = {"labels": maps.labels_png, "confidence": maps.confidence_png, "disagreement": maps.disagreement_png}
    if name not in render:
        raise Http404(NO_SUCH_ITEM)
    return maps.png_response(render[name](project=project, item=item))
