"""The review page's queue parts: why an item was picked, the auto-accept panel, and the
admins' queue settings (review_settings_update behind them)."""

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import escape

from ml.calibration import CALIBRATED, TOO_FEW, UNMET, error_estimate
from ml.selection import DOUBTFUL
from webapp.images.models import ImageStatus, MaskSource
from webapp.images.services import MaskScores, mask_save
from webapp.projects.models import Project, QueueStrategy
from webapp.review import forms, views
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.queue import ADMINS_ONLY, AUDIT, PICK_REASONS, review_settings_update
from webapp.review.services import review_item_next

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "queue_strategy": QueueStrategy.DIVERSE,
    "review_batch_size": 20,
    "target_pixel_error": 0.05,
    "audit_share": 0.05,
}
VALID = {"strategy": "least_confident", "batch_size": "20", "target_pixel_error": "5", "audit_share": "5"}


def page(client, project) -> str:
    return client.get(reverse("review:queue", args=[project.pk])).content.decode()


def claimed_page(client, project) -> str:
    """The page after "Start reviewing" (a POST leases the next item, the page shows it)."""
    return client.post(reverse("review:next", args=[project.pk]), follow=True).content.decode()


def panel(client, project):
    return client.get(reverse("review:auto_accept", args=[project.pk]))


def settings_of(project) -> dict:
    project.refresh_from_db()
    return {name: getattr(project, name) for name in DEFAULTS}


def ranks() -> dict:
    return dict(ReviewItem.objects.values_list("pk", "queue_rank"))


@pytest.fixture
def ranked_highest_first(queue_items):
    """The queue under the random strategy, ranked so the most confident item (0.3) comes first."""
    project = queue_items[0].project
    Project.objects.filter(pk=project.pk).update(queue_strategy=QueueStrategy.RANDOM)
    for rank, item in enumerate(sorted(queue_items, key=lambda i: -i.score)):
        ReviewItem.objects.filter(pk=item.pk).update(queue_rank=rank, pick_kind="random")
    project.refresh_from_db()
    return project


# ------------------------------------------------------------------ why the item was picked


def test_page_says_why_the_item_was_picked(client, reviewer, queue_items):
    lowest = queue_items[1]
    ReviewItem.objects.filter(pk=lowest.pk).update(queue_rank=0, pick_kind=DOUBTFUL, pick_group_size=14)
    client.force_login(reviewer)
    html = claimed_page(client, lowest.project)
    assert f'data-item="{lowest.pk}"' in html
    assert "Most doubtful of a group of 14 similar images." in html
    assert 'id="audit-badge"' not in html


def test_an_audit_item_carries_the_audit_badge(client, reviewer, queue_items):
    lowest = queue_items[1]
    ReviewItem.objects.filter(pk=lowest.pk).update(queue_rank=0, is_audit=True, pick_kind=AUDIT)
    client.force_login(reviewer)
    html = claimed_page(client, lowest.project)
    assert '<span class="badge audit" id="audit-badge">Audit</span>' in html
    assert escape(PICK_REASONS[AUDIT]) in html


# ------------------------------------------------------------------ the auto-accept panel


def test_page_loads_the_panel_after_itself(client, reviewer, queue_items):
    project = queue_items[0].project
    client.force_login(reviewer)
    html = page(client, project)
    assert f'hx-get="{reverse("review:auto_accept", args=[project.pk])}"' in html
    assert "Estimated pixel error" not in html  # not computed while serving the next item


CALIBRATIONS = [
    (
        {
            "threshold": 0.83,
            "status": CALIBRATED,
            "support": 12,
            "decisions": 40,
            "mean_error": 0.031,
            "target": 0.05,
            "at": "2025-01-01T00:00:00+00:00",
        },
        "0.83",
        "Learned from 40 decisions: pseudo-labels scoring ≥ 0.83 had 3.1 % wrong pixels on average (target 5 %).",
    ),
    (
        {
            "threshold": 0.9,
            "status": TOO_FEW,
            "support": 0,
            "decisions": 3,
            "mean_error": None,
            "target": 0.05,
            "at": "2025-01-01T00:00:00+00:00",
        },
        "0.90",
        "Too few decisions yet (3 of 8): the project's threshold 0.90 is used.",
    ),
    (
        {
            "threshold": 0.970001,
            "status": UNMET,
            "support": 0,
            "decisions": 30,
            "mean_error": None,
            "target": 0.05,
            "at": "2025-01-01T00:00:00+00:00",
        },
        "0.97",
        "No score range met the 5 % target yet: only labels above 0.97 are accepted.",
    ),
    ({}, "0.90", "Not calibrated yet: the project's threshold 0.90."),
]


@pytest.mark.parametrize("calibration, threshold, text", CALIBRATIONS, ids=["calibrated", "too_few", "unmet", "none"])
def test_panel_says_where_the_threshold_comes_from(client, reviewer, project, calibration, threshold, text):
    Project.objects.filter(pk=project.pk).update(threshold_calibration=calibration)
    client.force_login(reviewer)
    response = panel(client, project)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<strong id="threshold-in-use">{threshold}</strong>' in html
    assert escape(text) in html
    assert "<html" not in html  # the partial alone


def test_panel_counts_accepted_pseudo_labels_and_estimates_their_error_from_audits(
    client, reviewer, queue_items, make_image
):
    project = queue_items[0].project
    accepted = make_image(16, 12)
    mask_save(
        image=accepted,
        base_version=0,
        array=np.ones((12, 16), np.uint8),
        source=MaskSource.PSEUDO,
        status=ImageStatus.PSEUDO_LABELED,
        scores=MaskScores(0.95, 0.9, 0.0),
    )
    make_image(mask=np.zeros((24, 32), np.uint8))  # a human mask: not counted
    client.force_login(reviewer)
    html = panel(client, project).content.decode()
    assert views.ACCEPTED_SHARE.format(accepted=1, without_human=4, share=25) in html
    assert views.NO_AUDITS in html

    errors = [0.02, 0.05, 0.08]
    for item, error in zip(queue_items, errors, strict=True):
        ReviewItem.objects.filter(pk=item.pk).update(is_audit=True, status=ReviewStatus.CORRECTED, pixel_error=error)
    estimate = error_estimate(errors)
    expected = (
        f"{round(estimate.mean * 100, 1):g} % (90 % CI {round(estimate.low * 100, 1):g}–"
        f"{round(estimate.high * 100, 1):g} %), from 3 audits"
    )
    assert expected.startswith("5 % (90 % CI ")
    assert f"Estimated pixel error of accepted pseudo-labels: {expected}." in panel(client, project).content.decode()


def test_panel_with_one_audit_gives_no_interval(client, reviewer, queue_items):
    item = queue_items[0]
    ReviewItem.objects.filter(pk=item.pk).update(is_audit=True, status=ReviewStatus.ACCEPTED, pixel_error=0.0)
    client.force_login(reviewer)
    assert views.ERROR_ONE_AUDIT.format(mean="0") in panel(client, item.project).content.decode()


def test_panel_access_outsider_gets_404_annotator_403(client, outsider, member, project):
    client.force_login(outsider)
    assert panel(client, project).status_code == 404
    client.force_login(member)
    assert panel(client, project).status_code == 403


# ------------------------------------------------------------------ the queue settings


def post_settings(client, project, data):
    return client.post(reverse("review:settings", args=[project.pk]), data)


def test_only_admins_see_the_settings_form(client, owner, reviewer, project):
    client.force_login(reviewer)
    assert 'id="queue-settings-form"' not in page(client, project)
    client.force_login(owner)
    html = page(client, project)
    assert 'id="queue-settings-form"' in html and f'action="{reverse("review:settings", args=[project.pk])}"' in html


def test_admin_switches_to_least_confident_and_the_queue_is_reranked(client, owner, reviewer, ranked_highest_first):
    project = ranked_highest_first
    client.force_login(owner)
    response = post_settings(client, project, VALID)
    assert response.status_code == 302 and response["Location"] == reverse("review:queue", args=[project.pk])
    assert settings_of(project)["queue_strategy"] == QueueStrategy.LEAST_CONFIDENT
    first = review_item_next(project=project, user=reviewer)
    assert first.score == pytest.approx(0.1)
    assert sorted(ReviewItem.objects.all(), key=lambda i: i.queue_rank)[0].pk == first.pk
    assert views.SETTINGS_REORDERED in page(client, project)


def test_admin_sets_target_and_audit_share_as_percentages(client, owner, ranked_highest_first):
    project = ranked_highest_first
    before = ranks()
    client.force_login(owner)
    post_settings(client, project, {**VALID, "strategy": "random", "target_pixel_error": "2.5", "audit_share": "10"})
    assert settings_of(project) == {
        **DEFAULTS,
        "queue_strategy": QueueStrategy.RANDOM,
        "target_pixel_error": 0.025,
        "audit_share": 0.1,
    }
    assert ranks() == before  # neither field changes the order
    assert views.SETTINGS_SAVED in page(client, project)


def test_reviewer_who_is_not_admin_gets_403_and_nothing_changes(client, reviewer, member, ranked_highest_first):
    project = ranked_highest_first
    before, settings_before = ranks(), settings_of(project)
    for user in (reviewer, member):
        client.force_login(user)
        assert post_settings(client, project, VALID).status_code == 403
    assert ranks() == before and settings_of(project) == settings_before


def test_outsider_gets_404_and_nothing_changes(client, outsider, ranked_highest_first):
    project = ranked_highest_first
    before, settings_before = ranks(), settings_of(project)
    client.force_login(outsider)
    assert post_settings(client, project, VALID).status_code == 404
    assert ranks() == before and settings_of(project) == settings_before


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", "0", forms.BATCH_SIZE_INVALID),
        ("batch_size", "501", forms.BATCH_SIZE_INVALID),
        ("batch_size", "2.5", forms.BATCH_SIZE_INVALID),
        ("target_pixel_error", "80", forms.TARGET_INVALID),
        ("target_pixel_error", "0.05", forms.TARGET_INVALID),
        ("target_pixel_error", "nan", forms.TARGET_INVALID),
        ("audit_share", "-1", forms.AUDIT_INVALID),
        ("audit_share", "", forms.AUDIT_INVALID),
        ("strategy", "best", forms.STRATEGY_INVALID),
    ],
)
def test_invalid_values_get_the_message_and_change_nothing(client, owner, ranked_highest_first, field, value, message):
    project = ranked_highest_first
    before, settings_before = ranks(), settings_of(project)
    client.force_login(owner)
    response = post_settings(client, project, {**VALID, field: value})
    assert response.status_code == 302
    assert ranks() == before and settings_of(project) == settings_before
    html = page(client, project)
    assert escape(message) in html
    assert views.SETTINGS_SAVED not in html and views.SETTINGS_REORDERED not in html


def test_get_never_changes_state(client, owner, ranked_highest_first):
    project = ranked_highest_first
    calibrated = {
        "threshold": 0.83,
        "status": CALIBRATED,
        "support": 12,
        "decisions": 40,
        "mean_error": 0.031,
        "target": 0.05,
        "at": "2025-01-01T00:00:00+00:00",
    }
    Project.objects.filter(pk=project.pk).update(threshold_calibration=calibrated)
    before, settings_before = ranks(), settings_of(project)
    client.force_login(owner)
    url = reverse("review:settings", args=[project.pk])
    assert client.get(url, VALID).status_code == 405
    assert client.head(url).status_code == 405
    assert panel(client, project).status_code == 200
    project.refresh_from_db()
    assert ranks() == before and settings_of(project) == settings_before
    assert project.threshold_calibration == calibrated
    assert not ReviewItem.objects.filter(leased_by__isnull=False).exists()  # the panel leases nothing


# ------------------------------------------------------------------ the service behind the form


def test_service_refuses_non_admins(reviewer, ranked_highest_first):
    with pytest.raises(PermissionDenied, match=ADMINS_ONLY):
        review_settings_update(
            project=ranked_highest_first,
            user=reviewer,
            strategy="least_confident",
            batch_size=20,
            target_pixel_error=0.05,
            audit_share=0.05,
        )
    assert settings_of(ranked_highest_first)["queue_strategy"] == QueueStrategy.RANDOM


@pytest.mark.parametrize(
    "values", [{"batch_size": 0}, {"target_pixel_error": 0.8}, {"audit_share": -0.1}, {"strategy": "best"}]
)
def test_service_refuses_out_of_range_values_and_saves_nothing(owner, project, values):
    given = {"strategy": "random", "batch_size": 30, "target_pixel_error": 0.02, "audit_share": 0.1, **values}
    with pytest.raises(ValueError, match="Invalid queue setting"):
        review_settings_update(project=project, user=owner, **given)
    assert settings_of(project) == DEFAULTS


def test_service_relearns_the_threshold_for_a_new_target(owner, queue_items):
    project = queue_items[0].project
    for item, error in zip(queue_items, (0.0, 0.2, 0.0), strict=True):
        ReviewItem.objects.filter(pk=item.pk).update(status=ReviewStatus.ACCEPTED, pixel_error=error)
    Project.objects.filter(pk=project.pk).update(threshold_calibration={"threshold": 0.9, "status": TOO_FEW})
    project.refresh_from_db()
    changed = review_settings_update(
        project=project, user=owner, strategy="diverse", batch_size=20, target_pixel_error=0.03, audit_share=0.05
    )
    assert changed == ["target_pixel_error"]
    project.refresh_from_db()
    assert project.threshold_calibration["target"] == 0.03 and project.threshold_calibration["decisions"] == 3


def test_service_leaves_an_uncalibrated_project_uncalibrated(owner, project):
    review_settings_update(
        project=project, user=owner, strategy="diverse", batch_size=20, target_pixel_error=0.03, audit_share=0.05
    )
    project.refresh_from_db()
    assert project.threshold_calibration == {} and project.target_pixel_error == 0.03
