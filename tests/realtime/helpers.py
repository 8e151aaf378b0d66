"""Sync set-up through the real services, for async socket tests (`await db(fn)(...)`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async

from accounts.models import User
from spaces import services
from spaces.models import Invitation, Participant, Space
from tests.factories import UserFactory
from tests.spaces.factories import SpaceFactory

T = TypeVar("T")


def db(fn: Callable[..., T]) -> Callable[..., Any]:
    return database_sync_to_async(fn)


def new_space(**kwargs: Any) -> Space:
    return SpaceFactory(**kwargs)


def new_user(username: str | None = None) -> User:
    return UserFactory(username=username) if username else UserFactory()


def join(space: Space, who: User) -> User:
    services.space_join(user=who, space_id=space.pk)
    return who


def raise_hand(space: Space, who: User) -> int:
    request, _ = services.speaker_request_create(user=who, space_id=space.pk)
    return request.pk


def make_speaker(space: Space, who: User, *, unmuted: bool = False) -> User:
    request_id = raise_hand(space, who)
    services.speaker_request_approve(actor=space.host, space_id=space.pk, request_id=request_id)
    if unmuted:
        services.participant_unmute(actor=who, space_id=space.pk, user_id=who.pk)
    return who


def invite(space: Space, who: User, kind: str = Invitation.Kind.SPEAKER) -> int:
    invitation, _ = services.invitation_create(
        actor=space.host, space_id=space.pk, invitee_id=who.pk, kind=kind
    )
    return invitation.pk


def make_cohost(space: Space, who: User) -> User:
    invitation_id = invite(space, who, Invitation.Kind.COHOST)
    services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation_id)
    return who


def participant(space: Space, who: User) -> Participant:
    return Participant.objects.get(space=space, user=who)


def fresh(space: Space) -> Space:
    space.refresh_from_db()
    return space


class HostBelief:
    """What one client believes about the host: its latest snapshot, then each event applied in
    `seq` order (an event at or below a snapshot's `seq` is not sent: the snapshot covers it).
    `max_hosts` is the most hosts it ever believed in at once; `changes` the `host.changed`
    events it saw, `states` the snapshots."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.max_hosts = 0
        self.changes: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.reset(state)

    def reset(self, state: dict[str, Any]) -> None:
        assert state["type"] == "space.state", state
        self.hosts = {p["user"]["id"] for p in state["stage"] if p["role"] == "host"}
        self.host = state["space"]["host"]["id"]
        assert self.hosts == {self.host}, state
        self.states.append(state)
        self.max_hosts = max(self.max_hosts, len(self.hosts))

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("participant.left", "participant.removed"):
            self.hosts.discard(event["user"]["id"])
        elif kind in ("role.changed", "participant.joined"):
            uid = event["participant"]["user"]["id"]
            if event["participant"]["role"] == "host":
                self.hosts.add(uid)
            else:
                self.hosts.discard(uid)
        elif kind == "host.changed":
            assert self.hosts == {event["new_host"]["id"]}, (self.hosts, event)
            self.host = event["new_host"]["id"]
            self.changes.append(event)
        self.max_hosts = max(self.max_hosts, len(self.hosts))
