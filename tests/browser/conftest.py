"""Real-browser tests: Debian's chromium driven by Playwright (pytest-playwright's fixtures)
against pytest-django's live server.

No browser is downloaded: the tests launch the system's chromium (``VBWD_CHROMIUM``, default
/usr/bin/chromium) and are skipped, saying so, when it is missing.

Playwright's synchronous API keeps an asyncio event loop running in the test's thread while the
browser is open, and Django refuses database calls from a thread with a running loop
(SynchronousOnlyOperation). The test data and assertions here do call the database, so
``DJANGO_ALLOW_ASYNC_UNSAFE`` is set, as Django documents for this case, but only while the
browser runs: pytest-playwright's browser fixtures are narrowed to one test module and set the
variable for that module alone, so every other test of the run keeps Django's check.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from accounts.tests.factories import AdminFactory
from conftest import DEFAULT_PASSWORD

CHROMIUM = os.environ.get("VBWD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FOUND = shutil.which(CHROMIUM) is not None
# Every journey's pages as the browser drew them, for a person to look at after the run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "browser"


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(
        reason=f"needs chromium at {CHROMIUM} (apt-get install chromium, or set VBWD_CHROMIUM)"
    )
    for item in items:
        if "browser" in item.keywords and not CHROMIUM_FOUND:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="module")
def playwright(_pw_api_request_contexts):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        pw = sync_playwright().start()
        if _pw_api_request_contexts:
            _pw_api_request_contexts.instrument(pw)
        yield pw
        pw.stop()


@pytest.fixture(scope="module")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name or "chromium")


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args, browser_type, connect_options):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser_context_args(pytestconfig, playwright, device, live_server, _pw_artifacts_folder):
    """pytest-playwright's, with the live server as the base URL."""
    args = {"base_url": live_server.url}
    if device:
        args.update(playwright.devices[device])
    if pytestconfig.getoption("--video") in ("on", "retain-on-failure"):
        args["record_video_dir"] = _pw_artifacts_folder.name
    return args


@pytest.fixture(scope="module")
def browser(launch_browser):
    opened = launch_browser()
    yield opened
    opened.close()


class Watch:
    """What the browser did: every request's URL, console errors, uncaught page errors and
    content-security-policy violations."""

    def __init__(self, origin: str, name: str):
        self.origin = origin
        self.name = name
        self.shots = 0
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []

    def on_console(self, message) -> None:
        # The browser asks for /favicon.ico by itself; the back office has no icon of its own.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.console_errors.append(f"{message.text} {message.location}")

    def foreign_requests(self) -> list[str]:
        host = urlsplit(self.origin).netloc
        return [
            url
            for url in self.requests
            # the browser's own pages (its PDF viewer) are no network requests
            if urlsplit(url).scheme
            not in ("data", "blob", "about", "chrome", "chrome-extension", "chrome-untrusted")
            and urlsplit(url).netloc != host
        ]

    def screenshot(self, page) -> Path:
        """The page as it is, kept as a test artifact (``var/test-artifacts/browser/``)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = ARTIFACTS / f"{self.name}-{self.shots}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self, page) -> None:
        """Screenshots the page, then checks that nothing went wrong on the way to it."""
        self.screenshot(page)
        # the listener runs on every page, so a missing list would mean it never ran
        assert page.evaluate("window.__cspViolations") == []
        assert self.console_errors == [], self.failed
        assert self.failed == []
        assert self.page_errors == []
        assert self.foreign_requests() == []


CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def watch(live_server, context, request) -> Watch:
    seen = Watch(live_server.url, re.sub(r"[^\w-]+", "_", request.node.name))
    context.on("request", lambda request: seen.requests.append(request.url))
    context.on("console", seen.on_console)
    context.on(
        "response",
        lambda response: (
            seen.failed.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    context.add_init_script(CSP_LISTENER)
    context.on("page", lambda page: page.on("pageerror", lambda e: seen.page_errors.append(str(e))))
    return seen


@pytest.fixture
def staff(transactional_db):
    return AdminFactory(email="operator@example.com")


@pytest.fixture
def signed_in(watch, page, live_server, staff):
    """A page signed in to the back office through its login form."""
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return page
