"""Zip import against hostile and broken archives: all or nothing, limits read from the central
directory before any member is, clear 400s for encrypted members and names that climb out."""

import io
import json
import struct
import zipfile

import numpy as np
import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import mask_png, noise_png
from tests.webapp.hostile_files import claiming_size, encrypted, png_bomb, truncated, zip_of
from tests.webapp.images.conftest import media_files  # noqa: F401  (a fixture)
from webapp.datasets import dataset_import
from webapp.datasets.archive import (
    BAD_JSON,
    DIRECTORY_TOO_LARGE,
    ENCRYPTED_MEMBER,
    MAX_DIRECTORY_BYTES,
    MAX_MEMBERS,
    MAX_TOTAL_BYTES,
    TOO_LARGE_TOTAL,
    TOO_MANY_MEMBERS,
    UNSAFE_NAME,
    UNSUPPORTED_METHOD,
)
from webapp.datasets.dataset_import import CLASS_MISMATCH, DUPLICATE_IN_ZIP, NOTHING_IMPORTED
from webapp.images.models import Image, Mask
from webapp.images.validation import MASK_TOO_LARGE, TOO_MANY_PIXELS_UNKNOWN, TRUNCATED, pixel_limit

pytestmark = pytest.mark.django_db

CLASSES = {"classes": [{"index": i, "name": n} for i, n in enumerate(["background", "road", "car", "void"])]}


def labels(seed):
    return np.random.default_rng(seed).integers(0, 3, (24, 32), dtype=np.uint8)


def dataset(count=3, **extra) -> dict[str, bytes]:
    """classes.json and `count` images with masks, in the layout without a manifest."""
    members = {"classes.json": json.dumps(CLASSES).encode()}
    for i in range(count):
        members[f"images/street{i}.png"] = noise_png(32, 24, seed=100 + i)
        members[f"masks/street{i}.png"] = mask_png(labels(i))
    members.update(extra)
    return members


def post(client, project, data: bytes):
    upload = io.BytesIO(data)
    upload.name = "dataset.zip"
    return client.post(
        reverse("api:import", kwargs={"project_id": project.pk}),
        {"file": upload, "confirm": "true"},
        format="multipart",
    )


@pytest.fixture
def client(api_for, member):
    return api_for(member)


@pytest.fixture
def nothing_stored(project, media_files):
    """After the test: no image, mask or file arrived."""
    before = media_files()
    yield
    assert not Image.objects.filter(project=project).exists()
    assert not Mask.objects.filter(image__project=project).exists()
    assert media_files() == before


def test_a_good_zip_is_imported_whole(client, project):
    response = post(client, project, zip_of(dataset(3)))
    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["failed"]) == (3, 0)
    assert Image.objects.filter(project=project, current_mask__isnull=False).count() == 3


# ------------------------------------------------------------------ all or nothing


@pytest.mark.parametrize("bit_depth", [1, 8])
def test_a_mask_bomb_after_good_images_stores_nothing(bit_depth, client, project, nothing_stored):
    members = dataset(3)
    members["masks/street2.png"] = png_bomb(bit_depth=bit_depth)
    response = post(client, project, zip_of(members))
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == NOTHING_IMPORTED.format(failed=1, total=3)
    assert body["results"] == [
        {"name": "street2.png", "image": None, "error": MASK_TOO_LARGE.format(limit=pixel_limit(), iw=32, ih=24)}
    ]


def test_an_image_bomb_and_a_truncated_image_are_both_reported_and_nothing_stored(client, project, nothing_stored):
    members = dataset(3)
    members["images/street0.png"] = png_bomb()
    members["images/street1.png"] = truncated(members["images/street1.png"])
    body = post(client, project, zip_of(members)).json()
    assert body["detail"] == NOTHING_IMPORTED.format(failed=2, total=3)
    assert [r["error"] for r in body["results"]] == [
        TOO_MANY_PIXELS_UNKNOWN.format(name="street0.png", limit=pixel_limit()),
        TRUNCATED.format(name="street1.png"),
    ]


def test_the_same_image_twice_in_a_zip_stores_nothing(client, project, nothing_stored):
    members = dataset(2)
    members["images/street9.png"] = members["images/street0.png"]
    body = post(client, project, zip_of(members)).json()
    assert body["results"][0]["error"] == DUPLICATE_IN_ZIP.format(name="street9.png", other="street0.png")


def test_a_failure_while_storing_rolls_back_rows_and_files(client, project, nothing_stored, monkeypatch):
    """A refusal that only storing finds (a concurrent upload of the same file) undoes the rest."""
    real_import = dataset_import.image_import
    calls = []

    def import_then_fail(**kwargs):
        calls.append(kwargs["name"])
        if len(calls) == 3:
            raise dataset_import.InvalidUpload("street2.png: the same image is already in this project.")
        return real_import(**kwargs)

    monkeypatch.setattr(dataset_import, "image_import", import_then_fail)
    response = post(client, project, zip_of(dataset(3)))
    assert response.status_code == 400 and len(calls) == 3
    assert response.json()["results"][0]["error"].startswith("street2.png")


def test_a_crash_while_storing_rolls_back_rows_and_files(project, member, media_files, monkeypatch):
    before = media_files()
    real_import = dataset_import.image_import
    calls = []

    def import_then_crash(**kwargs):
        calls.append(kwargs["name"])
        if len(calls) == 2:
            raise OSError("disk full")
        return real_import(**kwargs)

    monkeypatch.setattr(dataset_import, "image_import", import_then_crash)
    with pytest.raises(OSError):
        dataset_import.dataset_import(project=project, archive_file=io.BytesIO(zip_of(dataset(3))), user=member)
    assert not Image.objects.filter(project=project).exists() and media_files() == before


# ------------------------------------------------------------------ the archive itself


def test_an_encrypted_member_is_a_clear_400(client, project, nothing_stored):
    archive = encrypted(zip_of(dataset(2)), "images/street1.png")
    response = post(client, project, archive)
    assert response.status_code == 400
    assert response.json() == {"detail": ENCRYPTED_MEMBER.format(name="“images/street1.png”")}


def test_a_central_directory_claiming_a_huge_total_is_refused_before_any_member_is_read(
    client, project, nothing_stored, monkeypatch
):
    members = dataset(1, **{f"images/big{i}.png": b"x" for i in range(60)})
    archive = zip_of(members)
    for i in range(60):  # each under the per-member limit, together over the total
        archive = claiming_size(archive, f"images/big{i}.png", 45 * 2**20)
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: read.append(a) or pytest.fail("a member was read"))
    response = post(client, project, archive)
    assert response.status_code == 400
    total = 60 * 45 * 2**20 + sum(len(v) for k, v in members.items() if "big" not in k)
    limit = MAX_TOTAL_BYTES / 2**20
    assert response.json() == {"detail": TOO_LARGE_TOTAL.format(size_mb=total / 2**20, limit_mb=limit)}
    assert not read


def test_too_many_members_are_refused_before_any_member_is_read(client, project, nothing_stored, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in range(MAX_MEMBERS + 1):
            archive.writestr(f"masks_color/{i}.png", b"")
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("a member was read"))
    response = post(client, project, buffer.getvalue())
    assert response.json() == {"detail": TOO_MANY_MEMBERS.format(count=MAX_MEMBERS + 1, limit=MAX_MEMBERS)}


@pytest.mark.parametrize(
    "field, value, message",
    [
        (10, 60_000, lambda: TOO_MANY_MEMBERS.format(count=60_000, limit=MAX_MEMBERS)),
        (12, 2**31, lambda: DIRECTORY_TOO_LARGE.format(size_mb=2**31 / 2**20, limit_mb=MAX_DIRECTORY_BYTES / 2**20)),
    ],
)
def test_an_end_record_declaring_a_huge_directory_is_refused_before_it_is_parsed(
    field, value, message, client, project, nothing_stored, monkeypatch
):
    archive = bytearray(zip_of(dataset(1)))
    end = archive.rfind(b"PK\x05\x06")
    struct.pack_into("<H" if field == 10 else "<I", archive, end + field, value)
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: pytest.fail("the directory was parsed"))
    assert post(client, project, bytes(archive)).json() == {"detail": message()}


def test_a_real_deflate_bomb_within_the_limits_costs_bounded_work_and_stores_nothing(client, project, nothing_stored):
    """Members of zeros at about 1000:1: each is inflated once, refused as not an image."""
    archive = zip_of(dataset(0, **{f"images/bomb{i}.png": bytes(16 * 2**20) for i in range(4)}))
    assert len(archive) < 200_000
    body = post(client, project, archive).json()
    assert body["detail"] == NOTHING_IMPORTED.format(failed=4, total=4)


@pytest.mark.parametrize(
    "name",
    [
        "../../evil.png",
        "/etc/evil.png",
        "images/../../evil.png",
        "images\\..\\..\\evil.png",
        "C:/evil.png",
        "images/evil\x1b[2J.png",  # a terminal escape in a name shown in messages and logs
    ],
)
def test_names_that_climb_out_of_the_archive_are_refused(name, client, project, nothing_stored):
    members = dataset(1)
    members[name] = noise_png(32, 24, seed=7)
    manifest = [{"image": "images/street0.png", "mask": "masks/street0.png"}, {"image": name}]
    members["manifest.json"] = json.dumps(manifest).encode()
    response = post(client, project, zip_of(members))
    assert response.status_code == 400
    shown = "“" + name.encode("unicode_escape").decode("ascii") + "”"
    assert response.json() == {"detail": UNSAFE_NAME.format(name=shown)}


def test_an_original_name_with_folders_is_kept_as_its_last_part(client, project):
    members = dataset(1)
    members["manifest.json"] = json.dumps(
        [{"image": "images/street0.png", "mask": "masks/street0.png", "original_name": "../../../etc/passwd.png"}]
    ).encode()
    assert post(client, project, zip_of(members)).status_code == 201
    assert Image.objects.get(project=project).original_name == "passwd.png"


def test_bzip2_members_are_refused_as_an_unsupported_method(client, project, nothing_stored):
    response = post(client, project, zip_of(dataset(1), method=zipfile.ZIP_BZIP2))
    assert response.json() == {"detail": UNSUPPORTED_METHOD.format(name="“classes.json”")}


@pytest.mark.parametrize(
    "classes, problem",
    [
        ({"classes": [{"index": [1], "name": "road"}]}, "each class needs a whole-number index and a name"),
        ({"classes": [{"index": 1, "name": {"x": 1}}]}, "each class needs a whole-number index and a name"),
    ],
)
def test_classes_of_the_wrong_types_are_a_mismatch_not_a_crash(classes, problem, client, project, nothing_stored):
    response = post(client, project, zip_of(dataset(1, **{"classes.json": json.dumps(classes).encode()})))
    assert response.json() == {"detail": CLASS_MISMATCH.format(problems=problem)}


def test_deeply_nested_json_is_bad_json_not_a_crash(client, project, nothing_stored):
    response = post(client, project, zip_of(dataset(1, **{"manifest.json": b"[" * 200_000})))
    assert response.json() == {"detail": BAD_JSON.format(name="manifest.json")}


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    damage=st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(["flip", "cut", "insert"]), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=4,
    )
)
def test_a_damaged_zip_is_imported_whole_or_refused_with_a_message(damage, project, member):
    data = bytearray(zip_of(dataset(2)))
    for at, action, noise in damage:
        at %= len(data)
        if action == "flip":
            data[at] ^= noise[0] or 1
        elif action == "cut":
            del data[at : at + len(noise) * 8]
        else:
            data[at:at] = noise
    try:
        report = dataset_import.dataset_import(project=project, archive_file=io.BytesIO(bytes(data)), user=member)
    except dataset_import.InvalidDataset:
        return
    assert report["created"] in (0, 2) and all(isinstance(r["error"], (str, type(None))) for r in report["results"])
