"""Writes from the editor. The mask itself is stored by webapp.images.services.mask_save."""

import math
from dataclasses import dataclass

from webapp.converters import MAX_ID
from webapp.images.models import Image, Mask
from webapp.images.services import mask_save
from webapp.images.validation import InvalidUpload

BAD_BASE_VERSION = "base_version must be the whole number of the mask version you started from."
BAD_EDITING_SECONDS = "editing_seconds must be a number of seconds."
NO_MASK_SENT = "Send the mask as a PNG of class indices (the request body, or a file field named “mask”)."
# Longer than any believable session on one image: a broken client clock, not work.
MAX_EDITING_SECONDS = 12 * 3600


@dataclass(frozen=True)
class EditorSave:
    png: bytes
    base_version: int
    editing_seconds: float


def editor_save_parse(*, png: bytes | None, base_version: str | None, editing_seconds: str | None) -> EditorSave:
    """Check the raw request values; InvalidUpload with a message for the user when they are wrong."""
    if not png:
        raise InvalidUpload(NO_MASK_SENT)
    if base_version is None:
        raise InvalidUpload(BAD_BASE_VERSION)
    try:
        base = int(base_version)
    except (TypeError, ValueError) as err:
        raise InvalidUpload(BAD_BASE_VERSION) from err
    if not 0 <= base <= MAX_ID:
        raise InvalidUpload(BAD_BASE_VERSION)
    try:
        seconds = float(editing_seconds or 0)
    except ValueError as err:
        raise InvalidUpload(BAD_EDITING_SECONDS) from err
    if not math.isfinite(seconds):  # NaN or inf
        raise InvalidUpload(BAD_EDITING_SECONDS)
    return EditorSave(png=png, base_version=base, editing_seconds=min(max(seconds, 0.0), MAX_EDITING_SECONDS))


def editor_mask_save(*, image: Image, author, save: EditorSave) -> Mask:
    """Store a human mask painted in the editor. Raises MaskConflict (stored, not current) or InvalidUpload."""
    return mask_save(
        image=image,
        base_version=save.base_version,
        png=save.png,
        author=author,
        editing_seconds=save.editing_seconds,
    )
