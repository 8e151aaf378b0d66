"""The browser tests' own harness: when Chromium stops answering (seen now and then on a loaded
machine, see `STUCK_SECONDS` in conftest.py), the waiting call ends in a bounded time with
`ChromiumHung` (a test then runs once more) or, closing a passed test's contexts, with a
warning; the next context comes from a new Chromium."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Chromium, ChromiumHung

pytestmark = [pytest.mark.browser]


def gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def hung(browser: Chromium) -> Iterator[tuple[Chromium, Any, int]]:
    """A page, then its Chromium stopped (SIGSTOP): from then on it answers nothing, as in the
    hang."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<p>before</p>")
    pid = browser.pid
    os.kill(pid, signal.SIGSTOP)
    yield browser, context, pid
    if not gone(pid):
        os.kill(pid, signal.SIGKILL)


def works(browser: Chromium) -> None:
    page = browser.new_context().new_page()
    page.set_content("<p>after</p>")
    assert page.inner_text("p") == "after"


def test_a_call_chromium_never_answers_ends_in_chromium_hung_and_a_new_browser(
    hung: tuple[Chromium, Any, int],
) -> None:
    browser, context, pid = hung
    browser.stuck_seconds = 2
    with pytest.raises(ChromiumHung, match=f"waited 2 s and Chromium \\(pid {pid}\\) was killed"):
        context.new_page()

    assert gone(pid)
    browser.stuck_seconds = 90
    works(browser)
    assert browser.pid != pid


def test_a_close_chromium_never_answers_ends_with_a_warning(
    hung: tuple[Chromium, Any, int],
) -> None:
    browser, context, pid = hung
    with pytest.warns(UserWarning, match=f"closing .*waited 2 s and Chromium \\(pid {pid}\\)"):
        browser.close_contexts([context], within=2)

    assert gone(pid)
    works(browser)


def test_calls_answered_in_time_leave_the_browser_alone(browser: Chromium) -> None:
    contexts = [browser.new_context() for _ in range(2)]
    for context in contexts:
        context.new_page().set_content("<p>hello</p>")
    pid = browser.pid

    browser.close_contexts(contexts)

    assert not gone(pid)
    works(browser)
    assert browser.pid == pid
