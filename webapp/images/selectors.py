"""Reads for images and masks, always within a project the caller may see.

Seed suggestions read the embeddings the worker stored (webapp.images.embeddings) and hand
them to ml.selection; the picks are cached per project and per state of the inputs (how many
embeddings, which images carry a human mask), so the grid recomputes them only when a mask
or an embedding arrives, and a GET never writes a row.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404

from ml.selection import seed_suggestions
from ml.vectors import vector_from_bytes
from webapp.images.models import Image, Mask
from webapp.project_counts import counts_cached
from webapp.projects.models import Project
from webapp.training.selectors import human_labeled_images

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
