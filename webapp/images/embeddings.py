"""Per-image embeddings from the project's pretrained student encoder, for seed suggestions.

Before any model is trained, the only thing that tells images apart is a pretrained encoder:
the pooled deepest features of the student's ImageNet backbone (ml.features) are enough to
pick a diverse, typical first set to label (ml.selection.seed_suggestions). They are stored on
the Image row (float32 bytes, L2-normalised) with the encoder's name, so a change of the
project's student encoder re-embeds the images it did not make.

This module imports torch: it runs on workers (webapp.images.tasks) and in the embed_images
command, never in web processes, which read the stored bytes (webapp.images.selectors).
"""

import logging
from collections.abc import Callable
from functools import lru_cache

from django.db.models import Q, QuerySet
from PIL import Image as PILImage

from ml.features import encoder_embeddings
from ml.models import Encoder, ModelSpec, build_segmenter
from ml.models.hybrid_swin import HybridSwinEncoder
from ml.runtime import resolve_device
from ml.vectors import vector_to_bytes
from webapp.images.models import Image
from webapp.projects.models import Project
from webapp.training.config import training_config_for_project
from webapp.training.files import local_path

log = logging.getLogger(__name__)

EMBED_BATCH = 32  # images read and saved per step; should_stop is asked between steps
EMBED_LONG_SIDE = 512  # images are shrunk to this longer side first (features barely change; time does)
UNREADABLE = "Image %s of project %s could not be read for its embedding: %s"


def embedding_encoder_for(*, project: Project) -> str:
    """The encoder that embeds the project's images: its student's."""
    return training_config_for_project(project=project)["student_encoder"]


def images_without_embedding(*, project: Project, encoder: str) -> QuerySet[Image]:
    """The project's images with no embedding, or one made by another encoder."""
    return Image.objects.filter(project=project).filter(Q(embedding__isnull=True) | ~Q(embedding_encoder=encoder))


def image_embeddings_compute(
    *,
    project: Project,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Embed every image of the project that needs it (images_without_embedding), in batches
    by id, so images uploaded meanwhile are embedded too. Returns how many were embedded.

    should_stop: asked before each batch; True ends the run (what is saved stays saved).
    on_progress: called after each batch with the number of images it went through. An image
    whose file cannot be read is logged and skipped (it stays without an embedding).
    """
    config = training_config_for_project(project=project)
    spec = ModelSpec(
        kind="student",
        encoder=config["student_encoder"],
        num_classes=config["num_classes"],
        **(config.get("student_kwargs") or {}),
    )
    device = resolve_device(config.get("device", "auto"))
    encoder = pretrained_encoder(spec=spec, weights=(config.get("weights") or {}).get("student")).to(device)
    embedded, after = 0, 0
    while not (should_stop and should_stop()):
        # width and height too: ImageField reads them on load, one query each if deferred.
        batch = list(
            images_without_embedding(project=project, encoder=spec.encoder)
            .filter(pk__gt=after)
            .order_by("pk")
            .only("pk", "project_id", "file", "display", "width", "height")[:EMBED_BATCH]
        )
        if not batch:
            break
        after = batch[-1].pk
        readable, pictures = [], []
        for image in batch:
            try:
                pictures.append(_read_rgb(image))
            except OSError as error:  # missing or damaged file: the rest of the project still counts
                log.warning(UNREADABLE, image.pk, project.pk, error)
            else:
                readable.append(image)
        vectors = encoder_embeddings(
            encoder, pictures, device=device, amp=device.type == "cuda", long_side=EMBED_LONG_SIDE
        )
        for image, vector in zip(readable, vectors, strict=True):
            image.embedding = vector_to_bytes(vector)
            image.embedding_encoder = spec.encoder
            image.save(update_fields=["embedding", "embedding_encoder"])
        embedded += len(readable)
        if on_progress:
            on_progress(len(batch))
    return embedded


@lru_cache(maxsize=2)
def pretrained_encoder(*, spec: ModelSpec, weights: str | None = None) -> Encoder | HybridSwinEncoder:
    """The student's encoder with pretrained weights (ml.models resolves file > hub > package
    > random), built once per process and spec."""
    return build_segmenter(spec, pretrained=True, weights=weights, role="student").encoder.eval()


def _read_rgb(image: Image) -> PILImage.Image:
    """The image's pixels (Image.pixels_file: upright, 8-bit) as RGB, shrunk to EMBED_LONG_SIDE, so a batch
    holds small pictures only; JPEGs are decoded at a reduced scale to begin with."""
    with PILImage.open(local_path(image.pixels_file)) as stored:
        stored.draft("RGB", (EMBED_LONG_SIDE, EMBED_LONG_SIDE))
        picture = stored.convert("RGB")
    picture.thumbnail((EMBED_LONG_SIDE, EMBED_LONG_SIDE))
    return picture
