"""The files of a backup: media through the default storage (a local folder, or object storage
through django-storages alike) and model checkpoints from MODELS_ROOT, a local folder.

When MODELS_ROOT lies inside a local MEDIA_ROOT (the default, `media/models`), its files are
taken once, as models. Left out of models: hidden files and folders (a checkpoint or export
being written) and `exports/` (TorchScript and ONNX files, made again on the next request).
"""

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

from webapp.backup.manifest import MEDIA_PREFIX, MODELS_PREFIX, BackupRefused, FileEntry, relative_part

CHUNK = 1 << 20
SPOOL_BYTES = 16 * 1024 * 1024
DERIVED_MODEL_FOLDERS = frozenset({"exports"})

CHECKSUM_MISMATCH = (
    "Refused: {name!r} does not match its size or SHA-256 in the manifest: the archive is damaged "
    "or was altered. Nothing was restored."
)
ALREADY_THERE = "{name!r} is in the way on the target storage; the restore was rolled back."
OUTSIDE_MODELS_ROOT = "Refused: {name!r} would be written outside MODELS_ROOT. Nothing was restored."


@dataclass(frozen=True)
class SourceFile:
    """A file to back up: its member name, and how to read its size and open it (a file may be
    deleted after it was listed)."""

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


def _models_prefix_in_media() -> str | None:
    """MODELS_ROOT as a storage name prefix when it lies inside a local MEDIA_ROOT, else None."""
    if not isinstance(default_storage, FileSystemStorage):
        return None
    try:
        inside = models_root().resolve().relative_to(Path(default_storage.location).resolve())
    except ValueError:
        return None
    return f"{inside.as_posix()}/" if inside.parts else ""


def _storage_names(folder: str = "") -> Iterator[str]:
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:  # a local MEDIA_ROOT that was never made
        return
    for name in sorted(files):
        yield f"{folder}{name}"
    for sub in sorted(folders):
        yield from _storage_names(f"{folder}{sub}/")


def _model_paths(*, skip_derived: bool) -> Iterator[Path]:
    root = models_root()
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        top = here == root
        folders[:] = sorted(
            name
            for name in folders
            if not (skip_derived and (name.startswith(".") or (top and name in DERIVED_MODEL_FOLDERS)))
        )
        for name in sorted(files):
            if not (skip_derived and name.startswith(".")):
                yield here / name


def backup_sources() -> Iterator[SourceFile]:
    """Every media file, then every model file, as archive members."""
    nested = _models_prefix_in_media()
    for name in _storage_names():
        if nested is not None and name.startswith(nested):
            continue
        yield SourceFile(
            name=MEDIA_PREFIX + name,
            size=partial(default_storage.size, name),
            open=partial(default_storage.open, name, "rb"),
        )
    root = models_root()
    for path in _model_paths(skip_derived=True):
        yield SourceFile(
            name=MODELS_PREFIX + path.relative_to(root).as_posix(),
            size=partial(_local_size, path),
            open=partial(_open_local, path),
        )


def _local_size(path: Path) -> int:
    return path.stat().st_size


def _open_local(path: Path) -> IO[bytes]:
    return path.open("rb")


def files_present() -> str | None:
    """The name of some file already in media or MODELS_ROOT, or None when both are empty."""
    for name in _storage_names():
        return MEDIA_PREFIX + name
    for path in _model_paths(skip_derived=False):
        return MODELS_PREFIX + path.relative_to(models_root()).as_posix()
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
    """What a restore wrote, to take it back if the restore fails."""

    media: list[str]
    models: list[Path]

    def remove(self) -> None:
        for name in self.media:
            default_storage.delete(name)
        for path in self.models:
            path.unlink(missing_ok=True)


def restore_file(*, entry: FileEntry, content: IO[bytes], written: WrittenFiles) -> None:
    """Write one checked member to its place: the default storage or MODELS_ROOT."""
    relative = relative_part(entry.path)
    if entry.path.startswith(MEDIA_PREFIX):
        name = relative.as_posix()
        if default_storage.exists(name):
            raise BackupRefused(ALREADY_THERE.format(name=entry.path))
        stored = default_storage.save(name, File(content, name=relative.name))
        written.media.append(stored)
        if stored != name:  # the storage picked another name: the original was taken meanwhile
            raise BackupRefused(ALREADY_THERE.format(name=entry.path))
        return
    _model_write(entry=entry, relative=relative, content=content, written=written)


def _model_write(*, entry: FileEntry, relative: PurePosixPath, content: IO[bytes], written: WrittenFiles) -> None:
    root = models_root().resolve()
    target = root.joinpath(*relative.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root):  # a symlinked folder on the target
        raise BackupRefused(OUTSIDE_MODELS_ROOT.format(name=entry.path))
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # never overwrites
    except FileExistsError as error:
        raise BackupRefused(ALREADY_THERE.format(name=entry.path)) from error
    written.models.append(target)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(content, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())
