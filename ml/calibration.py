"""The auto-accept threshold, learned from what reviewers did, and the audit that checks it.

A reviewed pseudo-label yields (score, pixel error): the share of its pixels the human
changed (0 when accepted as is). The threshold is the lowest score above which the reviewed
items' pixels were, on average, within the project's target error. Auto-accepted labels are
spot-checked: a small random share goes to the queue as audits, and their errors give the
estimate, with a bootstrap confidence interval, that the review page shows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

CALIBRATED, TOO_FEW, UNMET = "calibrated", "too_few", "unmet"
MIN_SUPPORT = 8  # reviewed items at or above a threshold before it is trusted
ABOVE_REVIEWED = 1e-6  # "unmet": only labels more confident than anything reviewed pass


@dataclass(frozen=True)
class Calibration:
    """threshold: what pseudo-labelling uses; status: CALIBRATED (learned), TOO_FEW (fewer
    than min_support decisions: the fallback) or UNMET (no score range met the target: just
    above the highest reviewed score, never below the fallback); support: decisions at or
    above the threshold; mean_error: their mean pixel error (None unless CALIBRATED)."""

    threshold: float
    status: str
    support: int
    decisions: int
    mean_error: float | None = None


def calibrate_threshold(
    scores, errors, *, target: float, fallback: float, min_support: int = MIN_SUPPORT
) -> Calibration:
    """The lowest reviewed score t such that the items scoring >= t (at least min_support
    of them) have a mean pixel error <= target."""
    scores = np.asarray(scores, dtype=np.float64)
    errors = np.asarray(errors, dtype=np.float64)
    if scores.shape != errors.shape:
        raise ValueError(f"{scores.size} scores but {errors.size} errors")
    if scores.size < min_support:
        return Calibration(fallback, TOO_FEW, 0, int(scores.size))
    order = np.argsort(-scores, kind="stable")
    s, e = scores[order], errors[order]
    mean_above = np.cumsum(e) / np.arange(1, len(e) + 1)
    # A threshold must not split equal scores: only the last row of each run of ties counts.
    last_of_tie = np.append(s[1:] != s[:-1], True)
    ok = (mean_above <= target) & (np.arange(1, len(e) + 1) >= min_support) & last_of_tie
    if not ok.any():
        return Calibration(max(fallback, float(s[0]) + ABOVE_REVIEWED), UNMET, 0, int(scores.size))
    i = int(np.flatnonzero(ok)[-1])
    return Calibration(float(s[i]), CALIBRATED, i + 1, int(scores.size), float(mean_above[i]))


@dataclass(frozen=True)
class ErrorEstimate:
    """Mean pixel error of audited labels, with a bootstrap interval (None below 2 audits)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    level: float


def error_estimate(errors, *, level: float = 0.9, resamples: int = 2000, seed: int = 0) -> ErrorEstimate:
    """Percentile bootstrap of the mean over audited items (errors are skewed and bounded,
    so no normal approximation)."""
    errors = np.asarray(errors, dtype=np.float64)
    n = int(errors.size)
    if n == 0:
        return ErrorEstimate(None, None, None, 0, level)
    mean = float(errors.mean())
    if n < 2:
        return ErrorEstimate(mean, None, None, n, level)
    rng = np.random.default_rng(seed)
    means = errors[rng.integers(0, n, size=(resamples, n))].mean(1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return ErrorEstimate(mean, float(low), float(high), n, level)


def is_audit(share: float, key: str) -> bool:
    """Whether the auto-accepted label named by ``key`` is drawn for an audit: a uniform draw
    from the key's hash, so the choice is repeatable and independent of order and worker."""
    if share <= 0:
        return False
    draw = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return draw < share


def pixel_error(pseudo: np.ndarray, human: np.ndarray, ignore_index: int | None = None) -> float:
    """Share of the human mask's pixels (its ignore class excluded) where the pseudo-label
    had another class."""
    if pseudo.shape != human.shape:
        raise ValueError(f"mask shapes differ: {pseudo.shape} and {human.shape}")
    valid = np.ones(human.shape, dtype=bool) if ignore_index is None else human != ignore_index
    total = int(valid.sum())
    return float(((pseudo != human) & valid).sum() / total) if total else 0.0
