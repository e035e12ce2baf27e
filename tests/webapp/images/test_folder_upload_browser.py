"""A whole folder through the upload page in Chromium: the folder picker (webkitdirectory) sends
every file with its path, the report shows the one refused file and why, and the rest is stored
(the image with its mask from masks/)."""

import zipfile

import numpy as np
import pytest
from django.urls import reverse

from tests.conftest import mask_png, noise_png
from tests.webapp.annotation.conftest import browser, page_for  # noqa: F401  (fixtures)
from webapp.images.models import Image
from webapp.images.services import mask_read
from webapp.images.validation import NOT_AN_IMAGE


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_folder_upload_reports_the_refused_file_and_stores_the_rest(page_for, live_server, project, member, tmp_path):
    folder = tmp_path / "shoot"
    (folder / "masks").mkdir(parents=True)
    labels = np.zeros((48, 64), dtype=np.uint8)
    labels[:, 32:] = 2
    (folder / "street.png").write_bytes(noise_png(64, 48, seed=1))
    (folder / "masks/street.png").write_bytes(mask_png(labels))
    (folder / "square.png").write_bytes(noise_png(40, 40, seed=2))
    (folder / "broken.png").write_bytes(b"no image here")

    page = page_for(member)
    page.goto(live_server.url + reverse("images:upload", args=[project.id]))
    page.set_input_files("[data-upload-folder]", str(folder))
    assert page.inner_text("[data-upload-chosen]") == "4 files chosen."
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-results h2")

    assert page.inner_text("#upload-results h2") == "2 created, 1 refused"
    assert page.locator("[data-result=refused]").inner_text().endswith(NOT_AN_IMAGE.format(name="broken.png"))
    assert "with mask shoot/masks/street.png" in page.locator("[data-result=created]").first.inner_text()
    assert page.eval_on_selector("#upload-progress progress", "bar => bar.value") == 100
    assert page.js_errors == []
    stored = {i.original_name: i for i in Image.objects.filter(project=project).select_related("current_mask")}
    assert set(stored) == {"street.png", "square.png"}
    assert np.array_equal(mask_read(stored["street.png"].current_mask), labels)
    assert stored["square.png"].current_mask is None


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_dataset_zip_is_analysed_and_stored_only_after_confirm(page_for, live_server, project, member, tmp_path):
    path = tmp_path / "cvat.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("labelmap.txt", "background:0,0,0::\nroad:128,64,128::\n")
        archive.writestr("JPEGImages/a.png", noise_png(32, 24, seed=7))
        archive.writestr("SegmentationClass/a.png", mask_png(np.ones((24, 32), dtype=np.uint8)))
        archive.writestr("ImageSets/Segmentation/default.txt", "a\n")

    page = page_for(member)
    page.goto(live_server.url + reverse("images:upload", args=[project.id]))
    page.set_input_files("input[name=files]", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("[data-dataset-report] h2")
    assert page.inner_text("[data-dataset-report] h2") == "voc dataset: 1 images, 1 with a mask"
    assert "car" in page.inner_text("[data-dataset-report]")  # the project's class the zip lacks
    assert not Image.objects.filter(project=project).exists()

    page.click("[data-upload-confirm]")
    page.wait_for_function("() => document.querySelector('[data-dataset-report] h2').textContent.includes('created')")
    assert page.inner_text("[data-dataset-report] h2") == "1 created, 0 refused"
    assert page.js_errors == []
    assert (mask_read(Image.objects.get(project=project).current_mask) == 1).all()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_folder_over_the_file_limit_is_stopped_in_the_page(
    page_for, live_server, project, member, tmp_path, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2  # Django would refuse the request whole
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(noise_png(16, 16, seed=i))
    page = page_for(member)
    page.goto(live_server.url + reverse("images:upload", args=[project.id]))
    page.set_input_files("[data-upload-folder]", str(tmp_path))
    assert page.inner_text("[data-upload-chosen]").startswith("3 files chosen; at most 2 go in one upload")
    assert page.is_disabled("#upload-form button[type=submit]")
