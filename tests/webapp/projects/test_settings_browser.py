"""The settings page in real Chromium: an admin changes the review threshold and adds a class
through the htmx sections, and the database holds both."""

import pytest
from django.urls import reverse

from tests.webapp.annotation.conftest import browser, page_for  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Content-Security-Policy violations, recorded before any page script runs.
LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""


def test_admin_changes_the_review_threshold_and_adds_a_class(page_for, live_server, project, owner):  # noqa: F811
    page = page_for(owner)
    page.context.add_init_script(LISTENER)
    page.goto(live_server.url + reverse("projects:settings", args=[project.pk]))

    page.fill("#review-form input[name=review_threshold]", "0.65")
    page.click("#review-form button[type=submit]")
    page.wait_for_selector("#review [role=status]")
    assert page.input_value("#review-form input[name=review_threshold]") == "0.65"

    page.fill("#class-add input[name=add-name]", "bike")
    page.click("#class-add button[type=submit]")
    page.wait_for_selector("#classes [data-class=bike]")
    assert page.inner_text("#classes [role=status]") == "Class bike added."

    project.refresh_from_db()
    assert project.review_threshold == 0.65
    bike = project.label_classes.get(name="bike")
    assert (bike.index, bike.is_ignore) == (3, False)
    assert project.label_classes.get(name="void").index == 4
    assert page.js_errors == [] and page.evaluate("window.__csp") == []
