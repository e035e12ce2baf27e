"""Local paths for stored files: ml.train reads paths, not Django storage objects.

On a FileSystemStorage (local disk or a shared NFS mount at the same MEDIA_ROOT on every
worker) the file's own path is used. On a remote storage (S3 through django-storages) the
file is downloaded once into a local cache keyed by its content (the object's ETag and size),
so a file rewritten under the same name is fetched again, never served stale.

Checkpoints: with object storage (a "checkpoints" alias in STORAGES) a worker trains into
MODELS_ROOT, its local work folder, then uploads the round's files under their final keys
before the database row points at them (`checkpoints_upload`); readers on any machine get
local copies through `checkpoint_local` and `checkpoint_dir_local`. Without it, MODELS_ROOT
is the shared folder that every process reads, as before.
"""

import hashlib
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db.models.fields.files import FieldFile

from ml.atomic import write_atomically

CHECKPOINTS = "checkpoints"  # the STORAGES alias of model checkpoints, present with object storage
# webapp.images.models.image_upload_to and display_upload_to: .../<sha256[:2]>/<sha256>.<ext>
CONTENT_ADDRESSED = re.compile(r"(^|/)projects/\d+/(images|display)/([0-9a-f]{2})/\3[0-9a-f]{62}\.[a-z0-9]+$")


def cache_dir() -> Path:
    return Path(settings.SEGLOOP_FILE_CACHE)


def local_path(field: FieldFile) -> str:
    try:
        return field.path
    except NotImplementedError:  # remote storage: no local path
        assert field.name, "FieldFile.path already refused an empty field"
        return str(cached_copy(field.storage, field.name))


def content_key(storage: Storage, name: str) -> str:
    """What identifies the stored file's content: the ETag and size on S3 (one HEAD request),
    the size and modification time elsewhere. Raises FileNotFoundError for a missing file."""
    remote: Any = storage
    if hasattr(remote, "bucket"):  # django-storages S3Storage
        try:
            head = remote.bucket.Object(remote._normalize_name(name))
            tag = head.e_tag.strip('"') + f"-{head.content_length}"
        except ClientError as error:
            raise FileNotFoundError(f"{name} is not in the storage") from error
    else:
        tag = f"{storage.size(name)}-{storage.get_modified_time(name).timestamp()}"
    return hashlib.sha256(f"{name}\0{tag}".encode()).hexdigest()


def content_addressed(name: str) -> bool:
    """An uploaded image's pixels, stored under the SHA-256 of the uploaded bytes (the image
    file, or its display picture, decoded from those same bytes): that name never holds other
    content, so its cached copy needs no HEAD request to be trusted."""
    return CONTENT_ADDRESSED.search(name) is not None


def cached_copy(storage: Storage, name: str) -> Path:
    """A local copy of a stored file, downloaded once per content (see `content_key`); files
    under content-addressed names are looked up by name alone (a pseudo-labelling pass over a
    project's images then costs no round trip to the storage once the cache is warm)."""
    if content_addressed(name):
        key = hashlib.sha256(f"{name}\0content-addressed".encode()).hexdigest()
    else:
        key = content_key(storage, name)
    target = cache_dir() / key[:2] / key / PurePosixPath(name).name
    if not target.exists():
        download(storage, name, target)
    return target


def download(storage: Storage, name: str, target: Path) -> None:
    """Copy a stored file to ``target`` atomically: a concurrent reader never sees half a file."""
    with storage.open(name, "rb") as source:
        write_atomically(target, lambda out: shutil.copyfileobj(source, out, 1 << 20))


def checkpoint_storage() -> Storage | None:
    """The object storage of model checkpoints, or None when they live in MODELS_ROOT only."""
    return storages[CHECKPOINTS] if CHECKPOINTS in settings.STORAGES else None


def checkpoints_upload(*, paths: list[Path]) -> None:
    """Upload checkpoint files (under MODELS_ROOT) to the checkpoint storage, each under its
    final key (its path relative to MODELS_ROOT). Call before a row points at them: an upload
    that dies leaves the rows, and so the served version, as they were. No-op without it."""
    storage = checkpoint_storage()
    if storage is None:
        return
    root = models_root()
    for path in paths:
        with path.open("rb") as handle:
            storage.save(path.relative_to(root).as_posix(), File(handle))


def checkpoint_local(relative: str) -> Path:
    """A checkpoint (relative to MODELS_ROOT) as a local file. Without object storage, MODELS_ROOT's
    own. With it, downloaded into MODELS_ROOT once: checkpoint keys are written once (a run's
    folder by its one round, uploaded before any row points at it; an int8 file under its
    export's own folder), so a local copy never goes stale and a request costs no round trip
    to the storage. Raises FileNotFoundError when the file is in neither place."""
    local = models_root() / relative
    storage = checkpoint_storage()
    if storage is not None and not local.is_file():
        if not storage.exists(relative):
            raise FileNotFoundError(f"checkpoint {relative} is not in the storage")
        download(storage, relative, local)
    return local


def checkpoint_dir_local(relative: str) -> Path:
    """A succeeded run's checkpoint folder (relative to MODELS_ROOT) as a local folder; with object
    storage, its stored files that this machine lacks are downloaded into MODELS_ROOT first."""
    directory = models_root() / relative
    storage = checkpoint_storage()
    if storage is None:
        return directory
    _folders, names = storage.listdir(relative)
    for name in names:
        if not (directory / name).exists():
            download(storage, f"{relative}/{name}", directory / name)
    return directory


def models_root() -> Path:
    return Path(settings.MODELS_ROOT)


def run_dir_relative(*, project_id: int, run_id: int) -> str:
    return f"project_{project_id}/run_{run_id}"


def pseudo_training_copy_path(*, project_id: int, image_id: int, mask_version: int) -> Path:
    """Training copy of an accepted pseudo-label: unconfident pixels set to the ignore index."""
    return models_root() / f"project_{project_id}" / "pseudo_train" / f"{image_id}-v{mask_version}.png"


def pseudo_training_copy_local(*, project_id: int, image_id: int, mask_version: int) -> Path | None:
    """The training copy as a local file (downloaded from the checkpoint storage when another
    worker wrote it), or None when there is none (the full pseudo-label trains instead)."""
    path = pseudo_training_copy_path(project_id=project_id, image_id=image_id, mask_version=mask_version)
    try:
        return checkpoint_local(path.relative_to(models_root()).as_posix())
    except FileNotFoundError:
        return None
