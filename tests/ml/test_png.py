"""ml.png.gray_png: the one encoder of 2-D 8-bit maps keeps every pixel value and refuses the rest."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from ml.png import NOT_A_MAP, gray_png


def _decode(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode) == ("PNG", "L")
        return np.array(image)


def test_every_byte_value_survives_the_round_trip():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(_decode(gray_png(values)), values)
    strided = np.repeat(values, 2, axis=1)[:, ::2]  # a non-contiguous view encodes the same
    assert np.array_equal(_decode(gray_png(strided)), values)


def test_bool_and_wider_integer_maps_in_range_encode_as_uint8():
    labels = np.array([[0, 3], [255, 7]], dtype=np.int64)
    assert gray_png(labels) == gray_png(labels.astype(np.uint8))
    assert np.array_equal(_decode(gray_png(labels > 3)), np.array([[0, 0], [1, 1]], dtype=np.uint8))


@pytest.mark.parametrize(
    "array",
    [
        np.array([[0, 256]], dtype=np.int32),  # would wrap to class 0
        np.array([[-1, 2]], dtype=np.int16),
        np.zeros((2, 2, 3), dtype=np.uint8),  # colour, not a map
        np.zeros((4,), dtype=np.uint8),
        np.zeros((2, 2), dtype=np.float32),
    ],
)
def test_anything_else_is_refused_with_the_message(array):
    with pytest.raises(ValueError) as err:
        gray_png(array)
    assert str(err.value) == NOT_A_MAP.format(shape=array.shape, dtype=array.dtype)
