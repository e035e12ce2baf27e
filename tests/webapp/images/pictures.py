"""Images a browser cannot show as they are: 16-bit PNG, float TIFF, EXIF-rotated JPEG."""

import io

import numpy as np
from PIL import Image as PILImage

ORIENTATION = 0x0112
ROTATE_90_CW = 6  # EXIF: the stored rows are the upright picture's columns, turned clockwise to view


def gradient16(width: int = 64, height: int = 32, low: int = 1000, high: int = 4000) -> np.ndarray:
    """A left-to-right ramp of 12-bit-like values in a 16-bit container (all white after convert("RGB"))."""
    ramp = np.linspace(low, high, width).round().astype(np.uint16)
    return np.tile(ramp, (height, 1))


def png16(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def float_tiff(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(values.astype(np.float32), mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


def rgb_tiff(width: int = 40, height: int = 30) -> bytes:
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[:, : width // 2] = (220, 40, 40)
    rgb[:, width // 2 :] = (40, 40, 220)
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="TIFF")
    return buffer.getvalue()


def rotated_jpeg(width: int = 40, height: int = 20) -> bytes:
    """Stored width x height: top half white, bottom half black; EXIF says turn it 90 degrees
    clockwise, so upright it is height x width with the white half on the right."""
    raw = np.zeros((height, width, 3), dtype=np.uint8)
    raw[: height // 2] = 255
    exif = PILImage.Exif()
    exif[ORIENTATION] = ROTATE_90_CW
    buffer = io.BytesIO()
    PILImage.fromarray(raw).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def read_png(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as picture:
        return np.asarray(picture)
