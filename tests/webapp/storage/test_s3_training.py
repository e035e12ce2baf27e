"""Training and prediction with object storage (a real S3 server: moto's, started by the tests):
a worker that has only the database, the broker and the storage settings, and no folder shared
with the web process, trains a round; the web process predicts with it; a checkpoint upload cut
short leaves the previous version served."""

import os
import shutil
import time

import pytest
from storages.backends.s3 import S3Storage

from tests.conftest import _worker_env
from tests.webapp.storage.conftest import files_under
from tests.webapp.training.shapes import TINY_CONFIG, add_shapes_images
from webapp.images.models import Image
from webapp.processes import worker_start
from webapp.training import tasks, worker
from webapp.training.models import ModelVersion, RunStatus, RunTrigger
from webapp.training.prediction import predict_image_array
from webapp.training.services import training_run_start

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """Workers inherit this: on a shared 2-core machine one thread is several times faster."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def storage_only_worker(s3, transactional_db, tmp_path):
    """A real Celery worker whose media root, models root and cache are its own folders: it
    reaches files only through the storage settings in its environment (set by `s3`)."""
    from django.db import connection

    env = _worker_env(connection.settings_dict)
    env.update(
        MEDIA_ROOT=str(tmp_path / "worker-media"),
        SEGLOOP_MODELS_ROOT=str(tmp_path / "worker-models"),
        SEGLOOP_FILE_CACHE=str(tmp_path / "worker-cache"),
    )
    name = f"s3-{os.getpid()}-{time.monotonic_ns()}"
    started = worker_start(env=env, log_path=tmp_path / f"celery-{name}.log", node_name=f"{name}@%h")
    yield started
    started.stop()


def run_ends(run, worker_process, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run.pk} did not end\n{worker_process.output()[-4000:]}")


def configure(project):
    project.training_config = dict(TINY_CONFIG)
    project.save(update_fields=["training_config"])


def test_a_worker_with_only_storage_access_trains_a_round_and_the_web_predicts_with_it(
    s3, storage_only_worker, project, owner, settings, tmp_path
):
    add_shapes_images(project, owner, labeled=4, unlabeled=6)
    configure(project)

    run = run_ends(training_run_start(project=project, user=owner, trigger=RunTrigger.ADMIN), storage_only_worker, 300)

    assert run.status == RunStatus.SUCCEEDED, run.error
    version = ModelVersion.objects.get(project=project, is_active=True)
    stored = s3.keys("models/")
    for path in (version.student_path, version.su_teacher_path, version.ru_teacher_path):
        assert f"models/{path}" in stored
    assert files_under(tmp_path / "worker-cache"), "the worker read the images through its cache"
    # No media on any local disk: images, thumbnails and masks live in the bucket only.
    assert files_under(settings.MEDIA_ROOT) == files_under(tmp_path / "worker-media") == []
    assert files_under(settings.MODELS_ROOT) == []  # the web process has no checkpoint yet

    image = Image.objects.filter(project=project).order_by("id").first()
    labels, scores = predict_image_array(project=project, image=image)

    assert labels.shape == (64, 64) and scores["model_version"] == version.number
    assert (settings.MODELS_ROOT / version.student_path).is_file()  # downloaded from the bucket


def test_a_checkpoint_upload_cut_short_leaves_the_previous_version_served(
    s3, transactional_db, project, owner, settings, monkeypatch
):
    """Rounds run in this process (the worker's own function), so the upload can be cut: the
    first stored object of the new round goes up, the next one fails."""
    monkeypatch.setattr(tasks.training_run_execute, "apply_async", lambda *args, **kwargs: None)
    add_shapes_images(project, owner, labeled=4, unlabeled=2)
    configure(project)
    first = training_run_start(project=project, user=owner, trigger=RunTrigger.ADMIN)
    worker.training_run_execute(run_id=first.pk)
    first.refresh_from_db()
    assert first.status == RunStatus.SUCCEEDED, first.error
    previous = ModelVersion.objects.get(project=project, is_active=True)
    shutil.rmtree(settings.MODELS_ROOT)  # the next round starts on a machine that has none of it

    uploaded: list[str] = []
    real_save = S3Storage._save

    def cut_short(self, name, content):
        if self.location.endswith("models"):
            if uploaded:
                raise ConnectionError("the upload was cut short")
            uploaded.append(name)
        return real_save(self, name, content)

    monkeypatch.setattr(S3Storage, "_save", cut_short)
    second = training_run_start(project=project, user=owner, trigger=RunTrigger.ADMIN)
    assert second.resumed_from_id == first.pk  # warm start: round 1's files came from the bucket
    worker.training_run_execute(run_id=second.pk)

    second.refresh_from_db()
    assert second.status == RunStatus.FAILED and "ConnectionError" in second.error
    assert s3.keys(f"models/{second.checkpoint_dir}/") == [f"models/{uploaded[0]}"]
    assert list(ModelVersion.objects.filter(project=project)) == [previous]
    previous.refresh_from_db()
    assert previous.is_active
    _labels, scores = predict_image_array(project=project, image=Image.objects.filter(project=project).first())
    assert scores["model_version"] == previous.number
