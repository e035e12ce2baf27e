"""Write a backup archive and restore one.

`backup_create` dumps the database in one consistent snapshot, then copies every media and
model file, through their storages (local folders or object storage alike), into a temporary
file beside the target that is renamed into place at the end: a crash never leaves a half
archive under the final name. Files that rows name but the storage lacks are reported, not
fatal: the rest is still worth having. `backup_restore` checks the archive as hostile input
(member names and kinds, the manifest, every file's size and SHA-256) and the target
(migrated, no rows, no files) before it writes anything, then loads the rows and writes the
files, each whole or not at all, in one transaction: the rows appear only once every file is
in place. If anything fails, the rows are rolled back and the files written so far are removed.
"""

import gzip
import io
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import django
from django.conf import settings
from django.db import connection, transaction
from tqdm import tqdm

from ml.atomic import write_atomically
from webapp.backup import database
from webapp.backup.files import HashingReader, WrittenFiles, backup_sources, files_present, restore_file, verified_copy
from webapp.backup.manifest import (
    DATABASE_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    BackupRefused,
    FileEntry,
    Manifest,
    check_name,
    manifest_parse,
)

ARCHIVE_SUFFIXES = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz"}
AUTO_NAME = "segloop-backup-{stamp}.tar"

BAD_TARGET = "Write the backup to a .tar, .tar.gz or .tgz file, or into an existing folder; {path} is neither."
NO_FOLDER = "There is no folder {folder} to write the backup in."
TARGET_EXISTS = "{path} exists already; backup never overwrites an archive. Choose a new name."
NOT_AN_ARCHIVE = "Refused: {path} is not a readable tar archive ({error}). Nothing was restored."
NOT_A_BACKUP = "Refused: {path} has no {manifest}, so it is not a segloop backup. Nothing was restored."
NOT_A_FILE = (
    "Refused: the archive member {name!r} is not a plain file (a link, folder or device). Nothing was restored."
)
TWICE = "Refused: the archive holds {name!r} twice. Nothing was restored."
UNLISTED = "Refused: the archive holds {name!r}, which its manifest does not list. Nothing was restored."
MISSING = "Refused: the manifest lists {name!r}, but the archive lacks it. Nothing was restored."
MANIFEST_TOO_BIG = "Refused: the manifest is larger than {limit} bytes. Nothing was restored."
DATABASE_NOT_EMPTY = (
    "Refused: the database already holds data ({tables}). restore only fills a freshly migrated database "
    "with no users or projects: create an empty database, run `manage.py migrate`, and restore into it. "
    "Nothing was changed."
)
MEDIA_NOT_EMPTY = (
    "Refused: the media storage or MODELS_ROOT already holds files (for example {name}). restore only "
    "fills empty ones. Nothing was changed."
)
MIGRATIONS_MISSING = (
    "Refused: the backup was made after migrations that this database has not applied ({names}). Update "
    "segloop to the version that wrote it (commit {commit}), run `manage.py migrate`, then restore. "
    "Nothing was changed."
)
UNKNOWN_MODEL = "Refused: the backup holds rows of {label}, which this segloop does not know. Nothing was changed."
COUNT_MISMATCH = (
    "The database holds {found} rows of {label} after loading, the manifest says {expected}; "
    "the restore was rolled back."
)


@dataclass
class BackupSummary:
    path: Path
    manifest: Manifest
    skipped: list[str] = field(default_factory=list)  # files deleted while the backup ran
    # Files that rows name but the storage lacked, as (member name, the row that names it).
    missing: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RestoreSummary:
    manifest: Manifest
    newer_migrations: list[tuple[str, str]]  # applied here, unknown to the backup


def backup_target(path: Path) -> Path:
    """The archive to write: `path` itself, or a time-stamped name in an existing folder."""
    if path.is_dir():
        path = path / AUTO_NAME.format(stamp=datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    elif _mode(path) is None:
        raise BackupRefused(BAD_TARGET.format(path=path))
    elif not path.parent.is_dir():
        raise BackupRefused(NO_FOLDER.format(folder=path.parent))
    if path.exists() or path.is_symlink():
        raise BackupRefused(TARGET_EXISTS.format(path=path))
    return path


def _mode(path: Path) -> str | None:
    name = path.name.lower()
    return next((mode for suffix, mode in ARCHIVE_SUFFIXES.items() if name.endswith(suffix)), None)


def segloop_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def backup_create(*, path: Path, progress: bool = False) -> BackupSummary:
    """Write the whole installation to a new archive at `path` (a .tar/.tar.gz/.tgz file, or an
    existing folder for a time-stamped name). Raises BackupRefused for a bad or taken name."""
    target = backup_target(path)
    mode = _mode(target) or "w"
    created = datetime.now(UTC)
    written: list[BackupSummary] = []

    def write(raw: IO[bytes]) -> None:
        with tarfile.open(fileobj=raw, mode=mode, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            written.append(_write_archive(tar, target=target, created=created, progress=progress))

    write_atomically(target, write)
    return written[0]


def _write_archive(tar: tarfile.TarFile, *, target: Path, created: datetime, progress: bool) -> BackupSummary:
    mtime = int(created.timestamp())
    # The dump goes to an unnamed temporary file beside the target, where room was planned.
    with tempfile.TemporaryFile(dir=target.parent) as dump:
        with database.snapshot():
            text = io.TextIOWrapper(dump, encoding="ascii", newline="\n")
            counts = database.database_dump(stream=text)
            migrations = database.applied_migrations()
            referenced = database.referenced_files()
            text.flush()
            text.detach()
        size = dump.tell()
        dump.seek(0)
        database_entry = _add_member(tar, name=DATABASE_NAME, size=size, content=dump, mtime=mtime)
    manifest = Manifest(
        created_at=created.isoformat(),
        segloop_commit=segloop_commit(),
        django_version=django.get_version(),
        database_vendor=connection.vendor,
        migrations=migrations,
        database=database_entry,
        object_counts=counts,
    )
    skipped: list[str] = []
    listed: set[str] = set()
    with _bar(progress, unit="file", desc="files") as bar:
        for source in backup_sources():
            listed.add(source.name)
            try:
                size = source.size()
                with source.open() as content:
                    entry = _add_member(tar, name=source.name, size=size, content=content, mtime=mtime)
            except FileNotFoundError:  # deleted since it was listed (with its row, after the snapshot)
                skipped.append(source.name)
                continue
            manifest.files.append(entry)
            bar.update(1)
    data = manifest.to_bytes()
    _add_member(tar, name=MANIFEST_NAME, size=len(data), content=io.BytesIO(data), mtime=mtime)
    missing = [(name, row) for name, row in sorted(referenced.items()) if name not in listed]
    return BackupSummary(path=target, manifest=manifest, skipped=skipped, missing=missing)


def _add_member(tar: tarfile.TarFile, *, name: str, size: int, content: IO[bytes], mtime: int) -> FileEntry:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    reader = HashingReader(content)
    tar.addfile(info, reader)  # reads exactly `size` bytes, or raises
    return FileEntry(path=name, size=size, sha256=reader.sha256.hexdigest())


def _bar(progress: bool, **options: object) -> tqdm:
    """A tqdm progress bar on stderr, shown only when asked and stderr is a terminal."""
    return tqdm(disable=None if progress else True, leave=False, **options)


def backup_restore(*, path: Path, progress: bool = False) -> RestoreSummary:
    """Restore an archive into an empty, migrated database and empty media. Raises
    BackupRefused, having changed nothing, for a damaged or hostile archive or a target that
    holds data."""
    try:
        tar = tarfile.open(path, mode="r:*")
    except (OSError, tarfile.TarError) as error:
        raise BackupRefused(NOT_AN_ARCHIVE.format(path=path, error=error)) from error
    with tar:
        try:
            members = _members(tar)
            manifest = _manifest(tar, members, path=path)
            newer = _check_target(manifest)
            _verify(tar, members, manifest, progress=progress)
            _load(tar, members, manifest, progress=progress)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise BackupRefused(NOT_AN_ARCHIVE.format(path=path, error=error)) from error
    return RestoreSummary(manifest=manifest, newer_migrations=newer)


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Every member by name, in archive order, after checking names and kinds."""
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        check_name(member.name)
        if not member.isreg():
            raise BackupRefused(NOT_A_FILE.format(name=member.name))
        if member.name in members:
            raise BackupRefused(TWICE.format(name=member.name))
        members[member.name] = member
    return members


def _manifest(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], *, path: Path) -> Manifest:
    member = members.get(MANIFEST_NAME)
    if member is None:
        raise BackupRefused(NOT_A_BACKUP.format(path=path, manifest=MANIFEST_NAME))
    if member.size > MAX_MANIFEST_BYTES:
        raise BackupRefused(MANIFEST_TOO_BIG.format(limit=MAX_MANIFEST_BYTES))
    manifest = manifest_parse(_content(tar, member).read())
    listed = manifest.entries()
    for name in members:
        if name != MANIFEST_NAME and name not in listed:
            raise BackupRefused(UNLISTED.format(name=name))
    for name in listed:
        if name not in members:
            raise BackupRefused(MISSING.format(name=name))
    return manifest


def _content(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    content = tar.extractfile(member)
    if content is None:  # not reached: _members admits plain files only
        raise BackupRefused(NOT_A_FILE.format(name=member.name))
    return content


def _check_target(manifest: Manifest) -> list[tuple[str, str]]:
    """Refuse unless this database can take the backup's rows and holds none, and media are
    empty; returns the migrations applied here that the backup predates."""
    applied = set(database.applied_migrations())
    missing = sorted(set(manifest.migrations) - applied)
    if missing:
        names = ", ".join(f"{app}.{name}" for app, name in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise BackupRefused(MIGRATIONS_MISSING.format(names=names, commit=manifest.segloop_commit or "unknown"))
    known = {model._meta.label_lower for model in database.backed_up_models()}
    for label in manifest.object_counts:
        if label not in known:
            raise BackupRefused(UNKNOWN_MODEL.format(label=label))
    present = database.rows_present()
    if present:
        tables = ", ".join(f"{label}: {count}" for label, count in sorted(present.items()))
        raise BackupRefused(DATABASE_NOT_EMPTY.format(tables=tables))
    name = files_present()
    if name is not None:
        raise BackupRefused(MEDIA_NOT_EMPTY.format(name=name))
    return sorted(applied - set(manifest.migrations))


def _verify(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], manifest: Manifest, *, progress: bool) -> None:
    """Check every listed member's size and SHA-256 before anything is written."""
    listed = manifest.entries()
    total = sum(entry.size for entry in listed.values())
    with _bar(progress, total=total, unit="B", unit_scale=True, desc="checking") as bar:
        for name, member in members.items():
            if name == MANIFEST_NAME:
                continue
            verified_copy(source=_content(tar, member), entry=listed[name], on_read=bar.update).close()


def _load(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], manifest: Manifest, *, progress: bool) -> None:
    """Rows and files in one go: the rows in one transaction, the files removed again if it fails.
    Each member is checked once more as it is copied, so a file changed since _verify is refused."""
    listed = manifest.entries()
    written = WrittenFiles()
    try:
        with transaction.atomic():
            if sum(manifest.object_counts.values()):
                _load_rows(tar, members, manifest)
            found = database.row_counts(list(manifest.object_counts))
            for label, expected in manifest.object_counts.items():
                if found[label] != expected:
                    raise BackupRefused(COUNT_MISMATCH.format(label=label, found=found[label], expected=expected))
            with _bar(progress, total=manifest.file_bytes, unit="B", unit_scale=True, desc="restoring") as bar:
                for name, member in members.items():
                    if name in (MANIFEST_NAME, DATABASE_NAME):
                        continue
                    entry = listed[name]
                    with verified_copy(source=_content(tar, member), entry=entry) as content:
                        restore_file(entry=entry, content=content, written=written)
                    bar.update(entry.size)
    except BaseException:
        written.remove()
        raise


def _load_rows(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], manifest: Manifest) -> None:
    with tempfile.TemporaryDirectory(prefix="segloop-restore-") as scratch:
        fixture = Path(scratch) / DATABASE_NAME  # loaddata knows the format by the suffix
        with (
            verified_copy(source=_content(tar, members[DATABASE_NAME]), entry=manifest.database) as dump,
            fixture.open("wb") as out,
        ):
            shutil.copyfileobj(dump, out, 1 << 20)
        database.database_load(fixture)
