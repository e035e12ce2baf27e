"""The mask parser on any bytes: either a valid mask (the image's size, uint8, only the
project's classes) or InvalidUpload with one of its messages, never another exception.

Inputs: raw bytes; real mask PNGs of every single-channel kind, then damaged (bytes flipped,
cut, inserted); and PNGs rebuilt chunk by chunk with valid CRCs from random headers, palettes
and pixel streams, so the damage reaches Pillow's decoders and not only its CRC check.
"""

import io
import re
import struct
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from tests.webapp.hostile_files import PNG_SIGNATURE, png_chunk
from webapp.images import validation
from webapp.images.validation import InvalidUpload, decode_mask_upload

MESSAGES = [
    validation.MASK_NOT_PNG,
    validation.MASK_NOT_SINGLE_CHANNEL,
    validation.MASK_WRONG_SIZE,
    validation.MASK_TOO_LARGE,
    validation.MASK_UNKNOWN_CLASSES,
]
# Each message template as a pattern: its {fields} match anything.
PATTERNS = [
    re.compile(".+".join(re.escape(part) for part in re.split(r"\{[^}]*\}", message)), re.DOTALL)
    for message in MESSAGES
]

EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

small_side = st.integers(1, 48)
classes = st.sets(st.integers(0, 255), min_size=1, max_size=8) | st.just({0, 1, 2, 3})


def check(data: bytes, width: int, height: int, valid: set[int]) -> None:
    try:
        decoded = decode_mask_upload(data=data, width=width, height=height, valid_indices=valid)
    except InvalidUpload as refusal:
        message = str(refusal)
        assert any(pattern.fullmatch(message) for pattern in PATTERNS), message
        return
    array = decoded.array
    assert array.shape == (height, width) and array.dtype == np.uint8
    assert set(np.unique(array).tolist()) <= valid


@st.composite
def real_masks(draw):
    """A valid mask PNG of one of the kinds a client may send, and its size."""
    width, height = draw(small_side), draw(small_side)
    kind = draw(st.sampled_from(["L", "P", "1", "L;2", "L;4", "I;16", "RGB", "LA"]))
    top = {"1": 1, "L;2": 3, "L;4": 15}.get(kind, 5)
    labels = draw(
        st.integers(0, 2**32 - 1).map(
            lambda seed: np.random.default_rng(seed).integers(0, top + 1, (height, width)).astype(np.uint8)
        )
    )
    buffer = io.BytesIO()
    options = {"interlace": draw(st.booleans())} if kind in ("L", "P") else {}
    if kind == "P":
        image = PILImage.fromarray(labels, mode="L").convert("P")
        image.putpalette(bytes(range(256)) * 3)
    elif kind == "1":
        image = PILImage.fromarray(labels.astype(bool))
    elif kind in ("L;2", "L;4"):
        image = PILImage.fromarray(labels, mode="L")
        options = {"bits": 2 if kind == "L;2" else 4}
    elif kind == "I;16":
        image = PILImage.fromarray(labels.astype(np.uint16))  # mode I;16
    else:
        image = PILImage.fromarray(labels, mode="L").convert(kind)
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue(), width, height


@st.composite
def damaged(draw, source):
    data = bytearray(draw(source))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


VALID_HEADERS = [
    (1, 0),
    (2, 0),
    (4, 0),
    (8, 0),
    (16, 0),
    (8, 2),
    (16, 2),
    (1, 3),
    (2, 3),
    (4, 3),
    (8, 3),
    (8, 4),
    (16, 4),
    (8, 6),
    (16, 6),
]  # (bit depth, colour type) pairs PNG allows
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


@st.composite
def rebuilt_pngs(draw):
    """A PNG whose chunks all carry valid CRCs but whose header, palette and pixels are random:
    mostly a valid header with well-formed rows of random pixels, sometimes anything at all."""
    side = st.integers(0, 9).flatmap(
        lambda roll: st.sampled_from([0, 30_000, 65_536, 2**31 - 1]) if roll == 0 else small_side
    )
    width, height = draw(side), draw(side)
    if draw(st.integers(0, 4)):
        depth, colour = draw(st.sampled_from(VALID_HEADERS))
    else:
        depth, colour = draw(st.integers(0, 255)), draw(st.integers(0, 255))
    odd = st.sampled_from([0] * 18 + [1, 255])  # compression and filter method: 0 is the only valid one
    interlace = draw(st.sampled_from([0] * 6 + [1, 1, 7]))
    header = struct.pack(">IIBBBBB", width, height, depth, colour, draw(odd), draw(odd), interlace)
    chunks = [png_chunk(b"IHDR", header)]
    if colour == 3 or draw(st.integers(0, 3)) == 0:
        chunks.append(png_chunk(b"PLTE", draw(st.binary(min_size=0, max_size=300))))
    if draw(st.integers(0, 3)) == 0:
        chunks.append(png_chunk(b"tRNS", draw(st.binary(min_size=0, max_size=40))))
    row = 1 + (width * depth * CHANNELS.get(colour, 1) + 7) // 8
    if width * height <= 48 * 48 and row * height <= 40_000 and draw(st.integers(0, 3)):
        pixels = bytearray(draw(st.binary(min_size=row * height, max_size=row * height)))
        pixels[::row] = bytes(b % 5 for b in pixels[::row])  # each row starts with a valid filter type
        if draw(st.integers(0, 3)) == 0:  # short or long by a little
            pixels = pixels[: draw(st.integers(0, len(pixels)))] + draw(st.binary(max_size=8))
    else:
        pixels = draw(st.binary(max_size=256))
    stream = zlib.compress(bytes(pixels)) if draw(st.integers(0, 5)) else draw(st.binary(max_size=200))
    chunks.append(png_chunk(b"IDAT", stream))
    if draw(st.integers(0, 4)):
        chunks.append(png_chunk(b"IEND", b""))
    fits = width * height <= 48 * 48 and width and height
    size = (width, height) if fits and draw(st.integers(0, 3)) else (draw(small_side), draw(small_side))
    return PNG_SIGNATURE + b"".join(chunks), *size


@EXAMPLES
@given(data=st.binary(max_size=4096), width=small_side, height=small_side, valid=classes)
def test_any_bytes(data, width, height, valid):
    check(data, width, height, valid)


@EXAMPLES
@given(mask=real_masks(), valid=classes, same_size=st.booleans())
def test_real_masks_of_every_kind(mask, valid, same_size):
    data, width, height = mask
    check(data, width if same_size else width + 1, height, valid)


@EXAMPLES
@given(data=damaged(real_masks().map(lambda mask: mask[0])), width=small_side, height=small_side, valid=classes)
def test_damaged_masks(data, width, height, valid):
    check(data, width, height, valid)


@EXAMPLES
@given(png=rebuilt_pngs(), valid=classes)
def test_pngs_with_valid_crcs_and_random_contents(png, valid):
    data, width, height = png
    check(data, width, height, valid)


def test_a_valid_mask_is_accepted_exactly():
    labels = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32) % 4
    buffer = io.BytesIO()
    PILImage.fromarray(labels, mode="L").save(buffer, format="PNG")
    decoded = decode_mask_upload(data=buffer.getvalue(), width=32, height=24, valid_indices={0, 1, 2, 3})
    assert np.array_equal(decoded.array, labels)
