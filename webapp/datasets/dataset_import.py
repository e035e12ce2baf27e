"""Import a dataset zip (the layout that export.py writes) into a project, all or nothing.

1. The archive is checked before any member is read: the member count and directory size its
   end record declares (before zipfile parses the directory), then from the directory at most
   MAX_MEMBERS members and MAX_TOTAL_BYTES unpacked in all, no encrypted members, only stored
   or deflated members, no names that point outside the archive. A member that is read must
   also be within the upload limit.
2. The zip's classes must match the project's (same index, same name).
3. Every image and mask is decoded and checked (and duplicates found) before anything is
   stored; if any is refused, nothing is imported and the report lists every refusal.
4. Then all images are stored in one transaction; if one still fails (a concurrent upload
   of the same file), the rows are rolled back and the files already written are deleted.

Inflating is the cost a hostile zip can force: stored and deflated members only (bzip2 and
LZMA inflate many times slower), and the totals above bound it (see MAX_TOTAL_BYTES).
"""
import hashlib
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from webapp.images.models import Image, Mask
from webapp.images.services import image_import, project_class_indices
from webapp.images.validation import DUPLICATE, InvalidUpload, check_image_bytes, decode_mask_png
from webapp.projects.models import Project

# Limits checked on the central directory, before any member is read. A project's export
# holds about three members per image (image, mask, colour mask), so 30,000 members is
# 10,000 images; 2 GiB unpacked costs a few seconds of one core to inflate (deflate runs at
# hundreds of MB/s), whatever the zip's own size.
MAX_MEMBERS = 30_000
MAX_TOTAL_BYTES = 2 * 2**30
# The central directory itself, checked in the end record before zipfile parses it into one
# object per member: 30,000 members whose names are as long as an export writes them fit.
MAX_DIRECTORY_BYTES = 16 * 2**20
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}

NOT_A_ZIP = "The file is not a zip archive."
NO_CLASSES = "The zip has no classes.json (export a project to see the layout)."
BAD_JSON = "{name} in the zip is not valid JSON."
CLASS_MISMATCH = "The zip's classes do not match this project's: {problems}."
NO_IMAGES = "The zip holds no images (files under images/)."
MEMBER_TOO_LARGE = "{name}: {size_mb:.1f} MB unpacked; the limit is {limit_mb:.0f} MB."
MEMBER_MISSING = "{name}: not in the zip."
MEMBER_DAMAGED = "{name}: damaged in the zip."
TOO_MANY_MEMBERS = "The zip holds {count:,} files; the limit is {limit:,}. Split it into several imports."
DIRECTORY_TOO_LARGE = (
    "The zip's list of files takes {size_mb:,.1f} MB; the limit is {limit_mb:,.0f} MB. "
    "Split it into several imports."
)
TOO_LARGE_TOTAL = (
    "The zip unpacks to {size_mb:,.0f} MB; the limit is {limit_mb:,.0f} MB. Split it into several imports."
)
ENCRYPTED_MEMBER = (
    "{name}: encrypted (password-protected) files cannot be imported; zip them without a password."
)
UNSUPPORTED_METHOD = (
    "{name}: compressed with a method segloop does not read; use stored or deflate (any zip tool's default)."
)
UNSAFE_NAME = "The zip holds a file named {name}, which points outside the archive; nothing was imported."
DUPLICATE_NAME = "The zip holds {name} more than once; nothing was imported."
NOTHING_IMPORTED = (
    "Nothing was imported: {failed} of {total} images were refused (see results). "
    "Fix them and send the zip again."
)
DUPLICATE_IN_ZIP = "{name}: the same image is also in this zip (as {other})."

DRIVE = re.compile(r"[A-Za-z]:")  # C:..., as Windows tools write absolute names
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


class InvalidDataset(ValueError):
    """The archive as a whole cannot be imported; nothing was stored. The message is for users."""


@dataclass
class _Entry:
    image: str  # member names
    mask: str | None
    name: str  # the original file name, as stored


def dataset_import(*, project: Project, archive_file, user) -> dict:
    """{"created", "failed", "results": [{"name", "image", "error"}]}, with "detail" when nothing
    was imported because some images were refused; InvalidDataset if the zip is unusable."""
    _check_end_record(archive_file)
    try:
        archive = zipfile.ZipFile(archive_file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            struct.error):
        raise InvalidDataset(NOT_A_ZIP)
    with archive:
        _check_directory(archive)
        _check_classes(project, _read_json(archive, "classes.json", missing=NO_CLASSES))
        entries = _entries(archive)
        if not entries:
            raise InvalidDataset(NO_IMAGES)
        refused = _refusals(project, archive, entries)
        if refused:
            return {"created": 0, "failed": len(refused), "results": refused,
                    "detail": NOTHING_IMPORTED.format(failed=len(refused), total=len(entries))}
        results = _store_all(project, archive, entries, user)
    created = sum(r["image"] is not None for r in results)
    report = {"created": created, "failed": len(results) - created, "results": results}
    if not created:
        report["detail"] = NOTHING_IMPORTED.format(failed=report["failed"], total=len(entries))
    return report


# ------------------------------------------------------------------ the archive itself


def _check_end_record(archive_file) -> None:
    """The member count and directory size the end record declares, before zipfile reads the
    directory (it builds every member's entry in memory first)."""
    try:
        archive_file.seek(0)
        # zipfile's own reader of the end record (zip64 included), so both agree on what it says.
        end = zipfile._EndRecData(archive_file)
    except (OSError, EOFError, ValueError, struct.error):
        raise InvalidDataset(NOT_A_ZIP)
    if end is None:
        raise InvalidDataset(NOT_A_ZIP)
    count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if count > MAX_MEMBERS:
        raise InvalidDataset(TOO_MANY_MEMBERS.format(count=count, limit=MAX_MEMBERS))
    if size > MAX_DIRECTORY_BYTES:
        raise InvalidDataset(DIRECTORY_TOO_LARGE.format(size_mb=size / 2**20, limit_mb=MAX_DIRECTORY_BYTES / 2**20))


def _check_directory(archive: zipfile.ZipFile) -> None:
    """Counts, sizes, encryption, methods and names, from the central directory alone."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise InvalidDataset(TOO_MANY_MEMBERS.format(count=len(members), limit=MAX_MEMBERS))
    total = sum(info.file_size for info in members)
    if total > MAX_TOTAL_BYTES:
        raise InvalidDataset(TOO_LARGE_TOTAL.format(size_mb=total / 2**20, limit_mb=MAX_TOTAL_BYTES / 2**20))
    seen = set()
    for info in members:
        shown = _shown(info.filename)
        if not _is_safe_name(info.filename):
            raise InvalidDataset(UNSAFE_NAME.format(name=shown))
        if info.filename in seen:
            raise InvalidDataset(DUPLICATE_NAME.format(name=shown))
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise InvalidDataset(ENCRYPTED_MEMBER.format(name=shown))
        if info.compress_type not in READABLE_METHODS:
            raise InvalidDataset(UNSUPPORTED_METHOD.format(name=shown))


def _is_safe_name(name: str) -> bool:
    """A relative path inside the archive: no root, drive, backslash, "..", or control characters."""
    if not name or name.startswith("/") or "\\" in name or DRIVE.match(name):
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    return ".." not in PurePosixPath(name).parts


def _shown(name: str) -> str:
    """A member name as a message may show it: quoted, control characters escaped, not too long."""
    text = name.encode("unicode_escape").decode("ascii")
    return f"“{text[:200]}{'…' if len(text) > 200 else ''}”"


def _read_json(archive: zipfile.ZipFile, name: str, *, missing: str):
    try:
        data = _read(archive, name)
    except KeyError:
        raise InvalidDataset(missing)
    except InvalidUpload as error:
        raise InvalidDataset(str(error))
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidDataset(BAD_JSON.format(name=name))


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes; refuses members larger than an upload may be (zip bombs)."""
    info = archive.getinfo(name)
    limit = settings.SEGLOOP_MAX_UPLOAD_BYTES
    if info.file_size > limit:
        raise InvalidUpload(MEMBER_TOO_LARGE.format(name=name, size_mb=info.file_size / 2**20, limit_mb=limit / 2**20))
    try:
        # Never more than file_size comes out: zipfile stops there and checks the CRC.
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error):
        raise InvalidUpload(MEMBER_DAMAGED.format(name=name))


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return _read(archive, name)
    except KeyError:
        raise InvalidUpload(MEMBER_MISSING.format(name=name))


# ------------------------------------------------------------------ what it holds


def _check_classes(project: Project, data) -> None:
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, list) or not all(isinstance(c, dict) for c in classes):
        raise InvalidDataset(CLASS_MISMATCH.format(problems="classes.json lists no classes"))
    ours = {c.index: c.name for c in project.label_classes.all()}
    problems = []
    for given in classes:
        index, name = given.get("index"), given.get("name")
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(name, str):
            problems.append("each class needs a whole-number index and a name")
            break
        if ours.get(index) != name:
            where = f"“{ours[index]}”" if index in ours else "no class"
            problems.append(f"index {index} is “{name}” in the zip but {where} here")
    if problems:
        raise InvalidDataset(CLASS_MISMATCH.format(problems="; ".join(problems)))


def _entries(archive: zipfile.ZipFile) -> list[_Entry]:
    """From manifest.json when present, else images/X.* paired with masks/X.png."""
    names = set(archive.namelist())
    if "manifest.json" in names:
        manifest = _read_json(archive, "manifest.json", missing="")
        if not isinstance(manifest, list) or not all(isinstance(e, dict) and isinstance(e.get("image"), str)
                                                      for e in manifest):
            raise InvalidDataset(BAD_JSON.format(name="manifest.json"))
        return [_Entry(image=e["image"], mask=e.get("mask") if isinstance(e.get("mask"), str) else None,
                       name=_file_name(e.get("original_name"), e["image"])) for e in manifest]
    entries = []
    for name in sorted(names):
        path = PurePosixPath(name)
        if path.parent == PurePosixPath("images") and path.suffix.lower() in IMAGE_SUFFIXES:
            mask = f"masks/{path.stem}.png"
            entries.append(_Entry(image=name, mask=mask if mask in names else None, name=path.name))
    return entries


def _file_name(given, member: str) -> str:
    """The name to keep: its last part only, as Django keeps an uploaded file's name."""
    name = PurePosixPath(str(given or "").replace("\\", "/")).name
    return name or PurePosixPath(member).name


def _refusals(project: Project, archive: zipfile.ZipFile, entries: list[_Entry]) -> list[dict]:
    """Every image and mask decoded and checked, nothing stored: the results of those refused."""
    valid_indices = project_class_indices(project)
    first_with: dict[str, str] = {}  # checksum -> the name it first came under in this zip
    refused = []
    for entry in entries:
        try:
            data = _member(archive, entry.image)
            checked = check_image_bytes(name=entry.name, data=data)
            checksum = hashlib.sha256(data).hexdigest()
            if checksum in first_with:
                raise InvalidUpload(DUPLICATE_IN_ZIP.format(name=entry.name, other=first_with[checksum]))
            first_with[checksum] = entry.name
            existing = Image.objects.filter(project=project, checksum=checksum).only("original_name").first()
            if existing:
                raise InvalidUpload(DUPLICATE.format(name=entry.name, existing=existing.original_name))
            if entry.mask:
                decode_mask_png(data=_member(archive, entry.mask), width=checked.width, height=checked.height,
                                valid_indices=valid_indices)
        except InvalidUpload as error:
            refused.append({"name": entry.name, "image": None, "error": str(error)})
    return refused


def _store_all(project: Project, archive: zipfile.ZipFile, entries: list[_Entry], user) -> list[dict]:
    """Store every entry in one transaction; on any refusal roll back the rows and delete the files."""
    written: list[str] = []
    results = []
    try:
        with transaction.atomic():
            for entry in entries:
                data = _member(archive, entry.image)
                mask = _member(archive, entry.mask) if entry.mask else None
                image = image_import(project=project, name=entry.name, data=data, uploaded_by=user, mask_data=mask)
                written += [image.file.name, image.thumbnail.name]
                written += list(Mask.objects.filter(image=image).values_list("file", flat=True))
                results.append({"name": entry.name, "image": image, "error": None})
    except InvalidUpload as error:
        _delete(written)
        return [{"name": entry.name, "image": None, "error": str(error)}]
    except BaseException:
        _delete(written)
        raise
    return results


def _delete(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)
