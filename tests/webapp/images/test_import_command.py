"""`manage.py import_images`: pairs by stem, refuses bad pairs whole, summarises, re-runs safely."""

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.conftest import mask_png, noise_png
from webapp.images.management.commands.import_images import AMBIGUOUS_PROJECT, NO_SUCH_PROJECT, NO_SUCH_USER
from webapp.images.models import Image, ImageStatus, Mask, MaskSource
from webapp.images.validation import MASK_UNKNOWN_CLASSES, MASK_WRONG_SIZE, NOT_AN_IMAGE

pytestmark = pytest.mark.django_db
CAMVID = Path("/work/shared/data/camvid")


def run_import(*args) -> str:
    out = StringIO()
    call_command("import_images", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture
def folders(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    return images, masks


def test_imports_sorted_images_with_masks_paired_by_stem(project, owner, folders):
    images, masks = folders
    for i, name in enumerate(["b.jpg", "a.png", "c.png"]):
        (images / name).write_bytes(noise_png(32, 24, seed=i))  # b.jpg is a PNG: the content counts
    (masks / "a.png").write_bytes(mask_png(np.full((24, 32), 1)))
    (masks / "b.png").write_bytes(mask_png(np.full((24, 32), 2)))
    (images / "notes.txt").write_text("not an image")
    out = run_import(project.id, images, "--masks", masks, "--user", "owner")
    assert list(Image.objects.order_by("id").values_list("original_name", flat=True)) == ["a.png", "b.jpg", "c.png"]
    assert "Created 3 images (2 with a human mask); skipped 0 duplicates; refused 0." in out
    assert "no mask found, imported unlabeled: c.png" in out and "ignored: notes.txt" in out
    a, b, c = Image.objects.order_by("id")
    assert (a.status, b.status, c.status) == (ImageStatus.LABELED, ImageStatus.LABELED, ImageStatus.UNLABELED)
    assert a.current_mask.source == MaskSource.HUMAN and a.current_mask.author == owner and a.uploaded_by == owner
    assert a.thumbnail.name and a.thumbnail.storage.exists(a.thumbnail.name)


def test_rerun_skips_duplicates_and_creates_nothing(project, folders):
    images, _ = folders
    (images / "a.png").write_bytes(noise_png(seed=1))
    run_import(project.name, images)
    out = run_import(project.name, images)
    assert Image.objects.count() == 1
    assert "Created 0 images; skipped 1 duplicates; refused 0." in out and "duplicate, skipped: a.png" in out


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((10, 10)), MASK_WRONG_SIZE.format(mw=10, mh=10, iw=32, ih=24)),
        (np.full((24, 32), 7), MASK_UNKNOWN_CLASSES.format(values=[7], valid="0..3")),
    ],
)
def test_bad_mask_refuses_the_whole_pair(mask, message, project, folders, media_files):
    images, masks = folders
    (images / "bad.png").write_bytes(noise_png(seed=2))
    (images / "good.png").write_bytes(noise_png(seed=3))
    (masks / "bad.png").write_bytes(mask_png(mask))
    (masks / "good.png").write_bytes(mask_png(np.ones((24, 32))))
    before = media_files()
    out = run_import(project.id, images, "--masks", masks)
    assert list(Image.objects.values_list("original_name", flat=True)) == ["good.png"]
    assert f"refused: bad.png: {message}" in out
    assert "Created 1 images (1 with a human mask); skipped 0 duplicates; refused 1." in out
    good = Image.objects.get()
    assert media_files() - before == {
        Path(good.file.path),
        Path(good.thumbnail.path),
        Path(good.current_mask.file.path),
    }


def test_broken_image_is_refused_with_its_message(project, folders):
    images, _ = folders
    (images / "broken.png").write_bytes(b"garbage")
    out = run_import(project.id, images)
    assert f"refused: {NOT_AN_IMAGE.format(name='broken.png')}" in out and not Image.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["404", "."], NO_SUCH_PROJECT.format(value="404")),
        (["Streets", ".", "--user", "ghost"], NO_SUCH_USER.format(value="ghost")),
    ],
)
def test_unknown_project_or_user_stops_before_importing(args, message, project, folders):
    images, _ = folders
    (images / "a.png").write_bytes(noise_png())
    args[1] = str(images)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_images", *args)
    assert not Image.objects.exists()


def test_ambiguous_project_name_asks_for_the_id(project, owner, folders):
    from webapp.projects.services import ClassSpec, project_create

    twin = project_create(owner=owner, name="Streets", classes=[ClassSpec("background")])
    with pytest.raises(CommandError) as error:
        call_command("import_images", "Streets", str(folders[0]))
    assert str(error.value) == AMBIGUOUS_PROJECT.format(value="Streets", ids=f"{project.id}, {twin.id}")


@pytest.mark.slow
@pytest.mark.camvid
@pytest.mark.skipif(not (CAMVID / "train").is_dir(), reason="CamVid is not in /work/shared/data/camvid")
def test_camvid_train_imports_367_images_with_367_human_masks(owner):
    call_command("create_project", "CamVid", "--owner", "owner", "--preset", "camvid", stdout=StringIO())
    out = run_import("CamVid", CAMVID / "train", "--masks", CAMVID / "trainannot", "--user", "owner")
    assert "Created 367 images (367 with a human mask); skipped 0 duplicates; refused 0." in out
    assert Image.objects.filter(project__name="CamVid", status=ImageStatus.LABELED).count() == 367
    assert Mask.objects.filter(image__project__name="CamVid", source=MaskSource.HUMAN).count() == 367
    assert set(Image.objects.values_list("width", "height")) == {(480, 360)}
