"""Pinned posts."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from spaces import services
from spaces.models import ModerationAction, Pin, Space
from spaces_project.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.factories import SpaceFactory, fresh, join, make_cohost, make_speaker
from tests.helpers import event_types

pytestmark = pytest.mark.django_db


def test_host_cohost_and_speaker_can_pin(space, space_host):
    bob, alice = make_cohost(space), make_speaker(space)

    for who in (space_host, bob, alice):
        services.pin_create(user=who, space_id=space.pk, text=f"by {who.username}")

    assert Pin.objects.filter(space=space, unpinned_at__isnull=True).count() == 3
    assert fresh(space).pin_count == 3


def test_a_listener_cannot_pin(space):
    with pytest.raises(Forbidden) as exc:
        services.pin_create(user=join(space), space_id=space.pk, text="hi")
    assert exc.value.code == "not_on_stage"
    assert not Pin.objects.exists()


def test_a_fourth_pin_is_refused_until_one_is_unpinned(space, space_host):
    pins = [services.pin_create(user=space_host, space_id=space.pk, text=f"#{i}") for i in range(3)]

    with pytest.raises(Conflict) as exc:
        services.pin_create(user=space_host, space_id=space.pk, text="#4")
    assert exc.value.code == "too_many_pins"

    services.pin_remove(user=space_host, space_id=space.pk, pin_id=pins[0].pk)
    services.pin_create(user=space_host, space_id=space.pk, text="#4")
    assert fresh(space).pin_count == 3


def test_the_database_refuses_a_fourth_pin_count(space):
    with pytest.raises(IntegrityError), transaction.atomic():
        Space.objects.filter(pk=space.pk).update(pin_count=4)


@pytest.mark.parametrize(
    ("text", "url", "field"),
    [
        ("", "", "text"),
        ("   ", "", "text"),
        ("x" * 281, "", "text"),
        ("ok", "javascript:alert(1)", "url"),
        ("ok", "ftp://example.com/file", "url"),
        ("ok", "not a url", "url"),
        ("ok", "https://example.com/" + "a" * 500, "url"),
    ],
)
def test_pin_text_and_link_are_validated(space, space_host, text, url, field):
    with pytest.raises(ValidationFailed) as exc:
        services.pin_create(user=space_host, space_id=space.pk, text=text, url=url)
    assert field in exc.value.fields


def test_a_pin_with_an_https_link_is_kept_as_given(space, space_host, committed, published):
    with committed():
        pin = services.pin_create(
            user=space_host, space_id=space.pk, text=" Read this ", url="https://example.com/a?b=1"
        )

    assert (pin.text, pin.url) == ("Read this", "https://example.com/a?b=1")
    assert event_types(published) == ["pin.added"]
    assert published[0][1]["pin"]["id"] == pin.pk


def test_the_author_unpins_their_own_pin_without_a_log_entry(space, committed, published):
    alice = make_speaker(space)
    pin = services.pin_create(user=alice, space_id=space.pk, text="mine")
    published.clear()
    with committed():
        services.pin_remove(user=alice, space_id=space.pk, pin_id=pin.pk)

    pin.refresh_from_db()
    assert (pin.unpinned_by, pin.is_active) == (alice, False)
    assert not ModerationAction.objects.filter(action="pin_removed").exists()
    assert event_types(published) == ["pin.removed"]


def test_a_cohost_unpins_someone_elses_pin_and_it_is_logged(space):
    bob, alice = make_cohost(space), make_speaker(space)
    pin = services.pin_create(user=alice, space_id=space.pk, text="hers")

    services.pin_remove(user=bob, space_id=space.pk, pin_id=pin.pk)

    log = ModerationAction.objects.get(action="pin_removed")
    assert (log.actor, log.target) == (bob, alice)


def test_a_speaker_cannot_unpin_someone_elses_pin(space, space_host):
    alice = make_speaker(space)
    pin = services.pin_create(user=space_host, space_id=space.pk, text="host's")
    with pytest.raises(Forbidden) as exc:
        services.pin_remove(user=alice, space_id=space.pk, pin_id=pin.pk)
    assert exc.value.code == "not_pin_author"


def test_unpinning_twice_changes_nothing(space, space_host):
    pin = services.pin_create(user=space_host, space_id=space.pk, text="x")
    services.pin_remove(user=space_host, space_id=space.pk, pin_id=pin.pk)
    services.pin_remove(user=space_host, space_id=space.pk, pin_id=pin.pk)
    assert fresh(space).pin_count == 0


def test_a_pin_of_space_b_is_not_found_under_space_a(space, space_host):
    other = SpaceFactory()
    pin = services.pin_create(user=other.host, space_id=other.pk, text="b")

    with pytest.raises(NotFound) as exc:
        services.pin_remove(user=space_host, space_id=space.pk, pin_id=pin.pk)

    assert exc.value.code == "pin_not_found"
    pin.refresh_from_db()
    assert pin.is_active
