"""The detail's `can` map and the services agree: every button is enabled exactly when the
server would accept the action (and it would change something)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction

from accounts.models import User
from accounts.services import block_create
from replays.services import clip_create
from spaces import selectors, services
from spaces.models import Participant, Space
from spaces.permissions import CAN_KEYS
from spaces_project.errors import ApplicationError
from tests.factories import SpaceFactory, UserFactory, join, make_cohost, make_speaker

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


def _present(space: Space, user: User) -> bool:
    return Participant.objects.filter(space=space, user=user, state="present").exists()


def _muted(space: Space, user: User) -> bool:
    return Participant.objects.filter(space=space, user=user, is_muted=True).exists()


def actions(space: Space, target: User) -> dict[str, Callable[[User], bool]]:
    """For each `can` key, the action it stands for; returns whether it changed something."""
    s = space.pk
    return {
        "join": lambda u: not _present(space, u) and bool(services.space_join(user=u, space_id=s)),
        "leave": lambda u: (
            _present(space, u) and services.space_leave(user=u, space_id=s) is not None
        ),
        "raise_hand": lambda u: services.speaker_request_create(user=u, space_id=s)[1],
        "withdraw_hand": lambda u: (
            services.speaker_request_withdraw(user=u, space_id=s) is not None
        ),
        "react": lambda u: bool(services.reaction_send(user=u, space_id=s, emoji="clap")),
        "pin": lambda u: bool(services.pin_create(user=u, space_id=s, text="x")),
        "moderate": lambda u: bool(
            services.participant_remove(actor=u, space_id=s, user_id=target.pk)
        ),
        "manage_cohosts": lambda u: services.invitation_create(
            actor=u, space_id=s, invitee_id=target.pk, kind="cohost"
        )[1],
        "block": lambda u: bool(services.participant_block(actor=u, space_id=s, user_id=target.pk)),
        "toggle_captions": lambda u: bool(
            services.captions_toggle(actor=u, space_id=s, enabled=True)
        ),
        "end": lambda u: bool(services.space_end(actor=u, space_id=s)),
        "mute_self": lambda u: (
            not _muted(space, u) and bool(services.participant_mute_self(user=u, space_id=s))
        ),
        "unmute_self": lambda u: (
            _muted(space, u)
            and bool(services.participant_unmute(actor=u, space_id=s, user_id=u.pk))
        ),
        "step_down": lambda u: bool(services.participant_step_down(user=u, space_id=s)),
        "share": lambda u: (
            services.space_share(user=u, space_id=s, user_ids=[target.pk]).messages_sent == 1
        ),
        "report": lambda u: bool(services.report_create(reporter=u, space_id=s, reason="spam")),
        "view_moderation_log": lambda u: (
            selectors.moderation_log_for(viewer=u, space_id=s) is not None
        ),
        "recording_consent": lambda u: bool(
            services.recording_consent_set(
                actor=u, space_id=s, recorded=not _voice_recorded(space, u)
            )
        ),
        # No recording has started in these Spaces: nobody may clip yet (the replays tests
        # cover clips of a recording).
        "clip": lambda u: bool(clip_create(actor=u, space_id=s)),
        # Switching to the other mode: real time to a delay, or back.
        "listen_mode": lambda u: _switch_listen_mode(space, u),
        "comment": lambda u: bool(services.comment_post(user=u, space_id=s, text="hello")),
    }


def _switch_listen_mode(space: Space, user: User) -> bool:
    row = Participant.objects.filter(space=space, user=user).first()
    other = "webrtc" if row is not None and row.listen_mode == "hls" else "hls"
    return services.listen_mode_set(actor=user, space_id=space.pk, mode=other).listen_mode == other


def _voice_recorded(space: Space, user: User) -> bool:
    row = Participant.objects.filter(space=space, user=user).first()
    return row is None or row.voice_recorded


def outcome(action: Callable[[User], bool], user: User) -> bool:
    """Run the action in a savepoint that is always rolled back: accepted and effective?"""
    result = False
    try:
        with transaction.atomic():
            result = bool(action(user))
            raise Rollback
    except Rollback:
        return result
    except ApplicationError:
        return False


@pytest.fixture
def cast(settings):
    """A Space with someone in every position."""
    settings.SPACES_REACTION_RATE = "10000/hour"
    space = SpaceFactory()
    removed = join(space)
    services.participant_remove(actor=space.host, space_id=space.pk, user_id=removed.pk)
    blocked = UserFactory()
    block_create(blocker=space.host, blocked=blocked)
    hand_up = join(space)
    services.speaker_request_create(user=hand_up, space_id=space.pk)
    unmuted = make_speaker(space)
    services.participant_unmute(actor=unmuted, space_id=space.pk, user_id=unmuted.pk)
    left = join(space)
    services.space_leave(user=left, space_id=space.pk)
    return space, {
        "host": space.host,
        "cohost": make_cohost(space),
        "muted speaker": make_speaker(space),
        "unmuted speaker": unmuted,
        "listener": join(space),
        "listener with a raised hand": hand_up,
        "listener who left": left,
        "stranger": UserFactory(),
        "removed": removed,
        "blocked by the host": blocked,
        "staff": UserFactory(is_staff=True),
    }


def test_the_can_map_lists_every_action():
    assert set(actions(Space(pk=1), User(pk=1))) == set(CAN_KEYS)


@pytest.mark.parametrize("ended", [False, True], ids=["live", "ended"])
def test_can_matches_what_the_services_accept_for_everyone_in_every_position(cast, ended):
    space, people = cast
    target = join(space)
    if ended:
        services.space_end(actor=space.host, space_id=space.pk)
    todo = actions(space, target)

    mismatches = []
    for who, user in people.items():
        try:
            can = selectors.space_detail(viewer=user, space_id=space.pk).can
        except ApplicationError:
            can = dict.fromkeys(CAN_KEYS, False)
            assert who == "blocked by the host"
        for key in CAN_KEYS:
            if can[key] != outcome(todo[key], user):
                mismatches.append((who, key, can[key]))

    assert mismatches == []


def test_a_listener_may_join_nothing_more_and_a_host_may_end(cast):
    space, people = cast
    listener_can = selectors.space_detail(viewer=people["listener"], space_id=space.pk).can
    host_can = selectors.space_detail(viewer=people["host"], space_id=space.pk).can

    assert {k for k, v in listener_can.items() if v} == {
        "leave",
        "raise_hand",
        "react",
        "share",
        "report",
        "listen_mode",
        "comment",
    }
    assert host_can["end"]
    assert host_can["manage_cohosts"]
    assert host_can["leave"]  # a connected co-host is there to take over (issue 9)
