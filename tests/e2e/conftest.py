"""Real browsers against a real server: Debian's Chromium, driven by Playwright, talking to a
`daphne` subprocess that serves the site, the sockets and the audio (media embedded).

The server shares the test's database, so tests use `django_db(transaction=True)`. In the
embedded shape that database must be a file (a subprocess cannot see an in-memory SQLite): this
conftest points the SQLite test database at a temporary file when `tests/e2e` runs on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from accounts.models import User
from tests.conftest import CHROMIUM, IN_CI
from tests.realtime.conftest import session_key_for
from tests.servers import ROOT, running_daphne, server_env

ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    # A fake microphone (a beep) that needs no permission prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Gather 127.0.0.1 candidates, so that the audio stays on loopback like everything else.
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith(".sqlite3"):
        path = tmp_path_factory.mktemp("e2e-db") / "test.sqlite3"
        db.setdefault("TEST", {})["NAME"] = str(path)


def _need_playwright() -> Any:
    try:
        import playwright.sync_api as api
    except ImportError:
        message = "needs the playwright package: .venv/bin/pip install playwright"
        if IN_CI:
            pytest.fail(f"CI=true and this test {message}", pytrace=False)
        pytest.skip(message)
    return api


_static_collected = False


@contextmanager
def site_server(
    tmp_path_factory: pytest.TempPathFactory, name: str = "e2e", **env: str
) -> Iterator[str]:
    """A daphne serving this project with media embedded, as `make run` does, with `env` on
    top (settings the test needs); yields its base URL. Its log is kept in the artifacts as
    `<name>-daphne.log`."""
    global _static_collected
    media = {"MEDIA_EMBEDDED": "1", "MEDIA_HOST_ADDRESSES": "127.0.0.1", **env}
    try:
        server = server_env(**media)
    except RuntimeError as error:  # an in-memory SQLite shared with other tests of the session
        message = f"{error}: run `pytest tests/e2e` on its own, or set DATABASE_URL"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if not _static_collected:
        # DEBUG is off, as in production: the manifest of collected static files must exist.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=server,
            check=True,
            timeout=120,
        )
        _static_collected = True
    log = tmp_path_factory.mktemp(f"{name}-server") / "daphne.log"
    try:
        with running_daphne(log_path=log, **media) as url:
            yield url
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        if log.exists():
            (ARTIFACTS / f"{name}-daphne.log").write_bytes(log.read_bytes())


@pytest.fixture(scope="module")
def base_url(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A daphne serving this project with media embedded, as `make run` does."""
    with site_server(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    api = _need_playwright()
    # Playwright's sync API runs an event loop on this thread; Django would then refuse the
    # ORM calls the test makes between browser steps. They are plain sync calls: allow them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# Runs in every page before its own scripts (Playwright's init scripts are not subject to the
# page's CSP): a Content-Security-Policy violation becomes a console error, so the tests' check
# that no page logged an error also says that the policy blocked nothing the site needs.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


class Console:
    """Every console error, uncaught exception and CSP violation of the pages it watches."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any, who: str) -> Any:
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"{who}: console.{m.type}: {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"{who}: pageerror: {e}"))
        return page


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_page(browser: Any, base_url: str, console: Console) -> Iterator[Callable[..., Any]]:
    """new_page(who, user=None): a page in a fresh context, signed in as `user` by cookie.
    Other keyword arguments are the context's options (`bypass_csp=True`...)."""
    contexts: list[Any] = []

    def make(
        who: str, user: User | None = None, viewport: dict[str, int] = DESKTOP, **options: Any
    ) -> Any:
        context = browser.new_context(base_url=base_url, viewport=viewport, **options)
        context.set_default_timeout(20_000)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        if user is not None:
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": session_key_for(user),
                        "url": base_url,
                    }
                ]
            )
        contexts.append(context)
        return console.watch(context.new_page(), who)

    yield make
    for context in contexts:
        context.close()


WAIT_FOR_JS = """async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  while (!(EXPRESSION)) {
    if (Date.now() > deadline) throw new Error("timed out waiting for: " + EXPRESSION_TEXT);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}"""


def wait_for_js(page: Any, expression: str, *, timeout_ms: int = 20_000) -> None:
    """Wait until the JavaScript `expression` is true in the page, as `page.wait_for_function`
    does. That one evaluates its expression with eval() inside the page, which the site's CSP
    (no 'unsafe-eval') refuses; here the expression is part of a function Playwright hands to
    the browser through the DevTools protocol, which the page's CSP does not govern."""
    waiter = WAIT_FOR_JS.replace("EXPRESSION_TEXT", json.dumps(expression)).replace(
        "EXPRESSION", expression
    )
    page.evaluate(waiter, timeout_ms)


def screenshot(page: Any, name: str, *, phone: bool = False) -> Path:
    """Save the page at desktop (1280x800) or phone (390x844) width into the artifacts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{'phone' if phone else 'desktop'}.png"
    before = page.viewport_size
    page.set_viewport_size(PHONE if phone else DESKTOP)
    # Finite animations jump to their end, endless ones (the glowing rings) to their start.
    page.screenshot(path=str(path), animations="disabled")
    if before:
        page.set_viewport_size(before)
    return path
