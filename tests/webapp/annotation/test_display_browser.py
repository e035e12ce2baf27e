"""A TIFF and a 16-bit PNG in real Chromium's editor: the picture shown is the display file,
pixel for pixel, and the window control re-renders the 16-bit image."""

import numpy as np
import pytest
from django.urls import reverse

from tests.webapp.images.pictures import gradient16, png16, read_png, rgb_tiff
from webapp.images.services import image_import

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The stage's <img> drawn into a canvas: the pixels Chromium decoded and shows under the mask.
SHOWN_PIXELS = """img => new Promise(resolve => {
  const read = () => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    resolve({ width: canvas.width, height: canvas.height,
              rgba: Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data) });
  };
  if (img.complete && img.naturalWidth) read(); else img.addEventListener("load", read, { once: true });
})"""


def shown(page) -> np.ndarray:
    result = page.locator("[data-stage] img").evaluate(SHOWN_PIXELS)
    return np.array(result["rgba"], dtype=np.uint8).reshape(result["height"], result["width"], 4)


def open_editor(page, live_server, image):
    page.goto(live_server.url + reverse("annotation:editor", args=[image.project_id, image.pk]))
    page.wait_for_selector("[data-editor][data-ready]")
    return page


def test_tiff_and_16_bit_png_are_shown_in_the_editor(page_for, live_server, project, member):
    tiff = image_import(project=project, name="photo.tif", data=rgb_tiff(40, 30))
    page = open_editor(page_for(member), live_server, tiff)
    pixels = shown(page)
    assert pixels.shape == (30, 40, 4) and (pixels[..., 3] == 255).all()
    assert tuple(pixels[5, 5, :3]) == (220, 40, 40) and tuple(pixels[5, 35, :3]) == (40, 40, 220)
    assert page.locator("[data-window]").count() == 0  # an 8-bit TIFF has no window

    scan = image_import(project=project, name="scan.png", data=png16(gradient16(64, 32, 1000, 4000)))
    page = open_editor(page, live_server, scan)
    with scan.display.open("rb") as handle:
        display = read_png(handle.read())
    pixels = shown(page)
    assert np.array_equal(pixels[..., 0], display) and np.array_equal(pixels[..., 2], display)
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255 and 60 < pixels[0, 32, 0] < 200  # not clipped

    # A narrower window: values up to 2500 black, from 3000 white.
    page.locator("[data-low-value]").fill("2500")
    page.locator("[data-low-value]").dispatch_event("change")
    page.locator("[data-high-value]").fill("3000")
    page.locator("[data-high-value]").dispatch_event("change")
    page.wait_for_function("() => document.querySelector('[data-stage] img').src.includes('max=3000')")
    page.wait_for_function("() => document.querySelector('[data-stage] img').complete")
    ramp = gradient16(64, 32, 1000, 4000)[0]
    windowed = shown(page)[0, :, 0]
    assert np.array_equal(windowed == 0, ramp <= 2500) and np.array_equal(windowed == 255, ramp >= 3000)
    assert page.locator("[data-window]").get_attribute("data-window") == "2500,3000"
    page.get_by_role("button", name="Reset window").click()
    page.wait_for_function("() => !document.querySelector('[data-stage] img').src.includes('min=')")
    assert np.array_equal(shown(page)[..., 0], display)
    assert page.js_errors == []
