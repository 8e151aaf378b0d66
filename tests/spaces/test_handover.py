"""Co-host handover (issue 9): the Space survives its host leaving or losing their connection.

Time travel instead of sleeping: a participant's `last_seen_at` is moved into the past, exactly
what a dead socket leaves behind (the hub stops refreshing it).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings

from accounts.models import User
from spaces import selectors, services
from spaces.audio.bridge import media_role, participant_media_standing, update_for
from spaces.models import ModerationAction, Participant, Space
from spaces.realtime import presence
from spaces_project.errors import Conflict, Forbidden, ValidationFailed
from tests.factories import (
    SpaceFactory,
    UserFactory,
    age,
    fresh,
    join,
    make_cohost,
    make_speaker,
    participant,
    past_grace,
)
from tests.helpers import event_types

pytestmark = pytest.mark.django_db

Role = Participant.Role


def space_events(published: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [event for group, event in published if group.startswith("space.")]


def hosts_seen(initial_host: int, room_events: list[dict[str, Any]]) -> list[set[int]]:
    """Fold room events the way a client does and return the set of hosts after each one."""
    hosts = {initial_host}
    after: list[set[int]] = []
    for event in room_events:
        kind = event["type"]
        if kind in ("participant.left", "participant.removed"):
            hosts.discard(event["user"]["id"])
        elif kind in ("role.changed", "participant.joined"):
            uid = event["participant"]["user"]["id"]
            if event["participant"]["role"] == Role.HOST:
                hosts.add(uid)
            else:
                hosts.discard(uid)
        elif kind == "host.changed":
            assert hosts == {event["new_host"]["id"]}, (hosts, event)
        elif kind == "space.ended":
            hosts = set()
        after.append(set(hosts))
    return after


def the_host(space: Space) -> int:
    """The one host row of the Space, checked against `Space.host`."""
    space.refresh_from_db()
    rows = list(Participant.objects.filter(space=space, role=Role.HOST))
    assert len(rows) == 1
    assert rows[0].user_id == space.host_id
    assert rows[0].state == Participant.State.PRESENT
    return space.host_id


@pytest.fixture
def room(db: None) -> tuple[Space, User, User, User]:
    """A live Space with two co-hosts (the first one co-host longest) and a listener."""
    space = SpaceFactory()
    first = make_cohost(space)
    second = make_cohost(space)
    audience = join(space)
    return space, first, second, audience


# --- Explicit leave ---------------------------------------------------------------------------


def test_the_host_who_leaves_hands_over_at_once_to_the_longest_serving_cohost(
    room, committed, published
):
    space, first, second, _audience = room
    host = space.host

    with committed():
        services.space_leave(user=host, space_id=space.pk)

    assert the_host(space) == first.pk
    space = fresh(space)
    assert space.original_host_id == host.pk
    assert space.cohost_count == 1
    gone = participant(space, host)
    assert (gone.state, gone.role) == (Participant.State.LEFT, Role.LISTENER)
    new = participant(space, first)
    assert new.cohost_since is None
    assert participant(space, second).role == Role.COHOST
    room_events = space_events(published)
    assert event_types(published)[-3:] == ["participant.left", "role.changed", "host.changed"]
    changed = room_events[-1]
    assert changed["previous_host"]["id"] == host.pk
    assert changed["new_host"]["id"] == first.pk
    assert changed["reason"] == "left"
    assert changed["counts"]["cohosts"] == 1
    assert all(len(hosts) <= 1 for hosts in hosts_seen(host.pk, room_events))
    log = ModerationAction.objects.get(space=space, action=ModerationAction.Action.HOST_CHANGED)
    assert (log.actor_id, log.target_id) == (host.pk, first.pk)
    assert log.details == {"reason": "left", "previous_host_id": host.pk}


def test_the_host_may_name_the_cohost_who_takes_over(room):
    space, first, second, _ = room
    services.space_leave(user=space.host, space_id=space.pk, successor_id=second.pk)
    assert the_host(space) == second.pk
    assert participant(space, first).role == Role.COHOST


@pytest.mark.parametrize(
    ("who", "error", "code"),
    [
        ("self", ValidationFailed, "cannot_target_self"),
        ("listener", Conflict, "successor_not_cohost"),
        ("stranger", Conflict, "successor_not_cohost"),
        ("disconnected", Conflict, "successor_not_connected"),
        ("hosting elsewhere", Conflict, "successor_hosts_elsewhere"),
    ],
)
def test_a_named_successor_who_cannot_take_over_is_refused_and_nothing_changes(
    room, who, error, code, committed, published
):
    space, _first, second, audience = room
    host = space.host
    if who == "disconnected":
        age(space, second, 600)
    if who == "hosting elsewhere":
        SpaceFactory(host=second)
    successor = {
        "self": host,
        "listener": audience,
        "stranger": UserFactory(),
        "disconnected": second,
        "hosting elsewhere": second,
    }[who]

    with pytest.raises(error) as caught, committed():
        services.space_leave(user=host, space_id=space.pk, successor_id=successor.pk)

    assert caught.value.code == code
    assert the_host(space) == host.pk
    assert published == []


def test_only_the_host_names_a_successor(room):
    space, first, _second, audience = room
    with pytest.raises(Forbidden) as caught:
        services.space_leave(user=audience, space_id=space.pk, successor_id=first.pk)
    assert caught.value.code == "host_only"
    assert participant(space, audience).is_present


def test_a_host_with_no_connected_cohost_cannot_leave(db):
    space = SpaceFactory()
    stale = make_cohost(space)
    make_speaker(space)
    age(space, stale, 600)
    with pytest.raises(Conflict) as caught:
        services.space_leave(user=space.host, space_id=space.pk)
    assert caught.value.code == "host_cannot_leave"
    assert the_host(space) == space.host_id
    can = selectors.space_detail(viewer=space.host, space_id=space.pk).can
    assert can["leave"] is False


def test_the_can_map_lets_the_host_leave_when_a_cohost_can_take_over(room):
    space, _first, _, _ = room
    assert selectors.space_detail(viewer=space.host, space_id=space.pk).can["leave"] is True


def test_a_cohost_hosting_a_live_space_of_their_own_is_skipped(room):
    space, first, second, _ = room
    SpaceFactory(host=first)
    services.space_leave(user=space.host, space_id=space.pk)
    assert the_host(space) == second.pk
    assert participant(space, first).role == Role.COHOST


def test_leaving_twice_is_harmless(room):
    space, first, _, _ = room
    host = space.host
    services.space_leave(user=host, space_id=space.pk)
    services.space_leave(user=host, space_id=space.pk, successor_id=first.pk)
    assert the_host(space) == first.pk


# --- Lost connection --------------------------------------------------------------------------


def test_a_host_gone_past_the_grace_is_replaced_by_the_longest_connected_cohost(
    room, committed, published
):
    space, first, second, _ = room
    host = space.host
    age(space, host, past_grace())
    age(space, first, 600)  # longest co-host, but their connection is gone too

    with committed():
        assert presence.host_sweep() == 1

    assert the_host(space) == second.pk
    changed = space_events(published)[-1]
    assert (changed["type"], changed["reason"]) == ("host.changed", "timeout")
    assert all(len(hosts) <= 1 for hosts in hosts_seen(host.pk, space_events(published)))
    log = ModerationAction.objects.get(space=space, action=ModerationAction.Action.HOST_CHANGED)
    assert log.actor_id is None
    assert log.details["reason"] == "timeout"
    # A late or duplicate run finds nothing to do.
    published.clear()
    with committed():
        assert presence.host_sweep() == 0
        assert services.host_timeout_handover(space_id=space.pk) is None
    assert published == []


def test_a_host_back_inside_the_grace_keeps_the_space(room, committed, published):
    space, _first, _, _ = room
    host = space.host
    # Gone for the whole grace but not the refresh interval on top: maybe still connected.
    age(space, host, django_settings.SPACES_HOST_GRACE_SECONDS)
    with committed():
        assert presence.host_sweep() == 0
    age(space, host, past_grace())
    services.space_join(user=host, space_id=space.pk)  # the socket came back: seen now
    with committed():
        assert presence.host_sweep() == 0
        assert services.host_timeout_handover(space_id=space.pk) is None
    assert the_host(space) == host.pk
    assert published == []


def test_with_no_cohost_to_take_over_the_space_ends_for_everyone(db, committed, published):
    space = SpaceFactory()
    audience = join(space)
    on_stage = make_speaker(space)
    age(space, space.host, past_grace())

    with committed():
        assert presence.host_sweep() == 1

    space = fresh(space)
    assert space.state == Space.State.ENDED
    assert not Participant.objects.filter(space=space, state=Participant.State.PRESENT).exists()
    assert participant(space, audience).state == Participant.State.LEFT
    assert participant(space, on_stage).role == Role.LISTENER
    assert event_types(published)[-1] == "space.ended"
    log = ModerationAction.objects.get(space=space, action=ModerationAction.Action.SPACE_ENDED)
    assert log.actor_id is None
    assert log.details == {"reason": "host_timeout"}


def test_the_presence_sweep_still_leaves_hosts_to_the_handover(room):
    space, _, _, _ = room
    age(space, space.host, 10_000)
    presence.presence_sweep()
    assert the_host(space) == space.host_id


# --- The original host returns ----------------------------------------------------------------


def test_the_original_host_returning_is_host_again_and_the_interim_is_cohost_again(
    room, committed, published
):
    space, first, _second, _ = room
    host = space.host
    services.space_leave(user=host, space_id=space.pk)
    assert the_host(space) == first.pk

    with committed():
        back = services.space_join(user=host, space_id=space.pk)

    assert (back.role, back.state) == (Role.HOST, Participant.State.PRESENT)
    assert the_host(space) == host.pk
    assert participant(space, first).role == Role.COHOST
    assert fresh(space).cohost_count == 2
    assert event_types(published) == ["role.changed", "participant.joined", "host.changed"]
    changed = space_events(published)[-1]
    assert changed["reason"] == "returned"
    assert changed["previous_host"]["id"] == first.pk
    assert changed["new_host"]["id"] == host.pk
    assert all(len(hosts) <= 1 for hosts in hosts_seen(first.pk, space_events(published)))
    log = ModerationAction.objects.filter(
        space=space, action=ModerationAction.Action.HOST_CHANGED
    ).latest("id")
    assert (log.actor_id, log.target_id, log.details["reason"]) == (host.pk, host.pk, "returned")


def test_the_original_host_returns_after_a_timeout_too(room):
    space, first, _, _ = room
    host = space.host
    age(space, host, past_grace())
    presence.host_sweep()
    assert the_host(space) == first.pk
    services.space_join(user=host, space_id=space.pk)
    assert the_host(space) == host.pk


def test_the_interim_host_goes_to_the_stage_when_the_cohost_seats_are_taken(room):
    space, first, _second, _audience = room
    host = space.host
    services.space_leave(user=host, space_id=space.pk)
    # The interim host fills the freed co-host seat.
    cohost_of_interim = join(space)
    invitation, _ = services.invitation_create(
        actor=first, space_id=space.pk, invitee_id=cohost_of_interim.pk, kind="cohost"
    )
    services.invitation_accept(
        user=cohost_of_interim, space_id=space.pk, invitation_id=invitation.pk
    )
    assert fresh(space).cohost_count == fresh(space).max_cohosts

    services.space_join(user=host, space_id=space.pk)

    assert the_host(space) == host.pk
    assert participant(space, first).role == Role.SPEAKER
    space = fresh(space)
    assert space.cohost_count == space.max_cohosts
    assert space.speaker_count == 1


def test_an_original_host_now_hosting_elsewhere_rejoins_as_a_listener(room):
    space, first, _, _ = room
    host = space.host
    services.space_leave(user=host, space_id=space.pk)
    SpaceFactory(host=host)
    back = services.space_join(user=host, space_id=space.pk)
    assert back.role == Role.LISTENER
    assert the_host(space) == first.pk


def test_the_original_host_is_let_back_in_past_the_interim_hosts_block_and_tickets(room):
    space, first, _, _ = room
    host = space.host
    services.space_leave(user=host, space_id=space.pk)
    Space.objects.filter(pk=space.pk).update(is_ticketed=True)
    from accounts import services as accounts_services

    accounts_services.block_create(blocker=first, blocked=host)
    services.space_join(user=host, space_id=space.pk)
    assert the_host(space) == host.pk


def test_a_space_started_remembers_its_original_host(host):
    space = services.space_start(host=host, title="Mine")
    assert fresh(space).original_host_id == host.pk


# --- Everything follows: powers, listing, media -----------------------------------------------


def test_the_new_host_has_the_hosts_powers_and_the_old_host_none(room):
    space, first, second, audience = room
    host = space.host
    services.space_leave(user=host, space_id=space.pk)

    services.cohost_revoke(actor=first, space_id=space.pk, user_id=second.pk)
    can = selectors.space_detail(viewer=first, space_id=space.pk).can
    assert can["end"]
    assert can["manage_cohosts"]
    assert can["block"]
    with pytest.raises(Forbidden):
        services.space_end(actor=host, space_id=space.pk)
    listed = selectors.space_list_live(viewer=audience).get(pk=space.pk)
    assert listed.host_id == first.pk
    services.space_end(actor=first, space_id=space.pk)
    assert fresh(space).state == Space.State.ENDED


def test_the_media_worker_drops_the_leaving_host_and_readmits_the_returning_one(
    room, committed, published
):
    space, first, _, _ = room
    host = space.host
    with committed():
        services.space_leave(user=host, space_id=space.pk)
    updates = [update_for(e) for e in space_events(published)]
    gone = [u for u in updates if u is not None and u.user_id == host.pk]
    assert [u.gone for u in gone] == ["left"]
    promoted = [u for u in updates if u is not None and u.user_id == first.pk]
    assert [u.role for u in promoted] == ["speaker"]  # still mixed, as host now

    services.space_join(user=host, space_id=space.pk)
    standing = participant_media_standing(user_id=host.pk, space_id=space.pk)
    assert standing.role == media_role(Role.HOST) == "speaker"


# --- The site and the API -----------------------------------------------------------------------


def test_the_site_leave_form_hands_over_and_names_the_new_host(room):
    from tests.spaces.test_site import client_for, messages_of, url

    space, _first, second, _ = room
    bad = client_for(space.host).post(url("space_leave", space), {"successor_id": "abc"})
    assert messages_of(bad) == ["Missing successor_id."]
    response = client_for(space.host).post(url("space_leave", space), {"successor_id": second.pk})
    assert response.status_code == 200  # followed back to the Space page
    assert messages_of(response) == [f"You left and handed the Space to {second.name}."]
    assert the_host(space) == second.pk


def test_the_api_leave_takes_a_successor_and_refuses_bad_input(room, client_for):
    space, _first, second, audience = room
    path = f"/api/v1/spaces/{space.pk}/leave"
    api = client_for(space.host)
    typo = api.post(path, {"successor": second.pk}, format="json")
    assert (typo.status_code, typo.json()["error"]["code"]) == (400, "invalid")
    refused = api.post(path, {"successor_id": audience.pk}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "successor_not_cohost")
    assert the_host(space) == space.host_id
    done = api.post(path, {"successor_id": second.pk}, format="json")
    assert done.status_code == 204
    assert the_host(space) == second.pk
