"""Reads for images and masks, always within a project the caller may see."""
from django.shortcuts import get_object_or_404

from webapp.images.models import Image, Mask
from webapp.projects.models import Project


def image_get(*, project: Project, image_id: int) -> Image:
    """The project's image, or Http404 (an id from another project is not found either)."""
    image = get_object_or_404(Image.objects.select_related("current_mask"), project=project, pk=image_id)
    # Reuse the caller's project (its label classes are prefetched): saves queries per request.
    image.project = project
    return image


def mask_get(*, project: Project, image_id: int, version: int) -> Mask:
    return get_object_or_404(Mask, image__project=project, image_id=image_id, version=version)
