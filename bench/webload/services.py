"""The servers of one web load run: a PostgreSQL database and a Redis db of its own, the Celery
worker and gunicorn (started by bench/harness.py); stop() undoes all of it."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import django
import numpy as np
import psycopg
import redis
from django.apps import apps
from django.db import connections
from harness import free_port, gunicorn_start  # bench/ is on sys.path when a script runs
from PIL import Image as PILImage
from psycopg import sql

from webapp.celery import app as celery_app
from webapp.celery import ping
from webapp.processes import ChildProcess, processes_stop, worker_start

from .config import HEIGHT, WIDTH, WebLoadConfig
from .data import mask_pngs
from .progress import log

CELERY_KEY_PREFIXES = (b"_kombu", b"celery", b"unacked", b"default", b"training")
FOREIGN_REDIS_KEYS = "Redis db {db} holds other keys ({keys}...); pick a free one with --redis-db."
WORKER_NO_PING = "Celery worker did not answer ping: {error}\n{log}"
GUNICORN_DIED = "gunicorn died during the run:\n{log}"
SERVER_ERROR = "Internal Server Error: "  # how Django logs a 5xx answer


class Services:
    def __init__(self, config: WebLoadConfig):
        self.config = config
        self.tmp = Path(tempfile.mkdtemp(prefix="segloop-webload-"))
        self.port = config.port or free_port()
        self.processes: dict[str, ChildProcess] = {}
        self.db_created = False
        self.redis_used = False
        self.env = dict(os.environ)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "webapp.settings",
                "DATABASE_URL": f"{config.pg.rstrip('/')}/{config.db_name}",
                "REDIS_URL": f"{config.redis.rstrip('/')}/{config.redis_db}",
                "DEBUG": "false",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_HSTS_SECONDS": "0",
                "SEGLOOP_DATA_DIR": str(self.tmp / "var"),
                "MEDIA_ROOT": str(self.tmp / "media"),
                "STATIC_ROOT": str(self.tmp / "static"),
                "LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- PostgreSQL and Redis

    def _pg_admin(self) -> psycopg.Connection:
        return psycopg.connect(f"{self.config.pg.rstrip('/')}/postgres", autocommit=True, connect_timeout=5)

    def create_database(self) -> None:
        with self._pg_admin() as conn:
            name = sql.Identifier(self.config.db_name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        self.db_created = True

    def drop_database(self) -> None:
        if not self.db_created:
            return
        try:
            with self._pg_admin() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.config.db_name))
                )
        except Exception as error:  # noqa: BLE001 - cleanup must go on
            log(f"could not drop database {self.config.db_name}: {error}")

    def _redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=5)

    def claim_redis_db(self) -> None:
        client = self._redis()
        foreign = [k for k in client.scan_iter(count=1000) if not k.startswith(CELERY_KEY_PREFIXES)]
        if foreign:
            raise SystemExit(FOREIGN_REDIS_KEYS.format(db=self.config.redis_db, keys=foreign[:3]))
        client.flushdb()
        self.redis_used = True

    def release_redis_db(self) -> None:
        if self.redis_used:
            try:
                self._redis().flushdb()
            except Exception as error:  # noqa: BLE001
                log(f"could not flush redis db {self.config.redis_db}: {error}")

    # -- Django in this process (migrate, seed, explain)

    def django_setup(self) -> None:
        os.environ.update(self.env)
        django.setup()

    def media_files(self) -> None:
        """The one image file, thumbnail and few pseudo masks that every seeded row points at."""
        root = Path(self.env["MEDIA_ROOT"]) / "bench"
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        PILImage.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(root / "image.png")
        PILImage.open(root / "image.png").convert("RGB").resize((160, 120)).save(root / "thumb.jpg", quality=85)
        for k, png in enumerate(mask_pngs(4, seed=1)):
            (root / f"pseudo-{k}.png").write_bytes(png)

    # -- processes

    def log_errors(self, name: str, limit: int = 3) -> list[str]:
        """The first tracebacks of 5xx answers in a server log (Django logs them at ERROR)."""
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return []
        blocks = path.read_text(errors="replace").split(SERVER_ERROR)[1:]
        return [SERVER_ERROR + block[:4000] for block in blocks[:limit]]

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def start_celery(self) -> None:
        """The default queue's worker; it logs warnings only, so its readiness is checked by ping."""
        self.processes["celery"] = worker_start(
            env=self.env,
            log_path=self.tmp / "celery.log",
            queues="default",
            loglevel="WARNING",
            own_group=True,
            ready_timeout=None,
        )

    def check_celery(self, timeout: float = 60.0) -> float:
        """Seconds until the worker answered the webapp.ping task."""
        celery_app.conf.update(broker_url=self.env["REDIS_URL"], result_backend=self.env["REDIS_URL"])
        started = time.perf_counter()
        try:
            answer = ping.delay(41).get(timeout=timeout)
        except Exception as error:
            raise RuntimeError(WORKER_NO_PING.format(error=error, log=self.log_tail("celery"))) from error
        if answer != 42:
            raise RuntimeError(WORKER_NO_PING.format(error=f"answered {answer!r}", log=self.log_tail("celery")))
        return time.perf_counter() - started

    def start_gunicorn(self) -> None:
        self.processes["gunicorn"] = gunicorn_start(
            env=self.env,
            port=self.port,
            workers=self.config.workers,
            threads=self.config.threads,
            keep_alive=self.config.keep_alive,
            log_path=self.tmp / "gunicorn.log",
        )

    def check_gunicorn_alive(self) -> None:
        server = self.processes.get("gunicorn")
        if server is not None and not server.alive():
            raise RuntimeError(GUNICORN_DIED.format(log=self.log_tail("gunicorn")))

    def stop(self) -> None:
        processes_stop(list(self.processes.values()), timeout=10)
        self.processes.clear()
        if apps.ready:  # a run that failed before django_setup() opened no connections
            connections.close_all()
        self.release_redis_db()
        self.drop_database()
        shutil.rmtree(self.tmp, ignore_errors=True)
