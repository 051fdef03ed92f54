"""The system with a seeded region, and a real browser (Debian's chromium through
pytest-playwright) for the page tests. Every page opened is checked with axe-core
(WCAG 2.2 A/AA) by `Browser.open`, and the run writes each persona's main page to
tests/e2e/pages/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from services.gateway.pages import PAGES
from tests.e2e.pages.axe_seen import AXE_CHECKED
from tests.e2e.pages.site import PASSWORD, seed
from tests.support.infra import fresh_infra
from tests.support.processes import System

TODAY = "2026-11-16"  # a Monday; the clock is pinned so dates in the journeys are stable
ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="package")
def infra():
    """The pages get a vhost and database of their own: in a full run the shared ones carry
    the backlog of earlier modules' events, which the journeys' waits would queue behind."""
    with fresh_infra() as own:
        yield own


@pytest.fixture(scope="package")
def site(infra, tmp_path_factory):
    system = System(infra, tmp_path_factory.mktemp("pages-logs"),
                    extra_env={"NOW": f"{TODAY}T10:00:00", "SWEEP_SECONDS": "1"}).start()
    seed(infra, system.url)
    yield system
    system.stop()


def page_name(path: str) -> str | None:
    """Which declared page a URL path is."""
    for p in PAGES:
        if p.method != "GET":
            continue
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(p.path)) + "$"
        if re.match(pattern, path):
            return p.name
    return None


class Browser:
    """A persona's browser tab with the checks every page gets."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url

    def open(self, path: str, status: int = 200):
        response = self.page.goto(self.url + path)
        assert response.status == status, (path, response.status)
        self.check()
        return response

    def check(self) -> None:
        """axe-core on the page as it is now: no WCAG 2.2 A/AA violation."""
        self.page.evaluate(AXE.read_text())  # evaluated over CDP, so the CSP does not apply
        result = self.page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
            WCAG)
        problems = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                    for v in result["violations"]]
        assert problems == [], (self.page.url, problems)
        name = page_name(urlparse(self.page.url).path)
        if name:
            AXE_CHECKED.add(name)

    def sign_in(self, sub: str, password: str = PASSWORD) -> None:
        self.open("/sign-in")
        self.page.fill("#sub", sub)
        self.page.fill("#password", password)
        self.page.click("button:has-text('Sign in')")
        self.check()

    def submit(self, button: str) -> None:
        self.page.click(f"button:has-text('{button}')")
        self.check()

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def banner(self) -> str:
        """The success banner's text (fails with the page's errors if there is none)."""
        errors = self.error_summary()
        assert not errors, errors
        return self.page.locator(".govuk-notification-banner").inner_text(timeout=5000)

    def error_summary(self) -> list[str]:
        return [t.strip() for t in self.page.locator(
            ".govuk-error-summary__list li").all_inner_texts()]


@pytest.fixture
def browser_for(site, browser):
    """browser_for() -> a fresh browser context (own cookies) on the site."""
    contexts = []

    def make() -> Browser:
        context = browser.new_context()
        contexts.append(context)
        return Browser(context.new_page(), site.url)

    yield make
    for context in contexts:
        context.close()
