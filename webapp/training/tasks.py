"""Celery interface of training: ids in, services do the work, the run row holds the state.

training_run_execute is routed to the `training` queue (settings.CELERY_TASK_ROUTES), served by
GPU workers (`celery -A webapp worker -Q training --concurrency 1`). Pseudo-labelling runs
inside it, after training, on the same worker: it needs the GPU and the teachers just saved.
acks_late + reject_on_worker_lost (settings) put the message back if the worker dies; the
redelivered task finds the run no longer queued and does nothing, and the reaper marks the
dead run failed so that a new run resumes from its checkpoints.
"""

from celery import shared_task

from webapp.training import worker


@shared_task(name="webapp.training.tasks.training_run_execute")
def training_run_execute(run_id: int) -> None:
    worker.training_run_execute(run_id=run_id)
