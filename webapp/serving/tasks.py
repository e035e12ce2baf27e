"""Serving tasks (default queue): the int8 check of a model version, and bulk prediction."""

from celery import shared_task

from webapp.serving.bulk import bulk_prediction_execute
from webapp.serving.checks import int8_check_execute


@shared_task(name="webapp.serving.int8_check")
def int8_check(check_id: int) -> None:
    int8_check_execute(check_id=check_id)


@shared_task(name="webapp.serving.bulk_prediction")
def bulk_prediction(job_id: int) -> None:
    bulk_prediction_execute(job_id=job_id)
