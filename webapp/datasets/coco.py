"""COCO run-length encoding of binary masks, as pycocotools writes it.

COCO counts runs over the mask in column-major (Fortran) order, starting with a run of
zeros (possibly empty). The compressed string form stores each count, after the first two as
the difference to the count two places back, in 5-bit groups (LEB128-like), each group as
one ASCII character from 48 ('0') to 111 ('o'), 0x20 meaning "more groups follow".

The reader takes COCO instances files (polygons and RLE, as pycocotools and Datumaro write them);
the writer lays a dataset out as Datumaro's "coco" format expects it.
"""

import json
import math
import re
import zipfile
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import PurePosixPath

import numpy as np
from pycocotools import mask as coco_mask

from webapp.datasets.archive import InvalidDataset, json_member
from webapp.datasets.labels import UNLABELLED, ExportedImage, ForeignDataset, ForeignSample, Payload
from webapp.images.validation import InvalidUpload
from webapp.projects.models import LabelClass


def rle_counts(binary: np.ndarray) -> list[int]:
    """Run lengths of an HxW boolean mask in column-major order, starting with zeros."""
    flat = np.asarray(binary, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def counts_to_string(counts: list[int]) -> str:
    chars = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences end in all ones
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def string_to_counts(text: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_encode(binary: np.ndarray) -> dict:
    """{"size": [h, w], "counts": compressed string}, the form COCO files hold."""
    height, width = binary.shape
    return {"size": [int(height), int(width)], "counts": counts_to_string(rle_counts(binary))}


def rle_decode(rle: dict) -> np.ndarray:
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = string_to_counts(counts)
    # One vectorised repeat: a hostile file's millions of one-pixel runs cost no Python loop.
    runs = np.asarray(counts, dtype=np.int64)
    values = np.repeat(np.arange(runs.size) % 2 == 1, runs)
    return values.reshape((height, width), order="F")


def bbox(binary: np.ndarray) -> list[int]:
    """[x, y, width, height] of the mask's pixels."""
    rows, cols = np.flatnonzero(binary.any(axis=1)), np.flatnonzero(binary.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def coco_annotations(
    *, label_map: np.ndarray, image_id: int, category_ids: dict[int, int], first_id: int
) -> list[dict]:
    """One annotation per class present in the label map (classes not in category_ids are skipped)."""
    annotations: list[dict] = []
    for index in np.unique(label_map).tolist():
        if index not in category_ids:
            continue
        binary = label_map == index
        annotations.append(
            {
                "id": first_id + len(annotations),
                "image_id": image_id,
                "category_id": category_ids[index],
                "segmentation": rle_encode(binary),
                "area": int(binary.sum()),
                "bbox": bbox(binary),
                "iscrowd": 0,
            }
        )
    return annotations


# ------------------------------------------------------------------ reading a COCO dataset

# Annotations one image may have: each is decoded to a full-size mask. Semantic masks need one a
# class; instance datasets a few hundred at most.
MAX_ANNOTATIONS = 2_000
COCO_NO_JSON = "The zip holds no COCO annotations (annotations/instances_*.json or coco.json)."
COCO_BAD = "{name} is not a COCO instances file: {problem}."
COCO_NO_IMAGE = "{name}: listed in {json} but not in the zip."
COCO_SIZE = "{name}: {json} says {cw}x{ch} pixels but the image is {iw}x{ih}."
COCO_BAD_SEGMENTATION = (
    "{name}: annotation {id} has a segmentation that is neither polygons nor RLE of the image's size."
)
COCO_TOO_MANY = "{name}: {count:,} annotations; the limit is {limit:,} an image."
COCO_UNKNOWN_CATEGORY = "{name}: annotation {id} names category {category}, which {json} does not define."


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def segmentation_binary(segmentation, *, height: int, width: int) -> np.ndarray | None:
    """An HxW mask from polygons (rasterised by pycocotools, as COCO tools do) or RLE (compressed
    or not, decoded here so that hostile counts never reach C code); None if it is neither."""
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list)]
        if len(polygons) != len(segmentation) or not polygons:
            return None
        if any(len(p) < 6 or len(p) % 2 or not all(_is_number(v) for v in p) for p in polygons):
            return None
        rles = coco_mask.frPyObjects([[float(v) for v in p] for p in polygons], height, width)
        return coco_mask.decode(coco_mask.merge(rles)).astype(bool)
    if not isinstance(segmentation, dict) or segmentation.get("size") != [height, width]:
        return None
    counts = segmentation.get("counts")
    if isinstance(counts, str):
        try:
            counts = string_to_counts(counts)
        except IndexError:
            return None
    if not isinstance(counts, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
    ):
        return None
    if sum(counts) != height * width:
        return None
    return rle_decode({"size": [height, width], "counts": counts})


def _coco_files(names: list[str]) -> list[str]:
    instances = sorted(n for n in names if re.fullmatch(r"(?:.*/)?annotations/instances_[^/]*\.json", n))
    if instances:
        return instances
    return [n for n in ("coco.json", "annotations.json") if n in names]


def _image_member(file_name: str, subset: str, names: set[str], by_base: dict[str, list[str]]) -> str | None:
    for candidate in (file_name, f"images/{subset}/{file_name}", f"images/{file_name}"):
        if candidate in names:
            return candidate
    found = by_base.get(PurePosixPath(file_name).name, [])
    return found[0] if len(found) == 1 else None


def _coco_lists(document, json_name: str) -> tuple[list[dict], list[dict], list[dict]]:
    lists = [document.get(k) if isinstance(document, dict) else None for k in ("images", "annotations", "categories")]
    checked: list[list[dict]] = []
    for value in lists:
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            problem = "it needs lists of images, annotations and categories"
            raise InvalidDataset(COCO_BAD.format(name=json_name, problem=problem))
        checked.append(value)
    return checked[0], checked[1], checked[2]


def coco_read(archive: zipfile.ZipFile) -> ForeignDataset:
    names = archive.namelist()
    files = _coco_files(names)
    if not files:
        raise InvalidDataset(COCO_NO_JSON)
    name_set = set(names)
    by_base: dict[str, list[str]] = {}
    for n in names:
        by_base.setdefault(PurePosixPath(n).name, []).append(n)
    dataset = ForeignDataset(format="coco", classes={})
    for json_name in files:
        document = json_member(archive, json_name)
        images, annotations, categories = _coco_lists(document, json_name)
        classes = {}
        for category in categories:
            if not isinstance(category.get("id"), int) or not isinstance(category.get("name"), str):
                raise InvalidDataset(COCO_BAD.format(name=json_name, problem="each category needs an id and a name"))
            classes[category["id"]] = category["name"]
        for value, name in classes.items():
            if dataset.classes.get(value, name) != name:
                problem = f"category {value} has another name in another file"
                raise InvalidDataset(COCO_BAD.format(name=json_name, problem=problem))
        dataset.classes.update(classes)
        by_image: dict[object, list[dict]] = {}
        for annotation in annotations:
            by_image.setdefault(annotation.get("image_id"), []).append(annotation)
        subset = PurePosixPath(json_name).stem.removeprefix("instances_")
        for entry in images:
            file_name = entry.get("file_name")
            if not isinstance(file_name, str) or not isinstance(entry.get("id"), int):
                raise InvalidDataset(COCO_BAD.format(name=json_name, problem="each image needs an id and a file_name"))
            shown_name = PurePosixPath(file_name).name or "image"
            member = _image_member(file_name, subset, name_set, by_base)
            if member is None:
                error = COCO_NO_IMAGE.format(name=shown_name, json=json_name)
                dataset.problems.append({"name": shown_name, "error": error})
                continue
            anns = by_image.get(entry["id"], [])
            dataset.samples.append(
                ForeignSample(
                    name=shown_name,
                    image=member,
                    subset=subset,
                    mask=partial(
                        _coco_values,
                        name=shown_name,
                        entry=entry,
                        annotations=anns,
                        classes=classes,
                        json_name=json_name,
                    )
                    if anns
                    else None,
                )
            )
    return dataset


def _coco_values(
    width: int, height: int, *, name: str, entry: dict, annotations: list[dict], classes: dict[int, str], json_name: str
) -> np.ndarray:
    """The image's annotations painted in order (later ones on top); uncovered pixels unlabelled."""
    if (entry.get("width"), entry.get("height")) != (width, height):
        raise InvalidUpload(
            COCO_SIZE.format(
                name=name, json=json_name, cw=entry.get("width"), ch=entry.get("height"), iw=width, ih=height
            )
        )
    if len(annotations) > MAX_ANNOTATIONS:  # each one paints a whole-image mask
        raise InvalidUpload(COCO_TOO_MANY.format(name=name, count=len(annotations), limit=MAX_ANNOTATIONS))
    values = np.full((height, width), UNLABELLED, dtype=np.int32)
    for annotation in annotations:
        category = annotation.get("category_id")
        if category not in classes:
            raise InvalidUpload(
                COCO_UNKNOWN_CATEGORY.format(name=name, id=annotation.get("id"), category=category, json=json_name)
            )
        binary = segmentation_binary(annotation.get("segmentation"), height=height, width=width)
        if binary is None:
            raise InvalidUpload(COCO_BAD_SEGMENTATION.format(name=name, id=annotation.get("id")))
        values[binary] = category
    return values


# ------------------------------------------------------------------ writing one


def coco_members(*, classes: list[LabelClass], rows: Iterable[ExportedImage]) -> Iterator[tuple[str, Payload]]:
    """images/default/<file> and annotations/instances_default.json, as pycocotools and Datumaro read them."""
    category_ids = {c.index: c.index + 1 for c in classes if not c.is_ignore}
    images: list[dict] = []
    annotations: list[dict] = []
    for row in rows:
        file_name = row.file_name
        yield f"images/default/{file_name}", row.image.pixels_file
        images.append(
            {"id": row.image.pk, "file_name": file_name, "width": row.image.width, "height": row.image.height}
        )
        annotations += coco_annotations(
            label_map=row.label_map, image_id=row.image.pk, category_ids=category_ids, first_id=len(annotations) + 1
        )
    document = {
        "info": {"description": "segloop export"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": category_ids[c.index], "name": c.name, "supercategory": ""} for c in classes if not c.is_ignore
        ],
    }
    yield "annotations/instances_default.json", json.dumps(document).encode()
