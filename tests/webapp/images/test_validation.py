"""The one guarded decode of user bytes: bombs, truncated and damaged files become
InvalidUpload with the user's message, never another exception."""

import io
import struct
import warnings

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.conftest import mask_png, noise_png
from tests.webapp.hostile_files import png_bomb, png_chunk, truncated
from webapp.images.validation import (
    MASK_NOT_PNG,
    MASK_TOO_LARGE,
    MASK_WRONG_SIZE,
    TOO_MANY_PIXELS,
    TOO_MANY_PIXELS_UNKNOWN,
    TRUNCATED,
    InvalidUpload,
    check_image_bytes,
    decode_image_rgb,
    decode_mask_upload,
    pixel_limit,
)

CLASSES = {0, 1, 2, 3}


def refusal(call) -> str:
    with pytest.raises(InvalidUpload) as error:
        call()
    return str(error.value)


@pytest.mark.parametrize("bit_depth", [1, 8])
def test_a_mask_bomb_is_refused_as_a_mask_of_the_wrong_size(bit_depth):
    bomb = png_bomb(bit_depth=bit_depth)
    assert len(bomb) < 1_000_000  # 110 KB at 1 bit, 900 KB at 8: 900 megapixels either way
    message = refusal(lambda: decode_mask_upload(data=bomb, width=32, height=24, valid_indices=CLASSES))
    assert message == MASK_TOO_LARGE.format(limit=pixel_limit(), iw=32, ih=24)


@pytest.mark.parametrize("bit_depth", [1, 8])
def test_an_image_bomb_is_refused_before_its_pixels_are_decoded(bit_depth):
    message = refusal(lambda: check_image_bytes(name="bomb.png", data=png_bomb(bit_depth=bit_depth)))
    assert message == TOO_MANY_PIXELS_UNKNOWN.format(name="bomb.png", limit=pixel_limit())
    message = refusal(lambda: decode_image_rgb(name="bomb.png", data=png_bomb(bit_depth=bit_depth)))
    assert message == TOO_MANY_PIXELS_UNKNOWN.format(name="bomb.png", limit=pixel_limit())


def test_a_mask_over_the_pixel_limit_but_under_pillows_is_refused_by_size(settings):
    settings.SEGLOOP_MAX_IMAGE_PIXELS = 1_000_000
    bomb = png_bomb(2000, 1000, bit_depth=1)
    message = refusal(lambda: decode_mask_upload(data=bomb, width=32, height=24, valid_indices=CLASSES))
    assert message == MASK_WRONG_SIZE.format(mw=2000, mh=1000, iw=32, ih=24)
    message = refusal(lambda: check_image_bytes(name="big.png", data=bomb))
    assert message == TOO_MANY_PIXELS.format(name="big.png", width=2000, height=1000, limit=1_000_000)


def test_the_bomb_warning_turned_into_an_error_is_a_refusal_too(monkeypatch):
    # Pillow warns (not errors) between its limit and twice it; a -W error filter makes it raise.
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        message = refusal(
            lambda: decode_mask_upload(data=mask_png(np.zeros((24, 32))), width=32, height=24, valid_indices=CLASSES)
        )
    assert message == MASK_TOO_LARGE.format(limit=1200, iw=32, ih=24)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_truncated_files_are_refused(keep):
    image = noise_png(64, 48, seed=1)
    message = refusal(lambda: check_image_bytes(name="cut.png", data=truncated(image, keep)))
    assert message == TRUNCATED.format(name="cut.png")
    mask = mask_png(np.random.default_rng(0).integers(0, 4, (48, 64)))
    message = refusal(
        lambda: decode_mask_upload(data=truncated(mask, keep), width=64, height=48, valid_indices=CLASSES)
    )
    assert message == MASK_NOT_PNG


def test_a_truncated_bomb_body_is_refused_not_decoded():
    bomb = png_bomb(3000, 3000, bit_depth=8)
    message = refusal(
        lambda: decode_mask_upload(data=truncated(bomb, 0.5), width=3000, height=3000, valid_indices=CLASSES)
    )
    assert message == MASK_NOT_PNG


def test_a_png_with_a_damaged_header_is_refused():
    bad_header = struct.pack(">IIBBBBB", 32, 24, 7, 0, 0, 0, 0)  # bit depth 7 does not exist
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", bad_header) + png_chunk(b"IEND", b"")
    assert refusal(lambda: decode_mask_upload(data=data, width=32, height=24, valid_indices=CLASSES)) == MASK_NOT_PNG


def test_a_good_mask_still_decodes():
    labels = np.random.default_rng(0).integers(0, 4, (24, 32)).astype(np.uint8)
    decoded = decode_mask_upload(data=mask_png(labels), width=32, height=24, valid_indices=CLASSES)
    assert np.array_equal(decoded.array, labels) and decoded.storable_as_is


def test_decode_image_rgb_gives_rgb_pixels_of_the_stored_grid():
    pixels = decode_image_rgb(name="a.png", data=noise_png(40, 30, seed=2))
    assert pixels.mode == "RGB" and pixels.size == (40, 30)
    assert np.array_equal(np.array(pixels), np.array(PILImage.open(io.BytesIO(noise_png(40, 30, seed=2)))))
