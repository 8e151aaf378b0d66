"""Spaces for tests: factories for the rows, and helpers that put people in place through the
real services (so counters, logs and constraints stay as production keeps them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from spaces import services
from spaces.models import Invitation, Participant, Space
from tests.factories import UserFactory


class SpaceFactory(factory.django.DjangoModelFactory):
    """A live Space with its host present (use `ended_space` for an ended one)."""

    class Meta:
        model = Space
        skip_postgeneration_save = True

    host = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Space number {n}")
    state = Space.State.LIVE
    started_at = factory.LazyFunction(timezone.now)
    max_speakers = factory.LazyFunction(lambda: settings.SPACES_MAX_SPEAKERS)
    max_cohosts = factory.LazyFunction(lambda: settings.SPACES_MAX_COHOSTS)
    total_joined_count = 1

    @factory.post_generation
    def host_participant(obj: Space, create: bool, extracted: object, **kwargs: object) -> None:
        if not create:
            return
        now = timezone.now()
        Participant.objects.create(
            space=obj,
            user=obj.host,
            role=Participant.Role.HOST,
            state=Participant.State.PRESENT if obj.is_live else Participant.State.LEFT,
            joined_at=now,
            last_seen_at=now,
            role_since=now,
        )


def ended_space(**kwargs: object) -> Space:
    return SpaceFactory(state=Space.State.ENDED, ended_at=timezone.now(), **kwargs)


def user(username: str | None = None) -> User:
    return UserFactory(username=username) if username else UserFactory()


def listener(space: Space, who: User | None = None) -> User:
    who = who or UserFactory()
    services.space_join(user=who, space_id=space.pk)
    return who


def speaker(space: Space, who: User | None = None) -> User:
    """Join, raise a hand and get approved by the host."""
    who = listener(space, who)
    request, _ = services.speaker_request_create(user=who, space_id=space.pk)
    services.speaker_request_approve(actor=space.host, space_id=space.pk, request_id=request.pk)
    return who


def cohost(space: Space, who: User | None = None) -> User:
    """Join, be invited to co-host by the host, accept."""
    who = listener(space, who)
    invitation, _ = services.invitation_create(
        actor=space.host, space_id=space.pk, invitee_id=who.pk, kind=Invitation.Kind.COHOST
    )
    services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation.pk)
    return who


def participant(space: Space, who: User) -> Participant:
    return Participant.objects.get(space=space, user=who)


def fresh(space: Space) -> Space:
    space.refresh_from_db()
    return space


def event_types(published: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [event["type"] for _, event in published]


def age(space: Space, who: User, seconds: float) -> None:
    """Time travel: `who` was last seen `seconds` ago (their socket died then)."""
    Participant.objects.filter(space=space, user=who).update(
        last_seen_at=timezone.now() - timedelta(seconds=seconds)
    )


def past_grace() -> float:
    """Older than the host's grace plus one presence refresh: the host is surely gone."""
    return settings.SPACES_HOST_GRACE_SECONDS + settings.SPACES_PRESENCE_TOUCH_SECONDS + 5
