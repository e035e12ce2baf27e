"""A task round trip through the real broker and a real worker process (no eager mode)."""

import pytest

from webapp.celery import app, ping


def test_celery_is_not_eager():
    assert not app.conf.task_always_eager


@pytest.mark.slow
def test_ping_round_trip_through_real_worker(celery_worker):
    result = ping.delay(41)
    assert result.get(timeout=30) == 42
    assert "webapp.ping" in celery_worker.output()
