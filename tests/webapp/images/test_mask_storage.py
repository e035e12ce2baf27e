"""mask_save_png keeps a plain grayscale upload byte for byte and normalises every other form."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from webapp.images.services import InvalidUpload, mask_read, mask_save_png
from webapp.images.validation import check_mask_classes

pytestmark = pytest.mark.django_db


def _png(array: np.ndarray, mode: str, **save) -> bytes:
    image = PILImage.fromarray(array, mode="L")
    if mode == "P":
        image = image.convert("P")  # palette indices equal the grey values here
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _labels():
    labels = np.zeros((24, 32), np.uint8)
    labels[10:, :] = 1
    labels[15:20, 5:12] = 2
    return labels


def test_plain_grayscale_upload_is_stored_as_sent(make_image, owner):
    image = make_image()
    sent = _png(_labels(), "L", compress_level=1)
    mask = mask_save_png(image=image, base_version=0, png=sent, author=owner)
    with mask.file.open("rb") as handle:
        assert handle.read() == sent
    assert (mask_read(mask) == _labels()).all()


def test_palette_upload_is_stored_as_grayscale_indices(make_image, owner):
    image = make_image()
    mask = mask_save_png(image=image, base_version=0, png=_png(_labels(), "P"), author=owner)
    with mask.file.open("rb") as handle, PILImage.open(handle) as stored:
        assert stored.mode == "L"
        assert (np.array(stored) == _labels()).all()


def test_low_bit_depth_upload_is_stored_as_8_bit(make_image, owner):
    image = make_image()
    # All background: valid, but 4 bits a pixel, and the editor's decoder reads 8-bit PNGs only
    # (Pillow scales 4-bit greys to 0..255, so only 0 stays a class index).
    sent = _png(np.zeros((24, 32), np.uint8), "L", bits=4)
    mask = mask_save_png(image=image, base_version=0, png=sent, author=owner)
    with mask.file.open("rb") as handle:
        stored = handle.read()
    assert stored != sent and stored[24] == 8  # IHDR bit depth
    assert (mask_read(mask) == np.array(PILImage.open(io.BytesIO(sent)))).all()


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_depth_grayscale_holds_class_indices_not_stretched_greys(make_image, owner, bits):
    image = make_image()
    labels = _labels() if bits > 1 else (_labels() > 0).astype(np.uint8)
    buffer = io.BytesIO()
    source = PILImage.fromarray(labels, mode="L")
    if bits == 1:
        source.point(lambda v: 255 * v).convert("1").save(buffer, format="PNG")
    else:
        source.save(buffer, format="PNG", bits=bits)
    mask = mask_save_png(image=image, base_version=0, png=buffer.getvalue(), author=owner)
    assert (mask_read(mask) == labels).all()


def test_unknown_classes_are_named_whatever_the_largest_value():
    labels = _labels()
    labels[0, 0] = 7
    labels[0, 1] = 5
    with pytest.raises(InvalidUpload, match=r"\[5, 7\]"):
        check_mask_classes(array=labels, valid_indices={0, 1, 2, 3})
    check_mask_classes(array=_labels(), valid_indices={0, 1, 2, 3})  # all known: no error
    with pytest.raises(InvalidUpload, match="1"):
        check_mask_classes(array=_labels(), valid_indices={0, 2, 3})  # a gap below the max
