"""The upload page in a real browser: progress bar, per-file results, then the gallery's tabs."""

import pytest
from django.urls import reverse

from tests.conftest import noise_png
from webapp.images.validation import NOT_AN_IMAGE

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_upload_shows_progress_and_results_then_gallery_filters(page, live_server, project, tmp_path):
    (tmp_path / "good.png").write_bytes(noise_png(64, 48, seed=1))
    (tmp_path / "broken.png").write_bytes(b"no image here")
    page.goto(live_server.url + reverse("login"))
    page.fill("input[name=username]", "member")
    page.fill("input[name=password]", "pw-member-123")
    page.click("button[type=submit]")
    page.goto(live_server.url + reverse("images:upload", args=[project.id]))
    page.set_input_files("input[name=files]", [str(tmp_path / "good.png"), str(tmp_path / "broken.png")])
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-results h2")
    assert page.inner_text("#upload-results h2") == "1 created, 1 refused"
    assert page.locator("[data-result=refused]").inner_text().endswith(NOT_AN_IMAGE.format(name="broken.png"))
    assert page.eval_on_selector("#upload-progress progress", "bar => bar.value") == 100

    page.goto(live_server.url + reverse("projects:detail", args=[project.id]))
    assert page.locator(".tile").count() == 1
    page.click("[data-status=labeled]")
    page.wait_for_selector(".empty")
    assert "status=labeled" in page.url and page.locator(".tile").count() == 0
    page.click("[data-status=unlabeled]")
    page.wait_for_selector(".tile")
    assert page.locator(".tabs a.active").inner_text().startswith("Unlabeled")
