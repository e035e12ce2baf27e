"""RGBA overlays for the review page, drawn from the stored masks and 8-bit maps."""

import io

import numpy as np
from django.http import Http404, HttpResponse
from PIL import Image as PILImage

from webapp.images.services import mask_read
from webapp.review.models import ReviewItem

MAP_MISSING = "This review item has no stored map."


def _png(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


def _read_gray(field) -> np.ndarray:
    if not field or not field.storage.exists(field.name):
        raise Http404(MAP_MISSING)
    with field.open("rb") as handle, PILImage.open(handle) as png:
        return np.array(png.convert("L"), dtype=np.uint8)


def _coloured(project, labels: np.ndarray) -> bytes:
    """Class indices in class colours; the ignore class stays transparent."""
    palette = np.zeros((256, 4), dtype=np.uint8)
    for label_class in project.label_classes.all():
        if not label_class.is_ignore:
            hex_colour = label_class.color.lstrip("#")
            palette[label_class.index] = [int(hex_colour[i : i + 2], 16) for i in (0, 2, 4)] + [255]
    return _png(palette[labels])


def labels_png(*, project, item: ReviewItem) -> bytes:
    """The pseudo-label in class colours; the ignore class stays transparent."""
    return _coloured(project, mask_read(item.pseudo_mask))


def su_png(*, project, item: ReviewItem) -> bytes:
    """The SU teacher's label in class colours (review by region takes it per region)."""
    return _coloured(project, _read_gray(item.su_label))


def ru_png(*, project, item: ReviewItem) -> bytes:
    """The RU teacher's label in class colours."""
    return _coloured(project, _read_gray(item.ru_label))


def confidence_png(*, project, item: ReviewItem) -> bytes:
    """Heat map: sure pixels fade out, doubtful ones glow from yellow to red."""
    confidence = _read_gray(item.confidence_map).astype(np.float32) / 255.0
    rgba = np.zeros((*confidence.shape, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (confidence * 220).astype(np.uint8)
    rgba[..., 3] = ((1.0 - confidence) * 255).clip(0, 255).astype(np.uint8)
    return _png(rgba)


def disagreement_png(*, project, item: ReviewItem) -> bytes:
    """Magenta where the two teachers' labels differ."""
    disagree = _read_gray(item.disagreement_map) > 127
    rgba = np.zeros((*disagree.shape, 4), dtype=np.uint8)
    rgba[disagree] = (236, 72, 153, 255)
    return _png(rgba)


def png_response(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response
