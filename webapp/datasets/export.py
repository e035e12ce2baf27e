"""A project's dataset as a zip, streamed as it is written (no whole archive in memory or on disk).

Layout:
    classes.json           the classes (index, name, color, is_ignore) and what was exported
    manifest.json          one entry per image: its files, original name, size, mask version
    images/<id>_<name>     the original files
    masks/<id>_<stem>.png  single-channel PNGs of class indices (the stored mask, byte for byte)
    masks_color/...png     the same masks in the class colours (RGB), for people
    predictions/...png     with include_predictions: the served model's bulk predictions
    coco.json              COCO: images, categories (id = class index + 1, ignore class left
                           out) and one RLE annotation per class present in each mask

The other formats (coco, voc, cityscapes, cvat) are laid out as their own tools expect them (see
each module); every one holds the exported masks only, and is streamed the same way.
"""

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import PurePath
from typing import IO, Any, cast

import numpy as np
from PIL import Image as PILImage

from webapp.datasets.cityscapes import cityscapes_members
from webapp.datasets.coco import coco_annotations, coco_members
from webapp.datasets.labels import ExportedImage, Payload
from webapp.datasets.voc import cvat_members, voc_members
from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.services import mask_read
from webapp.projects.models import Project
from webapp.serving.models import Prediction

MASKS_HUMAN = "human"
MASKS_HUMAN_PSEUDO = "human+pseudo"
MASK_CHOICES = (MASKS_HUMAN, MASKS_HUMAN_PSEUDO)
FORMAT_SEGLOOP = "segloop"
FORMAT_WRITERS = {"coco": coco_members, "voc": voc_members, "cityscapes": cityscapes_members, "cvat": cvat_members}
FORMAT_CHOICES = (FORMAT_SEGLOOP, *FORMAT_WRITERS)
CHUNK = 1024 * 1024


def mask_is_exported(image: Image, masks: str) -> bool:
    """Human masks always; with human+pseudo also accepted pseudo-labels: those the model was
    confident about (status pseudo), the same ones training uses. Pseudo-labels still in review
    are never exported; a reviewer's accept turns one into a human mask."""
    mask = image.current_mask
    if mask is None:
        return False
    if mask.source == MaskSource.HUMAN:
        return True
    return (
        masks == MASKS_HUMAN_PSEUDO
        and mask.source == MaskSource.PSEUDO
        and image.status in (ImageStatus.PSEUDO_LABELED, ImageStatus.LABELED)
    )


def exported_mask(image: Image, masks: str) -> Mask | None:
    """The image's current mask when mask_is_exported says it is exported, else None."""
    return image.current_mask if mask_is_exported(image, masks) else None


def safe_name(name: str) -> str:
    """A file name that is safe inside a zip: no folders, only plain characters."""
    base = PurePath(name.replace("\\", "/")).name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "image"


def colour_png(label_map: np.ndarray, palette: dict[int, tuple[int, int, int]]) -> bytes:
    lut = np.zeros((256, 3), dtype=np.uint8)
    for index, rgb in palette.items():
        lut[index] = rgb
    buffer = io.BytesIO()
    PILImage.fromarray(lut[label_map], mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


class _Sink:
    """A write-only, non-seekable file for ZipFile that hands back what was written so far
    (ZipFile needs only write, tell and flush: hence the cast to IO[bytes] where it is opened)."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self):
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def dataset_zip_stream(
    *, project: Project, masks: str = MASKS_HUMAN, include_unlabeled: bool = False, include_predictions: bool = False
) -> Iterator[bytes]:
    """Yield the zip in pieces while it is written; memory stays at about one image.

    With ``include_predictions`` each exported image's bulk prediction (webapp.serving), if
    it has one, is added as predictions/<stem>.png (class indices), named in its manifest entry
    with the model version and precision that made it."""
    classes = list(project.label_classes.all())
    palette = {c.index: hex_to_rgb(c.color) for c in classes}
    category_ids = {c.index: c.index + 1 for c in classes if not c.is_ignore}
    images = project.images.select_related("current_mask").order_by("id")
    if include_predictions:
        images = images.select_related("prediction__model_version")
    if not include_unlabeled:
        images = images.exclude(current_mask=None)
    sink = _Sink()
    manifest: list[dict] = []
    coco_images: list[dict] = []
    annotations: list[dict] = []
    with zipfile.ZipFile(cast(IO[bytes], sink), "w", compression=zipfile.ZIP_STORED) as archive:
        for image in images.iterator(chunk_size=200):
            mask = exported_mask(image, masks)
            if mask is None and not include_unlabeled:
                continue
            stem = f"{image.pk:06d}_{safe_name(image.pixels_name)}"
            entry: dict[str, Any] = {
                "image": f"images/{stem}",
                "original_name": image.original_name,
                "width": image.width,
                "height": image.height,
                "status": image.status,
                "is_validation": image.is_validation,
                "mask": None,
                "mask_color": None,
                "mask_version": None,
                "mask_source": None,
            }
            with image.pixels_file.open("rb") as source, archive.open(entry["image"], "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield sink.take()
            if mask is not None:
                mask_stem = PurePath(stem).stem
                entry.update(
                    mask=f"masks/{mask_stem}.png",
                    mask_color=f"masks_color/{mask_stem}.png",
                    mask_version=mask.version,
                    mask_source=mask.source,
                )
                with mask.file.open("rb") as handle:
                    archive.writestr(entry["mask"], handle.read())
                label_map = mask_read(mask)
                archive.writestr(entry["mask_color"], colour_png(label_map, palette))
                annotations += coco_annotations(
                    label_map=label_map, image_id=image.pk, category_ids=category_ids, first_id=len(annotations) + 1
                )
            if include_predictions:
                entry.update(_prediction_member(archive, image, PurePath(stem).stem))
            coco_images.append(
                {"id": image.pk, "file_name": entry["image"], "width": image.width, "height": image.height}
            )
            manifest.append(entry)
            yield sink.take()
        classes_json = {
            "project": project.name,
            "masks": masks,
            "classes": [
                {
                    "index": c.index,
                    "name": c.name,
                    "color": c.color,
                    "is_ignore": c.is_ignore,
                    "coco_category_id": category_ids.get(c.index),
                }
                for c in classes
            ],
            "ignore_index": project.ignore_index,
        }
        if include_predictions:
            classes_json["predictions"] = True
        coco = coco_document(project=project, masks=masks, images=coco_images, annotations=annotations)
        for name, payload in (("classes.json", classes_json), ("manifest.json", manifest), ("coco.json", coco)):
            archive.writestr(zipfile.ZipInfo(name), json.dumps(payload, indent=1), compress_type=zipfile.ZIP_DEFLATED)
    yield sink.take()


def _prediction_member(archive: zipfile.ZipFile, image: Image, stem: str) -> dict[str, Any]:
    """Write the image's prediction into the zip, if it has one; its manifest fields."""
    prediction: Prediction | None = getattr(image, "prediction", None)
    if prediction is None:
        return {"prediction": None, "prediction_model_version": None, "prediction_precision": None}
    name = f"predictions/{stem}.png"
    with prediction.file.open("rb") as handle:
        archive.writestr(name, handle.read())
    version = prediction.model_version.number if prediction.model_version else None
    return {"prediction": name, "prediction_model_version": version, "prediction_precision": prediction.precision}


def coco_json(*, project: Project, masks: str = MASKS_HUMAN) -> dict:
    """The COCO document alone (no files), for tools that fetch images through the API."""
    classes = list(project.label_classes.all())
    category_ids = {c.index: c.index + 1 for c in classes if not c.is_ignore}
    coco_images: list[dict] = []
    annotations: list[dict] = []
    labelled = project.images.select_related("current_mask").exclude(current_mask=None).order_by("id")
    for image in labelled.iterator(chunk_size=200):
        mask = exported_mask(image, masks)
        if mask is None:
            continue
        coco_images.append(
            {"id": image.pk, "file_name": image.original_name, "width": image.width, "height": image.height}
        )
        annotations += coco_annotations(
            label_map=mask_read(mask), image_id=image.pk, category_ids=category_ids, first_id=len(annotations) + 1
        )
    return coco_document(project=project, masks=masks, images=coco_images, annotations=annotations)


def coco_document(*, project: Project, masks: str, images: list, annotations: list) -> dict:
    return {
        "info": {"description": f"segloop export of {project.name}", "masks": masks},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": c.index + 1, "name": c.name, "supercategory": ""}
            for c in project.label_classes.all()
            if not c.is_ignore
        ],
    }


def exported_images(*, project: Project, masks: str) -> Iterator[ExportedImage]:
    """The images whose mask is exported, with their label maps, one at a time."""
    images = project.images.select_related("current_mask").exclude(current_mask=None).order_by("id")
    for image in images.iterator(chunk_size=200):
        mask = exported_mask(image, masks)
        if mask is None:
            continue
        name = safe_name(image.pixels_name)  # the pixels the masks were painted on
        stem = f"{image.pk:06d}_{PurePath(name).stem}"
        yield ExportedImage(
            image=image,
            label_map=mask_read(mask),
            stem=stem,
            file_name=stem + PurePath(name).suffix.lower(),
            subset="val" if image.is_validation else "train",
        )


def format_zip_stream(*, project: Project, fmt: str, masks: str = MASKS_HUMAN) -> Iterator[bytes]:
    """The dataset in a peer tool's layout (FORMAT_WRITERS), streamed as it is written."""
    classes = list(project.label_classes.order_by("index"))
    members = FORMAT_WRITERS[fmt](classes=classes, rows=exported_images(project=project, masks=masks))
    return members_zip_stream(members)


def members_zip_stream(members: Iterator[tuple[str, Payload]]) -> Iterator[bytes]:
    """A zip of (name, content) pairs; stored files are copied in chunks, never whole."""
    sink = _Sink()
    with zipfile.ZipFile(cast(IO[bytes], sink), "w", compression=zipfile.ZIP_STORED) as archive:
        for name, payload in members:
            if isinstance(payload, bytes):
                archive.writestr(zipfile.ZipInfo(name), payload, compress_type=zipfile.ZIP_DEFLATED)
            else:
                with payload.open("rb") as source, archive.open(name, "w", force_zip64=True) as target:
                    while chunk := source.read(CHUNK):
                        target.write(chunk)
                        yield sink.take()
            yield sink.take()
    yield sink.take()
