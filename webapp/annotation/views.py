"""The annotation editor page and the endpoints its script talks to.

Every view fetches the project through project_get_for_user: outsiders get 404, members
without the role 403. The endpoints the script calls answer errors as JSON {error}.
"""

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from webapp.annotation.selectors import MaskPng, image_next_to_label, mask_current_png, unpainted_index
from webapp.annotation.services import NoPrefill, human_mask_save, mask_prefill, mask_save_request_parse
from webapp.converters import parse_id
from webapp.images.selectors import display_window_config, image_get
from webapp.images.services import MaskConflict
from webapp.images.validation import InvalidUpload
from webapp.projects.access import project_get_for_user
from webapp.projects.models import Role

EDITOR_NEEDS_ROLE = "Opening the editor needs the annotator or reviewer role in the project."
SAVE_NEEDS_ANNOTATOR = "Only annotators can save masks; reviewers may look at them here but not change them."
ALL_LABELED = "No unlabeled images are left in this project."


def json_errors(view):
    """Answer 404 and 403 as JSON {error}, so the editor can show the message as it is."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Http404 as missing:
            return JsonResponse({"error": str(missing)}, status=404)
        except PermissionDenied as denied:
            return JsonResponse({"error": str(denied)}, status=403)

    return wrapped


@login_required
@require_safe
def editor(request, project_id: int, image_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    can_edit = project.membership.has_role(Role.ANNOTATOR)
    if not (can_edit or project.membership.has_role(Role.REVIEWER)):
        raise PermissionDenied(EDITOR_NEEDS_ROLE)
    image = image_get(project=project, image_id=image_id)
    context = {
        "project": project,
        "image": image,
        "can_edit": can_edit,
        "config": _editor_config(project=project, image=image, can_edit=can_edit),
    }
    return TemplateResponse(request, "annotation/editor.html", context)


@login_required
@require_safe
@json_errors
def mask(request, project_id: int, image_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    return _png_response(mask_current_png(image=image_get(project=project, image_id=image_id)))


@login_required
@require_POST
@json_errors
def save(request, project_id: int, image_id: int):
    try:
        project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ANNOTATOR)
    except PermissionDenied as err:
        raise PermissionDenied(SAVE_NEEDS_ANNOTATOR) from err
    image = image_get(project=project, image_id=image_id)
    try:
        parsed = mask_save_request_parse(**_save_fields(request))
        saved = human_mask_save(image=image, author=request.user, save=parsed)
    except InvalidUpload as refused:
        return JsonResponse({"error": str(refused)}, status=400)
    except MaskConflict as conflict:
        return JsonResponse(
            {
                "error": str(conflict),
                "current_version": conflict.current_version,
                "saved_version": conflict.saved.version,
            },
            status=409,
        )
    return JsonResponse({"version": saved.version})


@login_required
@require_safe
@json_errors
def prefill(request, project_id: int, image_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ANNOTATOR)
    image = image_get(project=project, image_id=image_id)
    try:
        return _png_response(mask_prefill(image=image))
    except NoPrefill as nothing:
        return JsonResponse({"error": str(nothing)}, status=404)


@login_required
@require_safe
def next_image(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ANNOTATOR)
    after = request.GET.get("after", "")
    image = image_next_to_label(project=project, after=parse_id(after))
    if image is None:
        messages.info(request, ALL_LABELED)
        return redirect("projects:detail", project_id=project.id)
    return redirect("annotation:editor", project_id=project.id, image_id=image.id)


def _save_fields(request) -> dict:
    """The PNG as the raw body (Content-Type image/png, fields in the query) or multipart fields."""
    if request.content_type == "image/png":
        fields, png = request.GET, request.body
    else:
        fields, upload = request.POST, request.FILES.get("mask")
        png = upload.read() if upload else None
    return {"png": png, "base_version": fields.get("base_version"), "editing_seconds": fields.get("editing_seconds")}


def _png_response(mask: MaskPng) -> HttpResponse:
    response = HttpResponse(mask.png, content_type="image/png")
    response["X-Mask-Version"] = str(mask.version)
    response["X-Mask-Source"] = mask.source
    if mask.model_number is not None:
        response["X-Model-Version"] = str(mask.model_number)
    response["Cache-Control"] = "private, no-store"  # the current mask changes with every save
    return response


def _editor_config(*, project, image, can_edit: bool) -> dict:
    """What the editor script needs, handed over with json_script."""
    ids = {"project_id": project.id, "image_id": image.id}
    return {
        "imageId": image.id,
        "width": image.width,
        "height": image.height,
        "canEdit": can_edit,
        "unpainted": unpainted_index(project=project),
        "window": display_window_config(image),  # 16-bit and float images: the window control
        "classes": [
            {"index": c.index, "name": c.name, "color": c.color, "isIgnore": c.is_ignore}
            for c in project.label_classes.all()
        ],
        "urls": {
            "image": reverse("images:file", kwargs=ids),
            "superpixels": reverse("images:superpixels", kwargs=ids),
            "mask": reverse("annotation:mask", kwargs=ids),
            "save": reverse("annotation:save", kwargs=ids),
            "prefill": reverse("annotation:prefill", kwargs=ids),
            "next": reverse("annotation:next", kwargs={"project_id": project.id}) + f"?after={image.id}",
            "project": reverse("projects:detail", kwargs={"project_id": project.id}),
        },
    }
