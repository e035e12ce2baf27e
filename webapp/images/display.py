"""The picture people see and models read: upright, 8-bit, in a format every browser shows.

An upload is decoded once (validation.untrusted_image) and handed to `display_prepare`, which
  - applies the EXIF (or TIFF) orientation, so the stored width and height, the masks, the
    editor and the review page all use the upright pixel grid;
  - maps 16-bit, 32-bit integer and float pixels (Pillow modes I;16*, I, F) to 0..255 through
    a window (low, high): low and below is black, high and above white;
  - says whether the original can be shown and read as it is. When it cannot (a TIFF, which
    Chromium does not show; a high-bit-depth image; a rotated photo), the import stores the
    prepared picture as the image's display file (Image.display) and everything that reads
    pixels reads that file (Image.pixels_file): thumbnails, the editor, the review page,
    superpixels, embeddings, training, pseudo-labels, prediction and export. Plain 8-bit
    JPEG, PNG, BMP and WebP files without rotation are their own display: no second copy.

The default window is the 0.5th to 99.5th percentile of the finite values, not min..max:
one hot or dead pixel (common on 12- and 16-bit sensors, and NaN-padded float maps have
outliers at the edges) would otherwise squeeze the whole picture into a few grey levels,
while 1 % of the pixels saturating costs nothing visible. A flat image falls back to min..max.
The editor can show other windows (webapp.images.views.display); the stored one is what the
models read, so a model never sees a picture nobody looked at.
"""

import io
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, ImageOps
from PIL import Image as PILImage

HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
# Shown by Chromium, Firefox and Safari as they are (TIFF only by Safari).
BROWSER_FORMATS = frozenset({"PNG", "JPEG", "BMP", "WEBP"})
WINDOW_PERCENTILES = (0.5, 99.5)
PERCENTILE_SAMPLE = 1 << 20  # values the percentiles are estimated from (an even stride over the image)
DISPLAY_PNG_LEVEL = 1  # display files are written once per import; level 6 costs time, saves little
DISPLAY_JPEG_QUALITY = 95  # a rotated photo stays a JPEG: the source was lossy, a PNG would triple its size


@dataclass(frozen=True)
class Window:
    low: float
    high: float


@dataclass(frozen=True)
class Display:
    picture: PILImage.Image  # upright, mode L or RGB
    needs_file: bool  # the original cannot stand for it: store `picture` as the display file
    window: Window | None  # for high-bit-depth images: the window `picture` was made with
    value_range: Window | None  # for high-bit-depth images: the smallest and largest finite value
    format: str  # "PNG" or "JPEG": how the display file is written

    @property
    def width(self) -> int:
        return self.picture.width

    @property
    def height(self) -> int:
        return self.picture.height


def display_prepare(source: PILImage.Image, *, window: tuple[float, float] | None = None) -> Display:
    """The display picture of a decoded image (call inside validation.untrusted_image).

    window: for a high-bit-depth image, the (low, high) to use instead of the default one."""
    rotated = source.getexif().get(ExifTags.Base.Orientation, 1) in range(2, 9)
    upright = ImageOps.exif_transpose(source) if rotated else source
    chosen = value_range = None
    if upright.mode in HIGH_DEPTH_MODES:
        values = high_depth_values(upright)
        value_range = value_range_of(values)
        chosen = Window(*window) if window else default_window(values)
        picture = PILImage.fromarray(windowed(values, chosen), mode="L")
    elif upright.mode in ("L", "RGB"):
        picture = upright
    elif upright.mode in ("1", "LA", "La"):
        picture = upright.convert("L")
    else:
        picture = upright.convert("RGB")
    needs_file = rotated or chosen is not None or source.format not in BROWSER_FORMATS
    return Display(
        picture=picture,
        needs_file=needs_file,
        window=chosen,
        value_range=value_range,
        format="JPEG" if source.format == "JPEG" and chosen is None else "PNG",
    )


def display_bytes(display: Display) -> bytes:
    buffer = io.BytesIO()
    if display.format == "JPEG":
        display.picture.save(buffer, format="JPEG", quality=DISPLAY_JPEG_QUALITY, subsampling=0)
    else:
        display.picture.save(buffer, format="PNG", compress_level=DISPLAY_PNG_LEVEL)
    return buffer.getvalue()


def high_depth_values(image: PILImage.Image) -> np.ndarray:
    """The pixels of a high-bit-depth image as a float32 HxW array (NaN and inf kept)."""
    return np.asarray(image).astype(np.float32, copy=False)


def value_range_of(values: np.ndarray) -> Window:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Window(0.0, 1.0)
    return Window(float(finite.min()), float(finite.max()))


def default_window(values: np.ndarray) -> Window:
    flat = values.ravel()
    sample = flat[:: max(1, flat.size // PERCENTILE_SAMPLE)]
    sample = sample[np.isfinite(sample)]
    if sample.size:
        low, high = (float(v) for v in np.percentile(sample, WINDOW_PERCENTILES))
        if high > low:
            return Window(low, high)
    full = value_range_of(values)
    return full if full.high > full.low else Window(full.low, full.low + 1.0)


def windowed(values: np.ndarray, window: Window) -> np.ndarray:
    """HxW uint8: window.low and below 0, window.high and above 255, linear between; NaN is 0."""
    scale = np.float32(255.0 / (window.high - window.low))
    out = (values - np.float32(window.low)) * scale
    np.clip(out, 0, 255, out=out)
    np.nan_to_num(out, copy=False, nan=0.0)
    return np.rint(out).astype(np.uint8)
