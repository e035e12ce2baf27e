"""int8 serving: chosen per project, checked against fp32 on the validation images, refused
when it loses more than 1 mIoU point, then served by ONNX Runtime."""

from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.webapp.serving.conftest import HEIGHT, WIDTH, png_of, two_region_image
from webapp.serving import checks
from webapp.serving.checks import int8_check_execute
from webapp.serving.models import CheckStatus, Int8Check, Precision, ProjectServing
from webapp.serving.selectors import serving_state
from webapp.serving.services import FP32_CHOSEN, INT8_CHECKING, INT8_SERVED, ServingRefused, serving_precision_set
from webapp.training import prediction
from webapp.training.prediction import NO_ACTIVE_MODEL, predict_image_array

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def choose_int8(project, django_capture_on_commit_callbacks) -> Int8Check:
    """Choose int8 and run the queued check here (the enqueued task is not sent)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notice = serving_precision_set(project=project, precision=Precision.INT8)
    assert notice == INT8_CHECKING.format(number=1) and len(callbacks) == 1
    check = Int8Check.objects.get()
    assert check.status == CheckStatus.QUEUED and serving_state(project=project).serves == Precision.FP32
    int8_check_execute(check_id=check.pk)
    check.refresh_from_db()
    return check


def assert_two_regions(mask):
    assert (mask[:, : WIDTH // 2 - 8] == 0).mean() > 0.9 and (mask[:, WIDTH // 2 + 8 :] == 2).mean() > 0.9


def test_int8_is_checked_then_served_by_onnx_runtime(
    project, active_model, two_region_images, settings, django_capture_on_commit_callbacks
):
    check = choose_int8(project, django_capture_on_commit_callbacks)

    assert check.status == CheckStatus.PASSED, check.message
    assert check.num_images == 2 and check.fp32_miou > 0.9
    assert check.miou_loss_points <= checks.MAX_MIOU_LOSS_POINTS
    assert check.message.startswith("int8 passed for model v1:")
    assert (Path(settings.MODELS_ROOT) / check.int8_path).is_file()
    assert serving_state(project=project).serves == Precision.INT8

    mask, scores = predict_image_array(project=project, data=png_of(two_region_image(WIDTH, HEIGHT)))
    assert scores["precision"] == "int8" and scores["model_version"] == 1
    assert_two_regions(mask)
    assert type(prediction.served_model(project=project).runner).__name__ == "OnnxSegmenter"
    # Choosing int8 again serves at once; fp32 switches back.
    assert serving_precision_set(project=project, precision=Precision.INT8) == INT8_SERVED.format(number=1)
    assert serving_precision_set(project=project, precision=Precision.FP32) == FP32_CHOSEN
    assert predict_image_array(project=project, data=png_of(two_region_image(WIDTH, HEIGHT)))[1]["precision"] == "fp32"


def test_int8_losing_more_than_one_miou_point_is_refused_and_stays_fp32(
    project, active_model, two_region_images, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(checks, "_mious", lambda models, images, ignore_index: [0.80, 0.785])
    check = choose_int8(project, django_capture_on_commit_callbacks)

    assert check.status == CheckStatus.REFUSED
    assert check.message == checks.REFUSED.format(number=1, int8=78.5, fp32=80.0, images=2, loss=1.5, limit=1)
    assert (check.fp32_miou, check.int8_miou) == (0.80, 0.785)
    assert ProjectServing.objects.get(project=project).precision == Precision.FP32
    scores = predict_image_array(project=project, data=png_of(two_region_image(WIDTH, HEIGHT)))[1]
    assert scores["precision"] == "fp32"
    with pytest.raises(ServingRefused) as refused:
        serving_precision_set(project=project, precision=Precision.INT8)
    assert str(refused.value) == check.message


def test_int8_without_validation_images_is_refused(project, active_model, django_capture_on_commit_callbacks):
    check = choose_int8(project, django_capture_on_commit_callbacks)
    assert check.status == CheckStatus.REFUSED
    assert check.message == checks.NO_VALIDATION.format(number=1)


def test_int8_without_an_active_model_is_refused(project):
    with pytest.raises(ServingRefused) as refused:
        serving_precision_set(project=project, precision=Precision.INT8)
    assert str(refused.value) == NO_ACTIVE_MODEL.format(project=project.name)
    assert not Int8Check.objects.exists()


def test_a_failed_check_says_so_without_paths_and_is_tried_again(
    project, active_model, two_region_images, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("/secret/path exploded")

    monkeypatch.setattr("ml.quantize.quantize_onnx", broken)
    check = choose_int8(project, django_capture_on_commit_callbacks)
    assert check.status == CheckStatus.FAILED
    assert check.message == checks.FAILED.format(number=1) and "/" not in check.message
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        serving_precision_set(project=project, precision=Precision.INT8)
    check.refresh_from_db()
    assert check.status == CheckStatus.QUEUED and len(callbacks) == 1


# ------------------------------------------------------------------ the settings section


def serving_url(project):
    return reverse("serving:settings", args=[project.pk])


def test_admin_chooses_int8_and_the_section_polls_while_it_is_checked(
    client, owner, project, active_model, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(serving_url(project), {"serving-precision": "int8"}, headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert escape(INT8_CHECKING.format(number=1)) in body
    assert reverse("serving:section", args=[project.pk]) in body and 'hx-trigger="every 2s"' in body
    page = client.get(reverse("projects:settings", args=[project.pk])).content.decode()
    assert 'id="serving"' in page and "int8 check of model v1: queued." in page


def test_the_section_shows_the_refusal(client, owner, project, active_model, two_region_images, monkeypatch):
    monkeypatch.setattr(checks, "_mious", lambda models, images, ignore_index: [0.80, 0.70])
    serving_precision_set(project=project, precision=Precision.INT8)
    int8_check_execute(check_id=Int8Check.objects.get().pk)
    message = Int8Check.objects.get().message
    client.force_login(owner)
    section = client.get(reverse("serving:section", args=[project.pk])).content.decode()
    assert escape(message) in section and "every 2s" not in section
    response = client.post(serving_url(project), {"serving-precision": "int8"}, headers=HX)
    assert response.status_code == 200 and escape(message) in response.content.decode()
    assert ProjectServing.objects.get(project=project).precision == Precision.FP32


def test_members_may_not_choose_and_outsiders_do_not_see_the_project(client, member, outsider, project, active_model):
    for user, status in ((member, 403), (outsider, 404)):
        client.force_login(user)
        assert client.post(serving_url(project), {"serving-precision": "int8"}).status_code == status
        assert client.get(reverse("serving:section", args=[project.pk])).status_code == status
    assert not ProjectServing.objects.exists()


def test_masks_are_untouched_by_the_check(project, active_model, two_region_images, django_capture_on_commit_callbacks):
    from webapp.images.models import Mask

    before = list(Mask.objects.values_list("pk", "version", "file"))
    choose_int8(project, django_capture_on_commit_callbacks)
    assert list(Mask.objects.values_list("pk", "version", "file")) == before
    assert np.all([image.current_mask_id for image in two_region_images])


def test_calibration_spreads_over_the_projects_training_images(project, make_image):
    # uploaded a sequence at a time: the first images by id would all come from the first one
    images = [make_image(8, 8) for _ in range(checks.CALIBRATION_IMAGES * 3)]
    project.images.update(is_validation=False)  # the import's random hold-out, set here instead
    held_out = images[1]
    held_out.is_validation = True
    held_out.save(update_fields=["is_validation"])
    picked = checks.calibration_images(project=project)
    ids = [image.pk for image in picked]
    assert len(ids) == checks.CALIBRATION_IMAGES and held_out.pk not in ids
    assert ids[0] == images[0].pk and ids[-1] == images[-1].pk  # first to last, evenly spaced
    assert max(b - a for a, b in zip(ids, ids[1:], strict=False)) <= 4


def test_calibration_of_a_small_project_takes_every_image(project, make_image):
    images = [make_image(8, 8) for _ in range(3)]
    project.images.update(is_validation=False)
    assert [i.pk for i in checks.calibration_images(project=project)] == [i.pk for i in images]
