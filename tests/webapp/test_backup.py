"""manage.py backup and restore: a full round trip through an emptied database and fresh media,
and the refusals (a database or media that hold data, an altered file, hostile members), each of
which must leave everything as it was."""

import hashlib
import io
import json
import tarfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token

from webapp.backup import manifest as manifest_module
from webapp.backup import services
from webapp.backup.database import backed_up_models
from webapp.backup.files import SourceFile
from webapp.backup.management.commands.backup import MISSING_FILE
from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.services import mask_save
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.training.models import ModelVersion, RunTrigger, TrainingRun

CHECKPOINT = b"not really torch, but bytes all the same " * 100


@pytest.fixture
def media(settings, tmp_path):
    """Fresh media (with MODELS_ROOT inside, as by default) for this test; `media.use(name)`
    switches to another fresh pair, as a new machine would have."""

    class Media:
        def use(self, name: str) -> Path:
            root = tmp_path / name
            settings.MEDIA_ROOT = root
            settings.MODELS_ROOT = root / "models"
            return root

        @property
        def root(self) -> Path:
            return Path(settings.MEDIA_ROOT)

        def files(self) -> dict[str, bytes]:
            return {p.relative_to(self.root).as_posix(): p.read_bytes() for p in self.root.rglob("*") if p.is_file()}

    helper = Media()
    helper.use("media-a")
    return helper


@pytest.fixture
def no_broker(monkeypatch):
    """Imports queue embedding and superpixel tasks after commit; no worker here takes them."""
    monkeypatch.setattr("webapp.images.services.image_embeddings_enqueue", lambda **kwargs: None)
    monkeypatch.setattr("webapp.images.services.image_superpixels_enqueue", lambda **kwargs: None)


def rows() -> dict[str, list[dict]]:
    return {m._meta.label_lower: list(m._base_manager.order_by("pk").values()) for m in backed_up_models()}


def m2m(django_user_model) -> dict[str, list]:
    """Many-to-many links by natural key: permission ids differ between databases."""
    return {
        user.username: sorted(
            [p.natural_key() for p in user.user_permissions.all()] + [(g.name,) for g in user.groups.all()]
        )
        for user in django_user_model.objects.order_by("pk")
    }


def build_project(project, make_image, owner, member) -> None:
    """Two images with mask histories, a pseudo-label waiting in review, a model with a
    checkpoint, an API token, a group and a permission."""
    labels = np.zeros((24, 32), dtype=np.uint8)
    labels[:, 16:] = 1
    first = make_image(mask=labels)
    labels[:4] = 2
    mask_save(image=first, base_version=1, array=labels, author=member, editing_seconds=12.5)
    first.embedding = np.arange(8, dtype=np.float32).tobytes()
    first.save(update_fields=["embedding"])

    # A human mask, then a pseudo-label pending review: if restoring the human mask ran the
    # training app's post_save hook, the item would be answered (and the rows would differ).
    second = make_image(mask=np.ones((24, 32), dtype=np.uint8))
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.ADMIN, config={"max_minutes": 3})
    version = ModelVersion.objects.create(
        project=project, run=run, number=1, is_active=True, student_path=f"project_{project.pk}/run_{run.pk}/student.pt"
    )
    pseudo = mask_save(
        image=second,
        base_version=1,
        array=np.full((24, 32), 2, dtype=np.uint8),
        source=MaskSource.PSEUDO,
        model_version=version,
        status=ImageStatus.IN_REVIEW,
    )
    item = ReviewItem(
        project=project,
        image=second,
        pseudo_mask=pseudo,
        run=run,
        score=0.4,
        mean_confidence=0.7,
        confident_fraction=0.5,
        disagreement=0.1,
        features=b"\x01\x02\x03",
    )
    item.su_label.save("su.png", ContentFile(b"su-label-bytes"), save=False)
    item.save()

    checkpoint = Path(version.student_path)
    models = Path(settings.MODELS_ROOT)
    (models / checkpoint).parent.mkdir(parents=True)
    (models / checkpoint).write_bytes(CHECKPOINT)
    (models / checkpoint.parent / ".student.pt.x1y2.tmp").write_bytes(b"half a checkpoint being written")
    (models / "exports" / "1-123").mkdir(parents=True)
    (models / "exports" / "1-123" / "student.onnx").write_bytes(b"derived")

    Token.objects.create(user=owner)
    group = Group.objects.create(name="annotators")
    group.permissions.add(Permission.objects.get(codename="view_image"))
    member.groups.add(group)
    member.user_permissions.add(Permission.objects.get(codename="change_mask"))


# ---------------------------------------------------------------- round trip


@pytest.mark.django_db(transaction=True)
def test_round_trip_gives_back_rows_and_files_and_new_rows_get_fresh_ids(
    media, no_broker, project, make_image, owner, member, django_user_model, tmp_path
):
    build_project(project, make_image, owner, member)
    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive), verbosity=0)
    before_rows, before_links, before_files = rows(), m2m(django_user_model), media.files()

    call_command("flush", interactive=False, verbosity=0)  # empty, migrated; sequences back to 1
    media.use("media-b")
    assert Image.objects.count() == 0 and not media.root.exists()
    out = io.StringIO()
    call_command("restore", str(archive), stdout=out)

    assert "Restored" in out.getvalue()
    assert rows() == before_rows
    assert m2m(django_user_model) == before_links
    restored = media.files()
    left_out = {name for name in before_files if name.startswith("models/exports/") or "/." in name}
    assert left_out == {
        f"models/project_{project.pk}/run_{TrainingRun.objects.get().pk}/.student.pt.x1y2.tmp",
        "models/exports/1-123/student.onnx",
    }
    assert restored == {name: data for name, data in before_files.items() if name not in left_out}
    assert ReviewItem.objects.get().status == ReviewStatus.PENDING

    image = Image.objects.order_by("pk").first()
    newest = Mask.objects.order_by("-pk").first().pk
    mask = mask_save(image=image, base_version=2, array=np.zeros((24, 32), dtype=np.uint8), author=member)
    assert mask.pk > newest and mask.version == 3
    assert django_user_model.objects.create_user(username="after").pk > max(u["id"] for u in before_rows["auth.user"])


def test_backup_into_a_folder_names_the_archive_and_holds_a_manifest(media, db, tmp_path):
    (media.root / "projects").mkdir(parents=True)
    (media.root / "projects" / "a.png").write_bytes(b"a")
    out = io.StringIO()
    call_command("backup", str(tmp_path), stdout=out, verbosity=0)

    [archive] = tmp_path.glob("segloop-backup-*.tar")
    with tarfile.open(archive) as tar:
        document = json.load(tar.extractfile("manifest.json"))
        assert tar.getnames() == ["database.json", "media/projects/a.png", "manifest.json"]
    assert document["format_version"] == manifest_module.FORMAT_VERSION
    assert document["counts"]["files"] == 1
    assert document["files"][0]["path"] == "media/projects/a.png"
    assert document["files"][0]["sha256"] == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"


def test_backup_never_overwrites_and_a_crash_leaves_no_archive(media, db, tmp_path, monkeypatch):
    existing = tmp_path / "old.tar"
    existing.write_bytes(b"keep me")
    with pytest.raises(CommandError, match="exists already"):
        call_command("backup", str(existing), verbosity=0)
    assert existing.read_bytes() == b"keep me"

    (media.root / "projects").mkdir(parents=True)
    (media.root / "projects" / "a.png").write_bytes(b"a")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(services.tarfile.TarFile, "addfile", crash)
    with pytest.raises(OSError):
        call_command("backup", str(tmp_path / "new.tar.gz"), verbosity=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media-a", "old.tar"]


# ---------------------------------------------------------------- refusals


@pytest.fixture
def media_only_archive(media, db, tmp_path):
    """A backup of an empty database with three media files and a checkpoint; media are then
    switched to fresh, empty ones."""
    (media.root / "projects" / "1").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        (media.root / "projects" / "1" / name).write_bytes(name.encode() * 50)
    (media.root / "models" / "project_1").mkdir(parents=True)
    (media.root / "models" / "project_1" / "student.pt").write_bytes(CHECKPOINT)
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", str(archive), verbosity=0)
    media.use("media-b")
    return archive


def rewrite(archive: Path, target: Path, *, change=None, extra=(), manifest_extra=()) -> Path:
    """Copy `archive` to `target`, passing each (name, bytes) through `change`, adding `extra`
    TarInfo/bytes pairs before the manifest, and listing `manifest_extra` entries in it."""
    with tarfile.open(archive) as source, tarfile.open(target, "w") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "manifest.json":
                for info, content in extra:
                    out.addfile(info, io.BytesIO(content) if content is not None else None)
                document = json.loads(data)
                document["files"].extend(manifest_extra)
                data = json.dumps(document).encode()
            elif change is not None:
                data = change(member.name, data)
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return target


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def entry(name: str, data: bytes) -> dict:
    return {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def assert_nothing_restored(media) -> None:
    assert media.files() == {}
    assert Image.objects.count() == 0


def test_restore_into_empty_media_works_for_a_media_only_backup(media_only_archive, media):
    call_command("restore", str(media_only_archive), verbosity=0)
    assert media.files()["projects/1/b.png"] == b"b.png" * 50
    assert media.files()["models/project_1/student.pt"] == CHECKPOINT


def test_restore_refuses_a_database_that_holds_users(media_only_archive, media, owner):
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(media_only_archive), verbosity=0)
    assert str(refused.value) == services.DATABASE_NOT_EMPTY.format(tables="auth.user: 1")
    assert media.files() == {}


def test_restore_refuses_media_that_hold_files(media_only_archive, media):
    (media.root / "stray.txt").parent.mkdir(parents=True)
    (media.root / "stray.txt").write_bytes(b"x")
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(media_only_archive), verbosity=0)
    assert str(refused.value) == services.MEDIA_NOT_EMPTY.format(name="media/stray.txt")
    assert media.files() == {"stray.txt": b"x"}


def test_restore_refuses_a_file_altered_after_the_backup(media_only_archive, media, tmp_path):
    def flip(name: str, data: bytes) -> bytes:  # same size, one byte different
        return data[:-1] + b"!" if name == "media/projects/1/c.png" else data

    altered = rewrite(media_only_archive, tmp_path / "altered.tar", change=flip)
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(altered), verbosity=0)
    assert "'media/projects/1/c.png' does not match its size or SHA-256" in str(refused.value)
    assert_nothing_restored(media)


HOSTILE = {
    "parent": (regular("media/../../escaped.txt", b"x"), True, manifest_module.WHY_PARENT),
    "absolute": (regular("/tmp/segloop-escaped.txt", b"x"), True, manifest_module.WHY_ABSOLUTE),
    "outside": (regular("etc/passwd", b"x"), True, manifest_module.WHY_PLACE),
    "unlisted": (regular("media/projects/1/extra.png", b"x"), False, "which its manifest does not list"),
    "twice": (regular("media/projects/1/a.png", b"a.png" * 50), False, "twice"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_restore_refuses_hostile_members(case, media_only_archive, media, tmp_path):
    (info, data), listed, why = HOSTILE[case]
    manifest_extra = [entry(info.name, data)] if listed else []
    hostile = rewrite(media_only_archive, tmp_path / "hostile.tar", extra=[(info, data)], manifest_extra=manifest_extra)
    with pytest.raises(CommandError, match="Refused") as refused:
        call_command("restore", str(hostile), verbosity=0)
    assert why in str(refused.value)
    assert_nothing_restored(media)
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/segloop-escaped.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_restore_refuses_links(kind, media_only_archive, media, tmp_path):
    link = tarfile.TarInfo("media/projects/1/link.png")
    link.type = kind
    link.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "media/projects/1/a.png"
    hostile = rewrite(
        media_only_archive,
        tmp_path / "links.tar",
        extra=[(link, None)],
        manifest_extra=[entry(link.name, b"")],
    )
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(hostile), verbosity=0)
    assert str(refused.value) == services.NOT_A_FILE.format(name="media/projects/1/link.png")
    assert_nothing_restored(media)


def test_restore_refuses_a_manifest_that_names_a_path_outside(media_only_archive, media, tmp_path):
    """The manifest is input too: a listed name with '..' is refused even with a matching member."""
    data = b"x"
    hostile = rewrite(
        media_only_archive,
        tmp_path / "listed.tar",
        change=None,
        manifest_extra=[entry("models/../../escaped.txt", data)],
    )
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(hostile), verbosity=0)
    assert manifest_module.WHY_PARENT in str(refused.value)
    assert_nothing_restored(media)


def test_restore_refuses_what_is_not_a_backup(media, db, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(CommandError, match="not a readable tar archive"):
        call_command("restore", str(junk), verbosity=0)
    bare = tmp_path / "bare.tar"
    with tarfile.open(bare, "w") as tar:
        info, data = regular("media/a.png", b"a")
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(CommandError, match="no manifest.json"):
        call_command("restore", str(bare), verbosity=0)
    assert media.files() == {}


def test_a_file_deleted_while_the_backup_runs_is_left_out_with_a_warning(media, db, tmp_path, monkeypatch):
    (media.root / "projects").mkdir(parents=True)
    (media.root / "projects" / "kept.png").write_bytes(b"kept")
    listed = services.backup_sources

    def sources():
        yield SourceFile(name="media/gone.png", size=partial(default_storage.size, "gone.png"), open=lambda: None)
        yield from listed()

    monkeypatch.setattr(services, "backup_sources", sources)
    err = io.StringIO()
    call_command("backup", str(tmp_path / "b.tar"), stderr=err, verbosity=0)
    assert "media/gone.png was deleted while the backup ran" in err.getvalue()
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert tar.getnames() == ["database.json", "media/projects/kept.png", "manifest.json"]


def test_a_file_that_rows_name_but_storage_lacks_is_named_and_the_rest_backed_up(media, db, project, tmp_path):
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.ADMIN)
    version = ModelVersion.objects.create(project=project, run=run, number=1, student_path="project_9/gone.pt")
    (media.root / "projects").mkdir(parents=True)
    (media.root / "projects" / "kept.png").write_bytes(b"kept")
    err = io.StringIO()
    call_command("backup", str(tmp_path / "b.tar"), stderr=err, verbosity=0)
    assert (
        MISSING_FILE.format(name="models/project_9/gone.pt", row=f"training.modelversion {version.pk}")
        in err.getvalue()
    )
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert tar.getnames() == ["database.json", "media/projects/kept.png", "manifest.json"]
