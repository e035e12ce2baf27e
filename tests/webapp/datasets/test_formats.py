"""Peer formats in both directions, checked by the peers' own readers: pycocotools and Datumaro read
our exports with masks equal to ours, and our import reads what Datumaro wrote, mapping classes by name."""

import io
import json
import re
import zipfile
from pathlib import Path

import datumaro as dm
import numpy as np
import pytest
from datumaro.components.annotation import AnnotationType, LabelCategories, Mask, MaskCategories
from datumaro.components.dataset_base import DatasetItem
from datumaro.components.media import Image as DmImage
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image as PILImage
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from tests.conftest import noise_png
from tests.webapp.hostile_files import png_bomb
from webapp.datasets.coco import COCO_BAD_SEGMENTATION, COCO_SIZE, COCO_TOO_MANY, MAX_ANNOTATIONS
from webapp.datasets.dataset_import import WOULD_REFUSE, dataset_analyse
from webapp.datasets.labels import UNKNOWN_CLASSES_NO_IGNORE, UNKNOWN_COLOURS
from webapp.datasets.voc import BAD_LABELMAP
from webapp.images.management.commands.import_dataset import NOT_CONFIRMED
from webapp.images.models import Image
from webapp.images.models import Mask as MaskRow
from webapp.images.services import mask_read
from webapp.projects.services import ClassSpec, membership_set, project_create

pytestmark = pytest.mark.django_db

NAMES = ["background", "road", "car", "void"]  # the project fixture's classes; void is the ignore class
# Datumaro's format for each of ours (CVAT's "Segmentation mask 1.1" is Datumaro's voc_segmentation
# with colour masks, which is what CVAT itself calls to write it).
DATUMARO_FORMAT = {
    "coco": "coco_instances",
    "voc": "voc_segmentation",
    "cityscapes": "cityscapes",
    "cvat": "voc_segmentation",
}


def labels_for(seed: int, width: int = 32, height: int = 24) -> np.ndarray:
    """Blocks of every class (the ignore class 3 too), so run lengths and borders are exercised."""
    rng = np.random.default_rng(seed)
    labels = np.kron(rng.integers(0, 4, (height // 4, width // 4)), np.ones((4, 4), dtype=np.int64))
    labels[0, :5] = [0, 1, 2, 3, 1]
    return labels.astype(np.uint8)


@pytest.fixture
def labelled(project, make_image):
    """Two images with human masks and one without (left out of every peer export)."""
    images = [make_image(mask=labels_for(i), name=f"street {i}.png") for i in range(2)]
    make_image()
    return {image.original_name: labels_for(i) for i, image in enumerate(images)}


@pytest.fixture
def client(api_for, member):
    return api_for(member)


def export(client, project, fmt: str) -> zipfile.ZipFile:
    response = client.get(reverse("api:export", kwargs={"project_id": project.pk}), {"format": fmt})
    assert response.status_code == 200, response
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def unpack(archive: zipfile.ZipFile, folder: Path) -> Path:
    archive.extractall(folder)
    return folder


def original_name(item_id: str) -> str:
    """Our exports name files <6-digit id>_<safe stem>: "street 0.png" -> "000012_street_0"."""
    stem = Path(item_id).name.split("_", 1)[1]
    return stem.replace("_", " ") + ".png"


def datumaro_label_map(item, label_names: list[str], shape, ignore: int = 3) -> np.ndarray:
    """One label map from an item's masks, in our class indices; pixels no mask covers: ignore."""
    out = np.full(shape, ignore, dtype=np.uint8)
    for annotation in item.annotations:
        if isinstance(annotation, Mask):  # RleMask and ExtractedMask are Masks too
            binary = np.asarray(annotation.image, dtype=bool)
            out[binary] = NAMES.index(label_names[annotation.label])
    return out


# ------------------------------------------------------------------ our exports, read by the peers


def test_pycocotools_decodes_our_coco_export_pixel_for_pixel(client, project, labelled, tmp_path):
    folder = unpack(export(client, project, "coco"), tmp_path)
    coco = COCO(str(folder / "annotations/instances_default.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["background", "road", "car"]
    assert len(coco.getImgIds()) == 2
    for image in coco.loadImgs(coco.getImgIds()):
        assert (folder / "images/default" / image["file_name"]).is_file()
        decoded = np.full((image["height"], image["width"]), 3, dtype=np.uint8)  # uncovered: the ignore class
        for annotation in coco.loadAnns(coco.getAnnIds(imgIds=image["id"])):
            category = coco.loadCats(annotation["category_id"])[0]["name"]
            decoded[coco.annToMask(annotation).astype(bool)] = NAMES.index(category)
        assert np.array_equal(decoded, labelled[original_name(image["file_name"][:-4])])


@pytest.mark.parametrize("fmt", ["coco", "voc", "cityscapes", "cvat"])
def test_datumaro_imports_our_export_with_its_images_classes_and_masks(client, project, labelled, tmp_path, fmt):
    folder = unpack(export(client, project, fmt), tmp_path / fmt)
    dataset = dm.Dataset.import_from(str(folder), DATUMARO_FORMAT[fmt])
    label_names = [label.name for label in dataset.categories()[AnnotationType.label]]
    # COCO has no ignore class (its pixels are those no annotation covers); the others name all four.
    expected = NAMES[:3] if fmt == "coco" else NAMES
    assert sorted(label_names) == sorted(expected)
    items = list(dataset)
    assert len(items) == 2
    for item in items:
        truth = labelled[original_name(item.id)]
        assert np.array_equal(datumaro_label_map(item, label_names, truth.shape), truth), item.id


def test_voc_masks_are_paletted_pngs_listed_in_image_sets(client, project, labelled):
    archive = export(client, project, "voc")
    masks = [n for n in archive.namelist() if n.startswith("SegmentationClass/")]
    assert len(masks) == 2
    mask = PILImage.open(io.BytesIO(archive.read(masks[0])))
    assert mask.mode == "P"
    listed = b"".join(archive.read(n) for n in archive.namelist() if n.startswith("ImageSets/Segmentation/"))
    assert sorted(listed.decode().split()) == sorted(Path(m).stem for m in masks)


def test_cityscapes_writes_label_ids_with_the_id_mapping(client, project, labelled):
    archive = export(client, project, "cityscapes")
    lines = archive.read("label_colors.txt").decode().splitlines()
    # The ignore class is id 0 (Cityscapes' black "unlabeled"), the others follow by index.
    assert [line.split(" ", 3)[3] for line in lines] == ["void", "background", "road", "car"]
    ids_name = next(n for n in archive.namelist() if n.endswith("_gtFine_labelIds.png"))
    ids = np.array(PILImage.open(io.BytesIO(archive.read(ids_name))))
    truth = labelled[original_name(Path(ids_name).name.removesuffix("_gtFine_labelIds.png"))]
    assert np.array_equal(ids, np.array([1, 2, 3, 0], dtype=np.uint8)[truth])


# ------------------------------------------------------------------ what the peers wrote, read by us


@pytest.fixture
def shuffled(owner, member):
    """The same class names at other indices (and colours), so only a mapping by name gets them right."""
    project = project_create(
        owner=owner,
        name="Shuffled",
        classes=[ClassSpec("car"), ClassSpec("road"), ClassSpec("background"), ClassSpec("void", is_ignore=True)],
    )
    membership_set(project=project, user=member, annotator=True)
    return project


def datumaro_dataset(count: int = 2) -> tuple[dm.Dataset, dict[str, np.ndarray]]:
    colours = {0: (0, 0, 0), 1: (128, 64, 128), 2: (0, 0, 142), 3: (255, 255, 255)}
    items, truths = [], {}
    for i in range(count):
        labels = labels_for(20 + i)
        pixels = np.array(PILImage.open(io.BytesIO(noise_png(32, 24, seed=500 + i))).convert("RGB"))
        annotations = [Mask(image=labels == k, label=k, id=k + 1) for k in np.unique(labels).tolist()]
        items.append(
            DatasetItem(
                id=f"frame{i}",
                subset="default",
                media=DmImage.from_numpy(pixels[..., ::-1].copy()),
                annotations=annotations,
            )
        )
        truths[f"frame{i}"] = labels
    categories = {
        AnnotationType.label: LabelCategories.from_iterable(NAMES),
        AnnotationType.mask: MaskCategories(colormap=colours),
    }
    return dm.Dataset.from_iterable(items, categories=categories), truths


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def post_import(client, project, data: bytes, **fields):
    upload = io.BytesIO(data)
    upload.name = "dataset.zip"
    return client.post(
        reverse("api:import", kwargs={"project_id": project.pk}), {"file": upload, **fields}, format="multipart"
    )


def stored_masks(project) -> dict[str, np.ndarray]:
    """Image stem -> its current mask, as the shuffled project's names mapped back to NAMES' indices."""
    back = np.zeros(256, dtype=np.uint8)
    for c in project.label_classes.all():
        back[c.index] = NAMES.index(c.name)
    return {
        Path(image.original_name).stem.removesuffix("_leftImg8bit"): back[mask_read(image.current_mask)]
        for image in Image.objects.filter(project=project).select_related("current_mask")
    }


def cityscapes_by_hand(folder: Path, count: int = 2) -> dict[str, np.ndarray]:
    """Cityscapes as its spec lays it out, with Datumaro's label_colors.txt; Datumaro reads it back
    (checked below) though it cannot write it under Pillow 13 (see the xfail test)."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = ["0 0 0 void", "0 0 255 car", "128 64 128 road", "10 10 10 background"]
    (folder / "label_colors.txt").write_text("\n".join(colours) + "\n")
    truths = {}
    for i in range(count):
        labels = labels_for(20 + i)
        ids = np.array([3, 2, 1, 0], dtype=np.uint8)[labels]  # NAMES' index -> line in label_colors.txt
        (folder / "leftImg8bit/train/bonn").mkdir(parents=True, exist_ok=True)
        (folder / "gtFine/train/bonn").mkdir(parents=True, exist_ok=True)
        (folder / f"leftImg8bit/train/bonn/frame{i}_leftImg8bit.png").write_bytes(noise_png(32, 24, seed=500 + i))
        for suffix in ("labelIds", "instanceIds"):
            PILImage.fromarray(ids).save(folder / f"gtFine/train/bonn/frame{i}_gtFine_{suffix}.png")
        truths[f"frame{i}"] = labels
    return truths


def test_datumaro_reads_the_cityscapes_fixture_as_we_do(tmp_path):
    truths = cityscapes_by_hand(tmp_path)
    dataset = dm.Dataset.import_from(str(tmp_path), "cityscapes")
    label_names = [label.name for label in dataset.categories()[AnnotationType.label]]
    assert sorted(label_names) == sorted(NAMES) and len(dataset) == 2
    for item in dataset:
        truth = truths[Path(item.id).name]
        assert np.array_equal(datumaro_label_map(item, label_names, truth.shape), truth)


@pytest.mark.xfail(
    raises=OSError,
    strict=True,
    reason="Datumaro writes Cityscapes instance ids as int32 PNGs, which Pillow 13 refuses "
    "(Datumaro pins pillow~=12; we pin Pillow 13)",
)
def test_datumaro_cannot_write_cityscapes_under_pillow_13(tmp_path):
    dataset, _ = datumaro_dataset(1)
    dataset.export(str(tmp_path), "cityscapes", save_media=True)


@pytest.mark.parametrize("fmt", ["coco", "voc", "cityscapes", "cvat"])
def test_we_import_what_datumaro_wrote_mapping_classes_by_name(client, shuffled, tmp_path, fmt):
    if fmt == "cityscapes":
        truths = cityscapes_by_hand(tmp_path)
    else:
        dataset, truths = datumaro_dataset()
        options = {"segmentation_mode": "mask"} if fmt == "coco" else {}
        if fmt == "voc":
            options["apply_colormap"] = False  # VOC's class numbers in the PNG; cvat keeps the colours
        dataset.export(str(tmp_path), DATUMARO_FORMAT[fmt], save_media=True, **options)
    data = zipped(tmp_path)

    analysis = post_import(client, shuffled, data, format=fmt)
    assert analysis.status_code == 200, analysis.json()
    report = analysis.json()
    assert report["can_import"] and report["images"] == 2 and not report["confirmed"]
    assert report["classes"]["unknown"] == [] and not Image.objects.filter(project=shuffled).exists()
    assert set(report["classes"]["matched"]) == set(NAMES)  # Datumaro names void as a class of its own

    stored = post_import(client, shuffled, data, format=fmt, confirm="true")
    assert stored.status_code == 201, stored.json()
    assert stored.json()["created"] == 2
    masks = stored_masks(shuffled)
    for name, truth in truths.items():
        assert np.array_equal(masks[name], truth), name
    assert all(m.source == "human" for m in MaskRow.objects.filter(image__project=shuffled))


def test_the_format_is_detected_when_not_named(client, shuffled, tmp_path):
    cityscapes_by_hand(tmp_path / "cityscapes", 1)
    datumaro_dataset(1)[0].export(str(tmp_path / "cvat"), "voc_segmentation", save_media=True)
    for fmt, expected in (("cityscapes", "cityscapes"), ("cvat", "voc")):  # cvat and voc read alike
        report = post_import(client, shuffled, zipped(tmp_path / fmt)).json()
        assert report["format"] == expected and report["can_import"]


def test_our_coco_import_rasterises_polygons_as_pycocotools_does(client, shuffled):
    polygon = [[2.5, 1.0, 28.0, 3.5, 20.0, 21.0, 4.0, 15.5]]
    expected = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(polygon, 24, 32))).astype(bool)
    document = {
        "images": [{"id": 7, "file_name": "shape.png", "width": 32, "height": 24}],
        "categories": [{"id": 1, "name": "road"}, {"id": 2, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "segmentation": polygon, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 7,
                "category_id": 2,
                "iscrowd": 1,
                "segmentation": coco_mask.encode(
                    np.asfortranarray(np.pad(np.ones((3, 3), np.uint8), ((0, 21), (0, 29))))
                ),
            },
        ],
    }
    document["annotations"][1]["segmentation"]["counts"] = document["annotations"][1]["segmentation"]["counts"].decode()
    data = zipped_members(
        {
            "annotations/instances_default.json": json.dumps(document).encode(),
            "images/default/shape.png": noise_png(32, 24, seed=900),
        }
    )
    assert post_import(client, shuffled, data, confirm="true").status_code == 201
    mask = stored_masks(shuffled)["shape"]
    truth = np.full((24, 32), 3, dtype=np.uint8)  # uncovered: the ignore class
    truth[expected] = NAMES.index("road")
    truth[:3, :3] = NAMES.index("car")  # later annotations paint over earlier ones
    assert np.array_equal(mask, truth)


def zipped_members(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ------------------------------------------------------------------ the report, and nothing stored unconfirmed


def voc_zip(names: list[str], labels: np.ndarray, *, seed: int = 700) -> bytes:
    labelmap = "".join(f"{n}:{i},{i},{i}::\n" for i, n in enumerate(names))
    mask = io.BytesIO()
    PILImage.fromarray(labels, mode="L").save(mask, format="PNG")
    return zipped_members(
        {
            "labelmap.txt": labelmap.encode(),
            "JPEGImages/a.png": noise_png(32, 24, seed=seed),
            "SegmentationClass/a.png": mask.getvalue(),
            "ImageSets/Segmentation/train.txt": b"a\n",
        }
    )


def test_unknown_and_missing_classes_are_reported_and_unknown_pixels_go_to_the_ignore_class(client, project):
    labels = np.zeros((24, 32), dtype=np.uint8)
    labels[:, 16:] = 1  # "tree", which the project lacks
    data = voc_zip(["road", "tree"], labels)
    report = post_import(client, project, data).json()
    assert report["classes"]["unknown"] == ["tree"]
    assert report["classes"]["missing"] == ["background", "car"]
    assert report["classes"]["unknown_to"] == project.ignore_index and report["can_import"]
    assert not Image.objects.filter(project=project).exists()
    assert post_import(client, project, data, confirm="true").status_code == 201
    stored = mask_read(Image.objects.get(project=project).current_mask)
    assert (stored[:, :16] == 1).all() and (stored[:, 16:] == project.ignore_index).all()


def test_unknown_classes_without_an_ignore_class_block_the_import(client, owner, member):
    plain = project_create(owner=owner, name="Plain", classes=[ClassSpec("road"), ClassSpec("car")])
    membership_set(project=plain, user=member, annotator=True)
    data = voc_zip(["road", "tree"], np.ones((24, 32), dtype=np.uint8))
    report = post_import(client, plain, data).json()
    assert not report["can_import"]
    assert report["detail"] == UNKNOWN_CLASSES_NO_IGNORE.format(names="“tree”")
    refused = post_import(client, plain, data, confirm="true")
    assert refused.status_code == 400 and refused.json()["detail"] == report["detail"]
    assert not Image.objects.filter(project=plain).exists()


def test_an_image_already_here_gets_a_new_mask_version_and_keeps_its_history(client, project, make_image):
    image = make_image(mask=np.zeros((24, 32), dtype=np.uint8), name="a.png")
    first = image.current_mask
    labels = np.zeros((24, 32), dtype=np.uint8)
    labels[:12] = 1
    data = voc_zip(["background", "road"], labels, seed=0)  # make_image's first image is noise seed 0
    response = post_import(client, project, data, confirm="true")
    assert response.status_code == 201 and response.json()["masks_added"] == 1
    image.refresh_from_db()
    assert image.current_mask.version == first.version + 1 and image.current_mask.source == "human"
    assert np.array_equal(mask_read(image.current_mask), labels)
    assert np.array_equal(mask_read(MaskRow.objects.get(pk=first.pk)), np.zeros((24, 32)))
    again = post_import(client, project, data, confirm="true")  # the same mask again: left as it is
    assert again.status_code == 400 and MaskRow.objects.filter(image=image).count() == 2


def test_a_refused_mask_stores_nothing_and_names_the_file(client, project):
    labels = np.zeros((20, 20), dtype=np.uint8)  # not the image's 32x24
    report = post_import(client, project, voc_zip(["road"], labels), confirm="true")
    assert report.status_code == 400
    assert report.json()["results"][0]["error"].startswith("a.png: the mask is 20x20 pixels")
    assert not Image.objects.filter(project=project).exists()


def test_analyse_is_a_service_that_stores_nothing(project):
    report = dataset_analyse(project=project, archive_file=io.BytesIO(voc_zip(["road"], np.zeros((24, 32), np.uint8))))
    assert report["format"] == "voc" and report["with_mask"] == 1 and report["can_import"]
    assert not Image.objects.filter(project=project).exists()


def test_outsider_gets_404_and_a_reviewer_may_not_import(api_for, outsider, reviewer, project):
    data = voc_zip(["road"], np.zeros((24, 32), np.uint8))
    assert post_import(api_for(outsider), project, data).status_code == 404
    assert post_import(api_for(reviewer), project, data, confirm="true").status_code == 403
    assert not Image.objects.filter(project=project).exists()


# ------------------------------------------------------------------ the management command


def test_import_dataset_command_stores_only_with_yes(project, tmp_path):
    labels = np.zeros((24, 32), dtype=np.uint8)
    labels[5:, :] = 2
    path = tmp_path / "voc.zip"
    path.write_bytes(voc_zip(["background", "road", "car"], labels))
    out = io.StringIO()
    call_command("import_dataset", str(project.pk), str(path), stdout=out)
    assert NOT_CONFIRMED in out.getvalue() and "Format: voc; 1 images, 1 with a mask." in out.getvalue()
    assert not Image.objects.filter(project=project).exists()
    call_command("import_dataset", project.name, str(path), "--yes", stdout=io.StringIO())
    assert np.array_equal(mask_read(Image.objects.get(project=project).current_mask), labels)


def test_import_dataset_command_refuses_what_cannot_be_imported(project, tmp_path):
    path = tmp_path / "bad.zip"
    path.write_bytes(voc_zip(["road"], np.zeros((20, 20), dtype=np.uint8)))
    out = io.StringIO()
    with pytest.raises(CommandError, match=re.escape(WOULD_REFUSE.format(failed=1, total=1))):
        call_command("import_dataset", str(project.pk), str(path), "--yes", stdout=out)
    assert "refused: a.png: the mask is 20x20 pixels" in out.getvalue()
    assert not Image.objects.filter(project=project).exists()


# ------------------------------------------------------------------ hostile and broken peer files


def coco_zip(annotations: list[dict], *, width: int = 32, height: int = 24) -> bytes:
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": width, "height": height}],
        "categories": [{"id": 1, "name": "road"}],
        "annotations": annotations,
    }
    return zipped_members(
        {
            "annotations/instances_default.json": json.dumps(document).encode(),
            "images/default/a.png": noise_png(32, 24, seed=901),
        }
    )


@pytest.mark.parametrize(
    "segmentation",
    [
        {"size": [24, 32], "counts": [10, 5]},  # runs that do not cover the image
        {"size": [24, 32], "counts": [-5, 773]},  # a negative run
        {"size": [12, 32], "counts": [384]},  # another size than the image's
        {"size": [24, 32], "counts": "\x7f\x7f"},  # not COCO's run-length alphabet
        [[1, 2, 3]],  # a polygon of fewer than three points
        [[1, 2, 3, "x", 5, 6]],
        "nothing",
    ],
)
def test_a_coco_segmentation_that_is_not_one_is_refused_and_names_the_annotation(client, project, segmentation):
    data = coco_zip([{"id": 4, "image_id": 1, "category_id": 1, "segmentation": segmentation}])
    report = post_import(client, project, data).json()
    assert not report["can_import"]
    assert report["results"][0]["error"] == COCO_BAD_SEGMENTATION.format(name="a.png", id=4)
    assert not Image.objects.filter(project=project).exists()


def test_coco_size_mismatch_and_annotation_floods_are_refused(client, project, settings):
    report = post_import(client, project, coco_zip([], width=64)).json()
    assert report["can_import"]  # no annotation: the image alone, size unchecked
    flood = [
        {"id": i, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]}
        for i in range(MAX_ANNOTATIONS + 1)
    ]
    report = post_import(client, project, coco_zip(flood)).json()
    assert report["results"][0]["error"] == COCO_TOO_MANY.format(
        name="a.png", count=MAX_ANNOTATIONS + 1, limit=MAX_ANNOTATIONS
    )
    wrong = coco_zip([{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]}], width=64)
    report = post_import(client, project, wrong).json()
    assert report["results"][0]["error"] == COCO_SIZE.format(
        name="a.png", json="annotations/instances_default.json", cw=64, ch=24, iw=32, ih=24
    )


@pytest.mark.parametrize(
    "labelmap, message",
    [
        ("road:1,2::\n", BAD_LABELMAP.format(line=1, problem="the colour must be r,g,b from 0 to 255")),
        ("road:0,0,0:\n", BAD_LABELMAP.format(line=1, problem="four ':'-separated fields are needed")),
    ],
)
def test_a_broken_labelmap_is_refused_whole(client, project, labelmap, message):
    data = zipped_members(
        {"labelmap.txt": labelmap.encode(), "SegmentationClass/a.png": b"", "JPEGImages/a.png": noise_png(seed=3)}
    )
    response = post_import(client, project, data)
    assert response.status_code == 400 and response.json()["detail"] == message


def test_a_colour_mask_with_colours_the_labelmap_lacks_is_refused(client, project):
    rgb = io.BytesIO()
    PILImage.fromarray(np.full((24, 32, 3), 77, dtype=np.uint8)).save(rgb, format="PNG")
    data = zipped_members(
        {
            "labelmap.txt": b"road:0,0,0::\n",
            "JPEGImages/a.png": noise_png(seed=3),
            "SegmentationClass/a.png": rgb.getvalue(),
        }
    )
    report = post_import(client, project, data).json()
    assert report["results"][0]["error"] == UNKNOWN_COLOURS.format(name="a.png", colours="#4d4d4d")


def test_a_mask_bomb_in_a_peer_format_is_refused_by_the_guarded_decoder(client, project):
    data = zipped_members(
        {
            "labelmap.txt": b"road:0,0,0::\n",
            "JPEGImages/a.png": noise_png(seed=3),
            "SegmentationClass/a.png": png_bomb(),
        }
    )
    report = post_import(client, project, data).json()
    assert not report["can_import"] and "pixels" in report["results"][0]["error"]
    assert not Image.objects.filter(project=project).exists()


@pytest.mark.parametrize("fmt", ["coco", "voc", "cityscapes", "cvat"])
def test_our_export_imports_into_another_project_with_the_classes_elsewhere(client, project, labelled, shuffled, fmt):
    response = client.get(reverse("api:export", kwargs={"project_id": project.pk}), {"format": fmt})
    data = b"".join(response.streaming_content)
    assert post_import(client, shuffled, data, confirm="true").status_code == 201
    masks = {name.split("_", 1)[1].replace("_", " ") + ".png": mask for name, mask in stored_masks(shuffled).items()}
    assert masks.keys() == labelled.keys()
    for name, truth in labelled.items():
        assert np.array_equal(masks[name], truth), name
