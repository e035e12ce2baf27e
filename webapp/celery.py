"""The Celery app. Workers: `celery -A webapp worker -Q default,training`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="webapp.ping")
def ping(value: int) -> int:
    """Round trip used by health checks and tests: proves a worker consumes the broker."""
    return value + 1
