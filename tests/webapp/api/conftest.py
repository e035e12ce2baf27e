"""API clients authenticated by token, and a tiny trained student for prediction and export."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

TRAIN_SIZE = 64  # the crop the tiny model is trained at; prediction images are larger


@pytest.fixture
def api_for():
    """An APIClient that sends `Authorization: Token <key>` for `user` (anonymous for None)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


def two_region_image(width: int, height: int) -> np.ndarray:
    """Dark left half (class 0), bright right half (class 2): easy enough for a few steps."""
    rng = np.random.default_rng(width * 1000 + height)
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = rng.integers(0, 40, (height, width // 2, 3))
    pixels[:, width // 2 :] = rng.integers(215, 255, (height, width - width // 2, 3))
    return pixels


def two_region_labels(width: int, height: int) -> np.ndarray:
    labels = np.zeros((height, width), dtype=np.uint8)
    labels[:, width // 2 :] = 2
    return labels


@pytest.fixture(scope="session")
def tiny_student_checkpoint(tmp_path_factory):
    """A 3-class student trained for a few steps on the two-region image (once per test run).

    One torch thread while these tests run: on a shared 2-core machine, two threads per
    process make small models about ten times slower, not faster.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    from ml.checkpoints import save_checkpoint
    from ml.infer import image_to_tensor
    from ml.models import build_student

    torch.manual_seed(0)
    model = build_student(3, encoder="mobilenetv3_small_100", decoder_channels=(32, 24, 16, 16, 16))
    batches = []
    # The crop, and a whole image as prediction sees it (one forward up to the pixel budget):
    # the tiny net's global pooling would otherwise tie it to the 64px size.
    for width, height in ((TRAIN_SIZE, TRAIN_SIZE), (160, 96)):
        x = image_to_tensor(two_region_image(width, height)).unsqueeze(0)
        y = torch.from_numpy(two_region_labels(width, height)).long().unsqueeze(0)
        # The mirrored copy (bright left, class 2 left) teaches brightness, not position.
        batches.append((torch.cat([x, x.flip(-1)]), torch.cat([y, y.flip(-1)])))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(60):
        batch_x, batch_y = batches[step % 2]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch_x), batch_y)
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("tiny") / "student_best.pt"
    save_checkpoint(path, model=model)
    yield path
    torch.set_num_threads(threads)


@pytest.fixture
def active_model(project, tiny_student_checkpoint, settings):
    """The tiny student as the project's active ModelVersion, under MODELS_ROOT."""
    from webapp.training.models import ModelVersion

    relative = f"projects/{project.pk}/v1/student_best.pt"
    target = Path(settings.MODELS_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_student_checkpoint, target)
    return ModelVersion.objects.create(
        project=project,
        number=1,
        is_active=True,
        student_path=relative,
        config={"crop_size": TRAIN_SIZE, "tau": 0.9},
        miou=0.5,
    )


def png_of(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
