"""Every page under the Content-Security-Policy in real Chromium: no violation, no console error.

The pages load as the project's owner (an admin) with an image, a mask, a finished training run
with a chart, and a pending review item, so the editor, the gallery, the review queue and the
training chart all render their dynamic parts (colours, data islands, htmx swaps).
"""

import numpy as np
import pytest
from django.urls import reverse

from tests.webapp.annotation.conftest import browser, page_for  # noqa: F401 (fixtures)
from tests.webapp.review.conftest import queue_items  # noqa: F401 (fixture)
from webapp.training.models import RunStatus, RunTrigger, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records every violation and console error before any page script runs.
LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""

# Pages that poll (training, the editor's superpixels) never go network-idle: a short settle
# time lets late scripts, styles and fetches run before the violations are read.
SETTLE_MS = 400

# The one block we want: Redoc's vendored bundle always renders Redocly's logo from their CDN
# (no option turns it off); the policy keeps that third-party request from leaving the browser,
# and the bundle hides the broken image itself.
REDOC_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_LOGO = f"img-src blocked {REDOC_LOGO_URL}"


def visit(page, url, ready="body"):
    response = page.goto(url)
    assert response.status == 200, url
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(ready)
    page.wait_for_timeout(SETTLE_MS)
    return page.evaluate("window.__csp")


def test_every_page_passes_the_content_security_policy(page_for, live_server, project, owner, make_image, queue_items):  # noqa: F811
    image = make_image(32, 24, mask=np.ones((24, 32), np.uint8))
    TrainingRun.objects.create(
        project=project,
        trigger=RunTrigger.PAGE,
        status=RunStatus.SUCCEEDED,
        val_history=[{"stage": "teachers", "step": 3, "miou": 0.42}, {"stage": "students", "step": 6, "miou": 0.5}],
    )
    page = page_for(owner)
    page.context.add_init_script(LISTENER)
    console_errors = []
    # A 404 (the favicon, superpixels not computed yet) logs "Failed to load resource": not a
    # policy matter; nor is the Redoc logo's block, checked below. Any other error fails the test.
    page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    base = live_server.url
    pages = {
        "project list": (reverse("projects:list"), "main"),
        "create": (reverse("projects:create"), "#add-class"),
        "detail": (reverse("projects:detail", args=[project.pk]), ".tile"),
        "upload": (reverse("images:upload", args=[project.pk]), "[data-upload-form]"),
        "editor": (reverse("annotation:editor", args=[project.pk, image.pk]), "[data-editor]"),
        "review": (reverse("review:queue", args=[project.pk]), "main"),
        "training": (reverse("training:page", args=[project.pk]), "figure.chart"),
        "members (now the settings page)": (reverse("projects:members", args=[project.pk]), "main"),
        "settings": (reverse("projects:settings", args=[project.pk]), "main"),
        "webhooks": (reverse("webhooks:page", args=[project.pk]), "main"),
        "api docs": (reverse("api:docs"), ".swagger-ui .info"),
        "api redoc": (reverse("api:redoc"), ".api-content"),
    }
    violations = {name: visit(page, base + url, ready) for name, (url, ready) in pages.items()}
    assert [v.split(" at ")[0] for v in violations.pop("api redoc")] == [REDOC_LOGO]

    # Pages that work through scripts, once each: an htmx swap, the create form's row, the
    # review item that starting the queue opens, and the swatch colours page.js paints.
    page.goto(base + reverse("projects:detail", args=[project.pk]))
    page.click("[data-status=labeled]")
    page.wait_for_selector(".tabs a.active[data-status=labeled]")
    page.wait_for_timeout(SETTLE_MS)
    violations["detail after an htmx swap"] = page.evaluate("window.__csp")
    assert page.eval_on_selector(".swatch", "s => getComputedStyle(s).backgroundColor") != "rgba(0, 0, 0, 0)"
    page.goto(base + reverse("projects:create"))
    rows = page.locator("#class-rows tr").count()
    page.click("#add-class")
    assert page.locator("#class-rows tr").count() == rows + 1
    violations["create after adding a class"] = page.evaluate("window.__csp")
    page.goto(base + reverse("review:queue", args=[project.pk]))
    page.click("#start-form button")
    page.wait_for_selector("#review-item")
    page.wait_for_timeout(SETTLE_MS)
    violations["review item"] = page.evaluate("window.__csp")

    page.context.clear_cookies()
    violations["login"] = visit(page, base + reverse("login"), "input[name=username]")

    assert {name: found for name, found in violations.items() if found} == {}
    expected = ("Failed to load resource", f"Loading the image '{REDOC_LOGO_URL}'")
    assert [text for text in console_errors if not text.startswith(expected)] == []
    assert page.js_errors == []
