"""Dataset export (zip, COCO) and import: a round trip gives back the same label arrays."""

import io
import json
import zipfile

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from webapp.datasets.archive import NOT_A_ZIP
from webapp.datasets.coco import rle_decode
from webapp.datasets.dataset_import import CLASS_MISMATCH
from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.images.services import MaskScores, mask_read, mask_save

pytestmark = pytest.mark.django_db


def random_labels(seed, width=32, height=24):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (height, width), dtype=np.uint8)  # 3 is the ignore class
    return labels


def export(client, project, **params):
    response = client.get(reverse("api:export", kwargs={"project_id": project.pk}), params)
    assert response.status_code == 200, response
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


@pytest.fixture
def dataset(project, make_image):
    """Two human masks, one accepted (confident) pseudo-label, one pseudo-label in review, one unlabeled image."""
    human = [make_image(mask=random_labels(i), name=f"street {i}.png") for i in range(2)]
    accepted, in_review = make_image(), make_image()
    for image, status, seed in ((accepted, ImageStatus.PSEUDO_LABELED, 10), (in_review, ImageStatus.IN_REVIEW, 11)):
        mask_save(
            image=image,
            base_version=0,
            array=random_labels(seed),
            source=MaskSource.PSEUDO,
            status=status,
            scores=MaskScores(0.9, 0.8, 0.1),
        )
    make_image()
    return {"human": human, "accepted": accepted, "in_review": in_review}


def test_zip_holds_images_index_masks_colour_masks_classes_and_coco(api_for, member, project, dataset):
    archive = export(api_for(member), project)
    names = set(archive.namelist())
    assert {"classes.json", "manifest.json", "coco.json"} <= names
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["original_name"] for e in manifest] == ["street 0.png", "street 1.png"]
    first = manifest[0]
    assert first["image"].startswith("images/") and first["image"] in names
    labels = np.array(PILImage.open(io.BytesIO(archive.read(first["mask"]))))
    assert np.array_equal(labels, random_labels(0))
    colours = np.array(PILImage.open(io.BytesIO(archive.read(first["mask_color"]))).convert("RGB"))
    palette = {c.index: c.color for c in project.label_classes.all()}
    y, x = 5, 7
    assert "#{:02x}{:02x}{:02x}".format(*colours[y, x]) == palette[int(labels[y, x])]
    classes = json.loads(archive.read("classes.json"))
    assert classes["ignore_index"] == 3 and classes["masks"] == "human"
    assert [c["name"] for c in classes["classes"]] == ["background", "road", "car", "void"]


def test_coco_rle_decodes_to_each_class_and_leaves_out_the_ignore_class(api_for, member, project, dataset):
    coco = json.loads(export(api_for(member), project).read("coco.json"))
    assert [c["name"] for c in coco["categories"]] == ["background", "road", "car"]
    image_id = dataset["human"][0].pk
    labels = random_labels(0)
    mine = [a for a in coco["annotations"] if a["image_id"] == image_id]
    assert sorted(a["category_id"] for a in mine) == [1, 2, 3]
    for annotation in mine:
        binary = rle_decode(annotation["segmentation"])
        assert np.array_equal(binary, labels == annotation["category_id"] - 1)
        assert annotation["area"] == int(binary.sum())
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])


def test_human_plus_pseudo_adds_accepted_pseudo_labels_only(api_for, member, project, dataset):
    human = json.loads(export(api_for(member), project).read("manifest.json"))
    both = json.loads(export(api_for(member), project, masks="human+pseudo").read("manifest.json"))
    assert len(human) == 2
    assert [e["mask_source"] for e in both] == ["human", "human", "pseudo"]
    every = json.loads(export(api_for(member), project, include_unlabeled="true").read("manifest.json"))
    assert len(every) == 5 and sum(e["mask"] is None for e in every) == 3


def test_unknown_mask_choice_is_400(api_for, member, project):
    response = api_for(member).get(reverse("api:export", kwargs={"project_id": project.pk}), {"masks": "all"})
    assert response.status_code == 400
    assert response.json() == {"detail": "masks must be one of: human, human+pseudo."}


def test_coco_endpoint_matches_the_zips_annotations(api_for, member, project, dataset):
    client = api_for(member)
    alone = client.get(reverse("api:export-coco", kwargs={"project_id": project.pk}), {"masks": "human+pseudo"}).json()
    inside = json.loads(export(client, project, masks="human+pseudo").read("coco.json"))
    assert alone["annotations"] == inside["annotations"]


def create_copy(client, project) -> int:
    classes = [{"name": c.name, "color": c.color, "is_ignore": c.is_ignore} for c in project.label_classes.all()]
    response = client.post(reverse("api:project-list"), {"name": "Copy", "classes": classes}, format="json")
    assert response.status_code == 201
    return response.json()["id"]


def test_export_then_import_gives_back_the_same_masks(api_for, owner, project, dataset):
    client = api_for(owner)
    response = client.get(
        reverse("api:export", kwargs={"project_id": project.pk}), {"masks": "human+pseudo", "include_unlabeled": "true"}
    )
    buffer = io.BytesIO(b"".join(response.streaming_content))
    buffer.name = "dataset.zip"
    copy_id = create_copy(client, project)
    response = client.post(
        reverse("api:import", kwargs={"project_id": copy_id}), {"file": buffer, "confirm": "true"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["failed"]) == (5, 0)
    originals = {i.checksum: i for i in project.images.all()}
    imported = Image.objects.filter(project_id=copy_id).select_related("current_mask")
    assert len(imported) == 5
    for image in imported:
        source = originals[image.checksum]
        assert image.original_name == source.original_name
        exported = source.current_mask is not None and source.status != ImageStatus.IN_REVIEW
        if exported:
            assert np.array_equal(mask_read(image.current_mask), mask_read(source.current_mask))
            assert image.current_mask.source == MaskSource.HUMAN
        else:
            assert image.current_mask is None


def test_import_refuses_a_zip_whose_classes_differ_and_stores_nothing(api_for, owner, project, dataset):
    from webapp.projects.services import ClassSpec, project_create

    client = api_for(owner)
    archive = b"".join(client.get(reverse("api:export", kwargs={"project_id": project.pk})).streaming_content)
    other = project_create(owner=owner, name="Other", classes=[ClassSpec("background"), ClassSpec("tree")])
    upload = io.BytesIO(archive)
    upload.name = "d.zip"
    response = client.post(
        reverse("api:import", kwargs={"project_id": other.pk}), {"file": upload, "confirm": "true"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == CLASS_MISMATCH.format(
        problems="; ".join(
            [
                "index 1 is “road” in the zip but “tree” here",
                "index 2 is “car” in the zip but no class here",
                "index 3 is “void” in the zip but no class here",
            ]
        )
    )
    assert not other.images.exists()


def test_import_of_a_non_zip_is_400(api_for, owner, project):
    upload = io.BytesIO(b"hello")
    upload.name = "d.zip"
    response = api_for(owner).post(
        reverse("api:import", kwargs={"project_id": project.pk}),
        {"file": upload, "confirm": "true"},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": NOT_A_ZIP}
