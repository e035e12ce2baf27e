"""One Chromium per test module, and pages logged in as a given user on the live server."""

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser, live_server):
    """A new page whose session is `user`'s (each call: a separate browser context)."""
    from django.test import Client

    contexts = []

    def make(user):
        session_client = Client()
        session_client.force_login(user)
        context = browser.new_context(viewport={"width": 1200, "height": 760})
        context.add_cookies(
            [{"name": "sessionid", "value": session_client.cookies["sessionid"].value, "url": live_server.url}]
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        return page

    yield make
    for context in contexts:
        context.close()
