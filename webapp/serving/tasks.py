"""Serving tasks (default queue): the int8 check of a model version."""

from celery import shared_task

from webapp.serving.checks import int8_check_execute


@shared_task(name="webapp.serving.int8_check")
def int8_check(check_id: int) -> None:
    int8_check_execute(check_id=check_id)
