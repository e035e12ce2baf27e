"""Images a browser cannot show (TIFF, 16-bit and float, EXIF-rotated) get an upright 8-bit
display file at import, and everything that reads pixels reads it."""

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from tests.conftest import mask_png, noise_png
from tests.webapp.images.pictures import float_tiff, gradient16, png16, read_png, rgb_tiff, rotated_jpeg
from webapp.images.display import WINDOW_PERCENTILES
from webapp.images.selectors import BAD_WINDOW, NO_WINDOW
from webapp.images.services import image_import, mask_save, mask_save_png
from webapp.images.validation import TOO_MANY_PIXELS, TRUNCATED, InvalidUpload, decode_image_rgb

pytestmark = pytest.mark.django_db


def stored(field) -> np.ndarray:
    with field.open("rb") as handle:
        return read_png(handle.read()) if field.name.endswith(".png") else np.asarray(PILImage.open(handle))


def test_16_bit_png_is_windowed_not_clipped(project, owner):
    values = gradient16(low=1000, high=4000)
    image = image_import(project=project, name="scan.png", data=png16(values), uploaded_by=owner)
    display = stored(image.display)
    assert image.display.name.endswith(".png") and display.dtype == np.uint8 and display.shape == (32, 64)
    # The ramp spans the range: black at the left, white at the right, rising in between.
    assert display[:, 0].max() == 0 and display[:, -1].min() == 255
    assert np.all(np.diff(display[0].astype(int)) >= 0) and len(np.unique(display)) > 50
    expected = np.percentile(values, WINDOW_PERCENTILES)
    assert (image.window_low, image.window_high) == pytest.approx(tuple(expected))
    assert (image.value_low, image.value_high) == (1000.0, 4000.0)
    thumbnail = np.asarray(PILImage.open(image.thumbnail.open("rb")).convert("L"))
    assert thumbnail.min() < 30 and thumbnail.max() > 225  # not all white, as convert("RGB") made it


def test_float_tiff_gets_a_png_display_with_nan_as_black(project, owner):
    values = np.linspace(-1.5, 2.5, 48 * 32, dtype=np.float32).reshape(32, 48)
    values[0, 0] = np.nan
    image = image_import(project=project, name="height.tif", data=float_tiff(values), uploaded_by=owner)
    assert image.file.name.endswith(".tif") and image.display.name.endswith(".png")
    assert (image.width, image.height) == (48, 32)
    display = stored(image.display)
    assert display[0, 0] == 0 and display[-1, -1] == 255 and display[16, 24] in range(100, 156)
    assert (image.value_low, image.value_high) == pytest.approx((np.nanmin(values), np.nanmax(values)))
    assert image.pixels_name == "height.png"


def test_8_bit_tiff_gets_a_display_file_since_chromium_cannot_show_tiff(project, owner):
    image = image_import(project=project, name="photo.tiff", data=rgb_tiff(), uploaded_by=owner)
    assert image.display.name.endswith(".png") and not image.has_window
    assert tuple(stored(image.display)[0, 0]) == (220, 40, 40)


def test_plain_png_is_its_own_display(project, owner):
    image = image_import(project=project, name="plain.png", data=noise_png(seed=5), uploaded_by=owner)
    assert not image.display and image.pixels_file == image.file and not image.has_window


def test_exif_rotated_jpeg_is_stored_upright_and_masks_follow_it(project, owner):
    image = image_import(project=project, name="phone.jpg", data=rotated_jpeg(40, 20), uploaded_by=owner)
    assert (image.width, image.height) == (20, 40)  # upright, not the stored 40x20
    assert image.display.name.endswith(".jpg")
    display = np.asarray(PILImage.open(image.display.open("rb")).convert("L"))
    assert display.shape == (40, 20)
    assert display[:, 15:].min() > 200 and display[:, :5].max() < 50  # the white half is on the right
    assert not PILImage.open(image.display.open("rb")).getexif().get(0x0112)  # no second rotation
    mask_save(image=image, array=np.zeros((40, 20), dtype=np.uint8), base_version=0)
    with pytest.raises(InvalidUpload, match="is 40x20 pixels but the image is 20x40"):
        mask_save_png(image=image, png=mask_png(np.zeros((20, 40))), base_version=1)


def test_import_with_a_mask_of_the_raw_size_is_refused(project, owner):
    with pytest.raises(InvalidUpload, match="is 40x20 pixels but the image is 20x40"):
        image_import(project=project, name="phone.jpg", data=rotated_jpeg(), mask_data=mask_png(np.zeros((20, 40))))
    image = image_import(project=project, name="phone.jpg", data=rotated_jpeg(), mask_data=mask_png(np.zeros((40, 20))))
    assert image.current_mask is not None


def test_prediction_of_an_upload_reads_what_the_display_file_holds(project, owner):
    data = png16(gradient16())
    image = image_import(project=project, name="scan.png", data=data, uploaded_by=owner)
    pixels = np.asarray(decode_image_rgb(name="scan.png", data=data))
    assert np.array_equal(pixels[..., 0], stored(image.display)) and pixels.shape == (32, 64, 3)


def test_training_and_prediction_read_the_display_file(project, owner, monkeypatch):
    from webapp.training import prediction
    from webapp.training.selectors import training_set_for_project

    image = image_import(
        project=project, name="scan.png", data=png16(gradient16()), mask_data=mask_png(np.zeros((32, 64)))
    )
    other = image_import(project=project, name="height.tif", data=float_tiff(gradient16().astype(np.float32)))
    training = training_set_for_project(project=project)
    paths = [pair[0] for pair in training.labeled + training.validation] + list(training.unlabeled)
    assert image.display.path in paths and other.display.path in paths
    assert image.file.path not in paths and other.file.path not in paths

    seen = []
    monkeypatch.setattr(prediction, "served_model", lambda project: None)
    monkeypatch.setattr(
        prediction, "predict_pixels", lambda loaded, pixels: seen.append(np.asarray(pixels)) or (None, {})
    )
    prediction.predict_image_array(project=project, image=image)
    assert np.array_equal(seen[0][..., 0], stored(image.display))


def test_superpixels_and_embeddings_read_the_display_file(project, owner, monkeypatch):
    from webapp.images import embeddings, superpixels

    image = image_import(project=project, name="height.tif", data=float_tiff(gradient16().astype(np.float32)))
    seen = []
    monkeypatch.setattr(superpixels, "superpixel_labels", lambda rgb: seen.append(rgb) or np.zeros(rgb.shape[:2], int))
    superpixels.superpixels_compute(image=image)
    assert np.array_equal(seen[0][..., 0], stored(image.display))
    assert np.array_equal(np.asarray(embeddings._read_rgb(image))[..., 0], stored(image.display))


def test_huge_and_damaged_tiffs_are_refused_with_the_usual_messages(project, owner, settings, media_files):
    data, before = float_tiff(gradient16().astype(np.float32)), media_files()
    with pytest.raises(InvalidUpload) as damaged:
        image_import(project=project, name="cut.tif", data=data[: len(data) // 2])
    assert str(damaged.value) == TRUNCATED.format(name="cut.tif")
    settings.SEGLOOP_MAX_IMAGE_PIXELS = 1000
    with pytest.raises(InvalidUpload) as huge:
        image_import(project=project, name="big.tif", data=data)
    assert str(huge.value) == TOO_MANY_PIXELS.format(name="big.tif", width=64, height=32, limit=1000)
    assert media_files() == before


# ---------------------------------------------------------------- the file views


@pytest.fixture
def scan(project, owner):
    return image_import(project=project, name="scan.png", data=png16(gradient16()), uploaded_by=owner)


def display_url(image, **query):
    url = reverse("images:display", args=[image.project_id, image.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_file_view_serves_the_display_file(client, member, scan):
    client.force_login(member)
    response = client.get(reverse("images:file", args=[scan.project_id, scan.pk]))
    assert response["Content-Type"] == "image/png"
    assert np.array_equal(read_png(b"".join(response.streaming_content)), stored(scan.display))


@pytest.mark.parametrize("user_fixture", ["owner", "member", "reviewer"])
def test_members_get_another_window(user_fixture, request, client, scan):
    client.force_login(request.getfixturevalue(user_fixture))
    response = client.get(display_url(scan, min=2000, max=3000))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    picture = read_png(response.content)
    ramp = gradient16()[0]
    assert np.array_equal(picture[0] == 0, ramp <= 2000) and np.array_equal(picture[0] == 255, ramp >= 3000)


def test_outsider_gets_404_for_a_window(client, outsider, scan):
    client.force_login(outsider)
    assert client.get(display_url(scan, min=2000, max=3000)).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"min": 2000},
        {"min": "x", "max": 3000},
        {"min": 3000, "max": 2000},
        {"min": 0, "max": 3000},
        {"min": 2000, "max": 1e9},
        {"min": "nan", "max": 3000},
        {"min": "1" * 50, "max": 3000},
    ],
)
def test_a_window_outside_the_values_is_refused(client, member, scan, query):
    client.force_login(member)
    response = client.get(display_url(scan, **query))
    assert response.status_code == 400
    assert response.content.decode() == BAD_WINDOW.format(low=1000.0, high=4000.0)


def test_an_image_without_window_has_no_window_view(client, member, make_image):
    client.force_login(member)
    response = client.get(display_url(make_image(), min=0, max=1))
    assert response.status_code == 404 and response.content.decode() == NO_WINDOW


def test_editor_config_carries_the_window(client, member, scan):
    client.force_login(member)
    page = client.get(reverse("annotation:editor", args=[scan.project_id, scan.pk])).content.decode()
    assert '"window": {"low": ' in page and display_url(scan) in page
    assert read_png(png16(gradient16())).dtype == np.uint16  # the fixture really is 16-bit
