"""Seed suggestions before any model: embeddings of the pretrained student encoder, a diverse
and typical first set on the grid, refreshed as human masks arrive.

The project holds three clearly different kinds of synthetic image (stripes, checkerboards,
flat noise), five of each with small variations. The encoder is the app's default student,
pretrained from its PyPI package (offline); it is built once per process
(webapp.images.embeddings.pretrained_encoder caches it).
"""

import io
import time

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image as PILImage

from webapp.images import selectors, tasks
from webapp.images.embeddings import image_embeddings_compute
from webapp.images.models import Image, Mask
from webapp.images.selectors import embedding_progress, seed_suggestions_for
from webapp.images.services import image_import, mask_save

KINDS = ("stripes", "checker", "noise")
PER_KIND = 5
WIDTH, HEIGHT = 64, 48
WORKER_TIMEOUT_S = 90


def stripes(variant: int) -> np.ndarray:
    picture = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    period = 4 + variant % 3
    picture[:, (np.arange(WIDTH) // period) % 2 == 0] = (230, 40 + 10 * variant, 40)
    return picture


def checker(variant: int) -> np.ndarray:
    size = 4 + variant % 3
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    dark = ((y // size + x // size) % 2 == 0)[..., None]
    return np.where(dark, np.array([30, 30, 200 + 5 * variant]), np.array([240, 240, 240])).astype(np.uint8)


def noise(variant: int) -> np.ndarray:
    rng = np.random.default_rng(variant)
    return rng.normal(120, 10 + variant, (HEIGHT, WIDTH, 3)).clip(0, 255).astype(np.uint8)


PAINTERS = {"stripes": stripes, "checker": checker, "noise": noise}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def kind_of(image: Image) -> str:
    return image.original_name.split("-")[0]


def import_kinds(project, user, per_kind: int = PER_KIND) -> list[Image]:
    """Kinds interleaved, so import order says nothing about kind."""
    return [
        image_import(project=project, name=f"{kind}-{variant}.png", data=png(PAINTERS[kind](variant)), uploaded_by=user)
        for variant in range(per_kind)
        for kind in KINDS
    ]


def label(image: Image, user) -> None:
    mask_save(image=image, base_version=0, array=np.zeros((HEIGHT, WIDTH), np.uint8), author=user)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rolled-back tests reuse project and image ids, so cached picks would outlive them."""
    cache.clear()


@pytest.fixture
def embedded(db, project, owner):
    """The synthetic project, every image embedded."""
    images = import_kinds(project, owner)
    assert image_embeddings_compute(project=project) == len(images)
    return images


# ---------------------------------------------------------------- embeddings and suggestions


def test_every_image_gets_a_normalised_embedding_of_the_student_encoder(embedded, project):
    rows = Image.objects.filter(project=project).values_list("embedding", "embedding_encoder")
    vectors = np.stack([np.frombuffer(bytes(data), dtype=np.float32) for data, _ in rows])
    assert {encoder for _, encoder in rows} == {"tf_efficientnet_lite0"}
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert image_embeddings_compute(project=project) == 0  # nothing left to embed
    assert embedding_progress(project=project).complete


def test_first_suggestions_cover_every_kind(embedded, project):
    suggestions = seed_suggestions_for(project=project)
    assert len(suggestions) == selectors.SUGGESTIONS_SHOWN
    assert len(set(suggestions)) == len(suggestions)
    assert {kind_of(image) for image in suggestions[:3]} == set(KINDS)


def test_a_labeled_image_is_never_suggested_and_its_kind_comes_after_the_others(embedded, project, owner):
    labeled = next(image for image in embedded if kind_of(image) == "stripes")
    label(labeled, owner)
    suggestions = seed_suggestions_for(project=project)
    assert labeled not in suggestions
    assert {kind_of(image) for image in suggestions[:2]} == {"checker", "noise"}
    everything = seed_suggestions_for(project=project, n=len(embedded))
    assert len(everything) == len(embedded) - 1 and labeled not in everything


def test_suggestions_are_cached_until_a_mask_arrives(embedded, project, owner, monkeypatch):
    calls = []
    real = selectors.seed_suggestions
    monkeypatch.setattr(selectors, "seed_suggestions", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = seed_suggestions_for(project=project)
    assert seed_suggestions_for(project=project) == first and len(calls) == 1
    label(first[0], owner)
    after = seed_suggestions_for(project=project)
    assert len(calls) == 2 and first[0] not in after


def test_every_labeled_image_means_no_suggestions(db, project, owner):
    images = import_kinds(project, owner, per_kind=1)
    image_embeddings_compute(project=project)
    for image in images:
        label(image, owner)
    assert seed_suggestions_for(project=project) == []


def test_images_embedded_by_another_encoder_are_embedded_again(embedded, project):
    Image.objects.filter(pk=embedded[0].pk).update(embedding=b"\0" * 8, embedding_encoder="resnet18")
    assert embedding_progress(project=project).analysed == len(embedded) - 1
    assert image_embeddings_compute(project=project) == 1
    assert Image.objects.get(pk=embedded[0].pk).embedding_encoder == "tf_efficientnet_lite0"


def test_an_unreadable_file_is_skipped_and_the_rest_embedded(db, project, owner):
    images = import_kinds(project, owner, per_kind=1)
    images[0].file.storage.delete(images[0].file.name)
    assert image_embeddings_compute(project=project) == len(images) - 1
    assert embedding_progress(project=project).analysed == len(images) - 1


def test_should_stop_ends_the_run_before_the_next_batch(db, project, owner):
    import_kinds(project, owner, per_kind=1)
    assert image_embeddings_compute(project=project, should_stop=lambda: True) == 0
    assert embedding_progress(project=project).analysed == 0


def test_embed_images_command_embeds_an_existing_project(db, project, owner, capsys):
    import_kinds(project, owner, per_kind=1)
    call_command("embed_images", project=project.id)
    assert embedding_progress(project=project).complete
    assert "Embedded 3 images of Streets with tf_efficientnet_lite0." in capsys.readouterr().out
    with pytest.raises(CommandError, match="No project with id 0"):
        call_command("embed_images", project=0)


# ---------------------------------------------------------------- the grid


def grid(client, user, project):
    client.force_login(user)
    return client.get(reverse("projects:detail", args=[project.id]))


def test_annotator_sees_the_strip_linking_to_the_editor(embedded, client, member, project):
    html = grid(client, member, project).content.decode()
    assert "Suggested to label next" in html
    assert "A diverse, typical set chosen from the pretrained encoder's features; it follows the masks you add." in html
    for image in seed_suggestions_for(project=project):
        assert f'data-suggested="{image.id}"' in html
        assert reverse("annotation:editor", args=[project.id, image.id]) in html
    assert "Finding suggestions" not in html


def test_reviewer_who_cannot_annotate_sees_no_strip(embedded, client, reviewer, project):
    response = grid(client, reviewer, project)
    assert response.status_code == 200 and "Suggested to label next" not in response.content.decode()


def test_outsider_gets_404(embedded, client, outsider, project):
    assert grid(client, outsider, project).status_code == 404


def test_the_strip_says_how_far_the_analysis_is(embedded, client, member, project, owner):
    image_import(project=project, name="late.png", data=png(noise(99)), uploaded_by=owner)
    html = grid(client, member, project).content.decode()
    assert f"Finding suggestions: {len(embedded)} of {len(embedded) + 1} images analysed" in html
    assert "data-suggested=" in html  # what is analysed already gives suggestions


def test_no_strip_before_any_image(db, client, member, project):
    assert "Suggested to label next" not in grid(client, member, project).content.decode()


def test_a_grid_get_writes_nothing(embedded, client, member, project, owner):
    label(embedded[0], owner)
    client.force_login(member)
    before = (list(Image.objects.order_by("pk").values()), Mask.objects.count())
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("projects:detail", args=[project.id])).status_code == 200
    assert (list(Image.objects.order_by("pk").values()), Mask.objects.count()) == before
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


# ---------------------------------------------------------------- enqueue on import


def test_a_burst_of_imports_queues_one_task_until_it_starts(
    db, project, owner, monkeypatch, django_capture_on_commit_callbacks
):
    tasks._redis().delete(tasks.PENDING_KEY.format(project_id=project.id))
    queued = []
    monkeypatch.setattr(tasks.image_embeddings_task, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        import_kinds(project, owner, per_kind=2)
    assert queued == [project.id]
    tasks.image_embeddings_task(project.id)  # clears the flag, then embeds
    assert embedding_progress(project=project).complete
    with django_capture_on_commit_callbacks(execute=True):
        image_import(project=project, name="late.png", data=png(noise(99)), uploaded_by=owner)
    assert queued == [project.id, project.id]
    tasks._redis().delete(tasks.PENDING_KEY.format(project_id=project.id))


@pytest.mark.slow
def test_upload_queues_embeddings_that_a_real_worker_computes(start_worker, client, project, member):
    tasks._redis().delete(tasks.PENDING_KEY.format(project_id=project.id))
    worker = start_worker("default")
    client.force_login(member)
    payload = {"files": [SimpleUploadedFile(f"{kind}-0.png", png(PAINTERS[kind](0))) for kind in KINDS]}
    assert client.post(reverse("images:upload", args=[project.id]), payload).status_code == 200
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while not embedding_progress(project=project).complete and time.monotonic() < deadline:
        time.sleep(0.3)
    assert embedding_progress(project=project).analysed == len(KINDS), worker.output()
    assert "webapp.images.tasks.image_embeddings_task" in worker.output()
    assert len(seed_suggestions_for(project=project)) == len(KINDS)
    worker.kill()  # its work is done and acknowledged; a clean shutdown only costs seconds
