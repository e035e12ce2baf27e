"""A folder upload through the page: masks pair with images by name, every refusal is reported
per file, a pair is all or nothing, and a dataset zip is analysed before it is stored."""

import io
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import mask_png, noise_png
from webapp.datasets.folder import HIDDEN, MASK_AMBIGUOUS, MASK_REFUSED, MASK_WITHOUT_IMAGE, clean_path, is_mask
from webapp.images.models import Image
from webapp.images.services import mask_read
from webapp.images.validation import MASK_UNKNOWN_CLASSES, NOT_AN_IMAGE

pytestmark = pytest.mark.django_db


def labels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, (24, 32), dtype=np.uint8)


def upload(client, project, files: dict[str, bytes], **fields):
    """POST as the page's module does: every file under "files", its relative path under "paths"."""
    payload = {
        "files": [SimpleUploadedFile(path.rsplit("/", 1)[-1], data) for path, data in files.items()],
        "paths": list(files),
        **fields,
    }
    return client.post(reverse("images:upload", args=[project.id]), payload, headers={"HX-Request": "true"})


@pytest.fixture
def logged_in(client, member):
    client.force_login(member)
    return client


def test_masks_pair_by_folder_or_suffix_and_refusals_are_reported_per_file(logged_in, project):
    files = {
        "shoot/a.png": noise_png(seed=1),
        "shoot/masks/a.png": mask_png(labels(1)),
        "shoot/b.jpg.png": noise_png(seed=2),
        "shoot/c.png": noise_png(seed=3),
        "shoot/c_mask.png": mask_png(labels(3)),
        "shoot/masks/orphan.png": mask_png(labels(4)),
        "shoot/notes.txt": b"not an image",
        "shoot/.DS_Store": b"\0",
    }
    page = upload(logged_in, project, files).content.decode()
    assert "3 created, 2 refused" in page
    assert MASK_WITHOUT_IMAGE.format(path="shoot/masks/orphan.png", stem="orphan") in page
    assert NOT_AN_IMAGE.format(name="notes.txt") in page
    assert HIDDEN.format(path="shoot/.DS_Store") in page
    stored = {i.original_name: i for i in Image.objects.filter(project=project).select_related("current_mask")}
    assert set(stored) == {"a.png", "b.jpg.png", "c.png"}
    assert np.array_equal(mask_read(stored["a.png"].current_mask), labels(1))
    assert np.array_equal(mask_read(stored["c.png"].current_mask), labels(3))
    assert stored["b.jpg.png"].current_mask is None


def test_an_image_whose_mask_is_refused_is_not_stored(logged_in, project):
    bad = np.full((24, 32), 9, dtype=np.uint8)
    page = upload(logged_in, project, {"a.png": noise_png(seed=1), "masks/a.png": mask_png(bad)}).content.decode()
    reason = MASK_UNKNOWN_CLASSES.format(values=[9], valid="0..3")
    assert MASK_REFUSED.format(image="a.png", path="masks/a.png", reason=reason) in page.replace("&#x27;", "'")
    assert not Image.objects.filter(project=project).exists()


def test_a_mask_matching_two_images_is_refused(logged_in, project):
    files = {"x/a.png": noise_png(seed=1), "y/a.png": noise_png(seed=2), "masks/a.png": mask_png(labels(0))}
    page = upload(logged_in, project, files).content.decode()
    assert MASK_AMBIGUOUS.format(path="masks/a.png", stem="a", names="x/a.png, y/a.png") in page
    assert Image.objects.filter(project=project, current_mask=None).count() == 2


def test_paths_are_cleaned_and_only_pngs_can_be_masks():
    assert clean_path("/../masks\\a.png", "a.png") == "masks/a.png"
    assert clean_path("", "fallback.png") == "fallback.png"
    assert is_mask("Masks/a.png") and is_mask("a_mask.png") and not is_mask("masks/a.jpg")
    assert not is_mask("a.png")


def test_a_dataset_zip_is_analysed_then_stored_on_confirm(logged_in, project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("labelmap.txt", "background:0,0,0::\ntree:0,128,0::\n")
        archive.writestr("JPEGImages/a.png", noise_png(seed=5))
        archive.writestr("SegmentationClass/a.png", mask_png(np.ones((24, 32), np.uint8)))
    data = buffer.getvalue()
    page = upload(logged_in, project, {"voc.zip": data}).content.decode()
    assert "voc dataset: 1 images, 1 with a mask" in page and "Not in this project: tree" in page
    assert "data-upload-confirm" in page and not Image.objects.filter(project=project).exists()
    page = upload(logged_in, project, {"voc.zip": data}, confirm="1").content.decode()
    assert "1 created" in page
    assert (mask_read(Image.objects.get(project=project).current_mask) == project.ignore_index).all()


def test_outsider_gets_404(client, outsider, project):
    client.force_login(outsider)
    assert upload(client, project, {"a.png": noise_png(seed=1)}).status_code == 404
    assert not Image.objects.filter(project=project).exists()
