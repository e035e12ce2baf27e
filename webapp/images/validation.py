"""Checks on uploaded images and masks. Every message here is shown to users as it is."""
import io
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

NOT_AN_IMAGE = "{name}: not an image that segloop can read (PNG, JPEG, TIFF, BMP or WebP)."
TRUNCATED = "{name}: the image file is truncated or damaged."
TOO_LARGE_BYTES = "{name}: the file is {size_mb:.1f} MB; the limit is {limit_mb:.0f} MB."
TOO_MANY_PIXELS = "{name}: {width}x{height} pixels is over the limit of {limit:,} pixels."
# Pillow refuses some bombs before their size can be read.
TOO_MANY_PIXELS_UNKNOWN = "{name}: the image claims more than the limit of {limit:,} pixels."
DUPLICATE = "{name}: the same image is already in this project (as {existing})."
MASK_NOT_PNG = "The mask must be a PNG of class indices."
MASK_NOT_SINGLE_CHANNEL = "The mask must be single-channel (grayscale or paletted), not {mode}."
MASK_WRONG_SIZE = "The mask is {mw}x{mh} pixels but the image is {iw}x{ih}."
MASK_UNKNOWN_CLASSES = "The mask holds class indices {values} that the project does not define (valid: {valid})."

ALLOWED_FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "WEBP"}


class InvalidUpload(ValueError):
    """Bad input: the message is for the user; nothing was stored."""


@dataclass(frozen=True)
class CheckedImage:
    width: int
    height: int
    format: str


def check_image_bytes(*, name: str, data: bytes) -> CheckedImage:
    """Decode the whole image once, so broken, truncated and bomb files are refused up front."""
    limit = settings.SEGLOOP_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise InvalidUpload(TOO_LARGE_BYTES.format(name=name, size_mb=len(data) / 2**20, limit_mb=limit / 2**20))
    max_pixels = settings.SEGLOOP_MAX_IMAGE_PIXELS
    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            image_format = probe.format
            # Checked before decoding: a bomb is refused without allocating its pixels.
            if width * height > max_pixels:
                raise InvalidUpload(TOO_MANY_PIXELS.format(name=name, width=width, height=height, limit=max_pixels))
            if image_format not in ALLOWED_FORMATS:
                raise InvalidUpload(NOT_AN_IMAGE.format(name=name))
            probe.load()
    except InvalidUpload:
        raise
    except PILImage.DecompressionBombError:
        pillow_limit = 2 * (PILImage.MAX_IMAGE_PIXELS or max_pixels)  # Pillow errors at twice its setting
        raise InvalidUpload(TOO_MANY_PIXELS_UNKNOWN.format(name=name, limit=min(max_pixels, pillow_limit)))
    except UnidentifiedImageError:
        raise InvalidUpload(NOT_AN_IMAGE.format(name=name))
    except (OSError, SyntaxError, ValueError):
        raise InvalidUpload(TRUNCATED.format(name=name))
    return CheckedImage(width=width, height=height, format=image_format)


def decode_mask_png(*, data: bytes, width: int, height: int, valid_indices: set[int]) -> np.ndarray:
    """The mask as an HxW uint8 array of class indices, or InvalidUpload saying what is wrong."""
    return decode_mask_upload(data=data, width=width, height=height, valid_indices=valid_indices).array


LOW_BIT_GREY_STRETCH = {"L;2": 85, "L;4": 17}


@dataclass(frozen=True)
class DecodedMask:
    array: np.ndarray
    storable_as_is: bool
    """True for a plain 8-bit, non-interlaced grayscale PNG: its bytes can be kept as they are."""


def decode_mask_upload(*, data: bytes, width: int, height: int, valid_indices: set[int]) -> DecodedMask:
    try:
        with PILImage.open(io.BytesIO(data)) as mask:
            if mask.format != "PNG":
                raise InvalidUpload(MASK_NOT_PNG)
            if mask.mode not in ("L", "P", "1"):
                raise InvalidUpload(MASK_NOT_SINGLE_CHANNEL.format(mode=mask.mode))
            if mask.size != (width, height):
                raise InvalidUpload(
                    MASK_WRONG_SIZE.format(mw=mask.size[0], mh=mask.size[1], iw=width, ih=height)
                )
            # Read before the pixels are loaded, which clears the tile list.
            raw_modes = [tile[3] for tile in mask.tile]
            # As the editor's own decoder reads it: 8 bits a pixel, not interlaced.
            plain = (mask.mode == "L" and raw_modes == ["L"]
                     and not mask.info.get("interlace") and "transparency" not in mask.info)
            # Mode P: the palette indices are the class indices, not the palette colours.
            array = np.array(mask, dtype=np.uint8)
            # Pillow stretches 2- and 4-bit greys to 0..255; the class index is the stored value.
            stretch = LOW_BIT_GREY_STRETCH.get(raw_modes[0]) if len(raw_modes) == 1 else None
            if stretch:
                array //= stretch
    except InvalidUpload:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidUpload(MASK_NOT_PNG)
    check_mask_classes(array=array, valid_indices=valid_indices)
    return DecodedMask(array=array, storable_as_is=plain)


def check_mask_classes(*, array: np.ndarray, valid_indices: set[int]) -> None:
    # Fast path: masks almost always use 0..k with every index valid; the max is one
    # vectorised pass, a histogram of a 12-megapixel mask costs many times more.
    if array.size == 0 or set(range(int(array.max()) + 1)) <= valid_indices:
        return
    present = np.flatnonzero(np.bincount(array.ravel(), minlength=256))
    unknown = sorted(set(present.tolist()) - valid_indices)
    if unknown:
        raise InvalidUpload(
            MASK_UNKNOWN_CLASSES.format(values=unknown, valid=_ranges(sorted(valid_indices)))
        )


def encode_mask_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array.astype(np.uint8), mode="L").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _ranges(values: list[int]) -> str:
    if values and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(map(str, values))
