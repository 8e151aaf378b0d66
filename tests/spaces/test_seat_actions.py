"""The per-person actions of the detail and the snapshot (`seat_actions`, `role_actions`) and
the services agree: for every viewer position and every target position, an action listed is
accepted by its service and changes something, and an action not listed is refused (or would
change nothing)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db.models import F

from accounts.models import User
from spaces import selectors, services
from spaces.models import Participant, Space
from spaces.permissions import TARGET_ACTIONS, role_action_key
from spaces.realtime import protocol
from spaces_project.errors import ApplicationError
from tests.spaces.test_permissions import cast, outcome  # noqa: F401  (cast: a fixture)

pytestmark = pytest.mark.django_db

TARGETS = (
    "host",
    "cohost",
    "muted speaker",
    "unmuted speaker",
    "listener",
    "listener with a raised hand",
)


def _muted(space: Space, user: User) -> bool:
    return Participant.objects.filter(space=space, user=user, is_muted=True).exists()


def target_actions(space: Space, target: User) -> dict[str, Callable[[User], bool]]:
    """For each per-person action, its service; returns whether it changed something."""
    s, t = space.pk, target.pk
    return {
        "report": lambda u: bool(
            services.report_create(reporter=u, space_id=s, reason="spam", target_user_id=t)
        ),
        "invite": lambda u: services.invitation_create(
            actor=u, space_id=s, invitee_id=t, kind="speaker"
        )[1],
        "cohost_invite": lambda u: services.invitation_create(
            actor=u, space_id=s, invitee_id=t, kind="cohost"
        )[1],
        "cohost_revoke": lambda u: bool(services.cohost_revoke(actor=u, space_id=s, user_id=t)),
        "mute": lambda u: (
            not _muted(space, target)
            and bool(services.participant_mute(actor=u, space_id=s, user_id=t))
        ),
        "demote": lambda u: bool(services.participant_demote(actor=u, space_id=s, user_id=t)),
        "remove": lambda u: bool(services.participant_remove(actor=u, space_id=s, user_id=t)),
        "block": lambda u: bool(services.participant_block(actor=u, space_id=s, user_id=t)),
    }


def test_every_per_person_action_has_its_service():
    assert set(target_actions(Space(pk=1), User(pk=1))) == set(TARGET_ACTIONS)


@pytest.mark.parametrize("shape", ["room on stage", "stage full", "ended"])
def test_seat_actions_match_what_the_services_accept_for_every_viewer_and_target(cast, shape):  # noqa: F811
    space, people = cast
    if shape == "stage full":
        Space.objects.filter(pk=space.pk).update(
            max_speakers=F("speaker_count"), max_cohosts=F("cohost_count")
        )
    if shape == "ended":
        services.space_end(actor=space.host, space_id=space.pk)
    targets = {who: people[who] for who in TARGETS}

    mismatches = []
    checked = 0
    for who, viewer in people.items():
        try:
            detail = selectors.space_detail(viewer=viewer, space_id=space.pk)
        except ApplicationError:
            assert who == "blocked by the host"
            continue
        drawn = {p.user_id: p for p in [*detail.stage, *detail.listeners_sample]}
        for whom, target in targets.items():
            p = drawn.get(target.pk)
            if p is None:  # not drawn, so offered nothing (after the end nobody is present)
                assert shape == "ended"
                continue
            listed = detail.seat_actions[target.pk]
            # The role table says the same for anyone drawn (present, and not the viewer).
            if target != viewer:
                by_role = detail.role_actions[role_action_key(p.role, muted=p.is_muted)]
                if by_role != listed:
                    mismatches.append((who, whom, "role table", by_role, listed))
            for action, run in target_actions(space, target).items():
                checked += 1
                if (action in listed) != outcome(run, viewer):
                    mismatches.append((who, whom, action, action in listed))

    assert checked > (0 if shape == "ended" else 300)
    assert mismatches == []


def test_the_host_of_a_live_space_may_act_on_a_speaker_and_a_listener_only_reports(cast):  # noqa: F811
    space, people = cast
    speaker = people["unmuted speaker"].pk
    host_view = selectors.space_detail(viewer=people["host"], space_id=space.pk)
    listener_view = selectors.space_detail(viewer=people["listener"], space_id=space.pk)

    assert host_view.seat_actions[speaker] == [
        "report",
        "cohost_invite",
        "mute",
        "demote",
        "remove",
        "block",
    ]
    assert host_view.seat_actions[people["host"].pk] == []
    assert listener_view.seat_actions[speaker] == ["report"]
    assert listener_view.role_actions["listener"] == ["report"]


def test_the_snapshot_carries_seat_actions_role_actions_and_successors(cast):  # noqa: F811
    space, people = cast
    state = protocol.space_state(viewer=people["host"], space_id=space.pk)

    cohost = people["cohost"].pk
    assert _muted(space, people["cohost"])  # joins the stage muted: nothing to mute
    assert state["seat_actions"][str(cohost)] == [
        "report",
        "cohost_revoke",
        "demote",
        "remove",
        "block",
    ]
    assert state["role_actions"]["speaker:muted"] == [
        "report",
        "cohost_invite",
        "demote",
        "remove",
        "block",
    ]
    # The co-host is connected (the services just touched them): the host may hand over.
    assert state["successors"] == [cohost]
    assert state["can"]["leave"] is True
    listener_state = protocol.space_state(viewer=people["listener"], space_id=space.pk)
    assert listener_state["successors"] == []
