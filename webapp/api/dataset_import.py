"""Import a dataset zip (the layout that export.py writes) into a project.

The zip's classes must match the project's (same index, same name) or nothing is imported.
Each image is then imported on its own (image_import, with its mask as a human mask), so one
bad or duplicate image is reported and the others still arrive.
"""
import json
import zipfile
from pathlib import PurePosixPath

from django.conf import settings

from webapp.images.services import image_import
from webapp.images.validation import InvalidUpload
from webapp.projects.models import Project

NOT_A_ZIP = "The file is not a zip archive."
NO_CLASSES = "The zip has no classes.json (export a project to see the layout)."
BAD_JSON = "{name} in the zip is not valid JSON."
CLASS_MISMATCH = "The zip's classes do not match this project's: {problems}."
NO_IMAGES = "The zip holds no images (files under images/)."
MEMBER_TOO_LARGE = "{name}: {size_mb:.1f} MB unpacked; the limit is {limit_mb:.0f} MB."
MEMBER_MISSING = "{name}: not in the zip."

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


class InvalidDataset(ValueError):
    """The archive as a whole cannot be imported; nothing was stored. The message is for users."""


def dataset_import(*, project: Project, archive_file, user) -> dict:
    """{"created", "failed", "results": [{"name", "image", "error"}]}; InvalidDataset if the zip is unusable."""
    try:
        archive = zipfile.ZipFile(archive_file)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InvalidDataset(NOT_A_ZIP)
    with archive:
        _check_classes(project, _read_json(archive, "classes.json", missing=NO_CLASSES))
        entries = _entries(archive)
        if not entries:
            raise InvalidDataset(NO_IMAGES)
        results = [_import_one(project, archive, entry, user) for entry in entries]
    created = sum(r["image"] is not None for r in results)
    return {"created": created, "failed": len(results) - created, "results": results}


def _read_json(archive: zipfile.ZipFile, name: str, *, missing: str):
    try:
        data = _read(archive, name)
    except KeyError:
        raise InvalidDataset(missing)
    except InvalidUpload as error:
        raise InvalidDataset(str(error))
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidDataset(BAD_JSON.format(name=name))


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes; refuses members larger than an upload may be (zip bombs)."""
    info = archive.getinfo(name)
    limit = settings.SEGLOOP_MAX_UPLOAD_BYTES
    if info.file_size > limit:
        raise InvalidUpload(MEMBER_TOO_LARGE.format(name=name, size_mb=info.file_size / 2**20, limit_mb=limit / 2**20))
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
        raise InvalidUpload(f"{name}: damaged in the zip.")


def _check_classes(project: Project, data) -> None:
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, list) or not all(isinstance(c, dict) for c in classes):
        raise InvalidDataset(CLASS_MISMATCH.format(problems="classes.json lists no classes"))
    ours = {c.index: c.name for c in project.label_classes.all()}
    problems = []
    for given in classes:
        index, name = given.get("index"), given.get("name")
        if ours.get(index) != name:
            where = f"“{ours[index]}”" if index in ours else "no class"
            problems.append(f"index {index} is “{name}” in the zip but {where} here")
    if problems:
        raise InvalidDataset(CLASS_MISMATCH.format(problems="; ".join(problems)))


def _entries(archive: zipfile.ZipFile) -> list[dict]:
    """From manifest.json when present, else images/X.* paired with masks/X.png."""
    names = set(archive.namelist())
    if "manifest.json" in names:
        manifest = _read_json(archive, "manifest.json", missing="")
        if not isinstance(manifest, list) or not all(isinstance(e, dict) and isinstance(e.get("image"), str)
                                                      for e in manifest):
            raise InvalidDataset(BAD_JSON.format(name="manifest.json"))
        return [{"image": e["image"], "mask": e.get("mask") if isinstance(e.get("mask"), str) else None,
                 "name": str(e.get("original_name") or PurePosixPath(e["image"]).name)} for e in manifest]
    entries = []
    for name in sorted(names):
        path = PurePosixPath(name)
        if path.parent == PurePosixPath("images") and path.suffix.lower() in IMAGE_SUFFIXES:
            mask = f"masks/{path.stem}.png"
            entries.append({"image": name, "mask": mask if mask in names else None, "name": path.name})
    return entries


def _import_one(project: Project, archive: zipfile.ZipFile, entry: dict, user) -> dict:
    try:
        data = _member(archive, entry["image"])
        mask = _member(archive, entry["mask"]) if entry["mask"] else None
        image = image_import(project=project, name=entry["name"], data=data, uploaded_by=user, mask_data=mask)
    except InvalidUpload as error:
        return {"name": entry["name"], "image": None, "error": str(error)}
    return {"name": entry["name"], "image": image, "error": None}


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return _read(archive, name)
    except KeyError:
        raise InvalidUpload(MEMBER_MISSING.format(name=name))
