"""Review by region in real Chromium: outlines, Tab, teacher keys, painting, both finishes.

Every check reads the mask the server stored (mask_read of the image's current mask) and
compares it pixel for pixel with the composition expected from the crafted item
(regions_setup): the page only previews, the server composes.
"""

import numpy as np
import pytest
from django.urls import reverse

from tests.webapp.annotation.conftest import browser, page_for  # noqa: F401 (fixtures)
from tests.webapp.review.regions_setup import CAR, VOID, H, W, block_image, region_item
from webapp.images.models import Image
from webapp.images.services import mask_read
from webapp.projects.services import ClassSpec, membership_set, project_create
from webapp.review.models import ReviewItem, ReviewStatus
from webapp.review.services import PARTIAL_NEEDS_IGNORE
from webapp.review.views import REGIONS_CORRECTED, REGIONS_PARTIAL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_by_region(page, live_server, project):
    page.goto(live_server.url + reverse("review:queue", args=[project.pk]))
    page.click("#start-form button")  # the page (a GET) leases nothing: starting is a POST
    page.click("#region-mode-toggle")
    page.wait_for_selector("#region-panel[data-ready]")
    return page


def hover(page, x, y):
    """Point at image pixel (x, y) (the canvas is scrolled into view first)."""
    canvas = page.locator("canvas[data-regions]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    canvas.hover(position={"x": (x + 0.5) * box["width"] / W, "y": (y + 0.5) * box["height"] / H})


def current_region(page):
    return int(page.locator("[data-region-current]").get_attribute("data-region"))


def finish_and_wait(page, key):
    page.keyboard.press(key)
    page.wait_for_selector("#queue-empty")  # the page moved on to the next item: none left


def stored(made):
    return mask_read(Image.objects.get(pk=made.item.image_id).current_mask)


def test_take_su_for_one_region_paint_another_and_accept_the_rest(page_for, live_server, project, owner, reviewer):
    made = region_item(project, block_image(project, owner))
    page = open_by_region(page_for(reviewer), live_server, project)
    assert page.locator("[data-region-status]").text_content().startswith("4 doubtful regions outlined")
    assert page.locator("canvas[data-regions]").is_visible()
    # Tab reaches the most doubtful region first; 1 takes the SU teacher's label there.
    page.keyboard.press("Tab")
    assert current_region(page) == made.ids["A"]
    page.keyboard.press("1")
    # Pick "car", point at region C and paint it with p.
    page.locator("[data-class-picker] label", has_text="car").click()
    hover(page, *made.pixel_in("C"))
    assert current_region(page) == made.ids["C"]
    page.keyboard.press("p")
    assert (
        page.locator("[data-region-status]").text_content().startswith("4 doubtful regions outlined; 2 regions decided")
    )
    finish_and_wait(page, "a")

    expected = made.pseudo.copy()
    expected[made.where("A")] = made.su[made.where("A")]
    expected[made.where("C")] = CAR
    assert np.array_equal(stored(made), expected)
    item = ReviewItem.objects.get(pk=made.item.pk)
    assert item.status == ReviewStatus.CORRECTED and item.reviewed_by_id == reviewer.pk and item.seconds_spent > 0
    log = item.region_log
    assert log["mode"] == "accept" and log["touched"] == [made.ids["A"], made.ids["C"]]
    assert log["regions"][str(made.ids["A"])]["keys"] == ["tab", "1"]
    assert log["regions"][str(made.ids["C"])]["keys"] == ["p"]
    assert log["regions"][str(made.ids["C"])]["class"] == CAR
    assert log["regions"][str(made.ids["A"])]["seconds"] > 0 and log["keys"] == {"tab": 1, "1": 1, "p": 1}
    assert page.locator(".messages li.success").text_content() == REGIONS_CORRECTED
    assert page.js_errors == []


def test_partial_finish_stores_the_ignore_index_where_nobody_checked(page_for, live_server, project, owner, reviewer):
    made = region_item(project, block_image(project, owner))
    page = open_by_region(page_for(reviewer), live_server, project)
    page.keyboard.press("Tab")
    page.keyboard.press("2")  # A: the RU teacher's label
    page.keyboard.press("Tab")
    assert current_region(page) == made.ids["B"]
    page.locator("[data-take='pseudo']").click()  # B: checked, the pseudo-label kept
    finish_and_wait(page, "f")

    expected = made.pseudo.copy()
    expected[made.where("A")] = made.ru[made.where("A")]
    expected[made.where("C") | made.where("D")] = VOID
    assert np.array_equal(stored(made), expected)
    item = ReviewItem.objects.get(pk=made.item.pk)
    assert item.status == ReviewStatus.CORRECTED and item.region_log["mode"] == "partial"
    assert sorted(item.region_log["unchecked"]) == sorted([made.ids["C"], made.ids["D"]])
    assert item.region_log["regions"][str(made.ids["B"])]["keys"] == ["tab", "button"]
    assert page.locator(".messages li.success").text_content() == REGIONS_PARTIAL.format(n=2, s="s")
    assert page.js_errors == []


def test_partial_finish_without_an_ignore_class_is_refused_on_the_page(page_for, live_server, owner, reviewer):
    plain = project_create(
        owner=owner, name="No void", classes=[ClassSpec("background"), ClassSpec("road"), ClassSpec("car")]
    )
    membership_set(project=plain, user=reviewer, annotator=False, reviewer=True)
    made = region_item(plain, block_image(plain, owner))
    page = open_by_region(page_for(reviewer), live_server, plain)
    page.keyboard.press("Tab")
    page.keyboard.press("1")
    page.keyboard.press("f")
    error = page.locator("[data-region-error]")
    error.wait_for(state="visible")
    assert error.text_content() == PARTIAL_NEEDS_IGNORE
    assert ReviewItem.objects.get(pk=made.item.pk).status == ReviewStatus.PENDING
    # the decisions are still there: accepting the rest now saves them
    finish_and_wait(page, "a")
    expected = made.pseudo.copy()
    expected[made.where("A")] = made.su[made.where("A")]
    assert np.array_equal(stored(made), expected)
    assert page.js_errors == []
