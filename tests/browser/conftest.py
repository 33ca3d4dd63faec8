"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright
(no browser download), a page that fails the test on any request to another host, any
console error or uncaught exception, and a signed-in session against pytest-django's
live server."""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LOCAL = re.compile(r"^(?:data:|blob:|about:|https?://(?:127\.0\.0\.1|localhost)[:/])")


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (Debian package chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an asyncio loop in this thread; the test's own database
    # calls stay synchronous, so Django's guard against ORM calls from async code is lifted.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_settings(settings, live_server):
    # The suite's settings allow only the test client's host; the browser uses the server's.
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
    return settings


class Watched:
    """A page with the problems seen on it: outside requests, console errors, exceptions."""

    def __init__(self, page):
        self.page = page
        self.outside: list[str] = []
        self.errors: list[str] = []

    def assert_clean(self) -> None:
        assert self.outside == [], f"requests to other hosts: {self.outside}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture
def watched(browser, live_settings):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    seen = Watched(page)

    def guard(route):
        if LOCAL.match(route.request.url):
            route.continue_()
        else:
            seen.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
    page.on("pageerror", lambda exc: seen.errors.append(f"uncaught: {exc}"))
    page.set_default_timeout(15_000)
    yield seen
    # Leave the page first and give the live server's threads a moment to finish what the
    # page had asked for (tiles, polling): the database flush after the test would otherwise
    # deadlock with a query still running there.
    page.goto("about:blank")
    page.wait_for_timeout(500)
    context.close()


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def shows_text(locator) -> None:
    """Wait until the element shows some text. The page fills an error box after the
    response arrives, so reading it right after `expect_response` races the page's script."""
    from playwright.sync_api import expect

    expect(locator).to_have_text(re.compile(r"\S"))
