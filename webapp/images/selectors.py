"""Reads for images and masks, always within a project the caller may see.

Seed suggestions read the embeddings the worker stored (webapp.images.embeddings) and hand
them to ml.selection; the picks are cached per project and per state of the inputs (how many
embeddings, which images carry a human mask), so the grid recomputes them only when a mask
or an embedding arrives, and a GET never writes a row.
"""

import hashlib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404
from django.urls import reverse

from ml.selection import seed_suggestions
from ml.vectors import vector_from_bytes
from webapp.images.display import DISPLAY_PNG_LEVEL
from webapp.images.models import Image, Mask
from webapp.images.validation import InvalidUpload, decode_stored_display
from webapp.project_counts import counts_cached
from webapp.projects.models import Project
from webapp.training.selectors import human_labeled_images

NO_WINDOW = "Only 16-bit, 32-bit and float images have a window; this one is shown as it is."
BAD_WINDOW = "The window must be two numbers, min < max, within {low:g}..{high:g} (the image's values)."
WINDOW_NUMBER_CHARS = 40  # a float's repr is at most 24 characters
SUGGESTIONS_SHOWN = 8
SUGGESTIONS_CACHE_S = 24 * 3600  # the key changes with the inputs; this only bounds memory
EMBEDDINGS_KEY = "embedding-progress:{project}"
SUGGESTIONS_KEY = "seed-suggestions:{project}:{encoder}:{embedded}:{last}:{labeled}:{n}"
# Seed suggestions are for the first masks: past this many the review queue orders the work,
# and TypiClust's k (labeled + n clusters) would make a page view slow.
SEED_PHASE_LABELED_MAX = 100
# Unlabeled rows handed to TypiClust; above it an evenly spaced sample by id (about 1 s of CPU).
SUGGESTION_POOL_MAX = 3000


def image_get(*, project: Project, image_id: int) -> Image:
    """The project's image, or Http404 (an id from another project is not found either)."""
    image = get_object_or_404(Image.objects.select_related("current_mask"), project=project, pk=image_id)
    # Reuse the caller's project (its label classes are prefetched): saves queries per request.
    image.project = project
    return image


class InvalidWindow(ValueError):
    """A window a request asked for that the image cannot be shown through. Message is for users."""


def window_parse(*, image: Image, query: Mapping[str, str]) -> tuple[float, float]:
    """The (min, max) window of a request's ?min=&max=, bounded by the image's value range."""
    if not image.has_window:
        raise InvalidWindow(NO_WINDOW)
    low_bound, high_bound = float(image.value_low or 0.0), float(image.value_high or 0.0)
    refused = InvalidWindow(BAD_WINDOW.format(low=low_bound, high=high_bound))
    texts = [query.get("min", ""), query.get("max", "")]
    if any(not text or len(text) > WINDOW_NUMBER_CHARS for text in texts):
        raise refused
    try:
        low, high = (float(text) for text in texts)
    except ValueError as err:
        raise refused from err
    if not (math.isfinite(low) and math.isfinite(high) and low_bound <= low < high <= high_bound):
        raise refused
    return low, high


def display_windowed_png(*, image: Image, window: tuple[float, float]) -> bytes:
    """The image's display picture made through another window than the stored one (a PNG),
    from the original's full-depth values; nothing is stored."""
    with image.file.open("rb") as handle:
        data = handle.read()
    try:
        picture = decode_stored_display(name=image.original_name, data=data, window=window)
    except InvalidUpload as err:  # checked at import: only a file damaged in storage gets here
        raise OSError(str(err)) from err
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=DISPLAY_PNG_LEVEL)
    return buffer.getvalue()


def display_window_config(image: Image) -> dict | None:
    """What the editor's window control needs, or None for an image without a window."""
    if not image.has_window:
        return None
    return {
        "low": image.window_low,
        "high": image.window_high,
        "min": image.value_low,
        "max": image.value_high,
        "url": reverse("images:display", kwargs={"project_id": image.project_id, "image_id": image.pk}),
    }


def mask_get(*, project: Project, image_id: int, version: int) -> Mask:
    return get_object_or_404(Mask, image__project=project, image_id=image_id, version=version)


@dataclass(frozen=True)
class EmbeddingProgress:
    """How many of the project's images carry an embedding of `encoder`: the encoder that
    made most of them ("" when none has one). Images embedded by another encoder wait to be
    embedded again."""

    analysed: int
    total: int
    encoder: str

    @property
    def complete(self) -> bool:
        return self.analysed >= self.total


def embedding_progress(*, project: Project) -> EmbeddingProgress:
    """Kept a few seconds per process for big projects (webapp.project_counts): the GROUP BY
    scans every image row, on the project page that many people open each minute."""
    per_encoder = counts_cached(
        EMBEDDINGS_KEY.format(project=project.pk),
        lambda: dict(
            Image.objects.filter(project=project)
            .order_by()
            .values_list("embedding_encoder")
            .annotate(images=Count("id"))
        ),
        rows=lambda counts: sum(counts.values()),
    )
    total = sum(per_encoder.values())
    made = {name: count for name, count in per_encoder.items() if name}
    encoder = max(made, key=lambda name: (made[name], name), default="")
    return EmbeddingProgress(analysed=made.get(encoder, 0), total=total, encoder=encoder)


def seed_suggestions_for(*, project: Project, n: int = SUGGESTIONS_SHOWN) -> list[Image]:
    """Up to n images without a human mask to label next, in order: a diverse, typical set
    (ml.selection.seed_suggestions, TypiClust) over the images embedded so far."""
    encoder = embedding_progress(project=project).encoder
    if not encoder:
        return []
    embedded = Image.objects.filter(project=project, embedding_encoder=encoder, embedding__isnull=False)
    state = embedded.order_by().aggregate(count=Count("id"), last=Max("id"))
    labeled = list(
        human_labeled_images(project=project).filter(pk__in=embedded).order_by("pk").values_list("pk", flat=True)
    )
    if len(labeled) >= SEED_PHASE_LABELED_MAX:
        return []
    key = SUGGESTIONS_KEY.format(
        project=project.pk,
        encoder=encoder,
        embedded=state["count"],
        last=state["last"],
        n=n,
        labeled=hashlib.sha1(",".join(map(str, labeled)).encode()).hexdigest(),
    )
    ids = cache.get(key)
    if ids is None:
        ids = _suggested_ids(embedded=embedded, labeled=set(labeled), n=n)
        cache.set(key, ids, SUGGESTIONS_CACHE_S)
    found = Image.objects.in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def _suggested_ids(*, embedded, labeled: set[int], n: int) -> list[int]:
    ids = list(embedded.order_by("pk").values_list("pk", flat=True))
    unlabeled = [pk for pk in ids if pk not in labeled]
    step = max(1, -(-len(unlabeled) // SUGGESTION_POOL_MAX))  # ceiling division
    sampled = sorted([pk for pk in ids if pk in labeled] + unlabeled[::step])
    stored = dict(embedded.filter(pk__in=sampled).values_list("pk", "embedding"))
    pool = [pk for pk in sampled if pk in stored]  # not an image deleted meanwhile
    if not pool:
        return []
    features = np.stack([vector_from_bytes(stored[pk]) for pk in pool])
    picks = seed_suggestions(features, np.array([pk in labeled for pk in pool]), n)
    return [pool[pick.index] for pick in picks]
