"""A partly labeled image (a partial finish of a review by region) trains twice: its labeled
pixels as labeled data, its unlabeled pixels (the ignore index) as unlabeled data."""

import numpy as np
import pytest
import torch

from ml import losses as L
from ml.train import TrainConfig
from ml.train.distributed import Dist
from ml.train.loop import _datasets
from tests.webapp.review.regions_setup import ROAD, VOID, H, W, block_image
from webapp.images.models import Image
from webapp.images.services import mask_read, mask_save
from webapp.images.superpixels import superpixels_compute, superpixels_read
from webapp.review.models import ReviewItem
from webapp.review.regions import RegionChoice
from webapp.review.services import review_item_finish_regions
from webapp.training.files import local_path
from webapp.training.models import ModelVersion, RunTrigger, TrainingRun
from webapp.training.pseudo import Routing, pseudo_label_store
from webapp.training.selectors import PARTIAL_LABEL_SHARE, training_set_counts, training_set_for_project

pytestmark = pytest.mark.django_db


def queued_with_all_regions_doubtful(project, image):
    """A review item whose every superpixel is doubtful (confidence 0.5 everywhere)."""
    assert superpixels_compute(image=image)
    shape = (H, W)
    run = TrainingRun.objects.create(project=project, trigger=RunTrigger.PAGE, status="succeeded")
    version = ModelVersion.objects.create(project=project, run=run, number=run.pk, student_path="unused.pt")
    ys, xs = np.mgrid[0:H, 0:W]
    mask = pseudo_label_store(
        image=image,
        run=run,
        version=version,
        tau=0.95,
        scores={"mean_confidence": 0.5, "confident_fraction": 0.0, "disagreement": 0.0},
        pred=np.full(shape, ROAD, np.uint8),
        confidence=np.full(shape, 0.5, np.float32),
        disagreement=np.zeros(shape, bool),
        su_pred=((xs // 9) % 3).astype(np.uint8),
        ru_pred=np.zeros(shape, np.uint8),
        routing=Routing(threshold=0.9),
    )
    return ReviewItem.objects.get(pseudo_mask=mask), superpixels_read(image)


def finish_partially(item, user, region_ids):
    return review_item_finish_regions(
        item=item, user=user, mode="partial", decisions={i: RegionChoice("su") for i in region_ids}
    )


@pytest.fixture
def partial_project(project, owner, reviewer, make_image):
    """P: half its regions checked, the rest left unlabeled. Q: all but one region checked
    (under PARTIAL_LABEL_SHARE unlabeled). V: a full human mask, the validation image. U:
    an unlabeled image."""
    p_item, p_superpixels = queued_with_all_regions_doubtful(project, block_image(project, owner, seed=1))
    count = int(p_superpixels.max()) + 1
    p_item = finish_partially(p_item, reviewer, range(0, count, 2))
    q_item, q_superpixels = queued_with_all_regions_doubtful(project, block_image(project, owner, seed=2))
    q_item = finish_partially(q_item, reviewer, range(1, int(q_superpixels.max()) + 1))
    validation = make_image(W, H, mask=np.zeros((H, W), np.uint8))
    unlabeled = make_image(W, H)
    Image.objects.filter(project=project).update(is_validation=False)  # import flags a share by checksum
    Image.objects.filter(pk=validation.pk).update(is_validation=True)
    return {
        "P": Image.objects.get(pk=p_item.image_id),
        "Q": Image.objects.get(pk=q_item.image_id),
        "V": validation,
        "U": unlabeled,
        "p_item": p_item,
        "q_item": q_item,
    }


def pair(image):
    return local_path(image.file), local_path(image.current_mask.file)


def test_a_partly_labeled_image_is_labeled_and_unlabeled_data(project, partial_project):
    p, q, v, u = (partial_project[k] for k in "PQVU")
    assert partial_project["p_item"].unlabeled_share >= PARTIAL_LABEL_SHARE
    assert 0 < partial_project["q_item"].unlabeled_share < PARTIAL_LABEL_SHARE
    training_set = training_set_for_project(project=project)
    assert training_set.labeled == [pair(image) for image in sorted([p, q], key=lambda i: i.checksum)]
    assert training_set.validation == [pair(v)]
    # the partial image comes with its mask: ml takes only its ignored pixels as unlabeled
    assert training_set.unlabeled == [pair(p), local_path(u.file)]
    assert (
        training_set_counts(project=project)
        == training_set.counts
        == {"labeled": 2, "validation": 1, "pseudo_labeled": 0, "unlabeled": 2}
    )


def test_a_full_mask_saved_later_makes_it_labeled_data_only(project, partial_project, member):
    p = partial_project["P"]
    mask_save(image=p, base_version=p.mask_version, array=np.zeros((H, W), np.uint8), author=member)
    training_set = training_set_for_project(project=project)
    assert training_set.unlabeled == [local_path(partial_project["U"].file)]
    assert training_set_counts(project=project)["unlabeled"] == 1


def test_the_round_trains_its_labeled_pixels_supervised_and_the_rest_unsupervised(project, partial_project):
    p = partial_project["P"]
    stored = mask_read(p.current_mask)
    ignored = stored == VOID
    assert 0.2 <= ignored.mean() <= 0.8
    training_set = training_set_for_project(project=project)
    cfg = TrainConfig(
        num_classes=3,
        ignore_index=VOID,
        crop_size=W,
        scale_range=(1.0, 1.0),
        batch_size=1,
        unlabeled_batch_size=1,
        cache_images=False,
    )
    data = _datasets(cfg, [pair(p)], [entry for entry in training_set.unlabeled if entry == pair(p)], [], [], Dist())
    torch.manual_seed(0)
    labeled, unlabeled = next(data["labeled"]), next(data["unlabeled"])

    def unflipped(array, flipped):  # the crop is the whole image (padded below), maybe mirrored
        return array[:H].flip(-1) if flipped else array[:H]

    mask = labeled["mask"][0]
    flipped = not torch.equal(mask[:H], torch.from_numpy(stored).long())
    assert torch.equal(unflipped(mask, flipped), torch.from_numpy(stored).long())
    valid = unlabeled["valid"][0]
    flipped_u = not torch.equal(valid[:H], torch.from_numpy(ignored))
    assert torch.equal(unflipped(valid, flipped_u), torch.from_numpy(ignored)) and not valid[H:].any()

    # Supervised loss: gradient only at the labeled pixels. Unsupervised: only at the others.
    logits = torch.randn(1, 3, *mask.shape, requires_grad=True)
    L.supervised_loss(logits, labeled["mask"], VOID).backward()
    touched = logits.grad.abs().sum(1)[0]
    labeled_pixels = labeled["mask"][0] != VOID
    assert (touched[labeled_pixels] > 0).all() and (touched[~labeled_pixels] == 0).all()
    logits_u = torch.randn(1, 3, *valid.shape, requires_grad=True)
    pseudo = torch.zeros(1, *valid.shape, dtype=torch.long)
    L.pseudo_label_ce(logits_u, pseudo, torch.ones_like(unlabeled["valid"]), unlabeled["valid"]).backward()
    touched_u = logits_u.grad.abs().sum(1)[0]
    assert (touched_u[valid] > 0).all() and (touched_u[~valid] == 0).all()
    assert valid.sum() == int(ignored.sum())
