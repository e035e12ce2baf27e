"""Review by region without a browser: the doubtful regions and their order, the mask the
server composes, the refusals, who may do it, and the parser of the page's request."""

import json

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from PIL import Image as PILImage

from ml.calibration import pixel_error
from tests.webapp.review.regions_setup import CAR, ROAD, VOID, H, W, block_image, region_item
from webapp.images.models import Image, ImageStatus, MaskSource
from webapp.images.services import mask_read, mask_save
from webapp.projects.services import ClassSpec, membership_set, project_create
from webapp.review import forms
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.regions import (
    NO_SUPERPIXELS,
    RegionChoice,
    doubtful_regions,
    item_doubtful_regions,
    region_mask_compose,
)
from webapp.review.services import (
    ALREADY_DECIDED,
    IMAGE_CHANGED,
    LEASED_TO_OTHER,
    PARTIAL_NEEDS_IGNORE,
    UNKNOWN_CLASS,
    UNKNOWN_REGIONS,
    ReviewRefused,
    review_item_accept,
    review_item_finish_regions,
    review_item_next,
)
from webapp.review.views import REGIONS_ACCEPTED, REGIONS_CORRECTED, REGIONS_PARTIAL

pytestmark = pytest.mark.django_db


@pytest.fixture
def made(project, owner):
    return region_item(project, block_image(project, owner))


def finish(made, user, mode="accept", **decisions):
    choices = {made.ids[name]: choice for name, choice in decisions.items()}
    return review_item_finish_regions(item=made.item, user=user, mode=mode, decisions=choices, seconds=12.5)


# ---------------------------------------------------------------- doubtful regions


def test_both_teachers_labels_are_kept_with_the_item(made):
    for field, expected in ((made.item.su_label, made.su), (made.item.ru_label, made.ru)):
        with field.open("rb") as handle, PILImage.open(handle) as png:
            assert png.mode == "L" and (np.array(png) == expected).all()


def test_doubtful_regions_are_the_unsure_and_disputed_ones_most_doubtful_first(made):
    regions = item_doubtful_regions(item=made.item)
    assert [r.id for r in regions] == [made.ids[n] for n in ("A", "B", "C", "D")]  # E: disputed on 40 % only
    assert [round(r.confidence, 2) for r in regions] == [0.2, 0.5, 0.8, 1.0]
    assert regions[3].disagreement == 1.0 and regions[0].disagreement == 0.0


def test_the_rounds_tau_decides_which_regions_are_unsure(project, owner):
    made = region_item(project, block_image(project, owner), tau=0.6)
    assert [r.id for r in item_doubtful_regions(item=made.item)] == [made.ids[n] for n in ("A", "B", "D")]


def test_ties_in_confidence_go_to_the_lower_id_and_empty_ids_are_skipped():
    superpixels = np.array([[0, 0, 2, 2], [3, 3, 4, 4]], np.int32)  # no region 1
    confidence = np.array([[100, 100, 100, 100], [10, 30, 255, 255]], np.uint8)
    disagreement = np.array([[0, 0, 0, 0], [0, 0, 255, 255]], np.uint8)
    regions = doubtful_regions(superpixels=superpixels, confidence=confidence, disagreement=disagreement, tau=0.95)
    assert [r.id for r in regions] == [3, 0, 2, 4]


def test_regions_endpoint_lists_them_in_order_with_their_confidence(client, reviewer, made):
    client.force_login(reviewer)
    project = made.item.project
    body = client.get(reverse("review:regions", args=[project.pk, made.item.pk])).json()
    assert [r["id"] for r in body["regions"]] == [made.ids[n] for n in ("A", "B", "C", "D")]
    assert [r["confidence"] for r in body["regions"]][:3] == [
        pytest.approx(0.2, abs=0.005),
        pytest.approx(0.5, abs=0.005),
        pytest.approx(0.8, abs=0.005),
    ]
    assert body["count"] == made.superpixels.max() + 1 and body["tau"] == 0.95 and body["teachers"] is True
    assert body["superpixels_url"] == reverse("images:superpixels", args=[project.pk, made.item.image_id])
    for name in ("su", "ru"):
        layer = client.get(body["layers"][name])
        assert layer.status_code == 200 and layer["Content-Type"] == "image/png"


def test_regions_endpoint_says_when_superpixels_are_missing(client, reviewer, queue_items):
    client.force_login(reviewer)
    item = queue_items[0]
    response = client.get(reverse("review:regions", args=[item.project_id, item.pk]))
    assert response.status_code == 409 and response.json() == {"error": NO_SUPERPIXELS}


# ---------------------------------------------------------------- composition


def test_accept_the_rest_composes_teacher_painted_and_pseudo_regions(made, reviewer):
    item = finish(
        made,
        reviewer,
        A=RegionChoice("su"),
        C=RegionChoice("paint", CAR),
        D=RegionChoice("ru"),
        B=RegionChoice("pseudo"),
    )
    expected = made.pseudo.copy()
    expected[made.where("A")] = made.su[made.where("A")]
    expected[made.where("C")] = CAR
    expected[made.where("D")] = made.ru[made.where("D")]
    image = Image.objects.get(pk=item.image_id)
    stored = mask_read(image.current_mask)
    assert (stored == expected).all()
    assert image.status == ImageStatus.LABELED and image.current_mask.source == MaskSource.HUMAN
    assert (
        image.current_mask.author_id == reviewer.pk and image.current_mask.based_on_version == item.pseudo_mask.version
    )
    assert item.status == ReviewStatus.CORRECTED and item.reviewed_by_id == reviewer.pk
    assert item.pixel_error == pytest.approx(pixel_error(made.pseudo, expected, VOID))
    assert item.seconds_spent == 12.5 and item.leased_by_id is None
    assert item.region_mask_id == image.current_mask_id and item.unlabeled_share == 0.0
    log = item.region_log
    assert log["mode"] == "accept" and log["doubtful"] == 4 and log["unchecked"] == []
    assert sorted(log["touched"]) == sorted(made.ids[n] for n in "ACD")
    assert log["regions"][str(made.ids["C"])] == {"seconds": 0.0, "keys": [], "source": "paint", "class": CAR}


def test_accept_with_nothing_touched_accepts_the_pseudo_label(made, reviewer):
    item = finish(made, reviewer)
    assert item.status == ReviewStatus.ACCEPTED and item.pixel_error == 0.0
    assert (mask_read(Image.objects.get(pk=item.image_id).current_mask) == made.pseudo).all()


def test_partial_finish_leaves_unchecked_doubtful_regions_at_the_ignore_index(made, reviewer):
    item = finish(made, reviewer, "partial", A=RegionChoice("su"), C=RegionChoice("pseudo"))
    expected = made.pseudo.copy()
    expected[made.where("A")] = made.su[made.where("A")]
    unchecked = made.where("B") | made.where("D")
    expected[unchecked] = VOID
    stored = mask_read(Image.objects.get(pk=item.image_id).current_mask)
    assert (stored == expected).all()
    assert item.status == ReviewStatus.CORRECTED
    assert item.unlabeled_share == pytest.approx(unchecked.mean())
    assert sorted(item.region_log["unchecked"]) == sorted([made.ids["B"], made.ids["D"]])
    # the ignored pixels do not count as errors of the pseudo-label
    assert item.pixel_error == pytest.approx(pixel_error(made.pseudo, expected, VOID))


def test_the_browsers_times_and_keys_are_recorded_per_region(made, reviewer):
    a, e = made.ids["A"], made.ids["E"]
    item = review_item_finish_regions(
        item=made.item,
        user=reviewer,
        mode="accept",
        decisions={a: RegionChoice("su")},
        activity={a: {"seconds": 2.5, "keys": ["tab", "1"]}, e: {"seconds": 0.75, "keys": []}},
    )
    log = item.region_log
    assert log["regions"][str(a)] == {"seconds": 2.5, "keys": ["tab", "1"], "source": "su"}
    assert log["regions"][str(e)] == {"seconds": 0.75, "keys": []}
    assert log["keys"] == {"tab": 1, "1": 1} and log["checked"] == [a] and log["touched"] == [a]


def test_compose_is_a_table_lookup_per_pixel():
    superpixels = np.array([[0, 0, 1], [2, 2, 1]], np.int32)
    pseudo = np.full((2, 3), 1, np.uint8)
    su, ru = np.array([[5, 6, 7], [8, 9, 4]], np.uint8), np.zeros((2, 3), np.uint8)
    mask = region_mask_compose(
        superpixels=superpixels,
        pseudo=pseudo,
        su=su,
        ru=ru,
        choices={0: RegionChoice("su"), 1: RegionChoice("paint", 2)},
        unlabeled=[2],
        ignore_index=255,
    )
    assert mask.tolist() == [[5, 6, 2], [255, 255, 2]]


# ---------------------------------------------------------------- refusals


def assert_refused(made, message, call):
    with pytest.raises(ReviewRefused) as refused:
        call()
    assert str(refused.value) == message
    made.item.refresh_from_db()
    assert made.item.status == ReviewStatus.PENDING
    assert Image.objects.get(pk=made.item.image_id).current_mask_id == made.item.pseudo_mask_id


def test_unknown_regions_and_classes_are_refused(made, reviewer):
    beyond = int(made.superpixels.max()) + 1
    assert_refused(
        made,
        UNKNOWN_REGIONS.format(ids=f"{beyond}, {beyond + 5}"),
        lambda: review_item_finish_regions(
            item=made.item,
            user=reviewer,
            mode="accept",
            decisions={beyond + 5: RegionChoice("su"), beyond: RegionChoice("ru")},
        ),
    )
    assert_refused(
        made,
        UNKNOWN_REGIONS.format(ids=str(beyond)),
        lambda: review_item_finish_regions(
            item=made.item, user=reviewer, mode="accept", decisions={}, activity={beyond: {"seconds": 1.0, "keys": []}}
        ),
    )
    for label in (VOID, 9):  # the ignore class is not a class to paint with
        assert_refused(
            made,
            UNKNOWN_CLASS.format(label=label),
            lambda label=label: finish(made, reviewer, A=RegionChoice("paint", label)),
        )


def test_partial_finish_is_refused_without_an_ignore_class(owner, reviewer):
    plain = project_create(
        owner=owner, name="No void", classes=[ClassSpec("background"), ClassSpec("road"), ClassSpec("car")]
    )
    membership_set(project=plain, user=reviewer, annotator=False, reviewer=True)
    made = region_item(plain, block_image(plain, owner))
    assert_refused(made, PARTIAL_NEEDS_IGNORE, lambda: finish(made, reviewer, "partial", A=RegionChoice("su")))
    assert finish(made, reviewer, "accept", A=RegionChoice("su")).status == ReviewStatus.CORRECTED


def test_another_reviewers_lease_and_a_decided_item_are_refused(made, reviewer, owner):
    assert review_item_next(project=made.item.project, user=owner).pk == made.item.pk
    assert_refused(made, LEASED_TO_OTHER.format(who="owner"), lambda: finish(made, reviewer, A=RegionChoice("su")))
    review_item_accept(item=made.item, user=owner)
    with pytest.raises(ReviewRefused) as refused:
        finish(made, reviewer, A=RegionChoice("su"))
    assert str(refused.value) == ALREADY_DECIDED.format(status="accepted", who="owner")


def test_a_newer_mask_of_the_image_is_refused_as_for_accept(made, reviewer, member):
    # (the mask hook, after commit, would also close the item; here it has not run yet)
    image = Image.objects.get(pk=made.item.image_id)
    mask_save(image=image, base_version=image.mask_version, array=np.zeros((H, W), np.uint8), author=member)
    with pytest.raises(ReviewRefused) as refused:
        finish(made, reviewer, A=RegionChoice("su"))
    assert str(refused.value) == IMAGE_CHANGED.format(current=2, pseudo=1)
    assert mask_read(Image.objects.get(pk=image.pk).current_mask).max() == 0


def test_annotators_may_not_review_by_region(made, member):
    with pytest.raises(PermissionDenied):
        finish(made, member, A=RegionChoice("su"))


# ---------------------------------------------------------------- the endpoint and its parser


def post(client, made, body):
    url = reverse("review:finish_regions", args=[made.item.project_id, made.item.pk])
    return client.post(
        url, data=body if isinstance(body, (str, bytes)) else json.dumps(body), content_type="application/json"
    )


def test_outsider_gets_404_and_annotator_403_on_the_region_urls(client, outsider, member, made):
    project_id, item_id = made.item.project_id, made.item.pk
    for user, status in ((outsider, 404), (member, 403)):
        client.force_login(user)
        assert client.get(reverse("review:regions", args=[project_id, item_id])).status_code == status
        assert post(client, made, {"mode": "accept", "decisions": {}}).status_code == status
    made.item.refresh_from_db()
    assert made.item.status == ReviewStatus.PENDING


def test_finish_is_post_only(client, reviewer, made):
    client.force_login(reviewer)
    assert client.get(reverse("review:finish_regions", args=[made.item.project_id, made.item.pk])).status_code == 405


def test_the_page_posts_decisions_and_gets_the_next_url(client, reviewer, made):
    client.force_login(reviewer)
    a, b = made.ids["A"], made.ids["B"]
    response = post(
        client,
        made,
        {
            "mode": "partial",
            "seconds": 8.25,
            "decisions": {str(a): {"source": "su"}, str(b): {"source": "paint", "class": CAR}},
            "regions": {str(a): {"seconds": 1.5, "keys": ["tab", "1"]}},
        },
    )
    assert response.status_code == 200
    assert response.json() == {
        "status": "corrected",
        "message": REGIONS_PARTIAL.format(n=2, s="s"),
        "next": reverse("review:queue", args=[made.item.project_id]),
    }
    made.item.refresh_from_db()
    assert made.item.seconds_spent == 8.25 and made.item.region_log["regions"][str(a)]["keys"] == ["tab", "1"]


def test_a_finish_leases_the_next_item_so_the_page_it_goes_to_only_reads(client, reviewer, made, queue_items):
    client.force_login(reviewer)
    response = post(client, made, {"mode": "accept", "decisions": {}})
    assert response.status_code == 200
    held = ReviewItem.objects.filter(leased_by=reviewer, status=ReviewStatus.PENDING)
    assert [i.pk for i in held] == [min(queue_items, key=lambda i: i.score).pk]  # leased by the POST
    before = list(ReviewItem.objects.order_by("pk").values())
    page = client.get(response.json()["next"]).content.decode()
    assert f'data-item="{held[0].pk}"' in page and REGIONS_ACCEPTED in page
    assert list(ReviewItem.objects.order_by("pk").values()) == before


def test_the_page_gets_the_refusal_in_words(client, reviewer, made):
    client.force_login(reviewer)
    response = post(client, made, {"mode": "accept", "decisions": {"1": {"source": "paint", "class": 9}}})
    assert response.status_code == 409 and response.json() == {"error": UNKNOWN_CLASS.format(label=9)}
    response = post(client, made, "not json")
    assert response.status_code == 400 and response.json() == {"error": forms.REGION_REVIEW_UNREADABLE}
    response = post(client, made, {"mode": "accept", "decisions": {str(made.ids["C"]): {"source": "ru"}}})
    assert response.status_code == 200 and response.json()["message"] == REGIONS_CORRECTED


@pytest.mark.parametrize(
    "body, message",
    [
        ({"decisions": {}}, forms.REGION_MODE_INVALID),
        ({"mode": "all", "decisions": {}}, forms.REGION_MODE_INVALID),
        ({"mode": "accept", "decisions": []}, forms.REGION_REVIEW_UNREADABLE),
        ({"mode": "accept", "decisions": {"-1": {"source": "su"}}}, forms.REGION_ID_INVALID),
        ({"mode": "accept", "decisions": {"16777216": {"source": "su"}}}, forms.REGION_ID_INVALID),
        ({"mode": "accept", "decisions": {"3": {"source": "model"}}}, forms.REGION_SOURCE_INVALID),
        ({"mode": "accept", "decisions": {"3": {"source": "paint"}}}, forms.REGION_CLASS_INVALID),
        ({"mode": "accept", "decisions": {"3": {"source": "paint", "class": 256}}}, forms.REGION_CLASS_INVALID),
        ({"mode": "accept", "decisions": {"3": {"source": "paint", "class": True}}}, forms.REGION_CLASS_INVALID),
        ({"mode": "accept", "decisions": {}, "seconds": -1}, forms.REGION_SECONDS_INVALID),
        ({"mode": "accept", "decisions": {}, "seconds": "9"}, forms.REGION_SECONDS_INVALID),
        ({"mode": "accept", "decisions": {}, "regions": {"3": {"seconds": 1e9}}}, forms.REGION_SECONDS_INVALID),
        ({"mode": "accept", "decisions": {}, "regions": {"3": {"keys": ["x"]}}}, forms.REGION_KEYS_INVALID),
        ({"mode": "accept", "decisions": {}, "regions": {"3": {"keys": ["1"] * 101}}}, forms.REGION_KEYS_INVALID),
    ],
)
def test_the_parser_refuses_malformed_reviews(body, message):
    with pytest.raises(forms.InvalidRegionReview) as invalid:
        forms.region_review_parse(json.dumps(body).encode())
    assert str(invalid.value) == message


def test_the_parser_reads_a_review():
    parsed = forms.region_review_parse(
        json.dumps(
            {
                "mode": "partial",
                "seconds": 3,
                "decisions": {"4": {"source": "paint", "class": 2}, "7": {"source": "ru"}},
                "regions": {"4": {"seconds": 1.234, "keys": ["p"]}},
            }
        ).encode()
    )
    assert parsed.mode == "partial" and parsed.seconds == 3.0
    assert parsed.decisions == {4: RegionChoice("paint", 2), 7: RegionChoice("ru")}
    assert parsed.activity == {4: {"seconds": 1.23, "keys": ["p"]}}


def test_a_queued_item_without_superpixels_cannot_be_finished_by_region(reviewer, queue_items):
    item = queue_items[0]
    with pytest.raises(ReviewRefused) as refused:
        review_item_finish_regions(item=item, user=reviewer, mode="accept", decisions={})
    assert str(refused.value) == NO_SUPERPIXELS
    assert mask_read(Image.objects.get(pk=item.image_id).current_mask).tolist()[0][0] == ROAD
