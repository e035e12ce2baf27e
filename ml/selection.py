"""Which images a human should look at next: query orders over per-image features.

Pure numpy and scikit-learn, no Django. The web app stores features and scores; these
functions turn them into an order, each pick with the reason a reviewer is shown.

* ``diverse_order`` (the review queue's default): k-means++ over the pending items, one pick
  per cluster in turn so consecutive picks differ, the most uncertain of each cluster first
  (the most typical first while the project has few labels, after TypiClust, Hacohen et al.
  2022), and every ``1/hedge_share``-th pick uniformly random as a hedge (random is a strong
  baseline at small budgets: Mittal et al. 2019).
* ``seed_suggestions``: before any model, a diverse and typical set to label first:
  TypiClust's clusters that hold no labeled image yet, the most typical image of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

DOUBTFUL, TYPICAL, RANDOM, LEAST_CONFIDENT = "doubtful", "typical", "random", "least_confident"
TYPICALITY_NEIGHBOURS = 20  # TypiClust's k for the density estimate
MINIBATCH_ABOVE = 5000  # images; past this k-means runs in mini-batches


@dataclass(frozen=True)
class Pick:
    """One position of an order: the row it picks and why."""

    index: int
    kind: str  # DOUBTFUL, TYPICAL, RANDOM or LEAST_CONFIDENT
    cluster: int = -1
    cluster_size: int = 0


def cluster_labels(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ cluster of every row (k clamped to [1, rows])."""
    n = len(features)
    k = max(1, min(int(k), n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if n > MINIBATCH_ABOVE:
        model = MiniBatchKMeans(n_clusters=k, init="k-means++", n_init=3, random_state=seed, batch_size=1024)
    else:
        model = KMeans(n_clusters=k, init="k-means++", n_init=3, random_state=seed)
    return model.fit_predict(np.asarray(features, dtype=np.float32)).astype(np.int64)


def typicality(features: np.ndarray) -> np.ndarray:
    """TypiClust's typicality of each row among the given rows: 1 / mean Euclidean distance
    to its nearest neighbours (up to TYPICALITY_NEIGHBOURS). Higher = in a denser region."""
    n = len(features)
    if n <= 1:
        return np.ones(n, dtype=np.float64)
    x = np.asarray(features, dtype=np.float64)
    squared = (x**2).sum(1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0.0))
    np.fill_diagonal(distances, np.inf)
    k = min(TYPICALITY_NEIGHBOURS, n - 1)
    nearest = np.partition(distances, k - 1, axis=1)[:, :k]
    return 1.0 / (nearest.mean(1) + 1e-8)


def _cluster_members(labels: np.ndarray, key: np.ndarray) -> dict[int, list[int]]:
    """Rows of each cluster, highest key first (ties by row)."""
    members: dict[int, list[int]] = {}
    for row in np.lexsort((np.arange(len(key)), -key)):
        members.setdefault(int(labels[row]), []).append(int(row))
    return members


def _typicality_within(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = np.zeros(len(features))
    for cluster in np.unique(labels):
        rows = np.flatnonzero(labels == cluster)
        out[rows] = typicality(features[rows])
    return out


def diverse_order(
    features: np.ndarray,
    uncertainty: np.ndarray,
    *,
    k: int,
    typical_first: bool = False,
    hedge_share: float = 0.1,
    seed: int = 0,
) -> list[Pick]:
    """All rows in review order (see the module docstring).

    features: N,D (L2-normalised); uncertainty: N, higher = more doubtful; k: clusters (the
    review batch size); typical_first: order each cluster by typicality instead of
    uncertainty; hedge_share: share of positions (evenly spaced) given to a uniformly random
    remaining row; seed: makes clustering and hedge picks repeatable.
    """
    n = len(features)
    if n == 0:
        return []
    if len(uncertainty) != n:
        raise ValueError(f"{n} feature rows but {len(uncertainty)} uncertainties")
    if not 0.0 <= hedge_share < 1.0:
        raise ValueError(f"hedge_share must be in [0, 1), got {hedge_share}")
    features = np.asarray(features, dtype=np.float32)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    labels = cluster_labels(features, k, seed)
    sizes = np.bincount(labels)
    key = _typicality_within(features, labels) if typical_first else uncertainty
    members = _cluster_members(labels, key)
    # Round robin over clusters: each round visits every cluster that has rows left, the one
    # whose next row ranks highest first (the biggest first when picking typical images).
    diverse: list[int] = []
    depth = 0
    while len(diverse) < n:
        ready = [c for c, rows in members.items() if depth < len(rows)]
        if typical_first:
            ready.sort(key=lambda c: (-sizes[c], c))
        else:
            ready.sort(key=lambda c: (-key[members[c][depth]], c))
        if diverse and len(ready) > 1 and ready[0] == labels[diverse[-1]]:
            ready[0], ready[1] = ready[1], ready[0]  # never the same cluster twice in a row
        diverse.extend(members[c][depth] for c in ready)
        depth += 1
    kind = TYPICAL if typical_first else DOUBTFUL
    period = round(1.0 / hedge_share) if hedge_share > 0 else 0
    hedge = iter(np.random.default_rng(seed).permutation(n).tolist())
    placed: set[int] = set()
    picks: list[Pick] = []
    walk = iter(diverse)
    for position in range(n):
        if period and (position + 1) % period == 0:
            row = next(r for r in hedge if r not in placed)
            picks.append(Pick(row, RANDOM, int(labels[row]), int(sizes[labels[row]])))
        else:
            row = next(r for r in walk if r not in placed)
            picks.append(Pick(row, kind, int(labels[row]), int(sizes[labels[row]])))
        placed.add(row)
    return picks


def least_confident_order(scores: np.ndarray) -> list[Pick]:
    """Lowest score first (ties by row): the queue's original order."""
    scores = np.asarray(scores, dtype=np.float64)
    return [Pick(int(row), LEAST_CONFIDENT) for row in np.lexsort((np.arange(len(scores)), scores))]


def random_order(n: int, seed: int = 0) -> list[Pick]:
    return [Pick(int(row), RANDOM) for row in np.random.default_rng(seed).permutation(n)]


def seed_suggestions(features: np.ndarray, labeled: np.ndarray, n: int, seed: int = 0) -> list[Pick]:
    """Up to n unlabeled rows to label first: TypiClust over all rows with
    k = labeled + n clusters; the largest clusters without a labeled row give their most
    typical unlabeled row; if fewer such clusters exist, the next most typical rows of the
    remaining clusters, one per cluster in turn.

    features: N,D; labeled: N bools (rows that already have a human mask)."""
    features = np.asarray(features, dtype=np.float32)
    labeled = np.asarray(labeled, dtype=bool)
    if len(labeled) != len(features):
        raise ValueError(f"{len(features)} feature rows but {len(labeled)} labeled flags")
    n = min(int(n), int((~labeled).sum()))
    if n <= 0:
        return []
    labels = cluster_labels(features, int(labeled.sum()) + n, seed)
    sizes = np.bincount(labels)
    typical = _typicality_within(features, labels)
    members = _cluster_members(labels, typical)
    covered = set(labels[labeled].tolist())
    # Uncovered clusters first (biggest first), then covered ones; within each, typical first.
    clusters = sorted(members, key=lambda c: (c in covered, -sizes[c], c))
    picks: list[Pick] = []
    depth = 0
    while len(picks) < n:
        progressed = False
        for c in clusters:
            rows = [r for r in members[c] if not labeled[r]]
            if depth < len(rows):
                picks.append(Pick(rows[depth], TYPICAL, int(c), int(sizes[c])))
                progressed = True
                if len(picks) == n:
                    break
        if not progressed:
            break
        depth += 1
    return picks
