"""The Spaces API: each endpoint, its status codes and the one error shape."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Block, DirectMessage, Notification
from spaces import services
from spaces.models import Invitation, Participant, Pin, Report, Space, SpeakerRequest
from tests.factories import (
    SpaceFactory,
    UserFactory,
    ended_space,
    join,
    make_cohost,
    make_followers,
    make_speaker,
)
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

API = "/api/v1/spaces"


def url(space, tail=""):
    return f"{API}/{space.pk}{tail}"


# --- Start, lists ------------------------------------------------------------------------------


def test_start_creates_a_live_space_with_201(client_for, host):
    response = client_for(host).post(
        API,
        {"title": "Hello", "topics": ["Jazz"], "speaking_policy": "invited_only"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["title"], body["state"], body["speaking_policy"]) == (
        "Hello",
        "live",
        "invited_only",
    )
    assert body["host"]["id"] == host.pk


def test_start_without_enough_followers_is_403(client_for, user):
    assert_error(
        client_for(user).post(API, {"title": "x"}, format="json"), 403, "not_enough_followers"
    )


def test_start_twice_is_409_already_live(client_for, host):
    client = client_for(host)
    client.post(API, {"title": "One"}, format="json")
    assert_error(client.post(API, {"title": "Two"}, format="json"), 409, "already_live")


def test_start_with_bad_fields_is_400_with_field_errors(client_for, host):
    response = client_for(host).post(
        API, {"title": "", "topics": ["a", "b", "c", "d"], "colour": "red"}, format="json"
    )
    fields = assert_error(response, 400, "invalid")["fields"]
    assert {"title", "topics", "colour"} <= set(fields)


def test_start_with_a_title_of_only_spaces_is_400(client_for, host):
    fields = assert_error(
        client_for(host).post(API, {"title": "   "}, format="json"), 400, "invalid"
    )["fields"]
    assert "title" in fields


def test_the_api_needs_authentication(api_client, space):
    assert api_client.get(API).status_code in (401, 403)
    assert api_client.post(url(space, "/join")).status_code in (401, 403)


def test_the_live_list_is_paged_and_searchable(client_for, user):
    for i in range(3):
        SpaceFactory(title=f"Jazz {i}")
    SpaceFactory(title="Cooking")
    client = client_for(user)

    page = client.get(API, {"limit": 2}).json()
    assert page["count"] == 4
    assert len(page["results"]) == 2
    assert page["next"]

    found = client.get(API, {"q": "jazz"}).json()
    assert sorted(s["title"] for s in found["results"]) == ["Jazz 0", "Jazz 1", "Jazz 2"]


def test_the_live_list_api_takes_a_fixed_number_of_queries(
    client_for, user, django_assert_num_queries
):
    client = client_for(user)
    SpaceFactory()
    with django_assert_num_queries(2):
        assert client.get(API).status_code == 200
    for _ in range(8):
        SpaceFactory()
    with django_assert_num_queries(2):
        assert len(client.get(API).json()["results"]) == 9


def test_the_bubble_api_takes_a_fixed_number_of_queries(
    client_for, user, django_assert_num_queries
):
    from accounts.models import Follow

    client = client_for(user)
    for n in range(3):
        space = SpaceFactory()
        Follow.objects.create(follower=user, followee=space.host)
        for _ in range(n):
            friend = UserFactory()
            Follow.objects.create(follower=user, followee=friend)
            make_speaker(space, friend)
        with django_assert_num_queries(3):
            body = client.get(f"{API}/following").json()
        assert len(body["results"]) == n + 1
    first = body["results"][0]
    assert first["followed_on_stage_count"] == 3
    assert first["space"]["host"]["id"] == first["followed_on_stage"][0]["user"]["id"]


def test_the_ended_list_filters_by_host(client_for, user):
    a, b = ended_space(), ended_space()
    body = client_for(user).get(f"{API}/ended", {"host": a.host_id}).json()
    assert [s["id"] for s in body["results"]] == [a.pk]
    assert {s["id"] for s in client_for(user).get(f"{API}/ended").json()["results"]} == {a.pk, b.pk}


# --- Detail ------------------------------------------------------------------------------------


def test_the_detail_shows_my_role_and_what_i_may_do(client_for, space, space_host):
    alice = make_speaker(space)

    body = client_for(alice).get(url(space)).json()

    assert body["space"]["id"] == space.pk
    assert [p["role"] for p in body["stage"]] == ["host", "speaker"]
    assert body["me"]["role"] == "speaker"
    allowed = {key for key, yes in body["can"].items() if yes}
    assert {"pin", "step_down", "unmute_self"} <= allowed
    assert not {"end", "moderate"} & allowed
    assert body["reaction_counts"]["clap"] == 0


def test_the_detail_for_a_stranger_has_no_me_and_offers_join(client_for, space, user):
    body = client_for(user).get(url(space)).json()
    assert body["me"] is None
    assert body["can"]["join"]
    assert body["invitations"] == []


def test_the_detail_api_takes_a_fixed_number_of_queries(
    client_for, space, space_host, django_assert_num_queries
):
    me = join(space)
    client = client_for(me)
    with django_assert_num_queries(8):  # 7, and the latest comments
        assert client.get(url(space)).status_code == 200
    make_cohost(space)
    for _ in range(4):
        make_speaker(space)
    for _ in range(15):
        join(space)
    services.pin_create(user=space_host, space_id=space.pk, text="hello")
    for n in range(3):
        services.comment_post(user=me, space_id=space.pk, text=f"comment {n}")
    with django_assert_num_queries(8):
        body = client.get(url(space)).json()
    assert (len(body["stage"]), len(body["listeners_sample"]), len(body["pins"])) == (6, 12, 1)
    assert len(body["comments"]) == 3


def test_an_unknown_space_is_404(client_for, user):
    assert_error(client_for(user).get(f"{API}/987654"), 404, "space_not_found")
    assert_error(client_for(user).post(f"{API}/987654/join"), 404, "space_not_found")


def test_a_user_blocked_by_the_host_gets_403_on_detail_and_join(
    client_for, space, space_host, user
):
    Block.objects.create(blocker=space_host, blocked=user)
    assert_error(client_for(user).get(url(space)), 403, "blocked")
    assert_error(client_for(user).post(url(space, "/join")), 403, "blocked")


# --- Join, leave, heartbeat --------------------------------------------------------------------


def test_join_is_200_and_idempotent(client_for, space, user):
    client = client_for(user)
    first = client.post(url(space, "/join"))
    second = client.post(url(space, "/join"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["role"] == "listener"
    assert Space.objects.get(pk=space.pk).listener_count == 1


def test_join_an_ended_space_is_409(client_for, user):
    assert_error(client_for(user).post(url(ended_space(), "/join")), 409, "space_ended")


def test_a_removed_user_rejoining_is_403(client_for, space, space_host, user):
    join(space, user)
    client_for(space_host).post(url(space, f"/participants/{user.pk}/remove"))
    assert_error(client_for(user).post(url(space, "/join")), 403, "removed")


def test_leave_is_204_twice_and_the_host_cannot_leave(client_for, space, space_host, user):
    join(space, user)
    assert client_for(user).post(url(space, "/leave")).status_code == 204
    assert client_for(user).post(url(space, "/leave")).status_code == 204
    assert_error(client_for(space_host).post(url(space, "/leave")), 409, "host_cannot_leave")


def test_heartbeat_is_204_in_the_space_and_403_outside(client_for, space, user):
    assert_error(client_for(user).post(url(space, "/heartbeat")), 403, "not_in_space")
    join(space, user)
    assert client_for(user).post(url(space, "/heartbeat")).status_code == 204


def test_the_participants_list_filters_by_role(client_for, space):
    alice = make_speaker(space)
    people = [join(space) for _ in range(3)]
    body = client_for(alice).get(url(space, "/participants"), {"role": "listener"}).json()
    assert {p["user"]["id"] for p in body["results"]} == {p.pk for p in people}
    assert_error(
        client_for(alice).get(url(space, "/participants"), {"role": "king"}), 400, "invalid"
    )


# --- Requests ----------------------------------------------------------------------------------


def test_a_whole_request_to_speak_flow(client_for, space, space_host, user):
    join(space, user)
    me = client_for(user)
    raised = me.post(url(space, "/requests"))
    again = me.post(url(space, "/requests"))
    assert (raised.status_code, again.status_code) == (201, 200)
    rid = raised.json()["id"]
    assert again.json()["id"] == rid

    queue = client_for(space_host).get(url(space, "/requests")).json()["results"]
    assert [r["id"] for r in queue] == [rid]

    approved = client_for(space_host).post(url(space, f"/requests/{rid}/approve"))
    assert approved.status_code == 200
    assert approved.json()["role"] == "speaker"
    assert_error(
        client_for(space_host).post(url(space, f"/requests/{rid}/approve")),
        409,
        "request_not_pending",
    )


def test_a_listener_approving_is_403_and_listing_the_queue_too(client_for, space, user):
    other = join(space)
    rid = client_for(other).post(url(space, "/requests")).json()["id"]
    join(space, user)
    assert_error(
        client_for(user).post(url(space, f"/requests/{rid}/approve")), 403, "not_moderator"
    )
    assert_error(client_for(user).get(url(space, "/requests")), 403, "not_moderator")
    assert SpeakerRequest.objects.get(pk=rid).state == "pending"


def test_a_request_id_of_space_b_under_space_a_is_404(client_for, space, space_host):
    other = SpaceFactory()
    who = join(other)
    rid = client_for(who).post(url(other, "/requests")).json()["id"]
    assert_error(
        client_for(space_host).post(url(space, f"/requests/{rid}/approve")),
        404,
        "request_not_found",
    )
    assert_error(
        client_for(space_host).post(url(space, f"/requests/{rid}/deny")), 404, "request_not_found"
    )


def test_approve_when_the_stage_is_full_is_409(client_for, space, space_host):
    Space.objects.filter(pk=space.pk).update(max_speakers=1)
    make_speaker(space)
    who = join(space)
    rid = client_for(who).post(url(space, "/requests")).json()["id"]
    assert_error(
        client_for(space_host).post(url(space, f"/requests/{rid}/approve")), 409, "stage_full"
    )


def test_approving_on_an_ended_space_is_409(client_for, space, space_host):
    who = join(space)
    rid = client_for(who).post(url(space, "/requests")).json()["id"]
    client_for(space_host).post(url(space, "/end"))
    assert_error(
        client_for(space_host).post(url(space, f"/requests/{rid}/approve")), 409, "space_ended"
    )


def test_deny_and_withdraw(client_for, space, space_host):
    a, b = join(space), join(space)
    rid = client_for(a).post(url(space, "/requests")).json()["id"]
    denied = client_for(space_host).post(url(space, f"/requests/{rid}/deny"))
    assert (denied.status_code, denied.json()["state"]) == (200, "denied")
    client_for(b).post(url(space, "/requests"))
    assert client_for(b).delete(url(space, "/requests/mine")).status_code == 204
    assert client_for(b).delete(url(space, "/requests/mine")).status_code == 204
    assert SpeakerRequest.objects.get(user=b).state == "withdrawn"


def test_a_speaker_asking_to_speak_is_409_already_speaker(client_for, space):
    alice = make_speaker(space)
    assert_error(client_for(alice).post(url(space, "/requests")), 409, "already_speaker")


# --- Invitations, co-hosts ---------------------------------------------------------------------


def test_invite_accept_and_decline_over_the_api(client_for, space, space_host):
    a, b = join(space), join(space)
    host = client_for(space_host)
    inv_a = host.post(url(space, "/invitations"), {"user_id": a.pk}, format="json")
    inv_b = host.post(
        url(space, "/invitations"), {"user_id": b.pk, "kind": "cohost"}, format="json"
    )
    assert (inv_a.status_code, inv_b.status_code) == (201, 201)

    accepted = client_for(a).post(url(space, f"/invitations/{inv_a.json()['id']}/accept"))
    declined = client_for(b).post(url(space, f"/invitations/{inv_b.json()['id']}/decline"))

    assert (accepted.status_code, accepted.json()["role"]) == (200, "speaker")
    assert (declined.status_code, declined.json()["state"]) == (200, "declined")


def test_someone_elses_invitation_is_404(client_for, space, space_host):
    a, b = join(space), join(space)
    iid = (
        client_for(space_host)
        .post(url(space, "/invitations"), {"user_id": a.pk}, format="json")
        .json()["id"]
    )
    assert_error(
        client_for(b).post(url(space, f"/invitations/{iid}/accept")), 404, "invitation_not_found"
    )


def test_a_cohost_inviting_a_cohost_is_403(client_for, space):
    bob = make_cohost(space)
    who = join(space)
    response = client_for(bob).post(
        url(space, "/invitations"), {"user_id": who.pk, "kind": "cohost"}, format="json"
    )
    assert_error(response, 403, "host_only")


def test_an_invitation_with_a_bad_kind_or_user_is_400(client_for, space, space_host):
    host = client_for(space_host)
    who = join(space)
    fields = assert_error(
        host.post(url(space, "/invitations"), {"user_id": who.pk, "kind": "king"}, format="json"),
        400,
        "invalid",
    )["fields"]
    assert "kind" in fields
    assert_error(
        host.post(url(space, "/invitations"), {"user_id": "7"}, format="json"), 400, "invalid"
    )


def test_the_host_cancels_an_invitation(client_for, space, space_host):
    who = join(space)
    host = client_for(space_host)
    iid = host.post(url(space, "/invitations"), {"user_id": who.pk}, format="json").json()["id"]
    assert host.delete(url(space, f"/invitations/{iid}")).json()["state"] == "cancelled"
    assert_error(
        client_for(who).post(url(space, f"/invitations/{iid}/accept")),
        409,
        "invitation_not_pending",
    )


def test_revoking_a_cohost_over_the_api(client_for, space, space_host):
    bob = make_cohost(space)
    response = client_for(space_host).delete(url(space, f"/cohosts/{bob.pk}"))
    assert (response.status_code, response.json()["role"]) == (200, "speaker")
    assert_error(client_for(space_host).delete(url(space, f"/cohosts/{bob.pk}")), 409, "not_cohost")


# --- Acting on participants and me -------------------------------------------------------------


def test_mute_unmute_demote_remove_block_over_the_api(client_for, space, space_host):
    alice, bob = make_speaker(space), join(space)
    host, me = client_for(space_host), client_for(alice)

    assert me.post(url(space, "/me/unmute")).json()["is_muted"] is False
    muted = host.post(url(space, f"/participants/{alice.pk}/mute")).json()
    assert (muted["is_muted"], muted["muted_by_host"]) == (True, True)
    assert_error(host.post(url(space, f"/participants/{alice.pk}/unmute")), 403, "only_self_unmute")
    assert me.post(url(space, f"/participants/{alice.pk}/unmute")).json()["is_muted"] is False
    assert me.post(url(space, "/me/mute")).json()["is_muted"] is True
    assert host.post(url(space, f"/participants/{alice.pk}/demote")).json()["role"] == "listener"
    assert host.post(url(space, f"/participants/{bob.pk}/block")).json()["state"] == "removed"
    assert Block.objects.filter(blocker=space_host, blocked=bob).exists()
    assert host.post(url(space, f"/participants/{alice.pk}/remove")).json()["state"] == "removed"


def test_acting_on_yourself_or_the_host_or_a_stranger_is_refused(
    client_for, space, space_host, user
):
    bob = make_cohost(space)
    host = client_for(space_host)
    assert_error(
        host.post(url(space, f"/participants/{space_host.pk}/remove")), 400, "cannot_target_self"
    )
    assert_error(
        client_for(bob).post(url(space, f"/participants/{space_host.pk}/mute")),
        403,
        "cannot_target_host",
    )
    assert_error(
        host.post(url(space, f"/participants/{user.pk}/remove")), 404, "participant_not_found"
    )


def test_the_host_of_space_a_acting_on_space_b_is_403(client_for, space):
    other = SpaceFactory()
    who = join(space)
    assert_error(
        client_for(other.host).post(url(space, f"/participants/{who.pk}/remove")),
        403,
        "not_moderator",
    )
    assert_error(client_for(other.host).post(url(space, "/end")), 403, "host_only")


def test_step_down_over_the_api(client_for, space, space_host):
    alice = make_speaker(space)
    assert client_for(alice).post(url(space, "/me/step-down")).json()["role"] == "listener"
    assert_error(client_for(alice).post(url(space, "/me/step-down")), 409, "not_on_stage")
    assert_error(
        client_for(space_host).post(url(space, "/me/step-down")), 409, "host_cannot_step_down"
    )


def test_end_over_the_api(client_for, space, space_host):
    bob = make_cohost(space)
    assert_error(client_for(bob).post(url(space, "/end")), 403, "host_only")
    response = client_for(space_host).post(url(space, "/end"))
    assert (response.status_code, response.json()["state"]) == (200, "ended")
    assert_error(client_for(space_host).post(url(space, "/end")), 409, "space_ended")


def test_staff_end_any_space_over_the_api(client_for, space):
    staff = UserFactory(is_staff=True)
    assert client_for(staff).post(url(space, "/end")).status_code == 200


# --- Reactions, pins, captions -----------------------------------------------------------------


def test_reactions_are_rate_limited_with_429_and_retry_after(settings, client_for, space, user):
    settings.SPACES_REACTION_RATE = "2/hour"
    join(space, user)
    client = client_for(user)
    for emoji in ("clap", "🔥"):
        response = client.post(url(space, "/reactions"), {"emoji": emoji}, format="json")
        assert response.status_code == 200
    assert response.json() == {"code": "fire", "emoji": "🔥"}

    refused = client.post(url(space, "/reactions"), {"emoji": "clap"}, format="json")

    body = assert_error(refused, 429, "rate_limited")
    assert 0 < body["retry_after"] <= 3600
    assert 1 <= int(refused["Retry-After"]) <= 3600


def test_an_unknown_reaction_is_400(client_for, space, user):
    join(space, user)
    response = client_for(user).post(url(space, "/reactions"), {"emoji": "🍕"}, format="json")
    assert "emoji" in assert_error(response, 400, "invalid")["fields"]


def test_pins_over_the_api(client_for, space, space_host):
    host = client_for(space_host)
    created = [
        host.post(url(space, "/pins"), {"text": f"#{i}", "url": "https://x.org"}, format="json")
        for i in range(3)
    ]
    assert [r.status_code for r in created] == [201, 201, 201]
    assert_error(
        host.post(url(space, "/pins"), {"text": "#4"}, format="json"), 409, "too_many_pins"
    )
    pid = created[0].json()["id"]
    assert host.delete(url(space, f"/pins/{pid}")).status_code == 204
    assert Pin.objects.filter(space=space, unpinned_at__isnull=True).count() == 2
    bad = host.post(url(space, "/pins"), {"text": "x", "url": "javascript:alert(1)"}, format="json")
    assert "url" in assert_error(bad, 400, "invalid")["fields"]


def test_a_listener_pinning_is_403_and_another_spaces_pin_is_404(client_for, space, space_host):
    who = join(space)
    assert_error(
        client_for(who).post(url(space, "/pins"), {"text": "x"}, format="json"), 403, "not_on_stage"
    )
    other = SpaceFactory()
    pin = services.pin_create(user=other.host, space_id=other.pk, text="b")
    assert_error(client_for(space_host).delete(url(space, f"/pins/{pin.pk}")), 404, "pin_not_found")


def test_captions_and_transcript_over_the_api(client_for, space, space_host, user):
    host = client_for(space_host)
    assert host.put(url(space, "/captions"), {"enabled": True}, format="json").json() == {
        "enabled": True
    }
    services.caption_append(space_id=space.pk, speaker_id=space_host.pk, text="hello")
    services.caption_append(
        space_id=space.pk, speaker_id=space_host.pk, text="world", started_at=timezone.now()
    )
    body = client_for(user).get(url(space, "/transcript")).json()
    assert [line["text"] for line in body["results"]] == ["hello", "world"]
    assert body["results"][0]["speaker"]["id"] == space_host.pk
    join(space, user)
    assert_error(
        client_for(user).put(url(space, "/captions"), {"enabled": False}, format="json"),
        403,
        "not_moderator",
    )
    assert_error(
        host.put(url(space, "/captions"), {"enabled": "yes"}, format="json"), 400, "invalid"
    )


# --- Share, report, log ------------------------------------------------------------------------


def test_share_over_the_api(client_for, space, user, other_user):
    make_followers(user, 3)
    response = client_for(user).post(
        url(space, "/share"), {"user_ids": [other_user.pk], "followers": True}, format="json"
    )
    assert response.json() == {"messages_sent": 1, "notifications_sent": 3, "skipped_user_ids": []}
    assert DirectMessage.objects.get().attachment == {"space_id": space.pk}
    assert Notification.objects.filter(kind="space_shared").count() == 3
    assert_error(client_for(user).post(url(space, "/share"), {}, format="json"), 400, "invalid")


def test_report_over_the_api(client_for, space):
    who, alice = join(space), make_speaker(space)
    response = client_for(who).post(
        url(space, "/reports"), {"reason": "harassment", "user_id": alice.pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["target_id"] == alice.pk
    assert Report.objects.get().status == "open"
    assert_error(
        client_for(UserFactory()).post(url(space, "/reports"), {"reason": "spam"}, format="json"),
        403,
        "not_in_space",
    )


def test_the_moderation_log_over_the_api(client_for, space, space_host):
    alice = make_speaker(space)
    client_for(space_host).post(url(space, f"/participants/{alice.pk}/demote"))
    log = client_for(space_host).get(url(space, "/moderation-log")).json()["results"]
    assert [e["action"] for e in log] == ["speaker_demoted", "request_approved"]
    assert log[0]["target"]["id"] == alice.pk
    assert_error(client_for(alice).get(url(space, "/moderation-log")), 403, "not_moderator")


def test_a_listener_of_a_full_room_story(client_for, space, space_host):
    """A small end-to-end run: the host fills the stage through invitations and requests."""
    Space.objects.filter(pk=space.pk).update(max_speakers=2)
    people = [join(space) for _ in range(3)]
    host = client_for(space_host)
    for who in people[:2]:
        iid = host.post(url(space, "/invitations"), {"user_id": who.pk}, format="json").json()["id"]
        assert client_for(who).post(url(space, f"/invitations/{iid}/accept")).status_code == 200
    assert_error(
        host.post(url(space, "/invitations"), {"user_id": people[2].pk}, format="json"),
        409,
        "stage_full",
    )
    assert Participant.objects.filter(space=space, role="speaker").count() == 2
    assert Invitation.objects.filter(space=space, state="accepted").count() == 2
