"""Room events leave after commit, to the Space's group, and never from a rolled-back action."""

from __future__ import annotations

import pytest
from django.db import transaction

from spaces import events, services
from spaces.models import Participant, Space
from spaces_project import bus
from tests.factories import SpaceFactory, UserFactory, join
from tests.helpers import event_types


@pytest.mark.django_db(transaction=True)
def test_a_committed_join_publishes_once_to_the_space_group_only(published):
    space = SpaceFactory()
    user = UserFactory()

    services.space_join(user=user, space_id=space.pk)

    assert [(group, event["type"]) for group, event in published] == [
        (bus.space_group(space.pk), "participant.joined")
    ]
    assert published[0][1]["space_id"] == space.pk


@pytest.mark.django_db(transaction=True)
def test_an_action_rolled_back_by_its_caller_publishes_nothing(published):
    space = SpaceFactory()
    user = UserFactory()

    def join_then_fail() -> None:
        with transaction.atomic():
            services.space_join(user=user, space_id=space.pk)
            raise RuntimeError("the caller's transaction fails after the service returned")

    with pytest.raises(RuntimeError):
        join_then_fail()

    assert published == []
    assert not Participant.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_a_service_that_fails_after_publishing_publishes_nothing(published, monkeypatch):
    space = SpaceFactory()
    who = join(space)
    request, _ = services.speaker_request_create(user=who, space_id=space.pk)
    published.clear()

    real_publish = events.publish

    def publish_then_fail(space, type_, **payload):
        real_publish(space, type_, **payload)
        if type_ == events.ROLE_CHANGED:
            raise RuntimeError("something after the events failed")

    # Both events of the approval are queued, then the transaction fails.
    monkeypatch.setattr(events, "publish", publish_then_fail)
    with pytest.raises(RuntimeError):
        services.speaker_request_approve(actor=space.host, space_id=space.pk, request_id=request.pk)

    assert published == []
    assert Participant.objects.get(space=space, user=who).role == Participant.Role.LISTENER
    assert Space.objects.get(pk=space.pk).speaker_count == 0


@pytest.mark.django_db(transaction=True)
def test_a_refused_action_publishes_nothing(published):
    space = SpaceFactory()
    services.space_end(actor=space.host, space_id=space.pk)
    published.clear()

    with pytest.raises(Exception, match="ended"):
        services.space_join(user=UserFactory(), space_id=space.pk)

    assert published == []


@pytest.mark.django_db(transaction=True)
def test_every_event_a_service_sends_is_a_declared_type(published):
    space = SpaceFactory()
    who = join(space)
    request, _ = services.speaker_request_create(user=who, space_id=space.pk)
    services.speaker_request_approve(actor=space.host, space_id=space.pk, request_id=request.pk)
    services.space_end(actor=space.host, space_id=space.pk)

    types = event_types(published)
    assert types == [
        "participant.joined",
        "hand.raised",
        "request.approved",
        "role.changed",
        "space.ended",
    ]
    assert set(types) <= set(events.ALL_TYPES)
    seqs = [event["seq"] for _, event in published]
    assert seqs == sorted(seqs)


def test_publishing_an_undeclared_type_is_a_programming_error():
    with pytest.raises(AssertionError):
        events.publish(Space(pk=1), "space.exploded")
