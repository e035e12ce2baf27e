"""Query orders over per-image features (ml.selection)."""

import numpy as np
import pytest

from ml.selection import (
    DOUBTFUL,
    RANDOM,
    TYPICAL,
    diverse_order,
    least_confident_order,
    random_order,
    seed_suggestions,
    typicality,
)


def two_clusters_and_an_outlier(seed=0, size=10):
    """Rows 0..size-1 near e0, size..2*size-1 near e1, the last row alone at e2."""
    rng = np.random.default_rng(seed)
    a = np.eye(8)[0] + rng.normal(0, 0.02, (size, 8))
    b = np.eye(8)[1] + rng.normal(0, 0.02, (size, 8))
    return np.concatenate([a, b, np.eye(8)[2][None]]).astype(np.float32)


def group(row, size=10):
    return "a" if row < size else "b" if row < 2 * size else "outlier"


def test_first_picks_come_from_different_clusters():
    features = two_clusters_and_an_outlier()
    uncertainty = np.random.default_rng(1).random(len(features))
    picks = diverse_order(features, uncertainty, k=3, hedge_share=0.0)
    assert {group(p.index) for p in picks[:3]} == {"a", "b", "outlier"}
    # consecutive picks alternate while both clusters have rows left
    groups = [group(p.index) for p in picks[3:]]
    assert all(x != y for x, y in zip(groups, groups[1:], strict=False))


def test_most_uncertain_first_within_a_cluster():
    features = two_clusters_and_an_outlier()
    uncertainty = np.linspace(0.0, 1.0, len(features))
    picks = diverse_order(features, uncertainty, k=3, hedge_share=0.0)
    from_a = [p.index for p in picks if group(p.index) == "a"]
    assert from_a == sorted(from_a, key=lambda r: -uncertainty[r])
    assert picks[0].kind == DOUBTFUL and picks[0].cluster_size in (1, 10)


def test_every_row_once_and_repeatable():
    features = np.random.default_rng(3).normal(size=(57, 16)).astype(np.float32)
    uncertainty = np.random.default_rng(4).random(57)
    picks = diverse_order(features, uncertainty, k=7, seed=5)
    assert sorted(p.index for p in picks) == list(range(57))
    assert picks == diverse_order(features, uncertainty, k=7, seed=5)


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_hedge_share_is_honoured(share):
    features = np.random.default_rng(0).normal(size=(80, 8)).astype(np.float32)
    picks = diverse_order(features, np.random.default_rng(1).random(80), k=5, hedge_share=share)
    period = round(1 / share)
    positions = [n for n, p in enumerate(picks) if p.kind == RANDOM]
    assert positions == [n for n in range(80) if (n + 1) % period == 0]
    # in every stretch of the queue, the share of random picks is the hedge share
    assert sum(p.kind == RANDOM for p in picks[:20]) == 20 // period


def test_typical_first_takes_each_cluster_centre():
    rng = np.random.default_rng(0)
    centre = np.eye(4)[0]
    rows = [centre + rng.normal(0, 0.01, 4) for _ in range(9)] + [centre + np.array([0, 0.3, 0, 0])]
    features = np.array(rows, dtype=np.float32)
    uncertainty = np.zeros(10)
    uncertainty[9] = 1.0  # the far-off row is the most doubtful
    first = diverse_order(features, uncertainty, k=1, typical_first=True, hedge_share=0.0)[0]
    assert first.kind == TYPICAL and first.index != 9
    assert typicality(features).argmin() == 9
    assert diverse_order(features, uncertainty, k=1, hedge_share=0.0)[0].index == 9


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="uncertainties"):
        diverse_order(np.zeros((3, 2)), np.zeros(2), k=2)
    with pytest.raises(ValueError, match="hedge_share"):
        diverse_order(np.zeros((3, 2)), np.zeros(3), k=2, hedge_share=1.0)
    assert diverse_order(np.zeros((0, 2)), np.zeros(0), k=2) == []


def test_least_confident_and_random_orders():
    assert [p.index for p in least_confident_order(np.array([0.3, 0.1, 0.2, 0.1]))] == [1, 3, 2, 0]
    assert sorted(p.index for p in random_order(6, seed=1)) == list(range(6))
    assert random_order(6, seed=1) == random_order(6, seed=1)


def test_seed_suggestions_cover_the_groups_then_follow_labels():
    features = two_clusters_and_an_outlier()
    labeled = np.zeros(len(features), dtype=bool)
    first = seed_suggestions(features, labeled, 3)
    assert {group(p.index) for p in first} == {"a", "b", "outlier"}
    assert all(p.kind == TYPICAL for p in first)
    # once group a has a label, a suggestion from it comes after the uncovered groups
    labeled[0] = True
    after = seed_suggestions(features, labeled, 2)
    assert 0 not in {p.index for p in after}
    assert {group(p.index) for p in after} == {"b", "outlier"}


def test_seed_suggestions_never_offer_labeled_rows():
    features = np.random.default_rng(2).normal(size=(30, 6)).astype(np.float32)
    labeled = np.arange(30) % 3 == 0
    picks = seed_suggestions(features, labeled, 25)
    assert len(picks) == 20  # only 20 rows are unlabeled
    assert not any(labeled[p.index] for p in picks)
    assert len({p.index for p in picks}) == 20
