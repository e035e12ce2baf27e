"""The files of a backup, read and written through Django's storages: media through the
"default" storage, model checkpoints through the "checkpoints" storage when there is one (object
storage, django-storages), else through MODELS_ROOT as a local FileSystemStorage. A local
folder and a bucket are handled alike.

When MODELS_ROOT lies inside a local MEDIA_ROOT (the default, `media/models`), its files are
taken once, as models. Left out of models: hidden files and folders (a checkpoint or export
being written) and `exports/` (TorchScript and ONNX files, made again on the next request).
With object storage the local MODELS_ROOT is only each machine's work folder and cache: the
bucket's checkpoints are what is backed up.
"""

import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage

from ml.atomic import fsync_folder
from webapp.backup.manifest import MEDIA_PREFIX, MODELS_PREFIX, BackupRefused, FileEntry, relative_part
from webapp.training.files import checkpoint_storage

CHUNK = 1 << 20
SPOOL_BYTES = 16 * 1024 * 1024
DERIVED_MODEL_FOLDERS = frozenset({"exports"})

CHECKSUM_MISMATCH = (
    "Refused: {name!r} does not match its size or SHA-256 in the manifest: the archive is damaged "
    "or was altered. Nothing was restored."
)
ALREADY_THERE = "{name!r} is in the way on the target storage; the restore was rolled back."
OUTSIDE_STORAGE = "Refused: {name!r} would be written outside {root}. Nothing was restored."


@dataclass(frozen=True)
class SourceFile:
    """A file to back up: its member name, and how to read its size and open it (a file may be
    deleted after it was listed: both then raise FileNotFoundError)."""

    name: str
    size: Callable[[], int]
    open: Callable[[], IO[bytes]]


class HashingReader:
    """Reads through to `raw`, hashing and counting the bytes, and reporting each read."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], object] | None = None) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.on_read = on_read

    def read(self, size: int = -1, /) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        if self.on_read is not None:
            self.on_read(len(data))
        return data


def models_root() -> Path:
    return Path(settings.MODELS_ROOT)


def model_storage() -> Storage:
    """Where checkpoints live: the "checkpoints" object storage, or MODELS_ROOT on this disk."""
    return checkpoint_storage() or FileSystemStorage(location=models_root())


def _models_prefix_in_media() -> str | None:
    """MODELS_ROOT as a storage name prefix when checkpoints are local files inside a local
    MEDIA_ROOT, else None."""
    if checkpoint_storage() is not None or not isinstance(default_storage, FileSystemStorage):
        return None
    try:
        inside = models_root().resolve().relative_to(Path(default_storage.location).resolve())
    except ValueError:
        return None
    return f"{inside.as_posix()}/" if inside.parts else ""


def _storage_names(storage: Storage, folder: str = "", *, skip_derived: bool = False) -> Iterator[str]:
    """Every file name in `storage` under `folder`, sorted, folders after files; with
    `skip_derived`, no hidden files or folders and no top-level `exports/`."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # a local folder that was never made
        return
    for name in sorted(files):
        if not (skip_derived and name.startswith(".")):
            yield f"{folder}{name}"
    for sub in sorted(folders):
        if skip_derived and (sub.startswith(".") or (not folder and sub in DERIVED_MODEL_FOLDERS)):
            continue
        yield from _storage_names(storage, f"{folder}{sub}/", skip_derived=skip_derived)


def _source(storage: Storage, *, prefix: str, name: str) -> SourceFile:
    return SourceFile(
        name=prefix + name, size=partial(_stored_size, storage, name), open=partial(_open_stored, storage, name)
    )


def _stored_size(storage: Storage, name: str) -> int:
    try:
        return storage.size(name)
    except ClientError as error:
        raise FileNotFoundError(f"{name} is not in the storage ({error})") from error


def _open_stored(storage: Storage, name: str) -> IO[bytes]:
    """The stored file, opened for reading. On object storage its content is fetched here, so a
    file deleted since it was listed raises FileNotFoundError before the archive holds any of it."""
    try:
        handle = storage.open(name, "rb")
    except ClientError as error:
        raise FileNotFoundError(f"{name} is not in the storage ({error})") from error
    try:
        handle.read(0)
    except ClientError as error:
        handle.close()
        raise FileNotFoundError(f"{name} is not in the storage ({error})") from error
    return handle


def backup_sources() -> Iterator[SourceFile]:
    """Every media file, then every model file, as archive members."""
    nested = _models_prefix_in_media()
    for name in _storage_names(default_storage):
        if nested is not None and name.startswith(nested):
            continue
        yield _source(default_storage, prefix=MEDIA_PREFIX, name=name)
    models = model_storage()
    for name in _storage_names(models, skip_derived=True):
        yield _source(models, prefix=MODELS_PREFIX, name=name)


def files_present() -> str | None:
    """Some file already in media or among the checkpoints (or, with object storage, in the local
    MODELS_ROOT, whose stale copies would be read in place of restored ones), or None."""
    for name in _storage_names(default_storage):
        return MEDIA_PREFIX + name
    for name in _storage_names(model_storage()):
        return MODELS_PREFIX + name
    if checkpoint_storage() is not None:
        for name in _storage_names(FileSystemStorage(location=models_root())):
            return str(models_root() / name)
    return None


def verified_copy(*, source: IO[bytes], entry: FileEntry, on_read: Callable[[int], object] | None = None) -> IO[bytes]:
    """A temporary copy of `source`, returned only if its size and SHA-256 match the entry."""
    copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        reader = HashingReader(source, on_read)
        shutil.copyfileobj(reader, copy, CHUNK)
        if reader.size != entry.size or reader.sha256.hexdigest() != entry.sha256:
            raise BackupRefused(CHECKSUM_MISMATCH.format(name=entry.path))
        copy.seek(0)
        return copy
    except BaseException:
        copy.close()
        raise


@dataclass
class WrittenFiles:
    """What a restore wrote (storage and name), to take it back if the restore fails."""

    files: list[tuple[Storage, str]] = field(default_factory=list)

    def remove(self) -> None:
        for storage, name in self.files:
            storage.delete(name)


def restore_file(*, entry: FileEntry, content: IO[bytes], written: WrittenFiles) -> None:
    """Write one checked member to its place, the media or the checkpoint storage, whole or
    not at all, and never over a file that is there."""
    storage = default_storage if entry.path.startswith(MEDIA_PREFIX) else model_storage()
    name = relative_part(entry.path).as_posix()
    if isinstance(storage, FileSystemStorage):
        _write_local(storage, entry=entry, name=name, content=content, written=written)
        return
    if storage.exists(name):
        raise BackupRefused(ALREADY_THERE.format(name=entry.path))
    # One PUT: the object appears whole under its name, or not at all.
    stored = storage.save(name, File(content, name=PurePosixPath(name).name))
    written.files.append((storage, stored))
    if stored != name:  # the storage picked another name: the original was taken meanwhile
        raise BackupRefused(ALREADY_THERE.format(name=entry.path))


def _write_local(
    storage: FileSystemStorage, *, entry: FileEntry, name: str, content: IO[bytes], written: WrittenFiles
) -> None:
    """Write into a hidden temporary file beside the target, fsync it, then link it under its
    name (which, unlike a rename, fails if the name is taken) and fsync the folder."""
    root = Path(storage.location).resolve()
    target = Path(storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root):  # a symlinked folder on the target
        raise BackupRefused(OUTSIDE_STORAGE.format(name=entry.path, root=root))
    temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"  # hidden: never backed up
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for media
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(content, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        if storage.file_permissions_mode is not None:
            os.chmod(temporary, storage.file_permissions_mode)
        try:
            os.link(temporary, target)
        except FileExistsError as error:
            raise BackupRefused(ALREADY_THERE.format(name=entry.path)) from error
        written.files.append((storage, name))
    finally:
        os.unlink(temporary)
    fsync_folder(target.parent)
