"""Every page type of the site, as a table, for the browser tests that visit them all
(test_layout.py, test_accessibility.py); and the world those pages show.

To add a page: one row in PAGES: a name (for the failure message and the screenshot's file), its
path (`to(url name, world key, attribute)` builds it), who can see it. A page that needs
something the world lacks: create it in `build_site` and put it in the dict. For example
`("messages", to("messages"), SIGNED_IN)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from replays import services as replays_services
from scheduling import services as scheduling_services
from spaces import services
from spaces.models import CaptionLine
from tests.factories import (
    SpaceFactory,
    UserFactory,
    join,
    make_followers,
    make_replay,
    make_speaker,
)
from ticketing import services as ticketing_services

HOST, SPEAKER, LISTENER, ANONYMOUS = "host", "speaker", "listener", "anonymous"
SIGNED_IN = (HOST, SPEAKER, LISTENER)
EVERYONE = (*SIGNED_IN, ANONYMOUS)

World = dict[str, Any]


def to(url_name: str, thing: str | None = None, attr: str = "pk") -> Callable[[World], str]:
    """The path of `url_name`, for the world's `thing` (by its `attr`) if it takes one."""
    return lambda w: reverse(url_name, args=[getattr(w[thing], attr)] if thing else [])


# name, path (from the world), who sees it. Pages behind a login are not visited logged out
# (they redirect to the login page, which has its own row).
PAGES: list[tuple[str, Callable[[World], str], tuple[str, ...]]] = [
    ("home", to("home"), SIGNED_IN),
    ("landing", to("home"), (ANONYMOUS,)),
    ("live-list", to("space_list"), SIGNED_IN),
    ("live-space", to("space_detail", "live"), SIGNED_IN),
    ("start-space", to("space_new"), SIGNED_IN),
    ("ended-list", to("space_ended_list"), SIGNED_IN),
    ("ended-space", to("space_detail", "ended"), SIGNED_IN),
    ("transcript", to("space_transcript", "ended"), SIGNED_IN),
    ("replay", to("replay_detail", "ended"), SIGNED_IN),
    ("clip", to("clip_detail", "clip", "slug"), SIGNED_IN),
    ("scheduled-list", to("scheduled_list"), SIGNED_IN),
    ("scheduled-detail", to("scheduled_detail", "scheduled"), SIGNED_IN),
    ("schedule-form", to("scheduled_new"), SIGNED_IN),
    ("profile", to("profile", HOST, "username"), EVERYONE),
    ("followers", to("profile_followers", HOST, "username"), EVERYONE),
    ("notifications", to("notifications"), SIGNED_IN),
    ("messages", to("messages"), SIGNED_IN),
    ("message-thread", to("message_thread", LISTENER, "username"), (HOST, SPEAKER)),
    ("settings", to("settings_profile"), SIGNED_IN),
    ("settings-podcast", to("settings_podcast"), SIGNED_IN),
    ("ticket-buy", to("ticket_buy", "ticketed"), SIGNED_IN),
    ("tickets-mine", to("tickets_mine"), SIGNED_IN),
    ("ticket-sales", to("ticket_report", "ticketed"), (HOST,)),
    ("login", to("account_login"), (ANONYMOUS,)),
    ("signup", to("account_signup"), (ANONYMOUS,)),
    ("not-found", lambda w: "/no-such-page/", EVERYONE),
]


def build_site(settings: Any) -> World:
    """A host live with a speaker and listeners, a past Space with a transcript, its replay and
    a clip of it, a scheduled Space with a reminder set, a ticketed one, follows and
    notifications. Names and titles are of realistic length: long enough to wrap, as real ones
    do. The caller keeps scheduling's sweep from being kicked (`schedule._kick_sweep`)."""
    # The server reads its own settings: the speaker can host there (the Start a Space form),
    # the listener cannot (how far they are). The services called here use the lowered bars.
    server_host_min = settings.SPACES_HOST_MIN_FOLLOWERS
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1
    host = UserFactory(username="ada_lovelace", display_name="Ada Lovelace")
    speaker = UserFactory(username="margaret_hamilton", display_name="Margaret Hamilton")
    listener = UserFactory(username="grace_hopper", display_name="Grace Brewster Hopper")
    make_followers(host, 3)
    make_followers(speaker, server_host_min)
    for fan in (speaker, listener):
        account_services.follow_create(follower=fan, followee=host)
    account_services.follow_create(follower=host, followee=listener)

    ended = SpaceFactory(
        host=host,
        title="Notes on the Analytical Engine, and what comes after it",
        topics=["Computing", "History"],
        captions_enabled=True,
    )
    make_speaker(ended, speaker, unmuted=True)
    join(ended, listener)
    for who, text in (
        (host, "Welcome, everyone. Today we talk about the engine and its notes."),
        (speaker, "Thanks for having me. The part about loops still reads as new."),
        (host, "It does. Let us start with the table of operations in note G."),
    ):
        services.caption_append(space_id=ended.pk, speaker_id=who.pk, text=text)
    # Its replay: the lines a few seconds apart, as people speak, and a clip of it.
    assert ended.started_at is not None
    for n, line in enumerate(CaptionLine.objects.filter(space=ended).order_by("id")):
        CaptionLine.objects.filter(pk=line.pk).update(
            started_at=ended.started_at + timedelta(seconds=1 + 5 * n)
        )
    services.space_end(actor=host, space_id=ended.pk)
    make_replay(ended, seconds=20, speakers=[host, speaker])
    clip = replays_services.clip_create(
        actor=listener, space_id=ended.pk, start_ms=5000, end_ms=15000, title="Loops, in 1843"
    )

    live = SpaceFactory(
        host=host,
        title="Software engineering, the first fifty years: what we got right",
        topics=["Software", "Apollo", "Careers"],
        captions_enabled=True,
    )
    make_speaker(live, speaker, unmuted=True)
    join(live, listener)
    for i, name in enumerate(("Katherine Johnson", "Dorothy Vaughan", "Mary Jackson")):
        join(live, UserFactory(username=f"listener_{i}", display_name=name))
    services.caption_append(
        space_id=live.pk, speaker_id=speaker.pk, text="We wrote the code by hand, then wove it."
    )
    # Comments, with a mention and a long link to wrap (spaces/_comments.html).
    services.comment_post(user=listener, space_id=live.pk, text="Hello from the back row!")
    services.comment_post(
        user=speaker,
        space_id=live.pk,
        text="@grace_hopper the listing is at https://example.com/apollo/agc/source/listing",
    )
    services.pin_create(
        user=host,
        space_id=live.pk,
        text="Read the Apollo guidance computer notes before we start",
        url="https://example.com/apollo/guidance-computer/notes",
    )

    soon = timezone.now() + timedelta(hours=3)
    scheduled = scheduling_services.scheduled_space_create(
        host=host, title="Office hours: ask me anything about compilers", scheduled_for=soon
    )
    scheduling_services.reminder_set(user=listener, space_id=scheduled.pk)
    scheduling_services.reminder_set(user=speaker, space_id=scheduled.pk)
    # A conversation, with a shared Space drawn as a card and words long enough to wrap.
    for sender, recipient, body, attachment in (
        (host, listener, "Join us, we are talking about the first fifty years.", live),
        (listener, host, "On my way! I have questions about the guidance computer.", None),
        (speaker, listener, "Did you see the notes pinned in the Space? Worth a read.", None),
    ):
        account_services.direct_message_send(
            sender=sender,
            recipient=recipient,
            body=body,
            attachment={"space_id": attachment.pk} if attachment else None,
        )
    ticketed = ticketing_services.ticketed_space_create(
        host=host,
        title="A paid masterclass on compilers",
        scheduled_for=soon + timedelta(days=1),
        price=settings.TICKET_PRICE_MIN,
        capacity=30,
    )
    return {
        HOST: host,
        SPEAKER: speaker,
        LISTENER: listener,
        ANONYMOUS: None,
        "live": live,
        "ended": ended,
        "clip": clip,
        "scheduled": scheduled,
        "ticketed": ticketed,
    }


def pages_for(who: str) -> list[tuple[str, Callable[[World], str]]]:
    return [(name, path) for name, path, seen_by in PAGES if who in seen_by]
