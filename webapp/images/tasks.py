"""Celery interface of the work done on images after an import: a project id in, a service
does the work. Embeddings (webapp.images.embeddings) and superpixels
(webapp.images.superpixels) are queued the same way.

image_embeddings_task runs on the default queue (settings.CELERY_TASK_DEFAULT_QUEUE): ordinary
workers, no GPU needed. Every import enqueues it after commit (image_embeddings_enqueue), but a
burst of uploads queues it once: a short Redis flag says a task is already waiting, and the
task clears the flag before it looks for images, so an image committed after that look finds
the flag gone and queues the next run. The service skips what is embedded already, so a
redelivered or duplicate task only costs a query. image_superpixels_task does the same with
its own flag.
"""

import logging

import redis
from celery import shared_task
from django.conf import settings
from kombu.exceptions import OperationalError

from webapp.projects.models import Project

log = logging.getLogger(__name__)

PENDING_KEY = "segloop:image-embeddings-pending:{project_id}"
PENDING_TTL_S = 600  # a flag whose task was lost (broker flushed) stops blocking after this
NOT_ENQUEUED = "Embeddings of project %s were not queued (%s); run `manage.py embed_images --project %s`."
SUPERPIXELS_PENDING_KEY = "segloop:image-superpixels-pending:{project_id}"
SUPERPIXELS_NOT_ENQUEUED = (
    "Superpixels of project %s were not queued (%s); run `manage.py compute_superpixels --project %s`."
)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _enqueue_once(task, *, pending_key: str, project_id: int, not_enqueued: str) -> None:
    """Queue `task` for the project unless a run is already waiting (the flag). Call it after
    commit. A broker that cannot be reached is logged, not raised: the import it follows
    succeeded, and the command named in the message catches up."""
    try:
        if _redis().set(pending_key.format(project_id=project_id), 1, nx=True, ex=PENDING_TTL_S):
            task.delay(project_id)
    except (redis.RedisError, OperationalError) as error:
        log.warning(not_enqueued, project_id, error, project_id)


def _claim(pending_key: str, project_id: int) -> Project | None:
    """Clear the flag before looking for images (an image committed after the look queues the
    next run), then the project, or None if it was deleted since it was queued."""
    _redis().delete(pending_key.format(project_id=project_id))
    return Project.objects.filter(pk=project_id).first()


def image_embeddings_enqueue(*, project_id: int) -> None:
    _enqueue_once(image_embeddings_task, pending_key=PENDING_KEY, project_id=project_id, not_enqueued=NOT_ENQUEUED)


@shared_task(name="webapp.images.tasks.image_embeddings_task")
def image_embeddings_task(project_id: int) -> int:
    # torch is imported only where embeddings are computed: web processes import this module
    # to enqueue (webapp.images.services) and never load torch.
    from webapp.images.embeddings import image_embeddings_compute

    project = _claim(PENDING_KEY, project_id)
    return image_embeddings_compute(project=project) if project is not None else 0


def image_superpixels_enqueue(*, project_id: int) -> None:
    _enqueue_once(
        image_superpixels_task,
        pending_key=SUPERPIXELS_PENDING_KEY,
        project_id=project_id,
        not_enqueued=SUPERPIXELS_NOT_ENQUEUED,
    )


@shared_task(name="webapp.images.tasks.image_superpixels_task")
def image_superpixels_task(project_id: int) -> int:
    # scikit-image is imported only where superpixels are computed, as torch is above.
    from webapp.images.superpixels import superpixels_compute_missing

    project = _claim(SUPERPIXELS_PENDING_KEY, project_id)
    return superpixels_compute_missing(project=project) if project is not None else 0
