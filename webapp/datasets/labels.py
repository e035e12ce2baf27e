"""What every dataset format hands the importer, and the mapping of its classes onto a project's.

A reader turns an archive into a ForeignDataset: its classes (the value a mask holds for each,
and its name), and one sample per image with a function that decodes that image's mask into
those values. Values that no class names (VOC's 255 border, a colour missing from the label map,
pixels no COCO annotation covers) decode to UNLABELLED.

Classes map onto the project's by name (exact, else ignoring case). Pixels of a class the project
does not have, and unlabelled pixels, go to the project's ignore class; a project without one
cannot take them, and the report says so.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db.models.fields.files import FieldFile
from PIL import Image as PILImage

from webapp.images.models import Image
from webapp.images.validation import InvalidUpload, mask_refusals, untrusted_image
from webapp.projects.models import Project

UNLABELLED = -1

MASK_NOT_PNG = "{name}: the mask must be a PNG."
MASK_WRONG_SIZE = "{name}: the mask is {mw}x{mh} pixels but its image is {iw}x{ih}."
MASK_MODE = "{name}: the mask is {mode}; this format stores {expected}."
UNKNOWN_COLOURS = "{name}: the mask holds colours that its label map does not name: {colours}."
NO_PLACE_FOR = "{name}: the mask holds pixels of {what}, and this project has no ignore class to put them in."
UNKNOWN_CLASSES_NO_IGNORE = (
    "The dataset's classes {names} are not in this project, and the project has no ignore class "
    "to put their pixels in. Add them to the project (or an ignore class) first."
)


Payload = bytes | FieldFile  # a zip member's content: bytes, or a stored file copied in chunks


@dataclass(frozen=True)
class ExportedImage:
    """One image as an export writes it: its stored row, its mask's class indices, unique names."""

    image: Image
    label_map: np.ndarray
    stem: str  # unique in the export: "<id>_<safe original stem>"
    file_name: str  # stem + the original's suffix
    subset: str  # "train" or "val" (the image's validation flag)


@dataclass(frozen=True)
class ForeignSample:
    name: str  # the file name to keep, as an upload keeps it
    image: str  # its member in the archive
    mask: Callable[[int, int], np.ndarray] | None  # (width, height) -> HxW int32 values; InvalidUpload
    subset: str = ""


@dataclass
class ForeignDataset:
    format: str
    classes: dict[int, str]  # mask value -> class name
    samples: list[ForeignSample] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)  # {"name", "error"}: files the reader refused


@dataclass(frozen=True)
class ClassMapping:
    lut: dict[int, int]  # dataset value -> project index (UNLABELLED included when it has a place)
    matched: list[str]
    unknown: list[str]  # the dataset's names the project does not have
    missing: list[str]  # the project's names the dataset does not have
    ignore_index: int | None

    def report(self) -> dict:
        return {
            "matched": self.matched,
            "unknown": self.unknown,
            "missing": self.missing,
            "unknown_to": self.ignore_index if self.unknown else None,
        }


def class_mapping(*, project: Project, classes: dict[int, str]) -> ClassMapping:
    ours = {c.name: c.index for c in project.label_classes.all()}
    folded = {name.casefold(): index for name, index in ours.items()}
    ignore = project.ignore_index
    lut: dict[int, int] = {}
    matched, unknown = [], []
    for value, name in sorted(classes.items()):
        index = ours.get(name, folded.get(name.casefold()))
        if index is None:
            unknown.append(name)
            if ignore is not None:
                lut[value] = ignore
        else:
            matched.append(name)
            lut[value] = index
    if ignore is not None:
        lut[UNLABELLED] = ignore
    used = {lut[v] for v, n in classes.items() if n in matched}
    missing = [name for name, index in ours.items() if index not in used and index != ignore]
    return ClassMapping(lut=lut, matched=matched, unknown=unknown, missing=missing, ignore_index=ignore)


def mask_to_project(*, name: str, values: np.ndarray, mapping: ClassMapping, classes: dict[int, str]) -> np.ndarray:
    """The dataset's values as the project's class indices; InvalidUpload where a pixel has no place."""
    present = np.unique(values).tolist()
    homeless = [v for v in present if v not in mapping.lut]
    if homeless:
        what = ", ".join(f"“{classes[v]}”" if v in classes else "no class" for v in homeless)
        raise InvalidUpload(NO_PLACE_FOR.format(name=name, what=what))
    out = np.zeros(values.shape, dtype=np.uint8)
    for value in present:
        out[values == value] = mapping.lut[value]
    return out


def decode_label_png(*, name: str, data: bytes, width: int, height: int) -> np.ndarray:
    """A mask PNG from a foreign tool, through the guarded decoder: HxW values for grey, paletted
    (the palette indices) and 16-bit PNGs, HxWx3 colours for RGB(A)."""
    with untrusted_image(data, refusals=mask_refusals(width, height)) as mask:
        if mask.format != "PNG":
            raise InvalidUpload(MASK_NOT_PNG.format(name=name))
        if mask.size != (width, height):
            raise InvalidUpload(
                MASK_WRONG_SIZE.format(name=name, mw=mask.size[0], mh=mask.size[1], iw=width, ih=height)
            )
        if mask.mode in ("P", "L", "1"):
            return np.array(mask, dtype=np.uint8).astype(np.int32)
        if mask.mode in ("I;16", "I;16B", "I"):
            return np.array(mask).astype(np.int32)
        if mask.mode in ("RGB", "RGBA"):
            return np.array(mask.convert("RGB"), dtype=np.uint8)
        raise InvalidUpload(MASK_MODE.format(name=name, mode=mask.mode, expected="grey, paletted or RGB PNGs"))


def colours_to_values(*, name: str, rgb: np.ndarray, colours: dict[tuple[int, int, int], int]) -> np.ndarray:
    """An HxWx3 colour mask as values, by the label map's colours; InvalidUpload for other colours."""
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    out = np.full(packed.shape, UNLABELLED, dtype=np.int32)
    known = {(r << 16) | (g << 8) | b: value for (r, g, b), value in colours.items()}
    present = np.unique(packed).tolist()
    strange = [p for p in present if p not in known]
    if strange:
        listed = ", ".join(f"#{p:06x}" for p in strange[:5]) + (" …" if len(strange) > 5 else "")
        raise InvalidUpload(UNKNOWN_COLOURS.format(name=name, colours=listed))
    for p in present:
        out[packed == p] = known[p]
    return out


def palette_png(values: np.ndarray, palette: list[tuple[int, int, int]]) -> bytes:
    """A paletted PNG whose pixel values are `values` (uint8) and whose palette holds the colours."""
    image = PILImage.fromarray(values.astype(np.uint8), mode="L").convert("P")
    flat = [channel for rgb in palette for channel in rgb]
    image.putpalette(flat + [0] * (768 - len(flat)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def grey_png(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(values.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def rgb_png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(rgb.astype(np.uint8), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()
