"""Fixtures shared by every test, and the rule for tests that need a real service.

A test marked `postgres`, `redis`, `browser` or `media` needs that part. When it is missing the
test is skipped with a message saying how to enable it, except under CI=true, where a missing
service is a failure: CI must never pass by skipping what it was meant to check.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

# Before they are imported: a failing check there explains itself as one in a test module does.
pytest.register_assert_rewrite("tests.helpers")

from accounts.models import User  # noqa: E402
from spaces_project import bus  # noqa: E402
from tests.clock import Clock, frozen  # noqa: E402
from tests.factories import UserFactory, make_followers  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _redis_answers() -> bool:
    if not settings.REDIS_URL:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _service_missing(name: str) -> str | None:
    """None when the service is there, else how to enable it."""
    if name == "postgres" and not settings.IS_POSTGRES:
        return "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
    if name == "redis" and not _redis_answers():
        return "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0 with redis-server running"
    if name == "browser" and not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        return "needs Chromium: apt-get install chromium (or set CHROMIUM_PATH)"
    return None


# A test that leaves a non-daemon thread running (an unclosed peer's, an executor's) makes the
# interpreter wait for it after the summary, forever: CI then dies at its own time limit with no
# clue. The exit gets this long, then every thread's stack is printed and the run fails.
EXIT_GRACE_SECONDS = 60
_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    status = config.stash.get(_EXIT_STATUS, 1)

    def watch() -> None:
        time.sleep(EXIT_GRACE_SECONDS)
        err = sys.__stderr__ or sys.stderr
        left = [t.name for t in threading.enumerate() if not t.daemon and t.is_alive()]
        err.write(
            f"\npytest finished (exit status {status}) but the process is still waiting after "
            f"{EXIT_GRACE_SECONDS} s for threads {left}; a test did not close what it started:\n"
        )
        faulthandler.dump_traceback(file=err, all_threads=True)
        err.flush()
        os._exit(status or 1)

    threading.Thread(target=watch, name="exit-watchdog", daemon=True).start()


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in ("postgres", "redis", "browser"):
        if item.get_closest_marker(name) is None:
            continue
        missing = _service_missing(name)
        if missing:
            if IN_CI:
                pytest.fail(f"CI=true and this test {missing}", pytrace=False)
            pytest.skip(missing)


@pytest.fixture(autouse=True, scope="session")
def _recordings_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Recordings written by tests (and by the servers they start) go to a temporary folder."""
    from django.test import override_settings

    root = tmp_path_factory.mktemp("recordings")
    storages_setting = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "base_url": None},
        },
    }
    previous = os.environ.get("SPACES_RECORDINGS_ROOT")
    os.environ["SPACES_RECORDINGS_ROOT"] = str(root)
    with override_settings(STORAGES=storages_setting, SPACES_RECORDINGS_ROOT=root):
        yield
    if previous is None:
        os.environ.pop("SPACES_RECORDINGS_ROOT", None)
    else:
        os.environ["SPACES_RECORDINGS_ROOT"] = previous


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Rate-limit counters and cached reads must not leak from one test into the next."""
    _clear_cache()
    return


def _clear_cache() -> None:
    if settings.REDIS_URL:
        # Never FLUSHDB a shared Redis: delete only this run's own prefix.
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture
def user(db: None) -> User:
    return UserFactory(username="alice", display_name="Alice")


@pytest.fixture
def other_user(db: None) -> User:
    return UserFactory(username="bob", display_name="Bob")


@pytest.fixture
def host(db: None) -> User:
    """A user with exactly enough followers to host a Space."""
    host = UserFactory(username="hostess", display_name="The Host")
    make_followers(host, settings.SPACES_HOST_MIN_FOLLOWERS)
    return host


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def auth_client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    def make(u: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(u)
        return client

    return make


@pytest.fixture
def published() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every realtime event delivered (after commit) while the test runs."""
    seen: list[tuple[str, dict[str, Any]]] = []
    with bus.subscribe(lambda group, event: seen.append((group, event))):
        yield seen


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], AbstractContextManager[Any]]:
    """`with committed():` runs the on-commit hooks of what happens inside, as a real commit
    would, so `published` sees the events (the test's own transaction never commits). A
    rolled-back block's hooks never run."""

    def run() -> AbstractContextManager[Any]:
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def clock() -> Iterator[Clock]:
    """`django.utils.timezone.now` frozen at the start of this minute; the test moves it."""
    with frozen() as c:
        yield c
