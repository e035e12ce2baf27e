"""Start the whole app in one terminal: embedded Redis (unless REDIS_URL is set), the web
server and one Celery worker; Ctrl+C stops them all. Used by `scripts/run`."""

import os
import signal
import sys
import time

import django
from django.conf import settings

from webapp.embedded_redis import start_embedded_redis, stop_embedded_redis
from webapp.processes import process_start, processes_stop, worker_start


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    address = os.environ.get("SEGLOOP_ADDRESS", "127.0.0.1:8000")
    redis_process = None
    if not os.environ.get("REDIS_URL"):
        redis_process = start_embedded_redis(settings.REDIS_SOCKET, settings.DATA_DIR / "redis")
        print(f"Embedded Redis on {settings.REDIS_SOCKET}")
    children = [
        process_start(name="web", argv=[sys.executable, "manage.py", "runserver", "--noreload", address]),
        # The prefork pool, unlike the tests' solo one, still answers `celery inspect` while a
        # round trains; its output goes to this terminal, so it is not waited for.
        worker_start(pool="prefork", node_name="segloop@%h", isolated=False, ready_timeout=None),
    ]
    print(f"segloop is running on http://{address}/  (Ctrl+C stops everything)")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.alive() for child in children):
            time.sleep(0.5)
    finally:
        processes_stop(children, timeout=30)
        if redis_process:
            stop_embedded_redis(redis_process)
        print("segloop stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
