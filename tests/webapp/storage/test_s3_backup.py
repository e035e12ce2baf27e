"""manage.py backup and restore with media and checkpoints in object storage (a real S3 server:
moto's, started by the tests): the archive holds the bucket's checkpoints, not the local
MODELS_ROOT (only a machine's work folder then), and a restore puts them back in the bucket."""

import io
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.webapp.storage.conftest import Bucket, files_under
from tests.webapp.test_backup import CHECKPOINT, build_project, m2m, rows
from webapp.backup import services
from webapp.backup.management.commands.backup import MISSING_FILE
from webapp.training.files import checkpoints_upload
from webapp.training.models import ModelVersion, TrainingRun


@pytest.fixture
def no_broker(monkeypatch):
    """Imports queue embedding and superpixel tasks after commit; no worker here takes them."""
    monkeypatch.setattr("webapp.images.services.image_embeddings_enqueue", lambda **kwargs: None)
    monkeypatch.setattr("webapp.images.services.image_superpixels_enqueue", lambda **kwargs: None)


def objects(s3: Bucket) -> dict[str, bytes]:
    return {key: s3.read(key) for key in s3.keys()}


def fresh_models_root(tmp_path: Path, name: str) -> Path:
    """Another machine's (empty) MODELS_ROOT: with object storage, only a local work folder."""
    settings.MODELS_ROOT = tmp_path / name
    return settings.MODELS_ROOT


@pytest.mark.django_db(transaction=True)
def test_round_trip_gives_back_the_checkpoints_in_the_bucket(
    s3, no_broker, project, make_image, owner, member, django_user_model, tmp_path
):
    build_project(project, make_image, owner, member)  # its model files go to the local MODELS_ROOT
    checkpoints_upload(paths=files_under(settings.MODELS_ROOT))  # as the worker that trained them would
    run = TrainingRun.objects.get()
    student = f"models/project_{project.pk}/run_{run.pk}/student.pt"
    assert s3.read(student) == CHECKPOINT
    fresh_models_root(tmp_path, "web-models-empty")  # the backup must read the bucket, not a disk

    archive = tmp_path / "backup.tar"
    err = io.StringIO()
    call_command("backup", str(archive), stderr=err, verbosity=0)
    assert err.getvalue() == ""
    before_rows, before_links, before_objects = rows(), m2m(django_user_model), objects(s3)
    with tarfile.open(archive) as tar:
        assert tar.extractfile(student).read() == CHECKPOINT

    call_command("flush", interactive=False, verbosity=0)
    for key in s3.keys():
        s3.client.delete_object(Bucket=s3.name, Key=key)
    restored_root = fresh_models_root(tmp_path, "web-models-restored")
    call_command("restore", str(archive), verbosity=0)

    assert rows() == before_rows
    assert m2m(django_user_model) == before_links
    left_out = {key for key in before_objects if key.startswith("models/exports/") or "/." in key}
    assert left_out == {
        f"models/project_{project.pk}/run_{run.pk}/.student.pt.x1y2.tmp",
        "models/exports/1-123/student.onnx",
    }
    after = objects(s3)
    assert after == {key: data for key, data in before_objects.items() if key not in left_out}
    assert after[student] == CHECKPOINT
    assert any(key.startswith("media/") for key in after)  # images, masks and review labels too
    assert files_under(settings.MEDIA_ROOT) == files_under(restored_root) == []


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_missing_from_the_bucket_is_named_and_the_rest_backed_up(
    s3, no_broker, project, make_image, owner, member, tmp_path
):
    build_project(project, make_image, owner, member)
    checkpoints_upload(paths=files_under(settings.MODELS_ROOT))
    version = ModelVersion.objects.get()
    storages["checkpoints"].delete(version.student_path)
    fresh_models_root(tmp_path, "web-models-empty")

    err = io.StringIO()
    call_command("backup", str(tmp_path / "backup.tar"), stderr=err, verbosity=0)

    name = f"models/{version.student_path}"
    assert MISSING_FILE.format(name=name, row=f"training.modelversion {version.pk}") in err.getvalue()
    with tarfile.open(tmp_path / "backup.tar") as tar:
        names = tar.getnames()
    assert name not in names
    assert names[-1] == "manifest.json" and any(n.startswith("media/") for n in names)


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_local_models_root_that_holds_files(s3, no_broker, tmp_path):
    """With object storage a stale local copy under a restored checkpoint's name would be read
    in its place, so the local MODELS_ROOT must be empty too."""
    call_command("backup", str(tmp_path / "backup.tar"), verbosity=0)
    stale = Path(settings.MODELS_ROOT) / "project_1" / "student.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an old install's checkpoint")
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(tmp_path / "backup.tar"), verbosity=0)
    assert str(refused.value) == services.MEDIA_NOT_EMPTY.format(name=str(stale))
