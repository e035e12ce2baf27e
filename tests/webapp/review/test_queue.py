"""The queue's order (webapp.review.queue), audits, and the learned threshold."""

import numpy as np
import pytest

from ml.calibration import CALIBRATED, MIN_SUPPORT, TOO_FEW
from ml.png import gray_png
from ml.vectors import vector_to_bytes
from webapp.images.models import ImageStatus, MaskSource
from webapp.images.services import MaskScores, mask_save
from webapp.projects.models import QueueStrategy
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.queue import (
    PICK_REASONS,
    UNLIKE_ANY,
    accepted_error_estimate,
    label_class_shares,
    pick_reason,
    review_queue_reorder,
    review_threshold_calibrate,
    review_threshold_effective,
)
from webapp.review.services import review_item_accept, review_item_create, review_item_next, review_item_reject
from webapp.training.pseudo import ACCEPT, AUDIT, REVIEW, Routing

H, W = 12, 16


def queued(make_image, *, score, features=None, uncertainty=None, is_audit=False, label=1):
    image = make_image(W, H)
    mask = mask_save(
        image=image,
        base_version=0,
        array=np.full((H, W), label, np.uint8),
        source=MaskSource.PSEUDO,
        status=ImageStatus.IN_REVIEW,
        scores=MaskScores(score, 0.5, 0.1),
    )
    return review_item_create(
        image=image,
        mask=mask,
        run=None,
        score=score,
        scores={"mean_confidence": score, "confident_fraction": 0.5, "disagreement": 0.1},
        confidence_png=gray_png(np.zeros((H, W), np.uint8)),
        disagreement_png=gray_png(np.zeros((H, W), np.uint8)),
        features=None if features is None else vector_to_bytes(features),
        class_uncertainty=uncertainty,
        is_audit=is_audit,
    )


@pytest.fixture
def grouped_queue(project, make_image):
    """Eight items near feature e0, eight near e1 and one outlier at e2 (scores ascending)."""
    rng = np.random.default_rng(0)
    items = {"a": [], "b": [], "outlier": []}
    for n in range(17):
        name = "a" if n < 8 else "b" if n < 16 else "outlier"
        centre = np.eye(6)[{"a": 0, "b": 1, "outlier": 2}[name]]
        items[name].append(
            queued(
                make_image,
                score=0.3 + 0.01 * n,
                features=centre + rng.normal(0, 0.02, 6),
                uncertainty=float(rng.random()),
            )
        )
    project.review_batch_size = 3
    project.save(update_fields=["review_batch_size"])
    return items


def group_of(item, groups):
    return next(name for name, items in groups.items() if item.pk in {i.pk for i in items})


@pytest.mark.django_db
def test_diverse_order_spreads_the_first_picks_over_the_groups(project, grouped_queue, reviewer, owner):
    assert project.queue_strategy == QueueStrategy.DIVERSE
    assert review_queue_reorder(project=project) == 17
    ranked = list(ReviewItem.objects.filter(project=project).order_by("queue_rank"))
    assert [i.queue_rank for i in ranked] == list(range(17))
    assert {group_of(i, grouped_queue) for i in ranked[:3]} == {"a", "b", "outlier"}
    # Two reviewers asking one after the other get different items, from different groups.
    first = review_item_next(project=project, user=reviewer)
    second = review_item_next(project=project, user=owner)
    assert first.pk != second.pk
    assert group_of(first, grouped_queue) != group_of(second, grouped_queue)
    reasons = {group_of(i, grouped_queue): pick_reason(i) for i in ranked[:3]}
    # no human masks yet: typical images first (TypiClust), then the most doubtful
    assert reasons["a"] == "Most typical of a group of 8 similar images: a good example to teach from."
    assert reasons["outlier"] == UNLIKE_ANY


@pytest.mark.django_db
def test_with_enough_labels_the_most_doubtful_of_each_group_comes_first(
    project, grouped_queue, make_image, monkeypatch
):
    import webapp.review.queue as queue

    monkeypatch.setattr(queue, "FEW_LABELS_PER_CLASS", 0)
    review_queue_reorder(project=project)
    firsts = {}
    for item in ReviewItem.objects.filter(project=project).order_by("queue_rank"):
        firsts.setdefault(group_of(item, grouped_queue), item)
    most_doubtful_a = max(grouped_queue["a"], key=lambda i: i.class_uncertainty)
    assert firsts["a"].pk == most_doubtful_a.pk
    assert pick_reason(firsts["a"]) == "Most doubtful of a group of 8 similar images."


@pytest.mark.django_db
def test_strategies_least_confident_and_random(project, grouped_queue, reviewer):
    project.queue_strategy = QueueStrategy.LEAST_CONFIDENT
    project.save(update_fields=["queue_strategy"])
    review_queue_reorder(project=project)
    item = review_item_next(project=project, user=reviewer)
    assert item.score == pytest.approx(0.3)
    assert pick_reason(item) == PICK_REASONS["least_confident"]
    project.queue_strategy = QueueStrategy.RANDOM
    project.save(update_fields=["queue_strategy"])
    review_queue_reorder(project=project, seed=1)
    order = list(ReviewItem.objects.filter(project=project).order_by("queue_rank").values_list("score", flat=True))
    assert len(order) == 17 and order != sorted(order)


@pytest.mark.django_db
def test_items_without_features_fall_back_to_least_confident(project, queue_items, reviewer):
    review_queue_reorder(project=project)
    assert review_item_next(project=project, user=reviewer).score == 0.1


@pytest.mark.django_db
def test_audits_are_spread_through_the_order(project, grouped_queue, make_image):
    audits = [queued(make_image, score=0.97, features=np.eye(6)[3], uncertainty=0.0, is_audit=True) for _ in range(3)]
    review_queue_reorder(project=project)
    ranks = sorted(ReviewItem.objects.get(pk=a.pk).queue_rank for a in audits)
    assert ranks == [4, 9, 14]  # every fifth place, not all at the end
    assert pick_reason(ReviewItem.objects.get(pk=audits[0].pk)) == PICK_REASONS["audit"]


def test_audit_sampling_rate():
    routing = Routing(threshold=0.8, audit_share=0.1, run_id=7)
    destinations = [routing.destination(score=0.9, image_id=i) for i in range(5000)]
    share = destinations.count(AUDIT) / len(destinations)
    assert 0.09 < share < 0.11
    assert set(destinations) == {AUDIT, ACCEPT}
    assert routing.destination(score=0.5, image_id=1) == REVIEW
    assert Routing(threshold=0.8).destination(score=0.9, image_id=1) == ACCEPT  # no audits by default


@pytest.mark.django_db
def test_threshold_is_learned_from_known_corrections(project, make_image, reviewer, django_capture_on_commit_callbacks):
    """Items scoring >= 0.8 were nearly right (1 pixel of 192 changed), those below were
    wrong (half the pixels): with a 5 % target the threshold lands at 0.8."""
    scores = [0.95, 0.9, 0.88, 0.85, 0.83, 0.82, 0.81, 0.8, 0.7, 0.6]
    for score in scores:
        item = queued(make_image, score=score)
        leased = review_item_next(project=project, user=reviewer)
        assert leased.pk == item.pk
        human = np.full((H, W), 1, np.uint8)
        if score >= 0.8:
            human[0, 0] = 2
        else:
            human[: H // 2] = 2
        with django_capture_on_commit_callbacks(execute=True):  # the app's human-mask hook
            mask_save(
                image=item.image,
                base_version=item.pseudo_mask.version,
                array=human,
                author=reviewer,
                source=MaskSource.HUMAN,
            )
        item.refresh_from_db()
        assert item.status == ReviewStatus.CORRECTED
        assert item.pixel_error == pytest.approx(1 / (H * W) if score >= 0.8 else 0.5)
    assert len(scores) >= MIN_SUPPORT
    calibration = review_threshold_calibrate(project=project)
    assert calibration.status == CALIBRATED and calibration.threshold == pytest.approx(0.8)
    project.refresh_from_db()
    assert review_threshold_effective(project) == pytest.approx(0.8)
    assert project.threshold_calibration["support"] == 8


@pytest.mark.django_db
def test_threshold_falls_back_until_enough_decisions(project, make_image, reviewer):
    item = queued(make_image, score=0.5)
    review_item_next(project=project, user=reviewer)
    review_item_accept(item=item, user=reviewer)
    assert review_threshold_calibrate(project=project).status == TOO_FEW
    project.refresh_from_db()
    assert review_threshold_effective(project) == project.review_threshold


@pytest.mark.django_db
def test_audit_decisions_give_the_accepted_error_estimate(project, make_image, reviewer):
    assert accepted_error_estimate(project=project).n == 0
    kept, rejected, doubtful = (queued(make_image, score=0.97, is_audit=True) for _ in range(3))
    for item, decide in ((kept, review_item_accept), (rejected, review_item_reject)):
        review_item_next(project=project, user=reviewer)
        decide(item=item, user=reviewer)
    estimate = accepted_error_estimate(project=project)
    assert estimate.n == 2 and estimate.mean == pytest.approx(0.5)  # accepted 0, rejected 1
    assert estimate.low <= estimate.mean <= estimate.high


@pytest.mark.django_db
def test_label_class_shares(project, make_image):
    assert label_class_shares(project=project) is None
    mask = np.zeros((H, W), np.uint8)
    mask[:, :4] = 1
    mask[:, 4:6] = 3  # void, the ignore class: not counted
    make_image(W, H, mask=mask)
    shares = label_class_shares(project=project)
    assert shares.shape == (3,)
    assert shares.tolist() == pytest.approx([10 / 14, 4 / 14, 0.0])
