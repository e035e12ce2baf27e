"""Checks on uploaded images and masks. Every message here is shown to users as it is.

Every decode of bytes that came from a request goes through `untrusted_image`: it refuses
images over the pixel limit before their pixels are decoded, and turns whatever Pillow raises
on hostile or broken input (decompression bombs, truncated files, bad chunks, odd headers)
into InvalidUpload with the caller's message, so no such file ever answers 500.
"""

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageFile, UnidentifiedImageError

from ml.png import gray_png
from webapp.images.display import Display, display_prepare

# Masks are encoded by the one 2-D map encoder (ml.png); this is the name the web side calls it by.
encode_mask_png = gray_png

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
MASK_TOO_LARGE = "The mask claims more than {limit:,} pixels; it must be {iw}x{ih} pixels like its image."
MASK_UNKNOWN_CLASSES = "The mask holds class indices {values} that the project does not define (valid: {valid})."

ALLOWED_FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "WEBP"}


class InvalidUpload(ValueError):
    """Bad input: the message is for the user; nothing was stored."""


@dataclass(frozen=True)
class Refusals:
    """What untrusted_image says for each way a file can fail."""

    unreadable: str  # not an image Pillow knows
    damaged: str  # truncated, bad chunks or any other error while decoding
    too_many_pixels: Callable[[int, int, int], str]  # (width, height, limit): over the limit, size known
    too_many_pixels_unknown: Callable[[int], str]  # (limit): a bomb Pillow refused before its size was read


def image_refusals(name: str) -> Refusals:
    return Refusals(
        unreadable=NOT_AN_IMAGE.format(name=name),
        damaged=TRUNCATED.format(name=name),
        too_many_pixels=lambda w, h, limit: TOO_MANY_PIXELS.format(name=name, width=w, height=h, limit=limit),
        too_many_pixels_unknown=lambda limit: TOO_MANY_PIXELS_UNKNOWN.format(name=name, limit=limit),
    )


def mask_refusals(width: int, height: int) -> Refusals:
    """For a mask that must be width x height."""
    return Refusals(
        unreadable=MASK_NOT_PNG,
        damaged=MASK_NOT_PNG,
        too_many_pixels=lambda w, h, limit: MASK_WRONG_SIZE.format(mw=w, mh=h, iw=width, ih=height),
        too_many_pixels_unknown=lambda limit: MASK_TOO_LARGE.format(limit=limit, iw=width, ih=height),
    )


def pixel_limit() -> int:
    """The pixel limit as enforced: SEGLOOP_MAX_IMAGE_PIXELS, or Pillow's bomb error if lower."""
    max_pixels = settings.SEGLOOP_MAX_IMAGE_PIXELS
    pillow = PILImage.MAX_IMAGE_PIXELS
    return min(max_pixels, 2 * pillow) if pillow else max_pixels


@contextmanager
def untrusted_image(data: bytes, *, refusals: Refusals) -> Iterator[ImageFile.ImageFile]:
    """The one way to decode bytes from a request: `with untrusted_image(data, refusals=...) as image:`.

    The image is opened (header only) and its size checked against the pixel limit before the
    body runs; the body decodes what it needs (load, convert, np.array) inside the block.
    InvalidUpload raised by the body passes through; any other error becomes
    InvalidUpload(refusals.damaged), so keep the body to decoding.
    """
    limit = pixel_limit()
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > limit:  # refused without allocating its pixels
                raise InvalidUpload(refusals.too_many_pixels(width, height, limit))
            yield image
    except InvalidUpload:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as err:
        # The warning arrives as an exception where a warnings filter turns it into one.
        raise InvalidUpload(refusals.too_many_pixels_unknown(limit)) from err
    except UnidentifiedImageError as err:
        raise InvalidUpload(refusals.unreadable) from err
    except MemoryError:
        raise  # the server's trouble, not the file's: within the pixel limit, decoding fits
    except Exception as err:  # noqa: BLE001
        # Pillow's plugins raise OSError, SyntaxError, ValueError, EOFError, struct.error,
        # zlib.error, IndexError... on hostile input: all of them mean a damaged file.
        raise InvalidUpload(refusals.damaged) from err


@dataclass(frozen=True)
class CheckedImage:
    width: int  # of the upright picture: the size its masks must have
    height: int
    format: str  # as decoded (PNG, JPEG, TIFF, BMP, WEBP), whatever the name says
    display: Display  # the upright 8-bit picture (webapp.images.display)


def check_image_bytes(*, name: str, data: bytes) -> CheckedImage:
    """Decode the whole image once, so broken, truncated and bomb files are refused up front,
    and prepare its display picture from that one decode."""
    _check_byte_size(name=name, data=data)
    with untrusted_image(data, refusals=image_refusals(name)) as probe:
        _check_format(name=name, image=probe)
        probe.load()
        display = display_prepare(probe)
        return CheckedImage(width=display.width, height=display.height, format=str(probe.format), display=display)


def decode_image_rgb(*, name: str, data: bytes) -> PILImage.Image:
    """An uploaded image as the RGB pixels a model reads (upright, windowed: as its display
    file would be), refused as check_image_bytes refuses it."""
    return check_image_bytes(name=name, data=data).display.picture.convert("RGB")


def decode_stored_display(*, name: str, data: bytes, window: tuple[float, float]) -> PILImage.Image:
    """A stored high-bit-depth image (checked at import) shown through another window: the
    upright 8-bit L picture, as display_prepare makes it with that window."""
    with untrusted_image(data, refusals=image_refusals(name)) as source:
        source.load()
        return display_prepare(source, window=window).picture


def _check_byte_size(*, name: str, data: bytes) -> None:
    limit = settings.SEGLOOP_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise InvalidUpload(TOO_LARGE_BYTES.format(name=name, size_mb=len(data) / 2**20, limit_mb=limit / 2**20))


def _check_format(*, name: str, image: PILImage.Image) -> None:
    if image.format not in ALLOWED_FORMATS:
        raise InvalidUpload(NOT_AN_IMAGE.format(name=name))


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
    with untrusted_image(data, refusals=mask_refusals(width, height)) as mask:
        if mask.format != "PNG":
            raise InvalidUpload(MASK_NOT_PNG)
        if mask.mode not in ("L", "P", "1"):
            raise InvalidUpload(MASK_NOT_SINGLE_CHANNEL.format(mode=mask.mode))
        if mask.size != (width, height):
            raise InvalidUpload(MASK_WRONG_SIZE.format(mw=mask.size[0], mh=mask.size[1], iw=width, ih=height))
        # Read before the pixels are loaded, which clears the tile list.
        raw_modes = [str(tile[3]) for tile in mask.tile]  # PNG: the raw mode of each tile
        # As the editor's own decoder reads it: 8 bits a pixel, not interlaced.
        plain = (
            mask.mode == "L"
            and raw_modes == ["L"]
            and not mask.info.get("interlace")
            and "transparency" not in mask.info
        )
        # Mode P: the palette indices are the class indices, not the palette colours.
        array = np.array(mask, dtype=np.uint8)
    # Pillow stretches 2- and 4-bit greys to 0..255; the class index is the stored value.
    stretch = LOW_BIT_GREY_STRETCH.get(raw_modes[0]) if len(raw_modes) == 1 else None
    if stretch:
        array //= stretch
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
        raise InvalidUpload(MASK_UNKNOWN_CLASSES.format(values=unknown, valid=_ranges(sorted(valid_indices))))


def _ranges(values: list[int]) -> str:
    if values and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(map(str, values))
