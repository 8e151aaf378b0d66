"""Reactions reach the room batched per Space, however many people tap."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from spaces import services
from spaces.realtime import reactions
from spaces.realtime.reactions import ReactionWindows
from spaces_project import bus
from tests.factories import SpaceFactory, UserFactory, join
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_many_taps_arrive_as_a_few_reactions_events_with_exact_counts(
    open_socket, settings, published
):
    settings.SPACES_REACTIONS_WINDOW_MS = 1000
    settings.SPACES_REACTION_RATE = "1000/sec"
    space = await db(SpaceFactory)()
    tappers = [await db(UserFactory)() for _ in range(3)]
    observer = await db(UserFactory)()
    for who in [*tappers, observer]:
        await db(join)(space, who)

    async with open_socket(observer, space_path(space.pk)) as ws:
        await ws.next()
        taps = [("clap", 12), ("heart", 9), ("fire", 9)]
        await asyncio.gather(
            *(
                db(
                    lambda who=who, code=code, n=n: [
                        services.reaction_send(user=who, space_id=space.pk, emoji=code)
                        for _ in range(n)
                    ]
                )()
                for who, (code, n) in zip(tappers, taps, strict=True)
            )
        )
        received: dict[str, int] = {}
        batches = []
        while sum(received.values()) < 30:
            batch = await ws.until_type("reactions")
            batches.append(batch)
            for code, n in batch["counts"].items():
                received[code] = received.get(code, 0) + n

    assert received == {"clap": 12, "heart": 9, "fire": 9}
    assert len(batches) < 30
    assert len([e for _, e in published if e["type"] == "reaction.sent"]) == 30
    last = batches[-1]
    assert last["totals"]["clap"] == 12
    assert len(last["recent"]) <= 10
    seqs = [b["seq"] for b in batches]
    assert seqs == sorted(seqs)


async def test_reactions_outside_a_server_loop_are_sent_at_once(published):
    """A tap from a process without sockets (a Celery worker, a command) is not held."""
    space = await db(SpaceFactory)()
    tapper = await db(UserFactory)()
    await db(join)(space, tapper)
    seen: list[dict] = []

    def tap_in_a_plain_thread() -> None:
        import threading

        def run() -> None:
            try:
                with bus.subscribe(lambda group, event: seen.append(event)):
                    services.reaction_send(user=tapper, space_id=space.pk, emoji="wave")
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(10)

    waiting = reactions.windows.pending()
    await db(tap_in_a_plain_thread)()
    assert [e["type"] for e in seen] == ["reaction.sent"]
    assert reactions.windows.pending() == waiting  # nothing left waiting in a window


async def test_two_processes_tapping_in_one_window_make_one_event(open_socket, settings):
    """Each server process keeps its own windows; the slot is claimed once through the cache,
    so the room gets one event for the window, with everyone's taps."""
    settings.SPACES_REACTIONS_WINDOW_MS = 200
    frozen = 1_000_000.05  # inside one slot for both "processes"
    first, second = ReactionWindows(clock=lambda: frozen), ReactionWindows(clock=lambda: frozen)
    space = await db(SpaceFactory)()
    tapper, observer = await db(UserFactory)(), await db(UserFactory)()
    await db(join)(space, tapper)
    brief = {"id": tapper.pk, "username": tapper.username, "name": tapper.name}

    async with open_socket(observer, space_path(space.pk)) as ws:
        await ws.next()
        for windows, code in ((first, "clap"), (second, "clap"), (second, "fire")):
            await db(windows.add)(space.pk, {"type": "reaction.sent", "user": brief, "code": code})
        batch = await ws.until_type("reactions")
        # A barrier: an event published after both windows closed.
        while first.pending() or second.pending():
            await ws.comm.receive_nothing(timeout=0.05)
        here = asyncio.get_running_loop()
        await asyncio.gather(*(t for t in list(bus._pending_tasks) if t.get_loop() is here))
        await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=True)
        await ws.until_type("captions.toggled")
    assert batch["counts"] == {"clap": 2, "fire": 1}
    assert [m["type"] for m in ws.seen].count("reactions") == 1
