"""Times in the direct-message inbox and thread use the site's relative-time markup
(`<time datetime data-relative>`, accounts/templatetags/time_display.py), so static/js/time.js
keeps them up to date while the page is open, as everywhere else: the text the server writes is
the one the script would write, and the full time, in the reader's zone, is the title."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import User
from tests.clock import frozen
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def times_in(html: str) -> list[str]:
    return re.findall(r"<time\b[^>]*>[^<]*</time>", html)


def in_dubai(user: User) -> User:
    user.time_zone = "Asia/Dubai"
    user.save(update_fields=["time_zone"])
    return user


@pytest.fixture
def sent_a_while_ago(user: User) -> Iterator[tuple[User, User]]:
    """Bob wrote to the user 3 hours ago (on a clock that then moved on)."""
    bob = UserFactory(username="bob", display_name="Bob")
    with frozen() as clock:
        services.direct_message_send(sender=bob, recipient=user, body="Hi there")
        clock.advance(hours=3)
        yield user, bob


def test_the_inbox_time_is_a_relative_time_that_keeps_up(client: Client, sent_a_while_ago):
    user, _ = sent_a_while_ago
    client.force_login(in_dubai(user))

    html = client.get("/messages/").content.decode()

    [time] = times_in(html)
    assert "data-relative" in time
    assert re.search(r'datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', time)
    assert ">3 hours ago</time>" in time
    assert "GMT+4" in time  # the full time in the reader's zone, as the title


def test_each_message_in_a_thread_has_a_relative_time_that_keeps_up(
    client: Client, sent_a_while_ago
):
    user, bob = sent_a_while_ago
    services.direct_message_send(sender=user, recipient=bob, body="Hello Bob")
    client.force_login(in_dubai(user))

    html = client.get(reverse("message_thread", args=["bob"])).content.decode()

    times = times_in(html)
    assert len(times) == 2
    for time in times:
        assert 'class="dm-time"' in time
        assert "data-relative" in time
        assert "GMT+4" in time
    assert ">3 hours ago</time>" in times[0]
    assert ">now</time>" in times[1]


def test_the_relative_text_is_the_one_the_script_writes_not_djangos(client: Client, user: User):
    """Django's `naturaltime` says "3\xa0hours ago" and "a minute ago"; the script (and the
    server's `relative`) say "1 minute ago": the same words before and after the first tick."""
    bob = UserFactory(username="bob")
    with frozen() as clock:
        services.direct_message_send(sender=bob, recipient=user, body="Hi")
        clock.advance(minutes=1, seconds=5)
        client.force_login(user)
        inbox = client.get("/messages/").content.decode()
        thread = client.get(reverse("message_thread", args=["bob"])).content.decode()

    for html in (inbox, thread):
        assert ">1 minute ago</time>" in html
        assert "a minute ago" not in html
