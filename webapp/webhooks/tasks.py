"""Celery interface of webhook deliveries: a delivery id in, delivery.delivery_attempt does the work.

On the default queue (CELERY_TASK_DEFAULT_QUEUE). A failed attempt is retried with Celery's
retry and a countdown that doubles per attempt (delivery.backoff_seconds, capped); the attempt
count and the cap live in the Delivery row, not in the worker, so a redelivered task (acks_late)
does not send again a delivery already logged as done.
"""

from celery import shared_task

from webapp.webhooks.delivery import delivery_attempt

TIME_LIMIT_S = 120  # one POST, bounded by SEGLOOP_WEBHOOK_TIMEOUT_SECONDS


@shared_task(bind=True, max_retries=None, acks_late=True, time_limit=TIME_LIMIT_S)
def webhook_deliver(self, delivery_id: int) -> bool:
    attempt = delivery_attempt(delivery_id=delivery_id)
    if attempt.retry_in is not None:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.delivered
