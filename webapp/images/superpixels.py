"""Superpixels of the project's images, computed once and stored with the image.

The editor's superpixel tool and region review read one label map per image (ml.superpixels):
an RGB PNG at the image's full resolution, region id = R + 256 G + 65536 B, in
``Image.superpixels``. The default-queue worker computes it after an import
(webapp.images.tasks.image_superpixels_task); ``manage.py compute_superpixels`` does it for
images that came before. The file is named by the image's checksum and never changes, so the
page serves it with long private caching (images:superpixels).

Computing is idempotent: an image that has superpixels is skipped, and when two workers
compute the same image, the first to claim the row keeps its file and the other removes its
own. This module imports scikit-image: it runs on workers and in the command, not in web
processes (they only serve the stored file).
"""

import io
import logging
from collections.abc import Callable

import numpy as np
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from PIL import Image as PILImage

from ml.superpixels import decode_labels_rgb, encode_labels_rgb, superpixel_labels
from webapp.images.models import Image
from webapp.projects.models import Project
from webapp.training.files import local_path

log = logging.getLogger(__name__)

SUPERPIXEL_BATCH = 50  # images listed per query; should_stop is asked between images
PNG_COMPRESS_LEVEL = 1  # label maps compress well anyway; level 6 only costs time (bench/superpixels.py)
UNREADABLE = "Image %s of project %s could not be read for its superpixels: %s"


def images_without_superpixels(*, project: Project) -> QuerySet[Image]:
    return Image.objects.filter(project=project, superpixels="")


def superpixels_compute(*, image: Image) -> bool:
    """Compute and store the image's superpixels. Returns True if this call stored them; False
    when the image had them already (or another worker stored them meanwhile). A row whose
    file has gone missing from storage is computed again.

    Raises OSError when the stored image cannot be read (missing or damaged file)."""
    field = image.superpixels
    if field and field.storage.exists(field.name or ""):
        return False
    expected = field.name or ""
    with PILImage.open(local_path(image.pixels_file)) as stored:  # written or checked at import
        rgb = np.asarray(stored.convert("RGB"))
    png = superpixels_png(superpixel_labels(rgb))
    field.save("superpixels.png", ContentFile(png), save=False)  # the storage may add a suffix to the name
    # Claimed with a conditional update, so a concurrent computation of the same image
    # cannot overwrite the first one's name (update_fields alone would not see it).
    if Image.objects.filter(pk=image.pk, superpixels=expected).update(superpixels=field.name) == 1:
        return True
    field.storage.delete(field.name or "")  # lost the race (or the image was deleted): theirs stands
    image.superpixels = Image.objects.filter(pk=image.pk).values_list("superpixels", flat=True).first() or ""
    return False


def superpixels_png(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(encode_labels_rgb(labels), mode="RGB").save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
    )
    return buffer.getvalue()


def superpixels_read(image: Image) -> np.ndarray | None:
    """The image's superpixels (int32 H,W, ids 0..n-1), or None when not computed yet or
    when the stored file is missing."""
    field = image.superpixels
    if not field or not field.storage.exists(field.name or ""):
        return None
    with field.open("rb") as handle, PILImage.open(handle) as png:
        return decode_labels_rgb(np.asarray(png.convert("RGB")))


def superpixels_compute_missing(
    *,
    project: Project,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Superpixels for every image of the project without them, by id, so images uploaded
    meanwhile are done too. Returns how many this call stored.

    should_stop: asked before each image; True ends the run (what is stored stays stored).
    on_progress: called after each image with 1. An image whose file cannot be read is
    logged and skipped (it stays without superpixels)."""
    done, after = 0, 0
    while True:
        # width and height too: ImageField reads them on load, one query each if deferred.
        batch = list(
            images_without_superpixels(project=project)
            .filter(pk__gt=after)
            .order_by("pk")
            .only("pk", "project_id", "file", "display", "width", "height", "checksum", "superpixels")[
                :SUPERPIXEL_BATCH
            ]
        )
        if not batch:
            return done
        for image in batch:
            if should_stop and should_stop():
                return done
            after = image.pk
            try:
                done += superpixels_compute(image=image)
            except OSError as error:  # missing or damaged file: the rest of the project still counts
                log.warning(UNREADABLE, image.pk, project.pk, error)
            if on_progress:
                on_progress(1)
