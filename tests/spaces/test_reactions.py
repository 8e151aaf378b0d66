"""Reactions: a fixed set, rate-limited per user, broadcast, counted without a row per tap."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import DatabaseError

from spaces import selectors, services
from spaces.models import ReactionCount
from spaces_project import bus
from spaces_project.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from tests.factories import SpaceFactory, ended_space, join

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _generous_rate(settings):
    settings.SPACES_REACTION_RATE = "1000/hour"


def test_a_listener_reacts_and_the_room_hears_it(space, committed, published):
    who = join(space)
    published.clear()
    with committed():
        code = services.reaction_send(user=who, space_id=space.pk, emoji="clap")

    assert code == "clap"
    assert len(published) == 1
    group, event = published[0]
    assert group == bus.space_group(space.pk)
    assert (event["type"], event["code"], event["emoji"]) == ("reaction.sent", "clap", "👏")
    assert event["user"]["id"] == who.pk


@pytest.mark.parametrize(("given", "code"), [("🔥", "fire"), ("❤️", "heart"), ("❤", "heart")])
def test_the_emoji_itself_is_accepted_as_well_as_its_code(space, given, code):
    who = join(space)
    assert services.reaction_send(user=who, space_id=space.pk, emoji=given) == code


def test_an_emoji_outside_the_set_is_refused(space):
    who = join(space)
    with pytest.raises(ValidationFailed) as exc:
        services.reaction_send(user=who, space_id=space.pk, emoji="🍕")
    assert "emoji" in exc.value.fields


def test_someone_not_in_the_space_cannot_react(space, user):
    with pytest.raises(Forbidden):
        services.reaction_send(user=user, space_id=space.pk, emoji="clap")


def test_nobody_reacts_in_an_ended_space(user):
    space = ended_space()
    with pytest.raises(Conflict):
        services.reaction_send(user=user, space_id=space.pk, emoji="clap")


def test_reactions_beyond_the_rate_are_refused_with_a_retry_time(settings, space):
    settings.SPACES_REACTION_RATE = "3/hour"
    who = join(space)
    for _ in range(3):
        services.reaction_send(user=who, space_id=space.pk, emoji="clap")

    with pytest.raises(RateLimited) as exc:
        services.reaction_send(user=who, space_id=space.pk, emoji="fire")

    assert exc.value.code == "rate_limited"
    assert 0 < exc.value.retry_after <= 3600


def test_the_rate_is_per_user_and_per_space(settings, space):
    settings.SPACES_REACTION_RATE = "1/hour"
    alice, bob = join(space), join(space)
    services.reaction_send(user=alice, space_id=space.pk, emoji="clap")

    services.reaction_send(user=bob, space_id=space.pk, emoji="clap")
    with pytest.raises(RateLimited):
        services.reaction_send(user=alice, space_id=space.pk, emoji="clap")
    elsewhere = SpaceFactory()
    join(elsewhere, alice)
    services.reaction_send(user=alice, space_id=elsewhere.pk, emoji="clap")


def test_every_acknowledged_tap_is_in_the_database_with_one_row_per_emoji(space):
    crowd = [join(space) for _ in range(4)]
    for who in crowd:
        for emoji in ("clap", "clap", "fire"):
            services.reaction_send(user=who, space_id=space.pk, emoji=emoji)

    rows = dict(ReactionCount.objects.filter(space=space).values_list("code", "count"))
    assert rows == {"clap": 8, "fire": 4}
    counts = selectors.reaction_counts_for(space_id=space.pk)
    assert (counts["clap"], counts["fire"], counts["heart"]) == (8, 4, 0)


def test_acknowledged_taps_survive_losing_the_cache(space):
    """Redis keeps nothing on disk: a restart empties the cache. Taps once waited there."""
    who = join(space)
    for _ in range(3):
        services.reaction_send(user=who, space_id=space.pk, emoji="wave")

    cache.clear()

    assert selectors.reaction_counts_for(space_id=space.pk)["wave"] == 3


def test_a_tap_that_could_not_be_written_is_an_error_and_the_room_never_hears_it(
    space, committed, published, monkeypatch
):
    who = join(space)
    published.clear()

    def database_gone(counts):
        raise DatabaseError("connection lost")

    monkeypatch.setattr("spaces.reactions.upsert_counts", database_gone)
    with pytest.raises(DatabaseError), committed():
        services.reaction_send(user=who, space_id=space.pk, emoji="clap")

    assert published == []
