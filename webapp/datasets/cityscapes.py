"""Cityscapes fine annotations.

    label_colors.txt                                       "r g b name", one class a line; line k is id k
    leftImg8bit/<subset>/<city>/<id>_leftImg8bit.<ext>     the images
    gtFine/<subset>/<city>/<id>_gtFine_labelIds.png        8-bit class ids
    gtFine/<subset>/<city>/<id>_gtFine_instanceIds.png     the same ids (no instances), which Datumaro needs
    gtFine/<subset>/<city>/<id>_gtFine_color.png           the classes' colours, for people

The id mapping is label_colors.txt, read as Datumaro reads it: id 0 is the black class (Cityscapes'
"unlabeled"), so a map without a black line gets "background" inserted as id 0. On export the
project's ignore class takes id 0 (black), else a class that is black, else an empty "unlabeled";
the other classes follow by index. Without a label_colors.txt the 34 Cityscapes ids apply.
"""

import zipfile
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import PurePosixPath

import numpy as np

from webapp.datasets.archive import InvalidDataset, member_read, text_member
from webapp.datasets.labels import (
    UNLABELLED,
    ExportedImage,
    ForeignDataset,
    ForeignSample,
    Payload,
    decode_label_png,
    grey_png,
    rgb_png,
)
from webapp.images.validation import InvalidUpload
from webapp.projects.models import LabelClass

LABEL_COLOURS = "label_colors.txt"
IMAGE_DIR, GT_DIR = "leftImg8bit", "gtFine"
LABEL_IDS, INSTANCE_IDS, COLOUR = "_gtFine_labelIds.png", "_gtFine_instanceIds.png", "_gtFine_color.png"
IMAGE_SUFFIX = "_leftImg8bit"
CITY = "segloop"
CITYSCAPES_CLASSES = (
    "unlabeled",
    "ego vehicle",
    "rectification border",
    "out of roi",
    "static",
    "dynamic",
    "ground",
    "road",
    "sidewalk",
    "parking",
    "rail track",
    "building",
    "wall",
    "fence",
    "guard rail",
    "bridge",
    "tunnel",
    "pole",
    "polegroup",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "caravan",
    "trailer",
    "train",
    "motorcycle",
    "bicycle",
)
BLACK = (0, 0, 0)

NO_CITYSCAPES = "The zip holds no Cityscapes annotations (gtFine/**/*_gtFine_labelIds.png)."
BAD_COLOURS = "label_colors.txt line {line}: expected “r g b name”."
NO_IMAGE = "{name}: there is no leftImg8bit image for this mask."
NOT_IDS = "{name}: label ids are a single-channel PNG, not colours."


def parse_label_colours(text: str) -> list[tuple[str, tuple[int, int, int] | None]]:
    entries: list[tuple[str, tuple[int, int, int] | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.strip().split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) == 1:
            entries.append((fields[0], None))
            continue
        try:
            r, g, b = (int(c) for c in fields[:3])
        except ValueError:
            raise InvalidDataset(BAD_COLOURS.format(line=number)) from None
        if len(fields) < 4 or not all(0 <= c <= 255 for c in (r, g, b)):
            raise InvalidDataset(BAD_COLOURS.format(line=number))
        entries.append((" ".join(fields[3:]), (r, g, b)))
    # As Datumaro: the black class is id 0; without one, "background" is.
    black = next((e for e in entries if e[1] == BLACK), None)
    if black is None and any(e[1] for e in entries):
        return [("background", BLACK), *entries]
    if black is not None:
        entries.remove(black)
        entries.insert(0, black)
    return entries


def cityscapes_read(archive: zipfile.ZipFile) -> ForeignDataset:
    names = archive.namelist()
    masks = sorted(n for n in names if n.endswith(LABEL_IDS) and f"{GT_DIR}/" in n)
    if not masks:
        raise InvalidDataset(NO_CITYSCAPES)
    root = masks[0][: masks[0].index(f"{GT_DIR}/")]
    if root + LABEL_COLOURS in names:
        entries = parse_label_colours(text_member(archive, root + LABEL_COLOURS))
    else:
        entries = [(name, None) for name in CITYSCAPES_CLASSES]
    classes = {value: name for value, (name, _) in enumerate(entries)}
    images: dict[str, str] = {}
    for name in names:
        stem = PurePosixPath(name).stem
        if name.startswith(root + IMAGE_DIR + "/") and stem.endswith(IMAGE_SUFFIX):
            relative = str(PurePosixPath(name).relative_to(root + IMAGE_DIR).parent / stem[: -len(IMAGE_SUFFIX)])
            images[relative] = name
    dataset = ForeignDataset(format="cityscapes", classes=classes)
    for mask in masks:
        relative = mask[len(root + GT_DIR) + 1 : -len(LABEL_IDS)]
        image = images.get(relative)
        shown_name = PurePosixPath(relative).name
        if image is None:
            dataset.problems.append({"name": shown_name, "error": NO_IMAGE.format(name=shown_name)})
            continue
        dataset.samples.append(
            ForeignSample(
                name=PurePosixPath(image).name,
                image=image,
                subset=PurePosixPath(relative).parts[0],
                mask=partial(_values, archive=archive, member=mask, classes=classes),
            )
        )
    return dataset


def _values(width: int, height: int, *, archive: zipfile.ZipFile, member: str, classes: dict[int, str]) -> np.ndarray:
    name = PurePosixPath(member).name
    decoded = decode_label_png(name=name, data=member_read(archive, member), width=width, height=height)
    if decoded.ndim == 3:
        raise InvalidUpload(NOT_IDS.format(name=name))
    decoded[~np.isin(decoded, list(classes))] = UNLABELLED
    return decoded


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def id_mapping(classes: list[LabelClass]) -> list[tuple[str, tuple[int, int, int], LabelClass | None]]:
    """Line k of label_colors.txt (id k): name, colour, and the project's class (None: "unlabeled")."""
    first = next((c for c in classes if c.is_ignore), None) or next(
        (c for c in classes if _hex_rgb(c.color) == BLACK), None
    )
    rest = [(c.name, _hex_rgb(c.color), c) for c in classes if c is not first]
    return [(first.name if first else "unlabeled", BLACK, first), *rest]


def cityscapes_members(*, classes: list[LabelClass], rows: Iterable[ExportedImage]) -> Iterator[tuple[str, Payload]]:
    mapping = id_mapping(classes)
    ids = np.zeros(256, dtype=np.uint8)
    colours = np.zeros((256, 3), dtype=np.uint8)
    for k, (_, colour, label_class) in enumerate(mapping):
        colours[k] = colour
        if label_class is not None:
            ids[label_class.index] = k
    yield LABEL_COLOURS, "".join(f"{r} {g} {b} {name}\n" for name, (r, g, b), _ in mapping).encode()
    for row in rows:
        suffix = PurePosixPath(row.file_name).suffix
        folder = f"{row.subset}/{CITY}/{row.stem}"
        yield f"{IMAGE_DIR}/{folder}{IMAGE_SUFFIX}{suffix}", row.image.pixels_file
        values = ids[row.label_map]
        labels = grey_png(values)
        yield f"{GT_DIR}/{folder}{LABEL_IDS}", labels
        yield f"{GT_DIR}/{folder}{INSTANCE_IDS}", labels
        yield f"{GT_DIR}/{folder}{COLOUR}", rgb_png(colours[values])
