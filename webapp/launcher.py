"""Start the whole app in one terminal: embedded Redis (unless REDIS_URL is set), the web
server and one Celery worker; Ctrl+C stops them all. Used by `scripts/run`."""
import os
import signal
import subprocess
import sys
import time

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    from django.conf import settings

    from webapp.embedded_redis import start_embedded_redis, stop_embedded_redis

    address = os.environ.get("SEGLOOP_ADDRESS", "127.0.0.1:8000")
    redis_process = None
    if not os.environ.get("REDIS_URL"):
        redis_process = start_embedded_redis(settings.REDIS_SOCKET, settings.DATA_DIR / "redis")
        print(f"Embedded Redis on {settings.REDIS_SOCKET}")
    python = sys.executable
    children = [
        subprocess.Popen([python, "manage.py", "runserver", "--noreload", address]),
        subprocess.Popen(
            [python, "-m", "celery", "-A", "webapp", "worker", "-Q", "default,training",
             "--concurrency", "1", "--loglevel", "INFO", "-n", "segloop@%h"]
        ),
    ]
    print(f"segloop is running on http://{address}/  (Ctrl+C stops everything)")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_process:
            stop_embedded_redis(redis_process)
        print("segloop stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
