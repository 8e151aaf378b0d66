"""Real browsers against a real server: Debian's Chromium, driven by Playwright, talking to a
`daphne` subprocess that serves the site, the sockets and the audio (media embedded).

The server shares the test's database, so tests use `django_db(transaction=True)`. In the
embedded shape that database must be a file (a subprocess cannot see an in-memory SQLite): this
conftest points the SQLite test database at a temporary file when `tests/e2e` runs on its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
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


# Now and then, on a loaded machine, Chromium stops answering: a Playwright call then waits for
# ever, its own timeout never fires, and every Chromium process, the Playwright driver and this
# process sit idle (three CI runs in about forty, each time at the end of test_live_hls.py's
# first test, in its contexts' close; here once in eight runs beside two busy loops, in the next
# test's first `goto`; killing the renderers did not end it, killing the browser process did).
# So a call that waits longer than any of the tests' timeouts gets the browser killed: the call
# then raises `ChromiumHung` and the test runs once more on a new Chromium (below,
# `pytest_collection_modifyitems`); stuck closing a test's contexts after it passed, the kill
# only ends the wait, with a warning.
STUCK_SECONDS = 90.0
CLOSE_WITHIN_SECONDS = 30.0


class ChromiumHung(Exception):
    pass


class Chromium:
    """The module's Chromium, watched: see `STUCK_SECONDS`."""

    def __init__(self, api: Any, playwright: Any) -> None:
        self._error = api.Error
        self._playwright = playwright
        self._browser: Any = None
        self.pid = 0
        self.killed = False
        self._lock = threading.Lock()
        self._depth = 0
        self._since = 0.0
        self.stuck_seconds = STUCK_SECONDS
        self._limit = self.stuck_seconds
        self._closing = 0.0
        self._done = threading.Event()
        threading.Thread(target=self._watch, name="chromium-watchdog", daemon=True).start()

    def call(self, sync: Callable[..., Any], this: Any, awaitable: Any) -> Any:
        """Every sync Playwright call of this process goes through here (`browser` patches
        Playwright's `SyncBase._sync`)."""
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._since = time.monotonic()
                self._limit = self._closing or self.stuck_seconds
        try:
            return sync(this, awaitable)
        except self._error as error:
            if self.killed:
                raise ChromiumHung(
                    f"a Playwright call waited {self._limit:.0f} s and Chromium (pid {self.pid}) "
                    "was killed; see STUCK_SECONDS in tests/e2e/conftest.py"
                ) from error
            raise
        finally:
            with self._lock:
                self._depth -= 1

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            with self._lock:
                stuck = self._depth and time.monotonic() - self._since > self._limit
            if stuck and self.pid and not self.killed:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)

    def new_context(self, **options: Any) -> Any:
        if self._browser is None or not self._browser.is_connected():
            before = set(_chromium_browsers())
            self._browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            (self.pid,) = set(_chromium_browsers()) - before
            self.killed = False
        return self._browser.new_context(**options)

    def close_contexts(self, contexts: list[Any], *, within: float = CLOSE_WITHIN_SECONDS) -> None:
        self._closing = within
        try:
            for context in contexts:
                context.close()
        except ChromiumHung as hung:
            warnings.warn(f"closing the test's browser contexts: {hung}", stacklevel=2)
        finally:
            self._closing = 0.0

    def close(self) -> None:
        self._done.set()
        if self._browser is not None and self._browser.is_connected():
            self._browser.close()


def _chromium_browsers() -> list[int]:
    """The pids of this process's Chromium browser processes (not their renderers, GPU or
    utility processes, which carry a `--type=`)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    mine: list[int] = []
    for pid in parents:
        ancestor = parents.get(pid, 0)
        while ancestor > 1 and ancestor != os.getpid():
            ancestor = parents.get(ancestor, 0)
        if ancestor != os.getpid():
            continue
        try:
            args = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].endswith(b"/chromium") and not any(a.startswith(b"--type=") for a in args):
            mine.append(pid)
    return mine


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    api = _need_playwright()
    from playwright._impl._sync_base import SyncBase

    # Playwright's sync API runs an event loop on this thread; Django would then refuse the
    # ORM calls the test makes between browser steps. They are plain sync calls: allow them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    sync = SyncBase._sync
    try:
        with api.sync_playwright() as playwright:
            chromium = Chromium(api, playwright)
            SyncBase._sync = lambda this, awaitable: chromium.call(sync, this, awaitable)  # type: ignore[method-assign]
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        SyncBase._sync = sync  # type: ignore[method-assign]
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A browser test that Chromium left hanging (`ChromiumHung`) runs once more; any other
    failure stands."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=[ChromiumHung]))


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
def new_page(browser: Chromium, base_url: str, console: Console) -> Iterator[Callable[..., Any]]:
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
    browser.close_contexts(contexts)


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
