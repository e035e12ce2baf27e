"""Reads for the editor: the current mask, the latest machine mask and the next image that needs labels."""

from dataclasses import dataclass

import numpy as np

from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.validation import encode_mask_png
from webapp.projects.models import Project


@dataclass(frozen=True)
class MaskPng:
    """A single-channel PNG of class indices and where it came from."""

    png: bytes
    version: int  # the image's current version (what a save must name as its base)
    source: str  # "human", "pseudo", "model", "empty" or "prediction"
    model_number: int | None = None


def unpainted_index(*, project: Project) -> int:
    """The value of pixels nobody has labelled: the ignore class if there is one, else 0."""
    ignore = project.ignore_index
    return 0 if ignore is None else ignore


def mask_current_png(*, image: Image) -> MaskPng:
    """The current mask's file, or an all-unpainted map (version 0) when there is none yet."""
    mask = image.current_mask
    if mask is not None:
        with mask.file.open("rb") as handle:
            return MaskPng(png=handle.read(), version=mask.version, source=mask.source)
    fill = unpainted_index(project=image.project)
    empty = np.full((image.height, image.width), fill, dtype=np.uint8)
    return MaskPng(png=encode_mask_png(empty), version=0, source="empty")


def mask_machine_latest_png(*, image: Image) -> MaskPng | None:
    """The image's latest pseudo-label or stored model mask, offered as a save on top of its
    current version; None when it has neither."""
    latest = (
        Mask.objects.filter(image=image, source__in=[MaskSource.PSEUDO, MaskSource.MODEL])
        .select_related("model_version")
        .order_by("-version")
        .first()
    )
    if latest is None:
        return None
    with latest.file.open("rb") as handle:
        png = handle.read()
    number = latest.model_version.number if latest.model_version else None
    return MaskPng(png=png, version=image.mask_version, source=latest.source, model_number=number)


def image_next_to_label(*, project: Project, after: int | None) -> Image | None:
    """The next unlabeled image by id after `after`, wrapping to the start; never `after` itself."""
    unlabeled = Image.objects.filter(project=project, status=ImageStatus.UNLABELED).order_by("id")
    if after is None:
        return unlabeled.first()
    return unlabeled.filter(id__gt=after).first() or unlabeled.filter(id__lt=after).first()
