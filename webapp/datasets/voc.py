"""Pascal VOC segmentation, and CVAT's "Segmentation mask 1.1" (the same layout, colour masks).

    labelmap.txt                    name:r,g,b:parts:actions, one class a line; line k is class k
    JPEGImages/<id>.<ext>           the images
    SegmentationClass/<id>.png      VOC: paletted PNGs whose pixel values are the class numbers
                                    CVAT: RGB PNGs in the label map's colours
    ImageSets/Segmentation/<subset>.txt   the ids, one a line

Without a labelmap.txt the 21 VOC classes apply. On reading, values past the label map (VOC's 255
border) and colours it does not name are unlabelled; paletted, grey and RGB masks are all read, so
either flavour imports whichever tool wrote it.
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
    colours_to_values,
    decode_label_png,
    palette_png,
    rgb_png,
)
from webapp.projects.models import LabelClass

LABELMAP = "labelmap.txt"
IMAGES_DIR = "JPEGImages"
MASKS_DIR = "SegmentationClass"
SETS_DIR = "ImageSets/Segmentation"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
VOC_VOID_COLOUR = (224, 224, 192)  # the border colour of VOC's own palette, index 255

BAD_LABELMAP = "labelmap.txt line {line}: {problem} (expected name:r,g,b:parts:actions)."
NO_VOC = "The zip holds no Pascal VOC segmentation (SegmentationClass/ or ImageSets/Segmentation/)."
VOC_NO_IMAGE = "{name}: listed in ImageSets/Segmentation but there is no JPEGImages/{name}.* image."


def voc_palette(count: int = 256) -> list[tuple[int, int, int]]:
    """VOC's own colour map: the bits of the class number spread over the three channels."""
    colours = []
    for index in range(count):
        r = g = b = 0
        value = index
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours.append((r, g, b))
    return colours


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def parse_labelmap(text: str) -> list[tuple[str, tuple[int, int, int] | None]]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 4 or not fields[0]:
            raise InvalidDataset(BAD_LABELMAP.format(line=number, problem="four ':'-separated fields are needed"))
        colour: tuple[int, int, int] | None = None
        if fields[1].strip():
            try:
                channels = [int(c) for c in fields[1].split(",")]
            except ValueError:
                channels = []
            if len(channels) != 3 or not all(0 <= c <= 255 for c in channels):
                raise InvalidDataset(BAD_LABELMAP.format(line=number, problem="the colour must be r,g,b from 0 to 255"))
            colour = (channels[0], channels[1], channels[2])
        entries.append((fields[0], colour))
    return entries


# ------------------------------------------------------------------ reading


def voc_read(archive: zipfile.ZipFile, *, format_name: str = "voc") -> ForeignDataset:
    names = archive.namelist()
    root = _root(names)
    if root is None:
        raise InvalidDataset(NO_VOC)
    labelmap_name = root + LABELMAP
    if labelmap_name in names:
        entries = parse_labelmap(text_member(archive, labelmap_name))
    else:
        entries = list(zip(VOC_CLASSES, voc_palette(len(VOC_CLASSES)), strict=True))
    classes = {value: name for value, (name, _) in enumerate(entries)}
    colours = {colour: value for value, (_, colour) in enumerate(entries) if colour}
    colours.setdefault(VOC_VOID_COLOUR, UNLABELLED)
    images: dict[str, str] = {}
    for name in names:
        path = PurePosixPath(name)
        if name.startswith(root + IMAGES_DIR + "/") and path.suffix.lower() in IMAGE_SUFFIXES:
            images.setdefault(str(path.relative_to(root + IMAGES_DIR).with_suffix("")), name)
    ids = _ids(archive, names, root)
    dataset = ForeignDataset(format=format_name, classes=classes)
    for subset, item in ids:
        image = images.get(item)
        shown_name = PurePosixPath(item).name
        if image is None:
            dataset.problems.append({"name": shown_name, "error": VOC_NO_IMAGE.format(name=item)})
            continue
        mask = f"{root}{MASKS_DIR}/{item}.png"
        dataset.samples.append(
            ForeignSample(
                name=PurePosixPath(image).name,
                image=image,
                subset=subset,
                mask=partial(_voc_values, archive=archive, member=mask, classes=classes, colours=colours)
                if mask in names
                else None,
            )
        )
    return dataset


def _root(names: list[str]) -> str | None:
    """'' or the one folder the dataset sits in (a zip of the folder rather than of its content)."""
    for name in sorted(names, key=len):
        for marker in (MASKS_DIR + "/", SETS_DIR + "/"):
            at = name.find(marker)
            if at == 0 or (at > 0 and name[at - 1] == "/" and name[:at].count("/") == 1):
                return name[:at]
    return None


def _ids(archive: zipfile.ZipFile, names: list[str], root: str) -> list[tuple[str, str]]:
    """(subset, id) from ImageSets/Segmentation/*.txt, else every SegmentationClass/*.png."""
    lists = sorted(n for n in names if n.startswith(root + SETS_DIR + "/") and n.endswith(".txt"))
    seen, ids = set(), []
    for listing in lists:
        subset = PurePosixPath(listing).stem
        for line in text_member(archive, listing).splitlines():
            item = line.strip().split(" ")[0]
            if item and item not in seen:
                seen.add(item)
                ids.append((subset, item))
    if not lists:
        prefix = root + MASKS_DIR + "/"
        ids = [("default", n[len(prefix) : -4]) for n in sorted(names) if n.startswith(prefix) and n.endswith(".png")]
    return ids


def _voc_values(
    width: int, height: int, *, archive: zipfile.ZipFile, member: str, classes: dict[int, str], colours: dict
) -> np.ndarray:
    name = PurePosixPath(member).name
    decoded = decode_label_png(name=name, data=member_read(archive, member), width=width, height=height)
    if decoded.ndim == 3:
        return colours_to_values(name=name, rgb=decoded, colours=colours)
    decoded[~np.isin(decoded, list(classes))] = UNLABELLED  # 255: VOC's border, and anything unnamed
    return decoded


# ------------------------------------------------------------------ writing


def _labelmap(classes: list[LabelClass]) -> bytes:
    lines = ["# label:color_rgb:parts:actions"]
    lines += [f"{c.name}:{','.join(map(str, _hex_rgb(c.color)))}::" for c in classes]
    return ("\n".join(lines) + "\n").encode()


def voc_members(
    *,
    classes: list[LabelClass],
    rows: Iterable[ExportedImage],
    colour_masks: bool = False,
) -> Iterator[tuple[str, Payload]]:
    """VOC: class k of the label map (the project's classes by index) is pixel value k.
    With colour_masks (CVAT's flavour), RGB masks in the classes' colours and one "default" list."""
    position = np.zeros(256, dtype=np.uint8)
    for k, c in enumerate(classes):
        position[c.index] = k
    palette = [_hex_rgb(c.color) for c in classes]
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    sets: dict[str, list[str]] = {}
    yield LABELMAP, _labelmap(classes)
    for row in rows:
        yield f"{IMAGES_DIR}/{row.file_name}", row.image.pixels_file
        values = position[row.label_map]
        mask = rgb_png(lut[values]) if colour_masks else palette_png(values, palette)
        yield f"{MASKS_DIR}/{row.stem}.png", mask
        sets.setdefault("default" if colour_masks else row.subset, []).append(row.stem)
    for subset, stems in sorted(sets.items()):
        yield f"{SETS_DIR}/{subset}.txt", ("\n".join(stems) + "\n").encode()


def cvat_read(archive: zipfile.ZipFile) -> ForeignDataset:
    return voc_read(archive, format_name="cvat")


def cvat_members(*, classes: list[LabelClass], rows: Iterable[ExportedImage]) -> Iterator[tuple[str, Payload]]:
    return voc_members(classes=classes, rows=rows, colour_masks=True)
