"""Writes for images and masks. Files and rows are written together or not at all."""

import hashlib
import io
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from PIL import Image as PILImage

from webapp.images.display import display_bytes
from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.tasks import image_embeddings_enqueue, image_superpixels_enqueue
from webapp.images.validation import (
    DUPLICATE,
    InvalidUpload,
    check_image_bytes,
    check_mask_classes,
    decode_mask_png,
    decode_mask_upload,
    encode_mask_png,
)
from webapp.projects.models import Project
from webapp.training.models import ModelVersion

MASK_CONFLICT = (
    "Someone saved this mask (version {current}) after you opened version {base}. "
    "Your version is kept in the history as version {saved}; reload to see theirs, or keep editing."
)


class MaskConflict(Exception):
    """The save started from a stale version. The conflicting mask is stored, not current."""

    def __init__(self, *, current_version: int, base_version: int, saved: Mask):
        self.current_version = current_version
        self.base_version = base_version
        self.saved = saved
        super().__init__(MASK_CONFLICT.format(current=current_version, base=base_version, saved=saved.version))


FORMAT_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp"}


def project_class_indices(project: Project) -> set[int]:
    return {c.index for c in project.label_classes.all()}


def is_validation_checksum(checksum: str, share: float) -> bool:
    """A fixed, reproducible choice of held-out images: the same image is always held out."""
    return int(checksum[:8], 16) / 0xFFFFFFFF < share


@contextmanager
def _delete_files_on_error(*fields):
    """Storage is not transactional: remove what was written if the rows are rolled back."""
    try:
        yield
    except BaseException:
        for field in fields:
            if field and field.name:
                default_storage.delete(field.name)
        raise


def image_import(
    *, project: Project, name: str, data: bytes, uploaded_by=None, mask_data: bytes | None = None
) -> Image:
    """Store one image (and its human mask, if given). Raises InvalidUpload and stores nothing on bad input."""
    checked = check_image_bytes(name=name, data=data)
    checksum = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, checksum=checksum).only("original_name").first()
    if existing:
        raise InvalidUpload(DUPLICATE.format(name=name, existing=existing.original_name))
    mask_array = None
    if mask_data is not None:
        mask_array = decode_mask_png(
            data=mask_data,
            width=checked.width,
            height=checked.height,
            valid_indices=project_class_indices(project),
        )
    display = checked.display
    image = Image(
        project=project,
        original_name=name[:255],
        size_bytes=len(data),
        checksum=checksum,
        uploaded_by=uploaded_by,
        width=checked.width,  # upright: the size of the display picture and of every mask
        height=checked.height,
        is_validation=is_validation_checksum(checksum, project.validation_share),
    )
    if display.window and display.value_range:
        image.window_low, image.window_high = display.window.low, display.window.high
        image.value_low, image.value_high = display.value_range.low, display.value_range.high
    # Stored under the suffix of the decoded format, not the uploaded name's, so that the
    # file views serve the right content type whatever the file was called.
    stored_name = f"image{FORMAT_SUFFIXES[checked.format]}"
    image.file.save(stored_name, ContentFile(data, name=stored_name), save=False)
    with _delete_files_on_error(image.file, image.display, image.thumbnail):
        if display.needs_file:
            display_name = f"display{FORMAT_SUFFIXES[display.format]}"
            image.display.save(display_name, ContentFile(display_bytes(display)), save=False)
        image.thumbnail.save("thumb.jpg", ContentFile(thumbnail_bytes(display.picture)), save=False)
        try:
            with transaction.atomic():
                image.save()
                if mask_array is not None:
                    mask_save(image=image, array=mask_array, author=uploaded_by, base_version=0)
        except IntegrityError as err:
            # A concurrent upload of the same file won the race.
            raise InvalidUpload(DUPLICATE.format(name=name, existing="a concurrent upload")) from err
    # Seed suggestions need its embedding; a burst of imports queues one task (webapp.images.tasks).
    transaction.on_commit(partial(image_embeddings_enqueue, project_id=project.pk))
    # The editor's superpixel tool and region review need its superpixels; queued the same way.
    transaction.on_commit(partial(image_superpixels_enqueue, project_id=project.pk))
    return image


def thumbnail_bytes(picture: PILImage.Image) -> bytes:
    """A JPEG thumbnail of the display picture (upright, windowed: what the editor shows)."""
    size = settings.SEGLOOP_THUMBNAIL_SIZE
    thumb = picture.convert("RGB")  # a copy: the display picture itself is stored afterwards
    thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@dataclass(frozen=True)
class MaskScores:
    mean_confidence: float
    confident_fraction: float
    disagreement: float


def mask_save(
    *,
    image: Image,
    base_version: int,
    array: np.ndarray,
    author: Any = None,  # a user, or None (imports, pseudo-labels)
    source: str = MaskSource.HUMAN,
    editing_seconds: float = 0.0,
    scores: MaskScores | None = None,
    model_version: ModelVersion | None = None,
    status: str | None = None,
) -> Mask:
    """Store a new version of the image's mask from an H,W array of class indices.

    `base_version` is the version the author started from. If someone saved in between, the
    new mask is still stored (no work is lost) but marked as a conflict, and MaskConflict is
    raised after the commit. A human mask makes the image labeled; pass `status` for others.
    """
    if array.shape != (image.height, image.width):
        raise InvalidUpload(
            f"The mask is {array.shape[1]}x{array.shape[0]} pixels but the image is {image.width}x{image.height}."
        )
    check_mask_classes(array=array, valid_indices=project_class_indices(image.project))
    return mask_store(
        image=image,
        base_version=base_version,
        encoded=encode_mask_png(array),
        author=author,
        source=source,
        editing_seconds=editing_seconds,
        scores=scores,
        model_version=model_version,
        status=status,
    )


def mask_save_png(
    *,
    image: Image,
    base_version: int,
    png: bytes,
    author: Any = None,  # a user, or None (imports, pseudo-labels)
    source: str = MaskSource.HUMAN,
    editing_seconds: float = 0.0,
    scores: MaskScores | None = None,
    model_version: ModelVersion | None = None,
    status: str | None = None,
) -> Mask:
    """mask_save for a single-channel PNG of class indices (the editor, the API): checked, and
    stored as sent when it already is a plain 8-bit PNG, else re-encoded."""
    valid = project_class_indices(image.project)
    decoded = decode_mask_upload(data=png, width=image.width, height=image.height, valid_indices=valid)
    return mask_store(
        image=image,
        base_version=base_version,
        encoded=png if decoded.storable_as_is else encode_mask_png(decoded.array),
        author=author,
        source=source,
        editing_seconds=editing_seconds,
        scores=scores,
        model_version=model_version,
        status=status,
    )


def mask_store(
    *,
    image: Image,
    base_version: int,
    encoded: bytes,
    author: Any,
    source: str,
    editing_seconds: float,
    scores: MaskScores | None,
    model_version: ModelVersion | None,
    status: str | None,
) -> Mask:
    """Store an already checked, encoded mask PNG as the image's next version (the one store
    under mask_save and mask_save_png). Raises MaskConflict after the commit when
    `base_version` is stale; the conflicting mask is stored, not current."""
    with transaction.atomic():
        # No select_related under FOR UPDATE: after waiting for the lock, PostgreSQL re-reads the
        # locked row but not the joined one, so a concurrent change left current_mask_id set and
        # current_mask None. Related rows are read after the lock, by a new statement.
        locked = Image.objects.select_for_update().get(pk=image.pk)
        current = locked.mask_version
        last = locked.masks.aggregate(last=Max("version"))["last"] or 0
        mask = Mask(
            image=locked,
            version=last + 1,
            source=source,
            author=author,
            based_on_version=base_version,
            is_conflict=base_version != current,
            editing_seconds=editing_seconds,
            model_version=model_version,
        )
        if scores is not None:
            mask.mean_confidence = scores.mean_confidence
            mask.confident_fraction = scores.confident_fraction
            mask.disagreement = scores.disagreement
        mask.file.save("mask.png", ContentFile(encoded), save=False)
        with _delete_files_on_error(mask.file):
            mask.save()
            if not mask.is_conflict:
                locked.current_mask = mask
                locked.status = status or (ImageStatus.LABELED if source == MaskSource.HUMAN else locked.status)
                locked.save(update_fields=["current_mask", "status"])
    if mask.is_conflict:
        raise MaskConflict(current_version=current, base_version=base_version, saved=mask)
    image.refresh_from_db(fields=["current_mask", "status"])
    return mask


def mask_read(mask: Mask) -> np.ndarray:
    with mask.file.open("rb") as handle, PILImage.open(handle) as png:
        return np.array(png, dtype=np.uint8)
