"""The manifest of a backup archive and the names its members may have.

An archive holds `database.json` (Django's JSON fixture format), the media files under
`media/` (names as in the default storage), the model checkpoints under `models/` (paths
relative to MODELS_ROOT) and, last, `manifest.json`: format version, segloop commit, creation
time, applied migrations, row counts per model, and the size and SHA-256 of every other member.
A restore reads nothing that the manifest does not list, and trusts nothing the archive says
until it has been checked here.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

FORMAT = "segloop-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "database.json"
MEDIA_PREFIX = "media/"
MODELS_PREFIX = "models/"
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
MAX_NAME_LENGTH = 1024

BAD_MANIFEST = "Refused: the backup's manifest is damaged ({detail}). Nothing was restored."
UNKNOWN_FORMAT = (
    "Refused: this archive has backup format {found}; this segloop reads {supported}. "
    "Restore it with the segloop version that wrote it. Nothing was restored."
)
UNSAFE_NAME = "Refused: the archive names a file {name!r}, {why}. Nothing was restored."
WHY_ABSOLUTE = "an absolute path"
WHY_PARENT = "a path that climbs out with '..'"
WHY_ODD = "an empty, '.', backslash or control-character path part"
WHY_PLACE = "outside media/ and models/"
WHY_LONG = f"longer than {MAX_NAME_LENGTH} characters"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


class BackupRefused(Exception):
    """The archive or the target is not fit for the operation; nothing was changed."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass
class Manifest:
    created_at: str
    segloop_commit: str | None
    django_version: str
    database_vendor: str
    migrations: list[tuple[str, str]]
    database: FileEntry
    object_counts: dict[str, int]
    files: list[FileEntry] = field(default_factory=list)

    @property
    def file_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    def entries(self) -> dict[str, FileEntry]:
        """Every member but the manifest itself, by name."""
        return {entry.path: entry for entry in [self.database, *self.files]}

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "segloop_commit": self.segloop_commit,
            "django_version": self.django_version,
            "database_vendor": self.database_vendor,
            "migrations": [list(pair) for pair in self.migrations],
            "database": self.database.as_json(),
            "counts": {"objects": self.object_counts, "files": len(self.files), "bytes": self.file_bytes},
            "files": [entry.as_json() for entry in self.files],
        }
        return json.dumps(document, indent=1, ensure_ascii=True).encode("ascii")


def name_problem(name: str) -> str | None:
    """Why a member name is unsafe or out of place, or None for a name a backup may hold."""
    if len(name) > MAX_NAME_LENGTH:
        return WHY_LONG
    if name.startswith("/"):
        return WHY_ABSOLUTE
    parts = name.split("/")
    if ".." in parts:
        return WHY_PARENT
    if any(part in ("", ".") for part in parts) or _CONTROL.search(name):
        return WHY_ODD
    if name in (MANIFEST_NAME, DATABASE_NAME):
        return None
    if len(parts) < 2 or f"{parts[0]}/" not in (MEDIA_PREFIX, MODELS_PREFIX):
        return WHY_PLACE
    return None


def check_name(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise BackupRefused(UNSAFE_NAME.format(name=name, why=problem))


def relative_part(name: str) -> PurePosixPath:
    """`media/a/b.png` -> `a/b.png`: the name within its storage."""
    return PurePosixPath(*name.split("/")[1:])


def manifest_parse(data: bytes) -> Manifest:
    """The manifest of an archive, with every field checked; raises BackupRefused."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackupRefused(BAD_MANIFEST.format(detail=f"not JSON: {error}")) from error
    mapping = _mapping(document, "the manifest")
    if mapping.get("format") != FORMAT:
        raise BackupRefused(BAD_MANIFEST.format(detail="not a segloop backup"))
    version = mapping.get("format_version")
    if version != FORMAT_VERSION:
        raise BackupRefused(UNKNOWN_FORMAT.format(found=version, supported=FORMAT_VERSION))
    commit = mapping.get("segloop_commit")
    if commit is not None and not isinstance(commit, str):
        raise BackupRefused(BAD_MANIFEST.format(detail="segloop_commit is not text"))
    counts = _mapping(mapping.get("counts"), "counts")
    objects = _mapping(counts.get("objects"), "counts.objects")
    database = _entry(mapping.get("database"))
    if database.path != DATABASE_NAME:
        raise BackupRefused(BAD_MANIFEST.format(detail=f"the database is not {DATABASE_NAME}"))
    files = [_entry(item) for item in _list(mapping.get("files"), "files")]
    names = [entry.path for entry in files]
    if len(set(names)) != len(names) or DATABASE_NAME in names or MANIFEST_NAME in names:
        raise BackupRefused(BAD_MANIFEST.format(detail="a file is listed twice"))
    for entry in files:
        check_name(entry.path)
    return Manifest(
        created_at=_text(mapping.get("created_at"), "created_at"),
        segloop_commit=commit,
        django_version=_text(mapping.get("django_version"), "django_version"),
        database_vendor=_text(mapping.get("database_vendor"), "database_vendor"),
        migrations=[_migration(item) for item in _list(mapping.get("migrations"), "migrations")],
        database=database,
        object_counts={
            _text(label, "a model label"): _count(n, f"counts.objects.{label}") for label, n in objects.items()
        },
        files=files,
    )


def _mapping(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BackupRefused(BAD_MANIFEST.format(detail=f"{what} is not an object"))
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BackupRefused(BAD_MANIFEST.format(detail=f"{what} is not a list"))
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BackupRefused(BAD_MANIFEST.format(detail=f"{what} is not text"))
    return value


def _count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BackupRefused(BAD_MANIFEST.format(detail=f"{what} is not a count"))
    return value


def _migration(value: object) -> tuple[str, str]:
    pair = _list(value, "a migration")
    if len(pair) != 2:
        raise BackupRefused(BAD_MANIFEST.format(detail="a migration is not [app, name]"))
    return _text(pair[0], "a migration's app"), _text(pair[1], "a migration's name")


def _entry(value: object) -> FileEntry:
    mapping = _mapping(value, "a file entry")
    path = _text(mapping.get("path"), "a file's path")
    digest = _text(mapping.get("sha256"), f"the sha256 of {path!r}")
    if not _SHA256.fullmatch(digest):
        raise BackupRefused(BAD_MANIFEST.format(detail=f"the sha256 of {path!r} is not 64 hex digits"))
    return FileEntry(path=path, size=_count(mapping.get("size"), f"the size of {path!r}"), sha256=digest)
