"""The learned auto-accept threshold, audits and the error estimate (ml.calibration)."""

import numpy as np
import pytest

from ml.calibration import (
    CALIBRATED,
    TOO_FEW,
    UNMET,
    calibrate_threshold,
    error_estimate,
    is_audit,
    pixel_error,
)


def test_threshold_is_the_lowest_score_whose_items_meet_the_target():
    # Ten corrections: above 0.8 the pseudo-labels were nearly right, below they were not.
    scores = [0.95, 0.93, 0.91, 0.89, 0.87, 0.85, 0.83, 0.81, 0.79, 0.6]
    errors = [0.01, 0.02, 0.0, 0.03, 0.02, 0.04, 0.03, 0.05, 0.30, 0.50]
    c = calibrate_threshold(scores, errors, target=0.05, fallback=0.9, min_support=4)
    assert c.status == CALIBRATED
    assert c.threshold == pytest.approx(0.81)
    assert c.support == 8 and c.decisions == 10
    assert c.mean_error == pytest.approx(np.mean(errors[:8]))
    # A stricter target needs a higher threshold.
    strict = calibrate_threshold(scores, errors, target=0.02, fallback=0.9, min_support=4)
    assert strict.threshold > c.threshold


def test_too_few_decisions_keep_the_fallback():
    c = calibrate_threshold([0.9, 0.8], [0.0, 0.0], target=0.05, fallback=0.9, min_support=8)
    assert (c.status, c.threshold) == (TOO_FEW, 0.9)


def test_unmet_target_accepts_only_what_is_surer_than_anything_reviewed():
    scores = np.linspace(0.5, 0.95, 12)
    c = calibrate_threshold(scores, np.full(12, 0.2), target=0.05, fallback=0.9, min_support=4)
    assert c.status == UNMET and c.threshold > 0.95
    low = calibrate_threshold(scores * 0.5, np.full(12, 0.2), target=0.05, fallback=0.9, min_support=4)
    assert low.threshold == 0.9  # never below the fallback when nothing met the target


def test_a_threshold_does_not_split_tied_scores():
    scores = [0.9] * 4 + [0.8] * 4
    errors = [0.0] * 4 + [0.0, 0.0, 0.0, 0.8]  # all of 0.8: mean 0.1
    c = calibrate_threshold(scores, errors, target=0.05, fallback=0.95, min_support=2)
    assert c.threshold == pytest.approx(0.9) and c.support == 4


def test_error_estimate_interval():
    errors = np.random.default_rng(0).beta(2, 30, size=40)
    e = error_estimate(errors, level=0.9)
    assert e.n == 40 and e.low < e.mean < e.high
    assert e.high - e.low < 0.05
    assert error_estimate([]).mean is None
    single = error_estimate([0.1])
    assert single.mean == pytest.approx(0.1) and single.low is None


def test_audit_draws_follow_the_share_and_repeat():
    keys = [f"run3-image{i}" for i in range(20000)]
    rate = np.mean([is_audit(0.05, k) for k in keys])
    assert 0.045 < rate < 0.055
    assert [is_audit(0.05, k) for k in keys[:50]] == [is_audit(0.05, k) for k in keys[:50]]
    assert not any(is_audit(0.0, k) for k in keys[:100])


def test_pixel_error_skips_the_ignore_class():
    human = np.array([[1, 1, 2, 11]], dtype=np.uint8)
    pseudo = np.array([[1, 2, 2, 3]], dtype=np.uint8)
    assert pixel_error(pseudo, human, ignore_index=11) == pytest.approx(1 / 3)
    assert pixel_error(pseudo, human) == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="shapes"):
        pixel_error(pseudo, human[:, :2])
