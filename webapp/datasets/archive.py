"""An uploaded zip, opened only after its central directory passed the caps, and its members read
within the upload limit. Every dataset format reads its archive through here.

The archive is checked before any member is read: the member count and directory size its end
record declares (before zipfile parses the directory), then from the directory at most
MAX_MEMBERS members and MAX_TOTAL_BYTES unpacked in all, no encrypted members, only stored or
deflated members, no names that point outside the archive. A member that is read must also be
within the upload limit.

Inflating is the cost a hostile zip can force: stored and deflated members only (bzip2 and
LZMA inflate many times slower), and the totals above bound it (see MAX_TOTAL_BYTES).
"""

import json
import re
import struct
import zipfile
import zlib
from pathlib import PurePosixPath
from typing import IO

from django.conf import settings

from webapp.images.validation import InvalidUpload

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
BAD_JSON = "{name} in the zip is not valid JSON."
MEMBER_TOO_LARGE = "{name}: {size_mb:.1f} MB unpacked; the limit is {limit_mb:.0f} MB."
MEMBER_MISSING = "{name}: not in the zip."
MEMBER_DAMAGED = "{name}: damaged in the zip."
TOO_MANY_MEMBERS = "The zip holds {count:,} files; the limit is {limit:,}. Split it into several imports."
DIRECTORY_TOO_LARGE = (
    "The zip's list of files takes {size_mb:,.1f} MB; the limit is {limit_mb:,.0f} MB. Split it into several imports."
)
TOO_LARGE_TOTAL = (
    "The zip unpacks to {size_mb:,.0f} MB; the limit is {limit_mb:,.0f} MB. Split it into several imports."
)
ENCRYPTED_MEMBER = "{name}: encrypted (password-protected) files cannot be imported; zip them without a password."
UNSUPPORTED_METHOD = (
    "{name}: compressed with a method segloop does not read; use stored or deflate (any zip tool's default)."
)
UNSAFE_NAME = "The zip holds a file named {name}, which points outside the archive; nothing was imported."
NOT_TEXT = "{name} in the zip is not UTF-8 text."
DUPLICATE_NAME = "The zip holds {name} more than once; nothing was imported."

DRIVE = re.compile(r"[A-Za-z]:")  # C:..., as Windows tools write absolute names


class InvalidDataset(ValueError):
    """The archive as a whole cannot be imported; nothing was stored. The message is for users."""


def archive_open(archive_file: IO[bytes]) -> zipfile.ZipFile:
    """The zip, once its end record and central directory passed every cap; InvalidDataset if not."""
    _check_end_record(archive_file)
    try:
        archive = zipfile.ZipFile(archive_file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError, struct.error):
        raise InvalidDataset(NOT_A_ZIP) from None
    try:
        _check_directory(archive)
    except InvalidDataset:
        archive.close()
        raise
    return archive


def member_read(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes; InvalidUpload if it is missing, damaged or larger than an upload may be."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InvalidUpload(MEMBER_MISSING.format(name=name)) from None
    limit = settings.SEGLOOP_MAX_UPLOAD_BYTES
    if info.file_size > limit:
        raise InvalidUpload(MEMBER_TOO_LARGE.format(name=name, size_mb=info.file_size / 2**20, limit_mb=limit / 2**20))
    try:
        # Never more than file_size comes out: zipfile stops there and checks the CRC.
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error):
        raise InvalidUpload(MEMBER_DAMAGED.format(name=name)) from None


def json_member(archive: zipfile.ZipFile, name: str):
    """A JSON member, parsed; InvalidDataset if it is missing, too large, damaged or not JSON."""
    try:
        data = member_read(archive, name)
    except InvalidUpload as error:
        raise InvalidDataset(str(error)) from None
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidDataset(BAD_JSON.format(name=name)) from None


def text_member(archive: zipfile.ZipFile, name: str) -> str:
    """A small text member (a label map, an image list) as text; InvalidDataset if unreadable."""
    try:
        return member_read(archive, name).decode("utf-8-sig")
    except InvalidUpload as error:
        raise InvalidDataset(str(error)) from None
    except UnicodeDecodeError:
        raise InvalidDataset(NOT_TEXT.format(name=name)) from None


def shown(name: str) -> str:
    """A member name as a message may show it: quoted, control characters escaped, not too long."""
    text = name.encode("unicode_escape").decode("ascii")
    return f"“{text[:200]}{'…' if len(text) > 200 else ''}”"


def _check_end_record(archive_file: IO[bytes]) -> None:
    """The member count and directory size the end record declares, before zipfile reads the
    directory (it builds every member's entry in memory first)."""
    try:
        archive_file.seek(0)
        # zipfile's own reader of the end record (zip64 included), so both agree on what it says.
        end = zipfile._EndRecData(archive_file)  # type: ignore[attr-defined]
    except (OSError, EOFError, ValueError, struct.error):
        raise InvalidDataset(NOT_A_ZIP) from None
    if end is None:
        raise InvalidDataset(NOT_A_ZIP)
    count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
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
        if not _is_safe_name(info.filename):
            raise InvalidDataset(UNSAFE_NAME.format(name=shown(info.filename)))
        if info.filename in seen:
            raise InvalidDataset(DUPLICATE_NAME.format(name=shown(info.filename)))
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise InvalidDataset(ENCRYPTED_MEMBER.format(name=shown(info.filename)))
        if info.compress_type not in READABLE_METHODS:
            raise InvalidDataset(UNSUPPORTED_METHOD.format(name=shown(info.filename)))


def _is_safe_name(name: str) -> bool:
    """A relative path inside the archive: no root, drive, backslash, "..", or control characters."""
    if not name or name.startswith("/") or "\\" in name or DRIVE.match(name):
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return False
    return ".." not in PurePosixPath(name).parts
