"""Image upload and the file views. Media is never public: every file is served here, after
the membership check (outsiders 404), with a content type and private cache headers."""

import mimetypes

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
)
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe
from django_htmx.middleware import HtmxDetails

from webapp.datasets.archive import InvalidDataset
from webapp.datasets.dataset_import import dataset_analyse, dataset_import
from webapp.datasets.folder import clean_path, folder_import
from webapp.images.selectors import NO_WINDOW, InvalidWindow, display_windowed_png, image_get, mask_get, window_parse
from webapp.projects.access import project_get_for_user
from webapp.projects.models import Role

NO_FILES = "Choose one or more image files to upload."
FILE_MISSING = "The file of this image is missing from storage."
SUPERPIXELS_NOT_READY = (
    "The superpixels of this image are not computed yet: a background worker computes them after "
    "upload; try again in a moment."
)
# Superpixels are named by the image's checksum and not rewritten, but a later version of the
# algorithm may compute them again under the same URL: a day, not a year.
SUPERPIXELS_CACHE = "private, max-age=86400"
# Files never change once written (images and thumbnails are named by checksum, masks by
# version), so browsers may keep them a year; "private" keeps shared caches out.
IMMUTABLE = "private, max-age=31536000, immutable"


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (for the type checker)."""

    htmx: HtmxDetails


@login_required
def upload(request: HtmxHttpRequest, project_id: int) -> HttpResponse:
    """Images (a folder, with masks paired by name: webapp/datasets/folder.py) or one dataset zip
    (analysed first; stored when the user confirms)."""
    project = project_get_for_user(user=request.user, project_id=project_id, role=Role.ANNOTATOR)
    results, error, dataset = [], "", None
    if request.method == "POST":
        files = request.FILES.getlist("files")
        error = "" if files else NO_FILES
        if len(files) == 1 and (files[0].name or "").lower().endswith(".zip"):
            dataset = _dataset_step(
                project=project, upload=files[0], user=request.user, confirm=request.POST.get("confirm") == "1"
            )
        elif files:
            results = folder_import(project=project, files=_with_paths(request, files), user=request.user)
    context = {
        "project": project,
        "results": results,
        "error": error,
        "dataset": dataset,
        "created": sum(1 for r in results if r.image),
        "refused": sum(1 for r in results if r.error and not r.ignored),
        "max_mb": round(settings.SEGLOOP_MAX_UPLOAD_BYTES / 2**20),
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }
    template = "images/upload.html#results" if request.htmx else "images/upload.html"
    return TemplateResponse(request, template, context)


def _with_paths(request: HttpRequest, files: list[UploadedFile]) -> list[tuple[str, UploadedFile]]:
    """Each file with the relative path the page sent for it (a folder upload), else its name."""
    paths = request.POST.getlist("paths")
    if len(paths) != len(files):
        paths = [f.name or "file" for f in files]
    return [(clean_path(path, f.name or "file"), f) for path, f in zip(paths, files, strict=True)]


def _dataset_step(*, project, upload, user, confirm: bool) -> dict:
    try:
        if confirm:
            return dataset_import(project=project, archive_file=upload, user=user)
        return dataset_analyse(project=project, archive_file=upload)
    except InvalidDataset as refused:
        return {"detail": str(refused), "can_import": False, "results": [], "invalid": True}


@login_required
@require_safe
def image_file(request, project_id: int, image_id: int):
    """The picture browsers show: the display file (upright, 8-bit PNG or JPEG) of a TIFF, a
    16-bit or float image or a rotated photo, else the original. The API serves the original."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    image = image_get(project=project, image_id=image_id)
    return _file_response(image.pixels_file, filename=image.pixels_name)


@login_required
@require_safe
def display(request, project_id: int, image_id: int):
    """A 16-bit or float image through the window ?min=&max= (the editor's window control):
    a PNG rendered from the original's values, nothing stored. 400 for a window out of the
    image's value range, 404 for an image without a window."""
    project = project_get_for_user(user=request.user, project_id=project_id, classes=False)
    image = image_get(project=project, image_id=image_id)
    if not image.has_window:
        return HttpResponseNotFound(NO_WINDOW, content_type="text/plain; charset=utf-8")
    try:
        png = display_windowed_png(image=image, window=window_parse(image=image, query=request.GET))
    except InvalidWindow as refused:
        return HttpResponseBadRequest(str(refused), content_type="text/plain; charset=utf-8")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = IMMUTABLE  # the URL names the window; the original never changes
    return response


@login_required
@require_safe
def thumbnail(request, project_id: int, image_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    image = image_get(project=project, image_id=image_id)
    return _file_response(image.thumbnail)


@login_required
@require_safe
def mask_file(request, project_id: int, image_id: int, version: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    mask = mask_get(project=project, image_id=image_id, version=version)
    return _file_response(mask.file, filename=f"{mask.image.original_name.rsplit('.', 1)[0]}-mask-v{mask.version}.png")


@login_required
@require_safe
def superpixels(request, project_id: int, image_id: int):
    """The image's superpixels (webapp.images.superpixels): an RGB PNG at full size, region id
    = R + 256 G + 65536 B. A GET never computes them; until the worker has, 404 with a message."""
    project = project_get_for_user(user=request.user, project_id=project_id, classes=False)
    image = image_get(project=project, image_id=image_id)
    if not image.superpixels:
        missing = HttpResponseNotFound(SUPERPIXELS_NOT_READY, content_type="text/plain; charset=utf-8")
        missing["Cache-Control"] = "no-store"  # they will exist soon: never cache the 404
        return missing
    response = _file_response(image.superpixels)
    response["Cache-Control"] = SUPERPIXELS_CACHE
    return response


def _file_response(field, *, filename: str | None = None) -> FileResponse:
    if not field or not field.storage.exists(field.name):
        raise Http404(FILE_MISSING)
    content_type = mimetypes.guess_type(field.name)[0] or "application/octet-stream"
    response = FileResponse(field.open("rb"), content_type=content_type, filename=filename or "")
    response["Cache-Control"] = IMMUTABLE
    return response
