"""Import a dataset zip into a project, in two steps: analyse (stores nothing) and import.

Formats: segloop's own export (classes.json, images/, masks/), COCO instances (polygons and RLE),
Pascal VOC segmentation, Cityscapes and CVAT "Segmentation mask 1.1"; detected from the layout
unless named. The zip passes archive.py's caps before any member is read.

1. dataset_analyse: every image and mask is decoded and checked, classes are mapped by name,
   and the report says what would be stored, what is refused and why, and which classes are
   unknown (their pixels go to the ignore class) or missing. Nothing is stored.
2. dataset_import (the user confirmed): the same checks again, then, only if nothing is refused,
   every image is stored in one transaction; if one still fails (a concurrent upload of the
   same file), the rows are rolled back and the files already written are deleted.

Every mask becomes a new human mask version through the images app's services (image_import,
mask_save). segloop's own zip must match the project's classes exactly (its masks hold class
indices) and refuses images already in the project. A peer format's image already in the
project gets its mask as a new version of that image's mask (its history keeps the old one);
one whose mask is the current mask already is left as it is.
"""

import hashlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction

from webapp.datasets.archive import BAD_JSON, InvalidDataset, archive_open, json_member, member_read
from webapp.datasets.cityscapes import cityscapes_read
from webapp.datasets.coco import coco_read
from webapp.datasets.labels import (
    UNKNOWN_CLASSES_NO_IGNORE,
    ClassMapping,
    ForeignDataset,
    class_mapping,
    mask_to_project,
)
from webapp.datasets.voc import cvat_read, voc_read
from webapp.images.models import Image, Mask
from webapp.images.services import image_import, mask_read, mask_save, project_class_indices
from webapp.images.validation import (
    DUPLICATE,
    InvalidUpload,
    check_image_bytes,
    check_mask_classes,
    decode_mask_png,
    encode_mask_png,
)
from webapp.projects.models import Project

FORMAT_SEGLOOP = "segloop"
READERS: dict[str, Callable[[zipfile.ZipFile], ForeignDataset]] = {
    "coco": coco_read,
    "voc": voc_read,
    "cityscapes": cityscapes_read,
    "cvat": cvat_read,
}
FORMATS = (FORMAT_SEGLOOP, *READERS)

NO_CLASSES = "The zip has no classes.json (export a project to see the layout)."
UNKNOWN_FORMAT = (
    "The zip is in no format segloop reads: segloop's export (classes.json), COCO "
    "(annotations/instances_*.json), Pascal VOC or CVAT (SegmentationClass/), or Cityscapes (gtFine/)."
)
CLASS_MISMATCH = "The zip's classes do not match this project's: {problems}."
NO_IMAGES = "The zip holds no images (files under images/)."
NOTHING_IMPORTED = (
    "Nothing was imported: {failed} of {total} images were refused (see results). Fix them and send the zip again."
)
DUPLICATE_IN_ZIP = "{name}: the same image is also in this zip (as {other})."
ALREADY_THERE = "{name}: already in this project (as {existing}) and imported without a mask; skipped."
SAME_MASK = "{name}: already in this project (as {existing}) with this very mask; left as it is."
WOULD_REFUSE = (
    "{failed} of {total} images would be refused (see results); nothing can be imported until they are fixed."
)
READY = "Ready to import {images} images ({masks} with a mask). Nothing is stored until you confirm."
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


@dataclass
class _Entry:
    name: str  # the original file name, as stored
    image: str  # its member
    decode_mask: Callable[[int, int], np.ndarray] | None  # (width, height) -> the project's class indices


@dataclass
class _Plan:
    format: str
    entries: list[_Entry]
    classes: dict = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)
    blocker: str | None = None  # a reason no image can be imported at all
    adds_versions: bool = False  # a peer format: images already here get a new mask version


def dataset_detect(archive: zipfile.ZipFile) -> str:
    names = archive.namelist()
    if "classes.json" in names:
        return FORMAT_SEGLOOP
    if (
        any(
            PurePosixPath(n).parent.name == "annotations"
            and PurePosixPath(n).name.startswith("instances_")
            and n.endswith(".json")
            for n in names
        )
        or "coco.json" in names
    ):
        return "coco"
    if any(n.endswith("_gtFine_labelIds.png") for n in names):
        return "cityscapes"
    if any("SegmentationClass/" in n or "ImageSets/Segmentation/" in n for n in names):
        return "voc"
    raise InvalidDataset(UNKNOWN_FORMAT)


def dataset_analyse(*, project: Project, archive_file: IO[bytes], fmt: str | None = None) -> dict:
    """What an import would do, with every refusal; stores nothing. InvalidDataset if the zip is unusable."""
    with archive_open(archive_file) as archive:
        plan = _plan(project, archive, fmt)
        refused = plan.problems + ([] if plan.blocker else _refusals(project, archive, plan))
    images = len(plan.entries) + len(plan.problems)
    report = {
        "format": plan.format,
        "confirmed": False,
        "images": images,
        "with_mask": sum(e.decode_mask is not None for e in plan.entries),
        "classes": plan.classes,
        "created": 0,
        "failed": len(refused),
        "results": refused,
    }
    report["can_import"] = plan.blocker is None and not refused and bool(plan.entries)
    if plan.blocker:
        report["detail"] = plan.blocker
    elif refused:
        report["detail"] = WOULD_REFUSE.format(failed=len(refused), total=images)
    else:
        report["detail"] = READY.format(images=images, masks=report["with_mask"])
    return report


def dataset_import(*, project: Project, archive_file: IO[bytes], user, fmt: str | None = None) -> dict:
    """{"created", "failed", "results": [{"name", "image", "error"}]}, with "detail" when nothing
    was imported because some images were refused; InvalidDataset if the zip is unusable."""
    with archive_open(archive_file) as archive:
        plan = _plan(project, archive, fmt)
        if plan.blocker:
            raise InvalidDataset(plan.blocker)
        total = len(plan.entries) + len(plan.problems)
        refused = plan.problems + _refusals(project, archive, plan)
        if refused:
            return {
                "format": plan.format,
                "confirmed": True,
                "classes": plan.classes,
                "created": 0,
                "failed": len(refused),
                "results": refused,
                "detail": NOTHING_IMPORTED.format(failed=len(refused), total=total),
            }
        results = _store_all(project, archive, plan, user)
    created = sum(r["image"] is not None and "mask_version" not in r for r in results)
    versions = sum("mask_version" in r for r in results)
    report = {
        "format": plan.format,
        "confirmed": True,
        "classes": plan.classes,
        "created": created,
        "masks_added": versions,
        "failed": sum(r["image"] is None and r["error"] is not None and not r.get("skipped") for r in results),
        "results": results,
    }
    if not created and not versions:
        report["detail"] = NOTHING_IMPORTED.format(failed=report["failed"], total=total)
    return report


# ------------------------------------------------------------------ what the zip holds


def _plan(project: Project, archive: zipfile.ZipFile, fmt: str | None) -> _Plan:
    fmt = fmt or dataset_detect(archive)
    if fmt == FORMAT_SEGLOOP:
        return _segloop_plan(project, archive)
    dataset = READERS[fmt](archive)
    mapping = class_mapping(project=project, classes=dataset.classes)
    plan = _Plan(format=fmt, entries=[], classes=mapping.report(), problems=dataset.problems, adds_versions=True)
    if mapping.unknown and mapping.ignore_index is None:
        plan.blocker = UNKNOWN_CLASSES_NO_IGNORE.format(names=", ".join(f"“{n}”" for n in mapping.unknown))
    for sample in dataset.samples:
        decode = None
        if sample.mask is not None:
            decode = _project_mask(sample.mask, name=sample.name, mapping=mapping, classes=dataset.classes)
        plan.entries.append(_Entry(name=sample.name, image=sample.image, decode_mask=decode))
    if not plan.entries and not plan.problems:
        plan.blocker = NO_IMAGES
    return plan


def _project_mask(
    values: Callable[[int, int], np.ndarray], *, name: str, mapping: ClassMapping, classes: dict[int, str]
) -> Callable[[int, int], np.ndarray]:
    def decode(width: int, height: int) -> np.ndarray:
        return mask_to_project(name=name, values=values(width, height), mapping=mapping, classes=classes)

    return decode


def _segloop_plan(project: Project, archive: zipfile.ZipFile) -> _Plan:
    if "classes.json" not in archive.namelist():
        raise InvalidDataset(NO_CLASSES)
    _check_classes(project, json_member(archive, "classes.json"))
    valid = project_class_indices(project)
    entries = []
    for image, mask, name in _segloop_entries(archive):
        decode = None
        if mask:

            def decode(width: int, height: int, mask: str = mask) -> np.ndarray:
                return decode_mask_png(data=member_read(archive, mask), width=width, height=height, valid_indices=valid)

        entries.append(_Entry(name=name, image=image, decode_mask=decode))
    if not entries:
        raise InvalidDataset(NO_IMAGES)
    ours = [c.name for c in project.label_classes.all()]
    return _Plan(
        format=FORMAT_SEGLOOP,
        entries=entries,
        classes={"matched": ours, "unknown": [], "missing": [], "unknown_to": None},
    )


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


def _segloop_entries(archive: zipfile.ZipFile) -> list[tuple[str, str | None, str]]:
    """(image, mask, name) from manifest.json when present, else images/X.* paired with masks/X.png."""
    names = set(archive.namelist())
    if "manifest.json" in names:
        manifest = json_member(archive, "manifest.json")
        if not isinstance(manifest, list) or not all(
            isinstance(e, dict) and isinstance(e.get("image"), str) for e in manifest
        ):
            raise InvalidDataset(BAD_JSON.format(name="manifest.json"))
        return [
            (
                e["image"],
                e.get("mask") if isinstance(e.get("mask"), str) else None,
                _file_name(e.get("original_name"), e["image"]),
            )
            for e in manifest
        ]
    entries = []
    for name in sorted(names):
        path = PurePosixPath(name)
        if path.parent == PurePosixPath("images") and path.suffix.lower() in IMAGE_SUFFIXES:
            mask = f"masks/{path.stem}.png"
            entries.append((name, mask if mask in names else None, path.name))
    return entries


def _file_name(given, member: str) -> str:
    """The name to keep: its last part only, as Django keeps an uploaded file's name."""
    name = PurePosixPath(str(given or "").replace("\\", "/")).name
    return name or PurePosixPath(member).name


# ------------------------------------------------------------------ checking and storing


def _refusals(project: Project, archive: zipfile.ZipFile, plan: _Plan) -> list[dict]:
    """Every image and mask decoded and checked, nothing stored: the results of those refused."""
    first_with: dict[str, str] = {}  # checksum -> the name it first came under in this zip
    refused = []
    for entry in plan.entries:
        try:
            data = member_read(archive, entry.image)
            checked = check_image_bytes(name=entry.name, data=data)
            checksum = hashlib.sha256(data).hexdigest()
            if checksum in first_with:
                raise InvalidUpload(DUPLICATE_IN_ZIP.format(name=entry.name, other=first_with[checksum]))
            first_with[checksum] = entry.name
            existing = Image.objects.filter(project=project, checksum=checksum).only("original_name").first()
            if existing and not plan.adds_versions:
                raise InvalidUpload(DUPLICATE.format(name=entry.name, existing=existing.original_name))
            if entry.decode_mask:
                entry.decode_mask(checked.width, checked.height)
        except InvalidUpload as error:
            refused.append({"name": entry.name, "image": None, "error": str(error)})
    return refused


def _store_all(project: Project, archive: zipfile.ZipFile, plan: _Plan, user) -> list[dict]:
    """Store every entry in one transaction; on any refusal roll back the rows and delete the files."""
    written: list[str] = []
    results = []
    entry = None
    try:
        with transaction.atomic():
            for entry in plan.entries:
                results.append(_store_one(project, archive, entry, user, written))
    except InvalidUpload as error:
        _delete(written)
        return [{"name": entry.name if entry else "", "image": None, "error": str(error)}]
    except BaseException:
        _delete(written)
        raise
    return results


def _store_one(project: Project, archive: zipfile.ZipFile, entry: _Entry, user, written: list[str]) -> dict:
    data = member_read(archive, entry.image)
    existing = Image.objects.filter(project=project, checksum=hashlib.sha256(data).hexdigest()).first()
    if existing is None:
        mask = None
        if entry.decode_mask:
            checked = check_image_bytes(name=entry.name, data=data)
            mask = encode_mask_png(entry.decode_mask(checked.width, checked.height))
        image = image_import(project=project, name=entry.name, data=data, uploaded_by=user, mask_data=mask)
        written += [name for name in (image.file.name, image.thumbnail.name) if name]
        written += list(Mask.objects.filter(image=image).values_list("file", flat=True))
        return {"name": entry.name, "image": image, "error": None}
    # A peer format's image that is already here (segloop's own zip was refused in _refusals).
    if entry.decode_mask is None:
        return {
            "name": entry.name,
            "image": None,
            "skipped": True,
            "error": ALREADY_THERE.format(name=entry.name, existing=existing.original_name),
        }
    array = entry.decode_mask(existing.width, existing.height)
    check_mask_classes(array=array, valid_indices=project_class_indices(project))
    if existing.current_mask is not None and np.array_equal(mask_read(existing.current_mask), array):
        return {
            "name": entry.name,
            "image": None,
            "skipped": True,
            "error": SAME_MASK.format(name=entry.name, existing=existing.original_name),
        }
    saved = mask_save(image=existing, array=array, author=user, base_version=existing.mask_version)
    written.append(saved.file.name or "")
    return {"name": entry.name, "image": existing, "error": None, "mask_version": saved.version}


def _delete(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)
