"""Shared fixtures: real services (embedded or external Redis, a real Celery worker process),
isolated media, and the three users every view test needs: owner, member, outsider."""

import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from celery.signals import before_task_publish
from PIL import Image as PILImage

from webapp.processes import WORKER_QUEUES, ChildProcess, worker_start

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="segloop-test-"))
_embedded_redis = None


def pytest_configure(config):
    """Point media and the broker at per-run places before any test or worker uses them."""
    global _embedded_redis
    from django.conf import settings

    from webapp.celery import app as celery_app

    settings.MEDIA_ROOT = _TMP / "media"
    # Tests create several users each; real PBKDF2 hashing would dominate their time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = _TMP / "test-db.sqlite3"
    settings.MODELS_ROOT = _TMP / "media" / "models"
    if not os.environ.get("REDIS_URL"):
        from webapp.embedded_redis import start_embedded_redis

        socket = _TMP / "redis.sock"
        _embedded_redis = start_embedded_redis(socket, _TMP / "redis")
        os.environ["REDIS_URL"] = f"unix://{socket}"
    settings.REDIS_URL = os.environ["REDIS_URL"]
    broker = settings.REDIS_URL.replace("unix://", "redis+socket://", 1)
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = broker
    celery_app.conf.update(broker_url=broker, result_backend=broker)


def pytest_unconfigure(config):
    if _embedded_redis is not None:
        from webapp.embedded_redis import stop_embedded_redis

        stop_embedded_redis(_embedded_redis)
    shutil.rmtree(_TMP, ignore_errors=True)


# ---------------------------------------------------------------- users and projects


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(username="owner", password="pw-owner-123")


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user(username="member", password="pw-member-123")


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user(username="reviewer", password="pw-reviewer-123")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user(username="outsider", password="pw-outsider-123")


@pytest.fixture
def project(owner, member, reviewer):
    """Three classes plus an ignore class; member annotates, reviewer only reviews."""
    from webapp.projects.services import ClassSpec, membership_set, project_create

    project = project_create(
        owner=owner,
        name="Streets",
        classes=[ClassSpec("background"), ClassSpec("road"), ClassSpec("car"), ClassSpec("void", is_ignore=True)],
    )
    membership_set(project=project, user=member, annotator=True)
    membership_set(project=project, user=reviewer, annotator=False, reviewer=True)
    return project


def png_bytes(width=32, height=24, colour=(200, 30, 30), mode="RGB", fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    PILImage.new(mode, (width, height), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def noise_png(width=32, height=24, seed=0) -> bytes:
    """Distinct content per seed, so checksums differ."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    PILImage.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png(array) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(array, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def make_image(project, owner):
    """Import a synthetic image (optionally with a human mask) through the real service."""
    from webapp.images.services import image_import

    counter = iter(range(10_000))

    def make(width=32, height=24, mask=None, target=None, name=None):
        seed = next(counter)
        return image_import(
            project=target or project,
            name=name or f"img{seed:04d}.png",
            data=noise_png(width, height, seed),
            uploaded_by=owner,
            mask_data=None if mask is None else mask_png(mask),
        )

    return make


# ---------------------------------------------------------------- a real Celery worker


def _worker_env(database_settings) -> dict:
    env = dict(os.environ)
    name = str(database_settings["NAME"])
    if "sqlite" in database_settings["ENGINE"]:
        env["DATABASE_URL"] = f"sqlite:///{name}"
    else:
        user = database_settings.get("USER") or ""
        host = database_settings.get("HOST") or "127.0.0.1"
        port = database_settings.get("PORT") or 5432
        password = database_settings.get("PASSWORD") or ""
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        env["DATABASE_URL"] = f"postgres://{auth}{host}:{port}/{name}"
    from django.conf import settings

    env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env["SEGLOOP_MODELS_ROOT"] = str(settings.MODELS_ROOT)
    env["REDIS_URL"] = settings.REDIS_URL
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.fixture
def start_worker(transactional_db, django_db_blocker):
    """Factory for real worker processes; they see only committed data (transactional_db)."""
    from django.db import connection

    workers = []

    def start(queues: str = WORKER_QUEUES) -> ChildProcess:
        name = f"test-{os.getpid()}-{time.monotonic_ns()}"
        worker = worker_start(
            env=_worker_env(connection.settings_dict),
            queues=queues,
            log_path=_TMP / f"celery-{name}.log",
            node_name=f"{name}@%h",
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_worker(start_worker):
    return start_worker()


@pytest.fixture
def published_tasks():
    """(task name, args) of every task sent to the real broker while the test runs: what a
    service queued, seen where it leaves for the workers (no eager mode, nothing replaced)."""
    sent: list[tuple[str, tuple]] = []

    def record(sender=None, body=None, **kwargs):
        sent.append((sender, tuple(body[0])))  # protocol 2: body = (args, kwargs, embed)

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)
