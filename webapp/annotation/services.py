"""The editor's services. Human mask saves, from the editor page and from the API: one parser
for the request's values (the same rules and messages on both), one save; the mask itself is
stored by webapp.images.services.mask_save_png. And the starting mask that the editor's
prefill asks for, which runs the project's served model.
"""

import re
from dataclasses import dataclass

from webapp.annotation.selectors import MaskPng, mask_machine_latest_png
from webapp.converters import MAX_ID
from webapp.images.models import Image, Mask
from webapp.images.services import mask_save_png
from webapp.images.validation import InvalidUpload, encode_mask_png
from webapp.training import prediction
from webapp.training.models import ModelVersion

BASE_VERSION_REQUIRED = (
    "Say which mask version you edited: base_version=N, or an If-Match header with the ETag "
    "you read (0 for an image without a mask)."
)
BAD_BASE_VERSION = "base_version must be the whole number (0 or more) of the mask version you started from."
# Longer than any believable session on one image: a broken client clock, not work.
MAX_EDITING_SECONDS = 12 * 3600
BAD_EDITING_SECONDS = f"editing_seconds must be a number of seconds from 0 to {MAX_EDITING_SECONDS} (12 hours)."
NO_MASK_SENT = (
    "Send the mask as a PNG of class indices: the request body with Content-Type: image/png, "
    "or a file field named “mask”."
)

NOTHING_TO_PREFILL = (
    "There is no model prediction or pseudo-label for this image yet: paint it by hand, "
    "or train and activate a model first."
)

# A version number, bare or as the ETag we send ("3"), weak or not (W/"3").
_VERSION = re.compile(r'\s*(?:W/)?"?(\d+)"?\s*')


class NoPrefill(Exception):
    """Neither the active model nor the image's history offers a starting mask."""


@dataclass(frozen=True)
class MaskSaveRequest:
    """A human mask save as the page and the API receive it, checked."""

    png: bytes
    base_version: int
    editing_seconds: float


def mask_save_request_parse(
    *, png: bytes | None, base_version: str | None, editing_seconds: str | None, if_match: str | None = None
) -> MaskSaveRequest:
    """Check the raw request values; InvalidUpload with a message for the user when they are wrong.

    base_version: the parameter, else the If-Match header. editing_seconds: missing is 0; else
    a number from 0 to MAX_EDITING_SECONDS (negative, larger, NaN and infinite are refused)."""
    return MaskSaveRequest(
        png=_png(png),
        base_version=_base_version(base_version if base_version is not None else if_match),
        editing_seconds=_editing_seconds(editing_seconds),
    )


def _png(png: bytes | None) -> bytes:
    if not png:
        raise InvalidUpload(NO_MASK_SENT)
    return png


def _base_version(value: str | None) -> int:
    if value is None or not value.strip():
        raise InvalidUpload(BASE_VERSION_REQUIRED)
    match = _VERSION.fullmatch(value)
    if match is None or int(match.group(1)) > MAX_ID:
        raise InvalidUpload(BAD_BASE_VERSION)
    return int(match.group(1))


def _editing_seconds(value: str | None) -> float:
    if value is None or value == "":
        return 0.0
    try:
        seconds = float(value)
    except ValueError as err:
        raise InvalidUpload(BAD_EDITING_SECONDS) from err
    if not 0 <= seconds <= MAX_EDITING_SECONDS:  # also NaN, which compares false
        raise InvalidUpload(BAD_EDITING_SECONDS)
    return seconds


def human_mask_save(*, image: Image, author, save: MaskSaveRequest) -> Mask:
    """Store a human mask sent by the editor or the API. Raises MaskConflict (stored, not
    current) or InvalidUpload."""
    return mask_save_png(
        image=image,
        base_version=save.base_version,
        png=save.png,
        author=author,
        editing_seconds=save.editing_seconds,
    )


def mask_prefill(*, image: Image) -> MaskPng:
    """A starting mask from a model: the active model's prediction when it can predict (it
    runs the network), else the image's latest pseudo-label or stored prediction. Raises NoPrefill."""
    project = image.project
    if ModelVersion.objects.filter(project=project, is_active=True).exists():
        try:
            array, scores = prediction.predict_image_array(project=project, image=image)
        except prediction.NoActiveModel:  # its weights are missing or unreadable: fall back
            pass
        else:
            return MaskPng(
                png=encode_mask_png(array),
                version=image.mask_version,
                source="prediction",
                model_number=scores.get("model_version"),
            )
    latest = mask_machine_latest_png(image=image)
    if latest is None:
        raise NoPrefill(NOTHING_TO_PREFILL)
    return latest
