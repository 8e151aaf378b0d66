"""Presence is a heartbeat timestamp: closing a socket keeps you in; going silent does not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from spaces.models import Participant
from spaces.realtime import presence
from spaces.realtime.hub import hub
from spaces.tasks import presence_sweep_task
from spaces_project import ticker
from tests.factories import SpaceFactory, UserFactory, age, fresh, join, make_speaker, participant
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def timeout() -> int:
    return int(django_settings.SPACES_PRESENCE_TIMEOUT)


async def test_a_silent_speaker_is_marked_gone_and_the_stage_slot_freed(open_socket):
    space = await db(SpaceFactory)(max_speakers=1)
    speaker, waiting, observer = (
        await db(UserFactory)(),
        await db(UserFactory)(),
        await db(UserFactory)(),
    )
    for who in (speaker, waiting, observer):
        await db(join)(space, who)
    await db(make_speaker)(space, speaker)
    assert (await db(fresh)(space)).speaker_count == 1
    # The speaker's server died: no socket refreshes them, no disconnect ran.
    await db(age)(space, speaker, timeout() + 5)

    async with open_socket(observer, space_path(space.pk)) as ws:
        await ws.next()
        assert await db(presence.presence_sweep)() == 1
        left = await ws.until_type("participant.left")

    assert left["user"]["id"] == speaker.pk
    assert left["previous_role"] == "speaker"
    assert left["counts"]["speakers"] == 0
    gone = await db(participant)(space, speaker)
    assert gone.state == Participant.State.LEFT
    assert gone.role == Participant.Role.LISTENER
    assert (await db(fresh)(space)).speaker_count == 0
    # The freed slot is usable at once.
    await db(make_speaker)(space, waiting)
    assert (await db(participant)(space, waiting)).role == Participant.Role.SPEAKER


async def test_participants_seen_recently_and_the_host_are_not_swept():
    space = await db(SpaceFactory)()
    recent, old = await db(UserFactory)(), await db(UserFactory)()
    await db(join)(space, recent)
    await db(join)(space, old)
    await db(age)(space, recent, timeout() - 10)
    await db(age)(space, old, timeout() + 10)
    await db(age)(space, space.host, timeout() + 1000)  # the handover issue decides for hosts

    assert await db(presence.presence_sweep)() == 1
    assert (await db(participant)(space, recent)).state == Participant.State.PRESENT
    assert (await db(participant)(space, old)).state == Participant.State.LEFT
    assert (await db(participant)(space, space.host)).state == Participant.State.PRESENT
    assert await db(presence.presence_sweep)() == 0  # a second run changes nothing


async def test_a_heartbeat_that_lands_before_the_lock_wins():
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    await db(join)(space, listener)
    await db(age)(space, listener, timeout() + 10)
    cutoff = timezone.now() - timedelta(seconds=timeout())
    # The sweep listed them as stale, then their heartbeat arrived before it took the lock.
    await db(age)(space, listener, 0)
    gone = await db(presence.participant_mark_gone)(
        space_id=space.pk, user_id=listener.pk, cutoff=cutoff
    )
    assert gone is False
    assert (await db(participant)(space, listener)).state == Participant.State.PRESENT


async def test_closing_the_socket_does_not_leave_and_reopening_attaches(open_socket):
    space = await db(SpaceFactory)()
    speaker = await db(UserFactory)()
    await db(join)(space, speaker)
    await db(make_speaker)(space, speaker)
    async with open_socket(speaker, space_path(space.pk)) as ws:
        await ws.next()
    # A reload: the speaker is still on stage and comes back in the same role.
    async with open_socket(speaker, space_path(space.pk)) as ws:
        state = await ws.next()
    assert state["me"]["role"] == "speaker"
    assert (await db(fresh)(space)).speaker_count == 1


async def test_an_open_socket_keeps_its_user_present(open_socket, settings):
    settings.SPACES_PRESENCE_TOUCH_SECONDS = 0.05
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    await db(join)(space, listener)
    await db(age)(space, listener, timeout() + 10)
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        assert listener.pk in hub().local_users(space.pk)
        # Bounded wait for the periodic refresh (counting refreshes, not timing them).
        for _ in range(200):
            seen = (await db(participant)(space, listener)).last_seen_at
            if seen > timezone.now() - timedelta(seconds=timeout()):
                break
            await ws.comm.receive_nothing(timeout=0.05)
        assert await db(presence.presence_sweep)() == 0
    assert (await db(participant)(space, listener)).state == Participant.State.PRESENT


async def test_a_socket_still_open_when_its_user_is_swept_closes_with_4410(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        await db(age)(space, listener, timeout() + 10)
        await db(presence.presence_sweep)()
        await ws.until_type("participant.left")
        closed = await ws.until_type("closed")
    assert closed["code"] == 4410


async def test_the_sweep_is_a_periodic_task_the_ticker_runs():
    entries = ticker.due_entries(django_settings.CELERY_BEAT_SCHEDULE)
    assert ("spaces-presence-sweep", "spaces.tasks.presence_sweep") in [e[:2] for e in entries]
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    await db(join)(space, listener)
    await db(age)(space, listener, timeout() + 10)
    await db(ticker.run_task)("spaces.tasks.presence_sweep")
    assert (await db(participant)(space, listener)).state == Participant.State.LEFT
    assert presence_sweep_task.name == "spaces.tasks.presence_sweep"


async def test_a_heartbeat_from_someone_no_longer_present_closes_with_4410(open_socket):
    space = await db(SpaceFactory)()
    listener = await db(UserFactory)()
    async with open_socket(listener, space_path(space.pk)) as ws:
        await ws.next()
        # Gone without this socket hearing of it (e.g. the event was lost in a Redis restart).
        await db(Participant.objects.filter(space=space, user=listener).update)(
            state=Participant.State.LEFT
        )
        reply = await ws.act("heartbeat", rid="hb")
        closed = await ws.next()
    assert reply["code"] == "not_in_space"
    assert closed == {"type": "closed", "code": 4410}
