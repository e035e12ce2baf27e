"""The editor's page and endpoints: who may do what, saving, conflicts, bad masks, prefill, next."""

import io
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from tests.conftest import mask_png, png_bytes
from webapp.annotation import services, views
from webapp.images.models import ImageStatus, Mask, MaskSource
from webapp.images.services import MaskScores, mask_save
from webapp.images.validation import MASK_NOT_PNG, MASK_NOT_SINGLE_CHANNEL, MASK_UNKNOWN_CLASSES, MASK_WRONG_SIZE

pytestmark = pytest.mark.django_db

VOID = 3  # the fixture project's ignore class


def url(name, image, **extra):
    return reverse(f"annotation:{name}", kwargs={"project_id": image.project_id, "image_id": image.id, **extra})


def read_png(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as png:
        assert png.mode == "L"
        return np.array(png)


def post_mask(client, image, array, *, base_version=0, editing_seconds="12.5"):
    upload = io.BytesIO(mask_png(array))
    upload.name = "mask.png"
    return client.post(
        url("save", image), {"mask": upload, "base_version": base_version, "editing_seconds": editing_seconds}
    )


@pytest.fixture
def image(make_image):
    return make_image(20, 10)


# ---------------------------------------------------------------- the editor page


def test_member_sees_editor_with_image_size_classes_and_urls(client, member, image):
    client.force_login(member)
    response = client.get(url("editor", image))
    assert response.status_code == 200
    config = response.context["config"]
    assert (config["width"], config["height"], config["canEdit"], config["unpainted"]) == (20, 10, True, VOID)
    assert [c["name"] for c in config["classes"]] == ["background", "road", "car", "void"]
    assert config["urls"]["save"] == url("save", image)
    assert b"data-editor" in response.content and b"js/editor/main.js" in response.content


def test_reviewer_opens_editor_read_only_with_save_disabled(client, reviewer, image):
    client.force_login(reviewer)
    response = client.get(url("editor", image))
    assert response.status_code == 200
    assert response.context["config"]["canEdit"] is False
    html = response.content.decode()
    assert 'data-save title="Save (Ctrl+S)" disabled' in html
    assert "data-read-only" in html


def test_member_without_annotator_or_reviewer_role_gets_403(client, member, project, image):
    from webapp.projects.services import membership_set

    membership_set(project=project, user=member, annotator=False, reviewer=False)
    client.force_login(member)
    response = client.get(url("editor", image))
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["editor", "mask", "prefill"])
def test_outsider_gets_404_on_every_read(client, outsider, image, name):
    client.force_login(outsider)
    assert client.get(url(name, image)).status_code == 404


def test_anonymous_user_is_sent_to_login(client, image):
    response = client.get(url("editor", image))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_image_of_another_project_is_not_found(client, owner, member, image, make_image):
    from webapp.projects.services import ClassSpec, project_create

    other = project_create(owner=owner, name="Other", classes=[ClassSpec("a"), ClassSpec("b")])
    foreign = make_image(target=other)
    client.force_login(member)
    wrong = reverse("annotation:editor", kwargs={"project_id": image.project_id, "image_id": foreign.id})
    assert client.get(wrong).status_code == 404


# ---------------------------------------------------------------- reading the mask


def test_image_without_mask_starts_all_unpainted_at_version_0(client, member, image):
    client.force_login(member)
    response = client.get(url("mask", image))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Mask-Version"] == "0"
    labels = read_png(response.content)
    assert labels.shape == (10, 20) and (labels == VOID).all()


def test_project_without_ignore_class_starts_at_class_0(client, owner, make_image):
    from webapp.projects.services import ClassSpec, project_create

    plain = project_create(owner=owner, name="Plain", classes=[ClassSpec("sky"), ClassSpec("tree")])
    image = make_image(8, 6, target=plain)
    client.force_login(owner)
    assert (read_png(client.get(url("mask", image)).content) == 0).all()


def test_current_mask_comes_with_its_version_and_is_not_cached(client, reviewer, make_image):
    array = np.zeros((10, 20), dtype=np.uint8)
    array[2:5, 3:9] = 2
    image = make_image(20, 10, mask=array)
    client.force_login(reviewer)  # reading is for every member
    response = client.get(url("mask", image))
    assert response["X-Mask-Version"] == "1" and response["X-Mask-Source"] == "human"
    assert "no-store" in response["Cache-Control"]
    assert np.array_equal(read_png(response.content), array)


# ---------------------------------------------------------------- saving


def test_save_stores_a_human_version_with_editing_time_and_labels_the_image(client, member, image):
    array = np.full((10, 20), VOID, dtype=np.uint8)
    array[0:4, 0:5] = 1
    client.force_login(member)
    response = post_mask(client, image, array)
    assert response.status_code == 200 and response.json() == {"version": 1}
    image.refresh_from_db()
    mask = image.current_mask
    assert (mask.version, mask.source, mask.author, mask.editing_seconds) == (1, MaskSource.HUMAN, member, 12.5)
    assert image.status == ImageStatus.LABELED
    with mask.file.open("rb") as handle:
        assert np.array_equal(read_png(handle.read()), array)


def test_save_accepts_the_png_as_raw_request_body(client, member, image):
    array = np.zeros((10, 20), dtype=np.uint8)
    client.force_login(member)
    response = client.post(
        url("save", image) + "?base_version=0&editing_seconds=3", data=mask_png(array), content_type="image/png"
    )
    assert response.status_code == 200 and response.json() == {"version": 1}
    assert Mask.objects.get(image=image).editing_seconds == 3.0


def test_saving_the_untouched_unpainted_map_is_allowed(client, member, image):
    client.force_login(member)
    untouched = client.get(url("mask", image)).content
    response = client.post(url("save", image) + "?base_version=0", data=untouched, content_type="image/png")
    assert response.status_code == 200
    assert image.masks.count() == 1


def test_stale_base_version_gets_409_and_both_versions_are_kept(client, member, owner, image):
    first = np.zeros((10, 20), dtype=np.uint8)
    mask_save(image=image, base_version=0, array=first, author=owner)  # someone saved v1
    mine = np.full((10, 20), 2, dtype=np.uint8)
    client.force_login(member)
    response = post_mask(client, image, mine, base_version=0)
    assert response.status_code == 409
    body = response.json()
    assert (body["current_version"], body["saved_version"]) == (1, 2)
    assert body["error"] == (
        "Someone saved this mask (version 1) after you opened version 0. Your version is kept in the "
        "history as version 2; reload to see theirs, or keep editing."
    )
    image.refresh_from_db()
    assert image.current_mask.version == 1
    conflict = image.masks.get(version=2)
    assert conflict.is_conflict and conflict.author == member
    # Keep editing: the next save names the current version and becomes current.
    assert post_mask(client, image, mine, base_version=1).json() == {"version": 3}
    image.refresh_from_db()
    assert image.current_mask.version == 3


def _assert_refused(response, image, message):
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert not image.masks.exists()
    image.refresh_from_db()
    assert image.status == ImageStatus.UNLABELED and image.current_mask is None


def test_mask_of_the_wrong_size_gets_400_and_nothing_is_stored(client, member, image):
    client.force_login(member)
    response = post_mask(client, image, np.zeros((10, 21), dtype=np.uint8))
    _assert_refused(response, image, MASK_WRONG_SIZE.format(mw=21, mh=10, iw=20, ih=10))


def test_unknown_class_index_gets_400_and_nothing_is_stored(client, member, image):
    array = np.zeros((10, 20), dtype=np.uint8)
    array[5, 5] = 7
    client.force_login(member)
    response = post_mask(client, image, array)
    _assert_refused(response, image, MASK_UNKNOWN_CLASSES.format(values=[7], valid="0..3"))


def test_colour_png_gets_400_and_nothing_is_stored(client, member, image):
    client.force_login(member)
    response = client.post(url("save", image) + "?base_version=0", data=png_bytes(20, 10), content_type="image/png")
    _assert_refused(response, image, MASK_NOT_SINGLE_CHANNEL.format(mode="RGB"))


def test_bytes_that_are_not_a_png_get_400(client, member, image):
    client.force_login(member)
    response = client.post(url("save", image) + "?base_version=0", data=b"not a png", content_type="image/png")
    _assert_refused(response, image, MASK_NOT_PNG)


@pytest.mark.parametrize("base_version", ["one", "-1", "9999999999", "99999999999999999999"])
def test_bad_base_version_gets_400(client, member, image, base_version):
    client.force_login(member)
    response = post_mask(client, image, np.zeros((10, 20), dtype=np.uint8), base_version=base_version)
    _assert_refused(response, image, services.BAD_BASE_VERSION)


def test_missing_base_version_gets_400(client, member, image):
    client.force_login(member)
    response = post_mask(client, image, np.zeros((10, 20), dtype=np.uint8), base_version="")
    _assert_refused(response, image, services.BASE_VERSION_REQUIRED)


@pytest.mark.parametrize("seconds", ["nan", "inf", "-1", str(12 * 3600 + 1)])
def test_bad_editing_seconds_gets_400(client, member, image, seconds):
    client.force_login(member)
    response = post_mask(client, image, np.zeros((10, 20), dtype=np.uint8), editing_seconds=seconds)
    _assert_refused(response, image, services.BAD_EDITING_SECONDS)


def test_post_without_a_mask_gets_400(client, member, image):
    client.force_login(member)
    response = client.post(url("save", image), {"base_version": 0})
    _assert_refused(response, image, services.NO_MASK_SENT)


def test_reviewer_without_annotator_role_cannot_save(client, reviewer, image):
    client.force_login(reviewer)
    response = post_mask(client, image, np.zeros((10, 20), dtype=np.uint8))
    assert response.status_code == 403
    assert response.json() == {"error": views.SAVE_NEEDS_ANNOTATOR}
    assert not image.masks.exists()


def test_outsider_cannot_save_and_learns_nothing(client, outsider, image):
    client.force_login(outsider)
    response = post_mask(client, image, np.zeros((10, 20), dtype=np.uint8))
    assert response.status_code == 404
    assert not image.masks.exists()


def test_owner_as_admin_can_save(client, owner, image):
    client.force_login(owner)
    assert post_mask(client, image, np.zeros((10, 20), dtype=np.uint8)).status_code == 200


def test_save_needs_post(client, member, image):
    client.force_login(member)
    assert client.get(url("save", image)).status_code == 405


# ---------------------------------------------------------------- prefill


def _pseudo(image, value, *, version_base):
    array = np.full((image.height, image.width), value, dtype=np.uint8)
    return mask_save(
        image=image,
        base_version=version_base,
        array=array,
        source=MaskSource.PSEUDO,
        scores=MaskScores(0.5, 0.4, 0.1),
        status=ImageStatus.PSEUDO_LABELED,
    )


def test_prefill_without_model_or_pseudo_label_says_so(client, member, image):
    client.force_login(member)
    response = client.get(url("prefill", image))
    assert response.status_code == 404
    assert response.json() == {"error": services.NOTHING_TO_PREFILL}


def test_prefill_falls_back_to_the_latest_pseudo_label(client, member, image):
    _pseudo(image, 1, version_base=0)
    _pseudo(image, 2, version_base=1)
    client.force_login(member)
    response = client.get(url("prefill", image))
    assert response.status_code == 200
    assert response["X-Mask-Source"] == "pseudo" and response["X-Mask-Version"] == "2"
    assert (read_png(response.content) == 2).all()


def test_prefill_falls_back_when_the_active_model_cannot_predict(client, member, project, image):
    from webapp.training.models import ModelVersion

    ModelVersion.objects.create(project=project, number=1, is_active=True, student_path="missing/student.pt")
    _pseudo(image, 1, version_base=0)
    client.force_login(member)
    response = client.get(url("prefill", image))
    assert response.status_code == 200 and response["X-Mask-Source"] == "pseudo"


def test_prefill_needs_the_annotator_role(client, reviewer, image):
    client.force_login(reviewer)
    response = client.get(url("prefill", image))
    assert response.status_code == 403
    assert response.json() == {"error": "This needs the annotator role in the project."}


@pytest.mark.slow
def test_prefill_uses_the_active_models_prediction(client, member, project, make_image, settings, tmp_path):
    import torch

    from ml.checkpoints import save_checkpoint
    from ml.models import build_student
    from webapp.training.models import ModelVersion
    from webapp.training.prediction import predict_image_array

    torch.manual_seed(0)
    model = build_student(3, encoder="mobilenetv3_small_100", decoder_channels=(32, 24, 16, 16, 16))
    relative = f"projects/{project.pk}/v1/student.pt"
    (Path(settings.MODELS_ROOT) / relative).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(Path(settings.MODELS_ROOT) / relative, model=model)
    ModelVersion.objects.create(
        project=project, number=1, is_active=True, student_path=relative, config={"crop_size": 64}
    )
    image = make_image(48, 32)
    _pseudo(image, 1, version_base=0)  # the model wins over a stored pseudo-label
    client.force_login(member)
    response = client.get(url("prefill", image))
    assert response.status_code == 200
    assert response["X-Mask-Source"] == "prediction" and response["X-Model-Version"] == "1"
    expected, _scores = predict_image_array(project=project, image=image)
    assert np.array_equal(read_png(response.content), expected)


# ---------------------------------------------------------------- next image


def test_next_goes_to_the_following_unlabeled_image_and_wraps(client, member, make_image):
    first, labeled, third = make_image(), make_image(mask=np.zeros((24, 32))), make_image()
    client.force_login(member)
    next_url = reverse("annotation:next", kwargs={"project_id": first.project_id})
    response = client.get(next_url, {"after": first.id})
    assert response["Location"] == url("editor", third)  # the labeled one is skipped
    response = client.get(next_url, {"after": third.id})
    assert response["Location"] == url("editor", first)  # wraps around
    assert client.get(next_url)["Location"] == url("editor", first)
    assert labeled.status == ImageStatus.LABELED


def test_next_when_nothing_is_left_returns_to_the_project_with_a_message(client, member, make_image):
    only = make_image()
    client.force_login(member)
    response = client.get(reverse("annotation:next", kwargs={"project_id": only.project_id}), {"after": only.id})
    assert response["Location"] == reverse("projects:detail", kwargs={"project_id": only.project_id})
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [views.ALL_LABELED]


def test_next_is_for_annotators_only(client, reviewer, outsider, project):
    next_url = reverse("annotation:next", kwargs={"project_id": project.id})
    client.force_login(reviewer)
    assert client.get(next_url).status_code == 403
    client.force_login(outsider)
    assert client.get(next_url).status_code == 404
