"""Prediction with the active model, and the student downloaded as TorchScript and ONNX."""

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from tests.webapp.api.conftest import TRAIN_SIZE, png_of, two_region_image
from webapp.training import prediction
from webapp.training.prediction import NO_ACTIVE_MODEL, NoActiveModel, predict_image_array

pytestmark = pytest.mark.django_db

WIDTH, HEIGHT = 150, 100  # larger than the 64px training crop, within the whole-image pixel budget


def predict_url(project):
    return reverse("api:predict", kwargs={"project_id": project.pk})


def assert_two_regions(mask: np.ndarray):
    assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) <= {0, 1, 2}
    assert (mask[:, : WIDTH // 2 - 8] == 0).mean() > 0.9
    assert (mask[:, WIDTH // 2 + 8 :] == 2).mean() > 0.9


def test_predict_image_array_segments_an_image_larger_than_the_training_crop(project, active_model):
    mask, scores = predict_image_array(project=project, data=png_of(two_region_image(WIDTH, HEIGHT)))
    assert_two_regions(mask)
    assert scores["model_version"] == 1 and scores["tau"] == 0.9
    assert 0 < scores["mean_confidence"] <= 1 and 0 <= scores["confident_fraction"] <= 1


def test_the_model_is_loaded_once_and_reloaded_when_the_checkpoint_changes(project, active_model, settings):
    prediction._cache.clear()
    data = png_of(two_region_image(WIDTH, HEIGHT))
    predict_image_array(project=project, data=data)
    first = prediction.served_model(project=project)
    predict_image_array(project=project, data=data)
    assert prediction.served_model(project=project) is first
    path = settings.MODELS_ROOT / active_model.student_path
    stat = path.stat()
    import os

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert prediction.served_model(project=project) is not first
    assert prediction.cached_model_count() == 1


def test_predict_stored_image(project, active_model, make_image):
    from webapp.images.services import image_import

    image = image_import(project=project, name="street.png", data=png_of(two_region_image(WIDTH, HEIGHT)))
    mask, _ = predict_image_array(project=project, image=image)
    assert_two_regions(mask)


def test_no_active_model_says_so(project):
    with pytest.raises(NoActiveModel) as error:
        predict_image_array(project=project, data=png_of(two_region_image(WIDTH, HEIGHT)))
    assert str(error.value) == NO_ACTIVE_MODEL.format(project=project.name)


def test_api_predict_returns_png_mask_with_score_headers(api_for, member, project, active_model):
    upload = io.BytesIO(png_of(two_region_image(WIDTH, HEIGHT)))
    upload.name = "street.png"
    response = api_for(member).post(predict_url(project), {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    assert response["X-Model-Version"] == "1" and response["X-Model-Precision"] == "fp32"
    assert 0 < float(response["X-Mean-Confidence"]) <= 1
    assert_two_regions(np.array(PILImage.open(io.BytesIO(response.content))))


def test_api_predict_json_variant_holds_base64_png_and_scores(api_for, member, project, active_model, make_image):
    from webapp.images.services import image_import

    image = image_import(project=project, name="street.png", data=png_of(two_region_image(WIDTH, HEIGHT)))
    response = api_for(member).post(predict_url(project) + "?format=json", {"image_id": image.pk}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["width"], body["height"]) == (WIDTH, HEIGHT)
    assert body["scores"]["model_version"] == 1
    assert_two_regions(np.array(PILImage.open(io.BytesIO(base64.b64decode(body["mask_png"])))))


def test_api_predict_without_model_is_409_with_message(api_for, member, project):
    upload = io.BytesIO(png_of(two_region_image(WIDTH, HEIGHT)))
    upload.name = "street.png"
    response = api_for(member).post(predict_url(project), {"file": upload}, format="multipart")
    assert response.status_code == 409
    assert response.json() == {"detail": NO_ACTIVE_MODEL.format(project=project.name)}


@pytest.mark.parametrize(
    "damage, template",
    [
        (lambda path: path.unlink(), prediction.MODEL_FILE_MISSING),
        (lambda path: path.write_bytes(b"not a checkpoint"), prediction.MODEL_UNREADABLE),
    ],
)
def test_api_predict_409_speaks_of_the_model_not_of_server_paths(
    damage, template, api_for, member, project, active_model, settings
):
    prediction._cache.clear()
    damage(Path(settings.MODELS_ROOT) / active_model.student_path)
    upload = io.BytesIO(png_of(two_region_image(WIDTH, HEIGHT)))
    upload.name = "street.png"
    response = api_for(member).post(predict_url(project), {"file": upload}, format="multipart")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail == template.format(number=1, project=project.name)
    assert "/" not in detail and str(settings.MODELS_ROOT) not in detail and ".pt" not in detail


def test_api_predict_bad_image_is_400(api_for, member, project, active_model):
    upload = io.BytesIO(b"not an image")
    upload.name = "x.png"
    response = api_for(member).post(predict_url(project), {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "not an image" in response.json()["detail"]


def test_outsider_cannot_predict(api_for, outsider, project, active_model):
    upload = io.BytesIO(png_of(two_region_image(WIDTH, HEIGHT)))
    upload.name = "street.png"
    assert api_for(outsider).post(predict_url(project), {"file": upload}, format="multipart").status_code == 404


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_model_download_loads_and_predicts_like_the_checkpoint(api_for, member, project, active_model, fmt, tmp_path):
    import torch

    from ml.infer import image_to_tensor

    url = reverse("api:model-download", kwargs={"project_id": project.pk, "version_id": active_model.pk, "fmt": fmt})
    response = api_for(member).get(url)
    assert response.status_code == 200
    path = tmp_path / f"model.{fmt}"
    path.write_bytes(b"".join(response.streaming_content))
    x = image_to_tensor(two_region_image(96, TRAIN_SIZE)).unsqueeze(0)
    if fmt == "torchscript":
        logits = torch.jit.load(str(path))(x).detach().numpy()
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"image": x.numpy()})[0]
    assert logits.shape == (1, 3, TRAIN_SIZE, 96)
    labels = logits.argmax(axis=1)[0]
    assert (labels[:, :40] == 0).mean() > 0.9 and (labels[:, 56:] == 2).mean() > 0.9
    # Second download comes from the cache on disk.
    again = api_for(member).get(url)
    assert b"".join(again.streaming_content) == path.read_bytes()


def test_an_image_within_the_pixel_budget_is_one_forward_of_the_model(project, active_model, settings):
    import torch

    from ml.infer import image_to_tensor

    settings.SEGLOOP_PREDICT_WHOLE_IMAGE_PIXELS = WIDTH * HEIGHT
    array = two_region_image(WIDTH, HEIGHT)
    mask, scores = predict_image_array(project=project, data=png_of(array))
    model = prediction.served_model(project=project).model
    with torch.inference_mode():
        probs = model.eval()(image_to_tensor(array).unsqueeze(0)).float().softmax(dim=1)[0]
    confidence, expected = probs.max(dim=0)
    assert np.array_equal(mask, expected.numpy().astype(np.uint8))
    assert scores["mean_confidence"] == pytest.approx(float(confidence.mean()), abs=1e-5)


def test_an_image_beyond_the_pixel_budget_goes_through_the_sliding_window(project, active_model, settings, monkeypatch):
    from ml import infer

    settings.SEGLOOP_PREDICT_WHOLE_IMAGE_PIXELS = WIDTH * HEIGHT - 1
    windows = []
    real = infer.predict_probs

    def spy(model, x, window=None, **kwargs):
        windows.append(window)
        return real(model, x, window=window, **kwargs)

    monkeypatch.setattr(infer, "predict_probs", spy)
    mask, _ = predict_image_array(project=project, data=png_of(two_region_image(WIDTH, HEIGHT)))
    assert windows == [TRAIN_SIZE]
    assert_two_regions(mask)
